// Red team, names that live in the session: SQL prepared statements and extended-protocol statements
// share one namespace upstream, and the search path decides what an unqualified name reads. Under a
// policy that allows PREPARE/EXECUTE/DEALLOCATE and SET search_path, an attacker tries to make the
// proxy judge one statement while the server runs another. These are the attempts that fail; the
// ones that succeed (ROLLBACK TO SAVEPOINT, stale portals) are in the red-team findings.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../src/pg/protocol.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { admin, closeAndCheckAudit, uniqueSchema, SECRET_EMAIL } from '../fixtures/redteam/env.js';
import { errors, rows, types, Wire, type Msg } from '../fixtures/redteam/wire.js';

const A = uniqueSchema('app'); // readable
const H = uniqueSchema('hid'); // no rule allows it
let proxy: TestProxy;
let w: Wire;

const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["${A}.*", "pg_catalog.*"] }
        - { action: allow, kinds: [prepare, execute, deallocate] }
        - { action: allow, kinds: [set, reset], objects: [search_path] }
        - { action: deny, kinds: [any] }
      masks:
        - { columns: ["*.email"], strategy: redact }
`;

beforeAll(async () => {
  await admin(`DROP SCHEMA IF EXISTS ${A} CASCADE; DROP SCHEMA IF EXISTS ${H} CASCADE; CREATE SCHEMA ${A}; CREATE SCHEMA ${H};
    CREATE TABLE ${A}.users (id int, email text); INSERT INTO ${A}.users VALUES (1, '${SECRET_EMAIL}');
    CREATE TABLE ${A}.secret (v text); INSERT INTO ${A}.secret VALUES ('harmless');
    CREATE TABLE ${H}.secret (v text); INSERT INTO ${H}.secret VALUES ('HIDDEN-ROW');`);
  proxy = await startTestProxy({ policy });
  w = await Wire.login(proxy.port, proxy.password);
});

afterAll(async () => {
  w?.destroy();
  if (proxy) await proxy.stop();
  await admin(`DROP SCHEMA IF EXISTS ${A} CASCADE; DROP SCHEMA IF EXISTS ${H} CASCADE`);
});

function expectDenied(m: Msg[], message?: string): void {
  const e = errors(m);
  expect(e.map((x) => x.code)).toEqual(['42501']);
  expect(e[0]!.message.startsWith('tollgate: denied')).toBe(true);
  if (message) expect(e[0]!.message).toBe(message);
}

function expectNoSecret(m: Msg[]): void {
  expect(Buffer.concat(m.map((x) => x.body)).toString('latin1').toLowerCase()).not.toContain('ann@');
}

describe('prepared statements: SQL and protocol share one namespace', () => {
  it('an extended statement replaced by SQL DEALLOCATE + PREPARE under its name cannot be bound any more', async () => {
    w.reset();
    w.send(P.parse('s1', "SELECT 'PLANTED-n1'::text AS e"), P.sync());
    await w.ready();
    expect(types(w.msgs)).toBe('1Z');
    expect(types(await w.query('DEALLOCATE s1'))).toBe('CZ');
    expect(types(await w.query(`PREPARE s1 AS SELECT lower(email) AS e FROM ${A}.users`))).toBe('CZ');
    w.reset();
    w.send(P.bind('', 's1'), P.execute(''), P.sync());
    await w.ready();
    expect(types(w.msgs)).toBe('EZ');
    expectDenied(w.msgs);
    expect(errors(w.msgs)[0]!.message).toMatch(/prepared statement "s1" was not prepared through the extended protocol/);
    // Run by SQL, it is masked by what it runs.
    const m = await w.query('EXECUTE s1');
    expect(rows(m)).toEqual([['***']]);
    expectNoSecret(m);
  });

  it('EXECUTE through the extended protocol is masked by the SQL PREPARE it runs', async () => {
    expect(types(await w.query(`PREPARE p2 AS SELECT lower(email) AS e, 'PLANTED-n2' FROM ${A}.users`))).toBe('CZ');
    w.reset();
    w.send(P.parse('', 'EXECUTE p2'), P.bind('', ''), P.execute(''), P.sync());
    await w.ready();
    expect(types(w.msgs)).toBe('12DCZ');
    expect(rows(w.msgs)).toEqual([['***', 'PLANTED-n2']]);
    expectNoSecret(w.msgs);
  });

  it('EXECUTE of a name this session never prepared is denied', async () => {
    expectDenied(await w.query('EXECUTE made_elsewhere'), 'tollgate: denied: prepared statement "made_elsewhere" is not defined in this session');
  });

  it('PREPARE of a denied statement is denied, so EXECUTE of its name stays denied', async () => {
    expectDenied(await w.query(`PREPARE wipe AS DELETE FROM ${A}.users WHERE email <> 'PLANTED-n3'`));
    expectDenied(await w.query('EXECUTE wipe'), 'tollgate: denied: prepared statement "wipe" is not defined in this session');
    expect((await admin(`SELECT count(*)::int AS n FROM ${A}.users`)).rows[0].n).toBe(1);
  });
});

describe('search path', () => {
  it('SET search_path and the read in one message: the read is judged under the new path', async () => {
    expectDenied(await w.query(`SET search_path = ${H}; SELECT v FROM secret WHERE v <> 'PLANTED-n4'`));
  });

  it('SET search_path in one message, the read in the next: judged under the path the server uses', async () => {
    expect(types(await w.query(`SET search_path = ${H}`))).toBe('CZ');
    expectDenied(await w.query('SELECT v FROM secret'));
    expect(types(await w.query(`SET search_path = ${A}`))).toBe('CZ');
    expect(rows(await w.query('SELECT v FROM secret'))).toEqual([['harmless']]);
    expect(rows(await w.query('SELECT lower(email) FROM users'))).toEqual([['***']]);
  });

  it('SET LOCAL inside a transaction, then COMMIT: the old path is back for the proxy too', async () => {
    expect(types(await w.query(`SET search_path = ${H}`))).toBe('CZ');
    expect(types(await w.query('BEGIN'))).toBe('CZ');
    expect(types(await w.query(`SET LOCAL search_path = ${A}`))).toBe('CZ');
    expect(rows(await w.query('SELECT v FROM secret'))).toEqual([['harmless']]);
    expect(types(await w.query('COMMIT'))).toBe('CZ');
    expectDenied(await w.query('SELECT v FROM secret'));
  });

  it('ROLLBACK TO SAVEPOINT that reverts the path is followed (regression: deny bypass until ~05:15)', async () => {
    expect(types(await w.query(`SET search_path = ${H}`))).toBe('CZ');
    expect(types(await w.query('BEGIN; SAVEPOINT a'))).toBe('CCZ');
    expect(types(await w.query(`SET search_path = ${A}`))).toBe('CZ');
    expect(rows(await w.query('SELECT v FROM secret'))).toEqual([['harmless']]);
    expect(types(await w.query('ROLLBACK TO SAVEPOINT a'))).toBe('CZ');
    expectDenied(await w.query("SELECT v FROM secret WHERE v <> 'PLANTED-n5'"));
    expect(types(await w.query('COMMIT'))).toBe('CZ');
  });

  it('COMMIT AND CHAIN after SET LOCAL is followed (regression)', async () => {
    expect(types(await w.query(`SET search_path = ${H}`))).toBe('CZ');
    expect(types(await w.query('BEGIN'))).toBe('CZ');
    expect(types(await w.query(`SET LOCAL search_path = ${A}`))).toBe('CZ');
    expect(rows(await w.query('SELECT v FROM secret'))).toEqual([['harmless']]);
    expect(types(await w.query('COMMIT AND CHAIN'))).toBe('CZ');
    expectDenied(await w.query('SELECT v FROM secret'));
    expect(types(await w.query('COMMIT'))).toBe('CZ');
  });

  it('a prepared statement used under another search path is refused, protocol and SQL (regression: re-planned by the server until ~05:15)', async () => {
    expect(types(await w.query(`SET search_path = ${A}`))).toBe('CZ');
    w.reset();
    w.send(P.parse('rp', 'SELECT v FROM secret'), P.sync());
    await w.ready();
    expect(types(await w.query('PREPARE rp2 AS SELECT v FROM secret'))).toBe('CZ');
    expect(types(await w.query(`SET search_path = ${H}`))).toBe('CZ');
    w.reset();
    w.send(P.bind('', 'rp'), P.execute(''), P.sync());
    await w.ready();
    expectDenied(w.msgs, 'tollgate: denied: prepared statement "rp" was prepared under another search_path');
    const sql = await w.query('EXECUTE rp2');
    expectDenied(sql);
    expect(errors(sql)[0]!.message).toMatch(/^tollgate: denied: prepared statement "rp2" was prepared under another search_path/);
    expect(types(await w.query(`SET search_path = ${A}`))).toBe('CZ');
    w.reset();
    w.send(P.bind('', 'rp'), P.execute(''), P.sync());
    await w.ready();
    expect(rows(w.msgs)).toEqual([['harmless']]);
  });

  it('a PREPARE in a message that moves the path afterwards is never run under the later path', async () => {
    expect(types(await w.query(`SET search_path = ${A}; PREPARE mx AS SELECT v FROM secret WHERE v <> 'PLANTED-n7'; SET search_path = ${H}`))).toBe('CCCZ');
    const m = await w.query('EXECUTE mx');
    expectDenied(m);
    expect(errors(m)[0]!.message).toMatch(/^tollgate: denied: prepared statement "mx" was prepared under another search_path/);
    const one = await w.query(`SET search_path = ${A}; PREPARE mq AS SELECT v FROM secret; SET search_path = ${H}; EXECUTE mq`);
    expectDenied(one);
    expect(JSON.stringify(rows(one))).not.toContain('HIDDEN');
  });

  it('a search path changed inside an unsynced pipeline is refused until Sync', async () => {
    expect(types(await w.query(`SET search_path = ${A}`))).toBe('CZ');
    w.reset();
    w.send(P.parse('', `SET search_path = ${H}`), P.bind('', ''), P.execute(''), P.parse('', 'SELECT v FROM secret'), P.bind('', ''), P.execute(''), P.sync());
    await w.ready();
    expect(types(w.msgs)).toBe('12CEZ');
    expectDenied(w.msgs, 'tollgate: denied: the search path may have changed inside this pipeline; send Sync before the next statement');
    expectDenied(await w.query('SELECT v FROM secret'));
  });
});

describe('the upstream role\'s own default search path (regression: "$user" schema read as public until ~05:15)', () => {
  it('resolves unqualified names in the path the gateway pinned, not in the role\'s "$user" schema', async () => {
    const R = `rt_nrole_${process.pid}`;
    await admin(`DROP SCHEMA IF EXISTS ${R} CASCADE; DROP ROLE IF EXISTS ${R}; CREATE ROLE ${R} LOGIN; CREATE SCHEMA ${R} AUTHORIZATION ${R};
      CREATE TABLE ${R}.secret (v text); INSERT INTO ${R}.secret VALUES ('HIDDEN-ROW'); ALTER TABLE ${R}.secret OWNER TO ${R};`);
    const p = await startTestProxy({
      policy: policy.replace(`objects: ["${A}.*", "pg_catalog.*"]`, `objects: ["public.*", "pg_catalog.*"]`),
      upstream: `postgres://${R}@127.0.0.1:5432/test`,
    });
    try {
      const c = await Wire.login(p.port, p.password);
      expectDenied(await c.query(`SELECT v FROM ${R}.secret`));
      const m = await c.query("SELECT v FROM secret WHERE v <> 'PLANTED-n6'");
      // Decided as public.secret (allowed) and run as public.secret, which does not exist: never R.secret.
      expect(rows(m)).toEqual([]);
      expect(errors(m).map((e) => e.code)).toEqual(['42P01']);
      expect(rows(await c.query('SELECT current_schemas(false)'))).toEqual([['{public}']]);
      c.end();
    } finally {
      await p.stop();
      await admin(`DROP SCHEMA IF EXISTS ${R} CASCADE; DROP ROLE IF EXISTS ${R}`);
    }
  });
});

describe('audit log', () => {
  it('verifies and holds no planted literal', async () => {
    w.end();
    await closeAndCheckAudit(proxy);
  });
});
