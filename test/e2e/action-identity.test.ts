// The action and the job's identity (issue 15), as a runner runs it: a pull_request_target job is
// refused by a role that does not name the event (nothing starts), and the OIDC token itself is
// never written anywhere: not to a log, a runner file, the workspace, the runner's temp directory,
// the audit log, the GitHub API, nor the proxy daemon's command line or environment.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_SHA, startGithubApi, type GithubApi } from '../support/github-api.js';
import { startOidcIssuer } from '../support/oidc-issuer.js';
import { buildBundles, Job, TokenRequestServer, visibleLog, type StepResult } from './runner.js';

const PG_ADMIN = 'postgres://postgres@127.0.0.1:5432/test';
const tag = randomBytes(4).toString('hex');
const SCHEMA = `identity_e2e_${tag}`;
const ROLE = `identity_e2e_${tag}`;
const PASSWORD = `ipw-${randomBytes(12).toString('hex')}`;
const UPSTREAM = `postgres://${ROLE}:${PASSWORD}@127.0.0.1:5432/test`;
const OWNER_ID = '1234567';
const REPO_ID = '7654321';

const POLICY = `version: 1
roles:
  ci:
    match:
      repository_owner_id: ${OWNER_ID}
      repository_id: ${REPO_ID}
      repository: acme/app
      ref: [refs/heads/main, refs/pull/*/merge]
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["${SCHEMA}.*"] }
        - { action: deny,  kinds: [any] }
`;

let dist: string;
let issuer: Awaited<ReturnType<typeof startOidcIssuer>>;
let api: GithubApi;
let tokens: TokenRequestServer;
let admin: pg.Client;
const jobs: Job[] = [];

function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sub: 'repo:acme/app:pull_request',
    repository: 'acme/app',
    repository_owner: 'acme',
    repository_id: REPO_ID,
    repository_owner_id: OWNER_ID,
    ref: 'refs/pull/12/merge',
    actor: 'dev1',
    event_name: 'pull_request',
    ...over,
  };
}

/** A job whose runner hands out exactly `token`. */
function job(token: string, eventName = 'pull_request'): Job {
  tokens.token = token;
  const j = new Job({
    dist,
    inputs: { policy: 'tollgate.yml', upstream: UPSTREAM, listen: '127.0.0.1:0', 'github-token': api.token, 'oidc-issuer': issuer.url },
    eventName,
    event: { number: 12, pull_request: { number: 12, head: { sha: 'e'.repeat(40) } } },
    tokenRequest: { url: tokens.url, token: tokens.bearer },
    apiUrl: api.url,
    workspace: { 'tollgate.yml': POLICY },
  });
  jobs.push(j);
  return j;
}

const errors = (r: StepResult) =>
  r.stdout.split('\n').filter((l) => l.startsWith('::error::')).map((l) => l.slice('::error::'.length).replace(/%0A/g, '\n').replace(/%25/g, '%')).join('\n');

/** Every file under `dir`, with its text. */
function filesUnder(dir: string): { where: string; text: string }[] {
  if (!existsSync(dir)) return [];
  const out: { where: string; text: string }[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push({ where: p, text: readFileSync(p, 'latin1') });
  }
  return out;
}

beforeAll(async () => {
  dist = buildBundles();
  issuer = await startOidcIssuer();
  api = await startGithubApi({ repository: 'acme/app' });
  // Pull-request jobs read the policy as it is on the base commit (the contents API), never the workspace.
  api.setFile(BASE_SHA, 'tollgate.yml', POLICY);
  tokens = await new TokenRequestServer().start();
  admin = new pg.Client(PG_ADMIN);
  await admin.connect();
  await admin.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}'`);
  await admin.query(`CREATE SCHEMA ${SCHEMA} AUTHORIZATION ${ROLE}`);
  await admin.query(`CREATE TABLE ${SCHEMA}.t (id int); INSERT INTO ${SCHEMA}.t VALUES (41); ALTER TABLE ${SCHEMA}.t OWNER TO ${ROLE}`);
}, 180_000);

afterAll(async () => {
  for (const j of jobs) {
    const pid = j.pid();
    if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* already stopped */ }
  }
  await admin?.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => undefined);
  await admin?.query(`DROP ROLE IF EXISTS ${ROLE}`).catch(() => undefined);
  await admin?.end();
  await tokens?.close();
  await api?.close();
  await issuer?.close();
});

describe('dangerous events', () => {
  it('a pull_request_target token is refused by a role that does not name the event; nothing starts', async () => {
    const j = job(await issuer.mint(claims({ event_name: 'pull_request_target', ref: 'refs/heads/main', sub: 'repo:acme/app:pull_request' }), { audience: 'tollgate' }), 'pull_request_target');
    const r = await j.main();
    expect(r.code).toBe(1);
    expect(errors(r)).toBe(
      'this job was started by a pull_request_target event, and role "ci" matches the other claims but does not name pull_request_target in event_name: a pull_request_target job runs the base branch\'s workflow with its ref, secrets and write token, but anyone who can open a pull request (from a fork too) starts it, and a workflow that checks out or builds the pull request runs their code with those. A role admits such jobs only when its match lists `event_name: pull_request_target` literally (a glob such as * does not opt in); do that only for a role whose workflow never runs the pull request\'s code with it.',
    );
    expect(j.state()).toEqual({});
    expect(j.exported()).toEqual({});
  });

  it('a renamed organization (same names, other ids) is refused', async () => {
    const j = job(await issuer.mint(claims({ repository_owner_id: '99000000', repository_id: '99000001' }), { audience: 'tollgate' }));
    const r = await j.main();
    expect(r.code).toBe(1);
    expect(errors(r)).toBe(
      `no role in tollgate.yml (base commit ${BASE_SHA.slice(0, 12)}) matches the claims (checked repository_owner_id="99000000", repository_id="99000001", repository="acme/app", ref="refs/pull/12/merge" against roles ci). Add or widen a role's \`match\` in the policy, or run this job where a role applies.`,
    );
    expect(j.state()).toEqual({});
  });
});

describe('the OIDC token is never written anywhere', () => {
  it('a whole job (main, a psql step, post) leaves the token nowhere but the mask registration', async () => {
    const token = await issuer.mint(claims(), { audience: 'tollgate' });
    const signature = token.split('.')[2]!;
    expect(signature.length).toBeGreaterThan(100);
    const j = job(token);
    const main = await j.main();
    expect(main.code, `${main.stdout}\n${main.stderr}`).toBe(0);

    // The daemon's command line and environment, read while it runs.
    const pid = j.pid()!;
    const proc = ['cmdline', 'environ'].map((f) => readFileSync(`/proc/${pid}/${f}`, 'latin1'));
    expect(proc.join('\n')).not.toContain(signature);

    const step = await j.psql(`SELECT id FROM ${SCHEMA}.t`);
    expect(step.stdout.trim()).toBe('41');
    const post = await j.post();
    expect(post.code, `${post.stdout}\n${post.stderr}`).toBe(0);

    // The only place the token appears: the runner's mask registration, which the runner consumes.
    const raw = j.steps.map((s) => `${s.result.stdout}\n${s.result.stderr}`).join('\n');
    expect(raw.split('\n').filter((l) => l.includes(signature))).toEqual([`::add-mask::${token}`]);
    const everything = [
      ...j.captured().map((c) => ({ ...c, text: visibleLog(c.text) })),
      ...filesUnder(j.workspace),
      ...filesUnder(j.runnerTemp),
      { where: 'GitHub API calls', text: JSON.stringify(api.calls()) },
    ];
    expect(everything.filter((c) => j.runnerTemp && c.where.includes('audit-')).length, 'an audit log was scanned').toBeGreaterThan(0);
    for (const { where, text } of everything) expect(text.includes(signature), `${where} holds the OIDC token`).toBe(false);
  });
});
