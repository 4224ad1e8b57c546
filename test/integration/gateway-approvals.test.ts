// Approvals across replicas with the GitHub App: replica A holds a review (a check run with
// Approve/Deny buttons is created by the App on the PR's head, read from GitHub), a signed webhook
// click reaches replica B, and A's statement is released within a second (LISTEN/NOTIFY). Bad
// signatures, replayed deliveries, unknown requests and clicks from people who may not answer are
// refused, recorded and change nothing.
import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReviewRequest } from '../../src/approval/types.js';
import { GatewayApprover } from '../../src/gateway/approver.js';
import { getSession } from '../../src/gateway/sessions.js';
import { clearJwksCache } from '../../src/identity/oidc.js';
import { Store } from '../../src/gateway/store.js';
import { startGithubApi, type GithubApi } from '../support/github-api.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { cleanup, dropDatabase, freshDatabase, startTestGateway, writeGatewayFiles, type GatewayFiles, type TestGateway } from '../support/gateway.js';

const DB = 'gateway_approvals';
const SECRET = 'webhook-secret-for-tests';
let issuer: OidcIssuer;
let github: GithubApi;
let files: GatewayFiles;
let a: TestGateway;
let b: TestGateway;
let stateUrl: string;
const HEAD = 'f'.repeat(40);

beforeAll(async () => {
  clearJwksCache();
  stateUrl = await freshDatabase(DB);
  issuer = await startOidcIssuer();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  github = await startGithubApi({ repository: 'acme/app', app: { appId: '4242', publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() } });
  github.state.pulls.set(12, { headSha: HEAD, author: 'prauthor' });
  for (const [login, p] of [['reviewer', 'write'], ['dev1', 'write'], ['prauthor', 'write'], ['reader', 'read'], ['outsider', 'write']] as const) github.setPermission(login, p);
  github.setTeamMembers('acme', 'dba', ['reviewer']);
  const policy = `version: 1
roles:
  reader:
    match: { repository: acme/app }
    upstream: main
    approvers: [acme/dba, dev1, prauthor, reader, someone]
    postgres: { rules: [{ action: review, kinds: [any] }] }
`;
  files = writeGatewayFiles({
    stateUrl,
    issuer: issuer.url,
    policy,
    extra: `github: { api_url: "${github.url}", app_id: 4242, private_key_file: app.pem, webhook_secret_env: TG_HOOK }\n`,
  });
  writeFileSync(join(files.dir, 'app.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  files.env.TG_HOOK = SECRET;
  a = await startTestGateway(files);
  b = await startTestGateway(files, {}, false);
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await github?.close();
  await issuer?.close();
  if (files) cleanup(files);
  await dropDatabase(DB).catch(() => {});
});

async function session(): Promise<string> {
  const r = await a.api('/v1/sessions', {
    method: 'POST',
    headers: { authorization: `Bearer ${await issuer.mint()}`, 'content-type': 'application/json' },
    body: JSON.stringify({ pull_request: { number: 12 } }),
  });
  expect(r.status).toBe(201);
  return r.json().session_id;
}

function request(id: string, timeoutMs = 20_000): ReviewRequest {
  return { id, sessionId: '', statement: 'DELETE FROM public.orders WHERE id = $1', kind: 'delete', object: 'public.orders', rule: 'roles.reader.postgres.rules[0]', reason: 'review', identity: {}, requestedAt: new Date(), timeoutMs };
}

async function approverOn(gw: TestGateway, sessionId: string): Promise<GatewayApprover> {
  const s = (await getSession(gw.ctx.store, sessionId))!;
  return new GatewayApprover({ ctx: gw.ctx, hub: gw.hub, app: gw.app, session: s, approvers: gw.config.policy.roles.get('reader')!.approvers });
}

async function until<T>(f: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Delivery {
  event?: string;
  payload: unknown;
  delivery?: string;
  signature?: string | null;
}

function webhook(gw: TestGateway, d: Delivery) {
  const body = JSON.stringify(d.payload);
  const sig = d.signature === undefined ? `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}` : d.signature;
  return gw.api('/github/webhook', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': d.event ?? 'check_run',
      'x-github-delivery': d.delivery ?? randomUUID(),
      ...(sig === null ? {} : { 'x-hub-signature-256': sig }),
    },
    body,
  });
}

function click(runId: number, externalId: string, login: string, identifier = 'approve', type = 'User') {
  return {
    action: 'requested_action',
    requested_action: { identifier },
    check_run: { id: runId, external_id: externalId, html_url: `${github.url}/acme/app/runs/${runId}` },
    repository: { full_name: 'acme/app' },
    sender: { login, type },
  };
}

async function refusals(code: string): Promise<number> {
  const s = new Store(stateUrl);
  try {
    for (let i = 0; i < 50; i++) {
      const n = Number((await s.query('SELECT count(*) AS n FROM tollgate.refusals WHERE code = $1', [code])).rows[0].n);
      if (n > 0) return n;
      await new Promise((r) => setTimeout(r, 20));
    }
    return 0;
  } finally {
    await s.close();
  }
}

describe('approvals across replicas', () => {
  it('a click on replica B releases the statement held on replica A within a second', async () => {
    const sid = await session();
    const approver = await approverOn(a, sid);
    const id = `r-${randomUUID().slice(0, 8)}`;
    let releasedAt = 0;
    const outcome = approver.review(request(id)).then((o) => ((releasedAt = Date.now()), o));
    const run = await until(() => github.checkRuns().find((c) => c.external_id === id));
    expect(run.head_sha).toBe(HEAD);
    expect(run.status).toBe('in_progress');
    expect(run.name).toBe('tollgate: approve delete on public.orders');
    expect(run.actions).toEqual([
      { label: 'Approve', identifier: 'approve', description: 'Run this statement once' },
      { label: 'Deny', identifier: 'deny', description: 'Refuse this statement' },
    ]);
    const r = await webhook(b, { payload: click(run.id, id, 'reviewer') });
    expect([r.status, r.json()]).toEqual([200, { id, status: 'approved', approver: 'reviewer' }]);
    const o = await outcome;
    expect(o).toMatchObject({ approved: true, via: 'github', approver: 'reviewer' });
    // From the moment replica B decided (after its permission checks) to A releasing the statement.
    expect(releasedAt - o.at!.getTime()).toBeLessThan(1000);
    expect(run.conclusion).toBe('success');
    expect(run.output.title).toBe('Approved by reviewer');
    // The App authenticated with its JWT, then with the installation token.
    // One installation lookup per replica (A created the run, B completed it); tokens are cached.
    expect(github.calls({ path: /\/installation$/ })).toHaveLength(2);
    expect(github.calls({ path: /access_tokens$/ }).length).toBeGreaterThanOrEqual(1);
  });

  it('still released within a second when LISTEN is down (the bounded poll)', async () => {
    const sid = await session();
    const approver = await approverOn(a, sid);
    const id = `p-${randomUUID().slice(0, 8)}`;
    // Cut A's LISTEN connection from the server side.
    const s = new Store(stateUrl);
    try {
      await s.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tollgate-gateway-listen' AND datname = $1", [DB]);
    } finally {
      await s.close();
    }
    let releasedAt = 0;
    const outcome = approver.review(request(id)).then((o) => ((releasedAt = Date.now()), o));
    const run = await until(() => github.checkRuns().find((c) => c.external_id === id));
    expect((await webhook(b, { payload: click(run.id, id, 'reviewer', 'deny') })).status).toBe(200);
    const o = await outcome;
    expect(o).toMatchObject({ approved: false, via: 'github', approver: 'reviewer' });
    expect(releasedAt - o.at!.getTime()).toBeLessThan(1500);
    expect(run.conclusion).toBe('failure');
  });

  it('refuses clicks from people who may not answer, and keeps the statement held', async () => {
    const sid = await session();
    const approver = await approverOn(a, sid);
    const id = `q-${randomUUID().slice(0, 8)}`;
    const outcome = approver.review(request(id));
    const run = await until(() => github.checkRuns().find((c) => c.external_id === id));
    const cases: [string, string, string][] = [
      ['dev1', 'User', "self-approval: the job's actor cannot answer their own job's request"],
      ['prauthor', 'User', "the pull request's author cannot answer a request of their own pull request"],
      ['reader', 'User', 'reader has no write permission on acme/app'],
      ['outsider', 'User', 'outsider is not among the role\'s approvers (acme/dba, dev1, prauthor, reader, someone)'],
      ['helper[bot]', 'Bot', 'bot accounts cannot answer (Bot)'],
    ];
    for (const [login, type, why] of cases) {
      const r = await webhook(b, { payload: click(run.id, id, login, 'approve', type) });
      expect([login, r.status, r.json().error]).toEqual([login, 403, { code: 'not_permitted', message: why }]);
    }
    expect(run.status).toBe('in_progress');
    expect(await refusals('not_permitted')).toBeGreaterThanOrEqual(5);
    // A click on another check run with this request's id.
    const other = await webhook(b, { payload: click(run.id + 1, id, 'reviewer') });
    expect([other.status, other.json().error.code]).toEqual([403, 'not_this_check_run']);
    // Then a permitted one, through replica A this time; a second answer is too late.
    expect((await webhook(a, { payload: click(run.id, id, 'reviewer') })).status).toBe(200);
    expect(await outcome).toMatchObject({ approved: true });
    const late = await webhook(b, { payload: click(run.id, id, 'reviewer', 'deny') });
    expect([late.status, late.json().error.code]).toEqual([409, 'already_decided']);
  });

  it('bad signatures, replays and unknown requests are refused and recorded', async () => {
    const payload = click(1, 'nope', 'reviewer');
    const none = await webhook(b, { payload, signature: null });
    expect([none.status, none.json().error.code]).toEqual([401, 'bad_signature']);
    const wrong = await webhook(b, { payload, signature: `sha256=${createHmac('sha256', 'other').update(JSON.stringify(payload)).digest('hex')}` });
    expect([wrong.status, wrong.json().error]).toEqual([401, { code: 'bad_signature', message: 'the X-Hub-Signature-256 of this delivery does not match the webhook secret' }]);
    const unknown = await webhook(b, { payload });
    expect([unknown.status, unknown.json().error.code]).toEqual([404, 'unknown_approval']);
    const delivery = randomUUID();
    expect((await webhook(b, { event: 'ping', payload: { zen: 'x' }, delivery })).status).toBe(200);
    const replay = await webhook(a, { event: 'ping', payload: { zen: 'x' }, delivery });
    expect([replay.status, replay.json().error.code]).toEqual([409, 'replayed_delivery']);
    const big = await b.api('/github/webhook', { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(2 * 1024 * 1024) }, body: 'x'.repeat(2 * 1024 * 1024) });
    expect([big.status, big.json().error.code]).toEqual([413, 'too_large']);
    expect(await refusals('bad_signature')).toBeGreaterThanOrEqual(2);
    expect(await refusals('replayed_delivery')).toBe(1);
    expect(await refusals('unknown_approval')).toBeGreaterThanOrEqual(1);
  });

  it('a comment answer on the pull request works through the webhook too', async () => {
    const sid = await session();
    const approver = await approverOn(b, sid);
    const id = `c-${randomUUID().slice(0, 8)}`;
    const outcome = approver.review(request(id));
    await until(() => github.checkRuns().find((c) => c.external_id === id));
    const comment = (login: string, body: string, issue = 12) => ({
      action: 'created',
      issue: { number: issue },
      comment: { body, user: { login, type: 'User' }, html_url: `${github.url}/acme/app/pull/${issue}#c` },
      repository: { full_name: 'acme/app' },
    });
    const wrongPr = await webhook(a, { event: 'issue_comment', payload: comment('reviewer', `/tollgate approve ${id}`, 13) });
    expect([wrongPr.status, wrongPr.json().error.code]).toEqual([403, 'not_this_pull_request']);
    const self = await webhook(a, { event: 'issue_comment', payload: comment('dev1', `/tollgate approve ${id}`) });
    expect([self.status, self.json().error.code]).toEqual([403, 'not_permitted']);
    expect((await webhook(a, { event: 'issue_comment', payload: comment('someone', 'looks fine') })).json()).toEqual({ ignored: 'not a tollgate answer' });
    expect((await webhook(a, { event: 'issue_comment', payload: comment('reviewer', `/tollgate approve ${id}`) })).status).toBe(200);
    expect(await outcome).toMatchObject({ approved: true, approver: 'reviewer' });
  });

  it('times out, completes the check run as timed_out and denies', async () => {
    const sid = await session();
    const approver = await approverOn(a, sid);
    const id = `t-${randomUUID().slice(0, 8)}`;
    const o = await approver.review(request(id, 1500));
    expect(o).toMatchObject({ approved: false, via: 'timeout' });
    expect(github.checkRuns().find((c) => c.external_id === id)!.conclusion).toBe('timed_out');
  });

  it('without a pull request there is no one to ask: denied, saying why', async () => {
    const r = await a.api('/v1/sessions', { method: 'POST', headers: { authorization: `Bearer ${await issuer.mint()}` } });
    const approver = await approverOn(a, r.json().session_id);
    expect(await approver.review(request('n-1'))).toEqual({ approved: false, via: 'unavailable', reason: 'the session has no pull request to ask on (the job passed none), so review falls back to deny' });
  });
});
