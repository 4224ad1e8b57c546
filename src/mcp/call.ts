// One tool call decided whole: the first matching `mcp` rule, then — when that rule marks an
// argument as SQL — the SQL decided by the same engine as the PostgreSQL path. The stricter of the
// two wins (deny > review > allow), so a rule can never allow SQL its role's postgres rules deny.
import type { PolicyEngine } from '../policy/engine.js';
import { stricter } from '../policy/decide.js';
import type { Action, Decision } from '../policy/types.js';
import { decideMcp, type McpDecision, type McpTarget } from './decide.js';
import type { McpRole } from './policy.js';
import { decideSql, type SqlVerdict } from './sql.js';

export interface CallVerdict extends McpDecision {
  /** The SQL argument's decision, when the rule marks one. */
  sql?: SqlVerdict;
}

function firstWorst(d: Decision): Decision['statements'][number] | undefined {
  return d.statements.find((s) => s.decision === d.decision) ?? d.statements[0];
}

/** Decides a tool call. `engine` is the role's PolicyEngine (needed only when a rule marks SQL). */
export function decideToolCall(role: McpRole, engine: PolicyEngine | null, target: McpTarget): CallVerdict {
  const rule = decideMcp(role, target);
  if (rule.action === 'deny' || rule.sqlArgument === null) return rule;
  const args = target.arguments;
  const value = args !== null && typeof args === 'object' && !Array.isArray(args) ? (args as Record<string, unknown>)[rule.sqlArgument] : undefined;
  if (typeof value !== 'string') {
    return { ...rule, action: 'deny', reason: `argument ${JSON.stringify(rule.sqlArgument)} must hold the SQL as a string (${rule.rule} marks it as SQL)` };
  }
  if (engine === null) {
    return { ...rule, action: 'deny', reason: 'no SQL engine for this role (internal error): SQL arguments are denied' };
  }
  const sql = decideSql(engine, value);
  const action: Action = stricter(rule.action, sql.decision.decision);
  if (action === rule.action && sql.decision.decision !== action) return { ...rule, sql };
  // The SQL decided (it is at least as strict as the rule): its reason is the one to show.
  const s = firstWorst(sql.decision);
  if (rule.action === sql.decision.decision) {
    return { ...rule, sql, reason: `${rule.reason}; SQL: ${s?.reason ?? sql.decision.decision}` };
  }
  return { ...rule, action, rule: s?.rule ?? null, reason: s?.reason ?? `the SQL was decided ${action}`, sql };
}
