// PostgreSQL's own parser (libpg_query compiled to WebAssembly). Load once with initSql(); the sync
// wrappers throw until then, so a caller that forgot to initialise fails closed rather than guessing.
import { loadModule, parseSync, normalizeSync } from 'libpg-query';

let ready: Promise<void> | null = null;
let loaded = false;

/** Loads the WebAssembly parser once; later calls return the same promise. */
export function initSql(): Promise<void> {
  if (!ready) {
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
  // normalised text. Normalising only replaces constants, so the text before the first possible
  // constant must survive unchanged; a message never starts with it.
  if (!out.startsWith(stablePrefix(sql))) throw new Error('statement does not parse');
  return out;
}

/**
 * The start of the text that no constant can touch: up to two characters before the first quote,
 * digit or `$` (E'', U&'', B'', .5). A statement never starts with a constant, so it is not blank.
 */
function stablePrefix(sql: string): string {
  const m = /['0-9$]/.exec(sql);
  const prefix = m ? sql.slice(0, Math.max(0, m.index - 2)) : sql;
  if (prefix.trim() === '') throw new Error('statement does not parse');
  return prefix;
}
