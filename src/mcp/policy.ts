// A role's `mcp:` section compiled once (globs anchored, rule paths precomputed) into what the
// decisions check. Reads the validated document, so nothing here fails on a policy that loaded.
import type { Policy } from '../policy/compile.js';
import { formatPath } from '../policy/errors.js';
import { compileGlob, type Glob } from '../policy/glob.js';
import { parseSize, type McpSectionDocument } from '../policy/mcp-schema.js';
import { getRole } from '../policy/roles.js';
import type { Action, MaskStrategy } from '../policy/types.js';

export type Subject = 'tools' | 'resources' | 'prompts';

export interface ArgumentCondition {
  readonly name: string;
  /** Any of these matches. */
  readonly globs: readonly Glob[];
}

export interface McpRule {
  readonly index: number;
  /** `roles.ci.mcp.rules[2]` */
  readonly path: string;
  readonly action: Action;
  readonly subject: Subject;
  readonly patterns: readonly Glob[];
  /** null = every server */
  readonly servers: ReadonlySet<string> | null;
  readonly arguments: readonly ArgumentCondition[];
  readonly sqlArgument: string | null;
}

export interface McpServerPolicy {
  readonly pin: 'session' | 'policy' | null;
  /** Tool name → `sha256:…` */
  readonly pins: ReadonlyMap<string, string>;
}

export interface McpFieldMask {
  readonly path: string;
  readonly strategy: MaskStrategy;
  readonly fields: readonly Glob[];
}

export interface McpRole {
  readonly role: string;
  /** Declared servers, or null when the section declares none (any name may be wrapped). */
  readonly servers: ReadonlyMap<string, McpServerPolicy> | null;
  readonly rules: readonly McpRule[];
  readonly masks: readonly McpFieldMask[];
  readonly secretPatterns: readonly RegExp[];
  readonly maxResultBytes: number;
}

export const DEFAULT_MAX_RESULT_BYTES = 1024 * 1024;

/** The compiled `mcp:` section of `role` (an empty one, which denies everything, when absent). */
export function mcpRoleOf(policy: Policy, role: string): McpRole {
  getRole(policy, role); // ERR_ROLE_UNKNOWN naming the roles there are
  const doc = (policy.document.roles[role] as { mcp?: McpSectionDocument }).mcp ?? {};
  return compileMcpSection(role, doc);
}

export function compileMcpSection(role: string, doc: McpSectionDocument): McpRole {
  const at = (...p: (string | number)[]) => formatPath(['roles', role, 'mcp', ...p]);
  return {
    role,
    servers: doc.servers
      ? new Map(
          Object.entries(doc.servers).map(([name, s]) => [name, { pin: s.pin ?? null, pins: new Map(Object.entries(s.tools ?? {})) }]),
        )
      : null,
    rules: (doc.rules ?? []).map((r, index) => {
      const subject: Subject = r.tools ? 'tools' : r.resources ? 'resources' : 'prompts';
      return {
        index,
        path: at('rules', index),
        action: r.action,
        subject,
        patterns: (r.tools ?? r.resources ?? r.prompts ?? []).map((g) => compileGlob(g, '/')),
        servers: r.servers ? new Set(r.servers) : null,
        arguments: Object.entries(r.arguments ?? {}).map(([name, v]) => ({
          name,
          globs: (Array.isArray(v) ? v : [v]).map((g) => compileGlob(g, '/')),
        })),
        sqlArgument: r.sql_argument ?? null,
      };
    }),
    masks: (doc.masks ?? []).map((m, i) => ({ path: at('masks', i), strategy: m.strategy, fields: m.fields.map((f) => compileGlob(f, '.')) })),
    secretPatterns: (doc.secret_patterns ?? []).map((p) => new RegExp(p, 'gu')),
    maxResultBytes: doc.max_result_bytes === undefined ? DEFAULT_MAX_RESULT_BYTES : parseSize(doc.max_result_bytes)!,
  };
}

/** The policy of server `name` for this role; null when the section declares servers and not this one. */
export function serverPolicy(role: McpRole, name: string): McpServerPolicy | null {
  if (role.servers === null) return { pin: null, pins: new Map() };
  return role.servers.get(name) ?? null;
}
