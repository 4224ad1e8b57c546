// What of a result may reach the client: the mask plan of each RowDescription (by the statement's
// lineage and by the result columns' table OIDs through the catalog), the DataRow rewrite, the
// withholding of upstream error and notice texts that can quote masked values, and the COPY check
// (COPY has no RowDescription: a COPY … TO of a relation with masked columns, by the catalog, is
// denied before it runs). Where the guard cannot tell, it refuses rather than leaks.

import { LruMap } from '../cache.js';
import { buildMaskPlan, maskDataRow, MaskPlanError, type MaskPlan, type MaskRules } from '../pg/mask-plan.js';
import * as P from '../pg/protocol.js';
import type { Decision, StatementDecision } from '../policy/types.js';
import type { ConnectionDeps } from './deps.js';
import { qualify, splitQualified } from '../sql/qualified.js';

/** A plan being applied to a result's rows, with the result's column formats. */
export interface ActivePlan {
  plan: MaskPlan;
  formats: readonly number[];
}

type GuardDeps = Pick<
  ConnectionDeps,
  'engine' | 'catalog' | 'views' | 'schema' | 'objectHasMasks' | 'masksConfigured' | 'maskKey' | 'maskValue'
>;

export class ResultGuard {
  private readonly planCache = new LruMap<string, MaskPlan | null>(500);
  private planEpoch = 0;
  private readonly maskRules: MaskRules;

  constructor(private readonly deps: GuardDeps) {
    this.maskRules = {
      maskForColumn: (schema, table, column) => deps.engine.maskForColumn(schema, table, column),
      tableHasMasks: (schema, table) => this.tableHasMasks(schema, table),
    };
  }

  /**
   * The mask plan for a RowDescription (`body`) of statement `s`: synchronously when cached, else a
   * promise. A failed lookup rejects: the result must then be refused (failureReason says why).
   */
  plan(body: Buffer, s: StatementDecision | undefined): MaskPlan | null | Promise<MaskPlan | null> {
    const lineage = s?.masked ?? [];
    if (this.deps.masksConfigured === false && lineage.length === 0) return null;
    const key = lineage.length
      ? `${body.toString('latin1')}\u0000${lineage.map((m) => `${m.index}:${m.strategy}:${m.column}`).join(',')}`
      : body.toString('latin1');
    const schema = this.deps.schema;
    if (schema && schema.epoch !== this.planEpoch) {
      this.planCache.clear();
      this.planEpoch = schema.epoch;
    }
    const cached = this.planCache.get(key);
    if (cached !== undefined) return cached;
    return buildMaskPlan(P.decodeRowDescription(body), lineage, this.deps.catalog, this.maskRules, this.deps.views).then((plan) => {
      this.planCache.set(key, plan);
      return plan;
    });
  }

  /** A DataRow with the plan's columns masked. */
  mask(f: P.BackendFrame, a: ActivePlan): Buffer {
    return maskDataRow(f.body, a.plan, a.formats, this.deps.maskKey, this.deps.maskValue);
  }

  /**
   * An upstream ErrorResponse/NoticeResponse as the client may see it. For a statement that touches
   * masked data, texts that can quote values are withheld (the message unless its class is
   * value-free, and always detail, hint, context); the SQLSTATE and the other fields stay.
   */
  scrub(f: P.BackendFrame, s: StatementDecision | undefined): Buffer {
    const has = this.deps.objectHasMasks;
    if (!has) return f.raw;
    const touches = !s || s.masked.length > 0 || s.accesses.some((a) => a.object !== undefined && has(a.object));
    if (!touches) return f.raw;
    const fields = P.decodeErrorFields(f.body);
    const code = fields.get('C') ?? 'XX000';
    const out = new Map<string, string>();
    for (const [k, v] of fields) if (!'DHWq'.includes(k)) out.set(k, v);
    if (!VALUE_FREE.has(code.slice(0, 2)) && code !== '42501') {
      out.set('M', `tollgate: the upstream message is withheld because the statement touches masked data (SQLSTATE ${code})`);
    }
    return P.fieldsMessage(f.code === P.B.NoticeResponse ? 'N' : 'E', out);
  }

  /** Why a COPY … TO in `d` would stream masked values, or null. */
  copyMasked(d: Decision): Promise<string | null> | string | null {
    if (this.deps.masksConfigured === false) return null;
    const objects = new Set<string>();
    for (const s of d.statements) {
      if (!s.accesses.some((a) => a.kind === 'copy_to')) continue;
      if (s.masked.length) return 'COPY cannot mask columns; the statement reads masked columns';
      for (const a of s.accesses) {
        // The relations it reads (calls are decided as calls, as for SELECT).
        if ((a.kind !== 'select' && a.kind !== 'copy_to') || a.object === undefined) continue;
        if (a.object.startsWith('program:') || a.object.startsWith('file:')) continue;
        objects.add(a.object);
      }
    }
    const checks: Promise<string | null>[] = [];
    for (const o of objects) {
      const parts = splitQualified(o);
      if (parts.length !== 2 || !parts[0] || !parts[1]) return `COPY cannot mask columns; ${o} cannot be checked for masked columns`;
      const [schema, table] = parts as [string, string];
      const views = this.deps.views;
      if (!views?.readsByName) {
        // No catalog to ask: any mask pattern that may cover the table refuses it.
        if (this.tableHasMasks(schema, table)) return `COPY cannot mask columns; ${o} may have masked columns`;
        continue;
      }
      // The catalog says which columns the relation hands out (a view: the columns it reads).
      checks.push(
        views.readsByName(schema, table).then(
          (reads) => {
            if (reads === null) return this.tableHasMasks(schema, table) ? `COPY cannot mask columns; ${o} may have masked columns` : null;
            return reads.some((x) => this.originMasked(x.schema, x.table, x.column)) ? `COPY cannot mask columns; ${o} has or reads masked columns` : null;
          },
          (err: Error) => `COPY: the masked-column check of ${o} failed (${err.message})`,
        ),
      );
    }
    if (checks.length === 0) return null;
    return Promise.all(checks).then((rs) => rs.find((r) => r !== null) ?? null);
  }

  private tableHasMasks(schema: string, table: string): boolean {
    return this.deps.objectHasMasks ? this.deps.objectHasMasks(qualify(schema, table)) : true;
  }

  private originMasked(schema: string, table: string, column: string | null): boolean {
    return column === null ? this.tableHasMasks(schema, table) : this.deps.engine.maskForColumn(schema, table, column) !== null;
  }
}

/** Why a mask plan could not be built, as the refusal says it. */
export function planFailureReason(err: unknown): string {
  return err instanceof MaskPlanError ? err.message : `mask plan failed: ${(err as Error).message}`;
}

/**
 * SQLSTATE classes whose messages cannot quote data values (connection, transaction state and
 * rollback, resources and limits, operator intervention, system errors). Every other class can:
 * data exceptions and integrity violations quote values, and even "object" errors do when a value
 * is used as a name (`email::regclass` → 3F000 schema "<value>", `current_setting(email)` → 42704).
 * So for a statement touching masked data, only these keep their message (and 42501).
 */
const VALUE_FREE = new Set(['08', '25', '40', '53', '54', '55', '57', '58']);
