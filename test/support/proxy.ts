// Starts a tollgate proxy in-process on 127.0.0.1:<port 0> in front of the test PostgreSQL, with a
// policy given as YAML text, a temporary audit log and a known session password. Reused by the
// proxy, action and demo suites.

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Approver } from '../../src/approval/types.js';
import type { AuditLine } from '../../src/audit/types.js';
import type { ProxyConfig } from '../../src/pg/config.js';
import { startProxy, type ProxyDeps, type RunningProxy } from '../../src/pg/server.js';

/** The test database (trust auth). Override with TOLLGATE_TEST_UPSTREAM. */
export const TEST_UPSTREAM = process.env.TOLLGATE_TEST_UPSTREAM ?? 'postgres://postgres@127.0.0.1:5432/test';

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
  /** The audit log's lines (what has reached the disk). */
  audit(): AuditLine[];
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
    password,
    auditPath,
    dir,
    config,
    pg: { host: '127.0.0.1', port: proxy.port, user: 'tollgate', password, database: 'test' },
    env,
    audit() {
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
