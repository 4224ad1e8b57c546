// The `http:` section of a role (DESIGN.md, "Policy file"): upstreams and rules. A rule speaks one
// of three vocabularies that compile to the same engine (src/http/engine.ts):
//   HTTP        methods + paths (+ query / headers conditions)
//   registry    pull / push / delete of repositories and tags (`prod/api:*`)
//   kubernetes  verbs / resources / namespaces / names
// Which vocabulary a rule speaks is checked in schema.ts (superRefine), where the path of the rule
// is known for the error message.
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
const badGlob = (iss: { input?: unknown }) => `bad glob ${show(iss.input)}: ${globProblem(String(iss.input))}`;
const glob = (what: string) => z.string().regex(GLOB_PATTERN, { error: badGlob }).describe(what);
const globOrList = (what: string) =>
  z.union([glob(what), z.array(glob(what)).min(1)], { error: 'expected a glob or a list of globs' });

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export const UPSTREAM_TYPES = ['http', 'registry', 'kubernetes'] as const;
export const KUBERNETES_VERBS = [
  'get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection',
  'exec', 'attach', 'port-forward', 'proxy',
] as const;
export const REGISTRY_OPERATIONS = ['pull', 'push', 'delete'] as const;
export const RULE_VOCABULARIES = {
  http: ['methods', 'paths', 'query', 'headers'],
  registry: ['pull', 'push', 'delete'],
  kubernetes: ['verbs', 'resources', 'namespaces', 'names'],
} as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envName = z.string().regex(ENV_NAME, { error: (iss) => `expected an environment variable name, got ${show(iss.input)}` });

// Exactly one way of authenticating to the upstream.
const auth = strict({
  bearer_env: envName.optional().describe('Environment variable holding the bearer token'),
  basic: strict({ username_env: envName, password_env: envName }).optional().describe(
    'Basic credentials; for a registry that answers with a Bearer challenge they are exchanged for tokens',
  ),
  client_cert: strict({ cert_env: envName, key_env: envName }).optional().describe('PEM client certificate and key (Kubernetes)'),
}).refine((a) => [a.bearer_env, a.basic, a.client_cert].filter((x) => x !== undefined).length === 1, {
  error: 'expected exactly one of bearer_env, basic: { username_env, password_env }, client_cert: { cert_env, key_env }',
});

// host:port where the job's tools connect, on the runner's loopback.
const LISTEN = /^(?:127(?:\.\d{1,3}){3}|localhost|\[::1\]):\d{1,5}$/;

export const httpUpstreamSchema = strict({
  url: z
    .url({ protocol: /^https?$/, error: (iss) => `expected an http(s) URL, got ${show(iss.input)}` })
    .refine((u) => !/[?#]/.test(u), { error: (iss) => `expected a URL without query or fragment, got ${show(iss.input)}` }),
  type: z.enum(UPSTREAM_TYPES).optional().describe('What the upstream speaks: http (default), registry, kubernetes'),
  listen: z
    .string()
    .regex(LISTEN, { error: (iss) => `expected a loopback host:port like 127.0.0.1:5000, got ${show(iss.input)}` })
    .optional()
    .describe('Where the job connects on the runner; default 127.0.0.1:0 (any free port)'),
  auth: auth.optional(),
  ca_file: z.string().min(1).optional().describe('PEM file of the CA that signs the upstream certificate'),
  case_insensitive_paths: z
    .boolean()
    .optional()
    .describe('The upstream reads paths without regard to case: match and forward them lower-cased'),
  mask: z
    .array(z.string().regex(/^[A-Za-z0-9_*-]+(?:\[\*\])?(?:\.[A-Za-z0-9_*-]+(?:\[\*\])?)*$/, {
      error: (iss) => `bad JSON field ${show(iss.input)}: expected dotted names, * for any key and [*] for any item, e.g. data.* or spec.containers[*].env[*].value`,
    }))
    .min(1)
    .optional()
    .describe('JSON response fields to mask, e.g. data.* or **.env[*].value'),
  max_masked_body: z.number().int().positive().optional().describe('Largest JSON body masked, in bytes (default 8 MiB); larger is refused'),
});

const pathGlob = z
  .string()
  .regex(/^\//, { error: (iss) => `expected a path starting with /, got ${show(iss.input)}` })
  .regex(GLOB_PATTERN, { error: badGlob });

// repository[:tag] with globs; `prod/api:*`, `staging/**`.
const repoPattern = z
  .string()
  .regex(/^[^:]+(?::[^:/]+)?$/, { error: (iss) => `expected repository or repository:tag, got ${show(iss.input)}` })
  .regex(GLOB_PATTERN, { error: badGlob })
  .describe('repository[:tag] glob, e.g. prod/api:* or staging/**');

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

export const httpRuleSchema = strict({
  action: z.enum(['allow', 'deny', 'review']),
  upstreams: z.array(z.string()).min(1).optional().describe('Names of the upstreams this rule is limited to'),
  methods: z.array(z.enum(HTTP_METHODS)).min(1).optional().describe('HTTP methods; omitted = any'),
  paths: z.array(pathGlob).min(1).optional().describe('Globs on the normalized request path: * within a segment, ** across /'),
  query: z.record(z.string().min(1), globOrList('Glob on the decoded query value')).optional()
    .describe('Query parameters that must be present once with a matching value'),
  headers: z
    .record(z.string().regex(HEADER_NAME, { error: (iss) => `bad header name ${show(iss.input)}` }), globOrList('Glob on the header value'))
    .optional()
    .describe('Headers that must be present once with a matching value'),
  pull: z.array(repoPattern).min(1).optional(),
  push: z.array(repoPattern).min(1).optional(),
  delete: z.array(repoPattern).min(1).optional(),
  verbs: z.array(z.enum(KUBERNETES_VERBS)).min(1).optional(),
  resources: z.array(glob('resource, resource/subresource or resource.group')).min(1).optional(),
  namespaces: z.array(glob('namespace')).min(1).optional(),
  names: z.array(glob('object name')).min(1).optional(),
});

export const httpSectionSchema = strict({
  upstreams: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, {
    error: (iss) => `bad upstream name ${show(iss.input)}: use letters, digits, _ and - (it names TOLLGATE_<NAME>_URL)`,
  }), httpUpstreamSchema).optional(),
  rules: z.array(httpRuleSchema).optional().describe('First rule that matches a request wins; no match = deny'),
});

export type HttpSectionDocument = z.infer<typeof httpSectionSchema>;
export type HttpRuleDocument = z.infer<typeof httpRuleSchema>;

/** Which vocabulary a rule speaks, or a sentence saying why it speaks none or several. */
export function ruleVocabulary(rule: HttpRuleDocument): { vocabulary: keyof typeof RULE_VOCABULARIES } | { problem: string } {
  const used = (Object.keys(RULE_VOCABULARIES) as (keyof typeof RULE_VOCABULARIES)[]).filter((v) =>
    RULE_VOCABULARIES[v].some((k) => rule[k] !== undefined),
  );
  const keysOf = (v: keyof typeof RULE_VOCABULARIES) => RULE_VOCABULARIES[v].filter((k) => rule[k] !== undefined).join(', ');
  if (used.length === 0) {
    return { problem: 'a rule needs paths (HTTP), pull/push/delete (registry) or verbs (kubernetes)' };
  }
  if (used.length > 1) {
    return { problem: `a rule speaks one vocabulary: got ${used.map((v) => `${v} (${keysOf(v)})`).join(' and ')}` };
  }
  const vocabulary = used[0]!;
  if (vocabulary === 'http' && rule.paths === undefined) return { problem: 'an HTTP rule needs paths' };
  if (vocabulary === 'kubernetes' && rule.verbs === undefined) return { problem: 'a kubernetes rule needs verbs' };
  return { vocabulary };
}
