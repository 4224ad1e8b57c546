// Real clients through the proxy to a real registry: Debian's docker-registry (the Distribution
// registry 2.8) started here on a loopback port, an image built with buildah from scratch, pushed
// and pulled with buildah and skopeo through the HTTP listener. Pull anything, push to staging,
// review pushes to prod (held at the manifest PUT: nothing is tagged until approved).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET, startHarness, type Harness } from '../support/http-proxy.js';

const run = promisify(execFile);
const tools = ['docker-registry', 'buildah', 'skopeo'].every((t) => ['/usr/bin', '/usr/local/bin'].some((d) => existsSync(join(d, t))));

let dir: string;
let registry: ChildProcess;
let regPort = 0;
let h: Harness;
let approve = true;
let B: string[];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function buildah(...args: string[]) {
  return run('buildah', [...B, ...args], { timeout: 120_000 });
}
async function skopeo(...args: string[]) {
  return run('skopeo', args, { timeout: 120_000 });
}
const creds = `tollgate:${SECRET}`;

// Never skipped silently: without the clients the suite fails and says what is missing (.ci/run installs them).
it('has the registry clients it needs (docker-registry, buildah, skopeo)', () => {
  expect(tools, 'install Debian packages docker-registry, buildah and skopeo').toBe(true);
});

describe.runIf(tools)('registry clients through the proxy', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-registry-'));
    // skopeo and buildah refuse to work without a trust policy; the test's own, not the machine's.
    mkdirSync('/etc/containers', { recursive: true });
    if (!existsSync('/etc/containers/policy.json')) writeFileSync('/etc/containers/policy.json', JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    regPort = await freePort();
    writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog: { level: warn }\nstorage: { filesystem: { rootdirectory: ${dir}/data }, delete: { enabled: true } }\nhttp: { addr: 127.0.0.1:${regPort} }\n`);
    registry = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      try {
        const r = await request(`http://127.0.0.1:${regPort}/v2/`);
        await r.body.dump();
        if (r.statusCode === 200) break;
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    h = await startHarness(`
version: 1
roles:
  ci:
    match: { repository: acme/* }
    http:
      upstreams:
        registry: { url: "http://127.0.0.1:${regPort}", type: registry }
      rules:
        - { action: allow,  pull: ["**"] }
        - { action: allow,  push: ["staging/**"] }
        - { action: review, push: ["prod/**"] }
`, { approve: () => (approve ? { approved: true, via: 'terminal', approver: 'alice', at: new Date() } : { approved: false, via: 'terminal', approver: 'bob', reason: 'not today' }) });
    B = ['--storage-driver', 'vfs', '--root', join(dir, 'root'), '--runroot', join(dir, 'runroot')];
    writeFileSync(join(dir, 'hello.txt'), 'hello from tollgate\n');
    const c = (await buildah('from', 'scratch')).stdout.trim();
    await buildah('copy', c, join(dir, 'hello.txt'), '/hello.txt');
    await buildah('commit', c, 'tollgate-test-image');
  }, 180_000);
  afterAll(async () => {
    await h?.close();
    registry?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const proxy = () => `127.0.0.1:${h.port('registry')}`;
  const tags = async (repo: string) => {
    const r = await request(`http://127.0.0.1:${regPort}/v2/${repo}/tags/list`);
    const body = (await r.body.json()) as { tags?: string[] | null };
    return r.statusCode === 200 ? body.tags ?? [] : [];
  };

  it('buildah pushes to staging through the proxy; skopeo inspects and copies it back', async () => {
    await buildah('push', '--tls-verify=false', '--creds', creds, 'tollgate-test-image', `docker://${proxy()}/staging/app:v1`);
    expect(await tags('staging/app')).toEqual(['v1']);
    const info = JSON.parse((await skopeo('inspect', '--tls-verify=false', '--creds', creds, `docker://${proxy()}/staging/app:v1`)).stdout);
    expect(info.Name).toBe(`${proxy()}/staging/app`);
    await skopeo('copy', '--src-tls-verify=false', '--src-creds', creds, `docker://${proxy()}/staging/app:v1`, `oci:${join(dir, 'pulled')}:v1`);
    expect(existsSync(join(dir, 'pulled', 'index.json'))).toBe(true);
    const ops = h.exchanges.map((e) => `${e.decision} ${e.operation ?? e.method}`);
    expect(ops).toContain('allow push staging/app:v1');
  }, 180_000);

  it('a push elsewhere is denied (403 DENIED) and nothing is tagged', async () => {
    const err = await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${join(dir, 'pulled')}:v1`, `docker://${proxy()}/other/app:v1`).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).toContain('tollgate: denied: no rule allows push other/app');
    expect(await tags('other/app')).toEqual([]);
  }, 180_000);

  it('a push to prod waits for review at its manifest PUT: refused → nothing tagged; approved → tagged', async () => {
    approve = false;
    const asked = h.approver.asked.length;
    const err = await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${join(dir, 'pulled')}:v1`, `docker://${proxy()}/prod/app:v1`).catch((e: Error) => e);
    expect(String((err as Error).message)).toContain('tollgate: denied: push prod/app:v1 needs review by roles.ci.http.rules[2]: not today');
    expect(h.approver.asked.slice(asked).map((a) => a.object)).toEqual(['registry: push prod/app:v1']);
    expect(await tags('prod/app')).toEqual([]);
    approve = true;
    await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${join(dir, 'pulled')}:v1`, `docker://${proxy()}/prod/app:v1`);
    expect(await tags('prod/app')).toEqual(['v1']);
    const reviewed = h.records.filter((r) => r.http?.operation === 'push prod/app:v1').map((r) => [r.decision, r.http!.method, r.http!.status, r.approval?.approved]);
    expect(reviewed).toEqual([['review', 'PUT', 403, false], ['review', 'PUT', 201, true]]);
  }, 180_000);

  it('without the session secret the registry is not reachable', async () => {
    const err = await skopeo('inspect', '--tls-verify=false', '--creds', 'tollgate:wrong', `docker://${proxy()}/staging/app:v1`).catch((e: Error) => e);
    expect(String((err as Error).message)).toMatch(/unauthorized|authentication required/i);
  }, 60_000);
});
