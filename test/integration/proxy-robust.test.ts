// Malformed and truncated frames, absurd lengths, protocol misuse, clients that vanish mid-query, an
// upstream backend that dies: the offending connection gets an error or is closed, every other
// connection keeps working, and the audit log stays intact.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditFile } from '../../src/audit/verify.js';
import * as P from '../../src/pg/protocol.js';
import { RawClient, admin, startTestProxy, TEST_UPSTREAM, type TestProxy } from '../support/proxy.js';

const S = `tg_proxy_rob_${process.pid}`;
const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["${S}.*", "pg_catalog.*"] }
        - { action: allow, kinds: [call], objects: ["pg_catalog.pg_sleep"] }
        - { action: allow, kinds: [prepare, deallocate] }
        - { action: deny, kinds: [any] }
`;

let proxy: TestProxy;
let healthy: pg.Client;

async function stillServing(): Promise<void> {
  expect((await healthy.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  const fresh = new pg.Client(proxy.pg);
  await fresh.connect();
  expect((await fresh.query('SELECT 2 AS ok')).rows).toEqual([{ ok: 2 }]);
  await fresh.end();
}

function fatalOf(c: RawClient): { code?: string; message?: string } {
  const e = c.errors().find((x) => x.get('S') === 'FATAL');
  return { code: e?.get('C'), message: e?.get('M') };
}

beforeAll(async () => {
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE; CREATE SCHEMA ${S}; CREATE TABLE ${S}.t AS SELECT g AS id FROM generate_series(1, 100000) g;`);
  proxy = await startTestProxy({ policy });
  healthy = new pg.Client(proxy.pg);
  await healthy.connect();
});

afterAll(async () => {
  await healthy?.end().catch(() => {});
  await proxy?.stop();
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE`);
});

describe('before authentication', () => {
  it('answers SSLRequest and GSSENCRequest with N, then takes the StartupMessage', async () => {
    const c = await RawClient.open(proxy.port);
    const got: Buffer[] = [];
    c.socket.on('data', (d: Buffer) => got.push(d));
    c.send(P.sslRequest());
    await new Promise((r) => setTimeout(r, 100));
    c.send(P.gssEncRequest());
    await new Promise((r) => setTimeout(r, 100));
    expect(Buffer.concat(got).toString()).toBe('NN');
    c.destroy();
  });

  it('refuses an absurd startup length with a FATAL protocol violation, before reading it', async () => {
    const c = await RawClient.open(proxy.port);
    c.send(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]));
    expect(await c.waitClosed()).toBe(true);
    expect(fatalOf(c)).toEqual({ code: '08P01', message: 'tollgate: protocol violation: message length 2147483647 exceeds the maximum of 10000' });
    await stillServing();
  });

  it('refuses an unsupported protocol version and a wrong user', async () => {
    const c = await RawClient.open(proxy.port);
    c.send(P.startupMessage({ user: 'tollgate' }, 2 << 16));
    expect(await c.waitClosed()).toBe(true);
    expect(fatalOf(c).code).toBe('08P01');
    const d = await RawClient.open(proxy.port);
    d.send(P.startupMessage({ user: 'postgres', database: 'test' }));
    expect(await d.waitClosed()).toBe(true);
    expect(fatalOf(d)).toEqual({ code: '28000', message: 'tollgate: unknown user "postgres"' });
  });

  it('negotiates protocol 3.0 with a client asking for 3.2 and protocol options', async () => {
    const c = await RawClient.open(proxy.port);
    c.send(P.startupMessage({ user: 'tollgate', database: 'test', '_pq_.something': 'on' }, (3 << 16) | 2));
    const v = await c.next(P.B.NegotiateProtocolVersion);
    expect(v.body.readInt32BE(0)).toBe(0); // newest minor version supported
    expect(v.body.readInt32BE(4)).toBe(1);
    expect(v.body.subarray(8).toString()).toBe('_pq_.something\0');
    const auth = await c.next(P.B.Authentication);
    expect(auth.body.readInt32BE(0)).toBe(10); // SASL
    c.destroy();
  });

  it('closes a connection that sends a query before authenticating', async () => {
    const c = await RawClient.open(proxy.port);
    c.send(P.startupMessage({ user: 'tollgate', database: 'test' }));
    await c.next(P.B.Authentication);
    c.send(P.query('SELECT 1'));
    expect(await c.waitClosed()).toBe(true);
    expect(fatalOf(c).code).toBe('08P01');
  });

  it('survives a truncated startup packet and a client that leaves mid-handshake', async () => {
    const c = await RawClient.open(proxy.port);
    c.send(P.startupMessage({ user: 'tollgate', database: 'test' }).subarray(0, 9));
    c.destroy();
    const d = await RawClient.open(proxy.port);
    d.send(P.startupMessage({ user: 'tollgate', database: 'test' }));
    await d.next(P.B.Authentication);
    d.destroy();
    await stillServing();
  });

  it('ignores a CancelRequest with an unknown key', async () => {
    const c = await RawClient.open(proxy.port);
    c.send(P.cancelRequest(12345, Buffer.from([1, 2, 3, 4])));
    expect(await c.waitClosed()).toBe(true);
    expect(c.frames).toEqual([]);
    await stillServing();
  });
});

describe('after authentication', () => {
  it('closes with 08P01 on an absurd message length, an unknown type and a bad body', async () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xff]), /exceeds the maximum of 1073741823/],
      [Buffer.from([0x51, 0, 0, 0, 2]), /below the minimum of 4/],
      [Buffer.from([0x7a, 0, 0, 0, 4]), /unknown frontend message type 0x7a/],
      [Buffer.from([0x51, 0, 0, 0, 6, 0x41, 0x42]), /Query: unterminated string/],
      [Buffer.from([0x42, 0, 0, 0, 8, 0, 0, 0xff, 0xff]), /Bind: negative format count/],
      [P.passwordMessage(Buffer.from('late')), /unexpected password message after startup/],
    ];
    for (const [bytes, re] of cases) {
      const c = await RawClient.session(proxy.port, proxy.password);
      c.send(bytes);
      expect(await c.waitClosed()).toBe(true);
      const f = fatalOf(c);
      expect(f.code).toBe('08P01');
      expect(f.message).toMatch(re);
    }
    await stillServing();
  });

  it('denies the function-call message and stays usable', async () => {
    const c = await RawClient.session(proxy.port, proxy.password);
    c.send(Buffer.from([0x46, 0, 0, 0, 14, 0, 0, 0x04, 0x81, 0, 0, 0, 0, 0, 0]));
    const e = await c.next(P.B.ErrorResponse);
    expect(P.decodeErrorFields(e.body).get('C')).toBe('42501');
    await c.next(P.B.ReadyForQuery);
    c.send(P.query('SELECT 1'));
    await c.next(P.B.CommandComplete);
    c.destroy();
  });

  it('refuses Bind/Execute/Describe of statements and portals it never saw parsed', async () => {
    const c = await RawClient.session(proxy.port, proxy.password);
    c.send(P.query('PREPARE sneaky AS SELECT 1'));
    await c.next(P.B.ReadyForQuery);
    c.send(Buffer.concat([P.bind('', 'sneaky'), P.execute(''), P.sync()]));
    const e = await c.next(P.B.ErrorResponse);
    expect(P.decodeErrorFields(e.body).get('M')).toMatch(/^tollgate: denied: prepared statement "sneaky" was not prepared through the extended protocol/);
    const z = await c.next(P.B.ReadyForQuery);
    expect(P.decodeReadyForQuery(z.body)).toBe('I');
    c.destroy();
  });

  it('keeps the transaction status right when a Parse is denied inside a transaction', async () => {
    const c = await RawClient.session(proxy.port, proxy.password);
    c.send(P.query('BEGIN'));
    await c.next(P.B.ReadyForQuery);
    c.send(Buffer.concat([P.parse('', 'DROP TABLE x'), P.bind('', ''), P.execute(''), P.sync()]));
    await c.next(P.B.ErrorResponse);
    const z = await c.next(P.B.ReadyForQuery);
    expect(P.decodeReadyForQuery(z.body)).toBe('T');
    c.send(P.query('ROLLBACK'));
    const z2 = await c.next(P.B.ReadyForQuery);
    expect(P.decodeReadyForQuery(z2.body)).toBe('I');
    c.destroy();
  });

  it('passes upstream errors through and the extended batch recovers at Sync', async () => {
    const c = await RawClient.session(proxy.port, proxy.password);
    c.send(Buffer.concat([P.parse('', 'SELECT 1/0'), P.bind('', ''), P.execute(''), P.parse('', 'SELECT 1'), P.sync(), P.query('SELECT 3')]));
    const e = await c.next(P.B.ErrorResponse);
    expect(P.decodeErrorFields(e.body).get('C')).toBe('22012');
    await c.next(P.B.ReadyForQuery);
    const row = await c.next(P.B.DataRow);
    expect(P.decodeDataRow(row.body).map(String)).toEqual(['3']);
    c.destroy();
  });

  it('cancels the upstream work of a client that vanishes mid-query', async () => {
    const c = new pg.Client({ ...proxy.pg, application_name: `tg_vanish_${process.pid}` });
    await c.connect();
    c.on('error', () => {});
    void c.query('SELECT pg_sleep(30)').catch(() => {});
    const active = async () =>
      (await admin(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'tg_vanish_${process.pid}' AND state = 'active'`)).rows[0].n;
    await new Promise((r) => setTimeout(r, 300));
    expect(await active()).toBe(1);
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    const deadline = Date.now() + 5_000;
    while ((await active()) !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await active()).toBe(0);
    await stillServing();
  });

  it('gives the client an error when its upstream backend is terminated, and serves others', async () => {
    const c = new pg.Client({ ...proxy.pg, application_name: `tg_kill_${process.pid}` });
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tg_kill_${process.pid}'`);
    await expect(c.query('SELECT 1')).rejects.toThrow();
    await stillServing();
  });

  it('streams a large result to a slow reader without buffering it all', async () => {
    setFlagsFromString('--expose_gc');
    const gc = runInNewContext('gc') as () => void;
    const live = () => {
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const c = await RawClient.session(proxy.port, proxy.password);
    c.discardRows = true;
    const before = live();
    c.socket.pause();
    // ~110 MB of rows: far more than the socket buffers hold.
    c.send(P.query(`SELECT id, repeat('x', 200) FROM ${S}.t, generate_series(1, 5) g`));
    await new Promise((r) => setTimeout(r, 1500));
    // The proxy stopped reading upstream once the client stopped reading: little is held in memory.
    const held = live() - before;
    expect(c.rowsSeen).toBe(0);
    c.socket.resume();
    const done = await c.next(P.B.CommandComplete, 60_000);
    expect(P.decodeCommandComplete(done.body)).toBe('SELECT 500000');
    expect(c.rowsSeen).toBe(500000);
    expect(held).toBeLessThan(8 * 1024 * 1024);
    c.destroy();
  });

  it('keeps the audit log a valid chain', async () => {
    await new Promise((r) => setTimeout(r, 300));
    const v = await verifyAuditFile(proxy.auditPath);
    expect(v).toMatchObject({ ok: true });
    expect((await proxy.audit()).some((l) => l.type === 'sql' && l.decision === 'deny' && (l.reason ?? '').includes('function-call'))).toBe(true);
  });
});

describe('names shared by SQL and the protocol', () => {
  it('forgets a protocol statement once SQL PREPARE redefines its name', async () => {
    const c = await RawClient.session(proxy.port, proxy.password);
    c.send(Buffer.concat([P.parse('shared', 'SELECT 1 AS one'), P.sync()]));
    await c.next(P.B.ReadyForQuery);
    c.send(P.query('DEALLOCATE shared'));
    await c.next(P.B.ReadyForQuery);
    c.send(P.query('PREPARE shared AS SELECT 2 AS two'));
    await c.next(P.B.ReadyForQuery);
    c.send(Buffer.concat([P.bind('', 'shared'), P.execute(''), P.sync()]));
    const e = await c.next(P.B.ErrorResponse);
    expect(P.decodeErrorFields(e.body).get('M')).toMatch(/prepared statement "shared" was not prepared through the extended protocol/);
    c.destroy();
  });
});
