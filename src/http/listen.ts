// The in-runner HTTP listeners: one loopback server per upstream of the role, each printing
// `tollgate: http <name> listening on <host:port>`. The gateway will carry the same proxy
// (createHttpProxy + attachHttpProxy) on TLS servers of its own.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Approver } from '../approval/types.js';
import { httpAuditEntry } from '../audit/http-record.js';
import type { AuditEntry } from '../audit/types.js';
import type { HttpUpstream } from '../policy/compile-http.js';
import type { Role } from '../policy/compile.js';
import { HttpEngine } from './engine.js';
import { attachHttpProxy, createHttpProxy, type HttpExchange } from './proxy.js';
import { selfSignedCertificate, type ListenerTls } from './tls.js';
import { UpstreamClient, type UpstreamCredentials } from './upstream.js';

export interface HttpListenersOptions {
  role: Role;
  session: { id: string; secret: string; expiresAt: Date };
  identity: Record<string, unknown>;
  approver: Approver;
  approvalTimeoutMs: number;
  /** Where records go (the session's one hash chain). */
  audit: { appendLater: (build: () => AuditEntry) => void; writeError: unknown };
  /** Credentials per upstream name, already resolved (resolveCredentials). */
  credentials: Readonly<Record<string, UpstreamCredentials>>;
  /** Overrides the policy's `listen` per upstream (tests; the default is the policy's, else 127.0.0.1:0). */
  listen?: Readonly<Record<string, { host: string; port: number }>>;
  /**
   * Certificates for listeners that serve TLS (Kubernetes ones: kubectl sends its token only over
   * TLS), by upstream name; one is made for the session when absent.
   */
  tls?: Readonly<Record<string, ListenerTls>>;
  /** Called with each record as it is built (tests). */
  onExchange?: (ex: HttpExchange) => void;
}

export interface HttpListener {
  name: string;
  host: string;
  port: number;
  /** `http://127.0.0.1:PORT`, or https:// for a listener that serves TLS. */
  url: string;
  /** The certificate a TLS listener serves (clients trust exactly this one). */
  certificate?: string;
}

export interface RunningHttpListeners {
  listeners: HttpListener[];
  /** Stops accepting, lets requests in flight finish (at most graceMs), closes upstream pools. */
  close(opts?: { graceMs?: number }): Promise<void>;
}

/** The upstream's credentials from the environment variables the policy names. */
export function resolveCredentials(upstream: HttpUpstream, env: NodeJS.ProcessEnv, readFile = (p: string) => readFileSync(p, 'utf8')): UpstreamCredentials {
  const need = (name: string) => {
    const v = env[name];
    if (v === undefined || v === '') throw new Error(`http upstream ${upstream.name}: environment variable ${name} is not set`);
    return v;
  };
  const out: UpstreamCredentials = {};
  const a = upstream.auth;
  if (a.kind === 'bearer') out.bearer = need(a.tokenEnv);
  if (a.kind === 'basic') out.basic = { username: need(a.usernameEnv), password: need(a.passwordEnv) };
  if (a.kind === 'client_cert') {
    out.cert = need(a.certEnv);
    out.key = need(a.keyEnv);
  }
  if (upstream.caFile) {
    try {
      out.ca = readFile(upstream.caFile);
    } catch (err) {
      throw new Error(`http upstream ${upstream.name}: cannot read ca_file ${upstream.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return out;
}

/** Every value a credential holds, for the audit log's scrubber. */
export function credentialSecrets(creds: Readonly<Record<string, UpstreamCredentials>>): string[] {
  return Object.values(creds).flatMap((c) => [c.bearer, c.basic?.password, c.key].filter((x): x is string => !!x));
}

export async function startHttpListeners(opts: HttpListenersOptions): Promise<RunningHttpListeners> {
  const engine = new HttpEngine(opts.role.http);
  const started: { server: Server; client: UpstreamClient; proxy: ReturnType<typeof createHttpProxy>; listener: HttpListener }[] = [];
  const stop = async (graceMs: number) => {
    await Promise.all(started.map(async ({ server, client, proxy }) => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (proxy.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      server.closeAllConnections();
      proxy.closeUpgraded();
      await closed;
      await client.destroy();
    }));
  };
  try {
    for (const upstream of opts.role.http.upstreams.values()) {
      const client = new UpstreamClient(upstream, opts.credentials[upstream.name] ?? {});
      const where = opts.listen?.[upstream.name] ?? upstream.listen ?? { host: '127.0.0.1', port: 0 };
      const serverOptions = { requireHostHeader: true, keepAliveTimeout: 65_000, headersTimeout: 30_000, requestTimeout: 0 };
      const tls = upstream.type === 'kubernetes' ? opts.tls?.[upstream.name] ?? selfSignedCertificate() : null;
      const server: Server = tls ? createTlsServer({ ...serverOptions, cert: tls.cert, key: tls.key }) : createServer(serverOptions);
      let hosts = new Set<string>();
      let base = '';
      const proxy = createHttpProxy({
        upstream,
        client,
        engine,
        secret: opts.session.secret,
        sessionId: opts.session.id,
        expiresAt: opts.session.expiresAt,
        identity: opts.identity,
        approver: opts.approver,
        approvalTimeoutMs: opts.approvalTimeoutMs,
        record: (ex) => {
          opts.onExchange?.(ex);
          try {
            opts.audit.appendLater(() => httpAuditEntry(ex, { session: opts.session.id, role: opts.role.name, identity: opts.identity }));
          } catch {
            // the log is closed (shutting down): nothing more can be recorded
          }
        },
        auditBroken: () => (opts.audit.writeError ? String((opts.audit.writeError as Error).message ?? opts.audit.writeError) : null),
        listenHosts: () => hosts,
        listenerBase: () => base,
      });
      attachHttpProxy(server, proxy);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(where.port, where.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const port = (server.address() as AddressInfo).port;
      const host = where.host.includes(':') ? `[${where.host}]` : where.host;
      hosts = new Set([`${host}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`].map((h) => h.toLowerCase()));
      base = `${tls ? 'https' : 'http'}://${host}:${port}`;
      started.push({ server, client, proxy, listener: { name: upstream.name, host: where.host, port, url: base, ...(tls ? { certificate: tls.cert } : {}) } });
    }
  } catch (err) {
    await stop(0);
    throw err;
  }
  return {
    listeners: started.map((s) => s.listener),
    close: (o = {}) => stop(o.graceMs ?? 10_000),
  };
}
