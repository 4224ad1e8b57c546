// Limits that keep one client from hurting the others (red-team findings F8 and F16): message
// lengths checked per type and phase at the header, an authentication deadline, a cap on concurrent
// clients. Every refusal is a FATAL ErrorResponse with an exact SQLSTATE and text.

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyConfig } from '../../src/daemon/config.js';
import * as P from '../../src/pg/protocol.js';
import { startProxy, type RunningProxy } from '../../src/daemon/server.js';
import { RawClient, TEST_UPSTREAM } from '../support/proxy.js';

const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["pg_catalog.*"] }
        - { action: deny, kinds: [any] }
`;

interface Limited {
  proxy: RunningProxy;
  password: string;
  pg: pg.ClientConfig;
  stop(): Promise<void>;
}

/** A proxy with the given limits (startTestProxy takes no config overrides). */
async function startLimited(limits: Pick<ProxyConfig, 'maxStatementBytes' | 'authTimeoutMs' | 'maxClientConnections'>): Promise<Limited> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-limits-'));
  writeFileSync(join(dir, 'policy.yml'), policy);
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  const config: ProxyConfig = {
    listen: { host: '127.0.0.1', port: 0 },
    upstream: TEST_UPSTREAM,
    policyPath: join(dir, 'policy.yml'),
    role: 'test',
    claims: { repository: 'acme/app', actor: 'ci-bot' },
    session: { id: randomUUID(), secret: password, expiresAt: new Date(Date.now() + 3600_000) },
    auditPath: join(dir, 'audit.jsonl'),
    approvalTimeoutMs: 1_000,
    approval: { kind: 'none', reason: 'tests' },
    maskKey: randomBytes(32).toString('base64'),
    ...limits,
  };
  const proxy = await startProxy(config, { logger: { info: () => {}, warn: () => {} } });
  return {
    proxy,
    password,
    pg: { host: '127.0.0.1', port: proxy.port, user: 'tollgate', password, database: 'test' },
    async stop() {
      await proxy.close({ graceMs: 1_000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function fatalOf(c: RawClient): { code?: string; message?: string } {
  const e = c.errors().find((x) => x.get('S') === 'FATAL');
  return { code: e?.get('C'), message: e?.get('M') };
}

/** Opens a client, sends its StartupMessage and reads the SASL request. */
async function preAuth(port: number): Promise<RawClient> {
  const c = await RawClient.open(port);
  c.send(P.startupMessage({ user: 'tollgate', database: 'test' }));
  await c.next(P.B.Authentication);
  return c;
}

/** Latency of `SELECT 1` on an open session, in ms. */
async function latency(c: pg.Client): Promise<number> {
  const t0 = performance.now();
  const r = await c.query('SELECT 1 AS one');
  expect(r.rows).toEqual([{ one: 1 }]);
  return performance.now() - t0;
}

describe('message length limits (F8)', () => {
  let l: Limited;
  let other: pg.Client;
  beforeAll(async () => {
    l = await startLimited({});
    other = new pg.Client(l.pg);
    await other.connect();
  });
  afterAll(async () => {
    await other?.end().catch(() => {});
    await l?.stop();
  });

  it('refuses a 1 GiB SASL header before authentication at once, without reading the body', async () => {
    const c = await preAuth(l.proxy.port);
    const t0 = Date.now();
    c.send(Buffer.from([0x70, 0x3f, 0xff, 0xff, 0xff]));
    expect(await c.waitClosed(2_000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(fatalOf(c)).toEqual({
      code: '08P01',
      message: 'tollgate: protocol violation: password/SASL response message length 1073741823 exceeds the maximum of 65535 before authentication completes',
    });
    expect(await latency(other)).toBeLessThan(2_000);
  });

  it('refuses any other message above 10000 bytes before authentication', async () => {
    const c = await preAuth(l.proxy.port);
    c.send(P.query(`SELECT '${'x'.repeat(20_000)}'`));
    expect(await c.waitClosed(2_000)).toBe(true);
    expect(fatalOf(c)).toEqual({
      code: '08P01',
      message: 'tollgate: protocol violation: Query message length 20014 exceeds the maximum of 10000 before authentication completes',
    });
  });

  it('refuses a 64 MiB SELECT at its header while another session keeps answering quickly', async () => {
    const big = new pg.Client(l.pg);
    await big.connect();
    const failed = new Promise<Error>((resolve) => big.on('error', resolve));
    const sql = `SELECT 1 -- ${'a'.repeat(64 << 20)}`;
    const answer = big.query(sql).then(
      () => null,
      (err: Error & { code?: string }) => err,
    );
    const lat: number[] = [];
    for (let i = 0; i < 5; i++) lat.push(await latency(other));
    const err = (await answer) ?? (await failed);
    expect((err as Error & { code?: string }).code).toBe('08P01');
    expect(err.message).toBe(
      `tollgate: protocol violation: Query message length ${Buffer.byteLength(sql) + 5} exceeds the maximum of ${16 << 20} for a statement`,
    );
    expect(Math.max(...lat)).toBeLessThan(2_000);
    expect(await latency(other)).toBeLessThan(2_000);
    await big.end().catch(() => {});
  }, 30_000);

  it('answers a 2 MiB statement correctly (large messages are framed in linear time)', async () => {
    const c = new pg.Client(l.pg);
    await c.connect();
    const t0 = performance.now();
    const r = await c.query(`SELECT 42 AS answer -- ${'a'.repeat(2 << 20)}`);
    expect(r.rows).toEqual([{ answer: 42 }]);
    expect(performance.now() - t0).toBeLessThan(10_000);
    await c.end();
  }, 20_000);

  it('refuses a small-message type above 10000 bytes after authentication', async () => {
    const c = await RawClient.session(l.proxy.port, l.password);
    c.send(P.describe('S', 'n'.repeat(20_000)));
    expect(await c.waitClosed(2_000)).toBe(true);
    expect(fatalOf(c)).toEqual({
      code: '08P01',
      message: 'tollgate: protocol violation: Describe message length 20006 exceeds the maximum of 10000 for this message type',
    });
    expect(await latency(other)).toBeLessThan(2_000);
  });
});

describe('a configured statement limit', () => {
  it('refuses a Parse above maxStatementBytes and keeps Bind under the 1 GiB cap', async () => {
    const l = await startLimited({ maxStatementBytes: 1000 });
    try {
      const ok = await RawClient.session(l.proxy.port, l.password);
      // A Bind with a 5000-byte value is data, not SQL: allowed past the statement limit.
      ok.send(Buffer.concat([P.parse('', 'SELECT $1::text AS v'), P.bind('', '', [Buffer.alloc(5000, 0x62)]), P.execute(''), P.sync()]));
      const row = await ok.next(P.B.DataRow);
      expect(P.decodeDataRow(row.body)[0]!.toString()).toBe('b'.repeat(5000));
      await ok.next(P.B.ReadyForQuery);
      ok.send(P.parse('', `SELECT '${'x'.repeat(1000)}'`));
      expect(await ok.waitClosed(2_000)).toBe(true);
      expect(fatalOf(ok)).toEqual({
        code: '08P01',
        message: 'tollgate: protocol violation: Parse message length 1017 exceeds the maximum of 1000 for a statement',
      });
    } finally {
      await l.stop();
    }
  });
});

describe('authentication deadline (F16)', () => {
  it('closes a client that has not authenticated in time, and leaves an authenticated one alone', async () => {
    const l = await startLimited({ authTimeoutMs: 300 });
    try {
      const done = await RawClient.session(l.proxy.port, l.password);
      const silent = await RawClient.open(l.proxy.port);
      const halfway = await preAuth(l.proxy.port);
      const t0 = Date.now();
      expect(await halfway.waitClosed(3_000)).toBe(true);
      expect(await silent.waitClosed(3_000)).toBe(true);
      expect(Date.now() - t0).toBeLessThan(2_000);
      const expected = { code: '08P01', message: 'tollgate: canceling authentication due to timeout (0.3 s)' };
      expect(fatalOf(halfway)).toEqual(expected);
      expect(fatalOf(silent)).toEqual(expected);
      // The authenticated session outlives the deadline.
      await new Promise((r) => setTimeout(r, 200));
      done.send(P.query('SELECT 5 AS five'));
      const row = await done.next(P.B.DataRow);
      expect(P.decodeDataRow(row.body)[0]!.toString()).toBe('5');
      expect(done.closed).toBe(false);
      done.destroy();
    } finally {
      await l.stop();
    }
  });
});

describe('connection cap (F16)', () => {
  it('answers a client over the limit with 53300 and opens no upstream session for it', async () => {
    const l = await startLimited({ maxClientConnections: 2 });
    const app = `tg_limits_${process.pid}`;
    const admin = new pg.Client({ connectionString: TEST_UPSTREAM });
    await admin.connect();
    const a = new pg.Client(l.pg);
    const b = new pg.Client(l.pg);
    try {
      await a.connect();
      await b.connect();
      const c = new pg.Client({ ...l.pg, application_name: app });
      const err = await c.connect().then(
        () => null,
        (e: Error & { code?: string; severity?: string }) => e,
      );
      expect(err).not.toBeNull();
      expect({ code: err!.code, severity: err!.severity, message: err!.message }).toEqual({
        code: '53300',
        severity: 'FATAL',
        message: 'sorry, too many clients already',
      });
      const up = await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [app]);
      expect(up.rows).toEqual([{ n: 0 }]);
      expect(l.proxy.connections).toBe(2);
      // A client asking for SSL first reads 'N', then the same refusal.
      const raw = await RawClient.open(l.proxy.port);
      const bytes: Buffer[] = [];
      raw.socket.on('data', (d: Buffer) => bytes.push(d));
      raw.send(P.sslRequest());
      await new Promise((r) => setTimeout(r, 100));
      raw.send(P.startupMessage({ user: 'tollgate', database: 'test' }));
      expect(await raw.waitClosed(3_000)).toBe(true);
      const all = Buffer.concat(bytes);
      expect(all.subarray(0, 1).toString()).toBe('N');
      const fields = P.decodeErrorFields(all.subarray(6));
      expect([all[1], fields.get('S'), fields.get('C'), fields.get('M')]).toEqual([0x45, 'FATAL', '53300', 'sorry, too many clients already']);
      // The existing sessions work, and a slot that frees up is available again.
      expect((await a.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      await b.end();
      for (let i = 0; i < 100 && l.proxy.connections > 1; i++) await new Promise((r) => setTimeout(r, 20));
      const d = new pg.Client(l.pg);
      await d.connect();
      expect((await d.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
      await d.end();
    } finally {
      await a.end().catch(() => {});
      await b.end().catch(() => {});
      await admin.end();
      await l.stop();
    }
  });
});
