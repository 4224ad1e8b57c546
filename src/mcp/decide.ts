// The pure MCP decision: one role's `mcp` rules applied to a request (tool call, resource, prompt).
// First match wins; no match denies. SQL carried by a tool argument is decided separately (sql.ts)
// and combined with the rule's action by the caller: the stricter of the two wins.
import type { Action } from '../policy/types.js';
import type { McpRole, McpRule, Subject } from './policy.js';

export interface McpTarget {
  server: string;
  subject: Subject;
  /** Tool or prompt name, or resource URI. */
  name: string;
  /** Tool-call or prompt arguments. */
  arguments?: unknown;
}

export interface McpDecision {
  action: Action;
  /** Path of the deciding rule, e.g. `roles.ci.mcp.rules[1]`; null when none matched. */
  rule: string | null;
  reason: string;
  /** The argument holding SQL, when the deciding rule marks one. */
  sqlArgument: string | null;
}

const NOUN: Record<Subject, string> = { tools: 'tool', resources: 'resource', prompts: 'prompt' };
const VERB: Record<Action, string> = { allow: 'allowed', deny: 'denied', review: 'needs review' };

/**
 * A string argument satisfies a condition only if it matches a glob and cannot walk out of what the
 * glob names: no NUL, no `..` path segment (`/tmp/../etc/passwd` would match `/tmp/**` as text).
 */
export function argumentMatches(value: unknown, globs: McpRule['arguments'][number]['globs']): boolean {
  if (typeof value !== 'string') return false;
  if (value.includes('\u0000')) return false;
  if (value.split(/[\\/]/).includes('..')) return false;
  return globs.some((g) => g.test(value));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function ruleMatches(rule: McpRule, target: McpTarget): boolean {
  if (rule.subject !== target.subject) return false;
  if (rule.servers !== null && !rule.servers.has(target.server)) return false;
  if (!rule.patterns.some((g) => g.test(target.name))) return false;
  if (rule.arguments.length === 0) return true;
  const args = isRecord(target.arguments) ? target.arguments : {};
  return rule.arguments.every((c) => Object.hasOwn(args, c.name) && argumentMatches(args[c.name], c.globs));
}

export function describeTarget(t: McpTarget): string {
  return `${NOUN[t.subject]} ${JSON.stringify(t.name)} on server ${JSON.stringify(t.server)}`;
}

export function decideMcp(role: McpRole, target: McpTarget): McpDecision {
  for (const rule of role.rules) {
    if (ruleMatches(rule, target)) {
      return {
        action: rule.action,
        rule: rule.path,
        reason: `${describeTarget(target)} ${VERB[rule.action]} by ${rule.path}`,
        sqlArgument: rule.action === 'deny' ? null : rule.sqlArgument,
      };
    }
  }
  return { action: 'deny', rule: null, reason: `no rule of role ${role.role} allows ${describeTarget(target)}`, sqlArgument: null };
}

/**
 * Whether a listing shows the tool, resource or prompt: some call of it could be allowed or reviewed.
 * Argument conditions cannot be judged without a call, so a conditional allow counts as possible and a
 * conditional deny does not hide what follows it.
 */
export function listable(role: McpRole, target: Omit<McpTarget, 'arguments'>): boolean {
  for (const rule of role.rules) {
    if (rule.subject !== target.subject) continue;
    if (rule.servers !== null && !rule.servers.has(target.server)) continue;
    if (!rule.patterns.some((g) => g.test(target.name))) continue;
    if (rule.arguments.length > 0) {
      if (rule.action !== 'deny') return true;
      continue;
    }
    return rule.action !== 'deny';
  }
  return false;
}
