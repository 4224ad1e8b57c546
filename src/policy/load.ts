// Reads a policy file: YAML → validated document → compiled Policy. Every failure is a PolicyError
// whose message names the file, the line, the key path and what was expected, e.g.
//   policies/x.yml:12: roles.ci.postgres.rules[1].action: expected one of allow, deny, review, got "permit"
import { readFileSync } from 'node:fs';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type * as z from 'zod';
import { compilePolicy, type Policy } from './compile.js';
import { formatPath, formatProblem, PolicyError, type PolicyProblem } from './errors.js';
import { policySchema } from './schema.js';

type Path = readonly (string | number)[];

export function loadPolicy(file: string): Policy {
  return loadLocatedPolicy(file).policy;
}

/** A policy and the line of any key path in its file (for tools that point at keys: lint). */
export interface LocatedPolicy {
  policy: Policy;
  lineOf(path: Path): number;
}

/** Like loadPolicy, keeping where each key is written. */
export function loadLocatedPolicy(file: string): LocatedPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (code ?? 'unreadable');
    throw new PolicyError('ERR_POLICY_READ', `${file}: cannot read the policy file: ${why}`);
  }
  return parseLocated(text, file);
}

export function parsePolicy(text: string, file: string): Policy {
  return parseLocated(text, file).policy;
}

export function parseLocated(text: string, file: string): LocatedPolicy {
  const result = parseYamlWith(text, file, policySchema, 'the policy is empty: expected a map with version: 1 and roles', findOddClaimNumber);
  if (!result.ok) throw new PolicyError(result.syntax ? 'ERR_POLICY_SYNTAX' : 'ERR_POLICY_INVALID', formatProblem(result.problems[0]!), result.problems);
  return { policy: compilePolicy(result.data, file), lineOf: result.lineOf };
}

/** A YAML file checked against a zod schema: the data, or every problem located (file, line, key path). */
export type YamlResult<T> = { ok: true; data: T; lineOf(path: Path): number } | { ok: false; syntax: boolean; problems: PolicyProblem[] };

/** A check of the YAML itself before the schema (how a value is written): a problem or null. */
export type YamlCheck = (doc: Document, text: string, lineAt: (offset: number) => number) => Omit<PolicyProblem, 'file'> | null;

/**
 * Reads `text` (from `file`) as one YAML document and validates it with `schema`. Shared by every
 * YAML file tollgate reads (the policy, the gateway's config) so their errors read alike.
 */
export function parseYamlWith<T>(text: string, file: string, schema: z.ZodType<T>, emptyMessage: string, check?: YamlCheck): YamlResult<T> {
  const lines = new LineCounter();
  // uniqueKeys off: we find duplicates ourselves so the message can name the key path.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
  const lineAt = (offset: number) => lines.linePos(offset).line;
  const syntax = (problem: PolicyProblem): YamlResult<T> => ({ ok: false, syntax: true, problems: [problem] });

  const yamlProblem = doc.errors[0] ?? doc.warnings[0];
  if (yamlProblem) {
    const line = lineAt(yamlProblem.pos[0]);
    let what = yamlProblem.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    if (what.startsWith('Source contains multiple documents')) what = 'expected one YAML document, found several';
    return syntax({ file, line, path: '', message: `YAML syntax error: ${what}` });
  }

  const duplicate = findDuplicateKey(doc, doc.contents, [], lineAt) ?? check?.(doc, text, lineAt) ?? null;
  if (duplicate) return syntax({ file, ...duplicate });

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    return syntax({ file, line: 1, path: '', message: `cannot read the YAML: ${(err as Error).message}` });
  }

  const result = schema.safeParse(data, { reportInput: true });
  if (!result.success) {
    const problems = result.error.issues
      .flatMap((issue) => explain(issue, [], emptyMessage))
      .map(({ path, message, key }) => ({ file, line: locate(doc, path, key, lineAt), path: formatPath(path), message }))
      // One problem per key (a bad duration fails both its pattern and its range), in file order.
      .filter((p, i, all) => all.findIndex((q) => q.path === p.path) === i)
      .sort((a, b) => a.line - b.line);
    return { ok: false, syntax: false, problems };
  }
  return { ok: true, data: result.data, lineOf: (path) => locate(doc, path, true, lineAt) };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}

const EXPECTED: Record<string, string> = {
  object: 'a map',
  record: 'a map',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
};

interface Explained {
  path: Path;
  message: string;
  /** True when the problem is the key itself (unknown or bad key): point at the key's line. */
  key?: boolean;
}

/** zod issue → plain sentences with the full path. */
function explain(issue: z.core.$ZodIssue, base: Path, emptyMessage: string): Explained[] {
  const path = [...base, ...(issue.path as (string | number)[])];
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type': {
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      if (input === undefined) return [{ path, message: `missing, expected ${expected}` }];
      if (path.length === 0 && input === null) return [{ path, message: emptyMessage }];
      const hint = issue.expected === 'string' && (typeof input === 'number' || typeof input === 'boolean')
        ? ` (quote it: "${String(input)}")`
        : '';
      return [{ path, message: `expected ${expected}, got ${describe(input)}${hint}` }];
    }
    case 'invalid_value': {
      const values = issue.values.map((v) => String(v));
      const expected = values.length === 1 ? values[0] : `one of ${values.join(', ')}`;
      if (input === undefined) return [{ path, message: `missing, expected ${expected}` }];
      // YAML reads a bare null/true/1 as a non-string: say how to write the string.
      const hint = typeof input !== 'string' && values.includes(String(input)) ? ` (quote it: "${String(input)}")` : '';
      return [{ path, message: `expected ${expected}, got ${describe(input)}${hint}` }];
    }
    case 'unrecognized_keys':
      return issue.keys.map((k) => ({ path: [...path, k], message: issue.message, key: true }));
    case 'invalid_key': {
      const inner = issue.issues[0];
      const why = inner && inner.code !== 'invalid_format' ? inner.message : issue.message;
      return [{ path, message: inner?.code === 'invalid_format' ? inner.message : why, key: true }];
    }
    case 'invalid_union': {
      // Report the branch that fits the value's type (a list → the list branch); if none fits,
      // say which types would have.
      const fitting = issue.errors.find(
        (branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0),
      );
      if (fitting) return fitting.flatMap((i) => explain(i, path, emptyMessage));
      const types = issue.errors
        .map((b) => b.find((i) => i.code === 'invalid_type'))
        .map((i) => (i && i.code === 'invalid_type' ? EXPECTED[i.expected] ?? i.expected : 'something else'));
      const hint = typeof input === 'number' || typeof input === 'boolean' ? ` (quote it: "${String(input)}")` : '';
      const expected = issue.message !== 'Invalid input' ? issue.message : `expected ${types.join(' or ')}`;
      return [{ path, message: `${expected}, got ${describe(input)}${hint}` }];
    }
    case 'too_small':
      if (issue.origin === 'array') return [{ path, message: `expected at least ${issue.minimum} item${issue.minimum === 1 ? '' : 's'}, got none` }];
      if (issue.origin === 'string') return [{ path, message: 'must not be empty' }];
      return [{ path, message: issue.message }];
    default:
      return [{ path, message: issue.message }];
  }
}

/** 1-based line of the node at `path` (its key when `key`), or of its nearest existing ancestor. */
function locate(doc: Document, path: Path, key: boolean | undefined, lineAt: (o: number) => number): number {
  let node: unknown = doc.contents;
  let line = node && (node as Node).range ? lineAt((node as Node).range![0]) : 1;
  for (const [i, seg] of path.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) return line;
      const last = i === path.length - 1;
      const keyRange = isScalar(pair.key) ? pair.key.range : undefined;
      const valueRange = (pair.value as Node | null)?.range;
      const range = last && key ? keyRange ?? valueRange : valueRange ?? keyRange;
      if (range) line = lineAt(range[0]);
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) return line;
      if (item.range) line = lineAt(item.range[0]);
      node = item;
    } else {
      return line;
    }
  }
  return line;
}

function findDuplicateKey(
  doc: Document,
  node: unknown,
  path: (string | number)[],
  lineAt: (o: number) => number,
): Omit<PolicyProblem, 'file'> | null {
  if (isMap(node)) {
    const seen = new Map<string, number>();
    for (const pair of node.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const line = isScalar(pair.key) && pair.key.range ? lineAt(pair.key.range[0]) : 1;
      const first = seen.get(k);
      if (first !== undefined) {
        return { line, path: formatPath([...path, k]), message: `duplicate key (first defined at line ${first})` };
      }
      seen.set(k, line);
      const inner = findDuplicateKey(doc, pair.value, [...path, k], lineAt);
      if (inner) return inner;
    }
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) {
      const inner = findDuplicateKey(doc, item, [...path, i], lineAt);
      if (inner) return inner;
    }
  }
  return null;
}

/**
 * A number in a role's `match` written other than in plain decimal (`0x1F`, `1e6`, `0o17`, `0123`):
 * YAML would read it as some other id than the text suggests, so ask for the decimal digits.
 */
function findOddClaimNumber(doc: Document, text: string, lineAt: (o: number) => number): Omit<PolicyProblem, 'file'> | null {
  const roles = isMap(doc.contents) ? doc.contents.get('roles', true) : undefined;
  if (!isMap(roles)) return null;
  for (const role of roles.items) {
    const match = isMap(role.value) ? role.value.get('match', true) : undefined;
    if (!isMap(match)) continue;
    for (const pair of match.items) {
      const values = isSeq(pair.value) ? pair.value.items : [pair.value];
      for (const [i, v] of values.entries()) {
        if (!isScalar(v) || typeof v.value !== 'number' || !v.range) continue;
        const written = text.slice(v.range[0], v.range[1]).trim();
        if (/^(0|[1-9][0-9]*)$/.test(written)) continue;
        const path = ['roles', String(isScalar(role.key) ? role.key.value : role.key), 'match', String(isScalar(pair.key) ? pair.key.value : pair.key)];
        return {
          line: lineAt(v.range[0]),
          path: formatPath(isSeq(pair.value) ? [...path, i] : path),
          message: `the number ${written} is not written in decimal digits: write the id as GitHub shows it (e.g. 1234567), or quote a glob`,
        };
      }
    }
  }
  return null;
}
