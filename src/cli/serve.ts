// `tollgate serve`: the proxy in the foreground.
//
//   tollgate serve --policy F --role R --upstream postgres://… [--listen 127.0.0.1:6432] [--audit F.jsonl]
//   tollgate serve --config -      (a JSON ProxyConfig on stdin: how the action starts the daemon,
//                                   so the upstream password never appears in argv or the environment)
//
// Prints exactly one line `tollgate: listening on host:port` on stdout once it accepts connections.
// SIGTERM/SIGINT: stop accepting, let running statements finish (bounded), flush the audit log, exit 0.

import { randomBytes, randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ApprovalConfig, ProxyConfig } from '../daemon/config.js';
import { startProxy, type RunningProxy } from '../daemon/server.js';
import { unverifiedRemote } from '../pg/auth-policy.js';
import { loadPolicy } from '../policy/load.js';
import { resolveCredentials, startHttpListeners, type RunningHttpListeners } from '../http/listen.js';
import type { UpstreamCredentials } from '../http/upstream.js';

const USAGE =
  'usage: tollgate serve --policy F --role R --upstream postgres://… [--listen 127.0.0.1:6432] [--audit F.jsonl]\n' +
  '       tollgate serve --config -   (JSON ProxyConfig on stdin)';

class ServeUsageError extends Error {}

export interface ServeIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  /** Installs the stop signal handlers; tests pass their own trigger. */
  onStop: (stop: () => void) => void;
  /** Called with the exit code once stopped (the real process makes sure it ends). */
  exited?: (code: number) => void;
}

const processIo: ServeIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  onStop: (stop) => {
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  },
  // Everything is closed by now; a handle someone left open (a TTY stdin) must not keep the
  // daemon alive after SIGTERM.
  exited: (code) => void setTimeout(() => process.exit(code), 500).unref(),
};

export async function run(argv: readonly string[], io: ServeIo = processIo): Promise<number> {
  let config: ProxyConfig;
  let generatedPassword: string | null = null;
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    const flags = parseServeFlags(argv);
    if (flags.config !== undefined) {
      if (flags.config !== '-') throw new ServeUsageError('--config takes "-" (the configuration is read from stdin)');
      if (Object.keys(flags).length > 1) throw new ServeUsageError('--config - cannot be combined with other flags');
      config = parseConfigJson(await readAll(io.stdin));
    } else {
      ({ config, generatedPassword } = configFromFlags(flags, io.env));
    }
  } catch (err) {
    io.stderr.write(`tollgate serve: ${(err as Error).message}\n`);
    if (err instanceof ServeUsageError) io.stderr.write(`${USAGE}\n`);
    return 2;
  }

  // An upstream off this machine below verify-full can be impersonated: say so where the operator looks.
  const unsafe = unverifiedRemote(config.upstream);
  if (unsafe) io.stderr.write(`tollgate: warning: ${unsafe}.\n`);

  let proxy: RunningProxy;
  let http: RunningHttpListeners | null = null;
  try {
    proxy = await startProxy(config);
  } catch (err) {
    io.stderr.write(`tollgate serve: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  // The role's HTTP upstreams: one loopback listener each, in the same audit chain and approver.
  try {
    const role = loadPolicy(config.policyPath).roles.get(config.role)!;
    if (role.http.upstreams.size > 0) {
      http = await startHttpListeners({
        role,
        session: config.session,
        identity: config.claims,
        approver: proxy.shared!.approver,
        approvalTimeoutMs: config.approvalTimeoutMs,
        audit: proxy.shared!.audit,
        credentials: config.http?.credentials ?? {},
        tls: config.http?.tls ?? {},
      });
      for (const l of http.listeners) {
        const h = l.host.includes(':') ? `[${l.host}]` : l.host;
        io.stdout.write(`tollgate: http ${l.name} listening on ${h}:${l.port}\n`);
        if (l.certificate && !config.http?.tls?.[l.name]) {
          const file = join(dirname(config.auditPath), `tollgate-${l.name}.crt`);
          writeFileSync(file, l.certificate);
          io.stderr.write(`tollgate: http ${l.name} serves TLS with a certificate made for this session: ${file}\n`);
        }
      }
    }
  } catch (err) {
    io.stderr.write(`tollgate serve: cannot start the HTTP listeners: ${(err as Error).message}\n`);
    await proxy.close({ graceMs: 0 }).catch(() => {});
    return 1;
  }
  if (generatedPassword) {
    // Printed once so a human can connect; the action always passes its own secret.
    io.stderr.write(`tollgate: no TOLLGATE_PASSWORD set; generated password for user "tollgate": ${generatedPassword}\n`);
  }
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  io.stdout.write(`tollgate: listening on ${host}:${proxy.port}\n`);

  await new Promise<void>((resolve) => io.onStop(resolve));
  io.stderr.write('tollgate: stopping: letting running statements finish\n');
  let code = 0;
  try {
    await http?.close({ graceMs: 10_000 });
    await proxy.close({ graceMs: 10_000 });
  } catch (err) {
    io.stderr.write(`tollgate serve: error while stopping: ${(err as Error).message}\n`);
    code = 1;
  }
  io.exited?.(code);
  return code;
}

type ServeFlags = Partial<Record<'policy' | 'role' | 'upstream' | 'listen' | 'audit' | 'config', string>>;

function parseServeFlags(argv: readonly string[]): ServeFlags {
  const known = new Set(['policy', 'role', 'upstream', 'listen', 'audit', 'config']);
  const flags: ServeFlags = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m || !known.has(m[1]!)) throw new ServeUsageError(`unknown argument ${JSON.stringify(a)}`);
    const name = m[1] as keyof ServeFlags;
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new ServeUsageError(`--${name} needs a value`);
    if (flags[name] !== undefined) throw new ServeUsageError(`--${name} given twice`);
    flags[name] = value;
  }
  return flags;
}

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ServeUsageError(`--listen ${JSON.stringify(text)}: expected host:port, e.g. 127.0.0.1:6432`);
  return { host: (m[1] ?? m[2])!, port };
}

function configFromFlags(flags: ServeFlags, env: NodeJS.ProcessEnv): { config: ProxyConfig; generatedPassword: string | null } {
  for (const k of ['policy', 'role', 'upstream'] as const) {
    if (!flags[k]) throw new ServeUsageError(`--${k} is required`);
  }
  const policy = loadPolicy(flags.policy!);
  if (!policy.roles.has(flags.role!)) {
    throw new Error(`${flags.policy}: no role named "${flags.role}" (roles: ${[...policy.roles.keys()].join(', ')})`);
  }
  let password = env.TOLLGATE_PASSWORD ?? '';
  let generatedPassword: string | null = null;
  if (!password) {
    password = randomBytes(18).toString('base64url');
    generatedPassword = password;
  }
  const config: ProxyConfig = {
    listen: parseListen(flags.listen ?? '127.0.0.1:6432'),
    upstream: flags.upstream!,
    policyPath: flags.policy!,
    role: flags.role!,
    claims: { actor: safeUser(), source: 'tollgate serve' },
    session: { id: randomUUID(), secret: password, expiresAt: new Date(Date.now() + policy.sessionTtlMs) },
    auditPath: flags.audit ?? 'tollgate-audit.jsonl',
    approvalTimeoutMs: policy.approvalTimeoutMs,
    approval: process.stdin.isTTY ? { kind: 'terminal' } : { kind: 'none', reason: 'no terminal to ask for approval' },
    maskKey: randomBytes(32).toString('base64'),
    http: { credentials: httpCredentials(policy.roles.get(flags.role!)!, env) },
  };
  return { config, generatedPassword };
}

/** The credentials the role's HTTP upstreams name, from the environment (a clear error when unset). */
export function httpCredentials(role: { http: { upstreams: ReadonlyMap<string, import('../policy/compile-http.js').HttpUpstream> } }, env: NodeJS.ProcessEnv): Record<string, UpstreamCredentials> {
  const out: Record<string, UpstreamCredentials> = {};
  for (const u of role.http.upstreams.values()) out[u.name] = resolveCredentials(u, env);
  return out;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream as AsyncIterable<Buffer | string>) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    size += b.length;
    if (size > 1024 * 1024) throw new Error('the configuration on stdin is larger than 1 MiB');
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Validates the JSON ProxyConfig the action sends. Error messages never echo values (secrets). */
export function parseConfigJson(text: string): ProxyConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('the configuration on stdin is not valid JSON');
  }
  const o = obj(raw, 'config');
  const listen = obj(o.listen, 'listen');
  const session = obj(o.session, 'session');
  const expiresAt = new Date(str(session.expiresAt, 'session.expiresAt'));
  if (Number.isNaN(expiresAt.getTime())) throw new Error('config session.expiresAt: expected an ISO date');
  const port = num(listen.port, 'listen.port');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('config listen.port: expected 0..65535');
  const claims = obj(o.claims, 'claims');
  return {
    listen: { host: str(listen.host, 'listen.host'), port },
    upstream: str(o.upstream, 'upstream'),
    policyPath: str(o.policyPath, 'policyPath'),
    role: str(o.role, 'role'),
    claims,
    session: { id: str(session.id, 'session.id'), secret: str(session.secret, 'session.secret'), expiresAt },
    auditPath: str(o.auditPath, 'auditPath'),
    approvalTimeoutMs: num(o.approvalTimeoutMs, 'approvalTimeoutMs'),
    approval: approvalConfig(obj(o.approval, 'approval')),
    maskKey: str(o.maskKey, 'maskKey'),
    ...(o.http !== undefined ? { http: httpJson(obj(o.http, 'http')) } : {}),
  };
}

function httpJson(h: Record<string, unknown>): NonNullable<ProxyConfig['http']> {
  const tls: Record<string, { cert: string; key: string }> = {};
  for (const [name, v] of Object.entries(h.tls === undefined ? {} : obj(h.tls, 'http.tls'))) {
    const t = obj(v, `http.tls.${name}`);
    tls[name] = { cert: str(t.cert, `http.tls.${name}.cert`), key: str(t.key, `http.tls.${name}.key`) };
  }
  return { credentials: httpCredentialsJson(obj(h.credentials, 'http.credentials')), tls };
}

function httpCredentialsJson(raw: Record<string, unknown>): Record<string, UpstreamCredentials> {
  const out: Record<string, UpstreamCredentials> = {};
  for (const [name, v] of Object.entries(raw)) {
    const c = obj(v, `http.credentials.${name}`);
    const cred: UpstreamCredentials = {};
    for (const k of ['bearer', 'cert', 'key', 'ca'] as const) if (c[k] !== undefined) cred[k] = str(c[k], `http.credentials.${name}.${k}`);
    if (c.basic !== undefined) {
      const b = obj(c.basic, `http.credentials.${name}.basic`);
      cred.basic = { username: str(b.username, `http.credentials.${name}.basic.username`), password: str(b.password, `http.credentials.${name}.basic.password`) };
    }
    out[name] = cred;
  }
  return out;
}

function approvalConfig(a: Record<string, unknown>): ApprovalConfig {
  switch (a.kind) {
    case 'terminal':
      return { kind: 'terminal' };
    case 'none':
      return { kind: 'none', reason: str(a.reason, 'approval.reason') };
    case 'github':
      return {
        kind: 'github',
        apiUrl: str(a.apiUrl, 'approval.apiUrl'),
        token: str(a.token, 'approval.token'),
        repository: str(a.repository, 'approval.repository'),
        pullNumber: num(a.pullNumber, 'approval.pullNumber'),
        headSha: str(a.headSha, 'approval.headSha'),
        actor: str(a.actor, 'approval.actor'),
        ...(a.actorId !== undefined ? { actorId: num(a.actorId, 'approval.actorId') } : {}),
        ...(a.triggeringActor !== undefined ? { triggeringActor: str(a.triggeringActor, 'approval.triggeringActor') } : {}),
        pollMs: num(a.pollMs, 'approval.pollMs'),
        ...(a.runUrl !== undefined ? { runUrl: str(a.runUrl, 'approval.runUrl') } : {}),
      };
    default:
      throw new Error('config approval.kind: expected terminal, none or github');
  }
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`config ${what}: expected an object`);
  return v as Record<string, unknown>;
}
function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') throw new Error(`config ${what}: expected a non-empty string`);
  return v;
}
function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`config ${what}: expected a number`);
  return v;
}
