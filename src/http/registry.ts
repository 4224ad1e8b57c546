// The OCI distribution API read as the registry reads it: which repository, which tag or digest,
// and whether it is a pull, a push or a delete. Pure. Routes follow the distribution spec (and
// Distribution's router): the name is everything between `/v2/` and the route's fixed tail, and
// must follow the repository-name grammar; a tag or digest never holds `/`.

import { queryValues, type NormalizedTarget } from './target.js';

export type RegistryOperation = 'pull' | 'push' | 'delete';

export interface RegistryAccess {
  readonly op: RegistryOperation;
  readonly repository: string;
  /** The tag or digest for manifest requests; null for blobs, uploads and tag lists. */
  readonly reference: string | null;
  /** True for `PUT …/manifests/<ref>`: the request that tags, where a push is reviewed. */
  readonly manifest: boolean;
}

export type RegistryRequest =
  | { readonly kind: 'ping' }
  | { readonly kind: 'catalog' }
  | { readonly kind: 'access'; readonly accesses: readonly RegistryAccess[] };

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = `${COMPONENT}(?:/${COMPONENT})*`;
const TAG = '[A-Za-z0-9_][A-Za-z0-9._-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}';
const UUID = '[A-Za-z0-9_.=-]+';

const MANIFEST = new RegExp(`^/v2/(${NAME})/manifests/(${TAG}|${DIGEST})$`);
const BLOB = new RegExp(`^/v2/(${NAME})/blobs/(${DIGEST})$`);
const UPLOAD_START = new RegExp(`^/v2/(${NAME})/blobs/uploads/?$`);
const UPLOAD = new RegExp(`^/v2/(${NAME})/blobs/uploads/(${UUID})$`);
const TAGS = new RegExp(`^/v2/(${NAME})/tags/list$`);
const REFERRERS = new RegExp(`^/v2/(${NAME})/referrers/(${DIGEST})$`);
const REPOSITORY = new RegExp(`^${NAME}$`);

const access = (op: RegistryOperation, repository: string, reference: string | null = null, manifest = false): RegistryRequest => ({
  kind: 'access',
  accesses: [{ op, repository, reference, manifest }],
});

/**
 * What a request to a registry does, or null when it is not a distribution API request this
 * vocabulary can name (then only HTTP rules can match it).
 */
export function classifyRegistry(method: string, target: NormalizedTarget): RegistryRequest | null {
  const { path } = target;
  const read = method === 'GET' || method === 'HEAD';
  if (path === '/v2/' || path === '/v2') return read ? { kind: 'ping' } : null;
  if (path === '/v2/_catalog') return read ? { kind: 'catalog' } : null;

  let m = MANIFEST.exec(path);
  if (m) {
    if (read) return access('pull', m[1]!, m[2]!);
    if (method === 'PUT') return access('push', m[1]!, m[2]!, true);
    if (method === 'DELETE') return access('delete', m[1]!, m[2]!);
    return null;
  }
  if ((m = BLOB.exec(path))) {
    if (read) return access('pull', m[1]!);
    if (method === 'DELETE') return access('delete', m[1]!);
    return null;
  }
  if ((m = UPLOAD_START.exec(path))) {
    if (method !== 'POST') return null;
    // A cross-repository mount reads a blob of `from`: it needs pull there as well as push here.
    const mount = queryValues(target, 'mount');
    const from = queryValues(target, 'from');
    if (mount.length > 1 || from.length > 1) return null; // which one would the registry use?
    const accesses: RegistryAccess[] = [{ op: 'push', repository: m[1]!, reference: null, manifest: false }];
    if (mount.length === 1 && from.length === 1) {
      if (!REPOSITORY.test(from[0]!)) return null;
      accesses.push({ op: 'pull', repository: from[0]!, reference: null, manifest: false });
    }
    return { kind: 'access', accesses };
  }
  if ((m = UPLOAD.exec(path))) {
    if (read || method === 'PATCH' || method === 'PUT' || method === 'DELETE') return access('push', m[1]!);
    return null;
  }
  if ((m = TAGS.exec(path))) return read ? access('pull', m[1]!) : null;
  if ((m = REFERRERS.exec(path))) return read ? access('pull', m[1]!) : null;
  return null;
}

/** `prod/api:v2`, `prod/api@sha256:…`, or just the repository. */
export function describeRegistryAccess(a: RegistryAccess): string {
  if (a.reference === null) return a.repository;
  return a.reference.includes(':') ? `${a.repository}@${a.reference}` : `${a.repository}:${a.reference}`;
}
