// Red team, audit log: plant a unique literal in statements of every shape the proxy has to record —
// unparsable ones (unterminated strings, dollar quotes, comments, escapes), denied ones, allowed ones,
// failing ones, extended-protocol ones, values the server echoes in errors — and check that the log
// verifies and that no planted literal reached it, COPY file/PROGRAM names and LOAD paths included.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../src/pg/protocol.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { closeAndCheckAudit, dropSchema, redteamPolicy, seedSchema, uniqueSchema } from '../fixtures/redteam/env.js';
import { errors, types, Wire } from '../fixtures/redteam/wire.js';

const S = uniqueSchema('audit');
let proxy: TestProxy;

beforeAll(async () => {
  await seedSchema(S);
  proxy = await startTestProxy({ policy: redteamPolicy(S) });
});

afterAll(async () => {
  if (proxy) await proxy.stop();
  await dropSchema(S);
});

// [statement, SQLSTATE the client gets ('' = none)]
const PLANTED: [string, string][] = [
  ["SELECT 'PLANTED-a1", '42501'], // unterminated string: unparsable, denied
  ["SELECT 'PLANTED-a2' FROM", '42501'],
  ['SELECT $$PLANTED-a3', '42501'],
  ['SELECT $tag$PLANTED-a4$tag$ $$', '42501'],
  ["SELECT E'PLANTED-a5\\", '42501'],
  ['SELECT 1 /* PLANTED-a6', '42501'],
  ["SELECT U&'PLANTED-a7' UESCAPE", '42501'],
  ["SELECT 'PLANTED-a8' 'PLANTED-a9'", '42501'],
  ["SELECT 1e'PLANTED-a10'", '42501'],
  ["SELECT 'PLANTED-a11' \\gdesc", '42501'],
  ["SELECT 'PLANTED-a12'::int", '22P02'], // allowed; the server echoes the value in its error
  ["SELECT B'PLANTED-a13'", '22P02'],
  ["SELECT 'PLANTED-a14', 1 -- PLANTED-a15", ''],
  ["SELECT $q$PLANTED-a16$q$, E'PLANTED-a17\\n', U&'PLANTED-a18', X'ABCD'", ''],
  [`SELECT email FROM S.users WHERE email = 'PLANTED-a19' OR ssn IN ('PLANTED-a20', 'PLANTED-a21')`, ''],
  [`DELETE FROM S.users WHERE email = 'PLANTED-a22'`, '42501'],
  [`INSERT INTO S.scratch VALUES ('PLANTED-a23'), ($$PLANTED-a24$$)`, ''],
  [`UPDATE S.users SET email = 'PLANTED-a25'`, '42501'],
  [`SELECT 'PLANTED-a26'; DELETE FROM S.secret WHERE v = 'PLANTED-a27'`, '42501'],
  [`DO $$ BEGIN RAISE NOTICE 'PLANTED-a28'; END $$`, '42501'],
  [`SELECT set_config('application_name', 'PLANTED-a29', false)`, '42501'],
  [`SET application_name = 'PLANTED-a30'`, ''],
  [`PREPARE x AS SELECT 'PLANTED-a31'`, '42501'],
  [`SELECT * FROM S.users WHERE id = ANY('{1,2}'::int[]) AND email LIKE 'PLANTED-a32%' LIMIT 1`, ''],
  [`SELECT '{"k":"PLANTED-a33"}'::jsonb ->> 'k'`, ''],
  [`SELECT ARRAY['PLANTED-a34']`, ''],
  [`SELECT interval 'PLANTED-a35'`, '22007'],
  [`SELECT 'PLANTED-a36' AS x WHERE 'PLANTED-a37' IS NOT NULL`, ''],
  // File names, programs and library paths are literals too (regression: in the log until ~05:10).
  ["COPY (SELECT 1) TO '/tmp/PLANTED-a40'", '42501'],
  ["COPY (SELECT 1) TO PROGRAM 'curl -H PLANTED-a41 https://example.invalid'", '42501'],
  ["COPY S.scratch FROM PROGRAM 'echo PLANTED-a42'", '42501'],
  ["LOAD 'PLANTED-a43'", '42501'],
  // Identifiers the canonical JSON of the hash chain must survive (line separators, astral planes, escapes).
  ['SELECT 1 AS "a\u2028b\u2029c", 2 AS "\u{1F600}", 3 AS "q\\"\"x", 4 AS "\u{10FFFD}", \'PLANTED-a38\' AS "\u0085"', ''],
  ['SELECT 1 AS "\ud7ff\ue000\ufeff", \'PLANTED-a39\' AS "\t\r"', ''],
];

describe('planted literals never reach the audit log', () => {
  it('through the simple protocol, with the exact outcome for each statement', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    for (const [sql, code] of PLANTED) {
      const m = await w.query(sql.replace(/\bS\./g, `${S}.`));
      expect([sql, errors(m).map((e) => e.code).join(',')]).toEqual([sql, code]);
      if (code === '42501') expect(errors(m)[0]!.message.startsWith('tollgate: denied')).toBe(true);
    }
    w.end();
  });

  it('through the extended protocol: Parse, parameters, denied and failing statements', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    w.send(
      P.parse('a', `SELECT $1::text, 'PLANTED-b1' FROM ${S}.users WHERE email <> 'PLANTED-b2'`),
      P.bind('', 'a', [Buffer.from('PLANTED-b3')]),
      P.execute(''),
      P.sync(),
      P.parse('', "SELECT 'PLANTED-b4"),
      P.sync(),
      P.parse('', `DELETE FROM ${S}.users WHERE email = 'PLANTED-b5'`),
      P.sync(),
      P.parse('', "SELECT 'PLANTED-b6'::int"),
      P.bind('', ''),
      P.execute(''),
      P.sync(),
    );
    await w.ready(4);
    // The constant cast fails while the server parses it: the error answers the Parse itself.
    expect(types(w.msgs)).toBe('12DCZEZEZEZ');
    expect(errors(w.msgs).map((e) => e.code)).toEqual(['42501', '42501', '22P02']);
    w.end();
  });

  it('the chain verifies and holds none of them', async () => {
    const lines = await closeAndCheckAudit(proxy);
    const sql = lines.filter((l) => l.type === 'sql');
    // Every statement above has its record (the denied multi-statement message has one per statement).
    expect(sql.length).toBeGreaterThanOrEqual(PLANTED.length + 4);
    expect(sql.every((l) => typeof l.statement === 'string' && typeof l.hash === 'string')).toBe(true);
  });
});
