// Name scopes for output-column lineage: which FROM items a column reference may come from, and
// which CTE names are visible. No catalog is available, so a base table's columns are unknown: a
// column reference resolves to every candidate (over-masking is safe, leaking is not).
import type { OutputColumn } from './types.js';
import { qualify, quoteName } from './qualified.js';

export interface ColumnHit {
  sources: string[];
  /** True when the item is known to have the column (so outer scopes need not be searched). */
  definite: boolean;
}

/** One item of a FROM list, as column references see it. */
export interface Entry {
  /** The name references use (alias, or the relation/function name); null for unaliased subqueries. */
  name: string | null;
  /** `schema.table` keys of a base table (several when the search path leaves it ambiguous). */
  relKeys: string[] | null;
  /** The column `c` of this item, or null when the item certainly has no such column. */
  column(c: string): ColumnHit | null;
  /** What `item.*` expands to. */
  star(): OutputColumn[];
  /**
   * What the item adds to a bare `*` of its FROM level when that differs from star(): the sides of
   * a JOIN … USING leave out the merged columns (they come first, once), a NATURAL join's sides add
   * one `*` of unknown width for the whole join.
   */
  levelStar?(): OutputColumn[];
  /** Sources of the whole row (`SELECT u FROM users u`, `row_to_json(u)`). */
  whole(): string[];
}

export interface CteScope {
  names: Map<string, OutputColumn[]>;
  parent: CteScope | null;
}

export interface Scope {
  entries: Entry[];
  outer: Scope | null;
  ctes: CteScope | null;
}

export function findCte(ctes: CteScope | null, name: string): OutputColumn[] | undefined {
  for (let s = ctes; s; s = s.parent) {
    const hit = s.names.get(name);
    if (hit) return hit;
  }
  return undefined;
}

export function tableEntry(name: string, keys: string[], aliasCols: string[] | null): Entry {
  const whole = keys.map((k) => `${k}.*`);
  return {
    name,
    relKeys: keys,
    column(c) {
      // Renamed columns (`users AS u(a, b)`): which real column `a` is cannot be known here.
      if (aliasCols && aliasCols.includes(c)) return { sources: whole, definite: true };
      return { sources: keys.map((k) => `${k}.${quoteName(c)}`), definite: false };
    },
    // Plain columns of a base table: RowDescription names them, the proxy masks them by catalog.
    star: () => [{ name: '*', sources: whole, tableColumns: true }],
    whole: () => whole,
  };
}

/** An item whose columns are known by name (subquery, CTE, VALUES). */
export function derivedEntry(name: string | null, cols: OutputColumn[], aliasCols: string[] | null): Entry {
  const renamed = aliasCols ? renameColumns(cols, aliasCols) : cols;
  const all = unionSources(renamed);
  const hasUnknownWidth = renamed.some((c) => c.name === '*');
  return {
    name,
    relKeys: null,
    column(c) {
      const found = renamed.filter((o) => o.name === c);
      if (found.length) return { sources: unionSources(found), definite: true };
      // A `*` of unknown width inside may hold the column.
      if (hasUnknownWidth) return { sources: unionSources(renamed.filter((o) => o.name === '*')), definite: false };
      return null;
    },
    star: () => renamed.map((o) => ({ ...o, sources: o.sources.slice() })),
    whole: () => all,
  };
}

/**
 * An item whose every column derives from the same sources (function in FROM, XMLTABLE…): all the
 * sources of all its arguments, sub-selects included. `columns` are its column names when their
 * number is known (column definition lists, built-ins of fixed shape); otherwise `*` is one output
 * of unknown width, NOT a table's columns: the server sends them with table OID 0.
 */
export function opaqueEntry(name: string | null, sources: string[], columns: string[] | null = null): Entry {
  return {
    name,
    relKeys: null,
    column: () => ({ sources, definite: false }),
    star: () => (columns ? columns.map((c) => ({ name: c, sources: sources.slice() })) : [{ name: '*', sources: sources.slice(), tableColumns: false }]),
    whole: () => sources,
  };
}

/** The columns a bare `*` of one FROM level expands to. */
export function levelStar(e: Entry): OutputColumn[] {
  return e.levelStar ? e.levelStar() : e.star();
}

/**
 * The merged columns of `JOIN … USING (cols)`, first in a bare `*`: each may be either side's
 * column, coerced or COALESCEd (FULL JOIN), so the server may send it with table OID 0 and only the
 * lineage can mask it. Unnamed: references reach the sides themselves.
 */
export function mergedEntry(cols: OutputColumn[]): Entry {
  return { name: null, relKeys: null, column: () => null, star: () => cols, whole: () => [] };
}

/** One side of `JOIN … USING`: a bare `*` leaves out the merged columns (already listed first). */
export function usingSide(e: Entry, using: string[]): Entry {
  return { ...e, levelStar: () => levelStar(e).filter((o) => o.name === '*' || !using.includes(o.name)) };
}

/**
 * A NATURAL join: which columns merge is unknown without the catalog, so a bare `*` over it is one
 * `*` of unknown width carrying everything (never a table's plain columns); sides add nothing.
 */
export function naturalJoin(sides: Entry[]): Entry[] {
  const all = dedupe(sides.flatMap((e) => levelStar(e).flatMap((o) => o.sources)));
  const whole: Entry = { name: null, relKeys: null, column: () => null, star: () => [{ name: '*', sources: all, tableColumns: false }], whole: () => [] };
  return [whole, ...sides.map((e) => ({ ...e, levelStar: () => [] }))];
}

/** `(a JOIN b) AS j`: one name over both sides (`j.*` is the join's bare `*`). */
export function joinEntry(name: string, inner: Entry[]): Entry {
  return {
    name,
    relKeys: null,
    column(c) {
      const hits = inner.map((e) => e.column(c)).filter((h): h is ColumnHit => h !== null);
      if (!hits.length) return null;
      return { sources: dedupe(hits.flatMap((h) => h.sources)), definite: hits.some((h) => h.definite) };
    },
    star: () => inner.flatMap(levelStar),
    whole: () => dedupe(inner.flatMap((e) => e.whole())),
  };
}

function renameColumns(cols: OutputColumn[], names: string[]): OutputColumn[] {
  if (cols.some((c) => c.name === '*')) {
    // Width unknown: every renamed column may come from anything inside, and the columns not
    // renamed follow as a `*` (plain table columns only if everything inside was).
    const all = unionSources(cols);
    const rest: OutputColumn = { name: '*', sources: all, tableColumns: cols.every((c) => c.tableColumns === true) };
    return [...names.map((n) => ({ name: n, sources: all })), rest];
  }
  return cols.map((c, i) => ({ name: i < names.length ? names[i]! : c.name, sources: c.sources }));
}

export function unionSources(cols: OutputColumn[]): string[] {
  return dedupe(cols.flatMap((c) => c.sources));
}

export function dedupe(xs: string[]): string[] {
  return xs.length < 2 ? xs : [...new Set(xs)];
}

/**
 * Sources of a column reference given as its name parts (`c`, `t.c`, `s.t.c`, `t.*`), searching the
 * scope chain outwards as PostgreSQL does, but over-approximating where columns are unknown.
 */
export function resolveColumn(scope: Scope | null, parts: string[], star: boolean): string[] {
  if (star) {
    if (parts.length === 0) {
      // Bare `*` inside an expression (count(*) is agg_star, not this): the whole current level.
      return scope ? dedupe(scope.entries.flatMap((e) => e.whole())) : [];
    }
    const e = findEntry(scope, parts);
    return e ? e.whole() : anyWhole(scope);
  }
  if (parts.length === 1) return resolveBare(scope, parts[0]!);
  const col = parts[parts.length - 1]!;
  const e = findEntry(scope, parts.slice(0, -1));
  if (e) {
    const hit = e.column(col);
    return hit ? hit.sources : e.whole();
  }
  // `a.b` where `a` is no FROM item: PostgreSQL reads it as field `b` of column `a`.
  const asField = parts.length >= 2 ? resolveBare(scope, parts[parts.length - 2]!) : [];
  return asField.length ? asField : anyWhole(scope);
}

function resolveBare(scope: Scope | null, c: string): string[] {
  const out: string[] = [];
  for (let s = scope; s; s = s.outer) {
    let definite = false;
    for (const e of s.entries) {
      const hit = e.column(c);
      if (hit) {
        out.push(...hit.sources);
        if (hit.definite) definite = true;
      }
      if (e.name === c) out.push(...e.whole());
    }
    if (definite) break;
  }
  return dedupe(out);
}

/** The FROM item named by `t` or `s.t` (or `db.s.t`), innermost first. */
function findEntry(scope: Scope | null, qual: string[]): Entry | null {
  const name = qual[qual.length - 1]!;
  const schema = qual.length >= 2 ? qual[qual.length - 2]! : null;
  for (let s = scope; s; s = s.outer) {
    for (const e of s.entries) {
      if (schema === null) {
        if (e.name === name) return e;
      } else if (e.relKeys && e.relKeys.includes(qualify(schema, name))) {
        return e;
      }
    }
  }
  return null;
}

function anyWhole(scope: Scope | null): string[] {
  const out: string[] = [];
  for (let s = scope; s; s = s.outer) for (const e of s.entries) out.push(...e.whole());
  return dedupe(out);
}
