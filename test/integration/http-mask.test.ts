// Masking through the proxy: a Kubernetes Secret read, a watch stream, a body over the bound, a
// protobuf answer, each with the exact outcome the client sees.
import { Agent, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bearer, startHarness, startUpstream, type Harness } from '../support/http-proxy.js';

const secret = { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db', namespace: 'staging' }, data: { password: 'aHVudGVyMg==' } };
let up: Awaited<ReturnType<typeof startUpstream>>;
let h: Harness;
beforeAll(async () => {
  up = await startUpstream((req, res) => {
    if (req.url!.includes('watch=true')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'ADDED', object: secret })}\n`);
      setTimeout(() => res.end(`${JSON.stringify({ type: 'MODIFIED', object: secret })}\n`), 20);
    } else if (req.url!.endsWith('/big')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: { x: 'a'.repeat(5000) } }));
    } else if (req.url!.endsWith('/proto')) {
      res.writeHead(200, { 'content-type': 'application/vnd.kubernetes.protobuf' });
      res.end(Buffer.from([0x6b, 0x38, 0x73, 0x00]));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(secret));
    }
  });
  h = await startHarness(`
version: 1
roles:
  ci:
    match: { repository: acme/* }
    http:
      upstreams:
        k8s: { url: "${up.url}", type: kubernetes, mask: ["data.*"], max_masked_body: 1000 }
      rules:
        - { action: allow, verbs: [get, list, watch] }
`);
});
afterAll(async () => {
  await h?.close();
  await up?.close();
});

const get = async (path: string, headers: Record<string, string> = {}) => {
  // the Kubernetes listener serves TLS with a certificate made for the session: trust exactly that one
  const dispatcher = new Agent({ connect: { ca: h.running.listeners[0]!.certificate! } });
  const r = await request(`${h.url('k8s')}${path}`, { headers: { ...bearer, ...headers }, dispatcher });
  return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
};
const MASKED = Buffer.from('[masked]').toString('base64');

it('a Secret read comes back with data masked (still base64), and a fresh Content-Length', async () => {
  const r = await get('/api/v1/namespaces/staging/secrets/db', { 'accept-encoding': 'gzip' });
  expect(r.status).toBe(200);
  expect(JSON.parse(r.text).data).toEqual({ password: MASKED });
  expect(r.headers['content-length']).toBe(String(Buffer.byteLength(r.text)));
  expect(up.seen[up.seen.length - 1]!.headers['accept-encoding']).toBeUndefined();
});
it('a watch stream is masked event by event', async () => {
  const r = await get('/api/v1/namespaces/staging/secrets?watch=true');
  expect(r.text.trim().split('\n').map((l) => [JSON.parse(l).type, JSON.parse(l).object.data.password])).toEqual([['ADDED', MASKED], ['MODIFIED', MASKED]]);
  expect(r.text).not.toContain('aHVudGVyMg==');
});
it('over the bound or protobuf: refused (502), never passed on unmasked', async () => {
  const big = await get('/api/v1/namespaces/staging/secrets/big');
  expect([big.status, JSON.parse(big.text).message]).toEqual([502, 'tollgate: the response could not be masked, so it is not passed on: the JSON body is larger than the 1000-byte masking bound']);
  const proto = await get('/api/v1/namespaces/staging/secrets/proto');
  expect([proto.status, JSON.parse(proto.text).message]).toEqual([502, 'tollgate: the response could not be masked, so it is not passed on: a application/vnd.kubernetes.protobuf body cannot be masked (ask for JSON)']);
  expect(h.records.filter((r) => r.decision === 'error').map((r) => r.reason)).toEqual([
    'response refused: the JSON body is larger than the 1000-byte masking bound',
    'response refused: a application/vnd.kubernetes.protobuf body cannot be masked (ask for JSON)',
  ]);
});
