// Output columns: their names as PostgreSQL figures them, and how set operations combine them.
import type { OutputColumn } from './types.js';
import { dedupe, unionSources } from './scope.js';
import { type N, list, stringFields, unwrap, unwrapIf } from './ast.js';

/** UNION/INTERSECT/EXCEPT: column i comes from column i of each side; misaligned → everything. */
export function mergeSetOp(left: OutputColumn[], right: OutputColumn[]): OutputColumn[] {
  const aligned = left.length === right.length && !left.some((c) => c.name === '*') && !right.some((c) => c.name === '*');
  if (aligned) return left.map((c, i) => ({ name: c.name, sources: dedupe(c.sources.concat(right[i]!.sources)) }));
  const all = unionSources(left.concat(right));
  return left.length ? left.map((c) => ({ name: c.name, sources: all })) : [{ name: '*', sources: all }];
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
