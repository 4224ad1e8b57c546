// The gateway's HTTPS API and admin listener against a real state store (database gateway_api on
// 127.0.0.1:5432), a local OIDC issuer and real TLS. Every refusal is asserted by status and code.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearJwksCache } from '../../src/identity/oidc.js';
import { readLines, readSignedHead, verifyChain } from '../../src/gateway/chain.js';
import { Store } from '../../src/gateway/store.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { cleanup, dropDatabase, freshDatabase, request, startTestGateway, writeGatewayFiles, type GatewayFiles, type TestGateway } from '../support/gateway.js';

const DB = 'gateway_api';
let issuer: OidcIssuer;
let files: GatewayFiles;
let gw: TestGateway;
let stateUrl: string;

beforeAll(async () => {
  clearJwksCache();
  stateUrl = await freshDatabase(DB);
  issuer = await startOidcIssuer();
  files = writeGatewayFiles({ stateUrl, issuer: issuer.url });
  gw = await startTestGateway(files);
});

afterAll(async () => {
  await gw?.stop();
  await issuer?.close();
  if (files) cleanup(files);
  await dropDatabase(DB).catch(() => {});
});

const json = { 'content-type': 'application/json' };

async function open(token: string, body: unknown = {}) {
  return gw.api('/v1/sessions', { method: 'POST', headers: { authorization: `Bearer ${token}`, ...json }, body: JSON.stringify(body) });
}

async function refusals(code: string): Promise<number> {
  const s = new Store(stateUrl);
  try {
    // Refusals are recorded just after the answer: wait for it.
    for (let i = 0; i < 50; i++) {
      const r = await s.query<{ n: string }>('SELECT count(*) AS n FROM tollgate.refusals WHERE code = $1', [code]);
      if (Number(r.rows[0]!.n) > 0) return Number(r.rows[0]!.n);
      await new Promise((r) => setTimeout(r, 20));
    }
    return 0;
  } finally {
    await s.close();
  }
}

describe('state store schema', () => {
  it('migrate is idempotent and the gateway refuses an unmigrated store', async () => {
    const s = new Store(stateUrl);
    try {
      expect(await s.migrate()).toEqual([]);
      expect(await s.schemaVersion()).toBe(2);
    } finally {
      await s.close();
    }
    const empty = await freshDatabase('gateway_api_empty');
    const f2 = writeGatewayFiles({ stateUrl: empty, issuer: issuer.url });
    await expect(startTestGateway(f2, {}, false)).rejects.toThrow(/schema is at version 0, this gateway needs 2: run `tollgate gateway migrate/);
    cleanup(f2);
    await dropDatabase('gateway_api_empty');
  });
});

describe('POST /v1/sessions', () => {
  it('exchanges a token for a session of the matching role, stores only hashes', async () => {
    const r = await open(await issuer.mint(), { pull_request: { number: 12, head_sha: 'a'.repeat(40) } });
    expect(r.status).toBe(201);
    const b = r.json();
    expect(b.role).toBe('reader');
    expect(b.session_id).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(b.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(b.postgres).toEqual({ host: '127.0.0.1', port: gw.config.listen.postgres.port, database: 'test', user: b.session_id });
    expect(new Date(b.expires_at).getTime()).toBeGreaterThan(Date.now() + 29 * 60_000);
    // A dump of the store holds no secret: not in any column of any table.
    const s = new Store(stateUrl);
    try {
      const dump = await s.query(`SELECT string_agg(t::text, ' ') AS all FROM (
        SELECT row_to_json(x)::text AS t FROM tollgate.sessions x UNION ALL SELECT row_to_json(a)::text FROM tollgate.audit_records a) q`);
      expect(dump.rows[0].all).toContain(b.session_id);
      expect(dump.rows[0].all).not.toContain(b.secret);
      const row = await s.query('SELECT pull_request, head_sha, role, upstream FROM tollgate.sessions WHERE id = $1', [b.session_id]);
      expect(row.rows[0]).toEqual({ pull_request: 12, head_sha: 'a'.repeat(40), role: 'reader', upstream: 'main' });
    } finally {
      await s.close();
    }
  });

  it('an optional role narrows; a role the claims do not match is 403', async () => {
    const main = await open(await issuer.mint({ ref: 'refs/heads/main' }), { role: 'deployer' });
    expect(main.status).toBe(201);
    expect(main.json().role).toBe('deployer');
    const r = await open(await issuer.mint(), { role: 'deployer' });
    expect(r.status).toBe(403);
    expect(r.json().error.code).toBe('no_role');
    expect(r.json().error.message).toMatch(/role "deployer" does not match the claims: ref="refs\/pull\/12\/merge"/);
    const u = await open(await issuer.mint(), { role: 'nope' });
    expect([u.status, u.json().error.code]).toEqual([403, 'unknown_role']);
    const none = await open(await issuer.mint({ repository: 'evil/app' }));
    expect([none.status, none.json().error.code]).toEqual([403, 'no_role']);
  });

  it('refuses a pull request number that is not the token ref\'s', async () => {
    const r = await open(await issuer.mint(), { pull_request: { number: 13 } });
    expect([r.status, r.json().error.code]).toEqual([403, 'pull_request_mismatch']);
    expect(await refusals('pull_request_mismatch')).toBeGreaterThan(0);
  });

  it('refuses forged, expired, wrong-audience, unsigned and key-confused tokens, and records each', async () => {
    const { privateKey } = await import('jose').then((j) => j.generateKeyPair('RS256'));
    const cases: [string, Promise<string>, number, string][] = [
      ['forged (other key, issuer kid)', issuer.mint({}, { key: privateKey }), 401, 'bad_signature'],
      ['expired', issuer.mint({}, { expiresIn: -600 }), 401, 'token_expired'],
      ['wrong audience', issuer.mint({}, { audience: 'someone-else' }), 401, 'wrong_audience'],
      ['alg none', issuer.mint({}, { alg: 'none' }), 401, 'bad_signature'],
      ['HS256 with the public key', issuer.mint({}, { alg: 'HS256' }), 401, 'bad_signature'],
      ['wrong issuer', issuer.mint({ iss: 'https://evil.example.com' }), 401, 'wrong_issuer'],
      ['not a JWT', Promise.resolve('abc'), 401, 'invalid_token'],
    ];
    for (const [what, token, status, code] of cases) {
      const r = await open(await token);
      expect([what, r.status, r.json().error.code]).toEqual([what, status, code]);
    }
    expect(await refusals('token_expired')).toBeGreaterThan(0);
    expect(await refusals('wrong_audience')).toBeGreaterThan(0);
    expect(await refusals('bad_signature')).toBeGreaterThanOrEqual(3);
  });

  it('a token opens one session only (replay, also after the session ended)', async () => {
    const token = await issuer.mint();
    const first = await open(token);
    expect(first.status).toBe(201);
    const again = await open(token);
    expect([again.status, again.json().error.code]).toEqual([401, 'token_replayed']);
    const { session_id, secret } = first.json();
    expect((await gw.api(`/v1/sessions/${session_id}`, { method: 'DELETE', headers: { authorization: `Bearer ${secret}` } })).status).toBe(204);
    const after = await open(token);
    expect([after.status, after.json().error.code]).toEqual([401, 'token_replayed']);
    const noJti = await open(await issuer.mint({ jti: undefined }));
    expect([noJti.status, noJti.json().error.code]).toEqual([401, 'invalid_token']);
  });

  it('refuses bad requests with a clear error', async () => {
    const token = await issuer.mint();
    const none = await gw.api('/v1/sessions', { method: 'POST', body: '{}', headers: json });
    expect([none.status, none.json().error.code, none.headers.get('www-authenticate')]).toEqual([401, 'unauthenticated', 'Bearer']);
    const notJson = await gw.api('/v1/sessions', { method: 'POST', headers: { authorization: `Bearer ${token}`, ...json }, body: '{' });
    expect([notJson.status, notJson.json().error.message]).toEqual([400, 'the request body is not valid JSON']);
    const extra = await open(token, { role: 'reader', admin: true });
    expect([extra.status, extra.json().error.message]).toEqual([400, 'unknown field "admin" (expected role, pull_request)']);
    const badPr = await open(token, { pull_request: { number: -1 } });
    expect([badPr.status, badPr.json().error.code]).toEqual([400, 'bad_request']);
    const get = await gw.api('/v1/sessions');
    expect([get.status, get.json().error.code]).toEqual([405, 'method_not_allowed']);
    const nf = await gw.api('/v2/x');
    expect([nf.status, nf.json().error.code]).toEqual([404, 'not_found']);
  });

  it('refuses an oversized body with 413 before reading it all', async () => {
    const big = JSON.stringify({ role: 'x'.repeat(20_000) });
    const r = await open(await issuer.mint(), JSON.parse(big));
    expect([r.status, r.json().error.code]).toEqual([413, 'too_large']);
    // Without a content-length (chunked), the limit still holds.
    const { request: httpsRequest } = await import('node:https');
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(`${gw.url}/v1/sessions`, { method: 'POST', ca: files.certPem, headers: { authorization: 'Bearer x.y.z', ...json } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      for (let i = 0; i < 40; i++) req.write('x'.repeat(1024));
      req.end();
    });
    expect(status).toBe(413);
    expect(await refusals('too_large')).toBeGreaterThan(0);
  });

  it('answers 503 (fail closed) when the issuer keys cannot be fetched', async () => {
    clearJwksCache();
    issuer.jwksFailure = 500;
    try {
      const r = await open(await issuer.mint());
      expect([r.status, r.json().error.code]).toEqual([503, 'issuer_unavailable']);
    } finally {
      issuer.jwksFailure = null;
      clearJwksCache();
    }
  });
});

describe('session secret endpoints', () => {
  async function session(): Promise<{ id: string; secret: string }> {
    const r = await open(await issuer.mint());
    expect(r.status).toBe(201);
    return { id: r.json().session_id, secret: r.json().secret };
  }

  it('another session\'s secret, a wrong secret and an unknown id answer alike (401)', async () => {
    const a = await session();
    const b = await session();
    for (const [id, secret] of [[a.id, b.secret], [a.id, 'x'.repeat(43)], ['doesnotexist', a.secret]] as const) {
      for (const [method, path] of [['GET', `/v1/sessions/${id}/audit`], ['DELETE', `/v1/sessions/${id}`], ['GET', `/v1/sessions/${id}/head`]] as const) {
        const r = await gw.api(path, { method, headers: { authorization: `Bearer ${secret}` } });
        expect([method, path, r.status, r.json().error]).toEqual([method, path, 401, { code: 'unauthenticated', message: 'no session with that id and secret' }]);
      }
    }
    // The session a wrong secret was tried on is untouched.
    const s = new Store(stateUrl);
    try {
      expect((await s.query('SELECT ended_at FROM tollgate.sessions WHERE id = $1', [a.id])).rows[0].ended_at).toBeNull();
    } finally {
      await s.close();
    }
    expect(await refusals('unauthenticated')).toBeGreaterThan(0);
  });

  it('DELETE ends the session, signs its chain head; the audit and head verify', async () => {
    const a = await session();
    const auth = { authorization: `Bearer ${a.secret}` };
    expect((await gw.api(`/v1/sessions/${a.id}`, { method: 'DELETE', headers: auth })).status).toBe(204);
    // Idempotent.
    expect((await gw.api(`/v1/sessions/${a.id}`, { method: 'DELETE', headers: auth })).status).toBe(204);
    const audit = await gw.api(`/v1/sessions/${a.id}/audit`, { headers: auth });
    expect(audit.status).toBe(200);
    expect(audit.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = audit.text.trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l).reason)).toEqual([
      expect.stringMatching(/^session opened for role reader \(upstream main\), expires /),
      'session ended by client: DELETE /v1/sessions',
    ]);
    expect(JSON.parse(lines[0]!).identity).toMatchObject({ repository: 'acme/app', actor: 'dev1' });
    const head = (await gw.api(`/v1/sessions/${a.id}/head`, { headers: auth })).json();
    expect(head.ended).toBe(true);
    expect(head.head.seq).toBe(2);
    expect(createPublicKey(head.public_key).export({ type: 'spki', format: 'pem' })).toBe(files.publicKeyPem);
    const verdict = verifyChain(lines, { session: a.id, seq: head.head.seq, head: head.head.hash, keyId: head.head.key_id, signature: head.head.signature }, createPublicKey(files.publicKeyPem), true);
    expect(verdict).toEqual({ ok: true, count: 2, head: head.head.hash, signed: true });
  });

  it('a rewritten chain is caught by the signed head, a rehashed one by the signature', async () => {
    const a = await session();
    await gw.api(`/v1/sessions/${a.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${a.secret}` } });
    const s = new Store(stateUrl);
    try {
      const lines = await readLines(s, a.id);
      const head = (await readSignedHead(s, a.id))!;
      const pub = createPublicKey(files.publicKeyPem);
      expect(verifyChain(lines, head, pub, true).ok).toBe(true);
      // Someone with write access to the store drops the last record and re-signs with their own key.
      const short = lines.slice(0, 1);
      expect(verifyChain(short, head, pub, true)).toEqual({ ok: false, reason: expect.stringMatching(/does not match the chain \(1 records/) });
      const { privateKey } = generateKeyPairSync('ed25519');
      const { signHead } = await import('../../src/gateway/chain.js');
      const forged = signHead(privateKey, a.id, 1, JSON.parse(short[0]!).hash);
      expect(verifyChain(short, forged, pub, true)).toEqual({ ok: false, reason: expect.stringMatching(/signed with key .* not with the given key/) });
      expect(verifyChain(short, { ...forged, keyId: head.keyId }, pub, true)).toEqual({ ok: false, reason: 'the signature of the chain head does not verify' });
      expect(verifyChain(lines, null, pub, true)).toEqual({ ok: false, reason: 'the session has ended but its chain head carries no signature' });
    } finally {
      await s.close();
    }
  });
});

describe('tollgate audit verify/export --state', () => {
  it('verifies an ended session\'s chain and signature, exports it, and names a break', async () => {
    const { run } = await import('../../src/cli/audit.js');
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const r = await open(await issuer.mint());
    const { session_id, secret } = r.json();
    const cli = async (...args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await run(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
      return { code, out: out.join('\n'), err: err.join('\n') };
    };
    const pub = join(files.dir, 'signing.pub.pem');
    const open1 = await cli('verify', '--state', stateUrl, '--session', session_id, '--public-key', pub);
    expect(open1).toEqual({ code: 0, out: `ok: session ${session_id}: 1 records, chain intact, session still open (head not signed yet)`, err: '' });
    await gw.api(`/v1/sessions/${session_id}`, { method: 'DELETE', headers: { authorization: `Bearer ${secret}` } });
    expect(await cli('verify', '--state', stateUrl, '--session', session_id, '--public-key', pub)).toEqual({ code: 0, out: `ok: session ${session_id}: 2 records, chain intact, head signature valid`, err: '' });
    const exported = await cli('export', '--state', stateUrl, '--session', session_id);
    expect(exported.code).toBe(0);
    const fromApi = (await gw.api(`/v1/sessions/${session_id}/audit`, { headers: { authorization: `Bearer ${secret}` } })).text;
    expect(`${exported.out}\n`).toBe(fromApi);
    // The exported file is a normal audit log: the file verifier accepts it.
    const f = join(files.dir, 'export.jsonl');
    expect((await cli('export', '--state', stateUrl, '--session', session_id, '--out', f)).code).toBe(0);
    expect(await cli('verify', f)).toEqual({ code: 0, out: 'ok: 2 records, chain intact', err: '' });
    // Another key: refused. No key: usage error. Unknown session: 2.
    const other = join(files.dir, 'other.pub.pem');
    writeFileSync(other, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    expect((await cli('verify', '--state', stateUrl, '--session', session_id, '--public-key', other)).out).toMatch(/is signed with key [0-9a-f]{16}, not with the given key/);
    expect((await cli('verify', '--state', stateUrl, '--session', session_id)).code).toBe(2);
    expect((await cli('verify', '--state', stateUrl, '--session', 'nope', '--public-key', pub)).err).toBe('tollgate audit verify: no session "nope" in the state store');
    // A record rewritten in the store.
    const s = new Store(stateUrl);
    try {
      await s.query(`UPDATE tollgate.audit_records SET line = replace(line, 'session opened', 'session 0pened') WHERE session = $1 AND seq = 1`, [session_id]);
    } finally {
      await s.close();
    }
    const broken = await cli('verify', '--state', stateUrl, '--session', session_id, '--public-key', pub);
    expect(broken).toEqual({ code: 1, out: `session ${session_id}: record 1: hash does not match the line (edited)`, err: '' });
  });
});

describe('admin listener', () => {
  it('healthz, readyz and metrics', async () => {
    expect((await request(`${gw.adminUrl}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await request(`${gw.adminUrl}/readyz`);
    expect([ready.status, ready.json()]).toEqual([200, { ok: true, draining: false, state_store: 'ok', upstreams: { main: 'ok' } }]);
    const m = await request(`${gw.adminUrl}/metrics`);
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(m.text).toMatch(/^tollgate_sessions_opened_total\{role="reader"\} [1-9]/m);
    expect(m.text).toMatch(/^tollgate_refusals_total\{code="token_replayed"\} [1-9]/m);
    expect(m.text).toMatch(/^tollgate_sessions_live [1-9]/m);
    expect(m.text).toMatch(/^tollgate_state_store_up 1/m);
    expect(m.text).toContain('tollgate_decision_seconds_bucket');
    expect(m.text).toContain('tollgate_approvals_pending');
    expect(m.text).toContain('tollgate_audit_write_seconds_bucket');
  });

  it('the kill switch ends a session at once', async () => {
    const r = await open(await issuer.mint());
    const { session_id, secret } = r.json();
    const ended: string[] = [];
    gw.ctx.onSessionEnded = (id) => ended.push(id);
    const k = await request(`${gw.adminUrl}/admin/sessions/${session_id}/end?reason=incident`, { method: 'POST' });
    expect([k.status, k.json()]).toEqual([200, { session_id, ended: true }]);
    expect(ended).toEqual([session_id]);
    const lines = (await gw.api(`/v1/sessions/${session_id}/audit`, { headers: { authorization: `Bearer ${secret}` } })).text.trimEnd().split('\n');
    expect(JSON.parse(lines.at(-1)!).reason).toBe('session ended by admin: incident');
    expect((await request(`${gw.adminUrl}/admin/sessions/nope/end`, { method: 'POST' })).status).toBe(404);
    expect((await request(`${gw.adminUrl}/admin/sessions/${session_id}/end`)).status).toBe(405);
  });
});

describe('TLS', () => {
  it('serves only TLS on the API and re-reads the certificate on reload', async () => {
    const plain = await request(gw.url.replace('https:', 'http:') + '/v1/sessions', { method: 'POST' }).catch((e: Error) => e);
    expect(plain instanceof Error || (plain as { status: number }).status === 400).toBe(true);
    // A new pair on disk; reload; the old CA no longer verifies, the new one does.
    const { makeCert } = await import('../support/gateway.js');
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    makeCert(files.dir, 'tls', 'rotated');
    gw.reloadTls();
    const newCa = readFileSync(join(files.dir, 'tls.crt'), 'utf8');
    await expect(request(`${gw.url}/v2/x`, {}, files.certPem)).rejects.toThrow(/self[- ]signed|certificate/i);
    expect((await request(`${gw.url}/v2/x`, {}, newCa)).status).toBe(404);
    files.certPem = newCa;
  });
});
