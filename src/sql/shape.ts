// Statement shapes for decision caches and redacted statement text for logs, both from PostgreSQL's
// own parser/scanner (never a hand lexer: a lexer that disagreed with the server would let an attack
// hit a cached decision). Not the fingerprint: it ignores EXECUTE/PREPARE names and more, so
// `EXECUTE a` and `EXECUTE b` share a fingerprint — a cache keyed on it would be a bypass.
import { scanSync } from 'libpg-query';
import { normalizeSql } from './parser.js';

/** PostgreSQL's normalised text (constants → $n), or null when the text does not parse. */
export function shapeKey(sql: string): string | null {
  try {
    return normalizeSql(sql);
  } catch {
    return null;
  }
}

/** Token kinds whose text may carry a value: constants and comments. */
const VALUE_TOKENS = new Set(['SCONST', 'USCONST', 'BCONST', 'XCONST', 'ICONST', 'FCONST', 'C_COMMENT', 'SQL_COMMENT']);

/** Quotes, comments, dollar quotes, or a digit that is not part of a $n parameter or a name. */
const MAY_HOLD_VALUE = /['"]|--|\/\*|\$[^0-9]|(?<![\w$])\d/;

/**
 * The statement text safe for audit logs and check runs: normalised ($n for constants), and every
 * remaining constant (COPY file names, DDL defaults, passwords in utility statements) and comment
 * replaced by `?`. Unparsable text yields only its size.
 */
export function redactLiterals(sql: string): string {
  let normalized: string;
  try {
    normalized = normalizeSql(sql);
  } catch {
    return `<unparsable statement, ${Buffer.byteLength(sql, 'utf8')} bytes>`;
  }
  return redactNormalized(normalized);
}

/**
 * redactLiterals for a text already normalised by PostgreSQL (a shapeKey result): statements of one
 * shape share their redacted text, so a caller that knows the shape redacts once per shape.
 */
export function redactNormalized(normalized: string): string {
  // Most statements leave nothing for the scanner to find: skip it (it is the slow part).
  if (!MAY_HOLD_VALUE.test(normalized)) return normalized.trimEnd();
  try {
    const bytes = Buffer.from(normalized, 'utf8');
    const tokens = scanSync(normalized).tokens;
    const parts: Buffer[] = [];
    let at = 0;
    for (const t of tokens) {
      // The scanner reports some constants (x'..', U&'..') as UNKNOWN: any token holding a quote or
      // a dollar (other than a $n parameter) is treated as a constant.
      const quoted = t.tokenName === 'UNKNOWN' && /['$]/.test(t.text) && !/^\$\d+$/.test(t.text);
      if (!VALUE_TOKENS.has(t.tokenName) && !quoted) continue;
      const comment = t.tokenName === 'C_COMMENT' || t.tokenName === 'SQL_COMMENT';
      parts.push(bytes.subarray(at, t.start), Buffer.from(comment ? '' : '?'));
      at = t.end;
    }
    parts.push(bytes.subarray(at));
    return Buffer.concat(parts).toString('utf8').trimEnd();
  } catch {
    return `<unparsable statement, ${Buffer.byteLength(normalized, 'utf8')} bytes>`;
  }
}
