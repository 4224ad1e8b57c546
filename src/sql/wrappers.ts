// Statements that wrap another: EXPLAIN, COPY, PREPARE, DECLARE CURSOR. What the wrapped statement
// does is looked through; PREPARE and DECLARE also record it under their name for later EXECUTE/FETCH.
import type { Kind, OutputColumn } from './types.js';
import { AnalysisError } from './errors.js';
import { relationKeys } from './names.js';
import { type Scope, tableEntry } from './scope.js';
import { type N, list, str, stringList, unwrapIf } from './ast.js';
import { isFalseOption } from './settings.js';
import { Walker, dedupeAccesses, type StatementResult } from './walk.js';
import { quoteName } from './qualified.js';

export function explainStmt(w: Walker, b: N, scope: Scope | null): StatementResult {
  let analyze = false;
  for (const o of list(b.options)) {
    const d = unwrapIf(o, 'DefElem') as N;
    if (d.defname !== 'analyze') continue;
    // Any ANALYZE option that is not clearly false counts: the statement would run.
    if (d.arg === undefined) analyze = true;
    else {
      w.literalSensitive = true;
      if (!isFalseOption(d.arg)) analyze = true;
    }
  }
  const inner = new Walker(w.searchPath);
  inner.depth = w.depth;
  inner.statement(b.query, scope);
  w.literalSensitive ||= inner.literalSensitive;
  w.uses ??= inner.uses;
  if (analyze && inner.newSearchPath) w.newSearchPath = inner.newSearchPath;
  if (analyze) w.derived.push(...inner.derived);
  w.add({ kind: 'explain' });
  for (const a of inner.accesses) {
    if (analyze || a.kind === 'call' || a.exact) w.add(a);
    // Plain EXPLAIN only plans: what the statement would touch becomes `explain` of that object.
    // Calls stay calls: the planner may evaluate functions while folding constants.
    else if (a.object !== undefined) w.add({ kind: 'explain', object: a.object });
  }
  return { kind: 'explain', outputs: [{ name: 'QUERY PLAN', sources: [] }] };
}

export function copyStmt(w: Walker, b: N, scope: Scope | null): StatementResult {
  const from = !!b.is_from;
  const kind: Kind = from ? 'copy_from' : 'copy_to';
  let outputs: OutputColumn[] | null = null;
  if (b.filename !== undefined || b.is_program) {
    // Server-side file or program: the object is the literal, so the literal decides the access.
    w.literalSensitive = true;
    const what = typeof b.filename === 'string' ? b.filename : '';
    w.add({ kind, object: b.is_program ? `program:${what}` : `file:${what}`, exact: true });
  }
  if (b.query) {
    const r = w.statement(b.query, scope);
    outputs = r.outputs;
    w.add({ kind });
  } else if (b.relation) {
    const keys = relationKeys(b.relation, w.searchPath);
    const attrs = stringList(b.attlist);
    for (const k of keys) {
      w.add({ kind, object: k });
      if (!from) w.add({ kind: 'select', object: k });
    }
    if (!from) {
      outputs = attrs.length
        ? attrs.map((a) => ({ name: a, sources: keys.map((k) => `${k}.${quoteName(a)}`) }))
        : [{ name: '*', sources: keys.map((k) => `${k}.*`) }];
    }
    const here: Scope = { entries: [tableEntry(b.relation.relname, keys, null)], outer: null, ctes: null };
    w.walk(b.whereClause, here, null);
  } else {
    throw new AnalysisError('COPY without a table or query');
  }
  w.walk(b.options, null, null);
  return { kind, outputs };
}

export function prepareStmt(w: Walker, b: N): StatementResult {
  const name = str(b.name, 'PREPARE name');
  const inner = new Walker(w.searchPath);
  inner.depth = w.depth;
  const r = inner.statement(b.query, null);
  w.literalSensitive ||= inner.literalSensitive;
  // It would change name resolution later, at an EXECUTE this analysis cannot see coming.
  if (inner.newSearchPath) throw new AnalysisError('a prepared statement that changes the search path is refused');
  w.derived.push(...inner.derived);
  w.add({ kind: 'prepare', object: name });
  for (const a of inner.accesses) w.add(a);
  w.walk(b.argtypes, null, null);
  w.defines = { namespace: 'prepared', name, accesses: dedupeAccesses(inner.accesses), outputs: r.outputs };
  return { kind: 'prepare', outputs: null };
}

export function declareStmt(w: Walker, b: N, scope: Scope | null): StatementResult {
  const name = str(b.portalname, 'cursor name');
  const inner = new Walker(w.searchPath);
  inner.depth = w.depth;
  const r = inner.statement(b.query, scope);
  w.literalSensitive ||= inner.literalSensitive;
  if (inner.newSearchPath) throw new AnalysisError('a cursor that changes the search path is refused');
  for (const a of inner.accesses) w.add(a);
  w.defines = { namespace: 'cursor', name, accesses: dedupeAccesses(inner.accesses), outputs: r.outputs };
  return { kind: 'select', outputs: null };
}
