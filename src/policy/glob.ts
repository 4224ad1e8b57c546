// Globs as policies use them, compiled once (octo-sts style) and matched many times.
//
// Syntax, deliberately small so that a pattern means one thing:
//   `*`   any run of characters that does not cross the separator (`/` in claims and HTTP paths,
//         `.` in object and column names)
//   `**`  any run of characters, separators included
//   anything else is literal and case-exact (names are compared as PostgreSQL folds them).
// `?`, `[…]`, `{…}` and `***` are rejected rather than silently taken literally: someone who writes
// them expects a meaning we do not give them. Alternatives are written as a YAML list.

import { splitQualified } from '../sql/qualified.js';

export type Separator = '/' | '.';

export interface Glob {
  /** The pattern as written in the policy. */
  readonly source: string;
  /** True when the pattern has no wildcard: it matches only its own text. */
  readonly literal: boolean;
  test(value: string): boolean;
}

/** Why `pattern` is not a valid glob, or null when it is. */
export function globProblem(pattern: string): string | null {
  if (pattern.length === 0) return 'a glob must not be empty';
  if (pattern.includes('***')) return '"***" is ambiguous: use * (within a segment) or ** (across segments)';
  const bad = /[?[\]{}]/.exec(pattern);
  if (bad) {
    return `"${bad[0]}" is not supported in globs (use * within a segment, ** across segments, or a list of patterns)`;
  }
  if (/[\u0000-\u001f\u007f]/.test(pattern)) return 'a glob must not contain control characters';
  return null;
}

/** Compiles a validated glob to an anchored RegExp. Throws TypeError on an invalid pattern. */
export function compileGlob(pattern: string, separator: Separator): Glob {
  const problem = globProblem(pattern);
  if (problem) throw new TypeError(`bad glob ${JSON.stringify(pattern)}: ${problem}`);
  if (!pattern.includes('*')) {
    return { source: pattern, literal: true, test: (value) => value === pattern };
  }
  const notSep = separator === '/' ? '[^/]*' : '[^.]*';
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        re += '[\\s\\S]*';
        i++;
      } else {
        re += notSep;
      }
    } else {
      re += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  re += '$';
  const compiled = new RegExp(re, 'u');
  return { source: pattern, literal: false, test: (value) => compiled.test(value) };
}

/**
 * True when some value that starts with `prefix` matches the glob `pattern` (lint uses it: can
 * `refs/*` match a branch?). A walk over the pattern and the prefix together: a literal character
 * must equal the prefix's, `*` may take prefix characters other than the separator, `**` any.
 */
export function globCanStartWith(pattern: string, prefix: string, separator: Separator): boolean {
  const seen = new Set<string>();
  const walk = (i: number, j: number): boolean => {
    if (j === prefix.length) return true; // the rest of the pattern can match some continuation
    if (i === pattern.length) return false;
    const key = `${i}:${j}`;
    if (seen.has(key)) return false;
    seen.add(key);
    if (pattern[i] === '*') {
      const double = pattern[i + 1] === '*';
      const next = double ? i + 2 : i + 1;
      if (walk(next, j)) return true;
      return (double || prefix[j] !== separator) && walk(i, j + 1);
    }
    return pattern[i] === prefix[j] && walk(i + 1, j + 1);
  };
  return walk(0, 0);
}

/**
 * A glob on qualified object names (src/sql/qualified.ts): the pattern and the name are both split
 * into parts (a `"…"` part may hold dots), `*` matches within one part (dots of a quoted part
 * included) and `**` across parts. `literal` patterns match exactly the same parts, however quoted.
 */
export function compileNameGlob(pattern: string): Glob {
  const problem = globProblem(pattern) ?? namePatternProblem(pattern);
  if (problem) throw new TypeError(`bad glob ${JSON.stringify(pattern)}: ${problem}`);
  const parts = splitQualified(pattern);
  let re = '^';
  for (const [n, part] of parts.entries()) {
    if (n) re += SEP;
    for (let i = 0; i < part.length; i++) {
      const ch = part[i]!;
      if (ch === '*') {
        if (part[i + 1] === '*') {
          re += '[\\s\\S]*';
          i++;
        } else {
          re += `[^${SEP}]*`;
        }
      } else {
        re += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      }
    }
  }
  const compiled = new RegExp(`${re}$`, 'u');
  return { source: pattern, literal: !pattern.includes('*'), test: (value) => compiled.test(joinedParts(value)) };
}

// Parts are joined with NUL for matching: PostgreSQL names (and the analysis' free text) never hold it.
const SEP = '\\u0000';

function joinedParts(name: string): string {
  return name.includes('"') ? splitQualified(name).join('\u0000') : name.replaceAll('.', '\u0000');
}

/** Why a name pattern's quoting is malformed (a `"` that does not open or close a whole part), or null. */
export function namePatternProblem(pattern: string): string | null {
  if (!pattern.includes('"')) return null;
  let i = 0;
  while (i < pattern.length) {
    if (pattern[i] === '"') {
      i++;
      for (;;) {
        if (i >= pattern.length) return 'a quoted name part is not closed (write "a.b", with "" for a quote inside)';
        if (pattern[i] === '"') {
          if (pattern[i + 1] === '"') {
            i += 2;
            continue;
          }
          i++;
          break;
        }
        i++;
      }
      if (i < pattern.length && pattern[i] !== '.') return 'a quoted name part must end at a dot (write "a.b".c)';
      i++;
    } else {
      while (i < pattern.length && pattern[i] !== '.') {
        if (pattern[i] === '"') return 'a quote inside a name part: quote the whole part ("a""b")';
        i++;
      }
      i++;
    }
  }
  return null;
}

/** A glob on one name part (a mask's schema, table or column): `*` matches any text of the part. */
export function compilePartGlob(pattern: string): Glob {
  const problem = globProblem(pattern);
  if (problem) throw new TypeError(`bad glob ${JSON.stringify(pattern)}: ${problem}`);
  if (!pattern.includes('*')) return { source: pattern, literal: true, test: (value) => value === pattern };
  const re = pattern.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('[\\s\\S]*');
  const compiled = new RegExp(`^${re}$`, 'u');
  return { source: pattern, literal: false, test: (value) => compiled.test(value) };
}
