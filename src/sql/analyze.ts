// analyze(): SQL text → one StatementAnalysis per statement, as PostgreSQL itself splits and parses it.
// Never throws: anything that cannot be parsed or understood becomes an analysis with `error` set,
// which the policy engine denies.
import type { StatementAnalysis } from './types.js';
import { parseSql, type RawParse } from './parser.js';
import { AnalysisError } from './errors.js';
import { Walker, dedupeAccesses } from './walk.js';

export interface AnalyzeOptions {
  /**
   * The session's search path as schema names. pg_catalog is searched first unless listed later
   * (then the schemas before it are candidates for every unqualified name). Default ['public'].
   */
  searchPath?: string[];
}

export function analyze(sql: string, opts: AnalyzeOptions = {}): StatementAnalysis[] {
  let searchPath = opts.searchPath ?? ['public'];
  if (typeof sql !== 'string') return [failed('', 'statement is not text')];
  if (!Array.isArray(searchPath) || !searchPath.every((s) => typeof s === 'string' && s !== '')) {
    return [failed(sql, 'search path is not a list of schema names')];
  }
  // The parser is C: it would stop at a NUL and analyse less than the server is sent.
  if (sql.includes('\u0000')) return [failed('', 'statement contains a NUL byte')];
  if (sql.trim() === '') return [];
  let tree: RawParse;
  try {
    tree = parseSql(sql);
  } catch (err) {
    return [failed(sql, `unparsable SQL: ${describeParseError(err)}`)];
  }
  const stmts = tree.stmts ?? [];
  // stmt_location / stmt_len are byte offsets into the UTF-8 text: the server's own split.
  const bytes = Buffer.from(sql, 'utf8');
  const out: StatementAnalysis[] = [];
  // Every path this message has used: a ROLLBACK (or COMMIT ending a SET LOCAL) may bring back any.
  const seen: string[][] = [searchPath];
  for (const raw of stmts) {
    const start = raw.stmt_location ?? 0;
    const end = raw.stmt_len ? start + raw.stmt_len : bytes.length;
    const text = bytes.subarray(start, end).toString('utf8').trim();
    const r = analyzeOne(text, raw.stmt, searchPath);
    out.push(r.analysis);
    if (r.searchPath) {
      searchPath = r.searchPath === 'reset' ? (opts.searchPath ?? ['public']) : r.searchPath;
      seen.push(searchPath);
    } else if (r.analysis.kind === 'transaction' && seen.length > 1) {
      searchPath = [...new Set(seen.flat())];
    }
  }
  return out;
}

function analyzeOne(
  text: string,
  stmt: Record<string, unknown> | undefined,
  searchPath: string[],
): { analysis: StatementAnalysis; searchPath?: string[] | 'reset' } {
  if (!stmt) return { analysis: failed(text, 'empty statement node') };
  const w = new Walker(searchPath);
  try {
    const r = w.statement(stmt, null);
    const accesses = dedupeAccesses(w.accesses);
    if (!accesses.length) throw new AnalysisError('no access could be determined');
    const analysis: StatementAnalysis = { sql: text, kind: r.kind, accesses, outputs: r.outputs, literalSensitive: w.literalSensitive };
    if (w.defines) analysis.defines = w.defines;
    if (w.uses) analysis.uses = w.uses;
    if (w.newSearchPath) analysis.searchPathChange = w.newSearchPath;
    if (w.derived.length) analysis.derived = [...new Set(w.derived)];
    return { analysis, searchPath: w.newSearchPath };
  } catch (err) {
    const reason = err instanceof AnalysisError
      ? err.message
      : err instanceof RangeError
        ? 'statement too deeply nested to analyse'
        : `internal analysis error: ${err instanceof Error ? err.message : String(err)}`;
    return { analysis: { ...failed(text, reason), literalSensitive: w.literalSensitive } };
  }
}

function failed(sql: string, reason: string): StatementAnalysis {
  return { sql, kind: 'other', accesses: [], outputs: null, error: reason, literalSensitive: false };
}

/** The parser's message without the quoted source text it may echo (it could hold a literal). */
function describeParseError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const pos = (err as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition;
  const clean = msg.replace(/"(?:[^"]|"")*"/g, '"…"').replace(/'(?:[^']|'')*'/g, "'…'");
  return pos !== undefined ? `${clean} (at byte ${pos})` : clean;
}
