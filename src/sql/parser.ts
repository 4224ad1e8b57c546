// PostgreSQL's own parser (libpg_query compiled to WebAssembly). Load once with initSql(); the sync
// wrappers throw until then, so a caller that forgot to initialise fails closed rather than guessing.
import { setFlagsFromString } from 'node:v8';
import { loadModule, parseSync, normalizeSync } from 'libpg-query';

let ready: Promise<void> | null = null;
let loaded = false;

/** Loads the WebAssembly parser once; later calls return the same promise. */
export function initSql(): Promise<void> {
  if (!ready) {
    // Keep the parser in V8's baseline WebAssembly compiler (Liftoff). Optimising its 1.7 MB module
    // (TurboFan tier-up, in background threads while the proxy serves) took ~100 MB of compiler
    // memory that stayed resident; the baseline code costs ~1 µs more per normalised statement.
    // Read when the module is compiled, so it must be set before loadModule().
    setFlagsFromString('--liftoff-only');
    ready = loadModule().then(
      () => {
        loaded = true;
      },
      (err: unknown) => {
        ready = null; // allow a retry after a failed load
        throw err;
      },
    );
  }
  return ready;
}

export function isSqlReady(): boolean {
  return loaded;
}

/** The raw parse result: `{ version, stmts: [{ stmt, stmt_location?, stmt_len? }] }`. */
export interface RawParse {
  version: number;
  stmts?: Array<{ stmt?: Record<string, unknown>; stmt_location?: number; stmt_len?: number }>;
}

/** Parses SQL text; throws the parser's error (message names the problem) on invalid SQL. */
export function parseSql(sql: string): RawParse {
  if (!loaded) throw new Error('SQL parser not initialised: call initSql() first');
  return parseSync(sql) as unknown as RawParse;
}

/** PostgreSQL's normalisation: constants replaced by $n. Throws on invalid SQL. */
export function normalizeSql(sql: string): string {
  if (!loaded) throw new Error('SQL parser not initialised: call initSql() first');
  const out = normalizeSync(sql);
  // libpg-query's normalizeSync throws only for errors starting "syntax error"; for the others
  // ("unterminated quoted string…", grammar checks) it RETURNS the message as if it were the
  // normalised text. A real normalisation is the input with some tokens replaced by $n: check that.
  if (!isNormalizationOf(sql, out)) throw new Error('statement does not parse');
  return out;
}

/**
 * True when `out` is `input` with one or more non-empty pieces replaced by `$n` parameters (and is
 * otherwise identical): the segments of `out` between its `$n` occur in `input`, in order, each gap
 * non-empty, with the same start and end.
 */
export function isNormalizationOf(input: string, out: string): boolean {
  const parts = out.split(/\$\d+/);
  if (parts.length === 1) return out === input;
  const first = parts[0]!;
  if (!input.startsWith(first)) return false;
  let pos = first.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const seg = parts[i]!;
    const j = input.indexOf(seg, pos + 1);
    if (j < 0) return false;
    pos = j + seg.length;
  }
  const last = parts[parts.length - 1]!;
  return input.length - last.length > pos && input.endsWith(last);
}
