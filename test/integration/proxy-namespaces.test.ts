// Prepared statements and cursors share one namespace upstream with protocol statements and
// portals. A SQL definition the proxy remembers must not outlive the object it describes: after
// DEALLOCATE / DISCARD ALL, or once a protocol Parse / Bind took the name, SQL EXECUTE / FETCH of
// that name is refused instead of being decided as the old, harmless definition (red-team F2b, F2c).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../src/pg/protocol.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { Wire, errors, rows } from '../fixtures/redteam/wire.js';
import { admin, dropSchema, redteamPolicy, seedSchema, SECRET_EMAIL, SECRET_SSN, uniqueSchema } from '../fixtures/redteam/env.js';

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

  it('F2c without DEALLOCATE: a Parse of the name is answered 42P05 (p exists) and EXECUTE p runs the real p', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    try {
      await w.query(`PREPARE p AS SELECT 'x'::text AS e`);
      w.reset();
      w.send(P.parse('p', `SELECT lower(email) AS e FROM ${S}.users`), P.sync());
      await w.ready();
      expect(errors(w.msgs).map((e) => e.code)).toEqual(['42P05']);
      const m = await w.query('EXECUTE p');
      expect(errors(m)).toEqual([]);
      expect(rows(m)).toEqual([['x']]);
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

describe('F20: a Parse of a name that exists, with a Bind pipelined behind it', () => {
  it('is answered 42P05 by the proxy; the Bind uses the statement the server has, and the audit log records that one', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    try {
      w.send(
        P.parse('twice', `INSERT INTO ${S}.scratch VALUES ('f20-row')`),
        P.parse('twice', 'SELECT 1 AS harmless'),
        P.sync(),
        P.bind('', 'twice'),
        P.execute(''),
        P.sync(),
      );
      await w.ready(2);
      expect(w.msgs.map((m) => m.type).join('')).toBe('1EZ2CZ');
      expect(errors(w.msgs).map((e) => [e.code, e.message])).toEqual([['42P05', 'prepared statement "twice" already exists']]);
      const r = await admin(`SELECT count(*)::int AS n FROM ${S}.scratch WHERE t = 'f20-row'`);
      expect(r.rows[0].n).toBe(1);
    } finally {
      w.end();
    }
    await new Promise((r) => setTimeout(r, 200));
    // The execution is recorded as the INSERT the server ran (not as the refused SELECT).
    const executed = (await proxy.audit()).filter((l) => l.rows !== undefined && /scratch|harmless/.test(l.statement ?? ''));
    expect(executed.map((l) => l.statement)).toEqual([expect.stringMatching(/^INSERT INTO \S+\.scratch VALUES/)]);
    expect(executed[0]!.rows).toBe(1);
  });

  it('a name PREPAREd by SQL is known to exist too; after DEALLOCATE a Parse of it is forwarded', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    try {
      await w.query(`PREPARE q AS SELECT 'x'::text AS e`);
      w.reset();
      w.send(P.parse('q', 'SELECT 2'), P.sync());
      await w.ready();
      expect(errors(w.msgs).map((e) => e.code)).toEqual(['42P05']);
      await w.query('DEALLOCATE q');
      w.reset();
      w.send(P.parse('q', 'SELECT 2 AS two'), P.bind('', 'q'), P.execute(''), P.sync());
      await w.ready();
      expect(errors(w.msgs)).toEqual([]);
      expect(rows(w.msgs)).toEqual([['2']]);
    } finally {
      w.end();
    }
  });
});
