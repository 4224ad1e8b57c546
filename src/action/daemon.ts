// Starting and stopping the proxy daemon (`tollgate serve --config -`) the way codeql-action's
// start-proxy does: detached so it outlives the step, its configuration (credentials) written to
// its stdin — never argv, never the environment later steps inherit — and its pid kept in state.
//
// Its stdout/stderr go to a private log file, not to pipes: a pipe to `main` would break when `main`
// exits, and a daemon writing to a broken pipe can die of it.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { ProxyConfig } from '../daemon/config.js';
import { compileScrubber } from '../audit/redact.js';
import { SafeFailure } from './errors.js';

export interface StartedDaemon {
  pid: number;
  host: string;
  port: number;
}

export interface StartOptions {
  /** Path of dist/cli.js. */
  cliPath: string;
  config: ProxyConfig;
  /** File that receives the daemon's stdout and stderr (mode 0600). */
  logPath: string;
  timeoutMs: number;
  /** Values never to show, even from the daemon's own output. */
  redact: readonly string[];
}

const READY = /^tollgate: listening on (.+):(\d+)\s*$/m;

export async function startDaemon(opts: StartOptions): Promise<StartedDaemon> {
  const out = openSync(opts.logPath, 'a', 0o600);
  let child;
  try {
    child = spawn(process.execPath, [opts.cliPath, 'serve', '--config', '-'], {
      detached: true,
      stdio: ['pipe', out, out],
      // The daemon needs no secret from the environment: everything it needs comes on stdin.
      env: daemonEnv(process.env),
    });
  } finally {
    closeSync(out);
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  child.stdin!.on('error', () => { /* the daemon died before reading: reported below */ });
  child.stdin!.end(JSON.stringify(opts.config));

  const deadline = Date.now() + opts.timeoutMs;
  let outcome: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((o) => { outcome = o; });
  for (;;) {
    const log = readLog(opts.logPath);
    const m = READY.exec(log);
    if (m && child.pid !== undefined) {
      child.unref();
      return { pid: child.pid, host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
    }
    if (outcome) {
      const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with code ${outcome.code ?? 'unknown'}`;
      throw new SafeFailure(`The tollgate proxy ${how} before it listened. Its output:\n${tail(log, opts.redact)}`);
    }
    if (Date.now() > deadline) {
      try { process.kill(child.pid!, 'SIGKILL'); } catch { /* already gone */ }
      throw new SafeFailure(`The tollgate proxy did not listen within ${Math.round(opts.timeoutMs / 1000)}s. Its output:\n${tail(log, opts.redact)}`);
    }
    await sleep(25);
  }
}

/** Whether the daemon with this pid is still running (a zombie or a reused pid counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform !== 'linux') return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes('serve') && cmdline.includes('--config');
  } catch {
    return false;
  }
}

/** SIGTERM (the daemon drains and exits), then SIGKILL after `graceMs`. Resolves how it ended. */
export async function stopDaemon(pid: number, graceMs: number): Promise<'stopped' | 'killed' | 'not-running'> {
  if (!isAlive(pid)) return 'not-running';
  try { process.kill(pid, 'SIGTERM'); } catch { return 'not-running'; }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'stopped';
    await sleep(50);
  }
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
  for (let i = 0; i < 40 && isAlive(pid); i++) await sleep(50);
  return 'killed';
}

/** The last lines of the daemon's output, with every known secret removed. */
export function tail(text: string, redact: readonly string[], lines = 20): string {
  const t = compileScrubber(redact)(text.trimEnd().split('\n').slice(-lines).join('\n'));
  return t || '(no output)';
}

export function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The runner's environment minus the credentials the daemon must not need or leak. */
function daemonEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (/^(INPUT_|STATE_|ACTIONS_ID_TOKEN_REQUEST_|ACTIONS_RUNTIME_TOKEN$|GITHUB_TOKEN$|PGPASSWORD$|DATABASE_URL$)/.test(k)) continue;
    out[k] = v;
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
