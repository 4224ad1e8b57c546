// GithubApprover against the local GitHub API stand-in: the check run, answers by PR comment, every
// refused answer, rate limits, and the API failing. Fast poll intervals; exact assertions on payloads.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GithubApprover, type GithubApproverDeps } from '../../src/approval/github.js';
import type { ReviewRequest } from '../../src/approval/types.js';
import type { GithubApprovalConfig } from '../../src/daemon/config.js';
import { startGithubApi, type CheckRun, type GithubApi } from '../support/github-api.js';

const SHA = '3f1c2a9be0d4c5f6a7b8c9d0e1f2a3b4c5d6e7f8';
const RUN_URL = 'https://github.example/acme/app/actions/runs/4242';
const STATEMENT = 'UPDATE public.orders SET status = $1 WHERE id = $2';

let api: GithubApi;
let logs: string[];

beforeEach(async () => {
  api = await startGithubApi({ repository: 'acme/app' });
  api.setPermission('rev', 'write');
  api.setPermission('rev2', 'admin');
  api.setPermission('dev', 'admin'); // the job's actor: has write, still may not answer
  api.setPermission('rerunner', 'write'); // who re-ran the job: may not answer either
  api.setPermission('alice', 'write');
  logs = [];
});

afterEach(async () => {
  await api.close();
});

function config(over: Partial<GithubApprovalConfig> = {}): GithubApprovalConfig {
  return {
    kind: 'github', apiUrl: api.url, token: api.token, repository: 'acme/app', pullNumber: 7,
    headSha: SHA, actor: 'dev', triggeringActor: 'rerunner', pollMs: 20, runUrl: RUN_URL, ...over,
  };
}

function approver(over: Partial<GithubApprovalConfig> = {}, deps: GithubApproverDeps = {}): GithubApprover {
  return new GithubApprover(config(over), { log: (l) => logs.push(l), ...deps });
}

/** An approver whose accounts are resolved, with the calls that took cleared (for exact counts). */
async function started(over: Partial<GithubApprovalConfig> = {}, deps: GithubApproverDeps = {}): Promise<GithubApprover> {
  const a = approver(over, deps);
  await a.ready();
  api.state.calls.length = 0;
  return a;
}

function request(id: string, timeoutMs = 10_000): ReviewRequest {
  return {
    id, sessionId: 'sess-1', statement: STATEMENT, kind: 'update', object: 'public.orders',
    rule: 'roles.ci-migrate.postgres.rules[1]', reason: 'writes to public.orders need review',
    identity: { repository: 'acme/app', workflow: 'migrate', run_id: '4242', actor: 'dev', ref: 'refs/pull/7/merge' },
    requestedAt: new Date(), timeoutMs,
  };
}

async function until<T>(what: string, probe: () => T | undefined | null | false, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The check run exists and the approver has logged it (so it is polling). */
const runCreated = () => until<CheckRun>('the check run', () =>
  logs.some((l) => l.startsWith('tollgate: approval needed')) && api.checkRuns()[0]);
const patches = () => api.calls({ method: 'PATCH', path: /\/check-runs\/\d+$/ });
const refusalShown = (text: string) =>
  until('a refusal on the check run', () => patches().some((c) => JSON.stringify(c.body).includes(text)));

describe('GithubApprover: the check run and the answer', () => {
  it('opens the check run, accepts an approval from a permitted reviewer, and completes it as success', async () => {
    const req = request('req-1');
    const outcome = approver().review(req);
    const run = await runCreated();

    const [post] = api.calls({ method: 'POST' });
    expect(post!.path).toBe('/repos/acme/app/check-runs');
    expect(post!.headers).toEqual({ accept: 'application/vnd.github+json', apiVersion: '2022-11-28' });
    const body = post!.body as Record<string, any>;
    expect(Object.keys(body).sort()).toEqual(['details_url', 'external_id', 'head_sha', 'name', 'output', 'status']);
    expect(body.name).toBe('tollgate: approve update on public.orders');
    expect(body.head_sha).toBe(SHA);
    expect(body.status).toBe('in_progress');
    expect(body.external_id).toBe('req-1');
    expect(body.details_url).toBe(RUN_URL);
    expect(body.output.title).toBe('Waiting for approval (request req-1)');
    const summary: string = body.output.summary;
    expect(summary).toContain(`\`\`\`sql\n${STATEMENT}\n\`\`\``);
    expect(summary).toContain('| Repository | `acme/app` |');
    expect(summary).toContain('| Workflow | `migrate` |');
    expect(summary).toContain(`| Run | [\`4242\`](${RUN_URL}) |`);
    expect(summary).toContain('| Actor | `dev` |');
    expect(summary).toContain('| Ref | `refs/pull/7/merge` |');
    expect(summary).toContain('| Rule | `roles.ci-migrate.postgres.rules[1]` |');
    expect(summary).toContain('| Request id | `req-1` |');
    expect(summary).toContain('```\n/tollgate approve req-1\n```');
    expect(summary).toContain('```\n/tollgate deny req-1\n```');
    expect(summary).toContain("other than the job's actor `dev`");
    expect(logs).toContain(
      `tollgate: approval needed for request req-1: ${run.html_url} (answer on pull request #7 with "/tollgate approve req-1" or "/tollgate deny req-1")`);

    const c = api.addComment('rev', '/tollgate approve req-1');
    const o = await outcome;
    expect(o).toEqual({ approved: true, via: 'github', approver: 'rev', at: new Date(c.created_at), where: c.html_url });

    const done = api.checkRuns()[0]!;
    expect(done.status).toBe('completed');
    expect(done.conclusion).toBe('success');
    expect(done.output.title).toBe('Approved by rev');
    expect(done.output.summary).toContain(`**Outcome:** approved by \`rev\` at ${new Date(c.created_at).toISOString()} ([comment](${c.html_url})).`);
    const last = patches().at(-1)!.body as Record<string, any>;
    expect(last.status).toBe('completed');
    expect(last.conclusion).toBe('success');
    expect(typeof last.completed_at).toBe('string');

    // Comments are read from the request time on, 100 a page.
    const get = api.calls({ method: 'GET', path: /\/issues\/7\/comments$/ })[0]!;
    const since = new Date(Math.floor(req.requestedAt.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    expect(get.query).toEqual({ since, per_page: '100' });
    expect(api.calls({ path: /\/collaborators\/rev\/permission$/ })).toHaveLength(1);
    expect(logs).toContain(`tollgate: request req-1 approved by rev (${c.html_url})`);
  });

  it("an approving review naming the request approves (GitHub's own Approve dialog)", async () => {
    const outcome = approver().review(request('req-rv'));
    await runCreated();
    const r = api.addReview('rev', '/tollgate approve req-rv', 'APPROVED');
    expect(await outcome).toEqual({ approved: true, via: 'github', approver: 'rev', at: new Date(r.submitted_at), where: r.html_url });
    expect(api.checkRuns()[0]!.output.summary).toContain(`**Outcome:** approved by \`rev\` at ${new Date(r.submitted_at).toISOString()} ([review](${r.html_url})).`);
  });

  it('a check run rewritten by someone else (the job token) is restored, the approval given meanwhile does not count, the review starts over', async () => {
    const outcome = approver().review(request('req-rw'));
    const run = await runCreated();
    const ours = run.output.summary;
    // A later step with the job's token rewrites what the reviewer reads.
    run.output = { title: 'Waiting for approval (request req-rw)', summary: ours!.replace('UPDATE public.orders SET status = $1 WHERE id = $2', 'UPDATE public.orders SET status = $1 WHERE id = 1'), text: null };
    const first = api.addComment('rev', '/tollgate approve req-rw');
    await until('the restart', () => logs.find((l) => l.includes('changed by someone other than tollgate')));
    expect(logs).toContain(`tollgate: request req-rw: the check run's text was changed by someone other than tollgate; it was restored and the review started over; the approval by rev (${first.html_url}) does not count`);
    await until('the restored text', () => api.checkRuns()[0]!.output.summary!.includes('answer again'));
    expect(api.checkRuns()[0]!.output.summary).toContain('```sql\nUPDATE public.orders SET status = $1 WHERE id = $2\n```');
    expect(api.checkRuns()[0]!.output.summary).toContain("`given while the check run's text was changed by someone other than tollgate: answer again`");
    expect(api.checkRuns()[0]!.status).toBe('in_progress');
    // Not approved by the old answer; a new one (after the restart) counts.
    await new Promise((r) => setTimeout(r, 1100)); // whole-second timestamps: the new answer is after the restart
    const again = api.addComment('rev2', '/tollgate approve req-rw');
    expect(await outcome).toMatchObject({ approved: true, approver: 'rev2', where: again.html_url });
  });

  it('a statement too long to show whole is denied at once; the check run says why and is never approvable', async () => {
    const long = `UPDATE public.orders SET status = $1 WHERE id = $2 ${'AND id = $2 '.repeat(5_000)}OR true`;
    const o = await approver().review({ ...request('req-long'), statement: long });
    expect(o).toMatchObject({ approved: false, via: 'github' });
    expect(o.reason).toMatch(/^not approvable from the check run: the statement is \d+ characters long as shown, more than the 50000 a check run can show whole$/);
    const run = api.checkRuns()[0]!;
    expect([run.status, run.conclusion, run.output.title]).toEqual(['completed', 'failure', 'Cannot be approved here: denied']);
    expect(run.output.summary).not.toContain('OR true');
    expect(api.calls({ path: /\/comments$/ })).toEqual([]);
  });

  it('a DO block whose body is a placeholder is denied at once, never approved unseen', async () => {
    const o = await approver().review({ ...request('req-do'), statement: 'DO ?', kind: 'do', object: undefined });
    expect(o.reason).toBe('not approvable from the check run: the body of this function, procedure or DO block reached tollgate only as a placeholder, so the code that would run cannot be shown here');
  });

  it('a deny rewritten to approve within the same second (invisible in REST timestamps) is refused as edited, never approved', async () => {
    const outcome = approver().review(request('req-ed'));
    await runCreated();
    const c = api.addComment('rev', '/tollgate deny req-ed');
    api.editComment(c.id, '/tollgate approve req-ed', { sameSecond: true });
    expect(c.updated_at).toBe(c.created_at);
    await refusalShown('the comment was edited: post a new one instead');
    expect(logs).toContain(`tollgate: request req-ed: refused answer by rev (${c.html_url}): the comment was edited: post a new one instead`);
    expect(api.checkRuns()[0]!.status).toBe('in_progress');
    const ok = api.addComment('rev2', '/tollgate approve req-ed');
    expect(await outcome).toMatchObject({ approved: true, approver: 'rev2', where: ok.html_url });
    expect(api.calls({ method: 'POST', path: /^\/graphql$/ }).length).toBeGreaterThanOrEqual(2);
  });

  it('an approval deleted before the decision is not taken', async () => {
    const outcome = approver().review(request('req-gone', 1_500));
    await runCreated();
    api.state.failOn = { path: /^\/graphql$/, status: 502, times: 1 };
    const c = api.addComment('rev', '/tollgate approve req-gone');
    await until('the retried confirmation', () => logs.find((l) => l.includes('could not yet confirm the answer')));
    api.deleteComment(c.id);
    const o = await outcome;
    expect([o.approved, o.via]).toEqual([false, 'timeout']);
    expect(api.checkRuns()[0]!.conclusion).toBe('timed_out');
  });

  it('a denial that vanishes before it is decided ends the review as denied (deleted)', async () => {
    const outcome = approver().review(request('req-vd'));
    await runCreated();
    api.state.failOn = { path: /\/collaborators\/rev\/permission$/, status: 502, times: 1_000 };
    const c = api.addComment('rev', '/tollgate deny req-vd');
    await until('the pending denial', () => logs.find((l) => l.includes('could not yet verify the answer')));
    api.deleteComment(c.id);
    api.addComment('rev2', '/tollgate approve req-vd');
    expect(await outcome).toEqual({ approved: false, via: 'github', approver: 'rev', where: c.html_url, reason: 'a denial by rev was deleted before the review was decided' });
    expect(api.checkRuns()[0]!.conclusion).toBe('failure');
    expect(api.checkRuns()[0]!.output.title).toBe('Denied: a denial was deleted');
  });

  it('a denial edited into an approval before it is decided ends the review as denied (edited)', async () => {
    const outcome = approver().review(request('req-ve'));
    await runCreated();
    api.state.failOn = { path: /\/collaborators\/rev\/permission$/, status: 502, times: 1_000 };
    const c = api.addComment('rev', '/tollgate deny req-ve');
    await until('the pending denial', () => logs.find((l) => l.includes('could not yet verify the answer')));
    api.editComment(c.id, '/tollgate approve req-ve', { sameSecond: true });
    expect(await outcome).toMatchObject({ approved: false, reason: 'a denial by rev was edited before the review was decided' });
  });

  it('a review with /tollgate deny denies', async () => {
    const outcome = approver().review(request('req-rd'));
    await runCreated();
    api.addReview('rev', '/tollgate deny req-rd', 'CHANGES_REQUESTED');
    expect(await outcome).toMatchObject({ approved: false, via: 'github', approver: 'rev', reason: 'denied by rev' });
  });

  it('a /tollgate deny from a permitted reviewer denies, conclusion failure', async () => {
    const outcome = approver().review(request('req-2'));
    await runCreated();
    const c = api.addComment('rev2', '/tollgate deny req-2');
    expect(await outcome).toEqual({
      approved: false, via: 'github', approver: 'rev2', at: new Date(c.created_at), where: c.html_url, reason: 'denied by rev2',
    });
    const run = api.checkRuns()[0]!;
    expect([run.status, run.conclusion, run.output.title]).toEqual(['completed', 'failure', 'Denied by rev2']);
  });

  it('with an approval and a denial in the same look, the denial wins', async () => {
    const outcome = approver().review(request('req-3'));
    await runCreated();
    api.addComment('rev', '/tollgate approve req-3');
    api.addComment('rev2', '/tollgate deny req-3');
    const o = await outcome;
    expect([o.approved, o.approver]).toEqual([false, 'rev2']);
    expect(api.checkRuns()[0]!.conclusion).toBe('failure');
  });

  it('times out: denied, via timeout, check run completed as timed_out', async () => {
    const o = await approver().review(request('req-4', 300));
    expect(o.approved).toBe(false);
    expect(o.via).toBe('timeout');
    expect(o.reason).toBe('no permitted answer within 300ms');
    expect(o.where).toBe(api.checkRuns()[0]!.html_url);
    const run = api.checkRuns()[0]!;
    expect([run.status, run.conclusion, run.output.title]).toEqual(['completed', 'timed_out', 'No answer within 300ms: denied']);
    expect(run.output.summary).toContain('**Outcome:** no permitted answer within 300ms; the statement was denied.');
    expect(logs).toContain('tollgate: request req-4: no permitted answer within 300ms; denied');
  });

  it('an abort completes the check run as cancelled and resolves denied', async () => {
    const ac = new AbortController();
    const outcome = approver().review(request('req-5'), ac.signal);
    await runCreated();
    ac.abort();
    const o = await outcome;
    expect(o).toEqual({ approved: false, via: 'github', where: api.checkRuns()[0]!.html_url, reason: 'cancelled' });
    expect(api.checkRuns()[0]!.conclusion).toBe('cancelled');
  });

  it('an abort while the check run is being created still completes it (never left in progress)', async () => {
    const ac = new AbortController();
    const outcome = approver().review(request('req-5b'), ac.signal);
    ac.abort();
    expect((await outcome).reason).toBe('cancelled');
    expect(api.checkRuns().map((r) => [r.external_id, r.status, r.conclusion])).toEqual([['req-5b', 'completed', 'cancelled']]);
  });

  it('reads every page of comments', async () => {
    const outcome = approver().review(request('req-6'));
    await runCreated();
    for (let i = 0; i < 150; i++) api.addComment('someone', `looks good ${i}`);
    api.addComment('rev', '/tollgate approve req-6');
    expect((await outcome).approver).toBe('rev');
    expect(api.calls({ path: /\/issues\/7\/comments$/ }).some((c) => c.query.page === '2')).toBe(true);
  });
});

describe('GithubApprover: refused answers are logged and shown on the check run', () => {
  const cases: { name: string; setup: (id: string) => void; reason: string; approvers?: string[] }[] = [
    {
      name: 'self-approval by the job actor',
      setup: (id) => api.addComment('dev', `/tollgate approve ${id}`),
      reason: "self-approval: the job's actor (dev) cannot answer this job's request",
    },
    {
      name: 'the actor in another letter case',
      setup: (id) => api.addComment('DEV', `/tollgate approve ${id}`),
      reason: "self-approval: the job's actor (dev) cannot answer this job's request",
    },
    {
      name: 'the actor after renaming their account',
      setup: (id) => { api.renameAccount('dev', 'dev-renamed'); api.setPermission('dev-renamed', 'admin'); api.addComment('dev-renamed', `/tollgate approve ${id}`); },
      reason: "self-approval: the job's actor (dev) cannot answer this job's request",
    },
    {
      name: "the pull request's author",
      setup: (id) => { api.setPermission('author', 'write'); api.addComment('author', `/tollgate approve ${id}`); },
      reason: "self-approval: the pull request's author (author) cannot answer this job's request",
    },
    {
      name: 'the run\'s triggering actor',
      setup: (id) => { api.addComment('rerunner', `/tollgate approve ${id}`); },
      reason: "self-approval: the run's triggering actor (rerunner) cannot answer this job's request",
    },
    {
      name: "an approving review by the pull request's author",
      setup: (id) => { api.setPermission('author', 'write'); api.addReview('author', `/tollgate approve ${id}`, 'APPROVED'); },
      reason: "self-approval: the pull request's author (author) cannot answer this job's request",
    },
    {
      name: 'an approval in a review that does not approve',
      setup: (id) => { api.addReview('rev2', `/tollgate approve ${id}`, 'COMMENTED'); },
      reason: 'an approval given as a review must be an approving review (this one is COMMENTED)',
    },
    {
      name: 'a listed approver login taken over by another account after the session started',
      approvers: ['alice', 'rev', 'rev2'],
      setup: (id) => {
        api.renameAccount('alice', 'alice-old');
        api.setPermission('alice', 'write'); // mallory registers the freed login
        api.state.accounts.set('alice', 99_999);
        api.addComment('alice', `/tollgate approve ${id}`);
      },
      reason: "not in this role's approvers (alice, rev, rev2); the login alice belonged to another account when the session started",
    },
    {
      name: 'no write permission (read)',
      setup: (id) => { api.setPermission('reader', 'read'); api.addComment('reader', `/tollgate approve ${id}`); },
      reason: 'no write permission on acme/app (has read)',
    },
    {
      name: 'no write permission (triage)',
      setup: (id) => { api.setPermission('triager', 'triage'); api.addComment('triager', `/tollgate approve ${id}`); },
      reason: 'no write permission on acme/app (has triage)',
    },
    {
      name: 'not a collaborator at all',
      setup: (id) => api.addComment('stranger', `/tollgate approve ${id}`),
      reason: 'no write permission on acme/app (has none)',
    },
    {
      name: 'an edited comment',
      setup: (id) => { const c = api.addComment('rev2', '/tollgate deny nothing'); api.editComment(c.id, `/tollgate approve ${id}`); },
      reason: 'the comment was edited: post a new comment instead',
    },
    {
      name: 'a bot account',
      setup: (id) => { api.setPermission('deployer[bot]', 'write'); api.addComment('deployer[bot]', `/tollgate approve ${id}`, { type: 'Bot' }); },
      reason: 'bot accounts cannot answer (Bot)',
    },
    {
      name: 'a [bot] login even when typed User',
      setup: (id) => { api.setPermission('sneaky[bot]', 'write'); api.addComment('sneaky[bot]', `/tollgate approve ${id}`); },
      reason: 'bot accounts cannot answer (User)',
    },
    {
      name: 'a wrong request id',
      setup: () => api.addComment('rev2', '/tollgate approve r-0000'),
      reason: 'wrong request id \\"r-0000\\"',
    },
    {
      name: 'a malformed answer',
      setup: (id) => api.addComment('rev2', `/tollgate approve ${id} please`),
      reason: 'malformed answer',
    },
    {
      name: 'a reviewer not in the approvers list',
      approvers: ['rev', 'acme/dba'],
      setup: (id) => api.addComment('rev2', `/tollgate approve ${id}`),
      reason: "not in this role's approvers (rev, acme/dba)",
    },
    {
      name: 'a pending (not active) team member',
      approvers: ['rev', 'acme/dba'],
      setup: (id) => { api.setTeamMembers('acme', 'dba', ['rev2'], 'pending'); api.addComment('rev2', `/tollgate approve ${id}`); },
      reason: "not in this role's approvers (rev, acme/dba)",
    },
  ];

  for (const c of cases) {
    it(`refuses ${c.name}, then accepts a valid answer`, async () => {
      const id = 'req-r';
      const outcome = approver({}, { approvers: c.approvers }).review(request(id));
      await runCreated();
      c.setup(id);
      await refusalShown(c.reason);
      const refusedLog = logs.find((l) => l.startsWith(`tollgate: request ${id}: refused answer by `));
      expect(refusedLog).toContain(JSON.parse(`"${c.reason}"`));
      // Still waiting: the check run is in progress and lists the refusal.
      const run = api.checkRuns()[0]!;
      expect(run.status).toBe('in_progress');
      expect(run.conclusion).toBeNull();
      expect(run.output.summary).toContain('**Refused answers** (1):');

      const ok = api.addComment('rev', `/tollgate approve ${id}`);
      const o = await outcome;
      expect(o).toEqual({ approved: true, via: 'github', approver: 'rev', at: new Date(ok.created_at), where: ok.html_url });
      expect(api.checkRuns()[0]!.output.summary).toContain(JSON.parse(`"${c.reason}"`));
    });
  }

  it('refuses a comment older than the request even when the API does not filter by since', async () => {
    api.state.honourSince = false;
    const req = request('req-old');
    api.addComment('rev2', '/tollgate approve req-old', { createdAt: new Date(req.requestedAt.getTime() - 120_000) });
    const outcome = approver().review(req);
    await refusalShown('the comment is older than the request');
    api.addComment('rev', '/tollgate approve req-old');
    expect((await outcome).approver).toBe('rev');
  });

  it('accepts an active member of a listed org/team, and a listed login', async () => {
    api.setPermission('carol', 'maintain');
    api.setTeamMembers('acme', 'dba', ['carol']);
    const outcome = approver({}, { approvers: ['acme/dba'] }).review(request('req-t'));
    await runCreated();
    api.addComment('carol', '/tollgate approve req-t');
    expect(await outcome).toMatchObject({ approved: true, via: 'github', approver: 'carol' });
    expect(api.calls({ path: /^\/orgs\/acme\/teams\/dba\/memberships\/carol$/ })).toHaveLength(1);

    const listed = approver({}, { approvers: ['@Rev'] }).review(request('req-l'));
    await until('second check run', () => api.checkRuns()[1]);
    api.addComment('rev', '/tollgate approve req-l');
    expect(await listed).toMatchObject({ approved: true, approver: 'rev' });
  });

  it('a refused answer times out when no valid answer follows', async () => {
    const outcome = approver().review(request('req-s', 400));
    await runCreated();
    api.addComment('dev', '/tollgate approve req-s');
    const o = await outcome;
    expect(o.via).toBe('timeout');
    const run = api.checkRuns()[0]!;
    expect(run.conclusion).toBe('timed_out');
    expect(run.output.summary).toContain("`dev`: `self-approval: the job's actor (dev) cannot answer this job's request`");
  });

  it('ignores ordinary comments and answers to other requests of the same approver', async () => {
    const a = approver();
    const first = a.review(request('req-a'));
    await runCreated();
    const second = a.review(request('req-b'));
    await until('second check run', () => api.checkRuns()[1]);
    api.addComment('rev2', 'lgtm, /tollgate approve req-a later');
    api.addComment('rev', '/tollgate approve req-b');
    expect((await second).approver).toBe('rev');
    api.addComment('rev', '/tollgate deny req-a');
    expect(await first).toMatchObject({ approved: false, approver: 'rev', reason: 'denied by rev' });
    expect(logs.filter((l) => l.includes('refused'))).toEqual([]);
  });
});

describe('GithubApprover: rate limits and failures', () => {
  it('waits out a secondary rate limit (403 + retry-after) instead of retrying at once', async () => {
    const a = await started();
    api.state.secondaryLimitOnce = { retryAfterSeconds: 1 };
    const outcome = a.review(request('req-rl'));
    await runCreated();
    api.addComment('rev', '/tollgate approve req-rl');
    expect((await outcome).approved).toBe(true);
    const posts = api.calls({ method: 'POST', path: /check-runs$/ });
    expect(posts.map((c) => c.status)).toEqual([403, 201]);
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(950);
    expect(logs).toContain('tollgate: GitHub API rate limit (403 on POST /repos/acme/app/check-runs): waiting 1s');
  });

  it('with the primary budget spent, sends nothing until x-ratelimit-reset', async () => {
    const a = await started();
    api.state.rateLimitRemaining = 2;
    api.state.rateLimitReset = Math.floor(Date.now() / 1000) + 1;
    const outcome = a.review(request('req-pl'));
    await runCreated();
    api.addComment('rev', '/tollgate approve req-pl');
    expect((await outcome).approved).toBe(true);
    const calls = api.state.calls;
    expect(calls.every((c) => c.status !== 403)).toBe(true);
    // The second call spent the budget: the third waited for the reset (+1 s margin).
    expect(calls[2]!.at).toBeGreaterThanOrEqual(api.state.rateLimitReset * 1000);
  });

  it('backs off while nothing changes, up to the cap, and looks again soon after a new comment', async () => {
    const sleeps: number[] = [];
    const sleep = (ms: number, signal?: AbortSignal) => {
      sleeps.push(ms);
      return new Promise<void>((r) => { const t = setTimeout(r, ms); signal?.addEventListener('abort', () => { clearTimeout(t); r(); }); });
    };
    const outcome = approver({}, { maxPollMs: 80, sleep }).review(request('req-bo', 10_000));
    await until('five polls', () => sleeps.length >= 6);
    // pollMs 20: × 1.5 per quiet look, capped at 80.
    expect(sleeps.slice(0, 6)).toEqual([30, 45, 68, 80, 80, 80]);
    const n = sleeps.length;
    api.addComment('someone', 'a question about this migration');
    await until('the poll after the comment', () => sleeps.length > n + 1 && sleeps.slice(n).includes(20));
    api.addComment('rev', '/tollgate approve req-bo');
    expect((await outcome).approved).toBe(true);
    const gets = api.calls({ method: 'GET', path: /\/comments$/ });
    expect(gets.length).toBeLessThanOrEqual(sleeps.length + 1);
  });

  it('polls with conditional requests: an unchanged page is a 304 that spends no rate limit', async () => {
    const a = await started();
    const budget = api.state.rateLimitRemaining;
    const outcome = a.review(request('req-304', 400));
    await runCreated();
    api.addComment('someone', 'an ordinary remark');
    expect((await outcome).via).toBe('timeout');
    const statuses = api.calls({ method: 'GET', path: /\/comments$/ }).map((c) => c.status);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(2);
    expect(statuses.filter((s) => s === 304).length).toBeGreaterThanOrEqual(3);
    expect(statuses.filter((s) => s !== 200 && s !== 304)).toEqual([]);
    const reviews = api.calls({ method: 'GET', path: /\/reviews$/ }).map((c) => c.status);
    expect(reviews.filter((s) => s === 200)).toHaveLength(1);
    expect(reviews.filter((s) => s !== 200 && s !== 304)).toEqual([]);
    const spent = budget - api.state.rateLimitRemaining;
    expect(spent).toBe(1 + statuses.filter((s) => s === 200).length + 1 + 1); // POST, full comment pages, the review page, final PATCH
  });

  it('keeps polling through a failing comments API and still takes the answer', async () => {
    const outcome = approver().review(request('req-f'));
    await runCreated();
    api.state.failWith = 502;
    await until('a failed poll', () => api.state.calls.some((c) => c.status === 502));
    api.state.failWith = null;
    api.addComment('rev', '/tollgate approve req-f');
    expect((await outcome).approved).toBe(true);
    expect(logs.filter((l) => /could not read the pull request's comments and reviews \(GET \/repos\/acme\/app\/(issues\/7\/comments|pulls\/7\/reviews): HTTP 502: Server Error\)/.test(l))).toHaveLength(1);
  });

  it('a permission check that fails for a while is retried, not taken as a refusal', async () => {
    const outcome = approver().review(request('req-pf'));
    await runCreated();
    api.state.failOn = { path: /\/collaborators\/rev\/permission$/, status: 502, times: 3 };
    const c = api.addComment('rev', '/tollgate approve req-pf');
    expect(await outcome).toEqual({ approved: true, via: 'github', approver: 'rev', at: new Date(c.created_at), where: c.html_url });
    expect(api.calls({ path: /\/collaborators\/rev\/permission$/ }).map((x) => x.status)).toEqual([502, 502, 502, 200]);
    expect(logs.filter((l) => l.includes('could not yet verify'))).toEqual([
      `tollgate: request req-pf: could not yet verify the answer in ${c.html_url} (could not verify permission: GET /repos/acme/app/collaborators/rev/permission: HTTP 502: Server Error); will retry`,
    ]);
    expect(logs.some((l) => l.includes('refused'))).toBe(false);
  });

  it('a team the token cannot read vouches for no one, and says why', async () => {
    api.setPermission('carol', 'write');
    api.state.failOn = { path: /^\/orgs\/acme\/teams\/dba\/memberships\//, status: 403, times: 100 };
    const outcome = approver({}, { approvers: ['acme/dba'] }).review(request('req-tf', 400));
    await runCreated();
    api.addComment('carol', '/tollgate approve req-tf');
    expect((await outcome).via).toBe('timeout');
    expect(api.checkRuns()[0]!.output.summary).toContain(
      "`carol`: `not in this role's approvers (acme/dba); could not read acme/dba membership (GET /orgs/acme/teams/dba/memberships/carol: HTTP 403: Server Error)`");
  });

  it('API down (nothing listening): denied at once, never approved', async () => {
    const closed = await startGithubApi();
    const url = closed.url;
    await closed.close();
    const o = await approver({ apiUrl: url }).review(request('req-down'));
    expect(o.approved).toBe(false);
    expect(o.via).toBe('unavailable');
    expect(o.reason).toBe("could not resolve who may answer (the job's actor, the pull request's author, the approvers) to GitHub account ids (GET /users/dev: no answer from the GitHub API (ECONNREFUSED))");
  });

  it('API errors on creating the check run (503, bad token, missing checks permission): denied', async () => {
    const a = await started();
    api.state.failWith = 503;
    expect(await a.review(request('req-503'))).toEqual({
      approved: false, via: 'unavailable',
      reason: 'could not open the approval check run on the pull request (POST /repos/acme/app/check-runs: HTTP 503: Server Error)',
    });
    api.state.failWith = null;
    const bad = await approver({ token: 'ghs_wrong' }).review(request('req-401'));
    expect([bad.approved, bad.via]).toEqual([false, 'unavailable']);
    expect(bad.reason).toContain('HTTP 401: Bad credentials');
    const b = await started();
    api.state.failWith = 403;
    const forbidden = await b.review(request('req-403'));
    expect(forbidden.reason).toBe('could not open the approval check run on the pull request (POST /repos/acme/app/check-runs: HTTP 403: Server Error); the job needs `permissions: checks: write`');
    expect(api.calls({ method: 'POST' }).filter((c) => c.status === 403)).toHaveLength(1); // not a rate limit: no retry
  });

  it('a request id no one could quote is denied without opening a check run', async () => {
    expect(await approver().review(request('has space'))).toEqual({
      approved: false, via: 'unavailable', reason: 'request id "has space" cannot be quoted in an answer',
    });
    expect(api.state.calls).toEqual([]);
  });

  it('never logs the token or puts it in a check run', async () => {
    const outcome = approver().review(request('req-tok'));
    await runCreated();
    api.addComment('dev', '/tollgate approve req-tok');
    await refusalShown('self-approval');
    api.addComment('rev', '/tollgate approve req-tok');
    await outcome;
    const everything = JSON.stringify([logs, api.state.calls.map((c) => c.body), api.checkRuns()]);
    expect(everything).not.toContain(api.token);
  });
});
