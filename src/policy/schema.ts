// The policy file format (DESIGN.md, "Policy file") as one zod schema. It is the single source of
// truth: load.ts validates with it and scripts/gen-schema.mjs turns it into policies/schema.json
// for editors. Every object is strict (an unknown key is an error, since a misspelt key would
// otherwise silently grant or drop a rule). Messages say what is expected; load.ts adds file, line
// and key path.
import * as z from 'zod';
import { GROUPS, KINDS, type Group, type Kind } from '../sql/types.js';
import { DURATION_PATTERN, parseDuration } from './duration.js';
import { globProblem, namePatternProblem } from './glob.js';
import { mcpSectionSchema } from './mcp-schema.js';
import { httpSectionSchema, ruleVocabulary, HTTP_METHODS } from './http-schema.js';

const show = (value: unknown): string => JSON.stringify(value) ?? String(value);

/** A strict object whose unknown-key error lists the keys it does accept. */
function strict<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown key (expected one of: ${known})` : undefined),
  });
}

// JSON Schema flavour of the glob rules; globProblem() gives the precise reason.
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const GLOB_PATTERN = /^(?!.*\*\*\*)[^?[\]{}\u0000-\u001f\u007f]+$/;

function glob(what: string) {
  return z
    .string()
    .regex(GLOB_PATTERN, { error: (iss) => `bad glob ${show(iss.input)}: ${globProblem(String(iss.input))}` })
    .describe(what);
}

const duration = z
  .string()
  .regex(DURATION_PATTERN, {
    error: (iss) => `expected a duration like 90s, 30m, 1h or 1h30m, got ${show(iss.input)}`,
  })
  .refine((text) => parseDuration(text) !== null, {
    error: (iss) => `expected a duration greater than zero, got ${show(iss.input)}`,
  })
  .describe('Duration: hours, minutes, seconds in that order, e.g. 90s, 30m, 1h, 1h30m');

const action = z.enum(['allow', 'deny', 'review']);

/** What a rule's `kinds` may list: the groups, then the kinds. */
export const KIND_NAMES: readonly (Group | Kind)[] = [...(Object.keys(GROUPS) as Group[]), ...KINDS];
const kindOrGroup = z.enum(KIND_NAMES);

// A claim value matches one glob, or any of a list. `*` stops at `/`, `**` crosses it. A YAML number
// stands for its decimal text (GitHub sends ids as strings: `repository_id: 123` matches "123"); only
// whole numbers a double holds exactly, so a long id can never round to someone else's.
const claimGlob = glob('Glob on the claim value: * within a path segment, ** across /');
const claimNumber = z
  .number({ error: (iss) => `expected a glob or a whole number, got ${show(iss.input)}` })
  .refine(Number.isInteger, { error: (iss) => `expected a whole number (an id), got ${show(iss.input)}` })
  .refine((n) => n >= 0, { error: (iss) => `expected an id (a whole number of 0 or more), got ${show(iss.input)}` })
  .refine(Number.isSafeInteger, { error: 'this number is too long to be read exactly: quote the id ("…")' })
  .describe('A whole number: matches the claim\'s decimal text (ids)');
// One flat union, so an error inside a list is reported at the item.
const claimMatch = z.union([claimGlob, claimNumber, z.array(z.union([claimGlob, claimNumber], { error: 'expected a glob or a whole number' })).min(1)], {
  error: 'expected a glob, a number or a list of them',
});

/**
 * Claims whose values have one fixed form (GitHub's immutable numeric ids, commit SHAs): a pattern
 * there is a literal of that form, never a glob (`repository_id: "12*"` would match thousands of
 * repositories).
 */
export const CLAIM_FORMS: Readonly<Record<string, { pattern: RegExp; expected: string }>> = {
  repository_id: { pattern: /^[1-9][0-9]*$/, expected: 'the repository\'s numeric id (gh api repos/OWNER/REPO --jq .id)' },
  repository_owner_id: { pattern: /^[1-9][0-9]*$/, expected: 'the owner\'s numeric id (gh api users/OWNER --jq .id)' },
  actor_id: { pattern: /^[1-9][0-9]*$/, expected: 'the account\'s numeric id (gh api users/LOGIN --jq .id)' },
  enterprise_id: { pattern: /^[1-9][0-9]*$/, expected: 'the enterprise\'s numeric id' },
  job_workflow_sha: { pattern: /^[0-9a-f]{40}$/, expected: 'a full commit SHA (40 lower-case hex digits)' },
  workflow_sha: { pattern: /^[0-9a-f]{40}$/, expected: 'a full commit SHA (40 lower-case hex digits)' },
};

const objectGlob = glob('Glob on schema.name as PostgreSQL resolves it: * within a name, ** across dots; a name with . " or : is written in double quotes')
  .refine((p) => namePatternProblem(p) === null, { error: (iss) => `bad glob ${show(iss.input)}: ${namePatternProblem(String(iss.input))}` });

// Mask columns are schema.table.column. A shorter pattern is aligned to the right: `ssn` and
// `*.ssn` both mean `*.*.ssn` (an `ssn` column of any table in any schema), `users.email` means
// `*.users.email`. `**` has no place here: a column pattern has at most three segments.
// A part is a name or glob, or a double-quoted name (`"a.b"`, `""` for a quote) when it holds . " or :.
const COLUMN_PART = String.raw`(?:"(?:[^"?[\]{}\u0000-\u001f\u007f]|"")+"|[^."?[\]{}\u0000-\u001f\u007f]+)`;
const COLUMN_PATTERN = new RegExp(String.raw`^(?!.*\*\*)${COLUMN_PART}(?:\.${COLUMN_PART}){0,2}$`);
const columnGlob = z
  .string()
  .regex(COLUMN_PATTERN, {
    error: (iss) =>
      `bad column pattern ${show(iss.input)}: expected schema.table.column, table.column or column, each part a name or a glob with * (no **, ?, [ ] or { }; a name with . " or : in double quotes)`,
  })
  .describe('schema.table.column with * globs; shorter patterns match the trailing parts (`*.ssn` = any ssn column)');

const postgresRule = strict({
  action,
  kinds: z.array(kindOrGroup).min(1).describe('Statement kinds or groups (read, write, ddl, any)'),
  objects: z.array(objectGlob).min(1).optional().describe('Globs on schema.name; omitted = any object'),
});

const mask = strict({
  columns: z.array(columnGlob).min(1),
  strategy: z.enum(['redact', 'hash', 'partial', 'null']),
});

// GitHub login (letters, digits, single hyphens) or org/team-slug.
const APPROVER = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\/[A-Za-z0-9][A-Za-z0-9_.-]*)?$/;
const approver = z.string().regex(APPROVER, {
  error: (iss) => `expected a GitHub login or org/team, got ${show(iss.input)}`,
});

const role = strict({
  description: z.string().optional(),
  match: z
    .record(z.string().min(1), claimMatch)
    .refine((m) => Object.keys(m).length > 0, {
      error: 'expected at least one claim to match (an empty match would accept every token)',
    })
    .superRefine((m, ctx) => {
      for (const [claim, value] of Object.entries(m)) {
        const form = Object.hasOwn(CLAIM_FORMS, claim) ? CLAIM_FORMS[claim]! : undefined;
        if (!form) continue;
        const list = Array.isArray(value) ? value : [value];
        for (const [i, v] of list.entries()) {
          if (form.pattern.test(String(v))) continue;
          ctx.addIssue({
            code: 'custom',
            path: Array.isArray(value) ? [claim, i] : [claim],
            message: `expected ${form.expected}, got ${show(v)}${/\*/.test(String(v)) ? ' (no globs on this claim)' : ''}`,
          });
        }
      }
    })
    .meta({ description: 'OIDC claim → glob or list of globs; every key must match', minProperties: 1 }),
  approvers: z.array(approver).min(1).optional().describe('GitHub logins or org/team allowed to approve reviews'),
  upstream: z
    .string()
    .regex(NAME, { error: (iss) => `expected an upstream name (letters, digits, _ . -), got ${show(iss.input)}` })
    .optional()
    .describe("Gateway mode: the name of the gateway config's upstream this role's sessions connect to"),
  postgres: strict({
    rules: z.array(postgresRule).optional().describe('First rule whose kinds and objects match an access wins'),
    masks: z.array(mask).optional(),
  }).optional(),
  http: httpSectionSchema.optional(),
  mcp: mcpSectionSchema.optional(),
});

export const policySchema = strict({
  version: z.literal(1),
  defaults: strict({
    session_ttl: duration.optional(),
    approval_timeout: duration.optional(),
  }).optional(),
  pull_requests: strict({
    policy: z.enum(['base', 'workspace']).optional()
      .describe("Which policy judges a pull request's job: `base` (default) reads this file as it is on the pull request's base commit; `workspace` lets the pull request's own copy decide (it can then rewrite its own rules)"),
  }).optional(),
  roles: z
    .record(z.string().regex(NAME, { error: (iss) => `bad role name ${show(iss.input)}: use letters, digits, _ . -` }), role)
    .refine((roles) => Object.keys(roles).length > 0, { error: 'expected at least one role' })
    .meta({ minProperties: 1 }),
}).superRefine((policy, ctx) => {
  // Cross-references the shape alone cannot express.
  for (const [name, r] of Object.entries(policy.roles)) {
    const upstreams = r.http?.upstreams ?? {};
    const defined = Object.keys(upstreams).join(', ') || 'none';
    for (const [i, rule] of (r.http?.rules ?? []).entries()) {
      const at = ['roles', name, 'http', 'rules', i];
      for (const [j, u] of (rule.upstreams ?? []).entries()) {
        if (!Object.hasOwn(upstreams, u)) {
          ctx.addIssue({ code: 'custom', path: [...at, 'upstreams', j], message: `unknown upstream ${show(u)} (defined: ${defined})` });
        }
      }
      const v = ruleVocabulary(rule);
      if ('problem' in v) {
        ctx.addIssue({ code: 'custom', path: at, message: v.problem });
        continue;
      }
      if (v.vocabulary === 'http') continue;
      // A registry or kubernetes rule reads paths the way that API lays them out: it must reach
      // at least one upstream of that type, and name none of another.
      const names = rule.upstreams ?? Object.keys(upstreams);
      const typed = names.filter((u) => (upstreams[u]?.type ?? 'http') === v.vocabulary);
      const wrong = (rule.upstreams ?? []).filter((u) => Object.hasOwn(upstreams, u) && (upstreams[u]?.type ?? 'http') !== v.vocabulary);
      if (wrong.length > 0) {
        ctx.addIssue({ code: 'custom', path: [...at, 'upstreams'], message: `a ${v.vocabulary} rule names upstream ${show(wrong[0])}, whose type is not ${v.vocabulary}` });
      } else if (typed.length === 0) {
        ctx.addIssue({ code: 'custom', path: at, message: `a ${v.vocabulary} rule needs an upstream with type: ${v.vocabulary} (defined: ${defined})` });
      }
    }
  }
});

export type PolicyDocument = z.infer<typeof policySchema>;
export { HTTP_METHODS };

/** The JSON Schema written to policies/schema.json (scripts/gen-schema.mjs). */
export function policyJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(policySchema, { unrepresentable: 'any' }),
    $id: 'https://github.com/tollgate/tollgate/policies/schema.json',
    title: 'tollgate policy',
  };
}
