// One gateway replica: the state store, the HTTPS API, the admin listener (and, as it lands, the
// PostgreSQL listener). start → listening; reloadTls() re-reads the certificate and key (SIGHUP);
// close() drains: readiness fails at once, new sessions are refused, running requests finish.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { adminHandler } from './admin.js';
import { apiHandler } from './api.js';
import type { GatewayConfig, Listen } from './config.js';
import { stderrLogger, type GatewayContext, type GatewayLogger } from './context.js';
import { ApprovalHub } from './approvals.js';
import { GithubApp } from './github-app.js';
import { GatewayMetrics } from './metrics.js';
import { Store } from './store.js';
import { webhookRoute } from './webhook.js';

export interface GatewayDeps {
  logger?: GatewayLogger;
  now?: () => Date;
  /** Per-query timeout of the state store, ms. */
  storeTimeoutMs?: number;
  /** How often a held statement looks for its answer besides LISTEN/NOTIFY, ms (default 1000). */
  approvalPollMs?: number;
}

export interface RunningGateway {
  ctx: GatewayContext;
  /** Wakes statements held on this replica when any replica decides their approval. */
  hub: ApprovalHub;
  /** The GitHub App, when the config has one. */
  app: GithubApp | null;
  http: Listen;
  admin: Listen;
  /** Re-reads the TLS certificate and key; throws (keeping the old ones) when they cannot be used. */
  reloadTls(): void;
  /** Drains and stops; resolves when every listener is closed and the store released. */
  close(opts?: { graceMs?: number }): Promise<void>;
}

export function readTls(config: GatewayConfig): { cert: Buffer; key: Buffer } | null {
  if (!config.tls) return null;
  return { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) };
}

export async function startGateway(config: GatewayConfig, deps: GatewayDeps = {}): Promise<RunningGateway> {
  const store = new Store(config.stateUrl, { queryTimeoutMs: deps.storeTimeoutMs });
  try {
    await store.checkSchema();
  } catch (err) {
    await store.close();
    throw err;
  }
  const ended = new Set<(id: string) => void>();
  const ctx: GatewayContext = {
    config,
    store,
    metrics: new GatewayMetrics(),
    logger: deps.logger ?? stderrLogger,
    now: deps.now ?? (() => new Date()),
    draining: false,
    onSessionEnded: (id) => {
      for (const f of ended) f(id);
    },
  };

  const hub = new ApprovalHub(store, ctx.logger, deps.approvalPollMs);
  await hub.start();
  const app = config.github ? new GithubApp(config.github) : null;
  const webhook = app && config.github ? webhookRoute({ secret: config.github.webhookSecret, app })(ctx) : undefined;
  const tls = readTls(config);
  const api = apiHandler(ctx, webhook);
  const httpServer: Server = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, api)
    : createHttpServer(api);
  // Slow clients cannot hold sockets open forever.
  httpServer.headersTimeout = 10_000;
  httpServer.requestTimeout = 30_000;
  httpServer.keepAliveTimeout = 5_000;
  const adminServer = createHttpServer(adminHandler(ctx));
  adminServer.headersTimeout = 10_000;
  adminServer.requestTimeout = 30_000;

  const listen = async (server: Server, at: Listen): Promise<Listen> => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => ctx.logger.warn(`tollgate gateway: listener error: ${err.message}`));
    return { host: at.host, port: (server.address() as AddressInfo).port };
  };
  let httpAt: Listen;
  let adminAt: Listen;
  try {
    httpAt = await listen(httpServer, config.listen.http);
    adminAt = await listen(adminServer, config.listen.admin);
  } catch (err) {
    httpServer.close();
    adminServer.close();
    await hub.close();
    await store.close();
    throw err;
  }

  let closing: Promise<void> | null = null;
  return {
    ctx,
    hub,
    app,
    http: httpAt,
    admin: adminAt,
    reloadTls() {
      if (!config.tls) return;
      const next = readTls(config)!;
      // setSecureContext throws on a key that does not match or cannot be parsed: the old pair stays.
      (httpServer as unknown as { setSecureContext(o: object): void }).setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' });
      ctx.logger.info('tollgate gateway: TLS certificate and key reloaded');
    },
    close(opts = {}) {
      closing ??= (async () => {
        ctx.draining = true;
        const grace = opts.graceMs ?? 10_000;
        const stopped = (s: Server) => new Promise<void>((r) => s.close(() => r()));
        const apiStopped = stopped(httpServer);
        httpServer.closeIdleConnections();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([apiStopped, new Promise<void>((r) => (timer = setTimeout(r, grace)))]);
        clearTimeout(timer);
        httpServer.closeAllConnections();
        await apiStopped;
        const adminStopped = stopped(adminServer);
        adminServer.closeAllConnections();
        await adminStopped;
        await hub.close();
        await store.close();
      })();
      return closing;
    },
  };
}
