// The action end to end, as a runner runs it: `node main.js`, `psql` steps and `node post.js` as separate
// processes, against a local OIDC issuer, a local stand-in of the GitHub REST API and the real
// PostgreSQL on 127.0.0.1:5432. The bundles are built fresh into a temp dir first.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_SHA, startGithubApi, type GithubApi } from '../support/github-api.js';
import { foreignKey, startOidcIssuer } from '../support/oidc-issuer.js';
import { isAlive } from '../../src/action/daemon.js';
import { buildBundles, Job, TokenRequestServer, visibleLog, waitFor, type StepResult } from './runner.js';

const PG_ADMIN = 'postgres://postgres@127.0.0.1:5432/test';
const tag = randomBytes(4).toString('hex');
const SCHEMA = `action_e2e_${tag}`;
const UPSTREAM_ROLE = `action_e2e_${tag}`;
const UPSTREAM_PASSWORD = `upw-${randomBytes(12).toString('hex')}`;
const UPSTREAM = `postgres://${UPSTREAM_ROLE}:${UPSTREAM_PASSWORD}@127.0.0.1:5432/test`;
const HEAD_SHA = 'e'.repeat(40);
const PR_NUMBER = 12;
const PR_EVENT = { action: 'synchronize', number: PR_NUMBER, pull_request: { number: PR_NUMBER, head: { sha: HEAD_SHA, ref: 'feature' } } };
const PUSH_EVENT = { ref: 'refs/heads/main', after: 'c'.repeat(40) };

const POLICY = `version: 1
defaults:
  session_ttl: 60m
  approval_timeout: 30m
roles:
  e2e-writer:
    match:
      repository: acme/app
      ref: [refs/heads/main, refs/pull/*/merge]
    postgres:
      rules:
        - { action: allow,  kinds: [read],  objects: ["${SCHEMA}.*"] }
        - { action: review, kinds: [write], objects: ["${SCHEMA}.orders"] }
        - { action: deny,   kinds: [any] }
      masks:
        - { columns: ["${SCHEMA}.users.email"], strategy: "null" }
        - { columns: ["*.ssn"], strategy: redact }
  e2e-dba-approved:
    match:
      repository: acme/app
    approvers: [acme/dba]
    postgres:
      rules:
        - { action: review, kinds: [write], objects: ["${SCHEMA}.orders"] }
        - { action: deny,   kinds: [any] }
`;

let dist: string;
let issuer: Awaited<ReturnType<typeof startOidcIssuer>>;
let api: GithubApi;
let tokens: TokenRequestServer;
let admin: pg.Client;
const jobs: Job[] = [];
/** Session secrets main handed out, read back from what it exported. */
const sessionSecrets: string[] = [];

function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sub: 'repo:acme/app:pull_request',
    repository: 'acme/app',
    repository_owner: 'acme',
    ref: 'refs/pull/12/merge',
    sha: 'c'.repeat(40),
    actor: 'dev1',
    actor_id: String(api.account('dev1')),
    workflow: 'migrate',
    event_name: 'pull_request',
    run_id: '4242',
    ...over,
  };
}

interface JobSpec {
  event?: 'pr' | 'push';
  inputs?: Record<string, string>;
  /** Claims over the defaults, for a token the issuer mints on request. */
  claims?: Record<string, unknown>;
  /** A token handed out verbatim instead. */
  token?: string;
  /** The job has no `id-token: write`: the runner offers no token request URL. */
  noIdToken?: boolean;
  /** The policy file in the workspace (the pull request's copy); default POLICY. */
  workspacePolicy?: string;
}

/**
 * A job whose runner hands out `spec.token` when given (bad tokens), else a token the local issuer mints
 * for the requested audience with `spec.claims`, as GitHub's token service does.
 */
async function job(spec: JobSpec = {}): Promise<Job> {
  tokens.token = spec.token ?? '';
  issuer.requestServer.claims = claims(spec.claims);
  const j = new Job({
    dist,
    inputs: {
      policy: 'tollgate.yml',
      upstream: UPSTREAM,
      audience: 'tollgate',
      listen: '127.0.0.1:0',
      'github-token': api.token,
      'approval-poll': '200ms',
      'oidc-issuer': issuer.url,
      ...spec.inputs,
    },
    eventName: spec.event === 'push' ? 'push' : 'pull_request',
    event: spec.event === 'push' ? PUSH_EVENT : PR_EVENT,
    tokenRequest: spec.noIdToken ? undefined : spec.token ? { url: tokens.url, token: tokens.bearer } : { url: issuer.requestServer.url, token: issuer.requestServer.token },
    apiUrl: api.url,
    workspace: { 'tollgate.yml': spec.workspacePolicy ?? POLICY },
  });
  jobs.push(j);
  return j;
}

/** main, expecting it to succeed. */
async function started(spec: JobSpec = {}): Promise<Job> {
  const j = await job(spec);
  const r = await j.main();
  expect(r.code, `main failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
  const pw = j.exported().PGPASSWORD;
  if (pw) sessionSecrets.push(pw);
  return j;
}

/** The ::error:: lines of a step's output, as the runner shows them (one message). */
function errors(r: StepResult): string {
  return r.stdout.split('\n').filter((l) => l.startsWith('::error::')).map((l) => l.slice('::error::'.length).replace(/%0A/g, '\n').replace(/%25/g, '%')).join('\n');
}

/** A comment on the job's pull request. */
function comment(login: string, body: string, opts: { type?: 'User' | 'Bot' } = {}) {
  return api.addComment(login, body, { ...opts, issue: PR_NUMBER });
}

async function rows(sql: string): Promise<unknown[]> {
  return (await admin.query(sql)).rows;
}

/** The check run of a new request; returns once a reviewer's comment would count as newer than it. */
async function pendingCheckRun(after = 0) {
  const run = await waitFor('a check run waiting for approval', () => api.checkRuns().find((c) => c.status !== 'completed' && c.id > after));
  // GitHub's timestamps have whole seconds: a human's answer comes later than the request.
  await new Promise((r) => setTimeout(r, 1_100));
  return run;
}

async function completedCheckRun(id: number) {
  return waitFor('the check run to complete', () => api.checkRuns().find((c) => c.id === id && c.status === 'completed'));
}

beforeAll(async () => {
  dist = buildBundles();
  issuer = await startOidcIssuer();
  api = await startGithubApi({ repository: 'acme/app' });
  tokens = await new TokenRequestServer().start();
  admin = new pg.Client(PG_ADMIN);
  await admin.connect();
  await admin.query(`CREATE ROLE ${UPSTREAM_ROLE} LOGIN PASSWORD '${UPSTREAM_PASSWORD}'`);
  await admin.query(`CREATE SCHEMA ${SCHEMA} AUTHORIZATION ${UPSTREAM_ROLE}`);
  await admin.query(`CREATE TABLE ${SCHEMA}.users (id int PRIMARY KEY, name text, email text, ssn text)`);
  await admin.query(`CREATE TABLE ${SCHEMA}.orders (id int PRIMARY KEY, item text)`);
  await admin.query(`INSERT INTO ${SCHEMA}.users VALUES (1, 'ada', 'ada@example.com', '123-45-6789'), (2, 'bob', 'bob@example.com', '987-65-4321')`);
  await admin.query(`ALTER TABLE ${SCHEMA}.users OWNER TO ${UPSTREAM_ROLE}; ALTER TABLE ${SCHEMA}.orders OWNER TO ${UPSTREAM_ROLE}`);
  // The policy as merged on the pull request's base branch: what judges pull-request jobs.
  api.setFile(BASE_SHA, 'tollgate.yml', POLICY);
  api.setPermission('reviewer1', 'write');
  api.setPermission('dev1', 'admin');
  api.setPermission('reader1', 'read');
  api.setPermission('ci-bot[bot]', 'write');
}, 180_000);

afterAll(async () => {
  for (const j of jobs) {
    const pid = j.pid();
    if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* already stopped */ }
  }
  await admin?.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => undefined);
  await admin?.query(`DROP ROLE IF EXISTS ${UPSTREAM_ROLE}`).catch(() => undefined);
  await admin?.end();
  await tokens?.close();
  await api?.close();
  await issuer?.close();
});

describe('a job with the gateway', () => {
  it('main starts the proxy, exports PG* for later steps, sets outputs and saves state', async () => {
    const j = await started();
    expect(issuer.requestServer.requests.at(-1)).toEqual({ audience: 'tollgate', authorized: true });
    const env = j.exported();
    expect(Object.keys(env).sort()).toEqual(['DATABASE_URL', 'PGCLIENTENCODING', 'PGDATABASE', 'PGHOST', 'PGPASSWORD', 'PGPORT', 'PGSSLMODE', 'PGUSER']);
    expect(env).toMatchObject({ PGHOST: '127.0.0.1', PGUSER: 'tollgate', PGDATABASE: 'test', PGSSLMODE: 'disable', PGCLIENTENCODING: 'UTF8' });
    expect(Number(env.PGPORT)).toBeGreaterThan(0);
    expect(env.DATABASE_URL).toBe(`postgres://tollgate:${encodeURIComponent(env.PGPASSWORD!)}@127.0.0.1:${env.PGPORT}/test?sslmode=disable`);
    const out = j.outputs();
    expect(out.role).toBe('e2e-writer');
    expect(out['database-url']).toBe(env.DATABASE_URL);
    expect(Date.parse(out['expires-at']!)).toBeGreaterThan(Date.now() + 59 * 60_000);
    expect(Date.parse(out['expires-at']!)).toBeLessThanOrEqual(Date.now() + 60 * 60_000);
    expect(Object.keys(j.state()).sort()).toEqual(['tollgate_audit_path', 'tollgate_listen', 'tollgate_log_path', 'tollgate_pid', 'tollgate_role', 'tollgate_session_id']);
    expect(j.state().tollgate_session_id).toBe(out['session-id']);
    // The secret is registered as a mask before anything else could print it.
    const main = j.steps[0]!.result.stdout;
    expect(main).toContain(`::add-mask::${env.PGPASSWORD}`);
    expect(main.indexOf(`::add-mask::${env.PGPASSWORD}`)).toBeLessThan(main.indexOf('::set-output') === -1 ? Infinity : main.indexOf('::set-output'));

    expect(main).toContain('::notice::tollgate: statements that need review wait for approval on https://github.com/acme/app/pull/12/checks (one check run each); a reviewer answers with a pull request comment "/tollgate approve <id>" or "/tollgate deny <id>".');

    // allow: a plain psql step reads through the gateway.
    const read = await j.psql(`SELECT id, name FROM ${SCHEMA}.users ORDER BY id`);
    expect(read).toMatchObject({ code: 0, stdout: '1|ada\n2|bob\n' });

    // deny: refused with SQLSTATE 42501, nothing reaches the database, the job's step fails.
    const denied = await j.psql(`DELETE FROM ${SCHEMA}.users`);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^ERROR: {2}tollgate: denied/m);
    expect(await rows(`SELECT count(*)::int AS n FROM ${SCHEMA}.users`)).toEqual([{ n: 2 }]);

    // mask: the masked columns never reach the client.
    const masked = await j.psql(`SELECT id, email FROM ${SCHEMA}.users ORDER BY id`);
    expect(masked).toMatchObject({ code: 0, stdout: '1|\n2|\n' });
    expect(await j.psql(`SELECT ssn FROM ${SCHEMA}.users ORDER BY id`)).toMatchObject({ code: 0, stdout: '***\n***\n' });

    const post = await j.post();
    if (process.env.TOLLGATE_E2E_DUMP) for (const st of j.steps) console.log(`--- ${st.name}\n${st.result.stdout}\n${st.result.stderr}`), console.log(j.summary());
    expect(post.code, `post failed:\n${post.stdout}\n${post.stderr}`).toBe(0);
    expect(post.stdout).toContain('tollgate: proxy stopped.');
    expect(post.stdout).toMatch(/tollgate: audit chain verified \(\d+ records, head [0-9a-f]{64}\)\./);
    // No artifact service in this environment: said so, with the path, and the job does not fail.
    expect(post.stdout).toContain(`::notice::tollgate: audit log not uploaded: the artifact service is not available to this step`);
    const summary = j.summary();
    expect(summary).toContain(out['session-id']);
    expect(summary).not.toContain('ada@example.com');
    expect(summary).not.toContain('123-45-6789');
    // The proxy is gone after post (zombie-aware: nothing here reaps the detached daemon).
    expect(isAlive(j.pid()!)).toBe(false);
  });

  it('review on a push build is denied at once, saying why', async () => {
    const j = await started({ event: 'push', claims: { ref: 'refs/heads/main', event_name: 'push', sub: 'repo:acme/app:ref:refs/heads/main' } });
    const before = api.checkRuns().length;
    const r = await j.psql(`INSERT INTO ${SCHEMA}.orders VALUES (100, 'push')`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERROR: {2}tollgate: denied/m);
    expect(r.stderr).toContain('not a pull request');
    expect(api.checkRuns()).toHaveLength(before);
    expect(await rows(`SELECT id FROM ${SCHEMA}.orders WHERE id = 100`)).toEqual([]);
    expect((await j.post()).code).toBe(0);
  });
});

describe('the policy on a pull request is the base commit\'s', () => {
  // The pull request's copy drops the masks, allows everything and trusts whoever it likes.
  const EDITED = POLICY
    .replace(`        - { action: allow,  kinds: [read],  objects: ["${SCHEMA}.*"] }`, '        - { action: allow,  kinds: [any] }')
    .replace(/      masks:\n(        - .*\n)+/, '');
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');

  it("the pull request's edit of its policy has no effect: the base commit's policy judges it, and the summary says which copy and its hash", async () => {
    expect(EDITED).not.toContain('masks');
    const j = await started({ workspacePolicy: EDITED });
    const denied = await j.psql(`DELETE FROM ${SCHEMA}.users`);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^ERROR: {2}tollgate: denied/m);
    expect(await rows(`SELECT count(*)::int AS n FROM ${SCHEMA}.users`)).toEqual([{ n: 2 }]);
    expect(await j.psql(`SELECT id, email FROM ${SCHEMA}.users ORDER BY id`)).toMatchObject({ code: 0, stdout: '1|\n2|\n' });
    const line = `\`tollgate.yml\` as on the pull request's base commit ${BASE_SHA} (the pull request's own copy is not used), sha256 ${sha(POLICY)}.`;
    expect(j.steps.find((st) => st.name === 'main')!.result.stdout).toContain(`tollgate: policy: ${line}`);
    expect(j.summary()).toContain(`**tollgate policy:** ${line.replace(`sha256 ${sha(POLICY)}`, `sha256 \`${sha(POLICY)}\``)}`);
    expect(api.calls({ path: /\/contents\/tollgate\.yml$/ }).at(-1)!.query).toEqual({ ref: BASE_SHA });
    expect((await j.post()).code).toBe(0);
  });

  it('the workspace copy is used only when the base commit\'s policy opts in', async () => {
    const optIn = `${POLICY}pull_requests:\n  policy: workspace\n`;
    api.setFile(BASE_SHA, 'tollgate.yml', optIn);
    try {
      const j = await started({ workspacePolicy: EDITED });
      expect(await j.psql(`SELECT id, email FROM ${SCHEMA}.users ORDER BY id`)).toMatchObject({ code: 0, stdout: '1|ada@example.com\n2|bob@example.com\n' });
      expect(j.summary()).toContain(`**tollgate policy:** \`tollgate.yml\`, the workspace copy (the base commit ${BASE_SHA}'s policy opts in with \`pull_requests.policy: workspace\`), sha256 \`${sha(EDITED)}\`.`);
      expect((await j.post()).code).toBe(0);
    } finally {
      api.setFile(BASE_SHA, 'tollgate.yml', POLICY);
    }
  });

  it('a policy that is not on the base commit is refused, never read from the pull request', async () => {
    const j = await job({ inputs: { policy: 'new-policy.yml' } });
    const r = await j.main();
    expect(r.code).toBe(1);
    expect(errors(r)).toBe(`The policy file new-policy.yml does not exist on the pull request's base commit ${BASE_SHA}. A pull request cannot bring its own policy: merge the policy into the base branch first.`);
  });

  it('on a push the workspace copy is used, and the summary says so', async () => {
    const j = await started({ event: 'push', claims: { ref: 'refs/heads/main', event_name: 'push', sub: 'repo:acme/app:ref:refs/heads/main' } });
    expect(j.summary()).toContain(`**tollgate policy:** \`tollgate.yml\`, the workspace copy, sha256 \`${sha(POLICY)}\`.`);
    expect((await j.post()).code).toBe(0);
  });
});

describe('approvals on the pull request', () => {
  it('approved: the statement waits for /tollgate approve, then runs; the check run records who', async () => {
    const j = await started();
    const last = Math.max(0, ...api.checkRuns().map((c) => c.id));
    const insert = j.psql(`INSERT INTO ${SCHEMA}.orders VALUES (1, 'widget')`);
    const check = await pendingCheckRun(last);
    expect(check.head_sha).toBe(HEAD_SHA);
    expect(check.name).toBe(`tollgate: approve insert on ${SCHEMA}.orders`);
    expect(check.external_id).toMatch(/\S+/);
    expect(JSON.stringify(check.output)).not.toContain('widget');
    expect(await rows(`SELECT id FROM ${SCHEMA}.orders WHERE id = 1`)).toEqual([]);
    comment('reviewer1', `/tollgate approve ${check.external_id}`);
    const r = await insert;
    expect(r.code, r.stderr).toBe(0);
    expect(await rows(`SELECT id, item FROM ${SCHEMA}.orders WHERE id = 1`)).toEqual([{ id: 1, item: 'widget' }]);
    const done = await completedCheckRun(check.id);
    expect(done.conclusion).toBe('success');
    expect(JSON.stringify(done.output)).toContain('reviewer1');
    const post = await j.post();
    if (process.env.TOLLGATE_E2E_DUMP) for (const st of j.steps) console.log(`--- ${st.name}\n${st.result.stdout}\n${st.result.stderr}`), console.log(j.summary());
    expect(post.code).toBe(0);
    // The proxy's own lines (the check run URL, the answer) reach the job log in post.
    expect(post.stdout).toContain(`tollgate: approval needed for request ${check.external_id}: ${check.html_url}`);
    expect(post.stdout).toContain(`tollgate: request ${check.external_id} approved by reviewer1`);
    expect(j.summary()).toContain('reviewer1');
  });

  it('denied: /tollgate deny refuses the statement and fails the check run', async () => {
    const j = await started();
    const last = Math.max(0, ...api.checkRuns().map((c) => c.id));
    const insert = j.psql(`INSERT INTO ${SCHEMA}.orders VALUES (2, 'gadget')`);
    const check = await pendingCheckRun(last);
    comment('reviewer1', `/tollgate deny ${check.external_id}`);
    const r = await insert;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERROR: {2}tollgate: denied/m);
    expect(await rows(`SELECT id FROM ${SCHEMA}.orders WHERE id = 2`)).toEqual([]);
    expect((await completedCheckRun(check.id)).conclusion).toBe('failure');
    expect((await j.post()).code).toBe(0);
  });

  it('timed out: no answer within approval-timeout denies and completes the check run as timed_out', async () => {
    const j = await started({ inputs: { 'approval-timeout': '3s' } });
    const last = Math.max(0, ...api.checkRuns().map((c) => c.id));
    const t0 = Date.now();
    const insert = j.psql(`INSERT INTO ${SCHEMA}.orders VALUES (3, 'late')`);
    const check = await pendingCheckRun(last);
    const r = await insert;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERROR: {2}tollgate: denied/m);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2_900);
    expect(await rows(`SELECT id FROM ${SCHEMA}.orders WHERE id = 3`)).toEqual([]);
    expect((await completedCheckRun(check.id)).conclusion).toBe('timed_out');
    expect((await j.post()).code).toBe(0);
  });

  it('refuses answers from the actor, a reader, an edited comment, a bot and for another id; accepts a valid one after them', async () => {
    const j = await started();
    const last = Math.max(0, ...api.checkRuns().map((c) => c.id));
    const insert = j.psql(`INSERT INTO ${SCHEMA}.orders VALUES (4, 'guarded')`);
    const check = await pendingCheckRun(last);
    const id = check.external_id!;
    comment('dev1', `/tollgate approve ${id}`); // self-approval: the job's actor
    comment('reader1', `/tollgate approve ${id}`); // no write permission
    const edited = comment('reviewer1', `/tollgate deny ${id}`);
    api.editComment(edited.id, `/tollgate approve ${id}`); // edited after posting
    comment('ci-bot[bot]', `/tollgate approve ${id}`, { type: 'Bot' }); // a bot
    comment('reviewer1', `/tollgate approve not-${id}`); // wrong id
    // Each refusal is shown on the check run, with its reason; the statement still waits.
    const REFUSALS = [
      'self-approval',
      'no write permission on acme/app',
      'the comment was edited',
      'bot accounts cannot answer',
      `wrong request id "not-${id}"`,
    ];
    const shown = await waitFor('the refusals on the check run', () => {
      const c = api.checkRuns().find((x) => x.id === check.id)!;
      const text = `${c.output.summary ?? ''}\n${c.output.text ?? ''}`;
      return REFUSALS.every((r) => text.includes(r)) ? c : undefined;
    });
    expect(shown.status).not.toBe('completed');
    expect(await rows(`SELECT id FROM ${SCHEMA}.orders WHERE id = 4`)).toEqual([]);
    comment('reviewer1', `/tollgate approve ${id}`);
    const r = await insert;
    expect(r.code, r.stderr).toBe(0);
    const done = await completedCheckRun(check.id);
    expect(done.conclusion).toBe('success');
    expect((await j.post()).code).toBe(0);
    // The audit log records the single accepted approval, by reviewer1.
    const audit = readFileSync(j.state().tollgate_audit_path!, 'utf8');
    const approvals = audit.trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.approval);
    expect(approvals.map((l) => [l.approval.approved, l.approval.approver])).toEqual([[true, 'reviewer1']]);
  });
});

describe('a role with approvers (org/team), chosen with the role input', () => {
  it('refuses a writer outside the team and accepts a team member', async () => {
    api.setPermission('dba1', 'write');
    api.setTeamMembers('acme', 'dba', ['dba1']);
    const j = await started({ inputs: { role: 'e2e-dba-approved', 'session-ttl': '2h' } });
    expect(j.outputs().role).toBe('e2e-dba-approved');
    // The policy's session_ttl (60m) bounds what the workflow asks for.
    expect(Date.parse(j.outputs()['expires-at']!)).toBeLessThanOrEqual(Date.now() + 60 * 60_000);
    const last = Math.max(0, ...api.checkRuns().map((c) => c.id));
    const insert = j.psql(`INSERT INTO ${SCHEMA}.orders VALUES (5, 'team')`);
    const check = await pendingCheckRun(last);
    comment('reviewer1', `/tollgate approve ${check.external_id}`);
    await waitFor('the refusal of reviewer1', () => (String(api.checkRuns().find((c) => c.id === check.id)!.output.summary).includes("not in this role's approvers") ? true : undefined));
    expect(await rows(`SELECT id FROM ${SCHEMA}.orders WHERE id = 5`)).toEqual([]);
    comment('dba1', `/tollgate approve ${check.external_id}`);
    expect((await insert).code).toBe(0);
    const done = await completedCheckRun(check.id);
    expect(done.conclusion).toBe('success');
    expect(done.output.summary).toContain('dba1');
    expect(await rows(`SELECT id FROM ${SCHEMA}.orders WHERE id = 5`)).toEqual([{ id: 5 }]);
    expect((await j.post()).code).toBe(0);
  });
});

describe('the kit: the starter workflow calling the reusable migration workflow', () => {
  type Obj = Record<string, any>;
  const starter = parse(readFileSync('workflows/db-migration.yml', 'utf8')) as Obj;
  const call = starter.jobs.migrate as Obj;
  const reusable = parse(readFileSync(call.uses.replace(/^[^/]+\/[^/]+\/(.*)@.*$/, '$1'), 'utf8')) as Obj;
  const declared = reusable.on.workflow_call.inputs as Obj;
  const steps = reusable.jobs.migrate.steps as Obj[];

  /** `${{ inputs.x }}` / `${{ secrets.x }}` as GitHub evaluates them for this call. */
  function evaluate(value: string, secrets: Record<string, string>): string {
    return value.replace(/\$\{\{\s*(inputs|secrets)\.([A-Za-z0-9_-]+)\s*\}\}/g, (_m, ctx: string, name: string) => {
      if (ctx === 'secrets') return secrets[name] ?? '';
      return String(call.with[name] ?? declared[name]?.default ?? '');
    });
  }

  it("runs the starter's command behind the gateway with the reusable workflow's steps", async () => {
    const secrets = { 'upstream-url': UPSTREAM };
    const gateway = steps.find((st) => st.id === 'gateway')!;
    const migrate = steps.find((st) => st.name === 'Migrate')!;
    const withs = Object.fromEntries(Object.entries(gateway.with as Obj).map(([k, v]) => [k, evaluate(String(v), secrets)]));
    const policyPath = call.with.policy as string;
    const policy = `version: 1
roles:
  migrator:
    match: { repository: acme/app, ref: refs/heads/main }
    postgres:
      rules:
        - { action: allow, kinds: [ddl, write, read], objects: ["${SCHEMA}.*"] }
        - { action: deny,  kinds: [any] }
`;
    issuer.requestServer.claims = claims({ ref: 'refs/heads/main', event_name: 'push', sub: 'repo:acme/app:ref:refs/heads/main' });
    const j = new Job({
      dist,
      // What the workflow passes, plus what only a test sets: the local issuer, a free port, the local API.
      inputs: { ...withs, 'oidc-issuer': issuer.url, listen: '127.0.0.1:0', 'github-token': api.token },
      eventName: 'push',
      event: PUSH_EVENT,
      tokenRequest: { url: issuer.requestServer.url, token: issuer.requestServer.token },
      apiUrl: api.url,
      workspace: {
        [policyPath]: policy,
        'migrations/latest.sql': `CREATE TABLE ${SCHEMA}.migrated (id int PRIMARY KEY);\nINSERT INTO ${SCHEMA}.migrated VALUES (1);\n`,
      },
    });
    jobs.push(j);
    expect(withs.upstream).toBe(UPSTREAM);
    expect(withs.policy).toBe('.github/tollgate.yml');
    const main = await j.main();
    expect(main.code, main.stdout).toBe(0);
    sessionSecrets.push(j.exported().PGPASSWORD!);
    const env = Object.fromEntries(Object.entries(migrate.env as Obj).map(([k, v]) => [k, evaluate(String(v), secrets)]));
    expect(migrate.run).toBe('bash -eo pipefail -c "$TOLLGATE_COMMAND"');
    const ran = await j.shell(migrate.run, env, evaluate(String(migrate['working-directory']), secrets));
    expect(ran.code, ran.stderr).toBe(0);
    expect(await rows(`SELECT id FROM ${SCHEMA}.migrated`)).toEqual([{ id: 1 }]);
    // A statement outside the policy fails the migration step.
    const bad = await j.shell(migrate.run, { TOLLGATE_COMMAND: `psql -v ON_ERROR_STOP=1 -c "DROP SCHEMA ${SCHEMA} CASCADE"` });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/ERROR: {2}tollgate: denied/);
    const post = await j.post();
    expect(post.code, post.stdout).toBe(0);
    expect(j.summary()).toContain(`DROP SCHEMA ${SCHEMA} CASCADE`);
  });
});

describe('session and proxy lifetime', () => {
  it('after the session expires every new statement is denied', async () => {
    const j = await started({ inputs: { 'session-ttl': '3s' } });
    const expires = Date.parse(j.outputs()['expires-at']!);
    expect(expires - Date.now()).toBeLessThanOrEqual(3_000);
    expect(await j.psql('SELECT 1')).toMatchObject({ code: 0, stdout: '1\n' });
    await new Promise((r) => setTimeout(r, Math.max(0, expires - Date.now()) + 300));
    const r = await j.psql('SELECT 1');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('tollgate: session expired');
    expect((await j.post()).code).toBe(0);
  });

  it('a proxy killed mid-job fails the job in post', async () => {
    const j = await started();
    expect((await j.psql('SELECT 1')).code).toBe(0);
    process.kill(j.pid()!, 'SIGKILL');
    const r = await j.psql('SELECT 1');
    expect(r.code).toBe(2); // psql: cannot connect
    const post = await j.post();
    expect(post.code).toBe(1);
    expect(errors(post)).toContain(`The tollgate proxy (pid ${j.pid()}) stopped during the job`);
  });

  it('a tampered audit log fails the job in post', async () => {
    const j = await started();
    expect((await j.psql(`SELECT name FROM ${SCHEMA}.users WHERE id = 1`)).stdout).toBe('ada\n');
    const path = j.state().tollgate_audit_path!;
    await waitFor('audit records', () => (readFileSync(path, 'utf8').trim().split('\n').length >= 1 ? true : undefined));
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    const first = JSON.parse(lines[0]!);
    first.role = 'admin';
    lines[0] = JSON.stringify(first);
    writeFileSync(path, `${lines.join('\n')}\n`);
    const post = await j.post();
    expect(post.code).toBe(1);
    expect(errors(post)).toMatch(/^The audit log's hash chain is broken at line 1: /);
  });
});

describe('main refuses to start', () => {
  async function refused(spec: JobSpec): Promise<{ j: Job; message: string }> {
    const j = await job(spec);
    const r = await j.main();
    expect(r.code).toBe(1);
    // Nothing started, nothing exported, post has nothing to do and does not fail again.
    expect(j.state()).toEqual({});
    expect(j.exported()).toEqual({});
    const post = await j.post();
    expect(post.code).toBe(0);
    expect(post.stdout).toContain('no proxy was started in this job');
    if (process.env.TOLLGATE_E2E_DUMP) console.log(`MAIN ERROR: ${errors(r)}\nSTDOUT:${visibleLog(r.stdout)}\nSTDERR:${r.stderr}`);
    return { j, message: errors(r) };
  }

  it('a token with alg none', async () => {
    const { message } = await refused({ token: await issuer.mint(claims(), { alg: 'none', audience: 'tollgate' }) });
    expect(message).toBe(`The OIDC token is signed with algorithm "none", but only RS256 tokens from the issuer ${issuer.url} are accepted, so this token did not come from GitHub's token service.`);
  });

  it('a token for another audience', async () => {
    const { message } = await refused({ token: await issuer.mint(claims(), { audience: 'someone-else' }) });
    expect(message).toBe('The OIDC token was issued for audience "someone-else", not "tollgate"; request it with core.getIDToken("tollgate") or set the action\'s `audience` input to the audience the token is requested for.');
  });

  it('an expired token', async () => {
    const { message } = await refused({ token: await issuer.mint(claims(), { audience: 'tollgate', expiresIn: -600 }) });
    expect(message).toMatch(/^The OIDC token expired at \S+ \(now \S+, tolerance 60 s\); request the token right before it is used/);
  });

  it('an HMAC token signed with the public key', async () => {
    const { message } = await refused({ token: await issuer.mint(claims(), { alg: 'HS256', audience: 'tollgate' }) });
    expect(message).toBe(`The OIDC token is signed with algorithm "HS256", but only RS256 tokens from the issuer ${issuer.url} are accepted, so this token did not come from GitHub's token service.`);
  });

  it('a token signed by a key the issuer does not publish', async () => {
    const { message } = await refused({ token: await issuer.mint(claims(), { audience: 'tollgate', kid: 'not-published', key: await foreignKey() }) });
    expect(message).toBe(`The OIDC token's key id "not-published" is not among the keys published at ${issuer.url}/.well-known/jwks, so it was not issued by the issuer ${issuer.url}; check the \`oidc-issuer\` input.`);
  });

  it('an unreachable JWKS', async () => {
    // Each main is a new process, so no cached key set hides the failure.
    issuer.jwksFailure = 500;
    try {
      const { message } = await refused({});
      expect(message).toBe(`The OIDC issuer did not answer 200 OK for its signing keys at ${issuer.url}/.well-known/jwks, so the token cannot be verified and nothing was started; check the \`oidc-issuer\` input and the issuer's status.`);
    } finally {
      issuer.jwksFailure = null;
    }
  });

  it('no OIDC token (no id-token: write) is explained', async () => {
    const { message } = await refused({ noIdToken: true });
    expect(message).toBe('The runner offered this job no OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL is not set), which means the job lacks `permissions: id-token: write`; add it to the job\'s `permissions:` (with `contents: read`, `checks: write` and `pull-requests: read`, as listing permissions turns the others off).');
  });

  it('a refused token request is explained', async () => {
    issuer.requestServer.failWith = 403;
    try {
      const { message } = await refused({});
      expect(message).toBe('The runner\'s token service refused the OIDC token request (HTTP 403); check that the job has `permissions: id-token: write`.');
    } finally {
      issuer.requestServer.failWith = null;
    }
  });

  it('no role matches: the error names the claims checked', async () => {
    const { message } = await refused({ claims: { repository: 'evil/app' } });
    expect(message).toBe(`no role in tollgate.yml (base commit ${BASE_SHA.slice(0, 12)}) matches the claims (checked repository="evil/app", ref="refs/pull/12/merge" against roles e2e-writer, e2e-dba-approved). Add or widen a role's \`match\` in the policy, or run this job where a role applies.`);
  });

  it('a proxy that cannot listen fails the step with its own error', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const port = (taken.address() as AddressInfo).port;
      const { message } = await refused({ inputs: { listen: `127.0.0.1:${port}` } });
      expect(message).toMatch(/^The tollgate proxy exited with code [1-9]\d* before it listened\. Its output:\n/);
      expect(message).toContain('EADDRINUSE');
    } finally {
      taken.close();
    }
  });

  it('a policy that does not parse is a configuration error with the file and line', async () => {
    const bad = 'version: 1\nroles:\n  x:\n    match: {}\n    bogus: 1\n';
    // On a push: the workspace copy.
    const j = await job({ event: 'push', claims: { ref: 'refs/heads/main', event_name: 'push' } });
    writeFileSync(join(j.workspace, 'tollgate.yml'), bad);
    const r = await j.main();
    expect(r.code).toBe(1);
    expect(errors(r)).toMatch(/^The policy file could not be used: .*tollgate\.yml:\d+/);
    // On a pull request: the base commit's copy, named as such.
    api.setFile(BASE_SHA, 'tollgate.yml', bad);
    try {
      const k = await job({});
      const s = await k.main();
      expect(s.code).toBe(1);
      expect(errors(s)).toMatch(/^The policy file could not be used: tollgate\.yml \(base commit b{12}\):\d+: roles\.x\./);
    } finally {
      api.setFile(BASE_SHA, 'tollgate.yml', POLICY);
    }
  });
});

describe('secrets', () => {
  it('no log, output, env file, state, summary, proxy log or audit log shows the upstream password or a session secret', () => {
    expect(jobs.length).toBeGreaterThan(10);
    expect(sessionSecrets.length).toBeGreaterThan(5);
    // The upstream credentials, and the job's GitHub token, which no one but the proxy needs.
    const upstreamForms = [UPSTREAM_PASSWORD, UPSTREAM, encodeURIComponent(UPSTREAM_PASSWORD), api.token];
    // What reviewers see on the pull request: every check run the proxy created or updated.
    const toGithub = JSON.stringify(api.calls().map((c) => c.body));
    expect(api.calls({ method: 'POST', path: /check-runs$/ }).length).toBeGreaterThanOrEqual(4); // something to scan
    for (const s of [...upstreamForms, ...sessionSecrets]) expect(toGithub.includes(s), 'a request to the GitHub API carries a secret').toBe(false);
    // Nor the literal values of the statements reviewed.
    for (const literal of ['widget', 'gadget', 'guarded', "'late'"]) expect(toGithub.includes(literal), `the check runs show the literal ${literal}`).toBe(false);
    for (const j of jobs) {
      const texts = j.captured();
      const dirs = existsSync(j.runnerTemp) ? readdirSync(j.runnerTemp) : [];
      for (const d of dirs) for (const f of readdirSync(join(j.runnerTemp, d))) texts.push({ where: `${d}/${f}`, text: readFileSync(join(j.runnerTemp, d, f), 'utf8') });
      for (const { where, text } of texts) {
        const visible = visibleLog(text);
        for (const s of upstreamForms) expect(visible.includes(s), `${where} shows the upstream credentials`).toBe(false);
        for (const secret of sessionSecrets) {
          // By design the session secret is in what later steps receive (PGPASSWORD, DATABASE_URL and
          // the database-url output, all masked by the runner); nowhere else.
          if (where === 'env' || where === 'output') {
            const allowed = where === 'env' ? ['PGPASSWORD', 'DATABASE_URL'] : ['database-url'];
            const holders = Object.entries(where === 'env' ? j.exported() : j.outputs()).filter(([, v]) => v.includes(secret) || v.includes(encodeURIComponent(secret))).map(([k]) => k);
            for (const h of holders) expect(allowed, `${where}: ${h} holds the session secret`).toContain(h);
            continue;
          }
          expect(visible.includes(secret), `${where} shows a session secret`).toBe(false);
        }
      }
    }
  });
});
