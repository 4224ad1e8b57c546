// A masked column must not be copied somewhere it would be readable unmasked: INSERT … SELECT,
// UPDATE … SET from it, CREATE TABLE AS, SELECT INTO, views. The policy cannot allow that.
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
        - { action: allow, kinds: [read, write, ddl], objects: ["public.*"] }
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
  ])('%s is denied', (sql, column) => {
    const d = e.decide(sql);
    expect(d.decision).toBe('deny');
    expect(d.statements[0]!.rule).toBeNull();
    expect(d.statements[0]!.reason).toBe(
      `the statement stores data of the masked column ${column} elsewhere, where it would be readable unmasked`,
    );
  });

  it.each([
    'INSERT INTO orders(status) SELECT name FROM users',
    'CREATE TABLE names AS SELECT id, name FROM users',
    "UPDATE orders SET status = 'shipped' WHERE id = 1",
  ])('%s, which copies nothing masked, is allowed', (sql) => {
    expect(e.decide(sql).decision).toBe('allow');
  });
});
