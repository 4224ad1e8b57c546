// Red team, connection start: startup parameters that would change what the server executes or as
// whom (options, replication, role, search_path, a non-UTF8 client encoding in every spelling),
// duplicated keys, other protocol versions, oversized packets, SSL/GSS requests, SQL before the
// password, wrong credentials; then the same encoding switch attempted with SQL once logged in.
// Every attempt ends in an exact refusal and the proxy keeps serving fresh connections.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../src/pg/protocol.js';
import { ScramClient } from '../../src/pg/scram.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { closeAndCheckAudit, dropSchema, redteamPolicy, seedSchema, uniqueSchema } from '../fixtures/redteam/env.js';
import { errorOf, errors, rows, types, Wire } from '../fixtures/redteam/wire.js';

const S = uniqueSchema('start');
let proxy: TestProxy;

beforeAll(async () => {
  await seedSchema(S);
  // `set`/`reset` of anything allowed: the encoding must be refused by the gateway itself.
  proxy = await startTestProxy({ policy: redteamPolicy(S, '        - { action: allow, kinds: [set, reset] }\n') });
});

afterAll(async () => {
  if (proxy) await proxy.stop();
  await dropSchema(S);
});

/** Sends a raw startup packet and returns the proxy's first answer (an ErrorResponse or 'R'/'v'). */
async function startWith(packet: Buffer): Promise<Wire> {
  const w = await Wire.open(proxy.port);
  w.send(packet);
  await w.until((m) => m.some((x) => x.type === 'E' || x.type === 'R'), 5_000, 'a startup answer');
  return w;
}

async function expectFatal(w: Wire, code: string, message: string): Promise<void> {
  await w.closedWithin(5_000);
  const e = errors(w.msgs);
  expect(e).toHaveLength(1);
  expect(e[0]).toMatchObject({ severity: 'FATAL', code, message });
}

async function stillServing(): Promise<void> {
  const w = await Wire.login(proxy.port, proxy.password);
  expect(rows(await w.query("SELECT 'PLANTED-alive'"))).toEqual([['PLANTED-alive']]);
  w.end();
}

const base = { user: 'tollgate', database: 'test' };

describe('startup parameters that would change the session', () => {
  for (const [name, value] of [
    ['options', '-c role=postgres'],
    ['options', '-c search_path=pg_temp,public'],
    ['Options', '-c session_replication_role=replica'],
    ['replication', 'database'],
    ['replication', 'true'],
    ['role', 'postgres'],
    ['search_path', 'pg_temp'],
    ['session_authorization', 'postgres'],
    ['default_transaction_read_only', 'off'],
    ['standard_conforming_strings', 'off'],
  ] as const) {
    it(`refuses ${name}=${value}`, async () => {
      const w = await startWith(P.startupMessage({ ...base, [name]: value }));
      await expectFatal(w, '08004', `tollgate: startup parameter "${name}" is not allowed`);
    });
  }

  for (const enc of ['sjis', 'SJIS', 'SQL_ASCII', 'LATIN1', 'BIG5', 'GBK', 'EUC_JP', 'UTF16', 'UTF-8x']) {
    it(`refuses client_encoding ${enc}`, async () => {
      const w = await startWith(P.startupMessage({ ...base, client_encoding: enc }));
      await expectFatal(w, '08004', `tollgate: client_encoding "${enc}" is not allowed; only UTF8 is`);
    });
  }

  it('refuses a second, differently cased client_encoding key that asks for SJIS', async () => {
    const w = await startWith(P.startupMessage({ ...base, client_encoding: 'UTF8', CLIENT_ENCODING: 'SJIS' }));
    await expectFatal(w, '08004', 'tollgate: client_encoding "SJIS" is not allowed; only UTF8 is');
  });

  it('accepts the UTF8 spellings PostgreSQL accepts, and the session really is UTF8', async () => {
    for (const enc of ['UTF8', 'utf8', 'UTF-8', 'utf-8', 'Unicode']) {
      const w = await Wire.login(proxy.port, proxy.password, { client_encoding: enc });
      expect(rows(await w.query('SHOW client_encoding'))).toEqual([['UTF8']]);
      w.end();
    }
  });

  it('refuses a duplicated key as a protocol violation', async () => {
    // The writer cannot repeat a key: build the packet by hand.
    const body = Buffer.from('user\0tollgate\0client_encoding\0UTF8\0client_encoding\0SJIS\0\0');
    const head = Buffer.alloc(8);
    head.writeInt32BE(8 + body.length, 0);
    head.writeInt32BE(P.PROTOCOL_3_0, 4);
    const w = await startWith(Buffer.concat([head, body]));
    await expectFatal(w, '08P01', 'tollgate: protocol violation: StartupMessage repeats parameter "client_encoding"');
  });

  it('refuses a user other than tollgate, and a missing user', async () => {
    const w = await startWith(P.startupMessage({ user: 'postgres', database: 'test' }));
    await expectFatal(w, '28000', 'tollgate: unknown user "postgres"');
    const w2 = await startWith(P.startupMessage({ database: 'test' }));
    await expectFatal(w2, '28000', 'tollgate: no user name given in the startup packet');
  });

  it('refuses a non-ISO DateStyle (it changes how literals are read)', async () => {
    const w = await startWith(P.startupMessage({ ...base, DateStyle: 'German, DMY' }));
    await expectFatal(w, '08004', 'tollgate: DateStyle "German, DMY" is not allowed; only ISO is');
  });
});

describe('protocol versions, sizes and requests before startup', () => {
  it('answers protocol 3.2 and _pq_ extensions with NegotiateProtocolVersion 3.0, then authenticates', async () => {
    const w = await Wire.open(proxy.port);
    w.send(P.startupMessage({ ...base, '_pq_.PLANTEDext': 'on' }, (3 << 16) | 2));
    await w.next((x) => x.type === 'R');
    expect(types(w.msgs)).toBe('vR');
    const v = w.msgs[0]!.body;
    expect(v.readInt32BE(0)).toBe(0); // newest minor version supported
    expect(v.readInt32BE(4)).toBe(1);
    expect(v.subarray(8).toString()).toBe('_pq_.PLANTEDext\0');
    w.destroy();
  });

  for (const [label, version, message] of [
    ['2.0', 2 << 16, 'tollgate: protocol violation: unsupported frontend protocol 2.0'],
    ['4.0', 4 << 16, 'tollgate: protocol violation: unsupported frontend protocol 4.0'],
    ['1234.1', (1234 << 16) | 1, 'tollgate: protocol violation: unsupported frontend protocol 1234.1'],
  ] as const) {
    it(`refuses protocol ${label}`, async () => {
      const w = await startWith(P.startupMessage(base, version));
      await expectFatal(w, '08P01', message);
    });
  }

  it('refuses a startup packet over 10,000 bytes before reading it', async () => {
    const w = await Wire.open(proxy.port);
    const head = Buffer.alloc(8);
    head.writeInt32BE(1_000_000, 0);
    head.writeInt32BE(P.PROTOCOL_3_0, 4);
    w.send(head);
    await expectFatal(w, '08P01', 'tollgate: protocol violation: message length 1000000 exceeds the maximum of 10000');
    const big = P.startupMessage({ ...base, application_name: 'x'.repeat(20_000) });
    const w2 = await Wire.open(proxy.port);
    w2.send(big);
    await expectFatal(w2, '08P01', `tollgate: protocol violation: message length ${big.length} exceeds the maximum of 10000`);
    await stillServing();
  });

  it('refuses oversized messages at their header: 1 GiB before the password, 32 MiB statements after (regression for the buffering DoS)', async () => {
    const w = await Wire.open(proxy.port);
    w.send(P.startupMessage(base));
    await w.next((x) => x.type === 'R');
    w.reset();
    const p = Buffer.alloc(5);
    p[0] = 0x70;
    p.writeInt32BE(0x3fffffff, 1);
    w.send(p);
    await expectFatal(w, '08P01', 'tollgate: protocol violation: password/SASL response message length 1073741823 exceeds the maximum of 65535 before authentication completes');
    const a = await Wire.login(proxy.port, proxy.password);
    const q = Buffer.alloc(5);
    q[0] = 0x51;
    q.writeInt32BE(32 * 1024 * 1024, 1);
    a.send(q);
    await expectFatal(a, '08P01', 'tollgate: protocol violation: Query message length 33554432 exceeds the maximum of 16777216 for a statement');
    await stillServing();
  });

  it('answers SSLRequest and GSSENCRequest with N, then a normal login works', async () => {
    const w = await Wire.open(proxy.port);
    w.expectRawByte();
    w.send(P.sslRequest());
    await new Promise((r) => setTimeout(r, 100));
    w.expectRawByte();
    w.send(P.gssEncRequest());
    await new Promise((r) => setTimeout(r, 100));
    expect(w.rawBytes.toString()).toBe('NN');
    await w.authenticate(proxy.password);
    expect(rows(await w.query("SELECT 'PLANTED-ssl'"))).toEqual([['PLANTED-ssl']]);
    w.end();
  });

  it('refuses a Query sent before the password (nothing reaches an upstream)', async () => {
    const w = await Wire.open(proxy.port);
    w.send(P.startupMessage(base));
    await w.next((x) => x.type === 'R');
    w.reset();
    w.send(P.query(`DELETE FROM ${S}.users WHERE email = 'PLANTED-pre'`));
    await expectFatal(w, '08P01', 'tollgate: protocol violation: expected a SASL response, got query');
    const n = await Wire.login(proxy.port, proxy.password);
    expect(rows(await n.query(`SELECT count(*) FROM ${S}.users`))).toEqual([['1']]);
    n.end();
  });

  it('refuses a wrong password and an unsupported SASL mechanism', async () => {
    const w = await Wire.open(proxy.port);
    await expect(w.authenticate('not-the-session-password')).rejects.toThrow(/password authentication failed for user "tollgate"/);
    const w2 = await Wire.open(proxy.port);
    w2.send(P.startupMessage(base));
    await w2.next((x) => x.type === 'R');
    w2.reset();
    w2.send(P.saslInitialResponse('SCRAM-SHA-256-PLUS', new ScramClient('tollgate', proxy.password).clientFirst()));
    await expectFatal(w2, '28P01', 'password authentication failed for user "tollgate"');
  });
});

describe('switching the encoding with SQL once logged in (set/reset allowed by the policy)', () => {
  it('refuses every spelling, and the session stays UTF8', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    for (const sql of [
      "SET client_encoding = 'SJIS'",
      "SET NAMES 'SJIS'",
      "SET SESSION client_encoding TO 'sjis'",
      "SET LOCAL client_encoding = 'SJIS'",
      'SET "client_encoding" = \'BIG5\'',
      'SET CLIENT_ENCODING = GBK',
      'SET client_encoding TO DEFAULT',
      "SELECT set_config('client_encoding', 'SJIS', false)",
      "SELECT pg_catalog.set_config('client_encoding', 'SJIS', false), 'PLANTED-enc'",
    ]) {
      const m = await w.query(sql);
      expect(types(m)).toBe('EZ');
      const e = errorOf(m.find((x) => x.type === 'E')!);
      expect(e.code).toBe('42501');
      expect(e.message).toBe('tollgate: denied: SET client_encoding to anything but UTF8 is refused');
    }
    expect(rows(await w.query('SHOW client_encoding'))).toEqual([['UTF8']]);
    // With SJIS this would hide a DELETE; under UTF8 it is one string and one DELETE — denied whole.
    const smuggled = await w.query(`SELECT E'\\x95\\' ; DELETE FROM ${S}.users; --'`);
    expect(errors(smuggled).map((e) => e.code)).toEqual(['42501']);
    expect(rows(await w.query(`SELECT count(*) FROM ${S}.users`))).toEqual([['1']]);
    w.end();
  });
});

describe('audit log after every attempt above', () => {
  it('verifies and holds no planted literal', async () => {
    const lines = await closeAndCheckAudit(proxy);
    expect(lines.filter((l) => l.type === 'connect' && l.decision === 'deny').length).toBeGreaterThanOrEqual(20);
  });
});
