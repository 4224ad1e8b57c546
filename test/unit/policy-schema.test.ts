// The policy format: what loads, and the exact message (file, line, key path, what is expected)
// for each kind of mistake.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PolicyError } from '../../src/policy/errors.js';
import { loadPolicy, parsePolicy } from '../../src/policy/load.js';
import { policyJsonSchema } from '../../src/policy/schema.js';

const F = 'test/fixtures/policies';

/** The PolicyError message for `text`, or a failure when it loads. */
function errorOf(text: string, file = 'p.yml'): string {
  try {
    parsePolicy(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return (err as Error).message;
  }
  throw new Error('expected the policy to be rejected');
}

const role = (body: string) => `version: 1\nroles:\n  ci:\n    match: { repository: acme/* }\n${body}`;

describe('loading valid policies', () => {
  it('reads every key of the format', () => {
    const p = loadPolicy(`${F}/kitchen-sink.yml`);
    expect(p.file).toBe(`${F}/kitchen-sink.yml`);
    expect(p.sessionTtlMs).toBe(90 * 60_000);
    expect(p.approvalTimeoutMs).toBe(90_000);
    expect([...p.roles.keys()]).toEqual(['ci-readonly', 'deployer']);
    const r = p.roles.get('ci-readonly')!;
    expect(r.description).toBe('read-only CI');
    expect(r.approvers).toEqual(['octocat', 'acme/dba']);
    expect(r.rules.map((x) => [x.path, x.action])).toEqual([
      ['roles.ci-readonly.postgres.rules[0]', 'allow'],
      ['roles.ci-readonly.postgres.rules[1]', 'review'],
      ['roles.ci-readonly.postgres.rules[2]', 'deny'],
    ]);
    expect([...r.rules[0]!.kinds]).toEqual(['select', 'show', 'explain']);
    expect(r.rules[0]!.namedKinds.size).toBe(0);
    expect(r.rules[2]!.kinds.size).toBe(30);
    expect(r.masks.map((m) => m.strategy)).toEqual(['redact', 'partial', 'null', 'hash']);
    expect(r.http.upstreams.get('registry')).toEqual({
      name: 'registry', url: 'https://registry.example.com', type: 'registry', listen: { host: '127.0.0.1', port: 5000 },
      auth: { kind: 'basic', usernameEnv: 'REGISTRY_USER', passwordEnv: 'REGISTRY_PASSWORD' },
      caFile: null, caseInsensitivePaths: false, mask: [], maxMaskedBody: 8 * 1024 * 1024,
    });
    const cluster = r.http.upstreams.get('cluster')!;
    expect([cluster.type, cluster.auth, cluster.caFile, cluster.mask, cluster.maxMaskedBody, cluster.listen]).toEqual(
      ['kubernetes', { kind: 'bearer', tokenEnv: 'KUBE_TOKEN' }, 'ca.pem', ['data.*', '**.env[*].value'], 1048576, null],
    );
    const api = r.http.upstreams.get('api')!;
    expect([api.url, api.type, api.auth, api.caseInsensitivePaths]).toEqual(
      ['https://api.example.com/base', 'http', { kind: 'client_cert', certEnv: 'API_CERT', keyEnv: 'API_KEY' }, true],
    );
    expect(r.http.rules.map((x) => [x.path, x.action, x.match.vocabulary])).toEqual([
      ['roles.ci-readonly.http.rules[0]', 'allow', 'http'],
      ['roles.ci-readonly.http.rules[1]', 'review', 'http'],
      ['roles.ci-readonly.http.rules[2]', 'allow', 'registry'],
      ['roles.ci-readonly.http.rules[3]', 'allow', 'registry'],
      ['roles.ci-readonly.http.rules[4]', 'review', 'registry'],
      ['roles.ci-readonly.http.rules[5]', 'allow', 'kubernetes'],
      ['roles.ci-readonly.http.rules[6]', 'deny', 'kubernetes'],
      ['roles.ci-readonly.http.rules[7]', 'review', 'kubernetes'],
      ['roles.ci-readonly.http.rules[8]', 'allow', 'http'],
    ]);
    expect([...r.http.rules[1]!.upstreams!]).toEqual(['registry']);
    expect(r.http.rules[2]!.upstreams).toBeNull();
    const m0 = r.http.rules[0]!.match;
    expect(m0.vocabulary === 'http' && m0.paths[0]!.test('/v2/acme/app/manifests/1')).toBe(true);
    const m8 = r.http.rules[8]!.match;
    expect(m8.vocabulary === 'http' && [...m8.query.keys(), ...m8.headers.keys()]).toEqual(['view', 'x-team']);
    expect(p.roles.get('deployer')!.approvers).toBeNull();
    expect(p.roles.get('deployer')!.rules).toEqual([]);
  });

  it('rule paths quote role names that are not plain words', () => {
    const p = parsePolicy('version: 1\nroles:\n  ci.v2:\n    match: { sub: x }\n    postgres:\n      rules:\n        - { action: deny, kinds: [any] }\n', 'p.yml');
    expect(p.roles.get('ci.v2')!.rules[0]!.path).toBe('roles["ci.v2"].postgres.rules[0]');
  });

  it('defaults session_ttl to 60m and approval_timeout to 30m', () => {
    const p = parsePolicy('version: 1\nroles:\n  a:\n    match: { sub: x }\n', 'p.yml');
    expect(p.sessionTtlMs).toBe(3_600_000);
    expect(p.approvalTimeoutMs).toBe(1_800_000);
  });

  it('loads the shipped example policies', () => {
    expect([...loadPolicy('policies/demo.yml').roles.keys()]).toEqual(['demo']);
    expect([...loadPolicy('policies/readonly.yml').roles.keys()]).toEqual(['readonly']);
    expect([...loadPolicy('policies/migrations.yml').roles.keys()]).toEqual(['migrations']);
  });
});

describe('policy errors name file, line, key path and what is expected', () => {
  it('a bad action (the fixture file)', () => {
    let err: PolicyError | undefined;
    try {
      loadPolicy(`${F}/bad-action.yml`);
    } catch (e) {
      err = e as PolicyError;
    }
    expect(err?.code).toBe('ERR_POLICY_INVALID');
    expect(err?.message).toBe(`${F}/bad-action.yml:11: roles.ci.postgres.rules[1].action: expected one of allow, deny, review, got "permit"`);
    expect(err?.problems).toEqual([
      { file: `${F}/bad-action.yml`, line: 11, path: 'roles.ci.postgres.rules[1].action', message: 'expected one of allow, deny, review, got "permit"' },
    ]);
  });

  it('a duplicate key, with where it was first defined', () => {
    expect(() => loadPolicy(`${F}/duplicate-key.yml`)).toThrow(
      `${F}/duplicate-key.yml:7: roles.ci.match.repository: duplicate key (first defined at line 5)`,
    );
  });

  it('YAML syntax errors', () => {
    expect(() => loadPolicy(`${F}/syntax-error.yml`)).toThrow(/^test\/fixtures\/policies\/syntax-error\.yml:\d+: YAML syntax error: Flow map/);
    expect(errorOf('version: 1\nroles:\n\tci: 1\n')).toBe('p.yml:3: YAML syntax error: Tabs are not allowed as indentation');
    expect(errorOf('version: 1\n---\nversion: 1\n')).toBe('p.yml:2: YAML syntax error: expected one YAML document, found several');
    expect(errorOf('version: !foo 1\nroles: {}\n')).toBe('p.yml:1: YAML syntax error: Unresolved tag: !foo');
  });

  it('a missing or unreadable file', () => {
    let err: PolicyError | undefined;
    try {
      loadPolicy(`${F}/nope.yml`);
    } catch (e) {
      err = e as PolicyError;
    }
    expect(err?.code).toBe('ERR_POLICY_READ');
    expect(err?.message).toBe(`${F}/nope.yml: cannot read the policy file: no such file`);
    expect(() => loadPolicy(F)).toThrow(`${F}: cannot read the policy file: is a directory`);
  });

  it.each([
    ['version', 'version: 2\nroles:\n  ci:\n    match: { repository: acme/* }\n', 'p.yml:1: version: expected 1, got number 2'],
    ['missing version', 'roles:\n  ci:\n    match: { repository: acme/* }\n', 'p.yml:1: version: missing, expected 1'],
    ['empty file', '', 'p.yml:1: the policy is empty: expected a map with version: 1 and roles'],
    ['a list', '- a\n', 'p.yml:1: expected a map, got a list'],
    ['unknown key', role('    postgress:\n      rules: []\n'), 'p.yml:5: roles.ci.postgress: unknown key (expected one of: description, match, approvers, upstream, postgres, http, mcp)'],
    ['unknown top-level key', 'version: 1\nrole: {}\nroles:\n  ci:\n    match: { a: b }\n', 'p.yml:2: role: unknown key (expected one of: version, defaults, pull_requests, roles)'],
    ['unknown rule key', role('    postgres:\n      rules:\n        - { action: allow, kinds: [read], object: [public.t] }\n'), 'p.yml:7: roles.ci.postgres.rules[0].object: unknown key (expected one of: action, kinds, objects)'],
    ['duration garbage', 'version: 1\ndefaults:\n  session_ttl: 1 hour\nroles:\n  ci:\n    match: { a: b }\n', 'p.yml:3: defaults.session_ttl: expected a duration like 90s, 30m, 1h or 1h30m, got "1 hour"'],
    ['duration out of order', 'version: 1\ndefaults:\n  approval_timeout: 30m1h\nroles:\n  ci:\n    match: { a: b }\n', 'p.yml:3: defaults.approval_timeout: expected a duration like 90s, 30m, 1h or 1h30m, got "30m1h"'],
    ['zero duration', 'version: 1\ndefaults:\n  session_ttl: 0m\nroles:\n  ci:\n    match: { a: b }\n', 'p.yml:3: defaults.session_ttl: expected a duration greater than zero, got "0m"'],
    ['bare number duration', 'version: 1\ndefaults:\n  session_ttl: 60\nroles:\n  ci:\n    match: { a: b }\n', 'p.yml:3: defaults.session_ttl: expected a string, got number 60 (quote it: "60")'],
    ['brace glob in a list', 'version: 1\nroles:\n  ci:\n    match:\n      ref: [refs/heads/main, "refs/{a,b}"]\n', 'p.yml:5: roles.ci.match.ref[1]: bad glob "refs/{a,b}": "{" is not supported in globs (use * within a segment, ** across segments, or a list of patterns)'],
    ['question mark glob', 'version: 1\nroles:\n  ci:\n    match:\n      ref: refs/heads/v?\n', 'p.yml:5: roles.ci.match.ref: bad glob "refs/heads/v?": "?" is not supported in globs (use * within a segment, ** across segments, or a list of patterns)'],
    ['triple star object', role('    postgres:\n      rules:\n        - action: allow\n          kinds: [read]\n          objects: ["public.***"]\n'), 'p.yml:9: roles.ci.postgres.rules[0].objects[0]: bad glob "public.***": "***" is ambiguous: use * (within a segment) or ** (across segments)'],
    ['empty glob', 'version: 1\nroles:\n  ci:\n    match:\n      ref: ""\n', 'p.yml:5: roles.ci.match.ref: bad glob "": a glob must not be empty'],
    ['no roles', 'version: 1\nroles: {}\n', 'p.yml:2: roles: expected at least one role'],
    ['empty role', 'version: 1\nroles:\n  ci:\n', 'p.yml:3: roles.ci: expected a map, got null'],
    ['role without match', 'version: 1\nroles:\n  ci:\n    postgres: { rules: [] }\n', 'p.yml:4: roles.ci.match: missing, expected a map'],
    ['empty match', 'version: 1\nroles:\n  ci:\n    match: {}\n', 'p.yml:4: roles.ci.match: expected at least one claim to match (an empty match would accept every token)'],
    ['fractional claim number', 'version: 1\nroles:\n  ci:\n    match:\n      repository_id: 1.5\n', 'p.yml:5: roles.ci.match.repository_id: the number 1.5 is not written in decimal digits: write the id as GitHub shows it (e.g. 1234567), or quote a glob'],
    ['hexadecimal claim number', 'version: 1\nroles:\n  ci:\n    match:\n      repository_owner_id: [1, 0x10]\n', 'p.yml:5: roles.ci.match.repository_owner_id[1]: the number 0x10 is not written in decimal digits: write the id as GitHub shows it (e.g. 1234567), or quote a glob'],
    ['claim number past 2^53', 'version: 1\nroles:\n  ci:\n    match:\n      repository_id: 12345678901234567890\n', 'p.yml:5: roles.ci.match.repository_id: this number is too long to be read exactly: quote the id ("…")'],
    ['boolean claim value', 'version: 1\nroles:\n  ci:\n    match:\n      ref: [refs/heads/main, true]\n', 'p.yml:5: roles.ci.match.ref[1]: expected a glob or a whole number, got boolean true (quote it: "true")'],
    ['glob on an id claim', 'version: 1\nroles:\n  ci:\n    match:\n      repository_id: "12*"\n', 'p.yml:5: roles.ci.match.repository_id: expected the repository\'s numeric id (gh api repos/OWNER/REPO --jq .id), got "12*" (no globs on this claim)'],
    ['name on an id claim', 'version: 1\nroles:\n  ci:\n    match:\n      repository_owner_id: acme\n', 'p.yml:5: roles.ci.match.repository_owner_id: expected the owner\'s numeric id (gh api users/OWNER --jq .id), got "acme"'],
    ['short workflow sha', 'version: 1\nroles:\n  ci:\n    match:\n      job_workflow_sha: abc123\n', 'p.yml:5: roles.ci.match.job_workflow_sha: expected a full commit SHA (40 lower-case hex digits), got "abc123"'],
    ['empty claim list', 'version: 1\nroles:\n  ci:\n    match:\n      ref: []\n', 'p.yml:5: roles.ci.match.ref: expected at least 1 item, got none'],
    ['unknown kind', role('    postgres:\n      rules:\n        - { action: allow, kinds: [reed] }\n'), 'p.yml:7: roles.ci.postgres.rules[0].kinds[0]: expected one of read, write, ddl, any, select, insert, update, delete, merge, truncate, copy_from, copy_to, create, alter, drop, grant, revoke, comment, call, do, prepare, execute, deallocate, set, reset, show, explain, transaction, lock, listen, notify, vacuum, analyze, other, got "reed"'],
    ['empty kinds', role('    postgres:\n      rules:\n        - { action: allow, kinds: [] }\n'), 'p.yml:7: roles.ci.postgres.rules[0].kinds: expected at least 1 item, got none'],
    ['missing kinds', role('    postgres:\n      rules:\n        - action: allow\n'), 'p.yml:7: roles.ci.postgres.rules[0].kinds: missing, expected a list'],
    ['objects not a list', role('    postgres:\n      rules:\n        - { action: allow, kinds: [read], objects: public.* }\n'), 'p.yml:7: roles.ci.postgres.rules[0].objects: expected a list, got "public.*"'],
    ['mask with four parts', role('    postgres:\n      masks:\n        - { columns: [a.b.c.d], strategy: redact }\n'), 'p.yml:7: roles.ci.postgres.masks[0].columns[0]: bad column pattern "a.b.c.d": expected schema.table.column, table.column or column, each part a name or a glob with * (no **, ?, [ ] or { }; a name with . " or : in double quotes)'],
    ['mask with **', role('    postgres:\n      masks:\n        - { columns: ["public.**"], strategy: redact }\n'), 'p.yml:7: roles.ci.postgres.masks[0].columns[0]: bad column pattern "public.**": expected schema.table.column, table.column or column, each part a name or a glob with * (no **, ?, [ ] or { }; a name with . " or : in double quotes)'],
    ['unknown strategy', role('    postgres:\n      masks:\n        - { columns: [ssn], strategy: blur }\n'), 'p.yml:7: roles.ci.postgres.masks[0].strategy: expected one of redact, hash, partial, null, got "blur"'],
    ['bare null strategy', role('    postgres:\n      masks:\n        - { columns: [ssn], strategy: null }\n'), 'p.yml:7: roles.ci.postgres.masks[0].strategy: expected one of redact, hash, partial, null, got null (quote it: "null")'],
    ['bad approver', role('    approvers: ["bad login!"]\n'), 'p.yml:5: roles.ci.approvers[0]: expected a GitHub login or org/team, got "bad login!"'],
    ['bad role name', 'version: 1\nroles:\n  "bad role":\n    match: { r: x }\n', 'p.yml:3: roles["bad role"]: bad role name "bad role": use letters, digits, _ . -'],
    ['http upstream url', role('    http:\n      upstreams:\n        reg: { url: "ftp://x" }\n'), 'p.yml:7: roles.ci.http.upstreams.reg.url: expected an http(s) URL, got "ftp://x"'],
    ['http upstream url with query', role('    http:\n      upstreams:\n        reg: { url: "https://x/?a=1" }\n'), 'p.yml:7: roles.ci.http.upstreams.reg.url: expected a URL without query or fragment, got "https://x/?a=1"'],
    ['token_env is gone', role('    http:\n      upstreams:\n        reg: { url: "https://x", token_env: TOKEN }\n'), 'p.yml:7: roles.ci.http.upstreams.reg.token_env: unknown key (expected one of: url, type, listen, auth, ca_file, case_insensitive_paths, mask, max_masked_body)'],
    ['bearer_env name', role('    http:\n      upstreams:\n        reg: { url: "https://x", auth: { bearer_env: "MY-TOKEN" } }\n'), 'p.yml:7: roles.ci.http.upstreams.reg.auth.bearer_env: expected an environment variable name, got "MY-TOKEN"'],
    ['auth of no known kind', role('    http:\n      upstreams:\n        reg: { url: "https://x", auth: { token: x } }\n'), 'p.yml:7: roles.ci.http.upstreams.reg.auth.token: unknown key (expected one of: bearer_env, basic, client_cert)'],
    ['two kinds of auth', role('    http:\n      upstreams:\n        reg: { url: "https://x", auth: { bearer_env: A, client_cert: { cert_env: C, key_env: K } } }\n'), 'p.yml:7: roles.ci.http.upstreams.reg.auth: expected exactly one of bearer_env, basic: { username_env, password_env }, client_cert: { cert_env, key_env }'],
    ['upstream type', role('    http:\n      upstreams:\n        reg: { url: "https://x", type: docker }\n'), 'p.yml:7: roles.ci.http.upstreams.reg.type: expected one of http, registry, kubernetes, got "docker"'],
    ['listen off loopback', role('    http:\n      upstreams:\n        reg: { url: "https://x", listen: "0.0.0.0:5000" }\n'), 'p.yml:7: roles.ci.http.upstreams.reg.listen: expected a loopback host:port like 127.0.0.1:5000, got "0.0.0.0:5000"'],
    ['mask field', role('    http:\n      upstreams:\n        k: { url: "https://x", mask: ["data..x"] }\n'), 'p.yml:7: roles.ci.http.upstreams.k.mask[0]: bad JSON field "data..x": expected dotted names, * for any key and [*] for any item, e.g. data.* or spec.containers[*].env[*].value'],
    ['upstream name', role('    http:\n      upstreams:\n        "my reg": { url: "https://x" }\n'), 'p.yml:7: roles.ci.http.upstreams["my reg"]: bad upstream name "my reg": use letters, digits, _ and - (it names TOLLGATE_<NAME>_URL)'],
    ['http method', role('    http:\n      rules:\n        - { action: allow, methods: [GET, FETCH], paths: ["/v2/**"] }\n'), 'p.yml:7: roles.ci.http.rules[0].methods[1]: expected one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, got "FETCH"'],
    ['http relative path', role('    http:\n      rules:\n        - { action: allow, methods: [GET], paths: ["v2/**"] }\n'), 'p.yml:7: roles.ci.http.rules[0].paths[0]: expected a path starting with /, got "v2/**"'],
    ['http bad path glob', role('    http:\n      rules:\n        - { action: allow, paths: ["/v2/{a,b}"] }\n'), 'p.yml:7: roles.ci.http.rules[0].paths[0]: bad glob "/v2/{a,b}": "{" is not supported in globs (use * within a segment, ** across segments, or a list of patterns)'],
    ['http unknown upstream', role('    http:\n      upstreams:\n        reg: { url: "https://x" }\n      rules:\n        - { action: allow, methods: [GET], paths: ["/**"], upstreams: [nope] }\n'), 'p.yml:9: roles.ci.http.rules[0].upstreams[0]: unknown upstream "nope" (defined: reg)'],
    ['the old upstream key', role('    http:\n      rules:\n        - { action: allow, methods: [GET], paths: ["/**"], upstream: reg }\n'), 'p.yml:7: roles.ci.http.rules[0].upstream: unknown key (expected one of: action, upstreams, methods, paths, query, headers, pull, push, delete, verbs, resources, namespaces, names)'],
    ['rule of no vocabulary', role('    http:\n      rules:\n        - { action: allow, methods: [GET] }\n'), 'p.yml:7: roles.ci.http.rules[0]: an HTTP rule needs paths'],
    ['rule with nothing to match', role('    http:\n      rules:\n        - { action: allow }\n'), 'p.yml:7: roles.ci.http.rules[0]: a rule needs paths (HTTP), pull/push/delete (registry) or verbs (kubernetes)'],
    ['two vocabularies', role('    http:\n      upstreams:\n        reg: { url: "https://x", type: registry }\n      rules:\n        - { action: allow, paths: ["/**"], push: ["a/**"] }\n'), 'p.yml:9: roles.ci.http.rules[0]: a rule speaks one vocabulary: got http (paths) and registry (push)'],
    ['registry rule without a registry', role('    http:\n      upstreams:\n        api: { url: "https://x" }\n      rules:\n        - { action: allow, pull: ["**"] }\n'), 'p.yml:9: roles.ci.http.rules[0]: a registry rule needs an upstream with type: registry (defined: api)'],
    ['kubernetes rule on a registry', role('    http:\n      upstreams:\n        reg: { url: "https://x", type: registry }\n      rules:\n        - { action: allow, verbs: [get], upstreams: [reg] }\n'), 'p.yml:9: roles.ci.http.rules[0].upstreams: a kubernetes rule names upstream "reg", whose type is not kubernetes'],
    ['kubernetes rule without verbs', role('    http:\n      upstreams:\n        k: { url: "https://x", type: kubernetes }\n      rules:\n        - { action: allow, namespaces: [a] }\n'), 'p.yml:9: roles.ci.http.rules[0]: a kubernetes rule needs verbs'],
    ['kubernetes verb', role('    http:\n      upstreams:\n        k: { url: "https://x", type: kubernetes }\n      rules:\n        - { action: allow, verbs: [read] }\n'), 'p.yml:9: roles.ci.http.rules[0].verbs[0]: expected one of get, list, watch, create, update, patch, delete, deletecollection, exec, attach, port-forward, proxy, got "read"'],
    ['repository pattern', role('    http:\n      upstreams:\n        reg: { url: "https://x", type: registry }\n      rules:\n        - { action: allow, push: ["prod/api:v1:x"] }\n'), 'p.yml:9: roles.ci.http.rules[0].push[0]: expected repository or repository:tag, got "prod/api:v1:x"'],
    ['header name', role('    http:\n      rules:\n        - { action: allow, paths: ["/**"], headers: { "X Team": a } }\n'), 'p.yml:7: roles.ci.http.rules[0].headers["X Team"]: bad header name "X Team"'],
  ])('%s', (_name, text, message) => {
    expect(errorOf(text)).toBe(message);
  });

  it('a byte-order mark and CRLF line ends do not shift lines', () => {
    expect(errorOf('\uFEFFversion: 1\r\nroles:\r\n  ci:\r\n    match: { a: b }\r\n    bad: 1\r\n')).toBe(
      'p.yml:5: roles.ci.bad: unknown key (expected one of: description, match, approvers, upstream, postgres, http, mcp)',
    );
  });

  it('collects every problem, in file order, and reports the first', () => {
    let err: PolicyError | undefined;
    try {
      parsePolicy(role('    approvers: [ok, "no way"]\n    postgres:\n      rules:\n        - { action: nope, kinds: [read] }\n'), 'p.yml');
    } catch (e) {
      err = e as PolicyError;
    }
    expect(err?.code).toBe('ERR_POLICY_INVALID');
    expect(err?.problems.map((p) => `${p.line} ${p.path}`)).toEqual(['5 roles.ci.approvers[1]', '8 roles.ci.postgres.rules[0].action']);
    expect(err?.message).toBe('p.yml:5: roles.ci.approvers[1]: expected a GitHub login or org/team, got "no way"');
  });
});

describe('policies/schema.json', () => {
  it('is generated from the zod schema (npm run gen:schema)', () => {
    const committed = readFileSync('policies/schema.json', 'utf8');
    expect(committed, 'policies/schema.json is stale: run npm run gen:schema').toBe(`${JSON.stringify(policyJsonSchema(), null, 2)}\n`);
  });

  it('describes the format strictly (no unknown keys, the enums of the schema)', () => {
    const s = policyJsonSchema() as { additionalProperties: boolean; required: string[]; properties: Record<string, unknown> };
    expect(s.additionalProperties).toBe(false);
    expect(s.required).toEqual(['version', 'roles']);
    const text = JSON.stringify(s);
    expect(text).toContain('"enum":["allow","deny","review"]');
    expect(text).toContain('"enum":["redact","hash","partial","null"]');
  });
});
