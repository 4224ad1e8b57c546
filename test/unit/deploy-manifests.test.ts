// deploy/k8s against Kubernetes' own schemas (kubernetes-models validates each object with the
// OpenAPI schema of its kind; no API server here), plus what the gateway needs of them: two replicas,
// a PDB, probes on the admin port, a read-only non-root container, secrets mounted, and a
// NetworkPolicy that lets only gateway pods reach the database. The embedded gateway.yml and policy
// are checked by the gateway's own schema.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { gatewaySchema } from '../../src/gateway/config.js';
import { parsePolicy, parseYamlWith } from '../../src/policy/load.js';

const DIR = 'deploy/k8s';
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: any };

function load(): Obj[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(DIR, f), 'utf8')).map((d) => {
        expect(d.errors, f).toEqual([]);
        return d.toJS() as Obj;
      }),
    );
}

const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

const objects = load();
const one = (kind: string, name: string): Obj => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  expect(o, `${kind}/${name}`).toBeDefined();
  return o!;
};

describe('deploy/k8s', () => {
  it('every object validates against its Kubernetes schema', () => {
    expect(objects.length).toBeGreaterThanOrEqual(10);
    for (const o of objects) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      expect(Model, `no model for ${o.apiVersion} ${o.kind}`).toBeDefined();
      expect(() => new Model!(o).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
    }
  });

  it('the schema check is real: a broken Deployment fails it', () => {
    const d = structuredClone(one('Deployment', 'tollgate-gateway'));
    d.spec.replicas = 'two';
    expect(() => new Deployment(d as never).validate()).toThrow(/replicas/);
    const p = structuredClone(one('Deployment', 'tollgate-gateway'));
    delete p.spec.template.spec.containers[0].image;
    delete p.spec.template.spec.containers[0].name;
    expect(() => new Deployment(p as never).validate()).toThrow(/name/);
    const n = structuredClone(one('NetworkPolicy', 'orders-db-only-from-gateway'));
    n.spec.ingress[0].ports[0].protocol = 7;
    expect(() => new NetworkPolicy(n as never).validate()).toThrow(/protocol/);
  });

  it('two replicas, rolling without loss, a PDB, probes on the admin port', () => {
    const d = one('Deployment', 'tollgate-gateway');
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
    const c = d.spec.template.spec.containers[0];
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(c.ports.map((p: any) => [p.name, p.containerPort])).toEqual([['postgres', 5432], ['https', 8443], ['admin', 9090]]);
    expect(d.spec.template.spec.initContainers[0].args).toEqual(['migrate', '--config', '/etc/tollgate/gateway.yml']);
    const pdb = one('PodDisruptionBudget', 'tollgate-gateway');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(d.spec.selector.matchLabels);
    // The public Service carries the data ports only; admin is its own Service.
    expect(one('Service', 'tollgate-gateway').spec.ports.map((p: any) => p.targetPort)).toEqual(['postgres', 'https']);
  });

  it('non-root, read-only root filesystem, no privileges, no service-account token', () => {
    const pod = one('Deployment', 'tollgate-gateway').spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    expect(pod.automountServiceAccountToken).toBe(false);
    for (const c of [...pod.initContainers, ...pod.containers]) {
      expect(c.securityContext, c.name).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    }
  });

  it('secrets reach the pod as files and env, never inline in the config', () => {
    const pod = one('Deployment', 'tollgate-gateway').spec.template.spec;
    const secrets = pod.volumes.filter((v: any) => v.secret).map((v: any) => v.secret.secretName);
    expect(new Set(secrets)).toEqual(new Set(['tollgate-tls', 'tollgate-keys']));
    expect(pod.containers[0].envFrom).toEqual([{ secretRef: { name: 'tollgate-env' } }]);
    expect(one('Secret', 'tollgate-tls').type).toBe('kubernetes.io/tls');
    for (const s of objects.filter((o) => o.kind === 'Secret')) {
      for (const v of Object.values(s.stringData as Record<string, string>)) expect(v).toBe('REPLACE_ME');
    }
  });

  it('only gateway pods reach the database; admin only from monitoring', () => {
    const db = one('NetworkPolicy', 'orders-db-only-from-gateway');
    expect(db.spec.policyTypes).toEqual(['Ingress']);
    expect(db.spec.ingress).toHaveLength(1);
    expect(db.spec.ingress[0].from).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'tollgate' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'tollgate-gateway' } } },
    ]);
    const gw = one('NetworkPolicy', 'tollgate-gateway-ingress');
    const admin = gw.spec.ingress.find((r: any) => r.ports.some((p: any) => p.port === 9090));
    expect(admin.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]);
  });

  it('the embedded gateway.yml and policy pass the gateway\'s own checks', () => {
    const cm = one('ConfigMap', 'tollgate-gateway-config');
    const gw = parseYamlWith(cm.data['gateway.yml'], 'gateway.yml', gatewaySchema, 'empty');
    expect(gw.ok, JSON.stringify(!gw.ok && gw.problems)).toBe(true);
    const policy = parsePolicy(cm.data['policy.yml'], 'policy.yml');
    const upstreams = Object.keys((gw as { data: { upstreams: Record<string, unknown> } }).data.upstreams);
    for (const role of policy.roles.values()) expect(upstreams).toContain(role.upstream);
    // Every env the config names is provided by the tollgate-env Secret.
    const env = Object.keys(one('Secret', 'tollgate-env').stringData);
    for (const name of cm.data['gateway.yml'].match(/[a-z_]+_env: ([A-Z_]+)/g)!.map((m: string) => m.split(': ')[1])) expect(env).toContain(name);
  });
});
