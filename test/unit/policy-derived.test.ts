// A masked column must not be copied somewhere it would be readable unmasked: INSERT … SELECT,
// UPDATE … SET from it, CREATE TABLE AS, SELECT INTO, views, generated columns; nor renamed or moved
// away from the name its mask uses. The policy cannot allow that.
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/load.js';
import { createEngine } from '../../src/policy/sql-analyzer.js';
import type { PolicyEngine } from '../../src/policy/engine.js';

const POLICY = `version: 1
roles:
  etl:
    match: { repository: acme/* }
    postgres:
      rules:
        # archive.* and schema:old_public: a move or rename also creates the new name (a create access).
        - { action: allow, kinds: [read, write, ddl], objects: ["public.*", "schema:public", "archive.*", "schema:old_public"] }
      masks:
        - { columns: [public.users.email], strategy: redact }
        - { columns: ["*.ssn"], strategy: hash }
`;

describe('copies of masked columns', () => {
  let e: PolicyEngine;
  beforeAll(async () => {
    e = await createEngine(parsePolicy(POLICY, 'etl.yml'), 'etl');
  });

  it.each([
    ['INSERT INTO orders(status) SELECT email FROM users', 'public.users.email'],
    ['INSERT INTO orders(status) SELECT lower(ssn) FROM users', '*.ssn'],
    ['CREATE TABLE leak AS SELECT * FROM users', 'public.users.email'],
    ['SELECT email INTO leak FROM users', 'public.users.email'],
    ['CREATE VIEW leak AS SELECT upper(email) AS e FROM users', 'public.users.email'],
    ['UPDATE orders SET status = (SELECT email FROM users LIMIT 1)', 'public.users.email'],
    // A mask names schema.table.column: a new name would escape it.
    ['ALTER TABLE users RENAME COLUMN email TO contact', 'public.users.email'],
    ['ALTER TABLE public.users RENAME TO people', 'public.users.email'],
    ['ALTER TABLE users SET SCHEMA archive', 'public.users.email'],
    ['ALTER TABLE customers RENAME COLUMN ssn TO tax_id', '*.ssn'],
    // Which tables a schema holds is not known here: any mask counts.
    ['ALTER SCHEMA public RENAME TO old_public', 'public.users.email'],
    // Under a `*.ssn` mask any table may hold an ssn column (the analysis has no catalog): fail closed.
    ['ALTER TABLE orders RENAME TO purchases', '*.ssn'],
    ['ALTER TABLE users ADD COLUMN contact text GENERATED ALWAYS AS (lower(email)) STORED', 'public.users.email'],
  ])('%s is denied', (sql, column) => {
    const d = e.decide(sql);
    expect(d.decision).toBe('deny');
    expect(d.statements[0]!.rule).toBeNull();
    expect(d.statements[0]!.reason).toBe(
      `the statement stores data of the masked column ${column} elsewhere or under another name, where it would be readable unmasked`,
    );
  });

  it.each([
    'INSERT INTO orders(status) SELECT name FROM users',
    'CREATE TABLE names AS SELECT id, name FROM users',
    "UPDATE orders SET status = 'shipped' WHERE id = 1",
    'ALTER TABLE users RENAME COLUMN name TO full_name',
    'ALTER TABLE users ADD COLUMN name_upper text GENERATED ALWAYS AS (upper(name)) STORED',
    'ALTER TABLE users ADD COLUMN note text',
  ])('%s, which copies nothing masked, is allowed', (sql) => {
    expect(e.decide(sql).decision).toBe('allow');
  });
});
