// The kubectl binary on the machine through the proxy, against a Kubernetes API stand-in
// (test/support/kube-standin.ts: hand-written answers in the API server's shape, not recordings).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET, startHarness, type Harness } from '../support/http-proxy.js';
import { startKubeStandIn, type KubeStandIn } from '../support/kube-standin.js';

const run = promisify(execFile);
const kubectlPath = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));

let dir: string;
let api: KubeStandIn;
let h: Harness;

async function kubectl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(kubectlPath!, ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache'), ...args], { timeout: 60_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

// Never skipped silently: without kubectl the suite fails and says so.
it('has the kubectl binary it needs', () => {
  expect(kubectlPath, 'kubectl is expected in /usr/bin or /usr/local/bin').toBeTruthy();
});

describe.runIf(Boolean(kubectlPath))('kubectl through the proxy', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-kubectl-'));
    api = await startKubeStandIn();
    h = await startHarness(`
version: 1
roles:
  ci:
    match: { repository: acme/* }
    http:
      upstreams:
        cluster: { url: "${api.url}", type: kubernetes, mask: ["data.*", "env[*].value"] }
      rules:
        - { action: allow,  verbs: [get, list, watch], resources: [pods, secrets], namespaces: [staging] }
        - { action: allow,  verbs: [get], resources: [pods] }
        - { action: review, verbs: [delete], resources: [deployments], namespaces: [prod] }
        - { action: deny,   verbs: [exec, attach, port-forward] }
`, { approve: () => ({ approved: false, via: 'terminal', approver: 'bob', reason: 'not during the freeze' }) });
    writeFileSync(join(dir, 'kubeconfig'), JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'tollgate',
      // kubectl sends a token only over TLS: the listener's own certificate is the one it trusts
      clusters: [{ name: 'tollgate', cluster: { server: h.url('cluster'), 'certificate-authority-data': Buffer.from(h.running.listeners[0]!.certificate!).toString('base64') } }],
      users: [{ name: 'tollgate', user: { token: SECRET } }],
      contexts: [{ name: 'tollgate', context: { cluster: 'tollgate', user: 'tollgate' } }],
    }));
  });
  afterAll(async () => {
    await h?.close();
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('kubectl get pods -n staging is allowed, with env values masked', async () => {
    const r = await kubectl('get', 'pods', '-n', 'staging');
    expect(r.code).toBe(0);
    // the stand-in answers a PodList, not a Table: kubectl prints its generic columns
    expect(r.out).toMatch(/^NAME\s+AGE\n/);
    expect(r.out).toContain('web-1');
    const yaml = await kubectl('get', 'pod', 'web-1', '-n', 'staging', '-o', 'jsonpath={.spec.containers[0].env[0].value}');
    expect(yaml).toMatchObject({ code: 0, out: '[masked]' });
  });
  it('a Secret is read masked, still base64', async () => {
    const r = await kubectl('get', 'secret', 'db', '-n', 'staging', '-o', 'jsonpath={.data.password}');
    expect(r).toMatchObject({ code: 0, out: Buffer.from('[masked]').toString('base64') });
  });
  it('kubectl get pods -n prod (a list) is denied with the rule in kubectl\'s own error line', async () => {
    const r = await kubectl('get', 'pods', '-n', 'prod');
    expect(r.code).toBe(1);
    expect(r.err).toContain('Error from server (Forbidden): tollgate: denied: no rule allows list pods -n prod');
  });
  it('kubectl delete deployment -n prod api is held for review, and refused', async () => {
    const r = await kubectl('delete', 'deployment', '-n', 'prod', 'api');
    expect(r.code).toBe(1);
    expect(r.err).toContain('Error from server (Forbidden): tollgate: denied: delete deployments.apps prod/api needs review by roles.ci.http.rules[2]: not during the freeze');
    expect(api.seen.filter((s) => s.startsWith('DELETE'))).toEqual([]);
  });
  it('kubectl exec is denied; nothing reaches the API', async () => {
    const r = await kubectl('exec', '-n', 'staging', 'web-1', '--', 'true');
    expect(r.code).not.toBe(0);
    expect(api.seen.filter((s) => s.includes('/exec'))).toEqual([]);
    expect(h.exchanges.filter((e) => e.operation?.startsWith('exec')).every((e) => e.decision === 'deny')).toBe(true);
    expect(h.exchanges.some((e) => e.operation === 'exec pods/exec staging/web-1')).toBe(true);
  });
  it('a wrong token gets 401 and kubectl says so', async () => {
    writeFileSync(join(dir, 'kubeconfig2'), JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 't',
      clusters: [{ name: 't', cluster: { server: h.url('cluster'), 'certificate-authority-data': Buffer.from(h.running.listeners[0]!.certificate!).toString('base64') } }],
      users: [{ name: 't', user: { token: 'wrong' } }],
      contexts: [{ name: 't', context: { cluster: 't', user: 't' } }],
    }));
    const r = await run(kubectlPath!, ['--kubeconfig', join(dir, 'kubeconfig2'), '--cache-dir', join(dir, 'cache2'), 'get', 'pods', '-n', 'staging']).catch((e: { stderr: string }) => e);
    expect(String((r as { stderr: string }).stderr)).toMatch(/Unauthorized|must be logged in/);
  });
});
