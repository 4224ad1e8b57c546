// The search path through the live proxy: the proxy pins it at startup (F15), follows every
// statement that may move it (F10: ROLLBACK TO, DISCARD ALL, RESET ALL, TO DEFAULT, AND CHAIN) and
// refuses prepared statements used under another path than they were decided under (F14).
// Schema A holds a harmless `secret`, schema H (and the role's own schema) a hidden one the policy
// never allows.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../src/pg/protocol.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { Wire, errors, rows } from '../fixtures/redteam/wire.js';
import { admin } from '../fixtures/redteam/env.js';

const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
const A = `tg_sp_a_${tag}`;
const H = `tg_sp_h_${tag}`;
const R = `tg_sp_role_${tag}`;

const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["${A}.*", "pg_catalog.*"] }
        - { action: allow, kinds: [set, reset], objects: ["search_path", "all"] }
        - { action: allow, kinds: [prepare, execute, deallocate] }
        - { action: deny, kinds: [any] }
`;

// Only public and the catalog are readable: what a read-only policy grants.
const readonlyPolicy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["public.*", "pg_catalog.*"] }
        - { action: allow, kinds: [reset], objects: ["search_path", "all"] }
        - { action: deny, kinds: [any] }
`;

let proxy: TestProxy;
let roleProxy: TestProxy;

beforeAll(async () => {
  await admin(`
    CREATE SCHEMA ${A}; CREATE SCHEMA ${H};
    CREATE TABLE ${A}.secret (v text); INSERT INTO ${A}.secret VALUES ('harmless');
    CREATE TABLE ${H}.secret (v text); INSERT INTO ${H}.secret VALUES ('HIDDEN-ROW');
    CREATE ROLE ${R} LOGIN; CREATE SCHEMA ${R} AUTHORIZATION ${R};
    CREATE TABLE ${R}.secret (v text); INSERT INTO ${R}.secret VALUES ('HIDDEN-ROW'); ALTER TABLE ${R}.secret OWNER TO ${R};
    CREATE TABLE ${H}.role_default (v text); INSERT INTO ${H}.role_default VALUES ('HIDDEN-ROW');
    GRANT USAGE ON SCHEMA ${H} TO ${R}; GRANT SELECT ON ${H}.role_default TO ${R};
    ALTER ROLE ${R} SET search_path = ${H}, public;
  `);
  proxy = await startTestProxy({ policy });
  roleProxy = await startTestProxy({ policy: readonlyPolicy, upstream: `postgres://${R}@127.0.0.1:5432/test` });
});

afterAll(async () => {
  await proxy?.stop();
  await roleProxy?.stop();
  await admin(`DROP SCHEMA IF EXISTS ${A} CASCADE; DROP SCHEMA IF EXISTS ${H} CASCADE; DROP SCHEMA IF EXISTS ${R} CASCADE; DROP ROLE IF EXISTS ${R}`);
});

function denied(msgs: Awaited<ReturnType<Wire['query']>>): void {
  const e = errors(msgs);
  expect(e).toHaveLength(1);
  expect(e[0]!.code).toBe('42501');
  expect(e[0]!.message).toMatch(/^tollgate: denied/);
  expect(rows(msgs)).toEqual([]);
}

async function login(p: TestProxy): Promise<Wire> {
  return Wire.login(p.port, p.password);
}

describe('F15: the upstream session runs with the path the proxy decides under', () => {
  it('"$user" and ALTER ROLE … SET search_path do not apply: unqualified names are public ones', async () => {
    const w = await login(roleProxy);
    try {
      denied(await w.query(`SELECT v FROM ${R}.secret`));
      // Decided as public.secret; the server must resolve it there too (no such table), not in R or H.
      const e = errors(await w.query('SELECT v FROM secret'));
      expect(e.map((x) => x.code)).toEqual(['42P01']);
      expect(rows(await w.query('SELECT v FROM role_default'))).toEqual([]);
      expect(rows(await w.query('SHOW search_path'))).toEqual([['"public"']]);
      // RESET goes back to the startup value, not to the role default.
      expect(errors(await w.query('RESET search_path'))).toEqual([]);
      expect(rows(await w.query('SHOW search_path'))).toEqual([['"public"']]);
      expect(errors(await w.query('DISCARD ALL'))).toEqual([]);
      expect(rows(await w.query('SELECT pg_catalog.current_schemas(false)'))).toEqual([['{public}']]);
      expect(errors(await w.query('SELECT v FROM role_default')).map((x) => x.code)).toEqual(['42P01']);
    } finally {
      w.end();
    }
  });
});

describe('F10: statements that move the search path behind the proxy', () => {
  it('ROLLBACK TO SAVEPOINT: the path is read again, the hidden table stays denied', async () => {
    const w = await login(proxy);
    try {
      expect(errors(await w.query(`SET search_path = ${H}`))).toEqual([]);
      denied(await w.query('SELECT v FROM secret'));
      await w.query('BEGIN');
      await w.query('SAVEPOINT a');
      await w.query(`SET search_path = ${A}`);
      expect(rows(await w.query('SELECT v FROM secret'))).toEqual([['harmless']]);
      expect(errors(await w.query('ROLLBACK TO SAVEPOINT a'))).toEqual([]);
      denied(await w.query('SELECT v FROM secret'));
      await w.query('COMMIT');
      denied(await w.query('SELECT v FROM secret'));
    } finally {
      w.end();
    }
  });

  it('COMMIT AND CHAIN after SET LOCAL', async () => {
    const w = await login(proxy);
    try {
      await w.query(`SET search_path = ${H}`);
      await w.query('BEGIN');
      await w.query(`SET LOCAL search_path = ${A}`);
      expect(rows(await w.query('SELECT v FROM secret'))).toEqual([['harmless']]);
      expect(errors(await w.query('COMMIT AND CHAIN'))).toEqual([]);
      denied(await w.query('SELECT v FROM secret'));
      await w.query('ROLLBACK');
    } finally {
      w.end();
    }
  });

  it('DISCARD ALL and RESET ALL go back to the pinned path (public), in separate and in one message', async () => {
    const w = await login(proxy);
    try {
      await w.query(`SET search_path = ${A}`);
      expect(rows(await w.query('SELECT v FROM secret'))).toEqual([['harmless']]);
      await w.query('DISCARD ALL');
      // public.secret does not exist: decided under public, denied (public.* is not allowed).
      denied(await w.query('SELECT v FROM secret'));
      await w.query(`SET search_path = ${A}`);
      await w.query('RESET ALL');
      denied(await w.query('SELECT v FROM secret'));
      await w.query(`SET search_path = ${A}`);
      denied(await w.query('SET search_path TO DEFAULT; SELECT v FROM secret'));
      await w.query(`SET search_path = ${A}`);
      denied(await w.query('RESET ALL; SELECT v FROM secret'));
      denied(await w.query(`SET search_path = ${A}; DISCARD ALL; SELECT v FROM secret`));
      // A SAVEPOINT rollback inside one message brings back a path of an earlier message.
      await w.query(`SET search_path = ${H}`);
      await w.query('BEGIN; SAVEPOINT s');
      await w.query(`SET search_path = ${A}`);
      denied(await w.query('ROLLBACK TO SAVEPOINT s; SELECT v FROM secret'));
      await w.query('ROLLBACK');
    } finally {
      w.end();
    }
  });
});

describe('F10: a path set in the middle of a message and restored later', () => {
  it('ROLLBACK TO a savepoint taken between two SETs of one message brings back a path never read back', async () => {
    // public is readable here, so only H (never read back from the server) can deny.
    const p = await startTestProxy({ policy: policy.replace(`objects: ["${A}.*", "pg_catalog.*"]`, `objects: ["${A}.*", "public.*", "pg_catalog.*"]`) });
    const w = await login(p);
    try {
      await w.query('BEGIN');
      expect(errors(await w.query(`SET search_path = ${H}; SAVEPOINT b; SET search_path = ${A}`))).toEqual([]);
      expect(rows(await w.query('SELECT v FROM secret'))).toEqual([['harmless']]);
      denied(await w.query('ROLLBACK TO SAVEPOINT b; SELECT v FROM secret'));
      expect(rows(await w.query('SELECT pg_catalog.current_schemas(false)'))).toEqual([[`{${A}}`]]); // the denied message never ran
      await w.query('ROLLBACK TO SAVEPOINT b');
      denied(await w.query('SELECT v FROM secret'));
      await w.query('ROLLBACK');
    } finally {
      w.end();
      await p.stop();
    }
  });
});

describe('F14: prepared statements under a later search path', () => {
  it('protocol Parse: Bind after the path changed is refused', async () => {
    const w = await login(proxy);
    try {
      await w.query(`SET search_path = ${A}`);
      w.reset();
      w.send(P.parse('s', 'SELECT v FROM secret'), P.bind('', 's'), P.execute(''), P.sync());
      expect(rows(await w.ready())).toEqual([['harmless']]);
      await w.query(`SET search_path = ${H}`);
      w.reset();
      w.send(P.bind('', 's'), P.execute(''), P.sync());
      const msgs = await w.ready();
      const e = errors(msgs);
      expect(e.map((x) => x.code)).toEqual(['42501']);
      expect(e[0]!.message).toBe('tollgate: denied: prepared statement "s" was prepared under another search_path');
      expect(e[0]!.detail).toMatch(/re-plans a prepared statement under the current search_path/);
      expect(rows(msgs)).toEqual([]);
      // Back under A it runs again; a fresh Parse under H is decided (and denied) as H.secret.
      await w.query(`SET search_path = ${A}`);
      w.reset();
      w.send(P.bind('', 's'), P.execute(''), P.sync());
      expect(rows(await w.ready())).toEqual([['harmless']]);
      await w.query(`SET search_path = ${H}`);
      w.reset();
      w.send(P.parse('s2', 'SELECT v FROM secret'), P.bind('', 's2'), P.execute(''), P.sync());
      const m2 = await w.ready();
      expect(errors(m2).map((x) => x.code)).toEqual(['42501']);
      expect(rows(m2)).toEqual([]);
    } finally {
      w.end();
    }
  });

  it('SQL PREPARE: EXECUTE after the path changed is refused', async () => {
    const w = await login(proxy);
    try {
      await w.query(`SET search_path = ${A}`);
      expect(errors(await w.query('PREPARE p AS SELECT v FROM secret'))).toEqual([]);
      expect(rows(await w.query('EXECUTE p'))).toEqual([['harmless']]);
      await w.query(`SET search_path = ${H}`);
      const msgs = await w.query('EXECUTE p');
      denied(msgs);
      expect(errors(msgs)[0]!.message).toMatch(/^tollgate: denied: prepared statement "p" was prepared under another search_path/);
      // Defined after a path change in the same message: the path is not certain, EXECUTE refused.
      await w.query(`SET search_path = ${A}`);
      await w.query(`SET search_path = ${H}; PREPARE q AS SELECT 1`);
      denied(await w.query('EXECUTE q'));
      expect(rows(await w.query('EXECUTE p'))).toEqual([]); // path is H: still refused
    } finally {
      w.end();
    }
  });
});
