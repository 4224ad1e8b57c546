// The gateway when things go wrong: the state store goes away (no new sessions, readiness says so,
// nothing allowed), SIGTERM drain, and the real process (`node dist/cli.js gateway`): migrate twice,
// serve, SIGHUP, SIGTERM.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearJwksCache } from '../../src/identity/oidc.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { cleanup, dropDatabase, freshDatabase, request, startTestGateway, writeGatewayFiles, type GatewayFiles, type TestGateway } from '../support/gateway.js';

const DB = 'gateway_faults';
let issuer: OidcIssuer;
let stateUrl: string;

/** A TCP forwarder to the real PostgreSQL that the test can cut (the state store "goes away"). */
async function cuttableStore(): Promise<{ url: string; cut(): void; restore(): void; close(): Promise<void> }> {
  let up = true;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (!up) return client.destroy();
    const upstream = connect(5432, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: stateUrl.replace('127.0.0.1:5432', `127.0.0.1:${port}`),
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore() {
      up = true;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

beforeAll(async () => {
  clearJwksCache();
  stateUrl = await freshDatabase(DB);
  issuer = await startOidcIssuer();
});

afterAll(async () => {
  await issuer?.close();
  await dropDatabase(DB).catch(() => {});
});

const post = (gw: TestGateway, token: string) =>
  gw.api('/v1/sessions', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });

describe('state store down', () => {
  let files: GatewayFiles;
  let gw: TestGateway;
  let store: Awaited<ReturnType<typeof cuttableStore>>;

  beforeAll(async () => {
    store = await cuttableStore();
    files = writeGatewayFiles({ stateUrl: store.url, issuer: issuer.url });
    gw = await startTestGateway(files, { storeTimeoutMs: 1000 });
  });
  afterAll(async () => {
    await gw?.stop();
    await store?.close();
    cleanup(files);
  });

  it('refuses new sessions and secrets with 503, readiness fails, and recovers when it is back', async () => {
    const ok = await post(gw, await issuer.mint());
    expect(ok.status).toBe(201);
    const { session_id, secret } = ok.json();
    store.cut();
    const r = await post(gw, await issuer.mint());
    expect([r.status, r.json().error.code, r.headers.get('retry-after')]).toEqual([503, 'unavailable', '5']);
    expect(r.json().error.message).toBe('the gateway cannot reach its state store, so it refuses (nothing was allowed); retry later');
    const a = await gw.api(`/v1/sessions/${session_id}/audit`, { headers: { authorization: `Bearer ${secret}` } });
    expect([a.status, a.json().error.code]).toEqual([503, 'unavailable']);
    const d = await gw.api(`/v1/sessions/${session_id}`, { method: 'DELETE', headers: { authorization: `Bearer ${secret}` } });
    expect(d.status).toBe(503);
    const ready = await request(`${gw.adminUrl}/readyz`);
    expect([ready.status, ready.json().state_store]).toEqual([503, 'unreachable']);
    const m = await request(`${gw.adminUrl}/metrics`);
    expect(m.text).toMatch(/^tollgate_state_store_up 0/m);
    expect(m.text).toMatch(/^tollgate_refusals_total\{code="unavailable"\} [1-9]/m);

    store.restore();
    const back = await post(gw, await issuer.mint());
    expect(back.status).toBe(201);
    expect((await request(`${gw.adminUrl}/readyz`)).status).toBe(200);
    // The session survived, and DELETE now works.
    expect((await gw.api(`/v1/sessions/${session_id}`, { method: 'DELETE', headers: { authorization: `Bearer ${secret}` } })).status).toBe(204);
  });

  it('readiness names an unreachable upstream', async () => {
    const f2 = writeGatewayFiles({ stateUrl, issuer: issuer.url, upstream: 'postgres://u@127.0.0.1:1/x' });
    const g2 = await startTestGateway(f2);
    try {
      const ready = await request(`${g2.adminUrl}/readyz`);
      expect([ready.status, ready.json()]).toEqual([503, { ok: false, draining: false, state_store: 'ok', upstreams: { main: 'ECONNREFUSED' } }]);
    } finally {
      await g2.stop();
      cleanup(f2);
    }
  });
});

describe('drain', () => {
  it('readiness fails at once and new sessions are refused; a request in flight finishes', async () => {
    const files = writeGatewayFiles({ stateUrl, issuer: issuer.url });
    const gw = await startTestGateway(files);
    try {
      // A request in flight: headers sent, body not yet.
      const { request: httpsRequest } = await import('node:https');
      const token = await issuer.mint();
      const inflight = new Promise<number>((resolve, reject) => {
        const req = httpsRequest(`${gw.url}/v1/sessions`, { method: 'POST', agent: false, ca: files.certPem, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': '2' } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.write('{');
        setTimeout(() => req.end('}'), 300);
      });
      await new Promise((r) => setTimeout(r, 100));
      const closed = gw.close({ graceMs: 5000 });
      expect(gw.ctx.draining).toBe(true);
      // The in-flight request was admitted before the drain: POST checks draining before work, so it is refused cleanly.
      expect([201, 503]).toContain(await inflight);
      await closed;
      await expect(request(`${gw.adminUrl}/healthz`)).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      cleanup(files);
    }
  });
});

describe('the gateway process', () => {
  let files: GatewayFiles;
  let child: ChildProcess | null = null;

  beforeAll(() => {
    files = writeGatewayFiles({ stateUrl: stateUrl.replace('gateway_faults', 'gateway_faults_cli'), issuer: issuer.url });
  });
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    cleanup(files);
    await dropDatabase('gateway_faults_cli').catch(() => {});
  });

  it('migrate is idempotent; serve prints its listeners, reloads TLS on SIGHUP and drains on SIGTERM', async () => {
    await freshDatabase('gateway_faults_cli');
    const env = { ...process.env, ...files.env };
    const noConfig = spawnSync(process.execPath, ['dist/cli.js', 'gateway', 'migrate'], { env, encoding: 'utf8' });
    expect([noConfig.status, noConfig.stderr.split('\n')[0]]).toEqual([2, 'tollgate gateway: --config is required']);
    const before = spawnSync(process.execPath, ['dist/cli.js', 'gateway', '--config', files.configFile], { env, encoding: 'utf8' });
    expect(before.status).toBe(1);
    expect(before.stderr).toMatch(/cannot start: the state store's schema is at version 0, this gateway needs 2: run `tollgate gateway migrate --config F` first/);
    const m1 = spawnSync(process.execPath, ['dist/cli.js', 'gateway', 'migrate', '--config', files.configFile], { env, encoding: 'utf8' });
    expect([m1.status, m1.stdout.trim()]).toEqual([0, 'tollgate gateway: state store migrated to version 2 (applied 1, 2)']);
    const m2 = spawnSync(process.execPath, ['dist/cli.js', 'gateway', 'migrate', '--config', files.configFile], { env, encoding: 'utf8' });
    expect([m2.status, m2.stdout.trim()]).toEqual([0, 'tollgate gateway: state store already at version 2']);
    const bad = spawnSync(process.execPath, ['dist/cli.js', 'gateway', '--config', files.configFile], { env: { ...env, TG_MASK_KEY: '' }, encoding: 'utf8' });
    expect([bad.status, bad.stderr.trim()]).toEqual([2, `tollgate gateway: ${files.configFile}:10: masks.key_env: environment variable TG_MASK_KEY is not set`]);

    child = spawn(process.execPath, ['dist/cli.js', 'gateway', '--config', files.configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    for (let i = 0; i < 100 && !/admin listening/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
    const http = /http listening on 127\.0\.0\.1:(\d+)/.exec(out);
    const admin = /admin listening on 127\.0\.0\.1:(\d+)/.exec(out);
    expect(http && admin, `stdout: ${out}\nstderr: ${err}`).toBeTruthy();
    const token = await issuer.mint();
    const r = await request(`https://127.0.0.1:${http![1]}/v1/sessions`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }, files.certPem);
    expect(r.status).toBe(201);
    child.kill('SIGHUP');
    for (let i = 0; i < 50 && !/reloaded/.test(err); i++) await new Promise((r) => setTimeout(r, 50));
    expect(err).toContain('tollgate gateway: TLS certificate and key reloaded');
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(err).toContain('tollgate gateway: draining: no new sessions, letting running work finish');
    // Nothing secret reached the logs.
    expect(out + err).not.toContain(r.json().secret);
    expect(out + err).not.toContain(files.env.TG_MASK_KEY);
  });
});
