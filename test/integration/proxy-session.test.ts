// Review (held statements, approved / denied / timed out), session expiry, and drain on close.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScriptedApprover, admin, startTestProxy, TEST_UPSTREAM, type TestProxy } from '../support/proxy.js';

const S = `tg_proxy_sess_${process.pid}`;

const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["${S}.*", "pg_catalog.*"] }
        - { action: review, kinds: [insert, delete], objects: ["${S}.orders"] }
        - { action: allow, kinds: [call], objects: ["pg_catalog.pg_sleep"] }
        - { action: deny, kinds: [any] }
`;

const count = async (): Promise<number> => (await admin(`SELECT count(*)::int AS n FROM ${S}.orders`)).rows[0].n;

beforeAll(async () => {
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE; CREATE SCHEMA ${S}; CREATE TABLE ${S}.orders (id int, note text);`);
});

afterAll(async () => {
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE`);
});

describe('review', () => {
  let proxy: TestProxy;
  const approver = new ScriptedApprover(['approve', 'deny', 'timeout', 'approve']);
  beforeAll(async () => {
    proxy = await startTestProxy({ policy, approver, approvalTimeoutMs: 400 });
  });
  afterAll(async () => proxy?.stop());

  it('holds a statement until approved, then runs it', async () => {
    const c = new pg.Client(proxy.pg);
    await c.connect();
    const r = await c.query(`INSERT INTO ${S}.orders VALUES (1, 'first')`);
    expect(r.rowCount).toBe(1);
    expect(await count()).toBe(1);
    const req = approver.requests[0]!;
    expect(req).toMatchObject({ kind: 'insert', object: `${S}.orders`, rule: 'roles.test.postgres.rules[1]', sessionId: proxy.config.session.id });
    expect(req.statement).not.toContain('first'); // literals never reach the reviewer's screen
    await c.end();
  });

  it('denies when the reviewer says no, and when nobody answers in time', async () => {
    const c = new pg.Client(proxy.pg);
    await c.connect();
    await expect(c.query(`INSERT INTO ${S}.orders VALUES (2, 'second')`)).rejects.toMatchObject({
      code: '42501',
      message: expect.stringMatching(/^tollgate: denied: review .* was not approved: not today/),
    });
    const t0 = Date.now();
    await expect(c.query({ text: `DELETE FROM ${S}.orders WHERE id = $1`, values: [1] })).rejects.toMatchObject({
      code: '42501',
      message: expect.stringMatching(/timed out/),
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    expect(await count()).toBe(1);
    expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    await c.end();
  });

  it('holds what was pipelined behind a reviewed statement, in order', async () => {
    const c = new pg.Client(proxy.pg);
    await c.connect();
    const order: string[] = [];
    const a = c.query(`INSERT INTO ${S}.orders VALUES (3, 'third')`).then(() => order.push('insert'));
    const b = c.query(`SELECT count(*)::int AS n FROM ${S}.orders`).then((r) => order.push(`count=${r.rows[0].n}`));
    await Promise.all([a, b]);
    expect(order).toEqual(['insert', 'count=2']);
    await c.end();
  });

  it('records the approval in the audit log', async () => {
    await new Promise((r) => setTimeout(r, 200));
    const lines = (await proxy.audit()).filter((l) => l.type === 'sql' && l.approval);
    expect(lines.map((l) => [l.decision, l.approval!.approved, l.approval!.via])).toEqual([
      ['review', true, 'terminal'],
      ['review', false, 'terminal'],
      ['review', false, 'timeout'],
      ['review', true, 'terminal'],
    ]);
    expect(lines[0]!.approval!.approver).toBe('alice');
    expect(JSON.stringify(lines)).not.toMatch(/first|second|third/);
  });
});

describe('session expiry', () => {
  it('denies every new statement after the session expires, simple and extended', async () => {
    let now = Date.now();
    const expiresAt = new Date(now + 60_000);
    const proxy = await startTestProxy({ policy, expiresAt, now: () => new Date(now) });
    try {
      const c = new pg.Client(proxy.pg);
      await c.connect();
      expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
      await c.query({ name: 'before', text: 'SELECT $1::int AS v', values: [1] });
      now = expiresAt.getTime() + 1;
      await expect(c.query('SELECT 1')).rejects.toMatchObject({ code: '42501', message: 'tollgate: session expired' });
      await expect(c.query({ text: 'SELECT $1::int', values: [1] })).rejects.toMatchObject({ message: 'tollgate: session expired' });
      // A statement prepared before expiry does not run after it either.
      await expect(c.query({ name: 'before', text: 'SELECT $1::int AS v', values: [2] })).rejects.toMatchObject({
        message: 'tollgate: session expired',
      });
      await c.end();
    } finally {
      await proxy.stop();
    }
  });
});

describe('drain', () => {
  it('lets a running statement finish, then ends the session with 57P01', async () => {
    const proxy = await startTestProxy({ policy });
    const c = new pg.Client(proxy.pg);
    await c.connect();
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e));
    const running = c.query('SELECT pg_sleep(0.5), 7 AS v');
    await new Promise((r) => setTimeout(r, 100));
    const closing = proxy.close({ graceMs: 5_000 });
    const r = await running;
    expect(r.rows[0].v).toBe(7);
    await closing;
    await new Promise((r) => setTimeout(r, 50));
    // The FATAL comes first; node-postgres then also reports the closed socket.
    expect((errors[0] as Error & { code?: string }).code).toBe('57P01');
    expect(errors[0]!.message).toBe('tollgate: the gateway is shutting down');
    await proxy.stop();
  });
});
