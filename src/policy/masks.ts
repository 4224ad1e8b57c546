// Which policy mask covers a column, and which result columns of a statement carry masked data.
import type { OutputColumn } from '../sql/types.js';
import type { ColumnPattern, Role } from './compile.js';
import type { MaskedOutput, MaskStrategy } from './types.js';
import { splitQualified } from '../sql/qualified.js';

export interface MaskMatch {
  strategy: MaskStrategy;
  /** The policy column pattern that matched, e.g. `public.users.email` or `*.ssn`. */
  column: string;
}

// When one output mixes several masked columns (`email || ssn`), the strictest strategy wins:
// a `partial` of a value that also holds an ssn would show part of the ssn.
const STRICTNESS: Record<MaskStrategy, number> = { partial: 0, hash: 1, redact: 2, null: 3 };

/** The first mask (policy order) covering schema.table.column, or null. For the proxy's catalog path. */
export function maskForColumn(role: Role, schema: string, table: string, column: string): MaskMatch | null {
  for (const mask of role.masks) {
    for (const p of mask.columns) {
      if (p.schema.test(schema) && p.table.test(table) && p.column.test(column)) {
        return { strategy: mask.strategy, column: p.source };
      }
    }
  }
  return null;
}

/**
 * The strictest mask that covers any column of schema.table: a whole row carries all its columns
 * (without the catalog we cannot tell whether the table has an `ssn` column, so `*.ssn` counts).
 */
function maskForTable(role: Role, schema: string, table: string): MaskMatch | null {
  let best: MaskMatch | null = null;
  for (const mask of role.masks) {
    const p: ColumnPattern | undefined = mask.columns.find((c) => c.schema.test(schema) && c.table.test(table));
    if (p && (!best || STRICTNESS[mask.strategy] > STRICTNESS[best.strategy])) best = { strategy: mask.strategy, column: p.source };
  }
  return best;
}

/**
 * Splits a lineage source `schema.table.column` (or `schema.table.*`), parts quoted as
 * src/sql/qualified.ts writes them; a source of another shape is treated as masked by
 * any mask on anything (null parts), since we cannot tell what it is.
 */
function maskForSource(role: Role, source: string): MaskMatch | null {
  const parts = splitQualified(source);
  if (parts.length !== 3 || parts.some((p) => !p)) {
    const any = role.masks[0];
    return any ? { strategy: any.strategy, column: any.columns[0]!.source } : null;
  }
  const [schema, table, column] = parts as [string, string, string];
  // An unquoted `*` is the whole row (a column named "*" is masked as its whole table: over-masking).
  return column === '*' ? maskForTable(role, schema, table) : maskForColumn(role, schema, table, column);
}

/**
 * The strictest mask over any of `sources` (lineage entries such as `schema.table.column` or
 * `schema.table.*`), or null when none is masked. Used for values a statement stores elsewhere.
 */
export function maskOverSources(role: Role, sources: readonly string[]): MaskMatch | null {
  let best: MaskMatch | null = null;
  for (const source of sources) {
    const m = maskForSource(role, source);
    if (m && (!best || STRICTNESS[m.strategy] > STRICTNESS[best.strategy])) best = m;
  }
  return best;
}

/**
 * A `*` the analysis could not expand stands for an unknown number of result columns. When the
 * analysis marks it as base tables' plain columns (`tableColumns`), the proxy masks those by their
 * table OID and attribute number, so the star itself is not reported here. Any other `*` (function
 * in FROM, set operation, `(expr).*`) comes with table OID 0: nothing but the lineage can mask it.
 */
function isStar(out: OutputColumn): boolean {
  return out.name === '*';
}

function isTableColumns(out: OutputColumn): boolean {
  // Absent: a `*` built before the analysis said which kind it is (all sources whole rows → a table's).
  return out.tableColumns !== false && out.sources.length > 0 && out.sources.every((s) => s.endsWith('.*'));
}

export interface MaskedOutputs {
  masked: MaskedOutput[];
  /**
   * Set when a masked column's position in the result cannot be known (it follows an unexpanded
   * `*`): the statement must be denied rather than risk sending that column in clear.
   */
  problem: string | null;
}

/** The statement's result columns that carry data from a masked column, by lineage and position. */
export function maskedOutputs(role: Role, outputs: readonly OutputColumn[] | null): MaskedOutputs {
  const masked: MaskedOutput[] = [];
  if (!outputs || role.masks.length === 0) return { masked, problem: null };
  let afterStar = false;
  for (const [index, out] of outputs.entries()) {
    if (isStar(out) && isTableColumns(out)) {
      afterStar = true;
      continue;
    }
    const best = maskOverSources(role, out.sources);
    if (isStar(out)) {
      // Columns that derive from the masked data, but how many and where is unknown: no index
      // can mark them, and the proxy's catalog path sees table OID 0.
      if (best) {
        return {
          masked: [],
          problem: `result columns of a * over something other than a table (a function in FROM, a set operation, (expression).*, a NATURAL join) carry masked data (${best.column}) but their number and positions in the result are unknown: list the columns instead of *`,
        };
      }
      afterStar = true;
      continue;
    }
    if (!best) continue;
    if (afterStar) {
      return {
        masked: [],
        problem: `result column "${out.name}" carries masked data (${best.column}) but follows a *, so its position in the result is unknown: list the columns instead of *`,
      };
    }
    masked.push({ index, name: out.name, strategy: best.strategy, column: best.column });
  }
  return { masked, problem: null };
}

/**
 * The `*` outputs of base tables' columns that a mask may cover, for reports (`tollgate check`):
 * the proxy masks those columns by table OID and attribute number from RowDescription, so they are
 * not in `maskedOutputs`; offline, without the catalog, the honest report is that the mask applies to
 * the `*` (a pattern like `*.ssn` counts for any table, as the columns are unknown here).
 */
export function starMaskedOutputs(role: Role, outputs: readonly OutputColumn[] | null): MaskedOutput[] {
  if (!outputs || role.masks.length === 0) return [];
  const out: MaskedOutput[] = [];
  for (const [index, o] of outputs.entries()) {
    if (!isStar(o) || !isTableColumns(o)) continue;
    // Every mask pattern that can cover a column of one of the tables, in policy order, once.
    const seen = new Set<string>();
    for (const source of o.sources) {
      const parts = splitQualified(source);
      if (parts.length !== 3) continue;
      for (const mask of role.masks) {
        for (const p of mask.columns) {
          if (seen.has(p.source) || !p.schema.test(parts[0]!) || !p.table.test(parts[1]!)) continue;
          seen.add(p.source);
          out.push({ index, name: o.name, strategy: mask.strategy, column: p.source });
        }
      }
    }
  }
  return out;
}
