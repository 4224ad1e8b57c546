// Settings whose values decide what the gateway may assume: the checks, and the small readers of
// constant arguments they need.
import type { Scope } from './scope.js';
import { AnalysisError } from './errors.js';
import { type N, constString, list, stringFields, unwrapIf } from './ast.js';

/**
 * For a SELECT whose only FROM item is pg_catalog.pg_settings and whose WHERE has a top-level
 * conjunct `name = 'constant'`: the ways to refer to the name column, and the constant.
 */
export function settingsRowOf(b: N, here: Scope): { refs: string[][]; name: string } | null {
  const from = list(b.fromClause);
  if (from.length !== 1 || here.entries.length !== 1) return null;
  const rv = unwrapIf(from[0], 'RangeVar');
  if (rv.relname !== 'pg_settings' || (rv.schemaname !== undefined && rv.schemaname !== 'pg_catalog')) return null;
  if (!here.entries[0]!.relKeys?.includes('pg_catalog.pg_settings') || here.entries[0]!.relKeys.length !== 1) return null;
  const alias = (rv.alias as N | undefined)?.aliasname as string | undefined;
  const refs = [['name'], [alias ?? 'pg_settings', 'name']];
  if (!alias) refs.push(['pg_catalog', 'pg_settings', 'name']);
  const isNameRef = (v: unknown): boolean => {
    const cr = unwrapIf(v, 'ColumnRef');
    const f = list(cr.fields);
    const parts = stringFields(f);
    return parts.length === f.length && refs.some((r) => r.length === parts.length && r.every((x, i) => x === parts[i]));
  };
  const conjuncts: N[] = [];
  const collect = (e: unknown): void => {
    const be = unwrapIf(e, 'BoolExpr');
    if (be.boolop === 'AND_EXPR') for (const a of list(be.args)) collect(a);
    else if (e && typeof e === 'object') conjuncts.push(e as N);
  };
  collect(b.whereClause);
  for (const c of conjuncts) {
    if (!('A_Expr' in c)) continue;
    const ae = c.A_Expr as N;
    const op = stringFields(ae.name);
    if (ae.kind !== 'AEXPR_OP' || op.length !== 1 || op[0] !== '=') continue;
    const l = constString(ae.lexpr);
    const r = constString(ae.rexpr);
    if (isNameRef(ae.lexpr) && r !== null && !('String' in (ae.rexpr as N))) return { refs, name: r };
    if (isNameRef(ae.rexpr) && l !== null && !('String' in (ae.lexpr as N))) return { refs, name: l };
  }
  return null;
}

/** The gateway parses UTF-8; another client encoding would make the server read other bytes. */
export function checkClientEncoding(value: string | null): void {
  if (value === null || !['utf8', 'utf-8', 'unicode'].includes(value.toLowerCase())) {
    throw new AnalysisError('SET client_encoding to anything but UTF8 is refused');
  }
}

/**
 * The gateway's parser reads strings as standard_conforming_strings = on does: with it off, `\'`
 * no longer ends a string and the server would run text the gateway read as a string (a bypass).
 */
export function checkConformingStrings(value: string | null): void {
  if (value === null || !['on', 'true', 'yes', '1', 't', 'y'].includes(value.toLowerCase())) {
    throw new AnalysisError('SET standard_conforming_strings to anything but on is refused');
  }
}

/** A constant's text: strings as they are, integers in decimal. */
export function constText(v: unknown): string | null {
  const s = constString(v);
  if (s !== null) return s;
  const c = unwrapIf(v, 'A_Const');
  if (c.ival && typeof c.ival === 'object') return String(c.ival.ival ?? 0);
  return null;
}

/** A search_path value as text (`a, "B", pg_catalog`) → schema names, as the server splits it. */
export function parseSearchPath(v: string): string[] {
  const out: string[] = [];
  for (const raw of v.split(',')) {
    const t = raw.trim();
    if (!t) continue;
    if (t.startsWith('"') && t.endsWith('"') && t.length >= 2) out.push(t.slice(1, -1).replace(/""/g, '"'));
    else out.push(t.toLowerCase());
  }
  return out;
}

export function isFalseOption(arg: unknown): boolean {
  const s = constString(arg);
  if (s !== null) return ['false', 'off', 'no', '0'].includes(s.toLowerCase());
  const c = unwrapIf(arg, 'A_Const');
  if (c.ival) return c.ival.ival === 0 || c.ival.ival === undefined;
  const bool = unwrapIf(arg, 'Boolean');
  if ('boolval' in bool) return !bool.boolval;
  const int = unwrapIf(arg, 'Integer');
  if (Object.keys(int).length === 0 || 'ival' in int) return !int.ival;
  return false;
}
