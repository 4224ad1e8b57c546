// Red team, masking through the live proxy: every way we found to read `users.email` (redact) and
// `*.ssn` (null) that the proxy DOES defend — whole rows, JSON and array aggregates, casts, hex
// encodings, CTEs, sub-selects, set operations, quoting and case, TABLE, binary results, cursors
// fetched in a later message (a bypass until commit d899b69). The bypasses still open are written
// up in the red-team findings, not here: this file only holds defences that hold.

import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../src/pg/protocol.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { admin, closeAndCheckAudit, dropSchema, redteamPolicy, seedSchema, uniqueSchema, SECRET_EMAIL, SECRET_SSN } from '../fixtures/redteam/env.js';
import { errors, rows, types, Wire, type Msg } from '../fixtures/redteam/wire.js';

const S = uniqueSchema('mask');
let proxy: TestProxy;
let w: Wire;

beforeAll(async () => {
  await seedSchema(S);
  // COPY TO is allowed, so only the masking can refuse `COPY (SELECT email …) TO STDOUT`.
  await admin(`CREATE VIEW ${S}.users_v AS SELECT id, email FROM ${S}.users;
    CREATE VIEW ${S}.v2 AS SELECT id, lower(email) AS le, email || '' AS cat FROM ${S}.users;
    CREATE VIEW ${S}.vv AS SELECT * FROM ${S}.v2;
    CREATE MATERIALIZED VIEW ${S}.mv AS SELECT id, email, lower(email) AS le FROM ${S}.users;`);
  proxy = await startTestProxy({
    policy: redteamPolicy(
      S,
      `        - { action: allow, kinds: [copy_to], objects: ["${S}.users"] }\n        - { action: allow, kinds: [read], objects: ["${S}.users_v", "${S}.v2", "${S}.vv", "${S}.mv"] }\n`,
    ),
  });
  w = await Wire.login(proxy.port, proxy.password);
});

afterAll(async () => {
  w?.destroy();
  if (proxy) await proxy.stop();
  await dropSchema(S);
});

/** No byte of any message carries a secret, in any case. */
function expectNoSecret(msgs: Msg[]): void {
  const bytes = Buffer.concat(msgs.map((m) => m.body)).toString('latin1').toLowerCase();
  expect(bytes).not.toContain(SECRET_EMAIL);
  expect(bytes).not.toContain(SECRET_SSN);
  expect(bytes).not.toContain('ann@');
  expect(bytes).not.toContain('3333');
}

const q = (sql: string) => sql.replace(/\bS\./g, `${S}.`);

// [statement, exact rows the client must receive]
const MASKED: [string, (string | null)[][]][] = [
  ["SELECT email FROM S.users WHERE 'PLANTED-m1' <> ''", [['***']]],
  ['SELECT u FROM S.users u', [[null]]],
  ['SELECT row_to_json(u) FROM S.users u', [[null]]],
  ['SELECT to_json(u.*) FROM S.users u', [[null]]],
  ['SELECT json_agg(users) FROM S.users', [[null]]],
  ['SELECT jsonb_agg(u) FROM S.users u', [[null]]],
  ['SELECT u::text FROM S.users u', [[null]]],
  ['SELECT (row(u.*))::text FROM S.users u', [[null]]],
  ['SELECT (u).email FROM S.users u', [[null]]],
  ['SELECT array_agg(email) FROM S.users', [['{***}']]],
  ['SELECT ARRAY[email] FROM S.users', [['{***}']]],
  ["SELECT string_agg(email, 'PLANTED-m2') FROM S.users", [['***']]],
  ["SELECT array_to_string(array_agg(email), ',') FROM S.users", [['***']]],
  ['SELECT email::bytea FROM S.users', [['***']]],
  ["SELECT encode(convert_to(email, 'UTF8'), 'hex') FROM S.users", [['***']]],
  ['SELECT md5(email) FROM S.users', [['***']]],
  ['SELECT substr(email, 1, 100) FROM S.users', [['***']]],
  ['SELECT left(email, 3) FROM S.users', [['***']]],
  ["SELECT translate(email, 'a', 'b') FROM S.users", [['***']]],
  ["SELECT regexp_replace(email, 'x', 'y') FROM S.users", [['***']]],
  ['SELECT quote_literal(email) FROM S.users', [['***']]],
  ["SELECT format('%s', email) FROM S.users", [['***']]],
  ['SELECT concat(email) FROM S.users', [['***']]],
  ["SELECT concat_ws(',', email) FROM S.users", [['***']]],
  ['SELECT xmlforest(email) FROM S.users', [['***']]],
  ["SELECT jsonb_build_object('e', email) FROM S.users", [['"***"']]],
  ['SELECT email::varchar(3) FROM S.users', [['***']]],
  ['SELECT email COLLATE "C" FROM S.users', [['***']]],
  ['SELECT (email) FROM S.users', [['***']]],
  ['SELECT CASE WHEN true THEN email END FROM S.users', [['***']]],
  ['SELECT pg_catalog.lower(email) FROM S.users', [['***']]],
  ['SELECT upper(ssn) FROM S.users', [[null]]],
  ['WITH c AS (SELECT email FROM S.users) SELECT * FROM c', [['***']]],
  ['SELECT x.email FROM (SELECT email FROM S.users) x', [['***']]],
  ['SELECT (SELECT email FROM S.users LIMIT 1)', [['***']]],
  ['SELECT (SELECT u.email) FROM S.users u', [['***']]],
  ['SELECT * FROM (VALUES (1)) v(a), LATERAL (SELECT email FROM S.users) l', [['1', '***']]],
  ["SELECT 'PLANTED-m3' UNION ALL SELECT email FROM S.users", [['***'], ['***']]],
  ['SELECT * FROM S."users"', [['1', '***', null]]],
  ['SELECT * FROM S.USERS', [['1', '***', null]]],
  ['SELECT t.* FROM S.users t', [['1', '***', null]]],
  ['SELECT users.* FROM S.users', [['1', '***', null]]],
  ['TABLE S.users', [['1', '***', null]]],
  ['SELECT email FROM ONLY S.users', [['***']]],
  ["SELECT current_setting('PLANTED.m4', true), email, ssn FROM S.users", [[null, '***', null]]],
  ['SELECT x.* FROM S.users u, LATERAL (SELECT u.email) x', [['***']]],
  ['SELECT DISTINCT ON (email) email FROM S.users', [['***']]],
  ['SELECT * FROM jsonb_to_record((SELECT to_jsonb(u) FROM S.users u)) AS x(email text)', [[null]]],
  ['SELECT (jsonb_each_text(to_jsonb(u))).value FROM S.users u', [[null], [null], [null]]],
  ["SELECT (SELECT string_agg(x, ',') FROM unnest(ARRAY[email]) x) FROM S.users", [['***']]],
  ['SELECT unnest(ARRAY[email, ssn]) FROM S.users', [[null], [null]]],
  ["SELECT split_part(email, '@', 2) FROM S.users", [['***']]],
  ['SELECT email FROM (TABLE S.users) t', [[null]]],
  ['SELECT t.c2 FROM (SELECT * FROM S.users) AS t(c1, c2)', [[null]]],
  ['SELECT c2 FROM S.users AS t(c1, c2)', [[null]]],
  ['WITH RECURSIVE r(e) AS (SELECT email FROM S.users UNION SELECT e FROM r) SELECT * FROM r', [['***']]],
  ['SELECT xmlagg(xmlelement(name x, email)) FROM S.users', [['***']]],
  ["SELECT (SELECT max(email) FROM S.users) || ''", [['***']]],
  ["SELECT greatest(email, ''), coalesce(NULL, email), nullif(email, 'PLANTED-m10'), (ARRAY[email])[1] FROM S.users", [['***', '***', '***', '***']]],
  ["SELECT to_jsonb(u) -> 'email', jsonb_path_query(to_jsonb(u), '$.email') FROM S.users u", [[null, null]]],
  ['SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY email), mode() WITHIN GROUP (ORDER BY email) FROM S.users', [['***', '***']]],
  ['SELECT first_value(email) OVER (), lead(email, 0) OVER () FROM S.users', [['***', '***']]],
  ['SELECT * FROM (VALUES ((SELECT email FROM S.users))) v', [['***']]],
  ['SELECT * FROM generate_series(1, 1), LATERAL (SELECT email FROM S.users) x', [['1', '***']]],
  ["SELECT * FROM string_to_table((SELECT email FROM S.users), ',')", [['***']]],
  ['SELECT * FROM jsonb_array_elements_text((SELECT jsonb_agg(email) FROM S.users))', [['***']]],
];

// A `*` whose width the gateway cannot know without the catalog (a function in FROM, (expr).*, a
// NATURAL join) over masked data: denied rather than guessed (the server sends these columns with
// table OID 0, so the catalog cannot mask them either).
const DENIED_UNKNOWN_WIDTH = [
  'SELECT (u).* FROM S.users u',
  'SELECT * FROM S.users NATURAL JOIN S.users u2',
  'SELECT * FROM unnest((SELECT array_agg(email) FROM S.users))',
  'SELECT * FROM unnest((SELECT array_agg(u) FROM S.users u))',
];

describe('simple protocol: a * of unknown width over masked data', () => {
  for (const sql of DENIED_UNKNOWN_WIDTH) {
    it(sql, async () => {
      const m = await w.query(q(sql));
      expect(errors(m)[0]).toMatchObject({ code: '42501' });
      expect(errors(m)[0]!.message).toMatch(/^tollgate: denied: result columns of a \* over something other than a table .* list the columns instead of \*$/);
      expect(rows(m)).toEqual([]);
      expectNoSecret(m);
    });
  }
});

describe('simple protocol: derived values of masked columns', () => {
  for (const [sql, expected] of MASKED) {
    it(sql, async () => {
      const m = await w.query(q(sql));
      expect(errors(m)).toEqual([]);
      expect(rows(m)).toEqual(expected);
      expectNoSecret(m);
    });
  }

  it('EXPLAIN ANALYZE VERBOSE runs the read but shows no value', async () => {
    const m = await w.query(q("EXPLAIN (ANALYZE, VERBOSE) SELECT email FROM S.users WHERE email <> 'PLANTED-m5'"));
    expect(errors(m)).toEqual([]);
    expect(rows(m).length).toBeGreaterThan(1);
    expectNoSecret(m);
  });

  it('a COPY of a query naming a masked column is refused (COPY cannot mask)', async () => {
    const m = await w.query(q("COPY (SELECT email FROM S.users WHERE email <> 'PLANTED-m6') TO STDOUT"));
    expect(types(m)).toBe('EZ');
    expect(errors(m)[0]).toMatchObject({ code: '42501', message: 'tollgate: denied: result refused: COPY cannot mask columns; the statement reads masked columns' });
    expectNoSecret(m);
  });
});

describe('extended protocol', () => {
  it('masks text and binary formats, Describe first or not', async () => {
    w.reset();
    w.send(
      P.parse('', q("SELECT lower(email) AS e, id, ssn, email FROM S.users WHERE 'PLANTED-m7' <> ''")),
      P.describe('S', ''),
      P.bind('', '', [], [1, 0, 1, 1]),
      P.execute(''),
      P.sync(),
    );
    await w.ready();
    expect(types(w.msgs)).toBe('1tT2DCZ');
    expect(rows(w.msgs)).toEqual([['***', '1', null, '***']]);
    expectNoSecret(w.msgs);
  });
});

describe('cursors and prepared statements used in a later message (regression: bypass before d899b69)', () => {
  it('FETCH from a cursor declared in an earlier message masks computed columns', async () => {
    expect(types(await w.query('BEGIN'))).toBe('CZ');
    expect(types(await w.query(q("DECLARE c CURSOR FOR SELECT lower(email) AS e, upper(ssn) AS s FROM S.users WHERE 'PLANTED-m8' <> ''")))).toBe('CZ');
    const m = await w.query('FETCH ALL FROM c');
    expect(rows(m)).toEqual([['***', null]]);
    expectNoSecret(m);
    expect(types(await w.query('COMMIT'))).toBe('CZ');
  });

  it('FETCH through the extended protocol from a WITH HOLD cursor masks too', async () => {
    expect(types(await w.query(q('DECLARE h CURSOR WITH HOLD FOR SELECT lower(email) AS e FROM S.users')))).toBe('CZ');
    w.reset();
    w.send(P.parse('', 'FETCH ALL FROM h'), P.bind('', ''), P.execute(''), P.sync());
    await w.ready();
    expect(rows(w.msgs)).toEqual([['***']]);
    expectNoSecret(w.msgs);
    const moved = await w.query('MOVE ABSOLUTE 0 IN h');
    expect(types(moved)).toBe('CZ');
    const again = await w.query('FETCH ALL IN h');
    expect(rows(again)).toEqual([['***']]);
  });

  it('FETCH of a cursor the session never declared is denied', async () => {
    const m = await w.query('FETCH ALL FROM never_declared');
    expect(errors(m)[0]).toMatchObject({ code: '42501', message: 'tollgate: denied: cursor "never_declared" is not defined in this session' });
  });
});

describe('regressions of red-team findings fixed during the session', () => {
  it('an Execute of a stale portal name that a SQL cursor took over is not served with the old mask plan', async () => {
    w.reset();
    w.send(P.query('BEGIN'), P.parse('h', "SELECT 'PLANTED-r1'::text AS e, 'x'::text AS s"), P.bind('c2', 'h'), P.execute('c2'), P.sync(), P.query('COMMIT'));
    await w.ready(3);
    expect(types(await w.query(q('DECLARE c2 CURSOR WITH HOLD FOR SELECT email, ssn FROM S.users')))).toBe('CZ');
    w.reset();
    w.send(P.execute('c2'), P.sync());
    await w.ready();
    expect(types(w.msgs)).toBe('EZ');
    expect(errors(w.msgs)[0]).toMatchObject({ code: '42501', message: 'tollgate: denied: portal "c2" was not prepared through the extended protocol; the gateway cannot vouch for it' });
    expectNoSecret(w.msgs);
    expect(rows(await w.query('FETCH ALL FROM c2'))).toEqual([['***', null]]);
  });

  for (const [sql, code] of [
    ['SELECT email::int FROM S.users', '22P02'],
    ['SELECT ssn::date FROM S.users', '22008'],
    ["SELECT 1 FROM S.users WHERE email::int > 0 AND 'PLANTED-r2' <> ''", '22P02'],
    ['SELECT email::uuid FROM S.users', '22P02'],
    ['SELECT email::inet FROM S.users', '22P02'],
    ['SELECT xmlparse(document email) FROM S.users', '2200M'],
    ["SELECT format('%s %s', email) FROM S.users", '22023'],
    ['SELECT v::int FROM (SELECT email AS v FROM S.users) t', '22P02'],
    ['SELECT * FROM S.users WHERE id = (SELECT email FROM S.users)::int', '22P02'],
  ] as const) {
    it(`withholds the upstream error text that would quote the value: ${sql}`, async () => {
      const m = await w.query(q(sql));
      expect(types(m).endsWith('EZ')).toBe(true);
      expect(errors(m)).toEqual([
        { severity: 'ERROR', code, message: `tollgate: the upstream message is withheld because the statement touches masked data (SQLSTATE ${code})`, detail: undefined },
      ]);
      expectNoSecret(m);
    });
  }

  it('a write that copies a masked column elsewhere (laundering) is denied, RETURNING or not', async () => {
    for (const sql of [
      "INSERT INTO S.scratch SELECT email FROM S.users WHERE 'PLANTED-r3' <> '' RETURNING t",
      'INSERT INTO S.scratch SELECT lower(email) FROM S.users',
      'INSERT INTO S.scratch VALUES ((SELECT email FROM S.users))',
      'WITH x AS (INSERT INTO S.scratch SELECT ssn FROM S.users RETURNING t) SELECT * FROM x',
    ]) {
      const m = await w.query(q(sql));
      expect(types(m)).toBe('EZ');
      expect(errors(m)[0]!.code).toBe('42501');
      expect(errors(m)[0]!.message).toMatch(/^tollgate: denied: the statement stores data of the masked column (rt_mask_\w+\.users\.email|\*\.ssn) elsewhere or under another name, where it would be readable unmasked$/);
    }
    expect(rows(await w.query(q('SELECT count(*) FROM S.scratch')))).toEqual([['0']]);
  });
});

describe('COPY of a whole table with masked columns (regression: streamed in clear until ~05:15)', () => {
  for (const sql of ['COPY S.users TO STDOUT', 'COPY (SELECT * FROM S.users) TO STDOUT', 'COPY (TABLE S.users) TO STDOUT', "COPY (SELECT u.* FROM S.users u WHERE 'PLANTED-c2' <> '') TO STDOUT"]) {
    it(`refuses ${sql}, simple and extended`, async () => {
      const simple = await w.query(q(sql));
      w.reset();
      w.send(P.parse('', q(sql)), P.bind('', ''), P.execute(''), P.sync());
      await w.ready();
      for (const m of [simple, [...w.msgs]]) {
        expect(types(m)).toBe('EZ');
        expect(errors(m)[0]!.code).toBe('42501');
        // The wording after the table name is the proxy's to choose ("has masked columns", "has or reads …").
        expect(errors(m)[0]!.message.startsWith(`tollgate: denied: result refused: COPY cannot mask columns; ${S}.users has `)).toBe(true);
        expectNoSecret(m);
      }
    });
  }
});

describe('catalog relations that hold values or credentials (regression: readable until ~05:05)', () => {
  for (const rel of ['pg_stats', 'pg_statistic', 'pg_authid', 'pg_shadow', 'pg_stat_activity', 'pg_user_mapping', 'pg_subscription', 'pg_largeobject']) {
    it(`denies reading pg_catalog.${rel} although the policy allows read on pg_catalog.*`, async () => {
      const m = await w.query(`SELECT * FROM pg_catalog.${rel} WHERE 'PLANTED-c1' <> '' LIMIT 1`);
      expect(types(m)).toBe('EZ');
      expect(errors(m)[0]!.code).toBe('42501');
      expect(errors(m)[0]!.message.startsWith(`tollgate: denied: select on pg_catalog.${rel} is dangerous: only a rule naming kind select and object pg_catalog.${rel} exactly`)).toBe(true);
    });
  }
});

describe('views over a masked table (regression: clear until ~05:05)', () => {
  it('masks a view column that is the masked column', async () => {
    const m = await w.query(q("SELECT id, email FROM S.users_v WHERE 'PLANTED-v1' <> ''"));
    expect(errors(m)).toEqual([]);
    expect(rows(m)[0]![1]).toBe('***');
    expectNoSecret(m);
  });

  for (const [sql, expected] of [
    ['SELECT le, cat FROM S.v2', [['***', '***']]],
    ['SELECT le FROM S.vv', [['***']]],
    ["SELECT email, le FROM S.mv WHERE 'PLANTED-v2' <> ''", [['***', '***']]],
  ] as const) {
    it(`masks computed view and materialized-view columns: ${sql}`, async () => {
      const m = await w.query(q(sql));
      expect(rows(m)).toEqual(expected);
      expectNoSecret(m);
    });
  }
});

describe('psql \\gdesc (Parse and Describe, nothing executed)', () => {
  function psql(input: string): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = execFile('psql', ['-X', '-v', 'ON_ERROR_STOP=0'], { env: proxy.env, timeout: 20_000 }, (_err, stdout, stderr) => resolve({ stdout, stderr }));
      child.stdin!.end(input);
    });
  }

  it('describes an allowed read without values, and refuses a denied one', async () => {
    const r = await psql(`SELECT email, lower(email) AS e FROM ${S}.users WHERE email <> 'PLANTED-m9' \\gdesc\nSELECT * FROM ${S}.secret \\gdesc\n`);
    expect(r.stdout).toMatch(/ email\s+\| text/);
    expect(r.stdout).toMatch(/ e\s+\| text/);
    expect(r.stdout.toLowerCase()).not.toContain('ann@');
    expect(r.stderr).toMatch(/ERROR: {2}tollgate: denied: select on rt_mask_\w+\.secret/);
  });
});

describe('audit log after every read above', () => {
  it('verifies, holds no planted literal, and records the masks', async () => {
    w.end();
    const lines = await closeAndCheckAudit(proxy);
    expect(lines.some((l) => Array.isArray(l.masked) && (l.masked as { column: string }[]).some((m) => m.column === `${S}.users.email`))).toBe(true);
  });
});
