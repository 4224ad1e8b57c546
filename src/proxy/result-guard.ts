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

const REACH = { masked: 1, hiddenOnRead: 2, hiddenOnWrite: 4, ownMasks: 8 } as const;

/** Accesses through which a statement reads (or writes) a relation's rows. */
const RELATION_KINDS = new Set(['select', 'insert', 'update', 'delete', 'merge', 'truncate', 'copy_to', 'copy_from', 'lock', 'explain']);

export class ResultGuard {
  private readonly planCache = new LruMap<string, MaskPlan | null>(500);
  private planEpoch = 0;
  /**
   * Per relation (`schema.name`), as the catalog answered, REACH bits: it reads masked data (its
   * own masked columns, a view's or a partition's), reading it runs code the proxy cannot see into
   * (a view calling functions), writing it does (triggers, rules). Dropped when the schema changes.
   */
  private readonly reach = new LruMap<string, number>(2000);
  private reachEpoch = 0;
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
   * Whether statement `s` may reach masked data: its own lineage, an object a mask may cover, a
   * relation that reaches masked data through the catalog (a view, a materialized view, a
   * partitioned parent) or runs code the proxy cannot see into (triggers, rules, functions), or a
   * call of such code. Unknown counts as yes. Without masks: never.
   */
  touches(s: StatementDecision | undefined): boolean {
    const has = this.deps.objectHasMasks;
    if (!has) return false;
    if (!s || s.masked.length > 0) return true;
    const viaCatalog = this.deps.views?.readsByName !== undefined;
    if (viaCatalog) this.checkEpoch();
    for (const a of s.accesses) {
      if (a.object === undefined) continue;
      if (has(a.object)) return true;
      if (a.kind === 'call') {
        if (a.exact === true || !a.object.startsWith('pg_catalog.')) return true;
        continue;
      }
      if (viaCatalog && RELATION_KINDS.has(a.kind) && isRelation(a.object) && this.reach.get(a.object) !== 0) return true;
    }
    return false;
  }

  /**
   * Reads what the catalog says about the relations `d` uses that it has not answered yet, so that
   * touches() and storesMasked() can answer at once. Null when nothing is left to ask.
   */
  learn(d: Decision): Promise<void> | null {
    const views = this.deps.views;
    if (!this.deps.objectHasMasks || !views?.readsByName) return null;
    this.checkEpoch();
    const ask = new Set<string>();
    for (const s of d.statements) {
      for (const a of s.accesses) {
        if (a.object !== undefined && RELATION_KINDS.has(a.kind) && isRelation(a.object) && this.reach.get(a.object) === undefined) ask.add(a.object);
      }
      for (const src of s.derived ?? []) {
        const rel = relationOf(src);
        if (rel !== null && this.reach.get(rel) === undefined) ask.add(rel);
      }
    }
    if (ask.size === 0) return null;
    const epoch = this.reachEpoch;
    return Promise.all(
      [...ask].map(async (o) => {
        const dot = o.indexOf('.');
        const schema = o.slice(0, dot);
        const table = o.slice(dot + 1);
        let reaches = 0;
        try {
          const reads = await views.readsByName!(schema, table);
          if (this.tableHasMasks(schema, table)) reaches |= REACH.ownMasks;
          // Through another relation (a view's origins, a partition's parents): masked data under
          // another name, which the policy's by-name checks of copies cannot see.
          if (reads !== null && reads.some((x) => (x.schema !== schema || x.table !== table) && this.originMasked(x.schema, x.table, x.column))) {
            reaches |= REACH.masked;
          }
          const hidden = views.runsHiddenCode ? await views.runsHiddenCode(schema, table) : { onRead: false, onWrite: false };
          if (hidden.onRead) reaches |= REACH.hiddenOnRead;
          if (hidden.onWrite) reaches |= REACH.hiddenOnWrite;
        } catch {
          return; // not remembered: unknown counts as reaching masked data
        }
        if (epoch === this.reachEpoch) this.reach.set(o, reaches);
      }),
    ).then(() => undefined);
  }

  /**
   * A source `s` stores elsewhere or hands to a side effect (its `derived`) whose relation reaches
   * masked data by the catalog (a view or partitioned parent of a masked column), or null.
   */
  storesMasked(s: StatementDecision): string | null {
    if (!s.derived || !this.deps.objectHasMasks || !this.deps.views?.readsByName) return null;
    this.checkEpoch();
    for (const src of s.derived) {
      const rel = relationOf(src);
      const r = rel === null ? 0 : this.reach.get(rel);
      if (r === undefined || (r & (REACH.masked | REACH.hiddenOnRead)) !== 0) return rel;
    }
    return null;
  }

  private checkEpoch(): void {
    const schema = this.deps.schema;
    if (schema && schema.epoch !== this.reachEpoch) {
      this.reach.clear();
      this.reachEpoch = schema.epoch;
    }
  }

  /**
   * An upstream ErrorResponse/NoticeResponse as the client may see it. For a statement that may
   * reach masked data (touches(); `touched`: or its transaction did), texts that can quote values
   * are withheld (the message unless its class is value-free, and always detail, hint, context);
   * the SQLSTATE and the other fields stay.
   */
  scrub(f: P.BackendFrame, s: StatementDecision | undefined, touched = false): Buffer {
    if (!this.deps.objectHasMasks) return f.raw;
    if (!touched && !this.touches(s)) return f.raw;
    const fields = P.decodeErrorFields(f.body);
    const code = fields.get('C') ?? 'XX000';
    const out = new Map<string, string>();
    for (const [k, v] of fields) if (!'DHWq'.includes(k)) out.set(k, v);
    if (!VALUE_FREE.has(code.slice(0, 2)) && code !== '42501') {
      out.set('M', `tollgate: the upstream message is withheld because the statement touches masked data (SQLSTATE ${code})`);
    }
    return P.fieldsMessage(f.code === P.B.NoticeResponse ? 'N' : 'E', out);
  }

  /**
   * A NotificationResponse as the client may see it: its payload is withheld (the channel stays)
   * when it may carry masked data — sent by another backend (lineage unknown), or raised in a
   * transaction that reached masked data (a trigger may have sent it).
   */
  scrubNotification(f: P.BackendFrame, ownPid: number, touched: boolean): Buffer {
    if (!this.deps.objectHasMasks) return f.raw;
    const pid = f.body.readInt32BE(0);
    if (pid === ownPid && !touched) return f.raw;
    const end = f.body.indexOf(0, 4);
    if (end < 0) return f.raw.subarray(0, 0); // malformed: nothing of it
    const channel = f.body.subarray(4, end);
    return new P.MessageWriter().int32(pid).bytes(channel).byte(0).cstring('').flush('A');
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

/** `schema.name` of a relation (not `program:`, `file:` or `type:` objects, not unqualified). */
function isRelation(object: string): boolean {
  const dot = object.indexOf('.');
  return dot > 0 && !object.includes(':');
}

/** The relation of a lineage source `schema.table.column` or `schema.table.*`. */
function relationOf(source: string): string | null {
  const last = source.lastIndexOf('.');
  if (last <= 0) return null;
  const rel = source.slice(0, last);
  return isRelation(rel) ? rel : null;
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
