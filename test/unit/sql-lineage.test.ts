import { beforeAll, describe, expect, it } from 'vitest';
import { initSql } from '../../src/sql/parser.js';
import { analyze } from '../../src/sql/analyze.js';
import type { OutputColumn } from '../../src/sql/types.js';

beforeAll(async () => {
  await initSql();
});

function outputs(sql: string): OutputColumn[] | null {
  const r = analyze(sql);
  expect(r).toHaveLength(1);
  expect(r[0]!.error).toBeUndefined();
  return r[0]!.outputs;
}

describe('output-column lineage', () => {
  it('through function calls and aliases', () => {
    expect(outputs('SELECT lower(email) AS e FROM users')).toEqual([{ name: 'e', sources: ['public.users.email'] }]);
  });
  it('through operators', () => {
    expect(outputs("SELECT email || '' FROM users")).toEqual([{ name: '?column?', sources: ['public.users.email'] }]);
    expect(outputs("SELECT upper(substr(email, 1, 3)) || '@' || name AS x FROM users")).toEqual([
      { name: 'x', sources: ['public.users.email', 'public.users.name'] },
    ]);
  });
  it('through casts, CASE, COALESCE and aggregates', () => {
    expect(outputs('SELECT email::text, CASE WHEN ssn IS NULL THEN 0 END AS c, coalesce(a, b), string_agg(email, \',\') AS s FROM users')).toEqual([
      { name: 'email', sources: ['public.users.email'] },
      { name: 'c', sources: ['public.users.ssn'] },
      { name: 'coalesce', sources: ['public.users.a', 'public.users.b'] },
      { name: 's', sources: ['public.users.email'] },
    ]);
  });
  it('whole-row references', () => {
    expect(outputs('SELECT u FROM users u')).toEqual([{ name: 'u', sources: ['public.users.u', 'public.users.*'] }]);
    expect(outputs('SELECT row_to_json(u) FROM users u')).toEqual([{ name: 'row_to_json', sources: ['public.users.u', 'public.users.*'] }]);
    expect(outputs('SELECT to_jsonb(u.*) AS j FROM users u')).toEqual([{ name: 'j', sources: ['public.users.*'] }]);
    expect(outputs('SELECT (u).email FROM users u')).toEqual([{ name: 'email', sources: ['public.users.u', 'public.users.*'] }]);
  });
  it('star expansion, per table', () => {
    expect(outputs('SELECT * FROM users')).toEqual([{ name: '*', sources: ['public.users.*'], tableColumns: true }]);
    expect(outputs('SELECT * FROM users u JOIN s.orders o ON o.uid = u.id')).toEqual([
      { name: '*', sources: ['public.users.*'], tableColumns: true },
      { name: '*', sources: ['s.orders.*'], tableColumns: true },
    ]);
    expect(outputs('SELECT o.* FROM users u JOIN s.orders o ON o.uid = u.id')).toEqual([{ name: '*', sources: ['s.orders.*'], tableColumns: true }]);
    expect(outputs('TABLE users')).toEqual([{ name: '*', sources: ['public.users.*'], tableColumns: true }]);
  });
  it('subquery aliases in FROM', () => {
    expect(outputs('SELECT x.e FROM (SELECT email AS e FROM users) x')).toEqual([{ name: 'e', sources: ['public.users.email'] }]);
    expect(outputs('SELECT * FROM (SELECT email AS e, id FROM users) x')).toEqual([
      { name: 'e', sources: ['public.users.email'] },
      { name: 'id', sources: ['public.users.id'] },
    ]);
    expect(outputs('SELECT x.a FROM (SELECT email, id FROM users) x(a, b)')).toEqual([{ name: 'a', sources: ['public.users.email'] }]);
    expect(outputs('SELECT t FROM (SELECT email FROM users) t')).toEqual([{ name: 't', sources: ['public.users.email'] }]);
  });
  it('CTEs', () => {
    expect(outputs('WITH c AS (SELECT email AS m FROM users) SELECT upper(m) FROM c')).toEqual([{ name: 'upper', sources: ['public.users.email'] }]);
    expect(outputs('WITH c(x) AS (SELECT email FROM users) SELECT x FROM c')).toEqual([{ name: 'x', sources: ['public.users.email'] }]);
  });
  it('set operations are positional', () => {
    expect(outputs('SELECT name, email FROM users UNION SELECT title, body FROM posts')).toEqual([
      { name: 'name', sources: ['public.users.name', 'public.posts.title'] },
      { name: 'email', sources: ['public.users.email', 'public.posts.body'] },
    ]);
  });
  it('set operations with a star on one side mix everything', () => {
    expect(outputs('SELECT a FROM x UNION ALL SELECT * FROM y')).toEqual([{ name: 'a', sources: ['public.x.a', 'public.y.*'] }]);
  });
  it('scalar sub-selects carry their column', () => {
    expect(outputs('SELECT (SELECT email FROM users LIMIT 1) AS e')).toEqual([{ name: 'e', sources: ['public.users.email'] }]);
  });
  it('an unqualified column with several tables in scope lists every candidate', () => {
    expect(outputs('SELECT email FROM users, accounts')).toEqual([{ name: 'email', sources: ['public.users.email', 'public.accounts.email'] }]);
  });
  it('a correlated reference may come from the outer query too', () => {
    expect(outputs('SELECT (SELECT email FROM orders o WHERE o.uid = u.id) FROM users u')).toEqual([
      { name: 'email', sources: ['public.orders.email', 'public.users.email'] },
    ]);
  });
  it('LATERAL and functions in FROM', () => {
    expect(outputs('SELECT l.e FROM users u, LATERAL (SELECT u.email AS e) l')).toEqual([{ name: 'e', sources: ['public.users.email'] }]);
    // users may have a column x too: both candidates.
    expect(outputs('SELECT x FROM users u, unnest(u.tags) AS x')).toEqual([{ name: 'x', sources: ['public.users.x', 'public.users.tags'] }]);
    expect(outputs('SELECT x.x FROM users u, unnest(u.tags) AS x')).toEqual([{ name: 'x', sources: ['public.users.tags'] }]);
  });
  it('a function in FROM is one output of unknown width under *', () => {
    expect(outputs('SELECT * FROM users u, unnest(u.tags) t')).toEqual([
      { name: '*', sources: ['public.users.*'], tableColumns: true },
      { name: '*', sources: ['public.users.tags'], tableColumns: false },
    ]);
  });
  it('F19: a * over a function in FROM carries all its arguments (sub-selects included), never table columns', () => {
    const row = ['public.users.u', 'public.users.*'];
    expect(outputs('SELECT * FROM unnest((SELECT array_agg(u) FROM users u))')).toEqual([{ name: '*', sources: row, tableColumns: false }]);
    expect(outputs('SELECT t.* FROM json_populate_record(null::users, (SELECT row_to_json(u) FROM users u)) t')).toEqual([
      { name: '*', sources: row, tableColumns: false },
    ]);
    expect(outputs('SELECT * FROM users u, LATERAL unnest(ARRAY[u.email]) e')).toEqual([
      { name: '*', sources: ['public.users.*'], tableColumns: true },
      { name: '*', sources: ['public.users.email'], tableColumns: false },
    ]);
    expect(outputs('SELECT * FROM generate_series(1, 3)')).toEqual([{ name: 'generate_series', sources: [] }]);
  });
  it('F19: known widths: built-ins of fixed shape, column definition lists, ORDINALITY, alias names', () => {
    const row = ['public.users.u', 'public.users.*'];
    expect(outputs('SELECT * FROM json_each((SELECT row_to_json(u) FROM users u)) WITH ORDINALITY AS j(k)')).toEqual([
      { name: 'k', sources: row },
      { name: 'value', sources: row },
      { name: 'ordinality', sources: row },
    ]);
    expect(outputs('SELECT * FROM ROWS FROM (jsonb_to_record((SELECT to_jsonb(u) FROM users u)) AS (a int, b text), generate_series(1, 2)) r')).toEqual([
      { name: 'a', sources: row },
      { name: 'b', sources: row },
      { name: 'generate_series', sources: row },
    ]);
    // A user function of the same name may shadow a built-in when the path puts pg_catalog later.
    expect(analyze('SELECT * FROM json_each(x)', { searchPath: ['app', 'pg_catalog'] })[0]!.outputs).toEqual([
      { name: '*', sources: [], tableColumns: false },
    ]);
  });
  it('F19: set operations, (expr).* and NATURAL joins are a * of unknown width, not table columns', () => {
    expect(outputs('SELECT * FROM users UNION SELECT * FROM accounts')).toEqual([
      { name: '*', sources: ['public.users.*', 'public.accounts.*'], tableColumns: false },
    ]);
    expect(outputs('SELECT (u).* FROM users u')).toEqual([{ name: '*', sources: ['public.users.u', 'public.users.*'], tableColumns: false }]);
    expect(outputs('SELECT * FROM users NATURAL JOIN accounts')).toEqual([
      { name: '*', sources: ['public.users.*', 'public.accounts.*'], tableColumns: false },
    ]);
  });
  it('F19: JOIN USING lists the merged columns first, with both sides', () => {
    const merged = { name: 'id', sources: ['public.users.id', 'public.accounts.id'] };
    const stars = [
      { name: '*', sources: ['public.users.*'], tableColumns: true },
      { name: '*', sources: ['public.accounts.*'], tableColumns: true },
    ];
    expect(outputs('SELECT * FROM users FULL JOIN accounts USING (id)')).toEqual([merged, ...stars]);
    expect(outputs('SELECT * FROM (users JOIN accounts USING (id)) j')).toEqual([merged, ...stars]);
    expect(outputs('SELECT j.* FROM users JOIN accounts USING (id) AS j')).toEqual([merged]);
    expect(outputs('SELECT * FROM (SELECT id, email FROM users) a JOIN accounts USING (id)')).toEqual([
      merged,
      { name: 'email', sources: ['public.users.email'] },
      stars[1],
    ]);
  });
  it('F19: table columns stay table columns through sub-selects and CTEs; renaming leaves the rest a *', () => {
    expect(outputs('WITH c AS (SELECT * FROM users) SELECT * FROM (SELECT * FROM c) s')).toEqual([
      { name: '*', sources: ['public.users.*'], tableColumns: true },
    ]);
    expect(outputs('SELECT * FROM (SELECT * FROM users) t(a)')).toEqual([
      { name: 'a', sources: ['public.users.*'] },
      { name: '*', sources: ['public.users.*'], tableColumns: true },
    ]);
    expect(outputs('SELECT * FROM (SELECT *, 1 AS n FROM users) t(a)')).toEqual([
      { name: 'a', sources: ['public.users.*'] },
      { name: '*', sources: ['public.users.*'], tableColumns: false },
    ]);
  });
  it('a join alias names both sides', () => {
    expect(outputs('SELECT j.email FROM (users JOIN accounts USING (id)) j')).toEqual([
      { name: 'email', sources: ['public.users.email', 'public.accounts.email'] },
    ]);
  });
  it('VALUES', () => {
    expect(outputs("VALUES (1, 'a')")).toEqual([{ name: 'column1', sources: [] }, { name: 'column2', sources: [] }]);
  });
  it('RETURNING produces outputs', () => {
    expect(outputs('UPDATE users SET name = $1 RETURNING email')).toEqual([{ name: 'email', sources: ['public.users.email'] }]);
    expect(outputs('DELETE FROM users RETURNING *')).toEqual([{ name: '*', sources: ['public.users.*'], tableColumns: true }]);
    expect(outputs('INSERT INTO users (id) VALUES (1) RETURNING lower(email) AS e')).toEqual([{ name: 'e', sources: ['public.users.email'] }]);
    expect(outputs('UPDATE users SET email = $1 RETURNING old.email AS was')).toEqual([{ name: 'was', sources: ['public.users.email'] }]);
    expect(outputs('DELETE FROM users')).toBeNull();
  });
  it('RETURNING carries what the statement copied in from elsewhere', () => {
    expect(outputs('INSERT INTO other SELECT email FROM users RETURNING *')).toEqual([{ name: '*', sources: ['public.other.*', 'public.users.email'] }]);
    expect(outputs('UPDATE t SET note = u.email FROM users u WHERE u.id = t.uid RETURNING note')).toEqual([
      // `note` may also be a column of users (FROM items are visible in RETURNING).
      { name: 'note', sources: ['public.t.note', 'public.users.note', 'public.users.email'] },
    ]);
    expect(outputs("INSERT INTO t (a) VALUES ('x') RETURNING a")).toEqual([{ name: 'a', sources: ['public.t.a'] }]);
    expect(outputs('MERGE INTO t USING users u ON t.id = u.id WHEN NOT MATCHED THEN INSERT VALUES (u.id, u.email) RETURNING t.*')).toEqual([
      { name: '*', sources: ['public.t.*', 'public.users.id', 'public.users.email'] },
    ]);
  });
  it('a data-modifying CTE returns its rows', () => {
    expect(outputs('WITH d AS (DELETE FROM users RETURNING email) SELECT * FROM d')).toEqual([{ name: 'email', sources: ['public.users.email'] }]);
  });
  it('COPY … TO carries the table or the query', () => {
    expect(outputs('COPY users TO STDOUT')).toEqual([{ name: '*', sources: ['public.users.*'], tableColumns: true }]);
    expect(outputs('COPY users (email) TO STDOUT')).toEqual([{ name: 'email', sources: ['public.users.email'] }]);
    expect(outputs('COPY (SELECT lower(email) FROM users) TO STDOUT')).toEqual([{ name: 'lower', sources: ['public.users.email'] }]);
  });
  it('statements without rows have null outputs', () => {
    expect(outputs('INSERT INTO t VALUES (1)')).toBeNull();
    expect(outputs('SET application_name = x')).toBeNull();
    expect(outputs('CREATE TABLE t (a int)')).toBeNull();
  });
});

describe('derived: values stored elsewhere (a mask bypass if allowed)', () => {
  function derived(sql: string): string[] | undefined {
    const r = analyze(sql);
    expect(r).toHaveLength(1);
    expect(r[0]!.error).toBeUndefined();
    return r[0]!.derived;
  }
  it('copies and views of masked columns are reported', () => {
    expect(derived('CREATE TABLE x AS SELECT lower(email) FROM users')).toEqual(['public.users.email']);
    expect(derived('CREATE VIEW v AS SELECT email FROM users')).toEqual(['public.users.email']);
    expect(derived('CREATE MATERIALIZED VIEW mv AS SELECT * FROM users')).toEqual(['public.users.*']);
    expect(derived('SELECT email INTO x FROM users')).toEqual(['public.users.email']);
    expect(derived('INSERT INTO x SELECT * FROM users')).toEqual(['public.users.*']);
    expect(derived('UPDATE x SET a = (SELECT ssn FROM users LIMIT 1)')).toEqual(['public.users.ssn', 'public.x.ssn']);
    expect(derived('WITH d AS (INSERT INTO log SELECT email FROM users RETURNING 1) SELECT 1')).toEqual(['public.users.email']);
    expect(derived('PREPARE p AS INSERT INTO x SELECT email FROM users')).toEqual(['public.users.email']);
  });
  it('plain reads and constant writes store nothing', () => {
    expect(derived('SELECT email FROM users')).toBeUndefined();
    expect(derived("INSERT INTO t VALUES (1, 'x')")).toBeUndefined();
    expect(derived('EXPLAIN INSERT INTO x SELECT email FROM users')).toBeUndefined();
  });
});

