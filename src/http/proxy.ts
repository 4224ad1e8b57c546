// One HTTP upstream's enforcing reverse proxy. `createHttpProxy` returns handlers that any
// node:http(s) server can carry (`attachHttpProxy`): the in-runner listener on loopback here, a TLS
// port of the gateway later. Per request:
//
//   headers judged (smuggling → 400) → session secret checked (→ 401) → target normalized (→ 400)
//   → decided by the engine (deny → 403, review → held for the approver) → credential swapped
//   → forwarded with undici, bodies streamed both ways (never buffered) → one audit record.
//
// A request with `Expect: 100-continue` is decided before the client sends its body; a denied one
// closes the connection instead of reading the body it would throw away.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Approver, ReviewOutcome } from '../approval/types.js';
import type { HttpUpstream } from '../policy/compile-http.js';
import { clientAuthenticator } from './client-auth.js';
import type { HttpDecision, HttpEngine } from './engine.js';
import { checkRequestHeaders, responseHeaders } from './headers.js';
import { classifyRegistry } from './registry.js';
import { badGateway, badRequest, denied, rawResponse, unauthorized, type ProxyAnswer } from './responses.js';
import { compileFieldMasker } from './mask.js';
import { maskLines, maskPlan, MaskRefused, maskWhole } from './mask-stream.js';
import { normalizeTarget, queryValues, type NormalizedTarget } from './target.js';
import type { UpstreamClient } from './upstream.js';

/** What the proxy reports of one request; src/audit/http-record.ts turns it into a log line. */
export interface HttpExchange {
  time: Date;
  upstream: string;
  method: string;
  /** Normalized path, query values hidden; the raw target (cut) when it could not be normalized. */
  path: string;
  operation: string | null;
  decision: 'allow' | 'deny' | 'review' | 'error';
  rule: string | null;
  reason: string;
  /** Status sent to the client (0 when the connection broke before one was sent). */
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  approval?: ReviewOutcome & { id: string };
}

export interface HttpProxyOptions {
  upstream: HttpUpstream;
  client: UpstreamClient;
  engine: HttpEngine;
  /** The session secret clients authenticate with. */
  secret: string;
  sessionId: string;
  expiresAt: Date;
  identity: Record<string, unknown>;
  approver: Approver;
  approvalTimeoutMs: number;
  /** Called once per request when it ends. Must not throw. */
  record: (exchange: HttpExchange) => void;
  /** Refuse new requests while the audit log cannot be written (fail closed). */
  auditBroken?: () => string | null;
  /** Host header values that name this listener (`127.0.0.1:5000`, `localhost:5000`…), lower-case. */
  listenHosts: () => ReadonlySet<string>;
  /** `http://127.0.0.1:5000`: where rewritten Location headers point. */
  listenerBase: () => string;
  now?: () => Date;
}

export interface HttpProxy {
  onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Requests in flight. */
  readonly active: number;
  /** Ends every upgraded connection (they leave the server's bookkeeping once switched). */
  closeUpgraded(): void;
}

/** Upgrades that carry a protocol of their own to the upstream's application: websocket (kubectl
 * exec/port-forward, browsers) and SPDY (older kubectl). `h2c` and anything else would tunnel
 * HTTP requests past the decision, so they are refused. */
const UPGRADES = new Set(['websocket', 'spdy/3.1']);

const cut = (text: string, max = 200) => (text.length > max ? `${text.slice(0, max)}…` : text);
/** The raw target for the log when it could not be normalized: the path cut short, never query values. */
const rawForAudit = (url: string) => {
  const q = url.indexOf('?');
  return q < 0 ? cut(url) : `${cut(url.slice(0, q))}?…`;
};

export function createHttpProxy(opts: HttpProxyOptions): HttpProxy {
  const authenticate = clientAuthenticator(opts.secret);
  const now = opts.now ?? (() => new Date());
  const type = opts.upstream.type;
  const masker = opts.upstream.mask.length > 0 ? compileFieldMasker(opts.upstream.mask) : null;
  const upgraded = new Set<Duplex>();
  let active = 0;

  interface Judged {
    target: NormalizedTarget;
    decision: HttpDecision;
    forward: Record<string, string | string[]>;
    hasBody: boolean;
    expectContinue: boolean;
    upgrade: string | null;
  }

  /** Everything before forwarding. Returns the answer to send instead, or what to forward. */
  async function judge(req: IncomingMessage, ex: HttpExchange, signal: AbortSignal): Promise<{ answer: ProxyAnswer } | Judged> {
    const method = req.method ?? 'GET';
    const headers = checkRequestHeaders(req.rawHeaders, opts.listenHosts());
    if (!headers.ok) {
      ex.reason = headers.reason;
      return { answer: badRequest(type, headers.reason) };
    }
    const auth = authenticate(headers.authorization);
    if (auth !== 'ok') {
      ex.reason = auth === 'missing' ? 'no credentials' : 'wrong credentials';
      return { answer: unauthorized(type, auth === 'missing' ? 'authentication required' : 'wrong credentials') };
    }
    const normalized = normalizeTarget(req.url ?? '', { caseInsensitive: opts.upstream.caseInsensitivePaths });
    if (!normalized.ok) {
      ex.reason = normalized.reason;
      return { answer: badRequest(type, normalized.reason) };
    }
    const target = normalized.target;
    ex.path = target.auditPath;
    if (now() >= opts.expiresAt) {
      ex.reason = 'session expired';
      return { answer: denied(type, 'session expired', null) };
    }
    const broken = opts.auditBroken?.();
    if (broken) {
      ex.reason = `the audit log cannot be written: ${broken}`;
      return { answer: denied(type, ex.reason, null) };
    }
    const header = (name: string): string[] => {
      const out: string[] = [];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === name) out.push(req.rawHeaders[i + 1]!);
      return out;
    };
    const decision = opts.engine.decide({ upstream: opts.upstream, method, target, header });
    ex.operation = decision.operation;
    ex.rule = decision.rule;
    ex.reason = decision.reason;
    ex.decision = decision.decision;
    if (decision.invalid) return { answer: badRequest(type, decision.invalid) };
    if (decision.decision === 'deny') return { answer: denied(type, decision.reason, decision.rule) };
    if (decision.decision === 'review') {
      const id = randomUUID();
      const outcome = await opts.approver.review(
        {
          id,
          sessionId: opts.sessionId,
          statement: `${method} ${target.auditPath}`,
          kind: decision.vocabulary === 'http' ? method.toLowerCase() : decision.operation.split(' ')[0]!,
          object: `${opts.upstream.name}: ${decision.operation}`,
          rule: decision.rule,
          reason: decision.reason,
          identity: opts.identity,
          requestedAt: now(),
          timeoutMs: opts.approvalTimeoutMs,
        },
        signal,
      );
      ex.approval = { ...outcome, id };
      if (!outcome.approved) {
        const why = outcome.via === 'timeout' ? 'no approval in time' : outcome.reason ?? 'not approved';
        return { answer: denied(type, `${decision.reason}: ${why}`, decision.rule) };
      }
    }
    return { target, decision, forward: headers.forward, hasBody: headers.hasBody, expectContinue: headers.expectContinue, upgrade: headers.upgrade };
  }

  async function upstreamHeaders(j: Judged, method: string): Promise<Record<string, string | string[]>> {
    const out: Record<string, string | string[]> = { ...j.forward };
    // A body the proxy must read to mask has to arrive readable.
    if (masker) delete out['accept-encoding'];
    const scopes = registryScopes(method, j.target);
    const authorization = await opts.client.authorization(scopes);
    if (authorization) out.authorization = authorization;
    return out;
  }

  function send(res: ServerResponse, a: ProxyAnswer, ex: HttpExchange): void {
    ex.status = a.status;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(a.status, a.headers);
    res.end(a.body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const ex: HttpExchange = {
      time: now(), upstream: opts.upstream.name, method: req.method ?? '', path: rawForAudit(req.url ?? ''), operation: null,
      decision: 'deny', rule: null, reason: '', status: 0, bytesIn: 0, bytesOut: 0, durationMs: 0,
    };
    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.on('close', onClose);
    // Bytes written to the client during this request (headers included).
    const sock = req.socket;
    const written0 = sock.bytesWritten;
    try {
      const j = await judge(req, ex, abort.signal);
      if ('answer' in j) {
        // A small body is read and dropped, so the connection (and what is pipelined on it) goes
        // on; a large or chunked one is not read at all: the connection closes instead.
        if (!req.complete) {
          const length = Number(req.headers['content-length'] ?? NaN);
          if (length <= 65_536) req.resume();
          else res.shouldKeepAlive = false;
        }
        send(res, j.answer, ex);
        return;
      }
      const method = req.method!;
      const headers = await upstreamHeaders(j, method);
      if (j.expectContinue) res.writeContinue();
      let upstreamRes;
      try {
        upstreamRes = await opts.client.request({
          method: method as 'GET',
          path: `${opts.client.basePath}${j.target.path}${j.target.rawQuery ? `?${j.target.rawQuery}` : ''}`,
          headers,
          // undici takes async iterables as bodies; its types only list streams.
          body: j.hasBody ? (counted(req, (n) => { ex.bytesIn += n; }) as unknown as Readable) : null,
          signal: abort.signal,
        });
      } catch (err) {
        ex.decision = 'error';
        ex.reason = `upstream: ${(err as Error).message}`;
        if (abort.signal.aborted) return;
        res.shouldKeepAlive = false;
        send(res, badGateway(type, `the upstream could not be reached: ${(err as Error).message}`), ex);
        return;
      }
      ex.status = upstreamRes.statusCode;
      const upstreamBase = opts.client.origin + opts.client.basePath;
      const plan = masker
        ? maskPlan(upstreamRes.headers, method, upstreamRes.statusCode, isWatch(j.target), opts.upstream.maxMaskedBody)
        : { kind: 'pass' as const };
      // A body the proxy stops reading ends in an abort error on it: expected, not a crash.
      upstreamRes.body.on('error', () => {});
      if (plan.kind === 'refuse') {
        upstreamRes.body.destroy();
        ex.decision = 'error';
        ex.reason = `response refused: ${plan.reason}`;
        send(res, maskRefusal(type, plan.reason), ex);
        return;
      }
      if (plan.kind === 'whole') {
        let masked: Buffer;
        try {
          masked = await maskWhole(upstreamRes.body, masker!, plan.limit);
        } catch (err) {
          upstreamRes.body.destroy();
          if (!(err instanceof MaskRefused)) throw err;
          ex.decision = 'error';
          ex.reason = `response refused: ${err.message}`;
          send(res, maskRefusal(type, err.message), ex);
          return;
        }
        const h = responseHeaders(upstreamRes.headers, upstreamBase, opts.listenerBase(), true);
        h['content-length'] = String(masked.length);
        res.writeHead(upstreamRes.statusCode, h);
        res.end(masked);
        return;
      }
      res.writeHead(upstreamRes.statusCode, responseHeaders(upstreamRes.headers, upstreamBase, opts.listenerBase(), plan.kind === 'lines'));
      try {
        if (plan.kind === 'lines') await pipeline(upstreamRes.body, maskLines(masker!, plan.limit), res);
        else await pipeline(upstreamRes.body, res);
      } catch (err) {
        ex.reason = `${ex.reason}; the response broke off: ${(err as Error).message}`;
        res.destroy();
      }
    } catch (err) {
      ex.decision = 'error';
      ex.reason = `tollgate: ${(err as Error)?.message ?? String(err)}`;
      send(res, badGateway(type, 'internal error'), ex);
    } finally {
      res.off('close', onClose);
      ex.bytesOut = sock.bytesWritten - written0;
      ex.durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      opts.record(ex);
    }
  }

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const started = process.hrtime.bigint();
    const ex: HttpExchange = {
      time: now(), upstream: opts.upstream.name, method: req.method ?? '', path: rawForAudit(req.url ?? ''), operation: null,
      decision: 'deny', rule: null, reason: '', status: 0, bytesIn: head.length, bytesOut: 0, durationMs: 0,
    };
    const abort = new AbortController();
    socket.on('error', () => abort.abort());
    socket.on('close', () => abort.abort());
    const refuse = (a: ProxyAnswer) => {
      ex.status = a.status;
      socket.end(rawResponse(a));
    };
    try {
      const j = await judge(req, ex, abort.signal);
      if ('answer' in j) return refuse(j.answer);
      if (!j.upgrade) return refuse(badRequest(type, 'Upgrade without Connection: upgrade'));
      if (!UPGRADES.has(j.upgrade.trim().toLowerCase())) return refuse(badRequest(type, `upgrade to ${JSON.stringify(j.upgrade)} is not proxied (only websocket and SPDY/3.1)`));
      if (masker) return refuse(badRequest(type, 'upgrades are not proxied to an upstream whose responses are masked'));
      const headers = await upstreamHeaders(j, req.method!);
      let up;
      try {
        up = await opts.client.upgrade({
          method: req.method as 'GET',
          path: `${opts.client.basePath}${j.target.path}${j.target.rawQuery ? `?${j.target.rawQuery}` : ''}`,
          headers,
          protocol: j.upgrade,
          signal: abort.signal,
        });
      } catch (err) {
        ex.decision = 'error';
        ex.reason = `upstream: ${(err as Error).message}`;
        return refuse(badGateway(type, `the upstream could not be reached: ${(err as Error).message}`));
      }
      ex.status = 101;
      const h = responseHeaders(up.headers, opts.client.origin, opts.listenerBase());
      const lines = Object.entries(h).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${x}\r\n`)).join('');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${j.upgrade}\r\n${lines}\r\n`);
      if (head.length) up.socket.write(head);
      upgraded.add(socket);
      upgraded.add(up.socket);
      await Promise.allSettled([pipeline(socket, up.socket), pipeline(up.socket, socket)]);
      upgraded.delete(socket);
      upgraded.delete(up.socket);
      const s = req.socket;
      ex.bytesIn = s.bytesRead;
      ex.bytesOut = s.bytesWritten;
    } catch (err) {
      ex.decision = 'error';
      ex.reason = `tollgate: ${(err as Error)?.message ?? String(err)}`;
      socket.destroy();
    } finally {
      ex.durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      opts.record(ex);
    }
  }

  return {
    onRequest: (req, res) => {
      active++;
      void handle(req, res).finally(() => { active--; });
    },
    onUpgrade: (req, socket, head) => {
      active++;
      void upgrade(req, socket, head).finally(() => { active--; });
    },
    get active() {
      return active;
    },
    closeUpgraded() {
      for (const s of upgraded) s.destroy();
      upgraded.clear();
    },
  };
}

/** The request body as undici reads it, counted on the way (a listener of our own would start the
 * stream flowing before undici reads it). */
async function* counted(body: AsyncIterable<Buffer>, add: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    add(chunk.length);
    yield chunk;
  }
}

function maskRefusal(type: HttpUpstream['type'], reason: string): ProxyAnswer {
  return badGateway(type, `the response could not be masked, so it is not passed on: ${reason}`);
}

const WATCH_FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);
function isWatch(target: NormalizedTarget): boolean {
  if (/^\/apis?\/(?:[^/]+\/)?[^/]+\/watch\//.test(target.path)) return true;
  const w = queryValues(target, 'watch');
  return w.length > 0 && !WATCH_FALSE.has(w[0]!);
}

/** Registry token scopes the request needs (empty for other upstreams). */
function registryScopes(method: string, target: NormalizedTarget): string[] {
  const r = classifyRegistry(method, target);
  if (!r) return [];
  if (r.kind === 'catalog') return ['registry:catalog:*'];
  if (r.kind === 'ping') return [];
  return r.accesses.map((a) => `repository:${a.repository}:${a.op === 'push' ? 'pull,push' : a.op}`);
}

/**
 * Puts the proxy on a server: requests, `Expect: 100-continue` (decided before the body is sent),
 * upgrades, and refuses CONNECT and what the parser rejects with a plain 400.
 */
export function attachHttpProxy(server: Server, proxy: HttpProxy): void {
  server.on('request', proxy.onRequest);
  server.on('checkContinue', proxy.onRequest);
  server.on('upgrade', proxy.onUpgrade);
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.end(rawResponse(badRequest('http', 'CONNECT is not proxied')));
  });
  server.on('tlsClientError', (_err: Error, socket: Duplex) => socket.destroy());
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) return socket.destroy();
    const reason = err.code === 'HPE_HEADER_OVERFLOW' ? 'headers too large' : `malformed request (${err.code ?? 'parse error'})`;
    socket.end(rawResponse(badRequest('http', reason)));
  });
}
