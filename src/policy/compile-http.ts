// The `http:` section compiled once: globs anchored, vocabularies resolved, rule paths precomputed.
// src/http/engine.ts checks requests against this form. Nothing here can fail on a document that
// passed the schema.
import { formatPath } from './errors.js';
import { compileGlob, type Glob } from './glob.js';
import { ruleVocabulary, type HttpRuleDocument, type HttpSectionDocument } from './http-schema.js';
import type { Action } from './types.js';

export type UpstreamType = 'http' | 'registry' | 'kubernetes';

export type UpstreamAuth =
  | { kind: 'none' }
  | { kind: 'bearer'; tokenEnv: string }
  | { kind: 'basic'; usernameEnv: string; passwordEnv: string }
  | { kind: 'client_cert'; certEnv: string; keyEnv: string };

export interface HttpUpstream {
  readonly name: string;
  /** Base URL without a trailing slash; its path (if any) prefixes every forwarded path. */
  readonly url: string;
  readonly type: UpstreamType;
  /** Where the in-runner listener binds; null = 127.0.0.1:0. */
  readonly listen: { host: string; port: number } | null;
  readonly auth: UpstreamAuth;
  readonly caFile: string | null;
  readonly caseInsensitivePaths: boolean;
  /** JSON fields masked in responses (src/http/mask.ts), empty = none. */
  readonly mask: readonly string[];
  readonly maxMaskedBody: number;
}

/** A glob on a repository and, optionally, on the tag or digest (`prod/api:*`). */
export interface RepoPattern {
  readonly source: string;
  readonly repository: Glob;
  /** null = any tag or digest. */
  readonly reference: Glob | null;
}

export type HttpMatch =
  | {
      readonly vocabulary: 'http';
      readonly methods: ReadonlySet<string> | null;
      readonly paths: readonly Glob[];
      /** The same globs lower-cased, for upstreams with case_insensitive_paths. */
      readonly foldedPaths: readonly Glob[];
      /** name → any of these globs; the parameter must appear exactly once. */
      readonly query: ReadonlyMap<string, readonly Glob[]>;
      /** lower-case name → any of these globs; the header must appear exactly once. */
      readonly headers: ReadonlyMap<string, readonly Glob[]>;
    }
  | {
      readonly vocabulary: 'registry';
      readonly pull: readonly RepoPattern[];
      readonly push: readonly RepoPattern[];
      readonly delete: readonly RepoPattern[];
    }
  | {
      readonly vocabulary: 'kubernetes';
      readonly verbs: ReadonlySet<string>;
      readonly resources: readonly Glob[] | null;
      readonly namespaces: readonly Glob[] | null;
      readonly names: readonly Glob[] | null;
    };

export interface HttpRule {
  readonly index: number;
  /** e.g. `roles.ci.http.rules[2]` */
  readonly path: string;
  readonly action: Action;
  /** Upstream names this rule applies to; null = all. */
  readonly upstreams: ReadonlySet<string> | null;
  readonly match: HttpMatch;
}

export interface HttpSection {
  readonly upstreams: ReadonlyMap<string, HttpUpstream>;
  readonly rules: readonly HttpRule[];
}

export const DEFAULT_MAX_MASKED_BODY = 8 * 1024 * 1024;

const globs = (list: string | readonly string[], sep: '/' | '.') =>
  (typeof list === 'string' ? [list] : list).map((g) => compileGlob(g, sep));

export function compileRepoPattern(source: string): RepoPattern {
  const colon = source.indexOf(':');
  const repository = colon < 0 ? source : source.slice(0, colon);
  const reference = colon < 0 ? null : source.slice(colon + 1);
  // `*` in a reference stays within it (a tag or a digest never holds `/`).
  return { source, repository: compileGlob(repository, '/'), reference: reference === null ? null : compileGlob(reference, '/') };
}

function compileMatch(rule: HttpRuleDocument): HttpMatch {
  const v = ruleVocabulary(rule);
  if ('problem' in v) throw new TypeError(v.problem); // the schema refused it already
  switch (v.vocabulary) {
    case 'http':
      return {
        vocabulary: 'http',
        methods: rule.methods ? new Set(rule.methods) : null,
        paths: rule.paths!.map((p) => compileGlob(p, '/')),
        foldedPaths: rule.paths!.map((p) => compileGlob(p.toLowerCase(), '/')),
        query: new Map(Object.entries(rule.query ?? {}).map(([k, g]) => [k, globs(g, '/')])),
        headers: new Map(Object.entries(rule.headers ?? {}).map(([k, g]) => [k.toLowerCase(), globs(g, '/')])),
      };
    case 'registry':
      return {
        vocabulary: 'registry',
        pull: (rule.pull ?? []).map(compileRepoPattern),
        push: (rule.push ?? []).map(compileRepoPattern),
        delete: (rule.delete ?? []).map(compileRepoPattern),
      };
    case 'kubernetes':
      return {
        vocabulary: 'kubernetes',
        verbs: new Set(rule.verbs),
        resources: rule.resources ? globs(rule.resources, '/') : null,
        namespaces: rule.namespaces ? globs(rule.namespaces, '/') : null,
        names: rule.names ? globs(rule.names, '/') : null,
      };
  }
}

function parseListen(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(text.slice(i + 1)) };
}

export function compileHttpSection(role: string, doc: HttpSectionDocument | undefined): HttpSection {
  const upstreams = new Map<string, HttpUpstream>();
  for (const [name, u] of Object.entries(doc?.upstreams ?? {})) {
    const a = u.auth;
    const auth: UpstreamAuth = !a
      ? { kind: 'none' }
      : a.bearer_env !== undefined
        ? { kind: 'bearer', tokenEnv: a.bearer_env }
        : a.basic !== undefined
          ? { kind: 'basic', usernameEnv: a.basic.username_env, passwordEnv: a.basic.password_env }
          : { kind: 'client_cert', certEnv: a.client_cert!.cert_env, keyEnv: a.client_cert!.key_env };
    upstreams.set(name, {
      name,
      url: u.url.replace(/\/+$/, ''),
      type: u.type ?? 'http',
      listen: u.listen ? parseListen(u.listen) : null,
      auth,
      caFile: u.ca_file ?? null,
      caseInsensitivePaths: u.case_insensitive_paths ?? false,
      mask: u.mask ?? [],
      maxMaskedBody: u.max_masked_body ?? DEFAULT_MAX_MASKED_BODY,
    });
  }
  const rules = (doc?.rules ?? []).map((rule, index): HttpRule => ({
    index,
    path: formatPath(['roles', role, 'http', 'rules', index]),
    action: rule.action,
    upstreams: rule.upstreams ? new Set(rule.upstreams) : null,
    match: compileMatch(rule),
  }));
  return { upstreams, rules };
}
