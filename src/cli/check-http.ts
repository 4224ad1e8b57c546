// `tollgate check --http "METHOD /path?query" [--upstream NAME]`: one HTTP request decided offline
// by the same engine the proxy runs (src/http/engine.ts).
import { HttpEngine, type HttpDecision } from '../http/engine.js';
import { normalizeTarget } from '../http/target.js';
import type { Policy } from '../policy/compile.js';

export class HttpCheckError extends Error {
  override readonly name = 'HttpCheckError';
}

export interface HttpCheckResult {
  exit: number;
  text: string;
  json: Record<string, unknown>;
}

export function checkHttp(policy: Policy, roleName: string, request: string, upstreamName?: string): HttpCheckResult {
  const role = policy.roles.get(roleName)!;
  const m = /^([A-Za-z]+) +(\S+)$/.exec(request.trim());
  if (!m) throw new HttpCheckError(`--http ${JSON.stringify(request)}: expected "METHOD /path", e.g. "PUT /v2/prod/api/manifests/v2"`);
  const method = m[1]!.toUpperCase();
  const names = [...role.http.upstreams.keys()];
  if (names.length === 0) throw new HttpCheckError(`role ${JSON.stringify(roleName)} has no http upstreams`);
  if (upstreamName === undefined && names.length > 1) {
    throw new HttpCheckError(`role ${JSON.stringify(roleName)} has several http upstreams: pick one with --upstream (${names.join(', ')})`);
  }
  const upstream = role.http.upstreams.get(upstreamName ?? names[0]!);
  if (!upstream) throw new HttpCheckError(`unknown upstream ${JSON.stringify(upstreamName)} (defined: ${names.join(', ')})`);

  const normalized = normalizeTarget(m[2]!, { caseInsensitive: upstream.caseInsensitivePaths });
  let d: HttpDecision;
  let path: string;
  if (!normalized.ok) {
    path = m[2]!;
    d = { decision: 'deny', rule: null, reason: `cannot judge the request: ${normalized.reason}`, operation: `${method} ${path}`, vocabulary: 'http', accesses: [], invalid: normalized.reason };
  } else {
    path = normalized.target.path;
    d = new HttpEngine(role.http).decide({ upstream, method, target: normalized.target, header: () => [] });
  }
  const status = d.invalid ? 400 : d.decision === 'deny' ? 403 : null;
  return {
    exit: d.decision === 'deny' ? 1 : d.decision === 'review' ? 3 : 0,
    text: `${d.decision.padEnd(6)}  ${method} ${path}  — ${d.reason}${status ? ` (the proxy answers ${status})` : ''}`,
    json: {
      decision: d.decision,
      http: {
        upstream: upstream.name, method, path, operation: d.operation, vocabulary: d.vocabulary,
        decision: d.decision, rule: d.rule, reason: d.reason, status,
        accesses: d.accesses.map((a) => ({ what: a.what, decision: a.decision, rule: a.rule })),
      },
    },
  };
}
