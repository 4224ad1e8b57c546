// Red team, session and audit: a statement held in review until the session has expired, literals
// that must not reach the reviewer, clients that vanish mid-query, many sessions writing the audit
// log at once, and a statement so large that the parser runs out of memory. Afterwards the audit
// chain must verify, keep every completed record, and hold no planted literal.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Approver, ReviewOutcome, ReviewRequest } from '../../src/approval/types.js';
import * as P from '../../src/pg/protocol.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { admin, closeAndCheckAudit, dropSchema, redteamPolicy, seedSchema, uniqueSchema, untouched } from '../fixtures/redteam/env.js';
import { errors, rows, types, Wire } from '../fixtures/redteam/wire.js';

const S = uniqueSchema('sess');

/** Answers every request after `delayMs`, approving; remembers what it was shown. */
class SlowApprover implements Approver {
  readonly seen: ReviewRequest[] = [];
  constructor(private readonly delayMs: number) {}
  async review(req: ReviewRequest, signal?: AbortSignal): Promise<ReviewOutcome> {
    this.seen.push(req);
    await new Promise<void>((r) => {
      const t = setTimeout(r, this.delayMs);
      signal?.addEventListener('abort', () => {
        clearTimeout(t);
        r();
      });
    });
    return { approved: true, via: 'terminal', approver: 'alice', at: new Date(), where: 'terminal' };
  }
}

// Deletes from scratch need a review; everything else as in the shared red-team policy.
const REVIEW_RULE = (s: string) => `        - { action: review, kinds: [delete], objects: ["${s}.scratch"] }\n`;

beforeAll(async () => {
  await seedSchema(S);
});

afterAll(async () => {
  await dropSchema(S);
});

describe('review and expiry', () => {
  it('a statement approved only after the session expired is refused with "session expired" and never runs', async () => {
    await admin(`INSERT INTO ${S}.scratch VALUES ('keep')`);
    const approver = new SlowApprover(1_500);
    const proxy = await startTestProxy({
      policy: redteamPolicy(S, REVIEW_RULE(S)),
      approver,
      approvalTimeoutMs: 10_000,
      expiresAt: new Date(Date.now() + 1_000),
    });
    try {
      const w = await Wire.login(proxy.port, proxy.password);
      w.reset();
      // Pipelined behind the held statement: must not overtake it, and is itself past expiry.
      w.send(P.query(`DELETE FROM ${S}.scratch WHERE t <> 'PLANTED-r1'`), P.query("SELECT 'PLANTED-r2'"));
      await w.ready(2, 8_000);
      expect(types(w.msgs)).toBe('EZEZ');
      const e = errors(w.msgs);
      expect(e.map((x) => [x.code, x.message])).toEqual([
        ['42501', 'tollgate: session expired'],
        ['42501', 'tollgate: session expired'],
      ]);
      expect((await admin(`SELECT count(*)::int AS n FROM ${S}.scratch`)).rows[0].n).toBe(1);
      // The reviewer saw the statement without its literals.
      expect(approver.seen).toHaveLength(1);
      expect(approver.seen[0]!.statement).not.toContain('PLANTED');
      expect(approver.seen[0]!.statement).toMatch(/DELETE FROM rt_sess_\w+\.scratch WHERE t <> \$1/);
      w.end();
      const lines = await closeAndCheckAudit(proxy);
      const reviewed = lines.find((l) => l.type === 'sql' && l.approval);
      expect(reviewed).toMatchObject({ decision: 'review', approval: { approved: true, approver: 'alice' } });
    } finally {
      await proxy.stop();
      await admin(`TRUNCATE ${S}.scratch`);
    }
  });
});

describe('audit log under stress', () => {
  it('keeps every completed record when clients vanish mid-query, and verifies', async () => {
    const proxy = await startTestProxy({ policy: redteamPolicy(S) });
    try {
      for (let i = 0; i < 3; i++) {
        const w = await Wire.login(proxy.port, proxy.password);
        for (let j = 0; j < 3; j++) expect(rows(await w.query(`SELECT 'PLANTED-v${i}${j}' AS x`))).toEqual([[`PLANTED-v${i}${j}`]]);
        w.send(P.query("SELECT pg_sleep(2), 'PLANTED-gone'"));
        await new Promise((r) => setTimeout(r, 100));
        w.destroy(); // vanishes with the statement running
      }
      // The proxy still serves, and cancelled the abandoned statements (no 2-second wait each).
      const t0 = Date.now();
      const w = await Wire.login(proxy.port, proxy.password);
      expect(rows(await w.query("SELECT 'PLANTED-after'"))).toEqual([['PLANTED-after']]);
      expect(Date.now() - t0).toBeLessThan(1_500);
      w.end();
      const lines = await closeAndCheckAudit(proxy);
      const selects = lines.filter((l) => l.type === 'sql' && l.decision === 'allow');
      // 9 completed reads + the last one; the abandoned sleeps may or may not have a record.
      expect(selects.length).toBeGreaterThanOrEqual(10);
    } finally {
      await proxy.stop();
    }
  });

  it('chains records correctly when 12 sessions write at once, denials included', async () => {
    const proxy = await startTestProxy({ policy: redteamPolicy(S) });
    try {
      const sessions = await Promise.all(Array.from({ length: 12 }, () => Wire.login(proxy.port, proxy.password)));
      await Promise.all(
        sessions.map(async (w, i) => {
          for (let j = 0; j < 8; j++) {
            const m = await w.query(j % 2 ? `DELETE FROM ${S}.users WHERE email = 'PLANTED-c${i}-${j}'` : `SELECT lower(email), 'PLANTED-c${i}-${j}' FROM ${S}.users`);
            if (j % 2) expect(errors(m).map((e) => e.code)).toEqual(['42501']);
            else expect(rows(m)).toEqual([['***', `PLANTED-c${i}-${j}`]]);
          }
          w.end();
        }),
      );
      const lines = await closeAndCheckAudit(proxy);
      const sql = lines.filter((l) => l.type === 'sql');
      expect(sql.filter((l) => l.decision === 'allow')).toHaveLength(48);
      expect(sql.filter((l) => l.decision === 'deny')).toHaveLength(48);
      expect(await untouched(S)).toEqual({ users: 1, secret: 1 });
    } finally {
      await proxy.stop();
    }
  });
});

describe('an unauthenticated client streaming a huge message', () => {
  it('does not stall other sessions while it streams', async () => {
    const proxy = await startTestProxy({ policy: redteamPolicy(S) });
    const flood = spawn(process.execPath, [fileURLToPath(new URL('../fixtures/redteam/flood.mjs', import.meta.url)), String(proxy.port), '128'], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      await new Promise((r) => setTimeout(r, 50));
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now();
        const w = await Wire.login(proxy.port, proxy.password);
        expect(rows(await w.query(`SELECT 'PLANTED-f${i}'`))).toEqual([[`PLANTED-f${i}`]]);
        w.end();
        expect(Date.now() - t0).toBeLessThan(1_000);
      }
    } finally {
      flood.kill();
      await proxy.stop();
    }
  }, 20_000);
});

describe('a statement too large for the parser', () => {
  it('is denied, and decisions stay right afterwards', async () => {
    const proxy = await startTestProxy({ policy: redteamPolicy(S) });
    try {
      const w = await Wire.login(proxy.port, proxy.password);
      const huge = 'SELECT ' + Array.from({ length: 640_000 }, (_, i) => `'PLANTED-h${i}'`).join(',');
      const m = await w.query(huge, 25_000);
      expect(types(m)).toBe('EZ');
      expect(errors(m)[0]!.code).toBe('42501');
      expect(errors(m)[0]!.message.startsWith('tollgate: denied')).toBe(true);
      expect(rows(await w.query('SELECT 7 AS seven'))).toEqual([['7']]);
      expect(errors(await w.query(`DELETE FROM ${S}.users`)).map((e) => e.code)).toEqual(['42501']);
      expect(errors(await w.query(`SELECT 'a\\' ; DELETE FROM ${S}.users; --'`)).map((e) => e.code)).toEqual(['42501']);
      expect(rows(await w.query(`SELECT lower(email) FROM ${S}.users`))).toEqual([['***']]);
      expect(await untouched(S)).toEqual({ users: 1, secret: 1 });
      w.end();
      await closeAndCheckAudit(proxy);
    } finally {
      await proxy.stop();
    }
  }, 30_000);
});
