// The `mcp:` section of a role (DESIGN.md, "MCP"), in its own file so the PostgreSQL and HTTP parts
// of schema.ts stay untouched by it. Strict objects throughout: a misspelt key would otherwise
// silently drop a condition or a pin. Cross-references (a rule naming a server that is not
// declared) are checked here too, with paths relative to the section.
import * as z from 'zod';
import { globProblem } from './glob.js';

const show = (value: unknown): string => JSON.stringify(value) ?? String(value);

function strict<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown key (expected one of: ${known})` : undefined),
  });
}

const GLOB_PATTERN = /^(?!.*\*\*\*)[^?[\]{}\u0000-\u001f\u007f]+$/;
const glob = (what: string) =>
  z
    .string()
    .regex(GLOB_PATTERN, { error: (iss) => `bad glob ${show(iss.input)}: ${globProblem(String(iss.input))}` })
    .describe(what);

/** Server names: what `tollgate mcp --server NAME` and the action's configuration use. */
export const MCP_SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const serverName = z.string().regex(MCP_SERVER_NAME, {
  error: (iss) => `bad server name ${show(iss.input)}: use letters, digits, _ . -`,
});

/** A pinned tool definition: `sha256:` and 64 hex digits (as `tollgate check --mcp --listing` prints). */
export const PIN_PATTERN = /^sha256:[0-9a-f]{64}$/;
const pin = z.string().regex(PIN_PATTERN, {
  error: (iss) => `expected sha256: and 64 lower-case hex digits (tollgate check --mcp --listing prints them), got ${show(iss.input)}`,
});

const ARGUMENT_NAME = /^[A-Za-z0-9_$][A-Za-z0-9_.$-]*$/;
const argumentName = z.string().regex(ARGUMENT_NAME, {
  error: (iss) => `bad argument name ${show(iss.input)}: use letters, digits, _ . - $`,
});

const argumentGlob = glob('Glob on a string argument: * within a /-segment, ** across /');
const condition = z.union([argumentGlob, z.array(argumentGlob).min(1)], { error: 'expected a glob or a list of globs' });

const server = strict({
  pin: z
    .enum(['session', 'policy'])
    .optional()
    .describe('session: each tool is pinned at its first listing of the session; policy: only tools with a hash under `tools` may be used'),
  tools: z.record(z.string().min(1), pin).optional().describe('Tool name → pinned hash of its definition'),
});

const rule = strict({
  action: z.enum(['allow', 'deny', 'review']),
  tools: z.array(glob('Glob on the tool name')).min(1).optional(),
  resources: z.array(glob('Glob on the resource URI: * within a /-segment, ** across /')).min(1).optional(),
  prompts: z.array(glob('Glob on the prompt name')).min(1).optional(),
  servers: z.array(serverName).min(1).optional().describe('Servers this rule is limited to; omitted = every server'),
  arguments: z
    .record(argumentName, condition)
    .optional()
    .describe('Argument name → glob(s) its string value must match (absent or not a string → the rule does not match)'),
  sql_argument: argumentName.optional().describe("The argument holding SQL: decided and masked by this role's postgres section"),
});

const fieldMask = strict({
  fields: z.array(glob('JSON field name, or a dotted path with * per level')).min(1),
  strategy: z.enum(['redact', 'hash', 'partial', 'null']),
});

const SIZE = /^(\d+)\s*(B|KiB|MiB)?$/;
export function parseSize(text: string | number): number | null {
  if (typeof text === 'number') return Number.isSafeInteger(text) && text > 0 ? text : null;
  const m = SIZE.exec(text);
  if (!m) return null;
  const n = Number(m[1]) * (m[2] === 'MiB' ? 1024 * 1024 : m[2] === 'KiB' ? 1024 : 1);
  return n > 0 && Number.isSafeInteger(n) ? n : null;
}
const size = z.union([z.number(), z.string()]).refine((v) => parseSize(v) !== null, {
  error: (iss) => `expected a size like 65536, 512KiB or 4MiB (greater than zero), got ${show(iss.input)}`,
});

function compilesAsRegExp(source: string): boolean {
  try {
    new RegExp(source, 'gu');
    return true;
  } catch {
    return false;
  }
}

export const mcpSectionSchema = strict({
  servers: z.record(serverName, server).optional().describe('Servers this role may be wrapped around, with their pins'),
  rules: z.array(rule).optional().describe('First match wins; no match → deny'),
  masks: z.array(fieldMask).optional().describe('JSON fields of tool results to mask'),
  secret_patterns: z
    .array(
      z.string().min(1).refine(compilesAsRegExp, { error: (iss) => `not a valid regular expression: ${show(iss.input)}` }),
    )
    .optional()
    .describe('Extra regular expressions for secrets in result text (built-in ones always apply)'),
  max_result_bytes: size.optional().describe('Largest tool result passed on (default 1MiB); larger ones are refused'),
}).superRefine((section, ctx) => {
  const declared = section.servers ? Object.keys(section.servers) : null;
  for (const [i, r] of (section.rules ?? []).entries()) {
    const subjects = (['tools', 'resources', 'prompts'] as const).filter((k) => r[k] !== undefined);
    if (subjects.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['rules', i],
        message: subjects.length === 0 ? 'a rule needs one of tools, resources or prompts' : `a rule names one of tools, resources or prompts, not ${subjects.join(' and ')}`,
      });
      continue;
    }
    if ((r.arguments !== undefined || r.sql_argument !== undefined) && subjects[0] !== 'tools') {
      ctx.addIssue({ code: 'custom', path: ['rules', i, r.arguments !== undefined ? 'arguments' : 'sql_argument'], message: 'only a tools rule has arguments' });
    }
    if (r.sql_argument !== undefined && r.action === 'deny') {
      ctx.addIssue({ code: 'custom', path: ['rules', i, 'sql_argument'], message: 'a deny rule has nothing to decide as SQL' });
    }
    if (declared) {
      for (const [j, s] of (r.servers ?? []).entries()) {
        if (!declared.includes(s)) {
          ctx.addIssue({ code: 'custom', path: ['rules', i, 'servers', j], message: `unknown server ${show(s)} (declared: ${declared.join(', ') || 'none'})` });
        }
      }
    }
  }
});

export type McpSectionDocument = z.infer<typeof mcpSectionSchema>;
