// The pure part of deciding: one role's rules applied to analysed statements. No parsing, no cache
// (engine.ts adds those), so it can be tested with hand-made analyses.
import type { Access, StatementAnalysis } from '../sql/types.js';
import type { PostgresRule, Role } from './compile.js';
import { maskedOutputs } from './masks.js';
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
    return rule.objects !== null && rule.objects.some((g) => g.literal && g.source === access.object);
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
  const masked = maskedOutputs(role, analysis.outputs);
  if (analysis.error !== undefined) {
    return { ...base, decision: 'deny', rule: null, reason: analysis.error || 'the statement could not be analysed', masked };
  }
  if (analysis.accesses.length === 0) {
    return { ...base, decision: 'deny', rule: null, reason: 'what the statement accesses could not be determined', masked };
  }
  let worst: AccessDecision | null = null;
  let deciding: Access | undefined;
  for (const access of analysis.accesses) {
    const d = decideAccess(role, access);
    if (!worst || RANK[d.action] > RANK[worst.action]) {
      worst = d;
      deciding = access;
    }
  }
  return {
    ...base,
    decision: worst!.action,
    rule: worst!.rule?.path ?? null,
    reason: worst!.reason,
    masked,
    decidingAccess: deciding,
  };
}

/** A whole message: all or nothing (any deny → deny, else any review → review, else allow). */
export function decideAnalyses(role: Role, analyses: readonly StatementAnalysis[]): Decision {
  const statements = analyses.map((a) => decideStatement(role, a));
  let decision: Action = 'allow';
  for (const s of statements) decision = stricter(decision, s.decision);
  return { decision, statements };
}
