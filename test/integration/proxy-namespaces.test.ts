// Prepared statements and cursors share one namespace upstream with protocol statements and
// portals. A SQL definition the proxy remembers must not outlive the object it describes: after
// DEALLOCATE / DISCARD ALL, or once a protocol Parse / Bind took the name, SQL EXECUTE / FETCH of
// that name is refused instead of being decided as the old, harmless definition (red-team F2b, F2c).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../src/pg/protocol.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { Wire, errors, rows } from '../fixtures/redteam/wire.js';
import { dropSchema, redteamPolicy, seedSchema, SECRET_EMAIL, SECRET_SSN, uniqueSchema } from '../fixtures/redteam/env.js';

const S = uniqueSchema('ns');
let proxy: TestProxy;

beforeAll(async () => {
  await seedSchema(S);
  proxy = await startTestProxy({
    policy: redteamPolicy(S, `        - { action: allow, kinds: [prepare, execute, deallocate, transaction, reset] }\n`),
  });
});

afterAll(async () => {
  await proxy?.stop();
  await dropSchema(S);
});

function expectNoSecret(msgs: { body: Buffer }[]): void {
  const text = msgs.map((m) => m.body.toString('utf8')).join('');
  expect(text).not.toContain(SECRET_EMAIL);
  expect(text).not.toContain(SECRET_SSN);
}

function expectDenied(msgs: { type: string; body: Buffer }[]): void {
  expect(errors(msgs).map((e) => e.code)).toEqual(['42501']);
  expect(errors(msgs)[0]!.message).toMatch(/^tollgate: denied/);
  expect(rows(msgs)).toEqual([]);
  expectNoSecret(msgs);
}

describe('SQL definitions shadowed by protocol names', () => {
  it.each(['DEALLOCATE p', 'DEALLOCATE ALL', 'DISCARD ALL'])('F2c: %s, then a protocol Parse of p, then EXECUTE p is refused', async (drop) => {
    const w = await Wire.login(proxy.port, proxy.password);
    try {
      expect(errors(await w.query(`PREPARE p AS SELECT 'x'::text AS e`))).toEqual([]);
      expect(rows(await w.query('EXECUTE p'))).toEqual([['x']]);
      expect(errors(await w.query(drop))).toEqual([]);
      w.reset();
      w.send(P.parse('p', `SELECT lower(email) AS e FROM ${S}.users`), P.sync());
      await w.ready();
      expect(errors(w.msgs)).toEqual([]);
      expectDenied(await w.query('EXECUTE p'));
    } finally {
      w.end();
    }
  });

  it('F2c without DEALLOCATE: a Parse of the name (the server refuses it: p exists) leaves EXECUTE p refused', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    try {
      await w.query(`PREPARE p AS SELECT 'x'::text AS e`);
      w.reset();
      w.send(P.parse('p', `SELECT lower(email) AS e FROM ${S}.users`), P.sync());
      await w.ready();
      expect(errors(w.msgs).map((e) => e.code)).toEqual(['42P05']);
      expectDenied(await w.query('EXECUTE p'));
    } finally {
      w.end();
    }
  });

  it('F2b: a protocol portal bound to a cursor name is not FETCHed as the old cursor definition', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    try {
      expect(errors(await w.query(`BEGIN; DECLARE c CURSOR FOR SELECT 'x'::text AS e; COMMIT`))).toEqual([]);
      await w.query('BEGIN');
      w.reset();
      w.send(P.parse('s', `SELECT lower(email) AS e, upper(ssn) AS s2 FROM ${S}.users`), P.bind('c', 's'), P.sync());
      await w.ready();
      expect(errors(w.msgs)).toEqual([]);
      expectDenied(await w.query('FETCH ALL FROM c'));
      await w.query('ROLLBACK');
    } finally {
      w.end();
    }
  });
});
