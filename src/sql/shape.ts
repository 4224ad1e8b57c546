// Statement shapes for decision caches and redacted statement text for logs, both from PostgreSQL's
// own parser/scanner (never a hand lexer: a lexer that disagreed with the server would let an attack
// hit a cached decision). Not the fingerprint: it ignores EXECUTE/PREPARE names and more, so
// `EXECUTE a` and `EXECUTE b` share a fingerprint — a cache keyed on it would be a bypass.
import { scanSync } from 'libpg-query';
import { isNormalizationOf, normalizeSql } from './parser.js';

/** PostgreSQL's normalised text (constants → $n), or null when the text does not parse. */
export function shapeKey(sql: string): string | null {
  const known = recent.get(sql);
  if (known !== undefined) return known;
  let shape: string | null;
  try {
    shape = normalizeSql(sql);
  } catch {
    shape = null;
  }
  remember(sql, shape);
  return shape;
}

/**
 * The shapes of the last few texts. The engine asks for a message's shape when deciding it and the
 * proxy asks again for its statement's text (the message without its final semicolon) when it
 * writes the audit record: the normaliser (a WASM call of tens of µs) runs once per statement.
 */
const recent = new Map<string, string | null>();
const RECENT = 256;

function remember(sql: string, shape: string | null): void {
  if (recent.size >= RECENT) recent.delete(recent.keys().next().value as string);
  recent.set(sql, shape);
}

/**
 * Records the shape of `text`, a statement cut from a message whose shape is `messageShape` by
 * `cut` (trimming, dropping final semicolons: nothing a constant can contain), as `cut(messageShape)`,
 * only when the normaliser's own check agrees that it is `text` with constants replaced by $n.
 */
export function rememberStatementShape(text: string, messageShape: string, cut: (s: string) => string): void {
  if (recent.has(text)) return;
  const shape = cut(messageShape);
  if (isNormalizationOf(text, shape)) remember(text, shape);
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
  const fallback = `<unparsable statement, ${Buffer.byteLength(sql, 'utf8')} bytes>`;
  let normalized: string;
  try {
    normalized = normalizeSql(sql);
    // Most statements leave nothing for the scanner to find: skip it (it is the slow part).
    if (!MAY_HOLD_VALUE.test(normalized)) return normalized.trimEnd();
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
    return fallback;
  }
}
