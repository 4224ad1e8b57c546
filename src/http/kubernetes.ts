// A Kubernetes API request read as the API server reads it (its RequestInfo): verb, resource,
// subresource, API group, namespace, name. Pure.
//
//   /api/v1/namespaces/prod/pods/web/exec        exec      pods          ns prod  name web
//   /apis/apps/v1/namespaces/prod/deployments    list      deployments   group apps
//   /api/v1/watch/namespaces/x/pods              watch     (legacy watch prefix)
//   /api, /apis/apps/v1, /version, /openapi/v3   discovery (always allowed: kubectl needs it)

import { queryValues, type NormalizedTarget } from './target.js';

export interface KubernetesAccess {
  readonly verb: string;
  /** `pods`, or `pods/log` with a subresource. */
  readonly resource: string;
  /** '' for the core group. */
  readonly group: string;
  readonly namespace: string | null;
  readonly name: string | null;
}

export type KubernetesRequest =
  | { readonly kind: 'discovery' }
  | { readonly kind: 'access'; readonly access: KubernetesAccess }
  /** An API request whose meaning cannot be told for sure (e.g. `watch` given twice): refuse, 400. */
  | { readonly kind: 'ambiguous'; readonly reason: string };

const DISCOVERY = /^\/(?:api\/?|api\/v1\/?|apis\/?|apis\/[^/]+\/?|apis\/[^/]+\/[^/]+\/?|version\/?|openapi\/v2|openapi\/v3(?:\/.*)?|healthz|livez|readyz)$/;

// Subresources that are verbs of their own (RBAC treats them as `create`/`get` on pods/exec; a
// policy names them as the verbs a platform engineer thinks in).
const VERB_SUBRESOURCES: Readonly<Record<string, string>> = { exec: 'exec', attach: 'attach', portforward: 'port-forward', proxy: 'proxy' };
// `namespaces/<name>/<x>` is a subresource of the namespace, not a resource in it, for these.
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

export function classifyKubernetes(method: string, target: NormalizedTarget): KubernetesRequest | null {
  const read = method === 'GET' || method === 'HEAD';
  if (DISCOVERY.test(target.path)) return read ? { kind: 'discovery' } : null;

  const parts = target.path.split('/').slice(1);
  if (parts[parts.length - 1] === '') parts.pop();
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1]!;
    rest = parts.slice(3);
  } else {
    return null;
  }

  let watch = false;
  if (rest[0] === 'watch') {
    watch = true;
    rest = rest.slice(1);
  }
  const watchParam = queryValues(target, 'watch');
  if (watchParam.length > 1) return { kind: 'ambiguous', reason: 'the query gives watch more than once' };
  if (watchParam.length === 1 && !FALSE.has(watchParam[0]!)) watch = true;

  let namespace: string | null = null;
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1]!;
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) rest = rest.slice(2);
  }
  if (rest.length === 0) return null;
  const resource = rest[0]!;
  const name = rest[1] ?? null;
  const sub = rest[2] ?? null;

  let verb: string;
  if (sub !== null && Object.hasOwn(VERB_SUBRESOURCES, sub)) {
    verb = VERB_SUBRESOURCES[sub]!;
  } else {
    switch (method) {
      case 'GET':
      case 'HEAD':
        verb = name === null ? (watch ? 'watch' : 'list') : watch ? 'watch' : 'get';
        break;
      case 'POST':
        verb = 'create';
        break;
      case 'PUT':
        verb = 'update';
        break;
      case 'PATCH':
        verb = 'patch';
        break;
      case 'DELETE':
        verb = name === null ? 'deletecollection' : 'delete';
        break;
      default:
        return null;
    }
  }
  if (watch && !read) return { kind: 'ambiguous', reason: `watch with ${method}` };
  return {
    kind: 'access',
    access: { verb, resource: sub === null ? resource : `${resource}/${sub}`, group, namespace: namespace ?? (resource === 'namespaces' ? name : null), name },
  };
}

/** `delete deployments.apps prod/api`, `list pods -n staging`. */
export function describeKubernetesAccess(a: KubernetesAccess): string {
  const res = a.group ? `${a.resource.split('/')[0]}.${a.group}${a.resource.includes('/') ? `/${a.resource.split('/')[1]}` : ''}` : a.resource;
  const where = a.name !== null ? ` ${a.namespace && a.resource !== 'namespaces' ? `${a.namespace}/` : ''}${a.name}` : a.namespace ? ` -n ${a.namespace}` : '';
  return `${a.verb} ${res}${where}`;
}
