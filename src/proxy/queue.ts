// The queue that routes upstream responses to the requests they answer. Every forwarded request
// that produces a response gets an item; the proxy's own answers (denials) are items too, emitted
// when they reach the head, so they land in the right place of the response stream. Upstream
// frames are forwarded as they come; only the messages the proxy must see are looked at
// (RowDescription and DataRow for masking, CommandComplete/ErrorResponse for the audit log,
// ReadyForQuery for the transaction status).
//
// - A result the proxy refuses after the upstream ran the statement (mask plan failed, result
//   columns unknown) ends with an error; the rest of the result is read and dropped (not cancelled:
//   a late cancel could hit the next statement) and nothing more reaches the client until
//   ReadyForQuery. Messages the client pipelined behind it up to Sync were already forwarded and
//   still run (each was decided and allowed on its own); the error's detail says so, so the client
//   is not told they were skipped. (Holding every pipeline until each result is known would cost a
//   round trip per statement; COPY TO of masked columns, the common case, is denied before it runs.)
// - COPY IN: PostgreSQL ignores Sync and Flush during COPY IN, so those get no item.

import type { Refusal } from '../pg/errors.js';
import { deniedRefusal, ProtocolError, SQLSTATE } from '../pg/errors.js';
import type { MaskPlan } from '../pg/mask-plan.js';
import { parseNameArray } from '../pg/name-array.js';
import * as P from '../pg/protocol.js';
import { isUtf8Name } from '../pg/startup-params.js';
import type { StatementDecision } from '../policy/types.js';
import type { AuditTrail, Req } from './audit-trail.js';
import type { ConnectionDeps } from './deps.js';
import type { NameUse, Portal, SessionNames, Stmt } from './names.js';
import { planFailureReason, type ActivePlan, type ResultGuard } from './result-guard.js';
import { mayRunSql, type SearchPath } from './search-path.js';

/** What the rooms of a connection need of its sockets (ProxyConnection implements it). */
export interface Wire {
  /** The connection has ended (or is ending with a FATAL). */
  readonly ended: boolean;
  sendClient(buf: Buffer): void;
  sendUpstream(buf: Buffer): void;
  flush(): void;
  /** A FATAL error to the client, then close. */
  fatal(r: Refusal): void;
}

export type Item =
  | { t: 'local'; make: () => Buffer[] }
  | { t: 'query'; reqs: Req[]; idx: number; active: ActivePlan | null }
  | { t: 'parse'; stmt: Stmt; prev: Stmt | undefined; req: Req }
  | { t: 'describeS'; stmt: Stmt; injected: boolean }
  /** `injected`: the proxy's own, after a Bind of a statement that uses a name; builds the portal's mask plan. */
  | { t: 'describeP'; portal: Portal; injected?: boolean }
  | { t: 'bind' }
  | { t: 'close' }
  /** `ignorable`: sent after an Execute that may start COPY IN, which makes the server ignore it. */
  | { t: 'sync'; ignorable?: boolean }
  | { t: 'execute'; portal: Portal; req: Req; active: ActivePlan | null; started: boolean }
  /** The proxy's own `current_schemas(false)` lookup: nothing of it reaches the client. */
  | { t: 'lookup'; schemas: string[] | null; failed: boolean; done: () => void };

export interface Rooms {
  names: SessionNames;
  path: SearchPath;
  guard: ResultGuard;
  trail: AuditTrail;
}

export class ResponseQueue {
  readonly items: Item[] = [];
  /** The transaction status the upstream last reported. */
  txStatus: 'I' | 'T' | 'E' = 'I';
  /** After an error in an extended-protocol batch: drop client messages until Sync. */
  skipUntilSync = false;
  /** Drop every upstream message until ReadyForQuery (a result the proxy refused to pass on). */
  private suppressUntilReady = false;
  /**
   * The upstream is in COPY IN (CopyInResponse seen, CommandComplete/ErrorResponse not yet): it
   * ignores Sync and Flush then, so they must not get an item.
   */
  copyIn = false;
  /** An Execute of COPY FROM was forwarded and the client has not ended the copy yet. */
  copyExpected = false;
  /** Extended-protocol messages were forwarded since the last Sync. */
  extendedOpen = false;
  /**
   * A statement of the current transaction may have reached masked data (ResultGuard.touches): a
   * message raised later (at COMMIT, by a deferred trigger or constraint) is judged by it.
   */
  private txTouched = false;
  /** The upstream backend's process id: notifications from others carry payloads of unknown lineage. */
  backendPid = 0;
  /** DDL ran since the last ReadyForQuery outside a transaction block (see readyForQuery). */
  private schemaChangedInBlock = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly wire: Wire,
    private readonly rooms: Rooms,
    private readonly schema: ConnectionDeps['schema'],
  ) {}

  /** Whether a forwarded request still waits for its answer. */
  get busy(): boolean {
    return this.items.some((i) => i.t !== 'local');
  }

  forward(raw: Buffer, item: Item): void {
    if (!this.txTouched) {
      if (item.t === 'query') this.txTouched = item.reqs.some((r) => this.rooms.guard.touches(r.decision));
      else if (item.t === 'execute') this.txTouched = this.rooms.guard.touches(item.req.decision);
    }
    this.wire.sendUpstream(raw);
    this.items.push(item);
    if (item.t !== 'query' && item.t !== 'sync' && item.t !== 'lookup' && item.t !== 'local') this.extendedOpen = true;
  }

  /** A local answer, emitted in order with the upstream's. */
  enqueueLocal(make: () => Buffer[]): void {
    this.items.push({ t: 'local', make });
    this.emitLocalHead();
  }

  /**
   * Whether a forwarded statement that has not completed yet (re)defines or drops the name `uses`
   * names: until it completes, what the name stands for on the server is not known.
   */
  redefining(uses: NameUse): boolean {
    for (const it of this.items) {
      if (it.t === 'query') {
        for (let i = it.idx; i < it.reqs.length; i++) if (affectsName(it.reqs[i]!.decision, uses)) return true;
      } else if (it.t === 'execute' && affectsName(it.req.decision, uses)) {
        return true;
      }
    }
    return false;
  }

  /** Resolves once every forwarded request has been answered (or the connection ended). */
  async waitIdle(): Promise<void> {
    while (this.items.length > 0 && !this.wire.ended) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /** The connection ends: nobody waits any more. */
  wakeAll(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  private emitLocalHead(): void {
    if (this.suppressUntilReady) return; // dropped with the refused batch when ReadyForQuery comes
    while (this.items.length && this.items[0]!.t === 'local') {
      const item = this.items.shift() as Extract<Item, { t: 'local' }>;
      for (const b of item.make()) this.wire.sendClient(b);
    }
  }

  /** Wakes whoever waits for every forwarded request to be answered. */
  private checkIdle(): void {
    if (this.items.length === 0 && this.idleWaiters.length) this.wakeAll();
  }

  onBackend(f: P.BackendFrame): Promise<void> | void {
    const code = f.code;
    // Asynchronous messages can arrive at any time.
    if (code === P.B.NoticeResponse || code === P.B.NotificationResponse) {
      if (this.suppressUntilReady) return;
      const guard = this.rooms.guard;
      this.wire.sendClient(code === P.B.NoticeResponse ? guard.scrub(f, this.currentDecision(), this.txTouched) : guard.scrubNotification(f, this.backendPid, this.txTouched));
      return;
    }
    if (code === P.B.ParameterStatus) {
      const { name, value } = P.decodeParameterStatus(f.body);
      if (name === 'client_encoding' && !isUtf8Name(value)) {
        // Defense in depth: the policy refuses such a SET; if one got through, stop here.
        this.wire.fatal({ code: SQLSTATE.rejectedConnection, message: `tollgate: client_encoding changed to ${value}; only UTF8 is allowed` });
        return;
      }
      this.wire.sendClient(f.raw);
      return;
    }
    this.emitLocalHead();
    const item = this.items[0];
    if (!item) {
      if (code === P.B.ErrorResponse) {
        // e.g. FATAL from an administrator's pg_terminate_backend: pass it on; the close follows.
        this.wire.sendClient(f.raw);
        return;
      }
      throw new ProtocolError(`unexpected upstream message '${String.fromCharCode(code)}' with no request pending`);
    }
    if (this.suppressUntilReady) {
      if (code !== P.B.ReadyForQuery) return;
      // Everything up to this ReadyForQuery is dropped, the expectations with it.
      let i = 0;
      while (i < this.items.length) {
        const t = this.items[i++]!.t;
        if (t === 'sync' || t === 'query') break;
      }
      this.items.splice(0, i);
      this.checkIdle();
      this.txStatus = P.decodeReadyForQuery(f.body);
      if (this.txStatus === 'I') this.txTouched = false;
      this.suppressUntilReady = false;
      this.wire.sendClient(f.raw);
      this.emitLocalHead();
      return;
    }
    if (code === P.B.CopyInResponse) this.enterCopyIn();
    else if (code === P.B.ErrorResponse || code === P.B.CommandComplete) this.copyIn = false;
    switch (item.t) {
      case 'query':
        return this.onQueryResponse(item, f);
      case 'sync':
        if (code !== P.B.ReadyForQuery) throw new ProtocolError(`unexpected '${String.fromCharCode(code)}' before ReadyForQuery`);
        this.readyForQuery(f);
        return;
      case 'local':
        throw new ProtocolError('a local answer is waiting behind nothing');
      case 'lookup':
        return this.onLookupResponse(item, f);
      default:
        return this.onExtendedResponse(item, f);
    }
  }

  /**
   * The upstream entered COPY IN: the Syncs the client sent after the Execute that started it were
   * read during the copy and ignored, so no ReadyForQuery answers them.
   */
  private enterCopyIn(): void {
    this.copyIn = true;
    for (let i = this.items.length - 1; i > 0; i--) {
      const it = this.items[i]!;
      if (it.t === 'sync' && it.ignorable) this.items.splice(i, 1);
    }
  }

  private readyForQuery(f: P.BackendFrame): void {
    const status = P.decodeReadyForQuery(f.body);
    this.rooms.path.transactionStatus(this.txStatus, status);
    // DDL inside a transaction block is invisible to the proxy's catalog connection until it
    // commits: read the schema again when the block ends (once more after autocommitted DDL).
    if (this.schemaChangedInBlock && status === 'I') {
      this.schemaChangedInBlock = false;
      this.schema?.changed();
    }
    this.copyExpected = false;
    this.txStatus = status;
    if (status === 'I') this.txTouched = false;
    this.suppressUntilReady = false;
    this.wire.sendClient(f.raw);
    this.popItem();
  }

  private popItem(): void {
    this.items.shift();
    this.emitLocalHead();
    this.checkIdle();
  }

  private onLookupResponse(item: Extract<Item, { t: 'lookup' }>, f: P.BackendFrame): void {
    switch (f.code) {
      case P.B.DataRow: {
        const v = P.decodeDataRow(f.body)[0];
        const parsed = v ? parseNameArray(v.toString('utf8')) : null;
        if (parsed) item.schemas = parsed;
        else item.failed = true;
        return;
      }
      case P.B.ErrorResponse:
        item.failed = true;
        return;
      case P.B.ReadyForQuery:
        this.txStatus = P.decodeReadyForQuery(f.body);
        this.popItem();
        item.done();
        return;
      default:
        return; // RowDescription, CommandComplete: the proxy's own, not the client's
    }
  }

  private onQueryResponse(item: Extract<Item, { t: 'query' }>, f: P.BackendFrame): Promise<void> | void {
    const req = item.reqs[item.idx];
    switch (f.code) {
      case P.B.RowDescription:
        return this.planFor(f, req?.decision, (plan) => {
          item.active = plan ? { plan, formats: P.decodeRowDescription(f.body).map((x) => x.format) } : null;
          if (plan && req) req.masked = plan.masked;
          this.wire.sendClient(f.raw);
        });
      case P.B.DataRow:
        if (item.active) this.wire.sendClient(this.rooms.guard.mask(f, item.active));
        else this.wire.sendClient(f.raw);
        return;
      case P.B.CommandComplete:
      case P.B.EmptyQueryResponse:
        if (req) {
          if (f.code === P.B.CommandComplete) {
            req.rows = P.rowsFromTag(P.decodeCommandComplete(f.body));
            this.rooms.names.remember(req.decision, req.path);
          }
          this.finishReq(req);
        }
        item.idx++;
        item.active = null;
        this.wire.sendClient(f.raw);
        return;
      case P.B.ErrorResponse:
        if (req) this.finishReq(req, P.decodeErrorFields(f.body).get('C'));
        item.idx = item.reqs.length; // the rest of the message does not run
        item.active = null;
        this.wire.sendClient(this.rooms.guard.scrub(f, req?.decision, this.txTouched));
        return;
      case P.B.ReadyForQuery:
        this.readyForQuery(f);
        return;
      case P.B.CopyOutResponse:
      case P.B.CopyBothResponse:
        if (req?.decision && req.decision.masked.length) {
          this.refuseResult('COPY cannot mask columns; the statement reads masked columns');
          return;
        }
        this.wire.sendClient(f.raw);
        return;
      default:
        // CopyInResponse, CopyData, CopyDone and the like flow through.
        this.wire.sendClient(f.raw);
        return;
    }
  }

  private onExtendedResponse(item: Exclude<Item, { t: 'query' | 'sync' | 'local' | 'lookup' }>, f: P.BackendFrame): Promise<void> | void {
    const code = f.code;
    if (code === P.B.ErrorResponse) {
      this.onExtendedError(item, f);
      return;
    }
    switch (item.t) {
      case 'parse':
        if (code !== P.B.ParseComplete) throw unexpected(code, 'Parse');
        this.wire.sendClient(f.raw);
        this.popItem();
        return;
      case 'bind':
        if (code !== P.B.BindComplete) throw unexpected(code, 'Bind');
        this.wire.sendClient(f.raw);
        this.popItem();
        return;
      case 'close':
        if (code !== P.B.CloseComplete) throw unexpected(code, 'Close');
        this.wire.sendClient(f.raw);
        this.popItem();
        return;
      case 'describeS':
        if (code === P.B.ParameterDescription) {
          if (!item.injected) this.wire.sendClient(f.raw);
          return;
        }
        if (code === P.B.NoData) {
          item.stmt.plan = null;
          if (!item.injected) this.wire.sendClient(f.raw);
          this.popItem();
          return;
        }
        if (code !== P.B.RowDescription) throw unexpected(code, 'Describe');
        return this.planFor(
          f,
          item.stmt.decision,
          (plan) => {
            item.stmt.plan = plan;
            if (!item.injected) this.wire.sendClient(f.raw);
            this.popItem();
          },
          (reason) => {
            // Remember the failure: an Execute of this statement will be refused.
            item.stmt.plan = undefined;
            item.stmt.planError = reason;
            if (!item.injected) this.wire.sendClient(f.raw);
            this.popItem();
            return true;
          },
        );
      case 'describeP': {
        if (!item.injected) {
          if (code !== P.B.NoData && code !== P.B.RowDescription) throw unexpected(code, 'Describe');
          // The plan (from the injected Describe of the statement or portal) covers the columns; pass it on.
          this.wire.sendClient(f.raw);
          this.popItem();
          return;
        }
        const own = item.portal.stmt;
        if (code === P.B.NoData) {
          own.plan = null;
          this.popItem();
          return;
        }
        if (code !== P.B.RowDescription) throw unexpected(code, 'Describe');
        return this.planFor(
          f,
          own.decision,
          (plan) => {
            own.plan = plan;
            this.popItem();
          },
          (reason) => {
            own.planError = reason;
            this.popItem();
            return true;
          },
        );
      }
      case 'execute':
        return this.onExecuteResponse(item, f);
    }
  }

  private onExecuteResponse(item: Extract<Item, { t: 'execute' }>, f: P.BackendFrame): void {
    const code = f.code;
    if (!item.started) {
      item.started = true;
      const stmt = item.portal.stmt;
      if (code === P.B.DataRow || code === P.B.CopyOutResponse || code === P.B.CopyBothResponse) {
        if (stmt.planError !== undefined || stmt.plan === undefined) {
          this.refuseResult(stmt.planError ?? 'the result columns of this statement are unknown');
          return;
        }
        if (code !== P.B.DataRow && (stmt.plan || stmt.decision?.masked.length)) {
          this.refuseResult('COPY cannot mask columns; the statement reads masked columns');
          return;
        }
        if (stmt.plan) {
          item.active = { plan: stmt.plan, formats: item.portal.formats };
          item.req.masked = stmt.plan.masked;
        }
      }
    }
    switch (code) {
      case P.B.DataRow:
        this.wire.sendClient(item.active ? this.rooms.guard.mask(f, item.active) : f.raw);
        return;
      case P.B.CommandComplete:
        item.req.rows = P.rowsFromTag(P.decodeCommandComplete(f.body));
        this.rooms.names.remember(item.portal.stmt.decision, item.req.path);
        this.finishReq(item.req);
        this.wire.sendClient(f.raw);
        this.popItem();
        return;
      case P.B.PortalSuspended:
      case P.B.EmptyQueryResponse:
        this.finishReq(item.req);
        this.wire.sendClient(f.raw);
        this.popItem();
        return;
      default:
        // CopyIn/CopyOut responses and COPY data.
        this.wire.sendClient(f.raw);
        return;
    }
  }

  private onExtendedError(item: Exclude<Item, { t: 'query' | 'sync' | 'local' | 'lookup' }>, f: P.BackendFrame): void {
    const sqlstate = P.decodeErrorFields(f.body).get('C');
    if (item.t === 'execute') this.finishReq(item.req, sqlstate);
    if (item.t === 'parse') this.finishReq(item.req, sqlstate);
    const decision =
      item.t === 'execute' || item.t === 'describeP' ? item.portal.stmt.decision : item.t === 'parse' || item.t === 'describeS' ? item.stmt.decision : undefined;
    this.wire.sendClient(this.rooms.guard.scrub(f, decision, this.txTouched));
    // The upstream now skips everything up to Sync: so do the expectations.
    let i = 0;
    while (i < this.items.length && this.items[i]!.t !== 'sync') {
      const it = this.items[i]!;
      if (it.t === 'parse') this.rooms.names.parseSkipped(it.stmt, it.prev);
      i++;
    }
    this.items.splice(0, i);
    if (this.items.length === 0) this.skipUntilSync = true;
    this.checkIdle();
  }

  /**
   * Computes the mask plan for a RowDescription, synchronously when cached. On failure the result
   * is refused (`onFail` may take over instead and return true).
   */
  private planFor(
    f: P.BackendFrame,
    s: StatementDecision | undefined,
    then: (plan: MaskPlan | null) => void,
    onFail?: (reason: string) => boolean,
  ): Promise<void> | void {
    const planned = this.rooms.guard.plan(f.body, s);
    if (!(planned instanceof Promise)) {
      then(planned);
      return;
    }
    return planned.then(
      (plan) => {
        then(plan);
        this.wire.flush();
      },
      (err: unknown) => {
        const reason = planFailureReason(err);
        if (onFail?.(reason)) return;
        this.refuseResult(reason);
      },
    );
  }

  /** The decision of the statement the upstream is working on, if any. */
  private currentDecision(): StatementDecision | undefined {
    const head = this.items[0];
    if (!head) return undefined;
    if (head.t === 'query') return head.reqs[head.idx]?.decision;
    if (head.t === 'execute') return head.portal.stmt.decision;
    return undefined;
  }

  /** Whether requests behind the current one, up to the next Sync/ReadyForQuery, were already forwarded. */
  private runsBehind(): boolean {
    const head = this.items[0];
    if (head?.t === 'query') return head.idx < head.reqs.length - 1;
    for (let i = 1; i < this.items.length; i++) {
      const t = this.items[i]!.t;
      if (t === 'sync' || t === 'query') return false;
      if (t !== 'local' && t !== 'lookup') return true;
    }
    return false;
  }

  /** The proxy will not pass this result on: an error now, and nothing more until ReadyForQuery. */
  private refuseResult(reason: string): void {
    const r = deniedRefusal(null, `result refused: ${reason}`);
    if (this.runsBehind()) {
      // The client pipelined more behind it: those messages were forwarded and still run.
      r.detail = `${r.detail}; messages sent after this statement before Sync were already forwarded and may have run`;
    }
    this.wire.sendClient(P.errorResponse({ severity: 'ERROR', ...r }));
    this.suppressUntilReady = true;
    const head = this.items[0];
    if (head && (head.t === 'execute' || head.t === 'query')) {
      const req = head.t === 'execute' ? head.req : head.reqs[head.idx];
      if (req) this.rooms.trail.statement(req.sql, req.decision, req.time, req.start, { decision: 'deny', reason: r.message, approval: req.approval });
      if (head.t === 'query') head.idx = head.reqs.length;
    }
    // No CancelRequest here: a cancel is asynchronous and could land on the client's next
    // statement instead. The rest of the result is read and dropped.
  }

  private finishReq(req: Req, sqlstate?: string): void {
    if (!sqlstate && req.decision && this.schema && changesSchema(req.decision)) {
      this.schema.changed();
      // Inside a transaction block (known or opened by the same message) the change is not
      // visible to the catalog connection yet: read again once the block has ended.
      this.schemaChangedInBlock = true;
    }
    this.rooms.trail.statement(req.sql, req.decision, req.time, req.start, {
      approval: req.approval,
      masked: req.masked,
      rows: req.rows,
      sqlstate,
    });
  }
}

/** Whether `s` defines, drops or forgets the prepared statement or cursor `uses` names. */
function affectsName(s: StatementDecision | undefined, uses: NameUse): boolean {
  if (!s) return false;
  if (s.defines && s.defines.namespace === uses.namespace && s.defines.name === uses.name) return true;
  return s.accesses.some(
    (a) => (a.kind === 'deallocate' && (a.object === undefined || a.object === uses.name)) || (a.kind === 'reset' && a.object === 'all') || mayRunSql(a),
  );
}

/** Statements after which the catalog may name columns differently. */
function changesSchema(s: StatementDecision): boolean {
  return s.accesses.some((a) => a.kind === 'create' || a.kind === 'alter' || a.kind === 'drop');
}

function unexpected(code: number, what: string): ProtocolError {
  return new ProtocolError(`unexpected upstream message '${String.fromCharCode(code)}' in answer to ${what}`);
}
