import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NoChannelApprover } from '../../src/approval/none.js';
import { TerminalApprover } from '../../src/approval/terminal.js';
import type { ReviewRequest } from '../../src/approval/types.js';

function request(id: string, timeoutMs = 5_000): ReviewRequest {
  return {
    id, sessionId: 's1', statement: 'DELETE FROM public.orders WHERE id = $1', kind: 'delete',
    object: 'public.orders', rule: 'roles.ci.postgres.rules[1]', reason: 'writes need review',
    identity: { repository: 'acme/app', actor: 'dev' }, requestedAt: new Date(), timeoutMs,
  };
}

function terminal() {
  const input = new PassThrough();
  const output = new PassThrough();
  let shown = '';
  output.on('data', (c: Buffer) => { shown += c.toString('utf8'); });
  const approver = new TerminalApprover({ input, output, user: 'alice' });
  return { input, approver, shown: () => shown };
}

const tick = () => new Promise((r) => setTimeout(r, 10));

describe('TerminalApprover', () => {
  it('shows the request and approves on y, naming the local user', async () => {
    const t = terminal();
    const outcome = t.approver.review(request('r-1'));
    await tick();
    expect(t.shown()).toContain('request r-1');
    expect(t.shown()).toContain('kind:      delete');
    expect(t.shown()).toContain('object:    public.orders');
    expect(t.shown()).toContain('rule:      roles.ci.postgres.rules[1]');
    expect(t.shown()).toContain('statement: DELETE FROM public.orders WHERE id = $1');
    expect(t.shown().endsWith('approve? [y/N] ')).toBe(true);
    t.input.write('y\n');
    const o = await outcome;
    expect(o).toMatchObject({ approved: true, via: 'terminal', approver: 'alice', where: 'terminal' });
    expect(o.at).toBeInstanceOf(Date);
  });

  it('denies on anything but y, including an empty line', async () => {
    for (const answer of ['n\n', '\n', 'sure\n', 'yy\n']) {
      const t = terminal();
      const outcome = t.approver.review(request('r-2'));
      await tick();
      t.input.write(answer);
      expect(await outcome).toEqual({
        approved: false, via: 'terminal', approver: 'alice', at: expect.any(Date), where: 'terminal',
        reason: 'denied in the terminal',
      });
    }
  });

  it('times out with via timeout', async () => {
    const t = terminal();
    const o = await t.approver.review(request('r-3', 50));
    expect(o.approved).toBe(false);
    expect(o.via).toBe('timeout');
    expect(t.shown()).toContain('no answer in time: request r-3 denied');
  });

  it('asks one request at a time, in order, and ignores input typed before a prompt', async () => {
    const t = terminal();
    t.input.write('y\n'); // typed ahead with nothing asked: not an answer
    const first = t.approver.review(request('a'));
    const second = t.approver.review(request('b'));
    await tick();
    expect(t.shown()).toContain('request a');
    expect(t.shown()).not.toContain('request b');
    t.input.write('n\n');
    expect((await first).approved).toBe(false);
    await tick();
    expect(t.shown()).toContain('request b');
    t.input.write('y\n');
    expect((await second).approved).toBe(true);
  });

  it('a queued request that times out is never shown', async () => {
    const t = terminal();
    const first = t.approver.review(request('a'));
    const second = t.approver.review(request('b', 30));
    expect((await second).via).toBe('timeout');
    await tick();
    t.input.write('y\n');
    expect((await first).approved).toBe(true);
    expect(t.shown()).not.toContain('request b');
  });

  it('denies everything when input ends, and resolves on abort', async () => {
    const t = terminal();
    const ac = new AbortController();
    const aborted = t.approver.review(request('x'), ac.signal);
    const queued = t.approver.review(request('y'));
    ac.abort();
    expect(await aborted).toEqual({ approved: false, via: 'terminal', reason: 'cancelled' });
    t.input.end();
    expect(await queued).toEqual({ approved: false, via: 'terminal', reason: 'terminal input closed before an answer' });
    expect(await t.approver.review(request('z'))).toEqual({
      approved: false, via: 'terminal', reason: 'terminal input is closed: no one can answer',
    });
  });

  it('never writes terminal control characters from the statement', async () => {
    const t = terminal();
    const req = { ...request('c'), statement: 'SELECT * FROM "\u001b[2Jevil\u202e"' };
    const outcome = t.approver.review(req);
    await tick();
    expect(t.shown()).not.toMatch(/[\u001b\u202e]/);
    expect(t.shown()).toContain('SELECT * FROM "?[2Jevil?"');
    t.input.write('n\n');
    await outcome;
  });
});

describe('NoChannelApprover', () => {
  it('denies at once with the reason', async () => {
    const a = new NoChannelApprover('no pull request for this push build: review falls back to deny');
    expect(await a.review(request('n'))).toEqual({
      approved: false, via: 'unavailable', reason: 'no pull request for this push build: review falls back to deny',
    });
  });
});
