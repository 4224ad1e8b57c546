// Turns PostgreSQL's regression SQL (psql scripts) into the statements the server would receive.
//
// psql's own features are removed first: meta-command lines (`\set`, `\d`, `\if`, ...), `\gset`-style
// trailers (which end a statement like `;` does) and the inline data of `COPY ... FROM stdin` (up to
// the `\.` line). Statement boundaries are then found by PostgreSQL's parser and scanner
// (libpg-query), never by a hand-written lexer: a chunk of lines is parsed as a whole and cut with the
// parser's `stmt_location`/`stmt_len`; a chunk the parser rejects is cut at the scanner's `;` tokens
// and each piece is parsed alone, so one deliberate syntax error costs one statement, not a file.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModule, parseSync, scanSync } from 'libpg-query';

export interface RegressStatement {
  file: string;
  sql: string;
  /** True when PostgreSQL's parser accepts the statement on its own. */
  parsed: boolean;
  /** The parser's message when it rejected the statement. */
  parseError?: string;
}

/**
 * The shared corpus (not vendored: 4.4 MB of PostgreSQL's own tests). Found through
 * TOLLGATE_REGRESS_DIR, else `../shared/` next to the checkout, else the workplace's /work/shared.
 * Missing everywhere → the suites that need it fail (they are never skipped).
 */
export const REGRESS_DIR = findRegressDir();

function findRegressDir(): string {
  const candidates = [
    process.env.TOLLGATE_REGRESS_DIR,
    fileURLToPath(new URL('../../../shared/corpora/postgres-regress-17', import.meta.url)),
    '/work/shared/corpora/postgres-regress-17',
  ].filter((d): d is string => Boolean(d));
  return candidates.find((d) => existsSync(d)) ?? candidates[candidates.length - 1]!;
}

// Meta-commands that end the current query buffer and send it, as `;` would.
const TRAILER = /\\(?:gset|gexec|gdesc|gx|g|crosstabview|watch|bind)(?:\s.*)?$/;

/** Removes psql meta-commands, `\g`-style trailers and inline COPY data; keeps everything else. */
export function stripPsql(text: string): string {
  const out: string[] = [];
  let inCopyData = false;
  let sinceLastEnd = '';
  for (const raw of text.split('\n')) {
    if (inCopyData) {
      if (raw.trim() === '\\.') inCopyData = false;
      continue;
    }
    if (raw.trimStart().startsWith('\\')) {
      // A sending meta-command on its own line ends the query buffer like `;`; others are dropped.
      if (raw.trimStart().search(TRAILER) === 0) {
        out.push(';');
        if (/\bcopy\b[\s\S]*\bfrom\s+stdin\b/i.test(sinceLastEnd)) inCopyData = true;
        sinceLastEnd = '';
      }
      continue;
    }
    let line = raw;
    const trailer = TRAILER.exec(line);
    if (trailer) line = line.slice(0, trailer.index) + ';';
    // `\;` is psql's way of keeping a `;` inside one query buffer; the server sees a plain `;`.
    line = line.replace(/\\;/g, ';');
    out.push(line);
    sinceLastEnd += line + '\n';
    if (line.trimEnd().endsWith(';')) {
      if (/\bcopy\b[\s\S]*\bfrom\s+stdin\b/i.test(sinceLastEnd)) inCopyData = true;
      sinceLastEnd = '';
    }
  }
  return out.join('\n');
}

/** Byte-offset slicing: libpg_query reports statement positions in UTF-8 bytes. */
function sliceStatements(chunk: string): string[] {
  const result = parseSync(chunk);
  const bytes = Buffer.from(chunk, 'utf8');
  const stmts: string[] = [];
  for (const s of result.stmts ?? []) {
    const start = s.stmt_location ?? 0;
    const end = s.stmt_len ? start + s.stmt_len : bytes.length;
    const sql = bytes.subarray(start, end).toString('utf8').trim();
    if (sql !== '') stmts.push(sql);
  }
  return stmts;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An error that more text could cure: the chunk was cut inside a statement (function body, string). */
function isIncomplete(message: string): boolean {
  return /at end of input|^unterminated/i.test(message);
}

/** Cuts a rejected chunk at the scanner's top-level `;` tokens and parses each piece alone. */
function isolate(chunk: string): Array<{ sql: string; parsed: boolean; parseError?: string }> {
  let pieces: string[];
  try {
    const bytes = Buffer.from(chunk, 'utf8');
    pieces = [];
    let start = 0;
    for (const tok of scanSync(chunk).tokens) {
      if (tok.text === ';' && tok.tokenName === 'ASCII_59') {
        pieces.push(bytes.subarray(start, tok.end).toString('utf8'));
        start = tok.end;
      }
    }
    pieces.push(bytes.subarray(start).toString('utf8'));
  } catch {
    // The scanner itself rejects the text (e.g. a bad Unicode escape): the chunk is one rejected unit.
    pieces = [chunk];
  }
  const out: Array<{ sql: string; parsed: boolean; parseError?: string }> = [];
  for (const piece of pieces) {
    try {
      for (const sql of sliceStatements(piece)) out.push({ sql, parsed: true });
    } catch (err) {
      const sql = piece.trim();
      if (sql !== '' && sql !== ';') out.push({ sql, parsed: false, parseError: errorMessage(err) });
    }
  }
  return out;
}

/** How many `;`-terminated line chunks may be joined while looking for a statement's end. */
const MAX_JOIN = 60;

/** Splits psql-stripped SQL into statements using PostgreSQL's parser. */
export function splitStatements(text: string): Array<{ sql: string; parsed: boolean; parseError?: string }> {
  // Fast path: the whole text parses.
  try {
    return sliceStatements(text).map((sql) => ({ sql, parsed: true }));
  } catch {
    // fall through to chunking
  }
  // Chunks end at lines ending with `;` (where psql would usually send); the parser decides whether a
  // chunk is complete, and incomplete chunks (a `;` inside a function body) are joined with the next.
  const chunks: string[] = [];
  let cur = '';
  for (const line of text.split('\n')) {
    cur += line + '\n';
    if (line.trimEnd().endsWith(';')) {
      chunks.push(cur);
      cur = '';
    }
  }
  if (cur.trim() !== '') chunks.push(cur);

  const out: Array<{ sql: string; parsed: boolean; parseError?: string }> = [];
  let i = 0;
  while (i < chunks.length) {
    let joined = '';
    let done = false;
    for (let j = i; j < chunks.length && j < i + MAX_JOIN; j++) {
      joined += chunks[j];
      try {
        for (const sql of sliceStatements(joined)) out.push({ sql, parsed: true });
        i = j + 1;
        done = true;
        break;
      } catch (err) {
        if (isIncomplete(errorMessage(err))) continue;
        // A real error: isolate the failing statement(s) inside what was joined so far.
        out.push(...isolate(joined));
        i = j + 1;
        done = true;
        break;
      }
    }
    if (!done) {
      // Never completed within MAX_JOIN chunks: the first chunk alone is the rejected unit.
      out.push(...isolate(chunks[i]!));
      i += 1;
    }
  }
  return out;
}

/** Every statement of every file of the corpus, in file order. */
export async function loadRegressCorpus(dir: string = REGRESS_DIR): Promise<RegressStatement[]> {
  await loadModule();
  const all: RegressStatement[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
    const text = stripPsql(readFileSync(join(dir, file), 'utf8'));
    for (const s of splitStatements(text)) all.push({ file, ...s });
  }
  return all;
}
