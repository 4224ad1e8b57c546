// Decides one HTTP request against a role's `http:` rules. Pure (no I/O), so `tollgate check`,
// the in-runner proxy and the gateway share it.
//
// A request becomes one or more accesses (a cross-repository blob mount is a push here and a pull
// there); each access is decided by the first rule that matches it, and the request by the most
// restrictive (deny > review > allow). No rule → deny. Registry version checks (`GET /v2/`) and
// Kubernetes discovery (`/api`, `/apis/…`, `/version`, `/openapi/…`) are always allowed: every
// client needs them and they reveal no data. A review rule on a registry push holds the manifest
// `PUT` only: blobs may upload first, nothing is tagged until the review is approved.

import type { HttpRule, HttpSection, HttpUpstream, RepoPattern } from '../policy/compile-http.js';
import type { Glob } from '../policy/glob.js';
import type { Action } from '../policy/types.js';
import { classifyKubernetes, describeKubernetesAccess, type KubernetesAccess } from './kubernetes.js';
import { classifyRegistry, describeRegistryAccess, type RegistryAccess } from './registry.js';
import { queryValues, type NormalizedTarget } from './target.js';

export interface HttpRequestFacts {
  readonly upstream: HttpUpstream;
  readonly method: string;
  readonly target: NormalizedTarget;
  /** Every value of a request header (lower-case name). */
  readonly header: (name: string) => readonly string[];
}

export interface HttpAccessDecision {
  /** `push prod/api:v2`, `delete deployments.apps prod/api`, `GET /api/things`. */
  readonly what: string;
  readonly decision: Action;
  readonly rule: string | null;
}

export interface HttpDecision {
  readonly decision: Action;
  /** The deciding rule (the most restrictive access's); null when none matched or always allowed. */
  readonly rule: string | null;
  readonly reason: string;
  /** How the request reads in the policy's vocabulary, e.g. `push prod/api:v2`. */
  readonly operation: string;
  /** `registry` or `kubernetes` when the upstream's vocabulary named the request, else `http`. */
  readonly vocabulary: 'http' | 'registry' | 'kubernetes';
  readonly accesses: readonly HttpAccessDecision[];
  /** Set when the request cannot be judged safely: the proxy answers 400, never forwards. */
  readonly invalid?: string;
}

/** A request the engine refuses to judge (ambiguous): answered 400. */
class Ambiguous extends Error {}

type Access =
  | { readonly vocabulary: 'registry'; readonly access: RegistryAccess }
  | { readonly vocabulary: 'kubernetes'; readonly access: KubernetesAccess }
  | { readonly vocabulary: 'http' };

const RANK: Record<Action, number> = { allow: 0, review: 1, deny: 2 };

export class HttpEngine {
  constructor(readonly section: HttpSection) {}

  upstream(name: string): HttpUpstream | undefined {
    return this.section.upstreams.get(name);
  }

  decide(req: HttpRequestFacts): HttpDecision {
    try {
      return this.decideOrThrow(req);
    } catch (err) {
      if (!(err instanceof Ambiguous)) throw err;
      const operation = `${req.method} ${req.target.path}`;
      return { decision: 'deny', rule: null, reason: `cannot judge ${operation}: ${err.message}`, operation, vocabulary: 'http', accesses: [], invalid: err.message };
    }
  }

  private decideOrThrow(req: HttpRequestFacts): HttpDecision {
    const plain = `${req.method} ${req.target.path}`;
    const always = (what: string): HttpDecision => ({
      decision: 'allow', rule: null, reason: `${what} (always allowed)`, operation: plain, vocabulary: req.upstream.type, accesses: [],
    });
    let accesses: Access[] = [{ vocabulary: 'http' }];
    if (req.upstream.type === 'registry') {
      const r = classifyRegistry(req.method, req.target);
      if (r?.kind === 'ping') return always('registry version check');
      if (r?.kind === 'access') accesses = r.accesses.map((access) => ({ vocabulary: 'registry', access }));
    } else if (req.upstream.type === 'kubernetes') {
      const k = classifyKubernetes(req.method, req.target);
      if (k?.kind === 'discovery') return always('Kubernetes API discovery');
      if (k?.kind === 'ambiguous') throw new Ambiguous(k.reason);
      if (k?.kind === 'access') accesses = [{ vocabulary: 'kubernetes', access: k.access }];
    }

    const decided = accesses.map((a) => this.decideAccess(req, a, plain));
    let worst = decided[0]!;
    for (const d of decided) if (RANK[d.decision] > RANK[worst.decision]) worst = d;
    const operation = decided.map((d) => d.what).join(' + ');
    const verb = worst.decision === 'allow' ? 'allowed by' : worst.decision === 'review' ? 'needs review by' : 'denied by';
    const reason = worst.rule === null ? `no rule allows ${worst.what}` : `${worst.what} ${verb} ${worst.rule}`;
    return { decision: worst.decision, rule: worst.rule, reason, operation, vocabulary: accesses[0]!.vocabulary, accesses: decided };
  }

  private decideAccess(req: HttpRequestFacts, access: Access, plain: string): HttpAccessDecision {
    const what = access.vocabulary === 'registry'
      ? `${access.access.op} ${describeRegistryAccess(access.access)}`
      : access.vocabulary === 'kubernetes'
        ? describeKubernetesAccess(access.access)
        : plain;
    for (const rule of this.section.rules) {
      if (rule.upstreams && !rule.upstreams.has(req.upstream.name)) continue;
      if (!ruleMatches(rule, req, access)) continue;
      let decision = rule.action;
      // Reviewing a push means reviewing what it tags: the blobs before it carry no name.
      if (decision === 'review' && access.vocabulary === 'registry' && access.access.op === 'push' && !access.access.manifest) {
        decision = 'allow';
      }
      return { what, decision, rule: rule.path };
    }
    return { what, decision: 'deny', rule: null };
  }
}

function ruleMatches(rule: HttpRule, req: HttpRequestFacts, access: Access): boolean {
  const m = rule.match;
  switch (m.vocabulary) {
    case 'http': {
      if (m.methods && !m.methods.has(req.method)) return false;
      const globs = req.upstream.caseInsensitivePaths ? m.foldedPaths : m.paths;
      if (!globs.some((g) => g.test(req.target.path))) return false;
      for (const [name, want] of m.query) {
        if (!oneMatches(queryValues(req.target, name), want, `query parameter ${name}`)) return false;
      }
      for (const [name, want] of m.headers) {
        if (!oneMatches(req.header(name), want, `header ${name}`)) return false;
      }
      return true;
    }
    case 'registry': {
      if (access.vocabulary !== 'registry') return false;
      const a = access.access;
      return m[a.op].some((p) => repoMatches(p, a));
    }
    case 'kubernetes': {
      if (access.vocabulary !== 'kubernetes') return false;
      const a = access.access;
      if (!m.verbs.has(a.verb)) return false;
      if (m.resources) {
        const base = a.resource.split('/')[0]!;
        const sub = a.resource.slice(base.length);
        const names = a.group ? [a.resource, `${base}.${a.group}${sub}`] : [a.resource];
        if (!m.resources.some((g) => names.some((n) => g.test(n)))) return false;
      }
      if (m.namespaces && (a.namespace === null || !m.namespaces.some((g) => g.test(a.namespace!)))) return false;
      if (m.names && (a.name === null || !m.names.some((g) => g.test(a.name!)))) return false;
      return true;
    }
  }
}

/** A condition on a query parameter or header: present exactly once, with a matching value. */
function oneMatches(values: readonly string[], want: readonly Glob[], what: string): boolean {
  if (values.length > 1) throw new Ambiguous(`${what} given more than once`);
  return values.length === 1 && want.some((g) => g.test(values[0]!));
}

/** A tag pattern narrows manifests; blobs are content-addressed and follow their repository. */
function repoMatches(p: RepoPattern, a: RegistryAccess): boolean {
  if (!p.repository.test(a.repository)) return false;
  return p.reference === null || a.reference === null || p.reference.test(a.reference);
}
