// `post` as the runner runs it (a separate `node post.js` with STATE_*), against stand-in daemons and
// audit logs made with the real chain sealer: it stops the proxy, fails the job when the proxy died or
// the chain is broken, writes the summary, and never fails for a missing artifact service.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../src/action/daemon.js';
import { GENESIS, sealLine } from '../../src/audit/canonical.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-action-post-'));
const postJs = join(dir, 'post.mjs');
const pids: number[] = [];
const FAKE = join(dir, 'fake-daemon.mjs');

beforeAll(async () => {
  await build({
    entryPoints: ['src/action/post.ts'], outfile: postJs, bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'error',
    banner: { js: "import { createRequire as __c } from 'node:module'; const require = __c(import.meta.url);" },
    external: ['@electric-sql/pglite', '@electric-sql/pglite-socket', 'pg-native', 'cloudflare:sockets'],
  });
  writeFileSync(FAKE, "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000);\n");
}, 120_000);
afterAll(() => {
  for (const p of pids) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
});

/** A stand-in proxy, detached like the real one, with the command line `post` checks for. */
function fakeDaemon(): number {
  const child = spawn(process.execPath, [FAKE, 'serve', '--config', '-'], { detached: true, stdio: 'ignore' });
  child.unref();
  pids.push(child.pid!);
  return child.pid!;
}

function auditLog(name: string, entries: Record<string, unknown>[]): string {
  let prev = GENESIS;
  const lines = entries.map((e, i) => {
    const { hash, text } = sealLine({ ...e, seq: i + 1, prev });
    prev = hash;
    return text;
  });
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
  return path;
}

const ENTRIES = [
  { time: '2030-01-01T00:00:00.000Z', session: 'sess-1', identity: { repository: 'acme/app' }, role: 'r', type: 'sql', statement: 'SELECT * FROM public.users WHERE id = $1', decision: 'allow', rule: 'roles.r.postgres.rules[0]' },
  { time: '2030-01-01T00:00:01.000Z', session: 'sess-1', identity: { repository: 'acme/app' }, role: 'r', type: 'sql', statement: 'DELETE FROM public.users', decision: 'deny', rule: 'roles.r.postgres.rules[2]', reason: 'denied by rule' },
];

function post(state: Record<string, string>, extraEnv: Record<string, string> = {}) {
  const summary = join(dir, `summary-${Math.random()}.md`);
  writeFileSync(summary, '');
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, GITHUB_STEP_SUMMARY: summary, ...extraEnv };
  for (const [k, v] of Object.entries(state)) env[`STATE_${k}`] = v;
  const r = spawnSync(process.execPath, [postJs], { env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, summary: readFileSync(summary, 'utf8') };
}

function state(pid: number, auditPath: string): Record<string, string> {
  return { tollgate_pid: String(pid), tollgate_audit_path: auditPath, tollgate_log_path: join(dir, 'none.log'), tollgate_session_id: 'sess-1', tollgate_role: 'r', tollgate_listen: '127.0.0.1:6432' };
}

// Zombie-aware: the stand-ins are this process's children until it reaps them.
const alive = isAlive;

describe('post', () => {
  it('with no saved state (main failed early) does nothing and does not fail', () => {
    const r = post({});
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('tollgate: no proxy was started in this job (main did not finish), nothing to stop.');
  });

  it('stops a live proxy, verifies the chain, writes the summary, says the artifact service is missing', () => {
    const pid = fakeDaemon();
    const path = auditLog('ok.jsonl', ENTRIES);
    const r = post(state(pid, path));
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('tollgate: proxy stopped.');
    expect(r.stdout).toMatch(/tollgate: audit chain verified \(2 records, head [0-9a-f]{64}\)\./);
    expect(r.stdout).toContain(`::notice::tollgate: audit log not uploaded: the artifact service is not available to this step (no ACTIONS_RUNTIME_TOKEN / ACTIONS_RESULTS_URL). It is at ${path} until the job ends.`);
    expect(r.summary).toContain('sess-1');
    expect(alive(pid)).toBe(false);
  });

  it('does not fail when the artifact upload itself fails', () => {
    const pid = fakeDaemon();
    const path = auditLog('ok2.jsonl', ENTRIES);
    const r = post(state(pid, path), { ACTIONS_RUNTIME_TOKEN: 'not-a-jwt', ACTIONS_RESULTS_URL: 'http://127.0.0.1:9/', GITHUB_SERVER_URL: 'https://github.com' });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/::notice::tollgate: audit log not uploaded: the artifact upload failed \(\w+\)\. It is at /);
  });

  it('fails the job when the proxy had died during the job', async () => {
    const pid = fakeDaemon();
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    const r = post(state(pid, auditLog('died.jsonl', ENTRIES)));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`::error::The tollgate proxy (pid ${pid}) stopped during the job`);
  });

  it('fails the job when the chain is broken, naming the line', () => {
    const pid = fakeDaemon();
    const path = auditLog('tampered.jsonl', ENTRIES);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"decision":"deny"', '"decision":"allow"'));
    const r = post(state(pid, path));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("::error::The audit log's hash chain is broken at line 2: hash does not match the line (edited). The log cannot be trusted.");
    expect(alive(pid)).toBe(false);
  });

  it("prints the proxy's log as data: no line can start a workflow command, secrets replaced", () => {
    const pid = fakeDaemon();
    const logPath = join(dir, 'hostile-proxy.log');
    const hostile = [
      'tollgate: listening on 127.0.0.1:6432',
      '::error::pwned',
      '::add-mask::Ada',
      '::endgroup::',
      '  ::warning file=x::indented',
      '##[group]fake group',
      '::stop-commands::guess',
      'a\rb::error::carriage return',
      'upstream postgres://app:s3cret-pw@db/x password s3cret-pw session sess-secret-1 token ghs_tok1',
    ].join('\n');
    writeFileSync(logPath, `${hostile}\n`);
    const r = post({ ...state(pid, auditLog('printed.jsonl', ENTRIES)), tollgate_log_path: logPath },
      { PGPASSWORD: 'sess-secret-1', INPUT_UPSTREAM: 'postgres://app:s3cret-pw@db/x', 'INPUT_GITHUB-TOKEN': 'ghs_tok1' });
    expect(r.code, r.stdout).toBe(0);
    const lines = r.stdout.split('\n');
    const start = lines.indexOf('::group::tollgate proxy log');
    expect(start).toBeGreaterThanOrEqual(0);
    const stop = /^::stop-commands::([0-9a-f]{32})$/.exec(lines[start + 1]!);
    expect(stop).not.toBeNull();
    const end = lines.indexOf(`::${stop![1]}::`);
    const block = lines.slice(start + 2, end);
    expect(block).toEqual([
      '| tollgate: listening on 127.0.0.1:6432',
      '| ::error::pwned',
      '| ::add-mask::Ada',
      '| ::endgroup::',
      '|   ::warning file=x::indented',
      '| ##[group]fake group',
      '| ::stop-commands::guess',
      '| a\\u000db::error::carriage return',
      '| upstream [secret] password [secret] session [secret] token [secret]',
    ]);
    expect(lines[end + 1]).toBe('::endgroup::');
    expect(r.stdout).not.toMatch(/s3cret-pw|sess-secret-1|ghs_tok1/);
  });

  it('fails the job when the audit log is missing', () => {
    const pid = fakeDaemon();
    const r = post(state(pid, join(dir, 'absent.jsonl')));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`::error::The audit log ${join(dir, 'absent.jsonl')} is missing`);
  });
});
