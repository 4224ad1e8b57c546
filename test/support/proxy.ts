// Starts a tollgate proxy in-process on 127.0.0.1:<port 0> in front of the test PostgreSQL, with a
// policy given as YAML text, a temporary audit log and a known session password. Reused by the
// proxy, action and demo suites.

import pg from 'pg';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Approver } from '../../src/approval/types.js';
import type { AuditLine } from '../../src/audit/types.js';
import type { ProxyConfig } from '../../src/daemon/config.js';
import * as P from '../../src/pg/protocol.js';
import { ScramClient } from '../../src/pg/scram.js';
import { startProxy, type ProxyDeps, type RunningProxy } from '../../src/daemon/server.js';

/** The test database (trust auth). Override with TOLLGATE_TEST_UPSTREAM. */
export const TEST_UPSTREAM = process.env.TOLLGATE_TEST_UPSTREAM ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Runs one statement directly on the upstream as its superuser (test set-up and checks, never through the proxy). */
export async function admin(sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: TEST_UPSTREAM });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

export interface TestProxyOptions {
  /** Policy YAML. The role to use is `role` (default `test`). */
  policy: string;
  role?: string;
  upstream?: string;
  approver?: Approver;
  approvalTimeoutMs?: number;
  expiresAt?: Date;
  now?: () => Date;
  claims?: Record<string, unknown>;
  deps?: Omit<ProxyDeps, 'approver' | 'now'>;
}

export interface TestProxy extends RunningProxy {
  password: string;
  auditPath: string;
  dir: string;
  config: ProxyConfig;
  /** Connection settings for node-postgres. */
  pg: { host: string; port: number; user: string; password: string; database: string };
  /** libpq environment for psql/pgbench/pg_dump. */
  env: NodeJS.ProcessEnv;
  /** The audit log's lines, once every record appended so far has reached the disk. */
  audit(): Promise<AuditLine[]>;
  /** close() and remove the temporary directory. */
  stop(): Promise<void>;
}

export async function startTestProxy(opts: TestProxyOptions): Promise<TestProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-proxy-'));
  const policyPath = join(dir, 'policy.yml');
  writeFileSync(policyPath, opts.policy);
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  const auditPath = join(dir, 'audit.jsonl');
  const config: ProxyConfig = {
    listen: { host: '127.0.0.1', port: 0 },
    upstream: opts.upstream ?? TEST_UPSTREAM,
    policyPath,
    role: opts.role ?? 'test',
    claims: opts.claims ?? { repository: 'acme/app', actor: 'ci-bot', workflow: 'test', run_id: '1', ref: 'refs/heads/main' },
    session: { id: randomUUID(), secret: password, expiresAt: opts.expiresAt ?? new Date(Date.now() + 3600_000) },
    auditPath,
    approvalTimeoutMs: opts.approvalTimeoutMs ?? 5_000,
    approval: { kind: 'none', reason: 'tests: no approval channel' },
    maskKey: randomBytes(32).toString('base64'),
  };
  const quiet = { info: () => {}, warn: () => {} };
  const proxy = await startProxy(config, { logger: quiet, ...opts.deps, approver: opts.approver, now: opts.now });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PGHOST: '127.0.0.1',
    PGPORT: String(proxy.port),
    PGUSER: 'tollgate',
    PGPASSWORD: password,
    PGDATABASE: 'test',
    PGCLIENTENCODING: 'UTF8',
    PGSSLMODE: 'disable',
    PGGSSENCMODE: 'disable',
    PGCONNECT_TIMEOUT: '10',
  };
  let stopped = false;
  return {
    port: proxy.port,
    host: proxy.host,
    get connections() {
      return proxy.connections;
    },
    close: (o) => proxy.close(o),
    flushAudit: () => proxy.flushAudit(),
    password,
    auditPath,
    dir,
    config,
    pg: { host: '127.0.0.1', port: proxy.port, user: 'tollgate', password, database: 'test' },
    env,
    async audit() {
      await proxy.flushAudit();
      let text = '';
      try {
        text = readFileSync(auditPath, 'utf8');
      } catch {
        return [];
      }
      return text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as AuditLine);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await proxy.close({ graceMs: 2_000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A scripted approver: answers each request with the next outcome (or waits for `signal`/timeout). */
export class ScriptedApprover implements Approver {
  readonly requests: import('../../src/approval/types.js').ReviewRequest[] = [];
  constructor(private readonly answers: ('approve' | 'deny' | 'timeout')[]) {}
  async review(req: import('../../src/approval/types.js').ReviewRequest, signal?: AbortSignal) {
    this.requests.push(req);
    const a = this.answers.shift() ?? 'deny';
    if (a === 'timeout') {
      await new Promise<void>((r) => {
        const t = setTimeout(r, req.timeoutMs);
        signal?.addEventListener('abort', () => {
          clearTimeout(t);
          r();
        });
      });
      return { approved: false, via: 'timeout' as const, reason: 'no answer in time' };
    }
    await new Promise((r) => setTimeout(r, 50));
    return a === 'approve'
      ? { approved: true, via: 'terminal' as const, approver: 'alice', at: new Date(), where: 'terminal' }
      : { approved: false, via: 'terminal' as const, approver: 'bob', at: new Date(), where: 'terminal', reason: 'not today' };
  }
}

// ---------------------------------------------------------------------------------------------
// A raw protocol client for robustness tests: speaks bytes, authenticates with SCRAM when asked.


export class RawClient {
  readonly frames: P.BackendFrame[] = [];
  private readonly parser = new P.BackendParser();
  private cursor = 0;
  private wake: (() => void) | null = null;
  closed = false;
  /** Count DataRows instead of keeping them (large results). */
  discardRows = false;
  rowsSeen = 0;
  readonly socket: Socket;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.parse(chunk, (f) => {
          if (f.code === P.B.DataRow && this.discardRows) this.rowsSeen++;
          else this.frames.push(f);
        });
      } catch {
        // Raw bytes such as the 'N' answer to SSLRequest are not frames; tests read them via `raw`.
      }
      this.wake?.();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = netConnect(port, '127.0.0.1', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** Opens and authenticates as `tollgate` (SCRAM), consuming everything up to ReadyForQuery. */
  static async session(port: number, password: string): Promise<RawClient> {
    const c = await RawClient.open(port);
    const scram = new ScramClient('tollgate', password);
    c.send(P.startupMessage({ user: 'tollgate', database: 'test', client_encoding: 'UTF8' }));
    await c.next(P.B.Authentication);
    c.send(P.saslInitialResponse('SCRAM-SHA-256', scram.clientFirst()));
    const cont = await c.next(P.B.Authentication);
    c.send(P.passwordMessage(scram.handleServerFirst(cont.body.subarray(4))));
    await c.next(P.B.ReadyForQuery);
    return c;
  }

  send(buf: Buffer): boolean {
    if (this.closed || this.socket.destroyed) return false;
    this.socket.write(buf);
    return true;
  }

  /** The next frame of type `code` (skipping others); throws on close or timeout. */
  async next(code: number, timeoutMs = 5_000): Promise<P.BackendFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.frames.length) {
        const f = this.frames[this.cursor++]!;
        if (f.code === P.B.ErrorResponse && code !== P.B.ErrorResponse) {
          const e = P.decodeErrorFields(f.body);
          if (e.get('S') === 'FATAL') throw new Error(`FATAL ${e.get('C')}: ${e.get('M')}`);
        }
        if (f.code === code) return f;
      }
      if (this.closed) throw new Error(`connection closed while waiting for '${String.fromCharCode(code)}'`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for '${String.fromCharCode(code)}'`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = null;
    }
  }

  /** Resolves when the proxy has closed the connection (or after timeoutMs: false). */
  async waitClosed(timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.closed;
  }

  /** Decoded ErrorResponse fields of every error frame received so far. */
  errors(): Map<string, string>[] {
    return this.frames.filter((f) => f.code === P.B.ErrorResponse).map((f) => P.decodeErrorFields(f.body));
  }

  destroy(): void {
    this.socket.destroy();
  }
}
