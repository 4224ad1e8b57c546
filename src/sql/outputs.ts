// Output columns: their names as PostgreSQL figures them, and how set operations combine them.
import type { OutputColumn } from './types.js';
import { dedupe, unionSources } from './scope.js';
import { type N, list, stringFields, unwrap, unwrapIf } from './ast.js';

/**
 * UNION/INTERSECT/EXCEPT: column i comes from column i of each side; misaligned → everything. The
 * server sends set-operation results with table OID 0, so a `*` here is never a table's columns.
 */
export function mergeSetOp(left: OutputColumn[], right: OutputColumn[]): OutputColumn[] {
  const aligned = left.length === right.length && !left.some((c) => c.name === '*') && !right.some((c) => c.name === '*');
  if (aligned) return left.map((c, i) => ({ name: c.name, sources: dedupe(c.sources.concat(right[i]!.sources)) }));
  const all = unionSources(left.concat(right));
  const misaligned = (c: OutputColumn): OutputColumn => (c.name === '*' ? { name: '*', sources: all, tableColumns: false } : { name: c.name, sources: all });
  return left.length ? left.map(misaligned) : [{ name: '*', sources: all, tableColumns: false }];
}

/**
 * pg_catalog set-returning functions whose columns do not depend on their arguments' types
 * (non-polymorphic results): a `*` over them has a known width. Anything else in FROM may expand a
 * composite argument (unnest of a row array, json_populate_record) into any number of columns.
 */
const FIXED_COLUMNS = new Map<string, readonly string[]>();
for (const f of ['json_each', 'jsonb_each', 'json_each_text', 'jsonb_each_text']) FIXED_COLUMNS.set(f, ['key', 'value']);
for (const f of ['json_array_elements', 'jsonb_array_elements', 'json_array_elements_text', 'jsonb_array_elements_text']) FIXED_COLUMNS.set(f, ['value']);
for (const f of ['json_object_keys', 'jsonb_object_keys', 'jsonb_path_query', 'regexp_split_to_table', 'string_to_table', 'regexp_matches', 'generate_series', 'generate_subscripts']) FIXED_COLUMNS.set(f, [f]);

export function fixedColumnsOf(fn: string): string[] | null {
  const cols = FIXED_COLUMNS.get(fn);
  return cols ? cols.slice() : null;
}


/** The column name PostgreSQL would give an expression (FigureColname, the common cases). */
export function figureName(v: unknown): string {
  if (!v || typeof v !== 'object') return '?column?';
  const [t, b] = unwrap(v);
  switch (t) {
    case 'ColumnRef': {
      const f = stringFields(b.fields);
      return f.length ? f[f.length - 1]! : '?column?';
    }
    case 'FuncCall': {
      const f = stringFields(b.funcname);
      return f.length ? f[f.length - 1]! : '?column?';
    }
    case 'A_Indirection': {
      const f = stringFields(b.indirection);
      return f.length ? f[f.length - 1]! : figureName(b.arg);
    }
    case 'TypeCast': {
      const inner = figureName(b.arg);
      if (inner !== '?column?') return inner;
      const f = stringFields((b.typeName as N | undefined)?.names);
      return f.length ? f[f.length - 1]! : '?column?';
    }
    case 'CaseExpr':
      return 'case';
    case 'A_ArrayExpr':
      return 'array';
    case 'RowExpr':
      return 'row';
    case 'CoalesceExpr':
      return 'coalesce';
    case 'MinMaxExpr':
      return b.op === 'IS_LEAST' ? 'least' : 'greatest';
    case 'GroupingFunc':
      return 'grouping';
    case 'SubLink':
      if (b.subLinkType === 'EXISTS_SUBLINK') return 'exists';
      if (b.subLinkType === 'ARRAY_SUBLINK') return 'array';
      if (b.subLinkType === 'EXPR_SUBLINK') {
        const sel = unwrapIf(b.subselect, 'SelectStmt');
        const first = list(sel.targetList)[0];
        if (first) {
          const rt = unwrapIf(first, 'ResTarget');
          return typeof rt.name === 'string' ? rt.name : figureName(rt.val);
        }
      }
      return '?column?';
    default:
      return '?column?';
  }
}
