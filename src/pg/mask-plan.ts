// Which result columns to mask, computed once per RowDescription, and the DataRow rewrite.
//
// A column is masked when the statement's lineage says so (computed columns: `lower(email)`,
// `row_to_json(u)`) OR when its (table OID, attribute number) resolves through the upstream catalog
// to a column a policy mask covers. A lookup that fails makes the plan fail: the proxy then refuses
// the result instead of guessing (fail closed).

import type { MaskStrategy, MaskedOutput } from '../policy/types.js';
import { dataRow, decodeDataRow, type FieldDescription } from './protocol.js';
import type { ViewOriginsLike } from './view-origins.js';
import { qualify } from '../sql/qualified.js';

export interface CatalogLike {
  resolve(tableOid: number, attnum: number): Promise<{ schema: string; table: string; column: string } | null>;
}

export interface MaskRules {
  maskForColumn(schema: string, table: string, column: string): { strategy: MaskStrategy; column: string } | null;
  /** Whether any mask may cover a column of schema.table (for whole-row reads). Default: yes. */
  tableHasMasks?(schema: string, table: string): boolean;
}

/** Stricter strategies win when a value mixes several masked columns. */
const STRICTNESS: Record<MaskStrategy, number> = { partial: 0, hash: 1, redact: 2, null: 3 };

export type MaskValueFn = (strategy: MaskStrategy, value: Buffer | null, format: 0 | 1, typeOid: number, key: Buffer) => Buffer | null;

/** Per result column: how to mask it, or null to pass it through. */
export interface MaskPlan {
  columns: ({ strategy: MaskStrategy; typeOid: number } | null)[];
  /** Indexes of masked columns (non-empty: a plan with nothing to mask is represented as null). */
  maskedIndexes: number[];
  /** For the audit log: which output names were masked and by which policy column. */
  masked: Pick<MaskedOutput, 'name' | 'strategy' | 'column'>[];
}

export class MaskPlanError extends Error {
  readonly code = 'ERR_MASK_PLAN';
  constructor(message: string) {
    super(message);
    this.name = 'MaskPlanError';
  }
}

/**
 * Builds the plan for one RowDescription. Returns null when nothing is masked. Throws
 * MaskPlanError when a column's origin cannot be established.
 */
export async function buildMaskPlan(
  fields: FieldDescription[],
  lineage: readonly MaskedOutput[],
  catalog: CatalogLike,
  rules: MaskRules,
  views?: ViewOriginsLike,
): Promise<MaskPlan | null> {
  const columns: MaskPlan['columns'] = [];
  const masked: MaskPlan['masked'] = [];
  const maskedIndexes: number[] = [];
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const fromLineage = lineage.find((m) => m.index === i);
    let found: { strategy: MaskStrategy; column: string } | null = fromLineage
      ? { strategy: fromLineage.strategy, column: fromLineage.column }
      : null;
    if (!found && f.tableOid !== 0 && f.attnum > 0) {
      let origin: { schema: string; table: string; column: string } | null;
      try {
        origin = await catalog.resolve(f.tableOid, f.attnum);
      } catch (err) {
        throw new MaskPlanError(`cannot resolve result column "${f.name}" (${(err as Error).message})`);
      }
      if (!origin) throw new MaskPlanError(`cannot resolve result column "${f.name}" in the upstream catalog`);
      found = rules.maskForColumn(origin.schema, origin.table, origin.column);
      if (!found && views) found = await maskFromView(f, views, rules);
    }
    if (found) {
      columns.push({ strategy: found.strategy, typeOid: f.typeOid });
      masked.push({ name: f.name, strategy: found.strategy, column: found.column });
      maskedIndexes.push(i);
    } else {
      columns.push(null);
    }
  }
  return maskedIndexes.length ? { columns, maskedIndexes, masked } : null;
}

/** The result format of column `i` given Bind's result-format list (PostgreSQL's rules). */
export function formatOf(formats: readonly number[], i: number): 0 | 1 {
  const f = formats.length === 0 ? 0 : formats.length === 1 ? formats[0]! : (formats[i] ?? 0);
  return f === 1 ? 1 : 0;
}

/** Rewrites the masked fields of one DataRow body; returns the whole new message. */
export function maskDataRow(body: Buffer, plan: MaskPlan, formats: readonly number[], key: Buffer, maskValue: MaskValueFn): Buffer {
  const values = decodeDataRow(body);
  if (values.length !== plan.columns.length) {
    throw new MaskPlanError(`DataRow has ${values.length} columns, RowDescription had ${plan.columns.length}`);
  }
  for (const i of plan.maskedIndexes) {
    const c = plan.columns[i]!;
    values[i] = maskValue(c.strategy, values[i]!, formatOf(formats, i), c.typeOid, key);
  }
  return dataRow(values);
}

/** A column of a view: masked (strictest strategy) when the view reads any masked column. */
async function maskFromView(f: FieldDescription, views: ViewOriginsLike, rules: MaskRules): Promise<{ strategy: MaskStrategy; column: string } | null> {
  let origins;
  try {
    origins = await views.origins(f.tableOid);
  } catch (err) {
    throw new MaskPlanError(`cannot tell what result column "${f.name}" reads (${(err as Error).message})`);
  }
  if (!origins) return null;
  let best: { strategy: MaskStrategy; column: string } | null = null;
  for (const o of origins) {
    const m = o.column !== null
      ? rules.maskForColumn(o.schema, o.table, o.column)
      : (rules.tableHasMasks?.(o.schema, o.table) ?? true)
        ? { strategy: 'redact' as const, column: `${qualify(o.schema, o.table)}.*` }
        : null;
    if (m && (!best || STRICTNESS[m.strategy] > STRICTNESS[best.strategy])) best = m;
  }
  return best;
}
