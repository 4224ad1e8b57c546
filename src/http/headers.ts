// Request headers judged before anything is decided, and the headers each side may pass on. Pure.
//
// Node's parser (llhttp, strict) already refuses much of request smuggling; this is the second
// line, on the raw header list, so what the proxy decided is the only reading the upstream can
// have: one Host that names this listener, at most one Content-Length (digits), Transfer-Encoding
// exactly `chunked` and never with Content-Length, one Authorization, no control characters.

export type HeaderCheck =
  | {
      ok: true;
      /** The client's Authorization header, if any (consumed here, never forwarded). */
      authorization: string | null;
      /** Headers to forward (hop-by-hop, credentials and forwarding headers removed). */
      forward: Record<string, string | string[]>;
      /** Whether a body follows (Content-Length > 0 or chunked). */
      hasBody: boolean;
      /** The Upgrade protocol the client asks for, or null. */
      upgrade: string | null;
      expectContinue: boolean;
    }
  | { ok: false; reason: string };

/** Headers that exist once per message: a second copy is a second reading. */
const SINGLE = new Set(['host', 'content-length', 'transfer-encoding', 'authorization', 'proxy-authorization', 'content-type', 'upgrade', 'expect']);

/** Hop-by-hop (RFC 9110 7.6.1) and what the proxy answers itself: never forwarded. */
const DROP = new Set([
  'host', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', 'proxy-authenticate', 'authorization', 'expect',
  // The proxy is the upstream's client: a job does not get to say where a request came from.
  'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip',
]);

const BAD_VALUE = /[\u0000-\u0008\u000a-\u001f\u007f]/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Checks the raw header list (Node's `req.rawHeaders`: name, value, name, value…) of a request that
 * arrived on `listenHosts` (the Host values that name this listener, lower-case `host:port`).
 */
export function checkRequestHeaders(raw: readonly string[], listenHosts: ReadonlySet<string>): HeaderCheck {
  const seen = new Map<string, string>();
  const forward: Record<string, string | string[]> = {};
  const connectionTokens = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (!TOKEN.test(name)) return { ok: false, reason: `bad header name ${JSON.stringify(raw[i])}` };
    if (BAD_VALUE.test(value)) return { ok: false, reason: `control character in header ${name}` };
    if (SINGLE.has(name) && seen.has(name)) return { ok: false, reason: `header ${name} given more than once` };
    seen.set(name, value);
    if (name === 'connection') for (const t of value.split(',')) connectionTokens.add(t.trim().toLowerCase());
  }
  const host = seen.get('host');
  if (host === undefined) return { ok: false, reason: 'no Host header' };
  if (!listenHosts.has(host.toLowerCase())) return { ok: false, reason: `Host ${JSON.stringify(host)} does not name this listener` };

  const te = seen.get('transfer-encoding');
  const cl = seen.get('content-length');
  if (te !== undefined && cl !== undefined) return { ok: false, reason: 'both Content-Length and Transfer-Encoding' };
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') return { ok: false, reason: `Transfer-Encoding ${JSON.stringify(te)} (only chunked is accepted)` };
  if (cl !== undefined && !/^\d{1,15}$/.test(cl.trim())) return { ok: false, reason: `Content-Length ${JSON.stringify(cl)} is not a number` };

  const expect = seen.get('expect');
  if (expect !== undefined && expect.trim().toLowerCase() !== '100-continue') return { ok: false, reason: `Expect ${JSON.stringify(expect)}` };

  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (DROP.has(name) || connectionTokens.has(name)) continue;
    const prev = forward[name];
    forward[name] = prev === undefined ? raw[i + 1]! : Array.isArray(prev) ? [...prev, raw[i + 1]!] : [prev, raw[i + 1]!];
  }
  const upgrade = connectionTokens.has('upgrade') ? seen.get('upgrade') ?? null : null;
  return {
    ok: true,
    authorization: seen.get('authorization') ?? null,
    forward,
    hasBody: te !== undefined || (cl !== undefined && Number(cl) > 0),
    upgrade,
    expectContinue: expect !== undefined,
  };
}

const RESPONSE_DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate']);

/**
 * The upstream's response headers as the client may see them: hop-by-hop removed, and a Location
 * that points into the upstream rewritten to this listener (a registry answers uploads with an
 * absolute Location built from the Host it saw: followed as is, the client would leave the proxy).
 */
export function responseHeaders(
  headers: Record<string, string | string[] | undefined>,
  upstreamBase: string,
  listenerBase: string,
  dropLength = false,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connectionTokens = new Set(String(headers.connection ?? '').split(',').map((t) => t.trim().toLowerCase()));
  for (const [k, v] of Object.entries(headers)) {
    const name = k.toLowerCase();
    if (v === undefined || RESPONSE_DROP.has(name) || connectionTokens.has(name)) continue;
    if (dropLength && name === 'content-length') continue;
    if (name === 'location' && typeof v === 'string') out[name] = rewriteLocation(v, upstreamBase, listenerBase);
    else out[name] = v;
  }
  return out;
}

function rewriteLocation(location: string, upstreamBase: string, listenerBase: string): string {
  if (location.startsWith('/')) {
    // Relative to the upstream's root: strip the upstream's base path when it has one.
    const basePath = new URL(upstreamBase).pathname.replace(/\/$/, '');
    return basePath && location.startsWith(`${basePath}/`) ? location.slice(basePath.length) : location;
  }
  const lower = location.toLowerCase();
  const base = upstreamBase.toLowerCase();
  if (lower === base || lower.startsWith(`${base}/`) || lower.startsWith(`${base}?`)) {
    return listenerBase + location.slice(upstreamBase.length);
  }
  return location;
}
