// The answers the proxy gives itself (DESIGN.md, HTTP listener contract), in a body each kind of
// client understands: OCI `errors` for a registry, a Kubernetes `Status`, else a plain JSON error.
import type { UpstreamType } from '../policy/compile-http.js';

export interface ProxyAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const json = (status: number, body: unknown, extra: Record<string, string> = {}): ProxyAnswer => {
  const text = JSON.stringify(body);
  return {
    status,
    headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store', ...extra },
    body: text,
  };
};

function answer(type: UpstreamType, status: 400 | 401 | 403 | 502, code: string, message: string, rule: string | null, extra: Record<string, string> = {}): ProxyAnswer {
  switch (type) {
    case 'registry': {
      const oci = status === 401 ? 'UNAUTHORIZED' : status === 403 ? 'DENIED' : status === 400 ? 'UNSUPPORTED' : 'UNKNOWN';
      return json(status, { errors: [{ code: oci, message, detail: { rule } }] }, extra);
    }
    case 'kubernetes': {
      const reason = status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 400 ? 'BadRequest' : 'InternalError';
      return json(status, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details: { causes: rule ? [{ reason: 'tollgate', message: `rule ${rule}` }] : [] }, code: status }, extra);
    }
    default:
      return json(status, { error: { code, message, rule } }, extra);
  }
}

export const denied = (type: UpstreamType, reason: string, rule: string | null): ProxyAnswer =>
  answer(type, 403, 'denied', `tollgate: denied: ${reason}`, rule);

export const badRequest = (type: UpstreamType, reason: string): ProxyAnswer =>
  answer(type, 400, 'bad_request', `tollgate: cannot judge this request safely: ${reason}`, null, { connection: 'close' });

export const unauthorized = (type: UpstreamType, why: string): ProxyAnswer =>
  answer(type, 401, 'unauthorized', `tollgate: ${why}: authenticate with the session secret (Bearer, or Basic user tollgate)`, null, {
    'www-authenticate': 'Basic realm="tollgate", charset="UTF-8"',
  });

export const badGateway = (type: UpstreamType, why: string): ProxyAnswer =>
  answer(type, 502, 'upstream_error', `tollgate: ${why}`, null);

/** A whole HTTP/1.1 response as bytes, for a socket that has left Node's HTTP handling (upgrades). */
export function rawResponse(a: ProxyAnswer): string {
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 502: 'Bad Gateway' }[a.status] ?? 'Error';
  const head = Object.entries({ ...a.headers, connection: 'close' }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `HTTP/1.1 ${a.status} ${reason}\r\n${head}\r\n${a.body}`;
}
