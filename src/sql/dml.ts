// INSERT, UPDATE, DELETE, MERGE: the target, what they read, and what RETURNING hands back.
import type { Kind, OutputColumn } from './types.js';
import { AnalysisError } from './errors.js';
import { relationKeys } from './names.js';
import { type Scope, dedupe, opaqueEntry, tableEntry, unionSources } from './scope.js';
import { type N, list, unwrap, unwrapIf } from './ast.js';
import type { Walker } from './walk.js';

/** The target of INSERT/UPDATE/DELETE/MERGE: never a CTE, always a table. */
export function target(w: Walker, rv: N | undefined, kind: Kind, here: Scope): string[] {
  if (!rv) throw new AnalysisError(`${kind} without a target table`);
  const keys = relationKeys(rv, w.searchPath);
  for (const k of keys) {
    // Writing pg_settings is set_config by another name.
    w.add(k === 'pg_catalog.pg_settings' ? { kind, object: k, exact: true } : { kind, object: k });
  }
  const alias = (rv.alias as N | undefined)?.aliasname;
  here.entries.push(tableEntry(alias ?? rv.relname, keys, null));
  return keys;
}

/** RETURNING: rows of the target flow out, so it is a read of the target too. */
/**
 * `written`: sources of the values the statement writes. RETURNING hands the new rows back, so what
 * was copied in from elsewhere (`INSERT INTO t SELECT email FROM users RETURNING *`) flows out too.
 */
export function returning(w: Walker, rc: N | undefined, keys: string[], here: Scope, written: string[]): OutputColumn[] | null {
  const exprs = rc ? list(rc.exprs) : [];
  if (!exprs.length) {
    w.walk(rc, here, null);
    return null;
  }
  for (const k of keys) w.add({ kind: 'select', object: k });
  // RETURNING old.* / new.* (PostgreSQL 18), with optional renames.
  const names = ['old', 'new'];
  for (const o of list(rc!.options)) {
    const ro = unwrapIf(o, 'ReturningOption') as N;
    if (typeof ro.value === 'string') names.push(ro.value);
  }
  // old/new are reachable by name only: an outer level keeps them out of `RETURNING *`.
  const withOldNew: Scope = {
    entries: here.entries,
    outer: { entries: names.map((n) => tableEntry(n, keys, null)), outer: here.outer, ctes: here.ctes },
    ctes: here.ctes,
  };
  const outs = w.targetList(exprs, withOldNew);
  if (!written.length) return outs;
  return outs.map((o) => ({ name: o.name, sources: dedupe(o.sources.concat(written)) }));
}

/**
 * A write whose conditions or new values read the target's columns reads the target (PostgreSQL
 * asks for SELECT on them too): `DELETE … WHERE ssn LIKE '1%'` learns from its row count.
 */
export function readsOf(w: Walker, sources: string[], keys: string[]): void {
  for (const k of keys) {
    const prefix = `${k}.`;
    if (sources.some((x) => x.startsWith(prefix))) w.add({ kind: 'select', object: k });
  }
}

export function dmlScope(w: Walker, b: N, scope: Scope | null): Scope {
  const ctes = b.withClause ? w.withClause(b.withClause, scope?.outer ?? null, scope?.ctes ?? null) : scope?.ctes ?? null;
  return { entries: [], outer: scope, ctes };
}

export function insertStmt(w: Walker, b: N, scope: Scope | null): OutputColumn[] | null {
  const here = dmlScope(w, b, scope);
  const written: string[] = [];
  // The source query does not see the target table.
  if (b.selectStmt) {
    const [qt, qb] = unwrap(b.selectStmt);
    if (qt !== 'SelectStmt') throw new AnalysisError(`unsupported INSERT source ${qt}`);
    written.push(...unionSources(w.select(qb, scope, here.ctes)));
  }
  const keys = target(w, b.relation, 'insert', here);
  w.walk(b.cols, here, null);
  const oc = b.onConflictClause as N | undefined;
  if (oc) {
    // `excluded` is the row proposed for insertion, not a read of the table.
    const conflictScope: Scope = { entries: here.entries.concat(opaqueEntry('excluded', [])), outer: scope, ctes: here.ctes };
    if (oc.action === 'ONCONFLICT_UPDATE') for (const k of keys) w.add({ kind: 'update', object: k });
    // A conflict target (columns or a constraint) looks the proposed row up in the table: whether it
    // is there is read (PostgreSQL asks for SELECT on the arbiter columns, DO NOTHING included).
    if (oc.infer) for (const k of keys) w.add({ kind: 'select', object: k });
    w.walk(oc.infer, conflictScope, null);
    const values: string[] = [];
    w.walk(oc.targetList, conflictScope, values);
    const read = values.slice();
    w.walk(oc.whereClause, conflictScope, read);
    readsOf(w, read, keys);
    written.push(...values);
  }
  w.derived.push(...written);
  return returning(w, b.returningClause, keys, here, dedupe(written));
}

export function updateStmt(w: Walker, b: N, scope: Scope | null): OutputColumn[] | null {
  const here = dmlScope(w, b, scope);
  const keys = target(w, b.relation, 'update', here);
  for (const f of list(b.fromClause)) w.fromItem(f, here);
  const values: string[] = [];
  w.walk(b.targetList, here, values);
  const read = values.slice();
  w.walk(b.whereClause, here, read);
  readsOf(w, read, keys);
  w.derived.push(...values);
  return returning(w, b.returningClause, keys, here, dedupe(values));
}

export function deleteStmt(w: Walker, b: N, scope: Scope | null): OutputColumn[] | null {
  const here = dmlScope(w, b, scope);
  const keys = target(w, b.relation, 'delete', here);
  for (const f of list(b.usingClause)) w.fromItem(f, here);
  const read: string[] = [];
  w.walk(b.whereClause, here, read);
  readsOf(w, read, keys);
  return returning(w, b.returningClause, keys, here, []);
}

export function mergeStmt(w: Walker, b: N, scope: Scope | null): OutputColumn[] | null {
  const here = dmlScope(w, b, scope);
  const keys = target(w, b.relation, 'merge', here);
  if (b.sourceRelation) w.fromItem(b.sourceRelation, here);
  const read: string[] = [];
  const written: string[] = [];
  w.walk(b.joinCondition, here, read);
  for (const m of list(b.mergeWhenClauses)) {
    const wc = unwrapIf(m, 'MergeWhenClause') as N;
    const ct = String(wc.commandType ?? '');
    const kind: Kind | null = ct === 'CMD_UPDATE' ? 'update' : ct === 'CMD_INSERT' ? 'insert' : ct === 'CMD_DELETE' ? 'delete' : ct === 'CMD_NOTHING' ? null : 'merge';
    if (ct && kind === 'merge') throw new AnalysisError(`unsupported MERGE action ${ct}`);
    if (kind) for (const k of keys) w.add({ kind, object: k });
    w.walk(wc.condition, here, read);
    const values: string[] = [];
    w.walk(wc.targetList, here, values);
    w.walk(wc.values, here, values);
    read.push(...values);
    written.push(...values);
  }
  readsOf(w, read, keys);
  w.derived.push(...written);
  return returning(w, b.returningClause, keys, here, dedupe(written));
}
