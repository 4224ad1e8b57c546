// F18: one approval covers exactly one execution. A reviewed statement prepared once (extended
// Parse, or SQL PREPARE) asks the approver again at every Execute / EXECUTE, with the parameters
// the reviewer never saw; a denied execution runs nothing upstream.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScriptedApprover, admin, startTestProxy, TEST_UPSTREAM } from '../support/proxy.js';

const S = `tg_review_exec_${process.pid}`;

const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["${S}.*", "pg_catalog.*"] }
        - { action: review, kinds: [delete], objects: ["${S}.scratch"] }
        - { action: allow, kinds: [prepare, execute, deallocate], objects: ["*"] }
        - { action: deny, kinds: [any] }
`;

const remaining = async (): Promise<string[]> => (await admin(`SELECT t FROM ${S}.scratch ORDER BY t`)).rows.map((r) => r.t as string);

beforeAll(async () => {
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE; CREATE SCHEMA ${S}; CREATE TABLE ${S}.scratch (t text)`);
});

afterAll(async () => {
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE`);
});

async function fill(): Promise<void> {
  await admin(`TRUNCATE ${S}.scratch; INSERT INTO ${S}.scratch SELECT 'row' || g FROM generate_series(1, 6) g`);
}

describe('review per execution (F18)', () => {
  it('a named prepared statement executed 3 times asks 3 approvals', async () => {
    await fill();
    const approver = new ScriptedApprover(['approve', 'approve', 'approve']);
    const proxy = await startTestProxy({ policy, approver, approvalTimeoutMs: 2_000 });
    try {
      const c = new pg.Client(proxy.pg);
      await c.connect();
      const del = (v: string) => c.query({ name: 'del', text: `DELETE FROM ${S}.scratch WHERE t = $1`, values: [v] });
      expect((await del('row1')).rowCount).toBe(1);
      expect((await del('row2')).rowCount).toBe(1);
      expect((await del('row3')).rowCount).toBe(1);
      await c.end();
      expect(approver.requests.length).toBe(3);
      expect(approver.requests.map((r) => [r.kind, r.object])).toEqual([
        ['delete', `${S}.scratch`],
        ['delete', `${S}.scratch`],
        ['delete', `${S}.scratch`],
      ]);
      expect(new Set(approver.requests.map((r) => r.id)).size).toBe(3);
      expect(await remaining()).toEqual(['row4', 'row5', 'row6']);
      await new Promise((r) => setTimeout(r, 100));
      // Each execution's own approval is in the audit log: who, when, where.
      const lines = (await proxy.audit()).filter((l) => l.type === 'sql' && l.approval);
      expect(lines.map((l) => [l.decision, l.approval!.approved, l.approval!.approver, l.approval!.where, l.rows])).toEqual([
        ['review', true, 'alice', 'terminal', 1],
        ['review', true, 'alice', 'terminal', 1],
        ['review', true, 'alice', 'terminal', 1],
      ]);
      expect(lines.every((l) => typeof l.approval!.at === 'string')).toBe(true);
      expect(lines.map((l) => l.approval!.id)).toEqual(approver.requests.map((r) => r.id));
    } finally {
      await proxy.stop();
    }
  });

  it('a denied second execution runs nothing upstream, and the session goes on', async () => {
    await fill();
    const approver = new ScriptedApprover(['approve', 'deny', 'approve']);
    const proxy = await startTestProxy({ policy, approver, approvalTimeoutMs: 2_000 });
    try {
      const c = new pg.Client(proxy.pg);
      await c.connect();
      const del = (v: string) => c.query({ name: 'del', text: `DELETE FROM ${S}.scratch WHERE t = $1`, values: [v] });
      expect((await del('row1')).rowCount).toBe(1);
      await expect(del('row2')).rejects.toMatchObject({
        code: '42501',
        message: expect.stringMatching(/^tollgate: denied: review .* was not approved: not today/),
      });
      expect(await remaining()).toEqual(['row2', 'row3', 'row4', 'row5', 'row6']);
      // The statement stays prepared; the next execution is reviewed again.
      expect((await del('row3')).rowCount).toBe(1);
      expect((await c.query(`SELECT count(*)::int AS n FROM ${S}.scratch`)).rows).toEqual([{ n: 4 }]);
      await c.end();
      expect(approver.requests.length).toBe(3);
      expect(await remaining()).toEqual(['row2', 'row4', 'row5', 'row6']);
      await new Promise((r) => setTimeout(r, 100));
      const lines = (await proxy.audit()).filter((l) => l.type === 'sql' && l.approval);
      expect(lines.map((l) => [l.decision, l.approval!.approved, l.approval!.approver])).toEqual([
        ['review', true, 'alice'],
        ['review', false, 'bob'],
        ['review', true, 'alice'],
      ]);
    } finally {
      await proxy.stop();
    }
  });

  it('SQL PREPARE then EXECUTE twice asks 2 approvals; a denied third EXECUTE runs nothing', async () => {
    await fill();
    const approver = new ScriptedApprover(['approve', 'approve', 'approve', 'deny']);
    const proxy = await startTestProxy({ policy, approver, approvalTimeoutMs: 2_000 });
    try {
      const c = new pg.Client(proxy.pg);
      await c.connect();
      await c.query(`PREPARE d(text) AS DELETE FROM ${S}.scratch WHERE t = $1`);
      // PREPARE runs nothing, but its decision is that of what it defines: reviewed as a message.
      const before = approver.requests.length;
      expect(before).toBe(1);
      expect((await c.query(`EXECUTE d('row1')`)).rowCount).toBe(1);
      expect((await c.query(`EXECUTE d('row2')`)).rowCount).toBe(1);
      const before3 = approver.requests.length;
      await c.query(`EXECUTE d('row3')`).then(
        () => expect.unreachable('the third EXECUTE was denied'),
        (e: { code?: string; message: string }) => expect([e.code, /^tollgate: denied: review .* was not approved: not today/.test(e.message)]).toEqual(['42501', true]),
      );
      await c.end();
      expect(approver.requests.length - before3).toBe(1);
      expect(before3 - before).toBe(2);
      expect(approver.requests.slice(before).map((r) => [r.kind, r.object])).toEqual([
        ['delete', `${S}.scratch`],
        ['delete', `${S}.scratch`],
        ['delete', `${S}.scratch`],
      ]);
      expect(await remaining()).toEqual(['row3', 'row4', 'row5', 'row6']);
    } finally {
      await proxy.stop();
    }
  });
});
