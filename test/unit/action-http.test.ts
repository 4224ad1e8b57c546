// main's HTTP glue: listener lines read from the daemon's output, and what later steps get:
// TOLLGATE_<NAME>_URL, a kubeconfig trusting the listener's own certificate, registry auth files
// that keep earlier docker logins.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { envName, exportHttp, parseHttpListeners } from '../../src/action/http-glue.js';
import { parsePolicy } from '../../src/policy/load.js';

const policy = parsePolicy(`
version: 1
roles:
  ci:
    match: { repository: acme/* }
    http:
      upstreams:
        registry: { url: "https://r.example.com", type: registry }
        cluster: { url: "https://k.example.com", type: kubernetes }
        my-api: { url: "https://api.example.com" }
`, 'p.yml');

let dir: string;
let envFile: string;
const saved = { ...process.env };
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-action-http-'));
  envFile = join(dir, 'github_env');
  writeFileSync(envFile, '');
  process.env.GITHUB_ENV = envFile;
  process.env.DOCKER_CONFIG = join(dir, 'old-docker');
  writeFileSync(join(dir, 'old-docker.json'), '');
});
afterEach(() => { process.env = { ...saved }; });

describe('action HTTP glue', () => {
  it('reads the listener lines of the daemon', () => {
    expect(parseHttpListeners('x\ntollgate: http registry listening on 127.0.0.1:5000\ntollgate: http my-api listening on [::1]:41000\ntollgate: listening on 127.0.0.1:6432\n')).toEqual([
      { name: 'registry', host: '127.0.0.1', port: 5000 },
      { name: 'my-api', host: '::1', port: 41000 },
    ]);
    expect(envName('my-api')).toBe('TOLLGATE_MY_API_URL');
  });
  it('exports URLs, a kubeconfig trusting the listener certificate, and registry auth', () => {
    mkdirSync(join(dir, 'old-docker'));
    writeFileSync(join(dir, 'old-docker', 'config.json'), JSON.stringify({ auths: { 'ghcr.io': { auth: 'b2xkOmxvZ2lu' } } }));
    exportHttp(policy, 'ci', [
      { name: 'registry', host: '127.0.0.1', port: 5000 },
      { name: 'cluster', host: '127.0.0.1', port: 6443 },
      { name: 'my-api', host: '127.0.0.1', port: 7000 },
    ], 'the-secret', dir, { cluster: { cert: 'CERT-PEM', key: 'KEY' } });
    const exported = readFileSync(envFile, 'utf8');
    for (const v of ['TOLLGATE_REGISTRY_URL', 'TOLLGATE_CLUSTER_URL', 'TOLLGATE_MY_API_URL', 'KUBECONFIG', 'REGISTRY_AUTH_FILE', 'DOCKER_CONFIG']) expect(exported).toContain(v);
    expect(exported).toContain('https://127.0.0.1:6443');
    expect(exported).toContain('http://127.0.0.1:5000');
    const kube = JSON.parse(readFileSync(join(dir, 'kubeconfig'), 'utf8'));
    expect(kube.clusters).toEqual([{ name: 'cluster', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': Buffer.from('CERT-PEM').toString('base64') } }]);
    expect(kube.users).toEqual([{ name: 'tollgate', user: { token: 'the-secret' } }]);
    const auth = Buffer.from('tollgate:the-secret').toString('base64');
    expect(JSON.parse(readFileSync(join(dir, 'registry-auth.json'), 'utf8'))).toEqual({ auths: { '127.0.0.1:5000': { auth } } });
    expect(JSON.parse(readFileSync(join(dir, 'docker', 'config.json'), 'utf8'))).toEqual({ auths: { 'ghcr.io': { auth: 'b2xkOmxvZ2lu' }, '127.0.0.1:5000': { auth } } });
  });
});
