// The HTTPS API runners call (DESIGN.md, "Gateway"):
//   POST   /v1/sessions             Bearer <GitHub OIDC token> → 201 a session of the role its claims match
//   DELETE /v1/sessions/{id}        Bearer <secret> → 204; the session's later statements are denied
//   GET    /v1/sessions/{id}/audit  Bearer <secret> → its records, JSON lines (the in-runner format)
//   GET    /v1/sessions/{id}/head   Bearer <secret> → its signed chain head and the public key
// Every refusal is `{"error": {"code", "message"}}`, counted, and recorded in the state store.
import { createPublicKey } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { IdentityError } from '../identity/errors.js';
import { verifyOidcToken, type Claims } from '../identity/oidc.js';
import { PolicyError } from '../policy/errors.js';
import { selectRole } from '../policy/roles.js';
import { readLines, readSignedHead } from './chain.js';
import type { GatewayContext } from './context.js';
import { ApiError, bearer, readJsonObject, remoteOf, sendError, sendJson } from './http.js';
import { authenticate, claimTokenOnce, createSession, endSession, recordRefusal, type SessionRow } from './sessions.js';
import { StoreError } from './store.js';

const SESSION_PATH = /^\/v1\/sessions\/([A-Za-z0-9_-]{1,64})(\/audit|\/head)?$/;

export function apiHandler(ctx: GatewayContext, extra?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    // Taken now: after a refusal that closes the connection the socket is gone.
    const remote = remoteOf(req);
    let route = 'other';
    const done = (status: number): void => void ctx.metrics.httpRequests.inc({ route, status: String(status) });
    void (async () => {
      if (extra && (await extra(req, res))) return;
      if (url.pathname === '/v1/sessions') {
        route = 'sessions';
        if (req.method !== 'POST') throw new ApiError(405, 'method_not_allowed', 'use POST /v1/sessions', { allow: 'POST' });
        await openSession(ctx, req, res);
        return;
      }
      const m = SESSION_PATH.exec(url.pathname);
      if (!m) throw new ApiError(404, 'not_found', `no such endpoint: ${req.method} ${url.pathname.slice(0, 100)}`);
      const id = m[1]!;
      if (m[2] === '/audit' || m[2] === '/head') {
        route = m[2].slice(1);
        if (req.method !== 'GET') throw new ApiError(405, 'method_not_allowed', `use GET ${url.pathname}`, { allow: 'GET' });
        const session = await sessionBySecret(ctx, req, id);
        if (m[2] === '/audit') {
          const lines = await readLines(ctx.store, session.id);
          const body = lines.length ? `${lines.join('\n')}\n` : '';
          res.writeHead(200, { 'content-type': 'application/x-ndjson', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
          res.end(body);
        } else {
          const head = await readSignedHead(ctx.store, session.id);
          const publicKey = createPublicKey(ctx.config.signingKey).export({ type: 'spki', format: 'pem' }).toString();
          sendJson(res, 200, { session_id: session.id, ended: session.endedAt !== null, head: head ? { seq: head.seq, hash: head.head, key_id: head.keyId, signature: head.signature } : null, public_key: publicKey });
        }
        return;
      }
      route = 'session';
      if (req.method !== 'DELETE') throw new ApiError(405, 'method_not_allowed', `use DELETE ${url.pathname}`, { allow: 'DELETE' });
      const session = await sessionBySecret(ctx, req, id);
      if (await endSession(ctx.store, session.id, 'client', 'DELETE /v1/sessions', ctx.config.signingKey, ctx.now())) {
        ctx.metrics.sessionsEnded.inc({ by: 'client' });
      }
      ctx.onSessionEnded(session.id);
      res.writeHead(204, { 'cache-control': 'no-store' });
      res.end();
    })()
      .then(() => done(res.statusCode))
      .catch((err: unknown) => {
        const api = toApiError(err, ctx);
        ctx.metrics.refusals.inc({ code: api.code });
        sendError(res, api);
        done(api.status);
        // Recorded after the answer: a store that is down must not delay the refusal.
        if (api.code !== 'not_found' && api.code !== 'method_not_allowed') void recordRefusal(ctx.store, `${req.method} ${url.pathname.slice(0, 200)}`, api.code, api.message, remote);
      })
      // Nothing a request does may take the process down.
      .catch(() => {});
  };
}

/** Internal failures become 500/503 without internals; a store failure fails closed as 503. */
export function toApiError(err: unknown, ctx: GatewayContext): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof StoreError) {
    ctx.logger.warn(`tollgate gateway: ${err.message}`);
    return new ApiError(503, 'unavailable', 'the gateway cannot reach its state store, so it refuses (nothing was allowed); retry later', { 'retry-after': '5' });
  }
  ctx.logger.warn(`tollgate gateway: internal error: ${(err as Error)?.stack ?? String(err)}`);
  return new ApiError(500, 'internal', 'the gateway failed to handle the request; nothing was allowed');
}

/** The session whose secret the request carries; unknown id and wrong secret answer alike. */
async function sessionBySecret(ctx: GatewayContext, req: IncomingMessage, id: string): Promise<SessionRow> {
  const secret = bearer(req, 'session secret');
  const session = await authenticate(ctx.store, id, secret);
  if (!session) {
    throw new ApiError(401, 'unauthenticated', 'no session with that id and secret', { 'www-authenticate': 'Bearer' });
  }
  return session;
}

const TOKEN_CODES: Partial<Record<IdentityError['code'], string>> = {
  ERR_OIDC_EXPIRED: 'token_expired',
  ERR_OIDC_AUDIENCE: 'wrong_audience',
  ERR_OIDC_ISSUER: 'wrong_issuer',
  ERR_OIDC_SIGNATURE: 'bad_signature',
  ERR_OIDC_NO_KEY: 'bad_signature',
  ERR_OIDC_ALG: 'bad_signature',
  ERR_OIDC_NOT_YET_VALID: 'token_not_yet_valid',
};

async function openSession(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const refuse = (err: ApiError): never => {
    throw err;
  };
  if (ctx.draining) throw new ApiError(503, 'draining', 'this gateway replica is shutting down; retry (another replica will answer)', { 'retry-after': '1' });
  const token = bearer(req, 'GitHub OIDC token');
  const body = await readJsonObject(req);
  const { role: wanted, pullRequest } = parseSessionRequest(body);

  let claims: Claims;
  try {
    claims = await verifyOidcToken(token, { issuer: ctx.config.oidc.issuer, audience: ctx.config.oidc.audience, currentDate: ctx.now() });
  } catch (err) {
    if (!(err instanceof IdentityError)) throw err;
    if (err.code === 'ERR_OIDC_JWKS_UNREACHABLE' || err.code === 'ERR_OIDC_JWKS_INVALID') {
      return refuse(new ApiError(503, 'issuer_unavailable', err.message, { 'retry-after': '5' }));
    }
    return refuse(new ApiError(401, TOKEN_CODES[err.code] ?? 'invalid_token', err.message, { 'www-authenticate': 'Bearer error="invalid_token"' }));
  }
  // A token opens one session: a copy taken from the job (or its logs) is worth nothing after.
  if (typeof claims.jti !== 'string' || claims.jti === '' || claims.jti.length > 200) {
    return refuse(new ApiError(401, 'invalid_token', 'the OIDC token has no jti claim, so it cannot be made single-use; GitHub tokens always carry one'));
  }
  if (!(await claimTokenOnce(ctx.store, `${claims.iss}|${claims.jti}`, new Date(claims.exp * 1000)))) {
    return refuse(new ApiError(401, 'token_replayed', 'this OIDC token was already exchanged for a session; request a new token for each session'));
  }

  let roleName: string;
  try {
    roleName = selectRole(ctx.config.policy, claims, wanted).name;
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    return refuse(new ApiError(403, err.code === 'ERR_ROLE_UNKNOWN' ? 'unknown_role' : 'no_role', err.message));
  }
  const role = ctx.config.policy.roles.get(roleName)!;
  if (pullRequest && claims.ref !== `refs/pull/${pullRequest.number}/merge`) {
    return refuse(new ApiError(403, 'pull_request_mismatch', `pull request ${pullRequest.number} is not this job's: its token's ref is ${JSON.stringify(claims.ref ?? null)}, not refs/pull/${pullRequest.number}/merge`));
  }
  const upstreamName = role.upstream!;
  const upstream = ctx.config.upstreams.get(upstreamName)!;
  const { session, secret } = await createSession(ctx.store, {
    role: role.name,
    upstream: upstreamName,
    identity: claims,
    ttlMs: ctx.config.policy.sessionTtlMs,
    pullRequest: pullRequest?.number ?? null,
    headSha: pullRequest?.headSha ?? null,
  }, ctx.now());
  ctx.metrics.sessionsOpened.inc({ role: role.name });
  ctx.logger.info(`tollgate gateway: session ${session.id} opened for ${String(claims.repository ?? claims.sub)} (role ${role.name})`);
  sendJson(res, 201, {
    session_id: session.id,
    secret,
    role: role.name,
    expires_at: session.expiresAt.toISOString(),
    postgres: { host: publicHost(ctx, req), port: ctx.config.listen.postgres.port, database: databaseOf(upstream.url), user: session.id },
  });
}

function parseSessionRequest(body: Record<string, unknown>): { role?: string; pullRequest?: { number: number; headSha: string | null } } {
  for (const k of Object.keys(body)) {
    if (k !== 'role' && k !== 'pull_request') throw new ApiError(400, 'bad_request', `unknown field ${JSON.stringify(k.slice(0, 40))} (expected role, pull_request)`);
  }
  const out: { role?: string; pullRequest?: { number: number; headSha: string | null } } = {};
  if (body.role !== undefined) {
    if (typeof body.role !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(body.role)) throw new ApiError(400, 'bad_request', 'role must be a role name');
    out.role = body.role;
  }
  if (body.pull_request !== undefined) {
    const pr = body.pull_request as Record<string, unknown> | null;
    if (pr === null || typeof pr !== 'object' || Array.isArray(pr)) throw new ApiError(400, 'bad_request', 'pull_request must be an object {number, head_sha}');
    if (!Number.isSafeInteger(pr.number) || (pr.number as number) < 1) throw new ApiError(400, 'bad_request', 'pull_request.number must be a positive integer');
    if (pr.head_sha !== undefined && (typeof pr.head_sha !== 'string' || !/^[0-9a-f]{40}$/.test(pr.head_sha))) {
      throw new ApiError(400, 'bad_request', 'pull_request.head_sha must be 40 lowercase hex digits');
    }
    out.pullRequest = { number: pr.number as number, headSha: (pr.head_sha as string | undefined) ?? null };
  }
  return out;
}

/** The name the client reached the API by (its TLS name), else the listener's address. */
function publicHost(ctx: GatewayContext, req: IncomingMessage): string {
  const host = String(req.headers.host ?? '');
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(?::\d{1,5})?$/.exec(host);
  if (m) return m[1]!.replace(/^\[|\]$/g, '');
  return ctx.config.listen.postgres.host;
}

function databaseOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'postgres';
  } catch {
    return 'postgres';
  }
}
