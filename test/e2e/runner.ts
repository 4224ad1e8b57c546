// Runs the action the way the GitHub runner does: `node main.js`, later steps, `node post.js`, each a
// separate process, wired through the runner's files (GITHUB_ENV, GITHUB_OUTPUT, GITHUB_STATE,
// GITHUB_STEP_SUMMARY) and environment (INPUT_*, GITHUB_*, STATE_*, ACTIONS_ID_TOKEN_REQUEST_*).
// Everything a job printed or wrote is kept, so a test can scan it for secrets.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export interface StepResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Builds the bundles into a fresh directory, so tests run what the sources make, not the committed dist/. */
export function buildBundles(): string {
  const out = mkdtempSync(join(tmpdir(), 'tollgate-e2e-dist-'));
  execFileSync(process.execPath, [resolve('scripts/build.mjs'), out], { stdio: 'pipe' });
  for (const f of ['main.js', 'post.js', 'cli.js']) if (!existsSync(join(out, f))) throw new Error(`build made no ${f}`);
  return out;
}

/** Stands in for the runner's ACTIONS_ID_TOKEN_REQUEST_URL: hands out whatever token the test sets. */
export class TokenRequestServer {
  token = '';
  /** Status to answer with instead of a token (e.g. 403 as without `id-token: write`). */
  failWith: number | null = null;
  readonly bearer = `runtime-${Math.random().toString(36).slice(2)}`;
  readonly audiences: string[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (req.headers.authorization !== `Bearer ${this.bearer}`) {
        res.writeHead(401).end('{"message":"bad runtime token"}');
        return;
      }
      this.audiences.push(u.searchParams.get('audience') ?? '');
      if (this.failWith) {
        res.writeHead(this.failWith, { 'content-type': 'application/json' }).end('{"message":"Resource not accessible by integration"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ value: this.token }));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/_apis/idtoken?api-version=2.0`;
    return this;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

export interface JobOptions {
  dist: string;
  /** Inputs by their action.yml names. */
  inputs: Record<string, string>;
  eventName: string;
  event: unknown;
  /** What the runner offers as ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN (absent: no `id-token: write`). */
  tokenRequest?: { url: string; token: string };
  apiUrl: string;
  repository?: string;
  actor?: string;
  /** Files to put in the workspace (path → content). */
  workspace?: Record<string, string>;
}

/** The `NAME<<DELIM\nvalue\nDELIM` records @actions/core writes to GITHUB_ENV/OUTPUT/STATE. */
export function parseFileCommands(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /^([^\n<=]+)<<(\S+)\n([\s\S]*?)\n\2$/gm;
  for (const m of text.matchAll(re)) out[m[1]!] = m[3]!;
  return out;
}

export class Job {
  readonly dir: string;
  readonly files: { env: string; output: string; state: string; summary: string; event: string };
  readonly workspace: string;
  readonly runnerTemp: string;
  readonly steps: { name: string; result: StepResult }[] = [];

  constructor(readonly o: JobOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'tollgate-e2e-job-'));
    this.workspace = join(this.dir, 'workspace');
    this.runnerTemp = join(this.dir, 'runner-temp');
    mkdirSync(this.workspace);
    mkdirSync(this.runnerTemp);
    this.files = {
      env: join(this.dir, 'github_env'),
      output: join(this.dir, 'github_output'),
      state: join(this.dir, 'github_state'),
      summary: join(this.dir, 'step_summary.md'),
      event: join(this.dir, 'event.json'),
    };
    for (const f of [this.files.env, this.files.output, this.files.state, this.files.summary]) writeFileSync(f, '');
    writeFileSync(this.files.event, JSON.stringify(o.event));
    for (const [p, content] of Object.entries(o.workspace ?? {})) {
      mkdirSync(dirname(join(this.workspace, p)), { recursive: true });
      writeFileSync(join(this.workspace, p), content);
    }
  }

  /** What every step of the job sees from the runner. */
  private runnerEnv(): NodeJS.ProcessEnv {
    const keep = ['PATH', 'HOME', 'LANG', 'TZ', 'SYSTEMROOT'];
    const env: NodeJS.ProcessEnv = {};
    for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k];
    return {
      ...env,
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_ENV: this.files.env,
      GITHUB_OUTPUT: this.files.output,
      GITHUB_STATE: this.files.state,
      GITHUB_STEP_SUMMARY: this.files.summary,
      GITHUB_EVENT_PATH: this.files.event,
      GITHUB_EVENT_NAME: this.o.eventName,
      GITHUB_REPOSITORY: this.o.repository ?? 'acme/app',
      GITHUB_REPOSITORY_OWNER: (this.o.repository ?? 'acme/app').split('/')[0],
      GITHUB_SHA: 'c'.repeat(40),
      GITHUB_REF: 'refs/pull/12/merge',
      GITHUB_API_URL: this.o.apiUrl,
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_ACTOR: this.o.actor ?? 'dev1',
      GITHUB_RUN_ID: '4242',
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_WORKFLOW: 'migrate',
      GITHUB_JOB: 'migrate',
      GITHUB_WORKSPACE: this.workspace,
      RUNNER_TEMP: this.runnerTemp,
      RUNNER_OS: 'Linux',
      // Added to each later step by the runner from GITHUB_ENV.
      ...this.exported(),
    };
  }

  exported(): Record<string, string> {
    return parseFileCommands(readFileSync(this.files.env, 'utf8'));
  }

  outputs(): Record<string, string> {
    return parseFileCommands(readFileSync(this.files.output, 'utf8'));
  }

  state(): Record<string, string> {
    return parseFileCommands(readFileSync(this.files.state, 'utf8'));
  }

  summary(): string {
    return readFileSync(this.files.summary, 'utf8');
  }

  async main(): Promise<StepResult> {
    const env: NodeJS.ProcessEnv = { ...this.runnerEnv() };
    for (const [k, v] of Object.entries(this.o.inputs)) env[`INPUT_${k.replace(/ /g, '_').toUpperCase()}`] = v;
    if (this.o.tokenRequest) {
      env.ACTIONS_ID_TOKEN_REQUEST_URL = this.o.tokenRequest.url;
      env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = this.o.tokenRequest.token;
    }
    return this.run('main', process.execPath, [join(this.o.dist, 'main.js')], env, this.workspace);
  }

  /** A `run: psql …` step: plain psql, configured only by what main exported. */
  psql(sql: string, timeoutMs = 60_000): Promise<StepResult> {
    return this.run('psql', 'psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], this.runnerEnv(), this.workspace, timeoutMs);
  }

  /** A `run:` step with its own `env:` and `working-directory:`, as bash runs it. */
  shell(script: string, env: Record<string, string> = {}, workingDirectory = '.'): Promise<StepResult> {
    return this.run('run', 'bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], { ...this.runnerEnv(), ...env }, resolve(this.workspace, workingDirectory));
  }

  async post(): Promise<StepResult> {
    const env: NodeJS.ProcessEnv = { ...this.runnerEnv() };
    // Inputs are given to post as well; state comes back as STATE_<name>.
    for (const [k, v] of Object.entries(this.o.inputs)) env[`INPUT_${k.replace(/ /g, '_').toUpperCase()}`] = v;
    for (const [k, v] of Object.entries(this.state())) env[`STATE_${k}`] = v;
    return this.run('post', process.execPath, [join(this.o.dist, 'post.js')], env, this.workspace);
  }

  /** The daemon's pid, from the state main saved. */
  pid(): number | undefined {
    const p = Number(this.state().tollgate_pid);
    return Number.isInteger(p) && p > 0 ? p : undefined;
  }

  private run(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, timeoutMs = 120_000): Promise<StepResult> {
    return new Promise((resolvePromise) => {
      const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('close', (code) => {
        clearTimeout(timer);
        const result = { code, stdout, stderr };
        this.steps.push({ name, result });
        resolvePromise(result);
      });
    });
  }

  /** Everything the job left behind that a person or a later step could read. */
  captured(): { where: string; text: string }[] {
    const out: { where: string; text: string }[] = [];
    for (const [i, s] of this.steps.entries()) {
      out.push({ where: `${s.name}#${i} stdout`, text: s.result.stdout }, { where: `${s.name}#${i} stderr`, text: s.result.stderr });
    }
    for (const [k, f] of Object.entries(this.files)) out.push({ where: k, text: readFileSync(f, 'utf8') });
    return out;
  }
}

/** What the runner would show: workflow commands that register masks are consumed, not printed. */
export function visibleLog(text: string): string {
  return text.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n');
}

export async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
