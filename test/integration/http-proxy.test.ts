// The HTTP listener end to end against a real node:http upstream: session-secret authentication,
// the credential swap, 403/401/400 bodies per upstream type, review, streaming both ways,
// keep-alive, Location rewriting, upgrades and the audit records.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, SECRET, startHarness, startUpstream, type Harness } from '../support/http-proxy.js';

let up: Awaited<ReturnType<typeof startUpstream>>;
let h: Harness;

const policy = (url: string) => `
version: 1
roles:
  ci:
    match: { repository: acme/* }
    http:
      upstreams:
        api: { url: "${url}/base", auth: { bearer_env: API_TOKEN } }
        registry: { url: "${url}", type: registry, auth: { basic: { username_env: U, password_env: P } } }
        cluster: { url: "${url}", type: kubernetes }
      rules:
        - { action: allow,  methods: [GET, HEAD], paths: ["/things/**", "/redirect", "/stream"], upstreams: [api] }
        - { action: allow,  methods: [POST, PUT], paths: ["/upload"], upstreams: [api] }
        - { action: review, methods: [POST], paths: ["/deploy"], upstreams: [api] }
        - { action: allow,  methods: [GET], paths: ["/ws"], upstreams: [api] }
        - { action: allow,  pull: ["**"] }
        - { action: review, push: ["prod/**"] }
        - { action: allow,  verbs: [get, list, watch], namespaces: [staging] }
        - { action: deny,   verbs: [exec] }
`;

beforeAll(async () => {
  up = await startUpstream((req, res, seen) => {
    if (req.url === '/base/redirect') {
      res.writeHead(201, { location: `${up.url}/base/things/new?_state=abc` });
      return res.end();
    }
    if (req.url === '/base/stream') {
      // a watch-like chunked stream, written over time
      res.writeHead(200, { 'content-type': 'application/json' });
      let n = 0;
      const t = setInterval(() => {
        res.write(`{"n":${n}}\n`);
        if (++n === 3) { clearInterval(t); res.end(); }
      }, 30);
      return;
    }
    const hash = createHash('sha256');
    req.on('data', (c: Buffer) => { seen.bodyBytes += c.length; hash.update(c); });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, bytes: seen.bodyBytes, sha: hash.digest('hex') }));
    });
  });
  up.server.on('upgrade', (req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n');
    socket.on('data', (c: Buffer) => socket.write(Buffer.from(c.toString().toUpperCase())));
  });
  h = await startHarness(policy(up.url), {
    credentials: { api: { bearer: 'upstream-token-XYZ' }, registry: { basic: { username: 'reg-user', password: 'reg-pass' } } },
    approve: (req) => (req.statement.includes('/deploy') ? { approved: true, via: 'terminal', approver: 'alice', at: new Date() } : { approved: false, via: 'terminal', approver: 'bob', reason: 'denied by bob' }),
  });
});
afterAll(async () => {
  await h?.close();
  await up?.close();
});

/** A client that trusts a TLS listener's own certificate (Kubernetes listeners serve TLS). */
const trusting = (name: string) => {
  const cert = h.running.listeners.find((l) => l.name === name)!.certificate;
  return cert ? new Agent({ connect: { ca: cert } }) : undefined;
};

async function get(name: string, path: string, headers: Record<string, string> = bearer, method = 'GET') {
  const r = await request(`${h.url(name)}${path}`, { method: method as 'GET', headers, dispatcher: trusting(name) });
  const text = await r.body.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* text */ }
  return { status: r.statusCode, headers: r.headers, body };
}

describe('authentication with the session secret', () => {
  it('no credentials → 401 with a Basic challenge; nothing reaches the upstream', async () => {
    const before = up.seen.length;
    const r = await get('api', '/things/1', {});
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Basic realm="tollgate", charset="UTF-8"');
    expect(r.body).toEqual({ error: { code: 'unauthorized', message: 'tollgate: authentication required: authenticate with the session secret (Bearer, or Basic user tollgate)', rule: null } });
    expect(up.seen.length).toBe(before);
  });
  it.each([
    ['a wrong bearer', { authorization: 'Bearer nope' }],
    ['basic with another user', { authorization: `Basic ${Buffer.from(`admin:${SECRET}`).toString('base64')}` }],
    ['basic with a wrong password', { authorization: `Basic ${Buffer.from('tollgate:nope').toString('base64')}` }],
    ['another scheme', { authorization: `Token ${SECRET}` }],
  ])('%s → 401', async (_n, headers) => {
    expect((await get('api', '/things/1', headers)).status).toBe(401);
  });
  it('Bearer and Basic tollgate:<secret> both work; the upstream sees its own credential only', async () => {
    expect((await get('api', '/things/1')).status).toBe(200);
    const basic = await get('api', '/things/2', { authorization: `Basic ${Buffer.from(`tollgate:${SECRET}`).toString('base64')}` });
    expect(basic.status).toBe(200);
    const seen = up.seen[up.seen.length - 1]!;
    expect(seen.url).toBe('/base/things/2');
    expect(seen.headers.authorization).toBe('Bearer upstream-token-XYZ');
    expect(seen.headers.host).toBe(`127.0.0.1:${up.port}`);
    expect(JSON.stringify(seen.rawHeaders)).not.toContain(SECRET);
  });
  it('the registry upstream gets basic credentials (no Bearer challenge from it)', async () => {
    const r = await get('registry', '/v2/prod/api/manifests/v1');
    expect(r.status).toBe(200);
    expect(up.seen[up.seen.length - 1]!.headers.authorization).toBe(`Basic ${Buffer.from('reg-user:reg-pass').toString('base64')}`);
  });
  it('a registry client: 401 challenge first, then Basic', async () => {
    const first = await get('registry', '/v2/', {});
    expect(first.status).toBe(401);
    expect(first.headers['www-authenticate']).toBe('Basic realm="tollgate", charset="UTF-8"');
    expect(first.body).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'tollgate: authentication required: authenticate with the session secret (Bearer, or Basic user tollgate)', detail: { rule: null } }] });
    expect((await get('registry', '/v2/', { authorization: `Basic ${Buffer.from(`tollgate:${SECRET}`).toString('base64')}` })).status).toBe(200);
  });
});

describe('decisions', () => {
  it('denied: 403 with a body the client understands, naming the rule', async () => {
    expect(await get('api', '/admin', bearer, 'DELETE')).toMatchObject({
      status: 403,
      body: { error: { code: 'denied', message: 'tollgate: denied: no rule allows DELETE /admin', rule: null } },
    });
    expect(await get('cluster', '/api/v1/namespaces/prod/pods/web/exec?command=sh', bearer, 'POST')).toMatchObject({
      status: 403,
      body: {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Forbidden', code: 403,
        message: 'tollgate: denied: exec pods/exec prod/web denied by roles.ci.http.rules[7]',
        details: { causes: [{ reason: 'tollgate', message: 'rule roles.ci.http.rules[7]' }] },
      },
    });
    expect(await get('registry', '/v2/staging/api/manifests/v1', bearer, 'PUT')).toMatchObject({
      status: 403,
      body: { errors: [{ code: 'DENIED', message: 'tollgate: denied: no rule allows push staging/api:v1', detail: { rule: null } }] },
    });
  });
  it('review: held, approved → forwarded; refused → 403 with the reviewer\'s reason', async () => {
    const ok = await get('api', '/deploy', bearer, 'POST');
    expect(ok.status).toBe(200);
    const asked = h.approver.asked[h.approver.asked.length - 1]!;
    expect([asked.statement, asked.kind, asked.object, asked.rule]).toEqual(['POST /deploy', 'post', 'api: POST /deploy', 'roles.ci.http.rules[2]']);
    const refused = await get('registry', '/v2/prod/api/manifests/v2', bearer, 'PUT');
    expect(refused).toMatchObject({ status: 403, body: { errors: [{ code: 'DENIED', message: 'tollgate: denied: push prod/api:v2 needs review by roles.ci.http.rules[5]: denied by bob' }] } });
    expect(h.approver.asked[h.approver.asked.length - 1]!.object).toBe('registry: push prod/api:v2');
  });
  it('Kubernetes discovery and allowed reads pass', async () => {
    expect((await get('cluster', '/apis')).status).toBe(200);
    expect((await get('cluster', '/api/v1/namespaces/staging/pods?labelSelector=app%3Dweb')).status).toBe(200);
    expect(up.seen[up.seen.length - 1]!.url).toBe('/api/v1/namespaces/staging/pods?labelSelector=app%3Dweb');
  });
});

describe('streaming and connections', () => {
  it('a 64 MiB chunked upload streams through (the upstream gets every byte, same hash)', async () => {
    const chunk = randomBytes(1024 * 1024);
    const want = createHash('sha256');
    for (let i = 0; i < 64; i++) want.update(chunk);
    const body = Readable.from((function* () { for (let i = 0; i < 64; i++) yield chunk; })());
    const r = await request(`${h.url('api')}/upload`, { method: 'POST', headers: bearer, body });
    expect(r.statusCode).toBe(200);
    expect(await r.body.json()).toMatchObject({ bytes: 64 * 1024 * 1024, sha: want.digest('hex') });
  });
  it('a fixed-length upload keeps its Content-Length', async () => {
    const data = randomBytes(100_000);
    const r = await request(`${h.url('api')}/upload`, { method: 'PUT', headers: { ...bearer, 'content-length': String(data.length) }, body: data });
    expect(await r.body.json()).toMatchObject({ bytes: 100_000 });
    expect(up.seen[up.seen.length - 1]!.headers['content-length']).toBe('100000');
  });
  it('a chunked stream arrives piece by piece', async () => {
    const r = await request(`${h.url('api')}/stream`, { headers: bearer });
    const seenAt: number[] = [];
    const t0 = Date.now();
    let text = '';
    for await (const c of r.body) { text += c.toString(); seenAt.push(Date.now() - t0); }
    expect(text).toBe('{"n":0}\n{"n":1}\n{"n":2}\n');
    expect(seenAt.length).toBeGreaterThan(1);
  });
  it('keep-alive: many requests share one client connection', async () => {
    const agent = new Agent({ connections: 1 });
    const before = h.exchanges.length;
    for (let i = 0; i < 20; i++) {
      const r = await request(`${h.url('api')}/things/${i}`, { headers: bearer, dispatcher: agent });
      await r.body.dump();
      expect(r.statusCode).toBe(200);
    }
    await agent.close();
    expect(h.exchanges.length - before).toBe(20);
  });
  it('a Location into the upstream is rewritten to the listener', async () => {
    const r = await get('api', '/redirect');
    expect(r.status).toBe(201);
    expect(r.headers.location).toBe(`${h.url('api')}/things/new?_state=abc`);
  });
  it('an allowed upgrade is relayed both ways; a denied one gets 403 on the socket', async () => {
    const { connect } = await import('node:net');
    const talk = (path: string, protocol = 'websocket') => new Promise<string>((resolve) => {
      const s = connect(h.port('api'), '127.0.0.1', () => {
        s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${h.port('api')}\r\nAuthorization: Bearer ${SECRET}\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n\r\n`);
      });
      let text = '';
      s.on('data', (c: Buffer) => {
        text += c.toString();
        if (text.includes('\r\n\r\n') && text.startsWith('HTTP/1.1 101') && !text.includes('HELLO')) s.write('hello');
        if (text.includes('HELLO')) { s.destroy(); resolve(text); }
      });
      s.on('close', () => resolve(text));
    });
    const ok = await talk('/ws');
    expect(ok.startsWith('HTTP/1.1 101 Switching Protocols')).toBe(true);
    expect(ok.endsWith('HELLO')).toBe(true);
    const no = await talk('/admin');
    expect(no.startsWith('HTTP/1.1 403 Forbidden')).toBe(true);
    // a protocol that would tunnel undecided HTTP requests (h2c) is refused even where allowed
    const h2c = await talk('/ws', 'h2c');
    expect(h2c.startsWith('HTTP/1.1 400 Bad Request')).toBe(true);
    expect(h2c).toContain('upgrade to \\"h2c\\" is not proxied (only websocket and SPDY/3.1)');
  });
});

describe('audit records', () => {
  it('one http record per request: method, upstream, path without query values, decision, rule, status, bytes, duration, approval', async () => {
    await get('cluster', '/api/v1/namespaces/staging/pods?labelSelector=secret-value-123');
    const rec = h.records.find((r) => r.http?.path === '/api/v1/namespaces/staging/pods?labelSelector=…')!;
    expect(rec).toMatchObject({
      type: 'http', session: 'sess-1', role: 'ci', decision: 'allow', rule: 'roles.ci.http.rules[6]',
      reason: 'list pods -n staging allowed by roles.ci.http.rules[6]',
      http: { upstream: 'cluster', method: 'GET', operation: 'list pods -n staging', status: 200 },
    });
    expect(rec.http!.bytesOut).toBeGreaterThan(0);
    const upload = h.records.find((r) => r.http?.path === '/upload' && r.http.method === 'PUT')!;
    expect(upload.http!.bytesIn).toBe(100_000);
    expect(h.records.find((r) => r.http?.path === '/upload' && r.http.method === 'POST')!.http!.bytesIn).toBe(64 * 1024 * 1024);
    expect(rec.durationMs).toBeGreaterThanOrEqual(0);
    const reviewed = h.records.find((r) => r.http?.path === '/deploy')!;
    expect(reviewed.approval).toMatchObject({ approved: true, via: 'terminal', approver: 'alice' });
    expect(JSON.stringify(h.records)).not.toContain('secret-value-123');
    expect(JSON.stringify(h.records)).not.toContain(SECRET);
  });
});
