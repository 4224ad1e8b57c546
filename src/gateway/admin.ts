// The admin listener (plain HTTP on a private address that runners cannot reach; the NetworkPolicy in
// deploy/ keeps it so):
//   GET  /healthz                      the process answers
//   GET  /readyz                       200 when the state store and every upstream answer and the
//                                      replica is not draining; 503 naming what is not
//   GET  /metrics                      Prometheus text
//   POST /admin/sessions/{id}/end      the kill switch: ends the session at once, on every replica
import { connect } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayContext } from './context.js';
import { ApiError, sendError, sendJson } from './http.js';
import { endSession, getSession } from './sessions.js';
import { StoreError } from './store.js';
import { toApiError } from './api.js';

const KILL_PATH = /^\/admin\/sessions\/([A-Za-z0-9_-]{1,64})\/end$/;

export function adminHandler(ctx: GatewayContext) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://admin');
    void (async () => {
      if (url.pathname === '/healthz') {
        sendJson(res, 200, { status: 'ok' });
        return;
      }
      if (url.pathname === '/readyz') {
        const ready = await readiness(ctx);
        sendJson(res, ready.ok ? 200 : 503, ready);
        return;
      }
      if (url.pathname === '/metrics') {
        await refreshGauges(ctx);
        const text = await ctx.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType });
        res.end(text);
        return;
      }
      const m = KILL_PATH.exec(url.pathname);
      if (m) {
        if (req.method !== 'POST') throw new ApiError(405, 'method_not_allowed', `use POST ${url.pathname}`, { allow: 'POST' });
        const session = await getSession(ctx.store, m[1]!);
        if (!session) throw new ApiError(404, 'not_found', `no session ${m[1]}`);
        const reason = url.searchParams.get('reason')?.slice(0, 200) ?? 'ended by an administrator';
        if (await endSession(ctx.store, session.id, 'admin', reason, ctx.config.signingKey, ctx.now())) ctx.metrics.sessionsEnded.inc({ by: 'admin' });
        ctx.onSessionEnded(session.id);
        ctx.logger.warn(`tollgate gateway: session ${session.id} ended by an administrator (${reason})`);
        sendJson(res, 200, { session_id: session.id, ended: true });
        return;
      }
      throw new ApiError(404, 'not_found', `no such endpoint: ${url.pathname.slice(0, 100)}`);
    })()
      .catch((err: unknown) => sendError(res, toApiError(err, ctx)))
      .catch(() => {});
  };
}

export interface Readiness {
  ok: boolean;
  draining: boolean;
  state_store: 'ok' | string;
  upstreams: Record<string, 'ok' | string>;
}

export async function readiness(ctx: GatewayContext): Promise<Readiness> {
  const store = await ctx.store
    .schemaVersion()
    .then(() => 'ok')
    .catch((err: unknown) => (err instanceof StoreError ? 'unreachable' : 'error'));
  ctx.metrics.stateStoreUp.set(store === 'ok' ? 1 : 0);
  const upstreams: Record<string, string> = {};
  await Promise.all(
    [...ctx.config.upstreams].map(async ([name, u]) => {
      upstreams[name] = await reachable(u.url);
    }),
  );
  const ok = !ctx.draining && store === 'ok' && Object.values(upstreams).every((v) => v === 'ok');
  return { ok, draining: ctx.draining, state_store: store, upstreams };
}

/** A TCP connection to the URL's host and port within 2 s: 'ok' or why not (never the URL). */
function reachable(url: string): Promise<string> {
  let host: string;
  let port: number;
  try {
    const u = new URL(url);
    host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
    port = Number(u.port || 5432);
  } catch {
    return Promise.resolve('bad url');
  }
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (v: string): void => {
      socket.destroy();
      resolve(v);
    };
    socket.setTimeout(2000, () => finish('timeout'));
    socket.once('connect', () => finish('ok'));
    socket.once('error', (err: NodeJS.ErrnoException) => finish(err.code ?? 'error'));
  });
}

async function refreshGauges(ctx: GatewayContext): Promise<void> {
  try {
    const r = await ctx.store.query<{ n: string }>('SELECT count(*) AS n FROM tollgate.sessions WHERE ended_at IS NULL AND expires_at > now()');
    ctx.metrics.sessionsLive.set(Number(r.rows[0]?.n ?? 0));
    ctx.metrics.stateStoreUp.set(1);
  } catch {
    ctx.metrics.stateStoreUp.set(0);
  }
}
