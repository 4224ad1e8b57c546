// A minimal GitHub REST client for the approval channel: bearer auth, the versioned media type, rate limits
// honoured by waiting (never by retrying at once), and pagination that never follows a link off the API host.
//
// GitHub's rules (docs: "Rate limits for the REST API"): when x-ratelimit-remaining is 0, wait until
// x-ratelimit-reset (epoch seconds); a 403/429 secondary limit with retry-after means wait that many seconds;
// without either header wait at least a minute, longer on each repeat.

import { LruMap } from '../cache.js';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export interface GithubClientOptions {
  apiUrl: string;
  token: string;
  fetch?: FetchLike;
  /** Milliseconds since the epoch. */
  now?: () => number;
  sleep?: Sleep;
  log?: (line: string) => void;
  /** Wait after a secondary limit that names no time (GitHub says: at least one minute). */
  secondaryWaitMs?: number;
  /** Per-request time limit. */
  requestTimeoutMs?: number;
}

export type GithubErrorCode =
  | 'ERR_GITHUB_HTTP' // a non-2xx answer that is not a rate limit
  | 'ERR_GITHUB_NETWORK' // no answer at all (refused, reset, timed out)
  | 'ERR_GITHUB_RATE_LIMITED' // the wait the API asks for goes past the caller's deadline
  | 'ERR_GITHUB_ABORTED'
  | 'ERR_GITHUB_BAD_RESPONSE'; // an answer that is not the JSON we asked for

export class GithubApiError extends Error {
  constructor(
    readonly code: GithubErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'GithubApiError';
  }

  /** Worth trying again later (the answer might differ): network trouble, 5xx, rate limits. */
  get transient(): boolean {
    return this.code === 'ERR_GITHUB_NETWORK' || this.code === 'ERR_GITHUB_RATE_LIMITED' ||
      (this.code === 'ERR_GITHUB_HTTP' && (this.status ?? 0) >= 500);
  }
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number>;
  /** Do not wait for a rate limit past this time (epoch ms). */
  deadline?: number;
  signal?: AbortSignal;
  /** Conditional GET: a 304 answer (which GitHub does not count against the rate limit) comes back as status 304. */
  etag?: string;
  /** Cuts short only the waits for a rate limit (before anything is sent), never a request in flight. */
  waitSignal?: AbortSignal;
}

export interface GithubResponse<T> {
  status: number;
  data: T;
  headers: Headers;
}

const MAX_RATE_LIMIT_RETRIES = 5;
const PAGE_CACHE_SIZE = 64;

export class GithubClient {
  private readonly base: URL;
  private readonly token: string;
  private readonly fetchImpl: FetchLike;
  private readonly now: () => number;
  private readonly sleep: Sleep;
  private readonly log: (line: string) => void;
  private readonly secondaryWaitMs: number;
  private readonly requestTimeoutMs: number;
  /** Shared by every request of this client: nothing is sent before this time (epoch ms). */
  private blockedUntil = 0;
  /** Last answer per page URL, for conditional requests (oldest dropped first). */
  private readonly pages = new LruMap<string, { etag: string; data: unknown[]; link: string | null }>(PAGE_CACHE_SIZE);

  constructor(opts: GithubClientOptions) {
    this.base = new URL(opts.apiUrl.endsWith('/') ? opts.apiUrl : `${opts.apiUrl}/`);
    this.token = opts.token;
    this.fetchImpl = opts.fetch ?? ((input, init) => fetch(input, init));
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? abortableSleep;
    this.log = opts.log ?? (() => {});
    this.secondaryWaitMs = opts.secondaryWaitMs ?? 60_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  }

  /** `path` is relative to the API base ("repos/o/r/check-runs"); absolute URLs must be on the API's origin. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<GithubResponse<T>> {
    const url = this.resolve(path, opts.query);
    let secondaryStrikes = 0;
    for (let attempt = 0; ; attempt++) {
      await this.waitForLimit(opts);
      const res = await this.send(method, url, opts);
      this.noteLimit(res.headers);
      if ((res.status === 403 || res.status === 429) && attempt < MAX_RATE_LIMIT_RETRIES) {
        const text = await res.text().catch(() => '');
        const wait = this.rateLimitWait(res.headers, text, secondaryStrikes);
        if (wait !== null) {
          if (wait.secondary) secondaryStrikes++;
          this.blockedUntil = Math.max(this.blockedUntil, this.now() + wait.ms);
          this.log(`tollgate: GitHub API rate limit (${res.status} on ${method} ${url.pathname}): waiting ${Math.ceil(wait.ms / 1000)}s`);
          continue;
        }
        throw httpError(method, url, res.status, text);
      }
      if (res.status === 304 && opts.etag) return { status: 304, data: undefined as T, headers: res.headers };
      if (res.status < 200 || res.status >= 300) {
        throw httpError(method, url, res.status, await res.text().catch(() => ''));
      }
      const data = res.status === 204 ? (undefined as T) : await parseJson<T>(res, method, url);
      return { status: res.status, data, headers: res.headers };
    }
  }

  /**
   * GET every page of a list, following `Link: rel="next"` (only on the API's own origin). Pages are
   * fetched conditionally (If-None-Match): polling an unchanged list costs no rate limit.
   */
  async paginate<T>(path: string, query: Record<string, string | number>, opts: RequestOptions = {}): Promise<T[]> {
    const items: T[] = [];
    let next: string | null = this.resolve(path, query).href;
    for (let pages = 0; next && pages < 100; pages++) {
      const url: string = next;
      const cached = this.pages.get(url);
      const res: GithubResponse<T[]> = await this.request<T[]>('GET', url, { ...opts, etag: cached?.etag });
      let data: unknown = res.data;
      let link = res.headers.get('link');
      if (res.status === 304 && cached) {
        ({ data, link } = cached);
      } else {
        const etag = res.headers.get('etag');
        this.pages.delete(url);
        if (etag && Array.isArray(data)) this.pages.set(url, { etag, data, link });
      }
      if (!Array.isArray(data)) throw new GithubApiError('ERR_GITHUB_BAD_RESPONSE', `GET ${path}: expected a list`);
      items.push(...(data as T[]));
      next = nextLink(link);
    }
    return items;
  }

  /**
   * A GraphQL query (POST {api}/graphql; on GitHub Enterprise Server /api/v3 → /api/graphql). GraphQL
   * errors are an ERR_GITHUB_BAD_RESPONSE: a partial answer is no answer.
   */
  async graphql<T>(query: string, variables: Record<string, unknown>, opts: RequestOptions = {}): Promise<T> {
    const url = this.base.pathname.endsWith('/api/v3/') ? new URL('/api/graphql', this.base) : new URL('graphql', this.base);
    const res = await this.request<{ data?: T; errors?: { message?: unknown; type?: unknown }[] }>('POST', url.href, { ...opts, body: { query, variables } });
    // A node that does not exist (deleted) is an answer: data with null in its place and a NOT_FOUND error.
    const onlyNotFound = (res.data?.errors ?? []).every((e) => e?.type === 'NOT_FOUND');
    if ((res.data?.errors?.length && !onlyNotFound) || res.data?.data === undefined) {
      const first = res.data?.errors?.[0]?.message;
      throw new GithubApiError('ERR_GITHUB_BAD_RESPONSE', `GraphQL: ${typeof first === 'string' ? oneLine(first).slice(0, 200) : 'no data'}`);
    }
    return res.data.data;
  }

  private resolve(path: string, query?: Record<string, string | number>): URL {
    const url = new URL(path.replace(/^\//, ''), this.base);
    // GraphQL lives beside the REST base on GitHub Enterprise Server (/api/graphql next to /api/v3).
    if (this.base.pathname.endsWith('/api/v3/') && url.origin === this.base.origin && url.pathname === '/api/graphql') return url;
    // The token goes only to the configured API: a Link header pointing elsewhere is refused.
    if (url.origin !== this.base.origin || !url.pathname.startsWith(this.base.pathname)) {
      throw new GithubApiError('ERR_GITHUB_BAD_RESPONSE', `refusing to send the token outside ${this.base.origin}${this.base.pathname}`);
    }
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, String(v));
    return url;
  }

  private async waitForLimit(opts: RequestOptions): Promise<void> {
    const wait = this.blockedUntil - this.now();
    if (wait <= 0) return;
    if (opts.deadline !== undefined && this.blockedUntil > opts.deadline) {
      throw new GithubApiError('ERR_GITHUB_RATE_LIMITED',
        `GitHub API rate limit: the next request is allowed at ${new Date(this.blockedUntil).toISOString()}, after the deadline`);
    }
    const signal = opts.signal ?? opts.waitSignal;
    await this.sleep(wait, signal);
    if (signal?.aborted) throw new GithubApiError('ERR_GITHUB_ABORTED', 'aborted');
  }

  private async send(method: string, url: URL, opts: RequestOptions): Promise<Response> {
    if (opts.signal?.aborted) throw new GithubApiError('ERR_GITHUB_ABORTED', 'aborted');
    const timeout = AbortSignal.timeout(this.requestTimeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.token}`,
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
      'user-agent': 'tollgate',
    };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.etag) headers['if-none-match'] = opts.etag;
    try {
      return await this.fetchImpl(url.href, {
        method, headers, signal,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
    } catch (err) {
      if (opts.signal?.aborted) throw new GithubApiError('ERR_GITHUB_ABORTED', 'aborted');
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new GithubApiError('ERR_GITHUB_NETWORK', `${method} ${url.pathname}: no answer from the GitHub API (${cause})`);
    }
  }

  /** A spent primary budget blocks the next request until the reset time. */
  private noteLimit(headers: Headers): void {
    if (headers.get('x-ratelimit-remaining') !== '0') return;
    const reset = Number(headers.get('x-ratelimit-reset'));
    if (Number.isFinite(reset) && reset > 0) this.blockedUntil = Math.max(this.blockedUntil, reset * 1000 + 1000);
  }

  private rateLimitWait(headers: Headers, body: string, strikes: number): { ms: number; secondary: boolean } | null {
    const retryAfter = Number(headers.get('retry-after'));
    if (headers.get('retry-after') !== null && Number.isFinite(retryAfter) && retryAfter >= 0) {
      return { ms: retryAfter * 1000, secondary: true };
    }
    if (headers.get('x-ratelimit-remaining') === '0') {
      const reset = Number(headers.get('x-ratelimit-reset'));
      if (Number.isFinite(reset) && reset > 0) return { ms: Math.max(1000, reset * 1000 - this.now() + 1000), secondary: false };
    }
    if (/rate limit/i.test(body)) return { ms: this.secondaryWaitMs * 2 ** strikes, secondary: true };
    return null; // an ordinary 403 (missing permission): not a limit, waiting would not help
  }
}

function httpError(method: string, url: URL, status: number, body: string): GithubApiError {
  let message = '';
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not JSON: say only the status
  }
  const detail = message ? `: ${oneLine(message).slice(0, 200)}` : '';
  return new GithubApiError('ERR_GITHUB_HTTP', `${method} ${url.pathname}: HTTP ${status}${detail}`, status);
}

async function parseJson<T>(res: Response, method: string, url: URL): Promise<T> {
  try {
    return (await res.json()) as T;
  } catch {
    throw new GithubApiError('ERR_GITHUB_BAD_RESPONSE', `${method} ${url.pathname}: the answer is not JSON`, res.status);
  }
}

/** `<https://api.github.com/…&page=2>; rel="next", <…>; rel="last"` → the next URL. */
export function nextLink(link: string | null): string | null {
  if (!link) return null;
  for (const part of link.split(',')) {
    const m = /^\s*<([^>]+)>\s*;(.*)$/.exec(part);
    if (m && /(?:^|;)\s*rel="?([^";]*\s)?next(\s[^";]*)?"?\s*(?:;|$)/.test(m[2]!)) return m[1]!;
  }
  return null;
}

/** What reaches a log line: one line, and no `::` that the runner would read as a workflow command. */
export function oneLine(text: string): string {
  return text.replace(/[\r\n\u0000-\u001f\u007f]+/g, ' ').replace(/::/g, ': :');
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
