// F19: a `*` over a function in FROM (unnest, json/jsonb record functions, ROWS FROM, LATERAL…), a set
// operation or `(expr).*` returns columns with table OID 0, which the proxy's catalog path cannot mask.
// Such a `*` carries all its arguments' sources: masked when their number is known, denied otherwise.
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/load.js';
import { createEngine } from '../../src/policy/sql-analyzer.js';
import type { PolicyEngine } from '../../src/policy/engine.js';
import type { StatementDecision } from '../../src/policy/types.js';

// The red team's setup: read on s.* and pg_catalog.*, email redacted, any ssn nulled.
const POLICY = `version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["s.*", "pg_catalog.*"] }
        - { action: deny, kinds: [any] }
      masks:
        - { columns: ["s.users.email"], strategy: redact }
        - { columns: ["*.ssn"], strategy: "null" }
`;

const UNKNOWN = (column: string): string =>
  `result columns of a * over something other than a table (a function in FROM, a set operation, (expression).*, a NATURAL join) carry masked data (${column}) but their number and positions in the result are unknown: list the columns instead of *`;
const AFTER_STAR = (name: string, column: string): string =>
  `result column "${name}" carries masked data (${column}) but follows a *, so its position in the result is unknown: list the columns instead of *`;
const READ_USERS = 'select on s.users allowed by roles.test.postgres.rules[0]';

let e: PolicyEngine;
beforeAll(async () => {
  e = await createEngine(parsePolicy(POLICY, 'redteam.yml'), 'test');
});

function one(sql: string): StatementDecision {
  const d = e.decide(sql);
  expect(d.statements).toHaveLength(1);
  return d.statements[0]!;
}

function denied(sql: string, reason: string): void {
  const s = one(sql);
  expect({ decision: s.decision, reason: s.reason, masked: s.masked }).toEqual({ decision: 'deny', reason, masked: [] });
}

const ssn = (index: number, name: string) => ({ index, name, strategy: 'null', column: '*.ssn' });
const email = (index: number, name: string) => ({ index, name, strategy: 'redact', column: 's.users.email' });

describe('F19: * over set-returning functions fed with masked rows', () => {
  it.each([
    'SELECT * FROM json_populate_record(null::s.users, (SELECT row_to_json(u) FROM s.users u))',
    'SELECT * FROM json_populate_recordset(null::s.users, (SELECT json_agg(u) FROM s.users u))',
    'SELECT * FROM unnest((SELECT array_agg(u) FROM s.users u))',
    'SELECT * FROM ROWS FROM (json_populate_record(null::s.users, (SELECT row_to_json(u) FROM s.users u)))',
    'SELECT * FROM ROWS FROM (json_populate_record(null::s.users, (SELECT row_to_json(u) FROM s.users u))) WITH ORDINALITY',
    'SELECT t.* FROM unnest((SELECT array_agg(u) FROM s.users u)) t',
    'WITH c AS (SELECT * FROM unnest((SELECT array_agg(u) FROM s.users u))) TABLE c',
    'SELECT * FROM (SELECT * FROM unnest((SELECT array_agg(u) FROM s.users u))) t',
    'SELECT * FROM s.users u, LATERAL json_populate_record(null::s.users, row_to_json(u)) r',
    'SELECT (json_populate_record(null::s.users, (SELECT row_to_json(u) FROM s.users u LIMIT 1))).*',
    // A set operation's columns come with table OID 0 too (measured on PostgreSQL 15).
    'SELECT * FROM s.users UNION ALL SELECT * FROM s.users',
    'SELECT * FROM (SELECT * FROM s.users UNION ALL SELECT * FROM s.users) t',
    // Which columns a NATURAL join merges (and coerces) needs the catalog.
    'SELECT * FROM s.users NATURAL JOIN s.accounts',
  ])('whole rows of masked tables, width unknown: %s → denied', (sql) => {
    denied(sql, UNKNOWN('*.ssn'));
  });

  it.each([
    'SELECT * FROM unnest(ARRAY(SELECT email FROM s.users))',
    'SELECT * FROM s.users u, LATERAL unnest(ARRAY[u.email]) e',
    'SELECT * FROM unnest(ARRAY[1]) n, LATERAL unnest(ARRAY[(SELECT email FROM s.users LIMIT 1)]) e',
  ])('a masked column into a function of unknown width: %s → denied', (sql) => {
    denied(sql, UNKNOWN('s.users.email'));
  });

  it('json_each / jsonb_each_text have two columns: both masked (strictest mask of the whole row)', () => {
    for (const sql of [
      'SELECT * FROM jsonb_each_text((SELECT to_jsonb(u) FROM s.users u))',
      'SELECT * FROM json_each((SELECT row_to_json(u) FROM s.users u))',
      'SELECT * FROM json_each((SELECT row_to_json(u) FROM s.users u LIMIT 1))',
      'SELECT x.* FROM jsonb_each_text((SELECT to_jsonb(u) FROM s.users u LIMIT 1)) x',
      'SELECT key, value FROM json_each((SELECT row_to_json(u) FROM s.users u LIMIT 1))',
    ]) {
      const s = one(sql);
      expect({ sql, decision: s.decision, reason: s.reason, masked: s.masked }).toEqual({
        sql, decision: 'allow', reason: READ_USERS, masked: [ssn(0, 'key'), ssn(1, 'value')],
      });
    }
  });

  it('WITH ORDINALITY adds one column at the end', () => {
    expect(one('SELECT * FROM json_each((SELECT row_to_json(u) FROM s.users u)) WITH ORDINALITY').masked).toEqual([
      ssn(0, 'key'), ssn(1, 'value'), ssn(2, 'ordinality'),
    ]);
  });

  it('a column definition list gives the width: every column masked', () => {
    expect(one('SELECT * FROM json_to_record((SELECT row_to_json(u) FROM s.users u LIMIT 1)) AS r(id int, email text)').masked).toEqual([
      ssn(0, 'id'), ssn(1, 'email'),
    ]);
    expect(one('SELECT * FROM jsonb_to_recordset((SELECT jsonb_agg(u) FROM s.users u)) AS r(email text)').masked).toEqual([ssn(0, 'email')]);
    expect(one('SELECT * FROM ROWS FROM (jsonb_to_record((SELECT to_jsonb(u) FROM s.users u LIMIT 1)) AS (e text), generate_series(1, 2))').masked).toEqual([
      ssn(0, 'e'), ssn(1, 'generate_series'),
    ]);
  });

  it('named columns of a function are masked by their arguments (unchanged)', () => {
    expect(one('SELECT email FROM json_populate_record(null::s.users, (SELECT row_to_json(u) FROM s.users u))').masked).toEqual([ssn(0, 'email')]);
    expect(one('SELECT x FROM unnest(ARRAY(SELECT email FROM s.users)) x').masked).toEqual([email(0, 'x')]);
  });

  it('a masked column after a * over a function: position unknown → denied', () => {
    denied('SELECT j.*, u.email FROM unnest(ARRAY[1, 2]) j, s.users u', AFTER_STAR('email', 's.users.email'));
    denied('SELECT * FROM s.users u, LATERAL jsonb_to_recordset(jsonb_build_array(to_jsonb(u))) AS r(ssn text)', AFTER_STAR('ssn', '*.ssn'));
    // json_each has exactly two columns: the email after them is column 2.
    expect(one(`SELECT j.*, u.email FROM json_each('{"a":1}') j, s.users u`).masked).toEqual([email(2, 'email')]);
  });
});

describe('statements without masked sources are allowed as before', () => {
  it.each([
    ['SELECT * FROM generate_series(1,3)', 'select allowed by roles.test.postgres.rules[0]'],
    ["SELECT * FROM json_each('{\"a\":1}')", 'select allowed by roles.test.postgres.rules[0]'],
    ['SELECT * FROM unnest(ARRAY[1, 2]) WITH ORDINALITY', 'select allowed by roles.test.postgres.rules[0]'],
    ['SELECT * FROM s.orders o, LATERAL unnest(ARRAY[o.total]) t', 'select on s.orders allowed by roles.test.postgres.rules[0]'],
  ])('%s', (sql, reason) => {
    const s = one(sql);
    expect({ decision: s.decision, reason: s.reason, masked: s.masked }).toEqual({ decision: 'allow', reason, masked: [] });
  });

  it('a set operation over tables no mask can cover is allowed; `*.ssn` may be a column of any table', async () => {
    const narrow = await createEngine(parsePolicy(POLICY.replace(/\n {8}- \{ columns: \["\*\.ssn"\][^\n]*/, ''), 'narrow.yml'), 'test');
    const s = narrow.decide('SELECT * FROM s.orders UNION ALL SELECT * FROM s.orders').statements[0]!;
    expect({ decision: s.decision, reason: s.reason, masked: s.masked }).toEqual({
      decision: 'allow', reason: 'select on s.orders allowed by roles.test.postgres.rules[0]', masked: [],
    });
    denied('SELECT * FROM s.orders UNION ALL SELECT * FROM s.orders', UNKNOWN('*.ssn'));
  });

  it('a * over tables (also through sub-selects and CTEs) is left to the proxy catalog', () => {
    for (const sql of [
      'SELECT * FROM s.users',
      'TABLE s.users',
      'SELECT u.* FROM s.users u',
      'SELECT * FROM (SELECT * FROM s.users) t',
      'WITH c AS (SELECT * FROM s.users) SELECT * FROM c',
      'SELECT * FROM s.users FULL JOIN s.accounts USING (id)',
    ]) {
      const s = one(sql);
      expect({ sql, decision: s.decision, masked: s.masked }).toEqual({ sql, decision: 'allow', masked: [] });
    }
  });
});

describe('other * producers', () => {
  it('JOIN … USING: the merged column comes first and carries both sides (a FULL JOIN COALESCEs it: table OID 0)', () => {
    expect(one('SELECT * FROM s.users FULL JOIN s.accounts USING (email)').masked).toEqual([email(0, 'email')]);
    expect(one('SELECT * FROM s.accounts JOIN s.users USING (email)').masked).toEqual([email(0, 'email')]);
  });

  it('VALUES lists: columns by position', () => {
    expect(one('SELECT * FROM (VALUES ((SELECT email FROM s.users LIMIT 1), 1)) v').masked).toEqual([email(0, 'column1')]);
  });

  it('XMLTABLE: its COLUMNS are the result columns', () => {
    expect(one("SELECT * FROM xmltable('/a' PASSING (SELECT email::xml FROM s.users LIMIT 1) COLUMNS x text, n FOR ORDINALITY)").masked).toEqual([
      email(0, 'x'), email(1, 'n'),
    ]);
  });

  it('renamed columns of a * sub-select: the unrenamed rest stays a *, so a masked column after it is denied', () => {
    denied('SELECT *, lower(email) FROM (SELECT * FROM s.users) t(a)', AFTER_STAR('lower', '*.ssn'));
  });
});
