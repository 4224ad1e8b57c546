// A Kubernetes API stand-in for kubectl tests. NOT a recording of a real API server: its answers are
// written by hand in the shape the API server gives (discovery, a PodList, a Pod, a Secret, a
// Status), enough for kubectl's discovery and the requests the tests make. It records every request.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const pod = (ns: string, name: string) => ({
  kind: 'Pod', apiVersion: 'v1',
  metadata: { name, namespace: ns, uid: `uid-${ns}-${name}`, resourceVersion: '1', creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { containers: [{ name: 'app', image: 'registry.example.com/app:v1', env: [{ name: 'API_TOKEN', value: 'plain-env-secret' }] }] },
  status: { phase: 'Running', containerStatuses: [{ name: 'app', ready: true, restartCount: 0, image: 'app', imageID: '', state: { running: {} } }] },
});
const resourceList = (groupVersion: string, resources: { name: string; kind: string; namespaced: boolean; verbs: string[]; shortNames?: string[] }[]) => ({
  kind: 'APIResourceList', apiVersion: 'v1', groupVersion,
  resources: resources.map((r) => ({ singularName: '', ...r })),
});
const ALL = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

const ROUTES: Record<string, unknown> = {
  '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '10.0.0.1:6443' }] },
  '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [{ name: 'apps', versions: [{ groupVersion: 'apps/v1', version: 'v1' }], preferredVersion: { groupVersion: 'apps/v1', version: 'v1' } }] },
  '/api/v1': resourceList('v1', [
    { name: 'pods', kind: 'Pod', namespaced: true, verbs: ALL, shortNames: ['po'] },
    { name: 'pods/exec', kind: 'PodExecOptions', namespaced: true, verbs: ['create', 'get'] },
    { name: 'secrets', kind: 'Secret', namespaced: true, verbs: ALL },
    { name: 'namespaces', kind: 'Namespace', namespaced: false, verbs: ALL, shortNames: ['ns'] },
  ]),
  '/apis/apps/v1': resourceList('apps/v1', [{ name: 'deployments', kind: 'Deployment', namespaced: true, verbs: ALL, shortNames: ['deploy'] }]),
  '/version': { major: '1', minor: '32', gitVersion: 'v1.32.0', platform: 'linux/amd64' },
};

export interface KubeStandIn {
  url: string;
  seen: string[];
  close(): Promise<void>;
}

export async function startKubeStandIn(): Promise<KubeStandIn> {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    seen.push(`${req.method} ${url.pathname}${url.search}`);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (ROUTES[url.pathname]) return send(200, ROUTES[url.pathname]);
    let m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname);
    if (m && req.method === 'GET') return send(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [pod(m[1]!, 'web-1'), pod(m[1]!, 'web-2')] });
    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(url.pathname);
    if (m && req.method === 'GET') return send(200, pod(m[1]!, m[2]!));
    m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(url.pathname);
    if (m && req.method === 'GET') return send(200, { kind: 'Secret', apiVersion: 'v1', metadata: { name: m[2], namespace: m[1] }, type: 'Opaque', data: { password: Buffer.from('hunter2').toString('base64') } });
    m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)$/.exec(url.pathname);
    if (m && req.method === 'DELETE') return send(200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: m[2], group: 'apps', kind: 'deployments' } });
    send(404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `the server could not find the requested resource`, reason: 'NotFound', code: 404 });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
