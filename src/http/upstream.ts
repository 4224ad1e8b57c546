// The upstream side of one HTTP listener: an undici Pool (keep-alive, certificates verified, custom
// CA and client certificate supported) and the real credential the proxy injects. A registry whose
// basic credentials meet a Bearer challenge gets the token flow (distribution's token
// authentication): a token per repository scope from the challenge's realm, cached until it expires.
import { Pool, request as undiciRequest, type Dispatcher } from 'undici';
import type { HttpUpstream } from '../policy/compile-http.js';

export interface UpstreamCredentials {
  bearer?: string;
  basic?: { username: string; password: string };
  /** PEM, for `client_cert`. */
  cert?: string;
  key?: string;
  /** PEM of the CA from `ca_file`. */
  ca?: string;
}

interface Challenge {
  realm: string;
  service: string | null;
}

const TOKEN_SLACK_MS = 10_000;

export class UpstreamClient {
  readonly pool: Pool;
  readonly origin: string;
  readonly basePath: string;
  private challenge: Promise<Challenge | null> | null = null;
  private readonly tokens = new Map<string, { value: string; until: number }>();

  constructor(
    readonly upstream: HttpUpstream,
    private readonly creds: UpstreamCredentials,
    opts: { connections?: number } = {},
  ) {
    const url = new URL(upstream.url);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/$/, '');
    this.pool = new Pool(this.origin, {
      connections: opts.connections ?? 32,
      keepAliveTimeout: 30_000,
      // Bodies can be large and watches long: no overall timeout, only while waiting for headers.
      headersTimeout: 300_000,
      bodyTimeout: 0,
      connect: {
        rejectUnauthorized: true,
        ...(creds.ca ? { ca: creds.ca } : {}),
        ...(creds.cert && creds.key ? { cert: creds.cert, key: creds.key } : {}),
      },
    });
  }

  /** The Authorization header to send for a request needing `scopes` (registry token scopes). */
  async authorization(scopes: readonly string[]): Promise<string | null> {
    if (this.creds.bearer) return `Bearer ${this.creds.bearer}`;
    const basic = this.creds.basic;
    if (!basic) return null;
    const basicHeader = `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}`;
    if (this.upstream.type !== 'registry') return basicHeader;
    this.challenge ??= this.probe().catch((err: unknown) => {
      this.challenge = null;
      throw err;
    });
    const challenge = await this.challenge;
    if (!challenge) return basicHeader;
    return `Bearer ${await this.token(challenge, scopes, basicHeader)}`;
  }

  /** `GET /v2/` without credentials: a Bearer challenge means the registry wants tokens. */
  private async probe(): Promise<Challenge | null> {
    const res = await this.pool.request({ method: 'GET', path: `${this.basePath}/v2/` });
    await res.body.dump();
    if (res.statusCode !== 401) return null;
    return parseBearerChallenge(String(res.headers['www-authenticate'] ?? ''));
  }

  private async token(challenge: Challenge, scopes: readonly string[], basicHeader: string): Promise<string> {
    const key = [...scopes].sort().join(' ');
    const cached = this.tokens.get(key);
    if (cached && cached.until > Date.now()) return cached.value;
    const url = new URL(challenge.realm);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const res = await undiciRequest(url, {
      method: 'GET',
      headers: { authorization: basicHeader },
      dispatcher: url.origin === this.origin ? this.pool : undefined,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`the registry's token service answered ${res.statusCode}`);
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new Error("the registry's token service did not answer JSON");
    }
    const value = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : null;
    if (!value) throw new Error("the registry's token service gave no token");
    const ttl = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in * 1000 : 60_000;
    if (this.tokens.size > 1000) this.tokens.clear();
    this.tokens.set(key, { value, until: Date.now() + Math.max(0, ttl - TOKEN_SLACK_MS) });
    return value;
  }

  request(opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    return this.pool.request(opts);
  }

  upgrade(opts: Dispatcher.UpgradeOptions): Promise<Dispatcher.UpgradeData> {
    return this.pool.upgrade(opts);
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}

/** `Bearer realm="https://auth/token",service="registry"` → realm and service; null otherwise. */
export function parseBearerChallenge(header: string): Challenge | null {
  const m = /^\s*Bearer\s+(.*)$/i.exec(header);
  if (!m) return null;
  const params = new Map<string, string>();
  for (const p of m[1]!.matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params.set(p[1]!.toLowerCase(), (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1'));
  }
  const realm = params.get('realm');
  if (!realm || !/^https?:\/\//i.test(realm)) return null;
  return { realm, service: params.get('service') ?? null };
}
