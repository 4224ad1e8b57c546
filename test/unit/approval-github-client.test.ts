import { describe, expect, it } from 'vitest';
import { GithubApiError, GithubClient, nextLink, oneLine } from '../../src/approval/github-client.js';

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

/** A scripted fetch and a fake clock whose sleep advances time: waits are observed, not endured. */
function harness(replies: Reply[]) {
  let clock = 1_800_000_000_000;
  const sent: { url: string; method: string; at: number; headers: Record<string, string> }[] = [];
  const sleeps: number[] = [];
  const client = new GithubClient({
    apiUrl: 'https://api.github.example/api/v3',
    token: 'ghs_secret',
    now: () => clock,
    sleep: async (ms) => { sleeps.push(ms); clock += ms; },
    fetch: async (url, init) => {
      sent.push({ url, method: String(init.method), at: clock, headers: init.headers as Record<string, string> });
      const r = replies.shift();
      if (!r) throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
      return new Response(r.body === undefined ? null : JSON.stringify(r.body), { status: r.status, headers: r.headers });
    },
    secondaryWaitMs: 60_000,
  });
  return { client, sent, sleeps, now: () => clock };
}

describe('GithubClient', () => {
  it('sends the bearer token, the media type and the API version to the base URL', async () => {
    const h = harness([{ status: 200, body: { ok: 1 } }]);
    const res = await h.client.request<{ ok: number }>('GET', 'repos/o/r', { query: { a: 'b c' } });
    expect(res.data).toEqual({ ok: 1 });
    expect(h.sent[0]!.url).toBe('https://api.github.example/api/v3/repos/o/r?a=b+c');
    expect(h.sent[0]!.headers).toMatchObject({
      authorization: 'Bearer ghs_secret', accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28',
    });
  });

  it('waits retry-after on a secondary limit, then retries', async () => {
    const h = harness([{ status: 429, headers: { 'retry-after': '7' } }, { status: 200, body: [] }]);
    await h.client.request('GET', 'x');
    expect(h.sleeps).toEqual([7000]);
    expect(h.sent[1]!.at - h.sent[0]!.at).toBe(7000);
  });

  it('waits until x-ratelimit-reset when the primary budget is spent (403, remaining 0)', async () => {
    const reset = Math.floor(harness([]).now() / 1000) + 30;
    const replies: Reply[] = [
      { status: 403, body: { message: 'API rate limit exceeded' }, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) } },
      { status: 200, body: {} },
    ];
    const h2 = harness(replies);
    await h2.client.request('GET', 'x');
    expect(h2.sent).toHaveLength(2);
    expect(h2.sent[1]!.at).toBeGreaterThanOrEqual(reset * 1000);
  });

  it('after a response that spends the budget, the next request waits for the reset', async () => {
    const reset = Math.floor(harness([]).now() / 1000) + 10;
    const h2 = harness([
      { status: 200, body: {}, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) } },
      { status: 200, body: {} },
    ]);
    await h2.client.request('GET', 'a');
    await h2.client.request('GET', 'b');
    expect(h2.sent[1]!.at).toBe(reset * 1000 + 1000);
  });

  it('a secondary limit without headers waits a minute, doubling on each repeat', async () => {
    const limited = { status: 403, body: { message: 'You have exceeded a secondary rate limit' } };
    const h = harness([limited, limited, { status: 200, body: {} }]);
    await h.client.request('GET', 'x');
    expect(h.sleeps).toEqual([60_000, 120_000]);
  });

  it('does not wait past the deadline: ERR_GITHUB_RATE_LIMITED, transient', async () => {
    const h = harness([{ status: 403, headers: { 'retry-after': '120' } }]);
    const err = await h.client.request('GET', 'x', { deadline: h.now() + 60_000 }).catch((e) => e);
    expect(err).toBeInstanceOf(GithubApiError);
    expect(err.code).toBe('ERR_GITHUB_RATE_LIMITED');
    expect(err.transient).toBe(true);
    expect(h.sleeps).toEqual([]);
  });

  it('an ordinary 403 is an error at once, not a wait', async () => {
    const h = harness([{ status: 403, body: { message: 'Resource not accessible by integration' } }]);
    const err = await h.client.request('POST', 'repos/o/r/check-runs').catch((e) => e);
    expect(err.message).toBe('POST /api/v3/repos/o/r/check-runs: HTTP 403: Resource not accessible by integration');
    expect([err.code, err.status, err.transient]).toEqual(['ERR_GITHUB_HTTP', 403, false]);
    expect(h.sleeps).toEqual([]);
  });

  it('network failures and 5xx are transient', async () => {
    const h = harness([{ status: 502 }]);
    const e502 = await h.client.request('GET', 'x').catch((e) => e);
    expect([e502.code, e502.transient]).toEqual(['ERR_GITHUB_HTTP', true]);
    const eNet = await h.client.request('GET', 'x').catch((e) => e);
    expect(eNet.message).toBe('GET /api/v3/x: no answer from the GitHub API (ECONNREFUSED)');
    expect([eNet.code, eNet.transient]).toEqual(['ERR_GITHUB_NETWORK', true]);
  });

  it('paginates by Link rel=next and never sends the token to another origin', async () => {
    const h = harness([
      { status: 200, body: [1, 2], headers: { link: '<https://api.github.example/api/v3/x?page=2>; rel="next", <https://api.github.example/api/v3/x?page=3>; rel="last"' } },
      { status: 200, body: [3], headers: { link: '<https://api.github.example/api/v3/x?page=3>; rel="next"' } },
      { status: 200, body: [4] },
    ]);
    expect(await h.client.paginate('x', { per_page: 2 })).toEqual([1, 2, 3, 4]);
    expect(h.sent.map((s) => s.url)).toEqual([
      'https://api.github.example/api/v3/x?per_page=2',
      'https://api.github.example/api/v3/x?page=2',
      'https://api.github.example/api/v3/x?page=3',
    ]);
    const evil = harness([{ status: 200, body: [1], headers: { link: '<https://evil.example/api/v3/x?page=2>; rel="next"' } }]);
    await expect(evil.client.paginate('x', {})).rejects.toThrow('refusing to send the token outside https://api.github.example/api/v3/');
    expect(evil.sent).toHaveLength(1);
  });
});

describe('GithubClient conditional pages', () => {
  it('sends If-None-Match and reuses the cached page on 304', async () => {
    const h = harness([
      { status: 200, body: [{ id: 1 }], headers: { etag: '"v1"' } },
      { status: 304, headers: { etag: '"v1"' } },
      { status: 200, body: [{ id: 1 }, { id: 2 }], headers: { etag: '"v2"' } },
    ]);
    expect(await h.client.paginate('c', { since: 'x' })).toEqual([{ id: 1 }]);
    expect(await h.client.paginate('c', { since: 'x' })).toEqual([{ id: 1 }]);
    expect(await h.client.paginate('c', { since: 'x' })).toEqual([{ id: 1 }, { id: 2 }]);
    expect(h.sent.map((s) => s.headers['if-none-match'])).toEqual([undefined, '"v1"', '"v1"']);
  });
  it('a 304 to a request that sent no ETag is an error', async () => {
    const h = harness([{ status: 304 }]);
    await expect(h.client.request('GET', 'x')).rejects.toThrow('GET /api/v3/x: HTTP 304');
  });
});

describe('nextLink and oneLine', () => {
  it('finds rel="next" only', () => {
    expect(nextLink('<https://a/x?page=2>; rel="next"')).toBe('https://a/x?page=2');
    expect(nextLink('<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next"')).toBe('https://a/x?page=3');
    expect(nextLink('<https://a/x?page=9>; rel="last"')).toBeNull();
    expect(nextLink(null)).toBeNull();
  });
  it('keeps log lines single and free of workflow commands', () => {
    expect(oneLine('a\n::add-mask::x\r\nb')).toBe('a : :add-mask: :x b');
  });
});
