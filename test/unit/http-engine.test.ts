// The HTTP engine on test/fixtures/policies/http.yml: the registry and kubernetes vocabularies and
// plain HTTP rules compile to one first-match engine; each case asserts decision, rule and reason.
import { describe, expect, it } from 'vitest';
import { HttpEngine } from '../../src/http/engine.js';
import { classifyKubernetes } from '../../src/http/kubernetes.js';
import { classifyRegistry } from '../../src/http/registry.js';
import { normalizeTarget, type NormalizedTarget } from '../../src/http/target.js';
import { loadPolicy } from '../../src/policy/load.js';

const role = loadPolicy('test/fixtures/policies/http.yml').roles.get('deploy')!;
const engine = new HttpEngine(role.http);

function target(raw: string, caseInsensitive = false): NormalizedTarget {
  const r = normalizeTarget(raw, { caseInsensitive });
  if (!r.ok) throw new Error(r.reason);
  return r.target;
}

function decide(upstream: string, request: string, headers: Record<string, string[]> = {}) {
  const [method, raw] = request.split(' ') as [string, string];
  const u = role.http.upstreams.get(upstream)!;
  const d = engine.decide({ upstream: u, method, target: target(raw, u.caseInsensitivePaths), header: (n) => headers[n] ?? [] });
  return `${d.decision} ${d.rule ?? '-'} ${d.reason}${d.invalid ? ' [400]' : ''}`;
}

const R = (i: number) => `roles.deploy.http.rules[${i}]`;

describe('registry vocabulary', () => {
  it.each([
    ['GET /v2/', 'allow - registry version check (always allowed)'],
    ['HEAD /v2/', 'allow - registry version check (always allowed)'],
    ['GET /v2/prod/api/manifests/v2', `allow ${R(0)} pull prod/api:v2 allowed by ${R(0)}`],
    ['HEAD /v2/prod/api/blobs/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', `allow ${R(0)} pull prod/api allowed by ${R(0)}`],
    ['GET /v2/prod/api/tags/list', `allow ${R(0)} pull prod/api allowed by ${R(0)}`],
    ['POST /v2/staging/api/blobs/uploads/', `allow ${R(1)} push staging/api allowed by ${R(1)}`],
    ['PATCH /v2/staging/api/blobs/uploads/3f1c-uuid', `allow ${R(1)} push staging/api allowed by ${R(1)}`],
    ['PUT /v2/staging/api/manifests/v2', `allow ${R(1)} push staging/api:v2 allowed by ${R(1)}`],
    // a push to prod is reviewed at its manifest PUT; its blobs upload first
    ['POST /v2/prod/api/blobs/uploads/', `allow ${R(2)} push prod/api allowed by ${R(2)}`],
    ['PUT /v2/prod/api/blobs/uploads/3f1c-uuid?digest=sha256:00', `allow ${R(2)} push prod/api allowed by ${R(2)}`],
    ['PUT /v2/prod/api/manifests/v2', `review ${R(2)} push prod/api:v2 needs review by ${R(2)}`],
    ['PUT /v2/prod/api/manifests/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', `review ${R(2)} push prod/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef needs review by ${R(2)}`],
    ['DELETE /v2/prod/api/manifests/v1', `review ${R(2)} delete prod/api:v1 needs review by ${R(2)}`],
    ['DELETE /v2/staging/api/manifests/v1', 'deny - no rule allows delete staging/api:v1'],
    ['PUT /v2/other/api/manifests/v1', 'deny - no rule allows push other/api:v1'],
    ['GET /v2/_catalog', 'deny - no rule allows GET /v2/_catalog'],
    // a cross-repository mount reads `from`: staging may not mount from a repository it cannot pull… it can pull anything,
    // but a push to other/ with a mount from staging is still a push to other/
    ['POST /v2/other/x/blobs/uploads/?mount=sha256:00&from=staging/api', 'deny - no rule allows push other/x'],
    ['POST /v2/staging/x/blobs/uploads/?mount=sha256:00&from=prod/api', `allow ${R(1)} push staging/x allowed by ${R(1)}`],
    // a name that is not a repository name is not a registry request: no registry rule matches it
    ['PUT /v2/Prod/API/manifests/v2', 'deny - no rule allows PUT /v2/Prod/API/manifests/v2'],
    ['PUT /v2/staging/api/manifests/v2/extra', 'deny - no rule allows PUT /v2/staging/api/manifests/v2/extra'],
    // `manifests` may be a name component: the route's tail decides, as in Distribution's router
    ['PUT /v2/staging/manifests/manifests/v2', `allow ${R(1)} push staging/manifests:v2 allowed by ${R(1)}`],
    ['PUT /v2/prod/x/blobs/uploads/manifests/v2', `review ${R(2)} push prod/x/blobs/uploads:v2 needs review by ${R(2)}`],
  ])('%s', (req, want) => {
    expect(decide('registry', req)).toBe(want);
  });

  it('a mount names both repositories; the most restrictive access decides', () => {
    const u = role.http.upstreams.get('registry')!;
    const d = engine.decide({ upstream: u, method: 'POST', target: target('/v2/prod/y/blobs/uploads/?mount=sha256:00&from=staging/x'), header: () => [] });
    expect(d.accesses).toEqual([
      { what: 'push prod/y', decision: 'allow', rule: R(2) },
      { what: 'pull staging/x', decision: 'allow', rule: R(0) },
    ]);
    expect(d.operation).toBe('push prod/y + pull staging/x');
  });

  it('a doubled mount or from is not read as a registry request', () => {
    expect(classifyRegistry('POST', target('/v2/a/blobs/uploads/?mount=x&from=b&from=c'))).toBeNull();
  });
});

describe('kubernetes vocabulary', () => {
  it.each([
    ['GET /api', 'allow - Kubernetes API discovery (always allowed)'],
    ['GET /apis/apps/v1', 'allow - Kubernetes API discovery (always allowed)'],
    ['GET /version', 'allow - Kubernetes API discovery (always allowed)'],
    ['GET /openapi/v3/apis/apps/v1', 'allow - Kubernetes API discovery (always allowed)'],
    ['GET /api/v1/namespaces/staging/pods', `allow ${R(3)} list pods -n staging allowed by ${R(3)}`],
    ['GET /api/v1/namespaces/staging/pods?watch=true', `allow ${R(3)} watch pods -n staging allowed by ${R(3)}`],
    ['GET /api/v1/watch/namespaces/staging/pods', `allow ${R(3)} watch pods -n staging allowed by ${R(3)}`],
    ['GET /api/v1/namespaces/prod/pods/web-1', `allow ${R(4)} get pods prod/web-1 allowed by ${R(4)}`],
    ['GET /api/v1/namespaces/prod/pods/web-1/log', `allow ${R(4)} get pods/log prod/web-1 allowed by ${R(4)}`],
    ['GET /apis/apps/v1/namespaces/prod/deployments', `allow ${R(4)} list deployments.apps -n prod allowed by ${R(4)}`],
    ['GET /apis/evil.io/v1/namespaces/prod/deployments', 'deny - no rule allows list deployments.evil.io -n prod'],
    ['GET /api/v1/namespaces/prod/secrets', 'deny - no rule allows list secrets -n prod'],
    ['GET /api/v1/namespaces/prod/secrets?watch=0', 'deny - no rule allows list secrets -n prod'],
    ['DELETE /apis/apps/v1/namespaces/prod/deployments/api', `review ${R(5)} delete deployments.apps prod/api needs review by ${R(5)}`],
    ['PATCH /apis/apps/v1/namespaces/prod/deployments/api', `review ${R(5)} patch deployments.apps prod/api needs review by ${R(5)}`],
    ['DELETE /apis/apps/v1/namespaces/prod/deployments', 'deny - no rule allows deletecollection deployments.apps -n prod'],
    ['POST /api/v1/namespaces/prod/pods/web-1/exec?command=sh', `deny ${R(6)} exec pods/exec prod/web-1 denied by ${R(6)}`],
    ['GET /api/v1/namespaces/staging/pods/web-1/exec?command=sh', `deny ${R(6)} exec pods/exec staging/web-1 denied by ${R(6)}`],
    ['POST /api/v1/namespaces/prod/pods/web-1/portforward', `deny ${R(6)} port-forward pods/portforward prod/web-1 denied by ${R(6)}`],
    ['GET /api/v1/namespaces/staging/secrets/app-db', `allow ${R(3)} get secrets staging/app-db allowed by ${R(3)}`],
    ['GET /api/v1/namespaces/staging', `allow ${R(3)} get namespaces staging allowed by ${R(3)}`],
    ['DELETE /api/v1/namespaces/staging', 'deny - no rule allows delete namespaces staging'],
    ['GET /api/v1/pods', `allow ${R(4)} list pods allowed by ${R(4)}`],
    ['GET /api/v1/nodes', 'deny - no rule allows list nodes'],
    ['GET /api/v1/namespaces/staging/pods?watch=1&watch=0', 'deny - cannot judge GET /api/v1/namespaces/staging/pods: the query gives watch more than once [400]'],
    ['POST /api/v1/namespaces/staging/pods?watch=true', 'deny - cannot judge POST /api/v1/namespaces/staging/pods: watch with POST [400]'],
    ['GET /logs/kube-apiserver.log', 'deny - no rule allows GET /logs/kube-apiserver.log'],
  ])('%s', (req, want) => {
    expect(decide('cluster', req)).toBe(want);
  });

  it('reads requests as the API server does', () => {
    expect(classifyKubernetes('GET', target('/api/v1/namespaces/x/status'))).toEqual({ kind: 'access', access: { verb: 'get', resource: 'namespaces/status', group: '', namespace: 'x', name: 'x' } });
    expect(classifyKubernetes('PUT', target('/api/v1/namespaces/x/finalize'))).toEqual({ kind: 'access', access: { verb: 'update', resource: 'namespaces/finalize', group: '', namespace: 'x', name: 'x' } });
    expect(classifyKubernetes('GET', target('/api/v1/namespaces/x/pods/p/proxy/some/path'))).toEqual({ kind: 'access', access: { verb: 'proxy', resource: 'pods/proxy', group: '', namespace: 'x', name: 'p' } });
    expect(classifyKubernetes('POST', target('/api'))).toBeNull();
  });
});

describe('plain HTTP rules', () => {
  it.each([
    ['api', 'GET /things', `allow ${R(10)} GET /things allowed by ${R(10)}`],
    ['api', 'GET /things/42', `allow ${R(10)} GET /things/42 allowed by ${R(10)}`],
    ['api', 'GET /things/42/parts', 'deny - no rule allows GET /things/42/parts'],
    ['api', 'POST /things/42/parts', `review ${R(11)} POST /things/42/parts needs review by ${R(11)}`],
    ['api', 'DELETE /admin/users/1', `deny ${R(9)} DELETE /admin/users/1 denied by ${R(9)}`],
    ['api', 'PATCH /things/1', 'deny - no rule allows PATCH /things/1'],
    ['api', 'GET /reports/q1?format=csv', `allow ${R(12)} GET /reports/q1 allowed by ${R(12)}`],
    ['api', 'GET /reports/q1?format=pdf', 'deny - no rule allows GET /reports/q1'],
    ['api', 'GET /reports/q1', 'deny - no rule allows GET /reports/q1'],
    ['api', 'GET /reports/q1?format=csv&format=pdf', 'deny - cannot judge GET /reports/q1: query parameter format given more than once [400]'],
    ['legacy', 'DELETE /ADMIN/users/1', `deny ${R(9)} DELETE /admin/users/1 denied by ${R(9)}`],
    ['legacy', 'GET /public/x', `allow ${R(14)} GET /public/x allowed by ${R(14)}`],
    ['legacy', 'DELETE /Other', `allow ${R(15)} DELETE /other allowed by ${R(15)}`],
    // registry and kubernetes rules never match another upstream's requests
    ['api', 'GET /v2/prod/api/manifests/v2', 'deny - no rule allows GET /v2/prod/api/manifests/v2'],
  ])('%s %s', (up, req, want) => {
    expect(decide(up, req)).toBe(want);
  });

  it('header conditions: present once, matching', () => {
    expect(decide('api', 'POST /hooks/deploy', { 'x-team': ['platform'] })).toBe(`allow ${R(13)} POST /hooks/deploy allowed by ${R(13)}`);
    expect(decide('api', 'POST /hooks/deploy', { 'x-team': ['other'] })).toBe('deny - no rule allows POST /hooks/deploy');
    expect(decide('api', 'POST /hooks/deploy')).toBe('deny - no rule allows POST /hooks/deploy');
    expect(decide('api', 'POST /hooks/deploy', { 'x-team': ['platform', 'other'] })).toBe('deny - cannot judge POST /hooks/deploy: header x-team given more than once [400]');
  });
});
