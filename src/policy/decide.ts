// The pure part of deciding: one role's rules applied to analysed statements. No parsing, no cache
// (engine.ts adds those), so it can be tested with hand-made analyses.
import type { Access, NamedDefinition, StatementAnalysis } from '../sql/types.js';
import type { PostgresRule, Role } from './compile.js';
import { maskedOutputs, maskOverSources, starMaskedOutputs } from './masks.js';
import type { Action, Decision, StatementDecision } from './types.js';

/**
 * Session settings a driver sets on its own (DESIGN.md): SET/RESET of these is always allowed so
 * ordinary clients work. Nothing here changes who you are, what you can see or how text is read.
 */
export const HARMLESS_SETTINGS: ReadonlySet<string> = new Set([
  'application_name',
  'timezone',
  'datestyle',
  'intervalstyle',
  'extra_float_digits',
  'statement_timeout',
  'lock_timeout',
]);

const RANK: Record<Action, number> = { allow: 0, review: 1, deny: 2 };

/** The more restrictive of two actions: deny > review > allow. */
export function stricter(a: Action, b: Action): Action {
  return RANK[a] >= RANK[b] ? a : b;
}

export interface AccessDecision {
  action: Action;
  rule: PostgresRule | null;
  reason: string;
}

function describeAccess(a: Access): string {
  return a.object === undefined ? a.kind : `${a.kind} on ${a.object}`;
}

/**
 * Does `rule` cover `access`? The kind must be among the rule's kinds (groups expanded) and, when
 * the access has an object, one of the rule's object globs must match it (a rule without objects
 * covers any object). An `exact` access is covered only by a rule that names its kind itself (not
 * through a group) and lists its object literally (no glob); an exact access without an object
 * only by a rule that names its kind and lists no objects.
 */
export function ruleCovers(rule: PostgresRule, access: Access): boolean {
  if (access.exact) {
    if (!rule.namedKinds.has(access.kind)) return false;
    if (access.object === undefined) return rule.objects === null;
    const object = access.object;
    // A literal pattern matches exactly its own name parts (however the policy quoted them).
    return rule.objects !== null && rule.objects.some((g) => g.literal && g.test(object));
  }
  if (!rule.kinds.has(access.kind)) return false;
  if (access.object === undefined || rule.objects === null) return true;
  const object = access.object;
  return rule.objects.some((g) => g.test(object));
}

function isAlwaysAllowed(access: Access): string | null {
  if (access.exact) return null;
  if (access.kind === 'transaction') return 'transaction control is always allowed';
  if ((access.kind === 'set' || access.kind === 'reset') && access.object !== undefined && HARMLESS_SETTINGS.has(access.object)) {
    return `${access.kind} ${access.object} is always allowed (a harmless session setting)`;
  }
  return null;
}

const VERB: Record<Action, string> = { allow: 'allowed', deny: 'denied', review: 'needs review' };

export function decideAccess(role: Role, access: Access): AccessDecision {
  const always = isAlwaysAllowed(access);
  if (always) return { action: 'allow', rule: null, reason: always };
  for (const rule of role.rules) {
    if (ruleCovers(rule, access)) {
      return { action: rule.action, rule, reason: `${describeAccess(access)} ${VERB[rule.action]} by ${rule.path}` };
    }
  }
  if (access.exact) {
    const object = access.object === undefined ? '' : ` and object ${access.object}`;
    return {
      action: 'deny',
      rule: null,
      reason: `${describeAccess(access)} is dangerous: only a rule naming kind ${access.kind}${object} exactly (no group, no glob) may allow it`,
    };
  }
  return { action: 'deny', rule: null, reason: `no rule of role ${role.name} allows ${describeAccess(access)}` };
}

/** One statement: the most restrictive of its accesses; an analysis error is a deny. */
export function decideStatement(role: Role, analysis: StatementAnalysis): StatementDecision {
  const base = { sql: analysis.sql, kind: analysis.kind, accesses: analysis.accesses };
  const { masked, problem } = maskedOutputs(role, analysis.outputs);
  if (analysis.error !== undefined) {
    return { ...base, decision: 'deny', rule: null, reason: analysis.error || 'the statement could not be analysed', masked };
  }
  if (analysis.accesses.length === 0) {
    return { ...base, decision: 'deny', rule: null, reason: 'what the statement accesses could not be determined', masked };
  }
  if (problem) return { ...base, decision: 'deny', rule: null, reason: problem, masked };
  let worst: AccessDecision | null = null;
  let deciding: Access | undefined;
  for (const access of analysis.accesses) {
    const d = decideAccess(role, access);
    if (!worst || RANK[d.action] > RANK[worst.action]) {
      worst = d;
      deciding = access;
    }
  }
  if (worst!.action !== 'deny') {
    // A masked column copied into a table, a view or a row written elsewhere would be readable
    // unmasked through the copy afterwards: no rule can allow that.
    const copied = analysis.derived ? maskOverSources(role, analysis.derived) : null;
    if (copied) {
      return {
        ...base,
        decision: 'deny',
        rule: null,
        reason: `the statement stores data of the masked column ${copied.column} elsewhere or under another name, where it would be readable unmasked`,
        masked,
      };
    }
  }
  const star = starMaskedOutputs(role, analysis.outputs);
  const d: StatementDecision = {
    ...base,
    decision: worst!.action,
    rule: worst!.rule?.path ?? null,
    reason: worst!.reason,
    masked,
    decidingAccess: deciding,
    ...(star.length ? { starMasked: star } : {}),
  };
  // For a caller with a catalog: a source that is a view (or a partitioned parent) of masked data.
  if (analysis.derived?.length) d.derived = analysis.derived;
  return d;
}

/**
 * Finds what a session's earlier PREPARE / DECLARE defined under a name. A caller that tracks its
 * session passes one; then a name it does not know is denied.
 */
export type DefinitionLookup = (namespace: NamedDefinition['namespace'], name: string) => NamedDefinition | undefined;

const NAMESPACE_WORD = { prepared: 'prepared statement', cursor: 'cursor' } as const;

/**
 * A statement that runs a prepared statement or cursor (EXECUTE, FETCH) is decided on its own
 * accesses plus the definition's, and its result columns are the definition's. The definition
 * comes from an earlier statement of the same message, else from the session (`lookup`). Without
 * a lookup the statement is decided on its own accesses: what it runs was decided when it was
 * prepared, since every PREPARE/DECLARE passes the engine too.
 */
function withDefinition(
  a: StatementAnalysis,
  local: ReadonlyMap<string, NamedDefinition>,
  lookup: DefinitionLookup | undefined,
): StatementAnalysis | string {
  const uses = a.uses;
  if (!uses || a.error !== undefined) return a;
  const def = local.get(`${uses.namespace}:${uses.name}`) ?? lookup?.(uses.namespace, uses.name);
  if (!def) {
    return lookup ? `${NAMESPACE_WORD[uses.namespace]} "${uses.name}" is not defined in this session` : a;
  }
  const seen = new Set(a.accesses.map((x) => `${x.kind}\u0000${x.object ?? ''}\u0000${x.exact ? 1 : 0}`));
  const accesses = [...a.accesses];
  for (const x of def.accesses) {
    const key = `${x.kind}\u0000${x.object ?? ''}\u0000${x.exact ? 1 : 0}`;
    if (!seen.has(key)) {
      seen.add(key);
      accesses.push(x);
    }
  }
  const returnsRows = a.kind === 'execute' || (uses.namespace === 'cursor' && a.kind === 'select');
  return { ...a, accesses, outputs: a.outputs ?? (returnsRows ? def.outputs : null) };
}

/** True when a statement of the message runs a name that no earlier statement of it defines. */
export function needsSession(analyses: readonly StatementAnalysis[]): boolean {
  const local = new Set<string>();
  for (const a of analyses) {
    if (a.uses && !local.has(`${a.uses.namespace}:${a.uses.name}`)) return true;
    if (a.defines) local.add(`${a.defines.namespace}:${a.defines.name}`);
  }
  return false;
}

/**
 * A whole message: all or nothing (any deny → deny, else any review → review, else allow).
 * `lookup` resolves names defined earlier in the session (see withDefinition).
 */
export function decideAnalyses(role: Role, analyses: readonly StatementAnalysis[], lookup?: DefinitionLookup): Decision {
  const local = new Map<string, NamedDefinition>();
  const statements = analyses.map((a) => {
    const effective = withDefinition(a, local, lookup);
    if (a.defines) local.set(`${a.defines.namespace}:${a.defines.name}`, a.defines);
    const d: StatementDecision =
      typeof effective === 'string'
        ? { sql: a.sql, kind: a.kind, decision: 'deny', rule: null, reason: effective, accesses: a.accesses, masked: [] }
        : decideStatement(role, effective);
    if (a.defines) d.defines = a.defines;
    if (a.uses) d.uses = a.uses;
    return d;
  });
  let decision: Action = 'allow';
  for (const s of statements) decision = stricter(decision, s.decision);
  return { decision, statements };
}
