// Turns a validated policy document into the form the engine checks against: globs compiled to
// anchored RegExps once, groups expanded, rule paths precomputed. Nothing here can fail on a
// document that passed the schema.
import { GROUPS, type Group, type Kind } from '../sql/types.js';
import type { Action, MaskStrategy } from './types.js';
import { parseDuration } from './duration.js';
import { formatPath } from './errors.js';
import { compileGlob, compileNameGlob, compilePartGlob, type Glob } from './glob.js';
import { splitQualified } from '../sql/qualified.js';
import type { PolicyDocument } from './schema.js';
import { compileHttpSection, type HttpSection } from './compile-http.js';

export type { HttpMatch, HttpRule, HttpSection, HttpUpstream, RepoPattern, UpstreamAuth, UpstreamType } from './compile-http.js';

export interface PostgresRule {
  /** Position in the role's rules, 0-based. */
  readonly index: number;
  /** Stable path for decisions and logs, e.g. `roles.ci.postgres.rules[1]`. */
  readonly path: string;
  readonly action: Action;
  /** Every kind the rule covers, groups expanded. */
  readonly kinds: ReadonlySet<Kind>;
  /** Kinds the rule lists by name (not through a group): only these can allow an `exact` access. */
  readonly namedKinds: ReadonlySet<Kind>;
  /** Object globs, or null when the rule applies to any object. */
  readonly objects: readonly Glob[] | null;
}

/** A mask column pattern right-aligned to schema.table.column (`*.ssn` → `*`, `*`, `ssn`). */
export interface ColumnPattern {
  readonly source: string;
  readonly schema: Glob;
  readonly table: Glob;
  readonly column: Glob;
}

export interface Mask {
  readonly index: number;
  readonly path: string;
  readonly strategy: MaskStrategy;
  readonly columns: readonly ColumnPattern[];
}

export interface ClaimMatch {
  readonly claim: string;
  /** Any of these matches (a list in the policy = any of). */
  readonly globs: readonly Glob[];
}

export interface Role {
  readonly name: string;
  readonly description: string | null;
  readonly match: readonly ClaimMatch[];
  /** GitHub logins or org/team; null when the policy lists none (anyone with write access but the actor). */
  readonly approvers: readonly string[] | null;
  /** Gateway mode: the upstream (a name in the gateway's config) this role's sessions use; null in-runner. */
  readonly upstream: string | null;
  readonly rules: readonly PostgresRule[];
  readonly masks: readonly Mask[];
  readonly http: HttpSection;
}

export interface Policy {
  /** The file it came from, as given to the loader (used in messages). */
  readonly file: string;
  readonly version: 1;
  readonly sessionTtlMs: number;
  readonly approvalTimeoutMs: number;
  /** Roles in file order. */
  readonly roles: ReadonlyMap<string, Role>;
  /** The validated document, for tools that show the policy back. */
  readonly document: PolicyDocument;
}

export const DEFAULT_SESSION_TTL = '60m';
export const DEFAULT_APPROVAL_TIMEOUT = '30m';

const GROUP_NAMES = new Set(Object.keys(GROUPS));

function compileRule(role: string, index: number, rule: NonNullable<NonNullable<PolicyDocument['roles'][string]['postgres']>['rules']>[number]): PostgresRule {
  const kinds = new Set<Kind>();
  const namedKinds = new Set<Kind>();
  for (const k of rule.kinds) {
    if (GROUP_NAMES.has(k)) {
      for (const g of GROUPS[k as Group]) kinds.add(g);
    } else {
      kinds.add(k as Kind);
      namedKinds.add(k as Kind);
    }
  }
  return {
    index,
    path: formatPath(['roles', role, 'postgres', 'rules', index]),
    action: rule.action,
    kinds,
    namedKinds,
    objects: rule.objects ? rule.objects.map(compileNameGlob) : null,
  };
}

export function compileColumnPattern(source: string): ColumnPattern {
  // Parts as qualified names write them (`public."a.b".c`), each a glob on one raw name.
  const parts = splitQualified(source);
  while (parts.length < 3) parts.unshift('*');
  const [schema, table, column] = parts.map(compilePartGlob);
  return { source, schema: schema!, table: table!, column: column! };
}

export function compilePolicy(doc: PolicyDocument, file: string): Policy {
  const roles = new Map<string, Role>();
  for (const [name, r] of Object.entries(doc.roles)) {
    roles.set(name, {
      name,
      description: r.description ?? null,
      match: Object.entries(r.match).map(([claim, value]) => ({
        claim,
        // A YAML number stands for its decimal text (GitHub's ids are strings in the token).
        globs: (Array.isArray(value) ? value : [value]).map((g) => compileGlob(String(g), '/')),
      })),
      approvers: r.approvers ?? null,
      upstream: r.upstream ?? null,
      rules: (r.postgres?.rules ?? []).map((rule, i) => compileRule(name, i, rule)),
      masks: (r.postgres?.masks ?? []).map((m, i) => ({
        index: i,
        path: formatPath(['roles', name, 'postgres', 'masks', i]),
        strategy: m.strategy,
        columns: m.columns.map(compileColumnPattern),
      })),
      http: compileHttpSection(name, r.http),
    });
  }
  return {
    file,
    version: 1,
    sessionTtlMs: parseDuration(doc.defaults?.session_ttl ?? DEFAULT_SESSION_TTL)!,
    approvalTimeoutMs: parseDuration(doc.defaults?.approval_timeout ?? DEFAULT_APPROVAL_TIMEOUT)!,
    roles,
    document: doc,
  };
}
