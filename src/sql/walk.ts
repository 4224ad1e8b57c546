// The walk from libpg_query's JSON parse tree (PostgreSQL 18 grammar) to accesses and output lineage.
//
// Shape of the tree: a field typed as a generic Node holds `{ TypeName: {...} }`; a field typed as one
// struct (RangeVar `relation`, WithClause, IntoClause…) holds the struct unwrapped. The walk dispatches
// wrapped nodes by type; statements and FROM items are handled explicitly; every other node type must
// be in EXPRESSION_NODES (walked generically, its fields visited) — anything else is an AnalysisError,
// so a construct nobody reviewed is denied rather than guessed.
import type { Access, Kind, NamedDefinition, OutputColumn } from './types.js';
import { AnalysisError } from './errors.js';
import { createdKey, createdName, functionAccesses, operatorAccesses, relationKeys, splitPath, type RangeVarLike } from './names.js';
import {
  type CteScope, type Entry, type Scope, dedupe, derivedEntry, findCte, joinEntry, levelStar, mergedEntry,
  naturalJoin, opaqueEntry, resolveColumn, tableEntry, unionSources, usingSide,
} from './scope.js';
import { ddlAccesses, isDdlStatement } from './ddl.js';
import { isSensitiveRelation } from './builtins.js';
import { SEQUENCE_FUNCTIONS, constantName, qualifiedName } from './sequences.js';
import { checkClientEncoding, checkConformingStrings, constText, parseSearchPath, settingsRowOf } from './settings.js';
import { fixedColumnsOf, figureName, mergeSetOp } from './outputs.js';
import { deleteStmt, insertStmt, mergeStmt, updateStmt } from './dml.js';
import { copyStmt, declareStmt, explainStmt, prepareStmt } from './wrappers.js';
import { type N, constString, list, nameParts, str, stringFields, stringList, unwrap, unwrapIf } from './ast.js';
import { qualify } from './qualified.js';


/** Raw-parse-tree node types with no meaning of their own for access control: their fields are walked. */
const EXPRESSION_NODES = new Set([
  'Integer', 'Float', 'Boolean', 'String', 'BitString', 'List', 'IntList', 'OidList', 'A_Const', 'Alias',
  'TypeName', 'ParamRef', 'TypeCast', 'CollateClause', 'RoleSpec', 'A_Star', 'A_Indices', 'A_Indirection',
  'A_ArrayExpr', 'ResTarget', 'MultiAssignRef', 'SortBy', 'WindowDef', 'RangeTableFuncCol', 'ColumnDef',
  'TableLikeClause', 'IndexElem', 'DefElem', 'LockingClause', 'XmlSerialize', 'PartitionElem',
  'PartitionSpec', 'PartitionBoundSpec', 'PartitionRangeDatum', 'PartitionCmd', 'GroupingSet',
  'InferClause', 'OnConflictClause', 'CTESearchClause', 'CTECycleClause', 'MergeWhenClause',
  'ReturningOption', 'ReturningClause', 'TriggerTransition', 'JsonOutput', 'JsonArgument', 'JsonFuncExpr',
  'JsonTablePathSpec', 'JsonTableColumn', 'JsonKeyValue', 'JsonParseExpr', 'JsonScalarExpr',
  'JsonSerializeExpr', 'JsonObjectConstructor', 'JsonArrayConstructor', 'JsonArrayQueryConstructor',
  'JsonAggConstructor', 'JsonObjectAgg', 'JsonArrayAgg', 'JsonFormat', 'JsonReturning', 'JsonValueExpr',
  'JsonIsPredicate', 'JsonBehavior', 'BoolExpr', 'NullTest', 'BooleanTest', 'CaseExpr', 'CaseWhen',
  'CoalesceExpr', 'MinMaxExpr', 'SQLValueFunction', 'XmlExpr', 'RowExpr', 'GroupingFunc', 'SetToDefault',
  'CurrentOfExpr', 'NamedArgExpr', 'MergeSupportFunc', 'Constraint', 'ObjectWithArgs', 'AccessPriv',
  'FunctionParameter', 'StatsElem', 'PublicationObjSpec', 'PublicationTable', 'AlterTableCmd',
  'ATAlterConstraint', 'ReplicaIdentityStmt', 'CreateOpClassItem', 'VacuumRelation',
]);


/**
 * Nesting (statements, queries and expressions together) beyond which a statement is refused rather
 * than risk the JavaScript stack; 1000-term UNION chains and operator chains stay well inside.
 */
const MAX_DEPTH = 1500;

/** Nodes that hold only constants: nothing to record, nothing to read. */
const LEAF_NODES = new Set(['A_Const', 'String', 'Integer', 'Float', 'Boolean', 'BitString', 'ParamRef', 'A_Star']);

export interface StatementResult {
  kind: Kind;
  outputs: OutputColumn[] | null;
}

/** One walk over one statement. Collects accesses; returns the statement's kind and outputs. */
export class Walker {
  accesses: Access[] = [];
  literalSensitive = false;
  defines: NamedDefinition | undefined;
  uses: { namespace: 'prepared' | 'cursor'; name: string } | undefined;
  /**
   * A SET/RESET search_path seen in this statement: later statements of the message resolve with it
   * ('reset' = back to the session's path).
   */
  newSearchPath: string[] | 'reset' | undefined;
  /** Current nesting (statements, queries, expressions); see MAX_DEPTH. */
  depth = 0;
  /** Sources of values stored elsewhere by the statement (see StatementAnalysis.derived). */
  derived: string[] = [];
  /** In `SELECT set_config(name, …) FROM pg_settings WHERE name = 'x'`: the row's name column and 'x'. */
  private settingsRow: { refs: string[][]; name: string } | null = null;

  constructor(public searchPath: string[]) {}

  /** Runs `fn` with another search path (CREATE SCHEMA s CREATE TABLE t … creates s.t). */
  withSearchPath<T>(path: string[], fn: () => T): T {
    const saved = this.searchPath;
    this.searchPath = path;
    try {
      return fn();
    } finally {
      this.searchPath = saved;
    }
  }

  add(a: Access): void {
    // Catalog relations holding secrets or copies of data: whatever the statement does to them, only
    // a rule naming the kind and the relation itself may allow it (builtins.ts, SENSITIVE_*).
    if (a.object !== undefined && !a.exact && isSensitiveRelation(a.object)) a = { ...a, exact: true };
    this.accesses.push(a);
  }

  // ---------------------------------------------------------------- statements

  /** Dispatches one statement node (wrapped `{ Type: body }`). */
  statement(node: N, scope: Scope | null): StatementResult {
    const [type, body] = unwrap(node);
    return this.statementOf(type, body, scope);
  }

  statementOf(type: string, b: N, scope: Scope | null): StatementResult {
    if (++this.depth > MAX_DEPTH) throw new AnalysisError('statement nested too deeply');
    try {
      return this.dispatch(type, b, scope);
    } finally {
      this.depth--;
    }
  }

  private dispatch(type: string, b: N, scope: Scope | null): StatementResult {
    const ctes = scope ? scope.ctes : null;
    switch (type) {
      case 'SelectStmt': {
        const outputs = this.select(b, scope, ctes);
        const into = hasInto(b);
        if (!this.accesses.some((a) => a.kind === 'select')) this.add({ kind: 'select' });
        return { kind: 'select', outputs: into ? null : outputs };
      }
      case 'InsertStmt':
        return { kind: 'insert', outputs: insertStmt(this, b, scope) };
      case 'UpdateStmt':
        return { kind: 'update', outputs: updateStmt(this, b, scope) };
      case 'DeleteStmt':
        return { kind: 'delete', outputs: deleteStmt(this, b, scope) };
      case 'MergeStmt':
        return { kind: 'merge', outputs: mergeStmt(this, b, scope) };
      case 'ExplainStmt':
        return explainStmt(this, b, scope);
      case 'CopyStmt': {
        const r = copyStmt(this, b, scope);
        // `COPY table TO`: its `*` is the table's own columns (the proxy checks those by catalog).
        if (b.relation && r.outputs) r.outputs = r.outputs.map((o) => (o.name === '*' ? { ...o, tableColumns: true } : o));
        return r;
      }
      case 'PrepareStmt':
        return prepareStmt(this, b);
      case 'ExecuteStmt': {
        this.add({ kind: 'execute', object: str(b.name, 'EXECUTE name') });
        this.uses = { namespace: 'prepared', name: b.name };
        this.walk(b.params, scope, null);
        return { kind: 'execute', outputs: null };
      }
      case 'DeallocateStmt':
        this.add(b.isall || !b.name ? { kind: 'deallocate' } : { kind: 'deallocate', object: b.name });
        return { kind: 'deallocate', outputs: null };
      case 'DeclareCursorStmt':
        return declareStmt(this, b, scope);
      case 'FetchStmt': {
        // The cursor's reads were decided at DECLARE; FETCH returns its rows (see `uses`).
        this.add({ kind: 'select' });
        if (b.portalname) this.uses = { namespace: 'cursor', name: b.portalname };
        return { kind: 'select', outputs: null };
      }
      case 'ClosePortalStmt':
        this.add(b.portalname ? { kind: 'deallocate', object: b.portalname } : { kind: 'deallocate' });
        return { kind: 'deallocate', outputs: null };
      case 'CallStmt': {
        const fc = b.funccall as N | undefined;
        if (!fc || !Array.isArray(fc.funcname)) throw new AnalysisError('CALL without a procedure name');
        for (const a of functionAccesses(nameParts(fc.funcname), this.searchPath, true)) this.add(a);
        this.walk(fc.args, scope, null);
        return { kind: 'call', outputs: null };
      }
      case 'DoStmt':
        this.add({ kind: 'do', exact: true });
        return { kind: 'do', outputs: null };
      case 'VariableSetStmt':
        return this.set(b);
      case 'VariableShowStmt':
        this.add({ kind: 'show' });
        return { kind: 'show', outputs: [{ name: typeof b.name === 'string' ? b.name : 'show', sources: [] }] };
      case 'TransactionStmt': {
        const k = String(b.kind ?? '');
        if (k === 'TRANS_STMT_PREPARE' || k === 'TRANS_STMT_COMMIT_PREPARED' || k === 'TRANS_STMT_ROLLBACK_PREPARED') {
          // Two-phase commit outlives the session (and can finish another session's transaction):
          // not an ordinary always-allowed transaction statement.
          this.add({ kind: 'other', object: 'prepared_transaction' });
          return { kind: 'other', outputs: null };
        }
        this.add({ kind: 'transaction' });
        this.readWrite(b.options, 'transaction_read_only');
        return { kind: 'transaction', outputs: null };
      }
      case 'ConstraintsSetStmt':
        this.add({ kind: 'set', object: 'constraints' });
        return { kind: 'set', outputs: null };
      case 'DiscardStmt': {
        const t = String(b.target ?? '').replace(/^DISCARD_/, '').toLowerCase();
        this.add({ kind: 'reset', object: t || 'all' });
        return { kind: 'reset', outputs: null };
      }
      case 'LockStmt':
        for (const rv of list(b.relations)) for (const k of this.relKeysOf(rv)) this.add({ kind: 'lock', object: k });
        return { kind: 'lock', outputs: null };
      case 'ListenStmt':
        this.add({ kind: 'listen', object: str(b.conditionname, 'LISTEN channel') });
        return { kind: 'listen', outputs: null };
      case 'UnlistenStmt':
        this.add(b.conditionname ? { kind: 'listen', object: b.conditionname } : { kind: 'listen' });
        return { kind: 'listen', outputs: null };
      case 'NotifyStmt':
        this.add({ kind: 'notify', object: str(b.conditionname, 'NOTIFY channel') });
        return { kind: 'notify', outputs: null };
      case 'VacuumStmt': {
        const kind: Kind = b.is_vacuumcmd ? 'vacuum' : 'analyze';
        const rels = list(b.rels);
        if (!rels.length) this.add({ kind });
        for (const vr of rels) {
          const rv = (unwrapIf(vr, 'VacuumRelation') as N).relation as N | undefined;
          if (rv) for (const k of relationKeys(rv, this.searchPath)) this.add({ kind, object: k });
        }
        return { kind, outputs: null };
      }
      case 'ClusterStmt': {
        if (b.relation) for (const k of relationKeys(b.relation, this.searchPath)) this.add({ kind: 'vacuum', object: k });
        else this.add({ kind: 'vacuum' });
        return { kind: 'vacuum', outputs: null };
      }
      case 'CheckPointStmt':
        this.add({ kind: 'other', object: 'checkpoint' });
        return { kind: 'other', outputs: null };
      case 'LoadStmt':
        // LOAD runs a shared library's initialisation code in the backend.
        this.literalSensitive = true;
        this.add({ kind: 'other', object: `load:${String(b.filename ?? '')}`, exact: true });
        return { kind: 'other', outputs: null };
      case 'AlterSystemStmt':
        this.add({ kind: 'alter', object: 'system', exact: true });
        return { kind: 'alter', outputs: null };
      case 'ReturnStmt':
        // Only inside a SQL-standard function body (BEGIN ATOMIC … RETURN …).
        this.walk(b.returnval, scope, null);
        return { kind: 'select', outputs: null };
      default:
        if (isDdlStatement(type)) {
          // Settings inside DDL (ALTER ROLE … SET, CREATE FUNCTION … SET) do not change this session.
          const path = this.newSearchPath;
          const r = ddlAccesses(type, b, this);
          this.newSearchPath = path;
          return { kind: r.kind, outputs: r.outputs };
        }
        throw new AnalysisError(`unsupported statement ${type}`);
    }
  }

  // ---------------------------------------------------------------- queries

  /** A SELECT (plain, VALUES or set operation); returns its output lineage. */
  select(b: N, outer: Scope | null, ctesIn: CteScope | null): OutputColumn[] {
    if (++this.depth > MAX_DEPTH) throw new AnalysisError('query nested too deeply');
    try {
      return this.selectInner(b, outer, ctesIn);
    } finally {
      this.depth--;
    }
  }

  private selectInner(b: N, outer: Scope | null, ctesIn: CteScope | null): OutputColumn[] {
    const ctes = b.withClause ? this.withClause(b.withClause, outer, ctesIn) : ctesIn;
    if (b.intoClause) {
      const rel = (b.intoClause as N).rel as RangeVarLike | undefined;
      if (!rel) throw new AnalysisError('SELECT INTO without a target');
      this.add({ kind: 'create', object: createdKey(rel, this.searchPath) });
    }
    const here: Scope = { entries: [], outer, ctes };
    let outputs: OutputColumn[] = [];
    if (b.op && b.op !== 'SETOP_NONE') {
      if (!b.larg || !b.rarg) throw new AnalysisError('set operation without both sides');
      const left = this.select(b.larg, outer, ctes);
      const right = this.select(b.rarg, outer, ctes);
      outputs = mergeSetOp(left, right);
    } else if (b.valuesLists) {
      outputs = [];
      for (const row of list(b.valuesLists)) {
        const items = list((unwrapIf(row, 'List') as N).items);
        items.forEach((item, i) => {
          const out: string[] = [];
          this.walk(item, here, out);
          const col = outputs[i];
          if (col) col.sources = dedupe(col.sources.concat(out));
          else outputs[i] = { name: `column${i + 1}`, sources: dedupe(out) };
        });
      }
    } else {
      for (const item of list(b.fromClause)) this.fromItem(item, here);
      const saved = this.settingsRow;
      this.settingsRow = settingsRowOf(b, here);
      try {
        outputs = this.targetList(b.targetList, here);
      } finally {
        this.settingsRow = saved;
      }
    }
    this.walk(b.whereClause, here, null);
    this.walk(b.groupClause, here, null);
    this.walk(b.havingClause, here, null);
    this.walk(b.windowClause, here, null);
    this.walk(b.sortClause, here, null);
    this.walk(b.limitOffset, here, null);
    this.walk(b.limitCount, here, null);
    this.walk(b.distinctClause, here, null);
    for (const lc of list(b.lockingClause)) {
      // FOR UPDATE / FOR SHARE locks rows of the named (or all) tables of this level.
      const locked = list((unwrapIf(lc, 'LockingClause') as N).lockedRels);
      const keys = locked.length
        ? locked.flatMap((rv) => this.lockTarget(rv, here))
        : here.entries.flatMap((e) => e.relKeys ?? []);
      for (const k of keys) this.add({ kind: 'lock', object: k });
    }
    if (b.intoClause) this.derived.push(...unionSources(outputs));
    return outputs;
  }

  private lockTarget(rvNode: N, here: Scope): string[] {
    const rv = unwrapIf(rvNode, 'RangeVar') as N;
    const e = !rv.schemaname ? here.entries.find((x) => x.name === rv.relname) : undefined;
    if (e) return e.relKeys ?? [];
    return relationKeys(rv, this.searchPath);
  }

  withClause(w: N, outer: Scope | null, parent: CteScope | null): CteScope {
    const scope: CteScope = { names: new Map(), parent };
    const items = list(w.ctes).map((c) => unwrapIf(c, 'CommonTableExpr') as N);
    if (w.recursive) {
      // Every name is visible in every CTE of a WITH RECURSIVE (lineage of the self-reference is
      // completed through the set operation's non-recursive side).
      for (const c of items) scope.names.set(str(c.ctename, 'CTE name'), []);
    }
    for (const c of items) {
      const name = str(c.ctename, 'CTE name');
      // A non-recursive CTE sees only the CTEs before it: a reference to its own name is a table.
      const visible: Scope = { entries: [], outer, ctes: scope };
      let outs: OutputColumn[] | null;
      const [qt, qb] = unwrap(c.ctequery);
      if (qt === 'SelectStmt') outs = this.select(qb, outer, scope);
      else outs = this.statementOf(qt, qb, visible).outputs;
      let cols = outs ?? [];
      const alias = stringList(c.aliascolnames);
      if (alias.length) cols = derivedEntry(name, cols, alias).star();
      scope.names.set(name, cols);
    }
    return scope;
  }

  targetList(targets: unknown, here: Scope): OutputColumn[] {
    const outputs: OutputColumn[] = [];
    for (const t of list(targets)) {
      const rt = unwrapIf(t, 'ResTarget') as N;
      const val = rt.val as N | undefined;
      const cref = val && (val as N).ColumnRef as N | undefined;
      if (cref && isStarRef(cref)) {
        const parts = stringFields(cref.fields);
        if (!parts.length) {
          for (const e of here.entries) outputs.push(...levelStar(e));
        } else {
          const e = findLocal(here, parts);
          if (e) outputs.push(...e.star());
          else outputs.push({ name: '*', sources: resolveColumn(here, parts, true), tableColumns: false });
        }
        continue;
      }
      const out: string[] = [];
      this.walk(val, here, out);
      this.walk(rt.indirection, here, out);
      if (isIndirectionStar(val)) {
        // `(expr).*`: the fields of a composite value, as many as its type has, sent with table
        // OID 0 (even `(u).*` is refused by the proxy's catalog path as nothing names them).
        outputs.push({ name: '*', sources: dedupe(out), tableColumns: false });
        continue;
      }
      outputs.push({ name: typeof rt.name === 'string' ? rt.name : figureName(val), sources: dedupe(out) });
    }
    return outputs;
  }

  /** Adds one FROM item's entries to `here` (and its accesses to the walk). */
  fromItem(node: N, here: Scope): void {
    const [type, b] = unwrap(node);
    switch (type) {
      case 'RangeVar': {
        const alias = b.alias as N | undefined;
        const aliasCols = alias ? stringList(alias.colnames) : [];
        if (!b.schemaname) {
          const cte = findCte(here.ctes, b.relname);
          if (cte) {
            here.entries.push(derivedEntry(alias?.aliasname ?? b.relname, cte, aliasCols.length ? aliasCols : null));
            return;
          }
        }
        const keys = relationKeys(b, this.searchPath);
        for (const k of keys) this.add({ kind: 'select', object: k });
        here.entries.push(tableEntry(alias?.aliasname ?? b.relname, keys, aliasCols.length ? aliasCols : null));
        return;
      }
      case 'RangeSubselect': {
        const sub = this.lateralScope(here, !!b.lateral);
        const [qt, qb] = unwrap(b.subquery);
        if (qt !== 'SelectStmt') throw new AnalysisError(`unsupported subquery ${qt}`);
        const outs = this.select(qb, sub, here.ctes);
        const alias = b.alias as N | undefined;
        const cols = alias ? stringList(alias.colnames) : [];
        here.entries.push(derivedEntry(alias?.aliasname ?? null, outs, cols.length ? cols : null));
        return;
      }
      case 'RangeFunction': {
        // Functions in FROM see the items before them (implicitly LATERAL).
        // Every column may carry anything its arguments read (sub-selects included): a whole row
        // passed in comes out as columns (unnest, json_populate_record, json_each…) with table OID 0.
        const sub = this.lateralScope(here, true);
        const out: string[] = [];
        let fname: string | null = null;
        const functions = list(b.functions);
        // Column names when their number is known for every function; null: `*` of unknown width.
        let columns: string[] | null = [];
        for (const pair of functions) {
          const items = list((unwrapIf(pair, 'List') as N).items);
          const fn = items[0];
          if (fn) {
            this.walk(fn, sub, out);
            fname ??= figureName(fn);
          }
          this.walk(items[1], sub, null);
          // ROWS FROM (f() AS (a int), …): each function's own list; else the item's.
          const own = list((unwrapIf(items[1], 'List') as N).items);
          const defs = own.length ? own : functions.length === 1 ? list(b.coldeflist) : [];
          const cols = defs.length ? defs.map((d) => String((unwrapIf(d, 'ColumnDef') as N).colname ?? '?column?')) : this.fixedColumns(fn);
          columns = columns && cols ? columns.concat(cols) : null;
        }
        this.walk(b.coldeflist, sub, null);
        if (columns && b.ordinality) columns.push('ordinality');
        const alias = b.alias as N | undefined;
        const aliasCols = alias ? stringList(alias.colnames) : [];
        if (columns) columns = columns.map((c, i) => aliasCols[i] ?? c);
        here.entries.push(opaqueEntry(alias?.aliasname ?? fname, dedupe(out), columns));
        return;
      }
      case 'JoinExpr': {
        const start = here.entries.length;
        this.fromItem(b.larg, here);
        this.fromItem(b.rarg, here);
        this.walk(b.quals, here, null);
        const using = stringList(b.usingClause);
        let merged: OutputColumn[] = [];
        if (b.isNatural) {
          here.entries.splice(start, here.entries.length - start, ...naturalJoin(here.entries.slice(start)));
        } else if (using.length) {
          // Merged columns come first in `*`, from either side (a FULL JOIN's COALESCE of both).
          const sides = here.entries.slice(start);
          merged = using.map((c) => ({ name: c, sources: dedupe(sides.flatMap((e) => e.column(c)?.sources ?? [])) }));
          here.entries.splice(start, sides.length, mergedEntry(merged), ...sides.map((e) => usingSide(e, using)));
        }
        const alias = b.alias as N | undefined;
        const joinName = alias?.aliasname ?? (b.join_using_alias as N | undefined)?.aliasname;
        if (alias?.aliasname) {
          const inner = here.entries.splice(start);
          here.entries.push(joinEntry(alias.aliasname, inner));
        } else if (joinName) {
          // `JOIN … USING (c) AS j`: `j.*` is the merged columns; a bare `*` has them already.
          here.entries.push({ ...joinEntry(joinName, here.entries.slice(start)), star: () => merged, levelStar: () => [] });
        }
        return;
      }
      case 'RangeTableSample': {
        this.fromItem(b.relation, here);
        this.walk(b.args, here, null);
        this.walk(b.repeatable, here, null);
        return;
      }
      case 'RangeTableFunc': {
        const sub = this.lateralScope(here, true);
        const out: string[] = [];
        this.walk(b.docexpr, sub, out);
        this.walk(b.rowexpr, sub, out);
        this.walk(b.namespaces, sub, null);
        this.walk(b.columns, sub, out);
        const alias = b.alias as N | undefined;
        // XMLTABLE's COLUMNS are its result columns, one each (FOR ORDINALITY included).
        const names = list(b.columns).map((c) => String((unwrapIf(c, 'RangeTableFuncCol') as N).colname ?? '?column?'));
        const aliasCols = alias ? stringList(alias.colnames) : [];
        here.entries.push(opaqueEntry(alias?.aliasname ?? 'xmltable', dedupe(out), names.length ? names.map((c, i) => aliasCols[i] ?? c) : null));
        return;
      }
      case 'JsonTable': {
        const sub = this.lateralScope(here, true);
        const out: string[] = [];
        this.walk(b.context_item, sub, out);
        this.walk(b.passing, sub, out);
        this.walk(b.columns, sub, out);
        this.walk(b.on_error, sub, null);
        const alias = b.alias as N | undefined;
        here.entries.push(opaqueEntry(alias?.aliasname ?? 'json_table', dedupe(out)));
        return;
      }
      default:
        throw new AnalysisError(`unsupported FROM item ${type}`);
    }
  }

  /**
   * The column names of a pg_catalog set-returning function whose result shape does not depend on
   * its arguments' types; null for anything else (unnest, json_populate_record… expand a composite
   * argument into as many columns as its type has).
   */
  private fixedColumns(fn: unknown): string[] | null {
    if (!fn || typeof fn !== 'object' || !('FuncCall' in (fn as N))) return null;
    const parts = stringFields(((fn as N).FuncCall as N).funcname);
    const name = parts[parts.length - 1];
    const builtin = parts.length === 2 ? parts[0] === 'pg_catalog' : parts.length === 1 && splitPath(this.searchPath).before.length === 0;
    return builtin && name ? fixedColumnsOf(name) : null;
  }

  lateralScope(here: Scope, lateral: boolean): Scope {
    return lateral ? { entries: here.entries.slice(), outer: here.outer, ctes: here.ctes } : { entries: [], outer: here.outer, ctes: here.ctes };
  }

  private set(b: N): StatementResult {
    const k = String(b.kind ?? '');
    const name = typeof b.name === 'string' ? b.name.toLowerCase() : '';
    if (k === 'VAR_RESET_ALL') {
      this.add({ kind: 'reset', object: 'all' });
      return { kind: 'reset', outputs: null };
    }
    if (k === 'VAR_RESET') {
      this.add({ kind: 'reset', object: name });
      if (name === 'search_path') this.newSearchPath = 'reset';
      return { kind: 'reset', outputs: null };
    }
    if (!name) throw new AnalysisError('SET without a parameter name');
    if (k === 'VAR_SET_MULTI' && name === 'transaction') {
      // SET TRANSACTION …: this transaction's modes, like BEGIN's options.
      this.add({ kind: 'transaction' });
      this.readWrite(b.args, 'transaction_read_only');
      return { kind: 'transaction', outputs: null };
    }
    if (k === 'VAR_SET_MULTI' && name === 'session characteristics') {
      // SET SESSION CHARACTERISTICS AS TRANSACTION …: the session defaults, i.e. default_transaction_*.
      for (const o of list(b.args)) {
        const d = unwrapIf(o, 'DefElem');
        this.add({ kind: 'set', object: `default_${String(d.defname ?? 'transaction')}` });
      }
      if (!list(b.args).length) this.add({ kind: 'set', object: 'session_characteristics' });
      return { kind: 'set', outputs: null };
    }
    if (name === 'role' || name === 'session_authorization') {
      this.add({ kind: 'set', object: name, exact: true });
      return { kind: 'set', outputs: null };
    }
    if (name === 'client_encoding') {
      this.literalSensitive = true;
      checkClientEncoding(k === 'VAR_SET_VALUE' ? constString(list(b.args)[0]) : null);
    }
    if (name === 'standard_conforming_strings') {
      this.literalSensitive = true;
      checkConformingStrings(k === 'VAR_SET_VALUE' ? constText(list(b.args)[0]) : null);
    }
    if (name === 'search_path') {
      this.literalSensitive = true;
      if (k === 'VAR_SET_VALUE') {
        const path = list(b.args).map((a) => constString(a));
        if (path.some((p) => p === null)) throw new AnalysisError('SET search_path to a value that is not a list of names');
        this.newSearchPath = (path as string[]).filter((x) => x !== ''); // '' names no schema
      } else {
        this.newSearchPath = 'reset';
      }
    }
    this.add({ kind: 'set', object: name });
    return { kind: 'set', outputs: null };
  }

  /**
   * pg_dump's `SELECT set_config(name, …) FROM pg_settings WHERE name = 'x'`: the name column of the
   * only row there can be is 'x'.
   */
  private settingFromRow(arg: unknown): string | null {
    const row = this.settingsRow;
    if (!row || !arg || typeof arg !== 'object' || !('ColumnRef' in (arg as N))) return null;
    const fields = list(((arg as N).ColumnRef as N).fields);
    const parts = stringFields(fields);
    if (parts.length !== fields.length) return null;
    return row.refs.some((r) => r.length === parts.length && r.every((x, i) => x === parts[i])) ? row.name : null;
  }

  /**
   * READ WRITE in BEGIN / START TRANSACTION / SET TRANSACTION lifts a read-only session default
   * (default_transaction_read_only): it is a `set` of transaction_read_only, not plain transaction control.
   */
  private readWrite(options: unknown, setting: string): void {
    for (const o of list(options)) {
      const d = unwrapIf(o, 'DefElem');
      if (d.defname !== 'transaction_read_only') continue;
      this.literalSensitive = true; // READ ONLY / READ WRITE arrive as a constant
      const c = unwrapIf(d.arg, 'A_Const');
      const on = c.ival && typeof c.ival.ival === 'number' && c.ival.ival !== 0;
      if (!on) this.add({ kind: 'set', object: setting });
    }
  }

  /**
   * set_config(name, value, is_local) is SET by another name: besides the exact call, it is a `set`
   * of the setting it names, so allowing the function never allows `set_config('role', …)`.
   */
  private setConfig(args: N[]): void {
    this.literalSensitive = true;
    const name = constString(args[0]) ?? this.settingFromRow(args[0]);
    if (name === null) throw new AnalysisError('set_config with a setting name that is not a constant');
    const setting = name.toLowerCase();
    if (setting === 'client_encoding') checkClientEncoding(constString(args[1]));
    if (setting === 'standard_conforming_strings') checkConformingStrings(constString(args[1]));
    if (setting === 'search_path') {
      const v = constString(args[1]);
      if (v === null) throw new AnalysisError('set_config of search_path to a value that is not a constant');
      // Whether a function call runs at all depends on the rows and conditions around it: later
      // names may resolve through either path, so every schema of both is a candidate.
      const before = Array.isArray(this.newSearchPath) ? this.newSearchPath : this.searchPath;
      this.newSearchPath = [...new Set([...parseSearchPath(v), ...before])];
    }
    const exact = setting === 'role' || setting === 'session_authorization';
    this.add(exact ? { kind: 'set', object: setting, exact: true } : { kind: 'set', object: setting });
  }

  // ---------------------------------------------------------------- expressions and the generic walk

  /**
   * Walks any value of the tree: records accesses, and pushes the column sources it reads into
   * `out` (null when lineage is not needed).
   */
  walk(v: unknown, scope: Scope | null, out: string[] | null): void {
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (const x of v) this.walk(x, scope, out);
      return;
    }
    const o = v as N;
    // A wrapped node is an object with exactly one key, capitalised (struct fields never are).
    let only: string | undefined;
    let count = 0;
    for (const k in o) {
      if (++count > 1) break;
      only = k;
    }
    if (count === 1) {
      const c = only!.charCodeAt(0);
      if (c >= 65 && c <= 90) {
        if (LEAF_NODES.has(only!)) return;
        this.node(only!, o[only!] as N, scope, out);
        return;
      }
    }
    // An unwrapped struct: recognise the ones that carry meaning by their shape.
    if (typeof o.relname === 'string' && 'relpersistence' in o) {
      this.fromItem({ RangeVar: o }, { entries: [], outer: scope, ctes: scope?.ctes ?? null });
      return;
    }
    if (Array.isArray(o.funcname) && 'funcformat' in o) {
      this.node('FuncCall', o, scope, out);
      return;
    }
    if (Array.isArray(o.ctes)) {
      // A WITH clause met outside a statement handler: walk its queries for their accesses.
      this.withClause(o, scope, scope?.ctes ?? null);
      return;
    }
    for (const k in o) this.walk(o[k], scope, out);
  }

  private node(type: string, b: N, scope: Scope | null, out: string[] | null): void {
    if (++this.depth > MAX_DEPTH) throw new AnalysisError('expression nested too deeply');
    try {
      this.nodeInner(type, b, scope, out);
    } finally {
      this.depth--;
    }
  }

  private nodeInner(type: string, b: N, scope: Scope | null, out: string[] | null): void {
    switch (type) {
      case 'ColumnRef': {
        if (out) {
          const fields = list(b.fields);
          const star = fields.length > 0 && isStar(fields[fields.length - 1]);
          out.push(...resolveColumn(scope, stringFields(fields), star));
        }
        return;
      }
      case 'FuncCall': {
        if (!Array.isArray(b.funcname)) throw new AnalysisError('function call without a name');
        const fnAccesses = functionAccesses(nameParts(b.funcname), this.searchPath);
        for (const a of fnAccesses) {
          this.add(a);
          if (a.object === 'pg_catalog.set_config') this.setConfig(list(b.args));
          const seqKind = a.object !== undefined ? SEQUENCE_FUNCTIONS.get(a.object) : undefined;
          if (seqKind) this.sequenceArg(seqKind, list(b.args)[0]);
        }
        if (fnAccesses.some((a) => a.kind === 'call')) {
          // Not a pure built-in: a side effect (pg_notify, setval, advisory locks, set_config) or a
          // function whose body is not seen. Values passed to it may leave by another channel or be
          // stored, so their sources count as stored elsewhere (masked ones are denied).
          const args: string[] = [];
          this.walk(b.args, scope, args);
          this.derived.push(...args);
          if (out) out.push(...args);
        } else {
          this.walk(b.args, scope, out);
        }
        this.walk(b.agg_order, scope, out);
        this.walk(b.agg_filter, scope, out);
        this.walk(b.over, scope, out);
        return;
      }
      case 'A_Expr': {
        // BETWEEN's "name" is the keyword, not an operator (it expands to pg_catalog's >= and <=).
        if (!String(b.kind ?? '').startsWith('AEXPR_BETWEEN') && !String(b.kind ?? '').startsWith('AEXPR_NOT_BETWEEN')) this.operator(b.name);
        this.walk(b.lexpr, scope, out);
        this.walk(b.rexpr, scope, out);
        return;
      }
      case 'SortBy': {
        this.operator(b.useOp);
        this.walk(b.node, scope, out);
        return;
      }
      case 'SubLink': {
        this.operator(b.operName);
        this.walk(b.testexpr, scope, out);
        const [qt, qb] = unwrap(b.subselect);
        if (qt !== 'SelectStmt') throw new AnalysisError(`unsupported sub-query ${qt}`);
        const outs = this.select(qb, scope, scope?.ctes ?? null);
        if (out) out.push(...unionSources(outs));
        return;
      }
      case 'SelectStmt': {
        const outs = this.select(b, scope, scope?.ctes ?? null);
        if (out) out.push(...unionSources(outs));
        return;
      }
      case 'RangeVar':
      case 'RangeSubselect':
      case 'RangeFunction':
      case 'JoinExpr':
      case 'RangeTableSample':
      case 'RangeTableFunc':
      case 'JsonTable':
        this.fromItem({ [type]: b }, { entries: [], outer: scope, ctes: scope?.ctes ?? null });
        return;
      case 'WithClause':
        this.withClause(b, scope, scope?.ctes ?? null);
        return;
      case 'CommonTableExpr':
        throw new AnalysisError('CTE outside a WITH clause');
      default:
        if (EXPRESSION_NODES.has(type)) {
          for (const k in b) this.walk(b[k], scope, out);
          return;
        }
        if (type.endsWith('Stmt')) {
          const r = this.statementOf(type, b, scope);
          if (out && r.outputs) out.push(...unionSources(r.outputs));
          return;
        }
        throw new AnalysisError(`unsupported node ${type}`);
    }
  }

  /** nextval('s') / setval('s', …) / currval('s'): the sequence named by a constant is an access too. */
  private sequenceArg(kind: Kind, arg: unknown): void {
    const text = constantName(arg);
    if (text === null) return;
    this.literalSensitive = true;
    const parts = qualifiedName(text);
    if (!parts) return;
    const rv: RangeVarLike = parts.length >= 2
      ? { schemaname: parts[parts.length - 2]!, relname: parts[parts.length - 1]!, relpersistence: 'p' }
      : { relname: parts[0]!, relpersistence: 'p' };
    for (const k of relationKeys(rv, this.searchPath)) this.add({ kind, object: k });
  }

  /** An operator that is not pg_catalog's (`|~|`, `OPERATOR(app.===)`) runs a user function. */
  private operator(name: unknown): void {
    const parts = stringFields(name);
    if (!parts.length) return;
    for (const a of operatorAccesses(parts, this.searchPath)) this.add(a);
  }

  relKeysOf(rvNode: unknown): string[] {
    return relationKeys(unwrapIf(rvNode, 'RangeVar') as N, this.searchPath);
  }

  createdKeyOf(rv: N | undefined): string {
    return createdKey(rv, this.searchPath);
  }

  createdNameOf(parts: string[]): string {
    return createdName(parts, this.searchPath);
  }
}

// ---------------------------------------------------------------- helpers








function isStar(f: unknown): boolean {
  return !!f && typeof f === 'object' && 'A_Star' in (f as N);
}

/** `(expr).*` in a target list. */
function isIndirectionStar(val: N | undefined): boolean {
  const ind = val && (val as N).A_Indirection as N | undefined;
  const fields = ind ? list(ind.indirection) : [];
  return fields.length > 0 && isStar(fields[fields.length - 1]);
}

function isStarRef(cref: N): boolean {
  const fields = list(cref.fields);
  return fields.length > 0 && isStar(fields[fields.length - 1]);
}

function findLocal(here: Scope, parts: string[]): Entry | undefined {
  const name = parts[parts.length - 1];
  const schema = parts.length >= 2 ? parts[parts.length - 2] : null;
  for (let s: Scope | null = here; s; s = s.outer) {
    const e = s.entries.find((x) => (schema ? !!x.relKeys?.includes(qualify(schema, name!)) : x.name === name));
    if (e) return e;
  }
  return undefined;
}

function hasInto(b: N): boolean {
  return !!b.intoClause;
}

export function dedupeAccesses(accesses: Access[]): Access[] {
  const seen = new Set<string>();
  const out: Access[] = [];
  for (const a of accesses) {
    const key = `${a.kind}\u0000${a.object ?? ''}\u0000${a.exact ? 1 : 0}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(a);
  }
  return out;
}
