// Client requests after authentication: each frontend message is decided (Query and Parse by the
// policy engine), then forwarded as its raw bytes, refused locally, or held for review.
//
// - A denied statement never reaches the upstream. Its ReadyForQuery carries the status the
//   upstream last reported: a denial inside a transaction leaves the transaction usable ('T'),
//   where a server-side error would have put it in 'E'. In an extended-protocol batch the messages
//   before the denied Parse have already run and are kept (PostgreSQL would roll back the implicit
//   transaction); the rest of the batch up to Sync is skipped, as after a server error.
// - Every Parse is followed by a Describe of the proxy's own (its answer is not forwarded), so
//   the result columns of a prepared statement are known even when the client never describes it.
// - Bind/Describe/Execute of a statement or portal the proxy did not see parsed (SQL PREPARE and
//   DECLARE share those namespaces) are refused: the proxy cannot vouch for what they run.
// - Before a decision or Bind, a search path that may have moved is read again (search-path.ts);
//   inside an unsynced extended-protocol batch that cannot be done, so such a Parse/Bind is refused.
// - When the audit log reports a write error, every new statement is denied.
// - Session expiry is checked at Query, Parse and Execute (a statement prepared before expiry does
//   not run after it). FunctionCall is always refused.

import { performance } from 'node:perf_hooks';
import type { AuditEntry } from '../audit/types.js';
import { deniedRefusal, ProtocolError, sessionExpiredRefusal, type Refusal } from '../pg/errors.js';
import * as P from '../pg/protocol.js';
import type { Decision, StatementDecision } from '../policy/types.js';
import type { Req } from './audit-trail.js';
import type { ConnectionDeps } from './deps.js';
import type { NameUse, Portal, Stmt } from './names.js';
import type { Item, ResponseQueue, Rooms, Wire } from './queue.js';
import { review } from './review.js';
import { mayRunSql, preparedElsewhere } from './search-path.js';

type Query = Extract<P.FrontendMessage, { type: 'query' }>;
type Parse = Extract<P.FrontendMessage, { type: 'parse' }>;
type Refuse = (r: Refusal, s: StatementDecision | undefined, approval?: AuditEntry['approval']) => void;

export class Requests {
  private readonly names: Rooms['names'];
  private readonly path: Rooms['path'];
  private readonly trail: Rooms['trail'];
  private readonly guard: Rooms['guard'];

  constructor(
    private readonly wire: Wire & { close(): void },
    private readonly queue: ResponseQueue,
    rooms: Rooms,
    private readonly deps: ConnectionDeps,
    private readonly signal: AbortSignal,
  ) {
    this.names = rooms.names;
    this.path = rooms.path;
    this.trail = rooms.trail;
    this.guard = rooms.guard;
  }

  onMessage(m: P.FrontendMessage): Promise<void> | void {
    const q = this.queue;
    if (q.skipUntilSync && m.type !== 'sync' && m.type !== 'terminate') return;
    switch (m.type) {
      case 'query':
        return this.onQuery(m);
      case 'parse':
        return this.onParse(m);
      case 'bind':
        return this.onBind(m);
      case 'describe':
        return this.onDescribe(m);
      case 'execute':
        return this.onExecute(m);
      case 'close':
        this.names.closed(m.target, m.name);
        q.forward(m.raw, { t: 'close' });
        return;
      case 'sync':
        if (q.copyIn) {
          // PostgreSQL ignores a Sync during COPY IN (libpq sends one): no answer will come.
          this.wire.sendUpstream(m.raw);
          return;
        }
        q.skipUntilSync = false;
        if (q.copyExpected) {
          // Whether the server ignores it depends on whether the COPY starts: decided at CopyInResponse.
          q.forward(m.raw, { t: 'sync', ignorable: true });
          return;
        }
        q.forward(m.raw, { t: 'sync' });
        q.extendedOpen = false;
        return;
      case 'copyDone':
      case 'copyFail':
        q.copyIn = false;
        q.copyExpected = false;
        this.wire.sendUpstream(m.raw);
        return;
      case 'flush':
      case 'copyData':
        // COPY data carries no SQL; the COPY statement itself was decided at Query/Parse.
        this.wire.sendUpstream(m.raw);
        return;
      case 'terminate':
        this.wire.sendUpstream(m.raw);
        this.wire.flush();
        this.wire.close();
        return;
      case 'functionCall': {
        const refusal = deniedRefusal(null, 'the function-call protocol message is not allowed');
        this.trail.simple('(function call message)', 'deny', null, refusal.message);
        q.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...refusal }), P.readyForQuery(q.txStatus)]);
        return;
      }
      default:
        throw new ProtocolError(`unexpected ${m.type} message after startup`);
    }
  }

  private expired(): boolean {
    const now = this.deps.now ? this.deps.now() : new Date();
    return now.getTime() >= this.deps.config.session.expiresAt.getTime();
  }

  /** An allowed statement is about to be forwarded: what it may change of the session's state. */
  private noteRun(s: StatementDecision | undefined): void {
    if (!s) return;
    if (s.accesses.some((a) => a.kind === 'copy_from')) this.queue.copyExpected = true;
    this.path.noteStatement(s);
    this.names.forgetShadowed(s);
    // A function or DO block can PREPARE, DEALLOCATE and open cursors through dynamic SQL: what the
    // session's names stand for is not known any more.
    if (s.accesses.some(mayRunSql)) this.names.forgetDefinitions(s.uses);
  }

  /**
   * Before deciding: refuse while the audit log cannot be written; wait for a schema reload still
   * running after DDL; if the search path may have changed, wait for everything in flight, then read
   * it from the upstream. Returns a refusal when it cannot be known (changed inside an unsynced
   * extended-protocol pipeline).
   */
  private readyToDecide(): Promise<Refusal | null> | Refusal | null {
    if (this.deps.audit.writeError) return deniedRefusal(null, 'audit log unavailable');
    // After DDL, which tables are partitions of which is being read again (a table may have just
    // become a partition of a masked one): decide with the new answer, not the old one.
    const settling = this.deps.schema?.settling?.();
    if (settling) return settling.then(() => this.readyToDecide(), () => this.readyToDecide());
    if (!this.path.needsLookup) return null;
    if (this.queue.extendedOpen) {
      return deniedRefusal(null, 'the search path may have changed inside this pipeline; send Sync before the next statement');
    }
    return this.refreshSearchPath().then(() => null);
  }

  private async refreshSearchPath(): Promise<void> {
    await this.queue.waitIdle();
    if (this.wire.ended) return;
    let done!: () => void;
    const answered = new Promise<void>((r) => (done = r));
    const item: Extract<Item, { t: 'lookup' }> = { t: 'lookup', schemas: null, failed: false, done };
    this.queue.forward(P.query('SELECT pg_catalog.current_schemas(false)'), item);
    this.wire.flush();
    await answered;
    // In a failed transaction the lookup fails too: keep the last known path (only ROLLBACK can run).
    if (!item.failed && item.schemas) this.path.looked(item.schemas);
  }

  /** Decides; never throws (an engine failure is a denial). */
  private decide(sql: string): Decision {
    try {
      const d = this.deps.engine.decide(sql, { definitions: this.names.lookupDefinition, searchPath: this.path.current });
      this.path.noteNamed(sql, d.statements);
      const wider = this.path.widenFor(d);
      if (wider === null) return d;
      if (!Array.isArray(wider)) return denyAll(sql, wider.deny);
      return this.deps.engine.decide(sql, { definitions: this.names.lookupDefinition, searchPath: wider });
    } catch (err) {
      return denyAll(sql, `the statement could not be analysed (${(err as Error).message})`);
    }
  }

  private onQuery(m: Query): Promise<void> | void {
    const ready = this.readyToDecide();
    if (ready === null) return this.onQueryDecide(m);
    const go = (r: Refusal | null): Promise<void> | void => {
      if (this.wire.ended) return;
      if (r === null) return this.onQueryDecide(m);
      this.trail.simple(m.sql, 'deny', null, r.message);
      this.queue.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r }), P.readyForQuery(this.queue.txStatus)]);
    };
    return ready instanceof Promise ? ready.then(go) : go(ready);
  }

  private onQueryDecide(m: Query): Promise<void> | void {
    const time = new Date().toISOString();
    const start = performance.now();
    if (this.expired()) {
      const r = sessionExpiredRefusal(this.deps.config.session.expiresAt);
      this.trail.simple(m.sql, 'deny', null, 'session expired');
      this.queue.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r }), P.readyForQuery(this.queue.txStatus)]);
      return;
    }
    const decided = this.sessionChecks(this.decide(m.sql));
    if (!(decided instanceof Promise)) return this.onQueryDecided(m, decided, time, start);
    return decided.then((d) => {
      if (this.wire.ended) return;
      const r = this.onQueryDecided(m, d, time, start);
      this.wire.flush();
      return r;
    });
  }

  private onQueryDecided(m: Query, d: Decision, time: string, start: number): Promise<void> | void {
    const q = this.queue;
    const proceed = (approval?: AuditEntry['approval']): void => {
      const reqs: Req[] = d.statements.map((s, i) => ({ time, start, sql: s.sql, decision: s, approval, path: this.path.at(d.statements, i) }));
      for (const s of d.statements) this.noteRun(s);
      q.forward(m.raw, { t: 'query', reqs, idx: 0, active: null });
    };
    const refuse = (r: Refusal, approval?: AuditEntry['approval']): void => {
      // A reviewed statement keeps its decision `review`; the approval says how it ended.
      const decision = approval ? 'review' : 'deny';
      for (const s of d.statements) this.trail.statement(s.sql, s, time, start, { decision, approval, reason: r.message });
      if (d.statements.length === 0) this.trail.simple(m.sql, 'deny', null, r.message);
      q.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r }), P.readyForQuery(q.txStatus)]);
    };
    if (d.decision === 'allow') return proceed();
    const deciding = decidingStatement(d);
    if (d.decision === 'deny' || !deciding) return refuse(deniedRefusal(deciding?.rule ?? null, deciding?.reason ?? 'denied'));
    return review(this.deps, this.trail.redacted(m.sql), deciding, this.signal).then(({ approved, approval, refusal }) => {
      if (this.wire.ended) return;
      if (approved && this.expired()) return refuse(sessionExpiredRefusal(this.deps.config.session.expiresAt), approval);
      if (approved) proceed(approval);
      else refuse(refusal!, approval);
      this.wire.flush();
    });
  }

  private onParse(m: Parse): Promise<void> | void {
    const ready = this.readyToDecide();
    if (ready === null) return this.onParseDecide(m);
    const go = (r: Refusal | null): Promise<void> | void => {
      if (this.wire.ended) return;
      if (r === null) return this.onParseDecide(m);
      this.refuseExtended(m.sql, r);
    };
    return ready instanceof Promise ? ready.then(go) : go(ready);
  }

  private onParseDecide(m: Parse): Promise<void> | void {
    const time = new Date().toISOString();
    const start = performance.now();
    const refuse: Refuse = (r, s, approval) => {
      if (s) this.trail.statement(m.sql, s, time, start, { decision: approval ? 'review' : 'deny', approval, reason: r.message });
      else this.trail.simple(m.sql, 'deny', null, r.message);
      this.queue.skipUntilSync = true;
      this.queue.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r })]);
    };
    if (this.expired()) return refuse(sessionExpiredRefusal(this.deps.config.session.expiresAt), undefined);
    const decided = this.sessionChecks(this.decide(m.sql));
    if (!(decided instanceof Promise)) return this.onParseDecided(m, decided, time, start, refuse);
    return decided.then((d) => {
      if (this.wire.ended) return;
      const r = this.onParseDecided(m, d, time, start, refuse);
      this.wire.flush();
      return r;
    });
  }

  private onParseDecided(m: Parse, d: Decision, time: string, start: number, refuse: Refuse): Promise<void> | void {
    const s = d.statements.length === 1 ? d.statements[0]! : decidingStatement(d);
    const path = this.path.key();
    const proceed = (approval?: AuditEntry['approval']): void => {
      if (this.names.statementExists(m.name)) {
        // The server would refuse it (42P05) — but a Bind pipelined behind it is read before that
        // answer comes: answering here keeps every portal bound to the statement the server uses (F20).
        const why = `prepared statement "${m.name}" already exists`;
        if (s) this.trail.statement(m.sql, s, time, start, { decision: 'error', approval, reason: why, sqlstate: '42P05' });
        else this.trail.simple(m.sql, 'error', null, why);
        this.queue.skipUntilSync = true;
        this.queue.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', code: '42P05', message: why })]);
        return;
      }
      const stmt: Stmt = { name: m.name, sql: m.sql, decision: s, plan: undefined, path, gen: this.names.generation(s?.uses) };
      const prev = this.names.parsed(stmt);
      this.queue.forward(m.raw, { t: 'parse', stmt, prev, req: { time, start, sql: m.sql, decision: s, approval, path } });
      // Learn the result columns now: a client may Bind/Execute without ever asking Describe.
      if (this.deps.masksConfigured === false) stmt.plan = null;
      else this.queue.forward(P.describe('S', m.name), { t: 'describeS', stmt, injected: true });
    };
    if (d.decision === 'allow') return proceed();
    if (d.decision === 'deny' || !s) return refuse(deniedRefusal(s?.rule ?? null, s?.reason ?? 'denied'), s);
    // `review`: Parse (and Bind) change nothing upstream, so they are forwarded unreviewed; the
    // review happens at each Execute, where one approval covers exactly that one execution (F18).
    return proceed();
  }

  /**
   * What the policy cannot see but the session can: an EXECUTE of a statement PREPAREd under another
   * search path, a COPY TO of a table (or a view of one) with masked columns (COPY has no
   * RowDescription to mask by). Either turns the decision into a denial.
   */
  private sessionChecks(d: Decision): Decision | Promise<Decision> {
    if (d.decision === 'deny') return d;
    const st = d.statements;
    for (const s of st) {
      if (s.uses && this.queue.redefining(s.uses)) return denied(d, s, redefiningReason(s.uses));
    }
    for (const [i, s] of st.entries()) {
      if (s.uses?.namespace !== 'prepared') continue;
      const name = s.uses.name;
      let defined = this.names.preparedPath(name);
      for (let j = 0; j < i; j++) if (st[j]!.defines?.namespace === 'prepared' && st[j]!.defines!.name === name) defined = this.path.at(st, j);
      const r = preparedElsewhere(name, defined, this.path.at(st, i));
      if (r) return denied(d, s, r.message.replace(/^tollgate: denied: /, ''), r.detail);
    }
    // What the catalog says of the relations it uses (views, partitions, hidden code): learnt once.
    const learning = this.guard.learn(d);
    return learning ? learning.then(() => this.catalogChecks(d)) : this.catalogChecks(d);
  }

  /** sessionChecks, once the guard knows the relations `d` uses. */
  private catalogChecks(d: Decision): Decision | Promise<Decision> {
    for (const s of d.statements) {
      const rel = this.guard.storesMasked(s);
      if (rel !== null) {
        return denied(d, s, `the statement stores data read through ${rel}, which reads masked columns, elsewhere or hands it to a side effect, where it would be readable unmasked`);
      }
    }
    const copy = this.guard.copyMasked(d);
    if (copy === null) return d;
    const toDecision = (why: string | null): Decision => (why === null ? d : denied(d, undefined, `result refused: ${why}`));
    return copy instanceof Promise ? copy.then(toDecision) : toDecision(copy);
  }

  /** A reference to a statement or portal the proxy never saw (e.g. made by SQL PREPARE/DECLARE): refused. */
  private refuseUnknown(what: string): void {
    const r = deniedRefusal(null, `${what} was not prepared through the extended protocol; the gateway cannot vouch for it`);
    this.refuseExtended(`(${what})`, r);
  }

  private refuseExtended(sql: string, r: Refusal): void {
    this.trail.simple(sql, 'deny', null, r.message);
    this.queue.skipUntilSync = true;
    this.queue.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r })]);
  }

  private onBind(m: Extract<P.FrontendMessage, { type: 'bind' }>): Promise<void> | void {
    const stmt = this.names.statement(m.statement);
    if (!stmt) return this.refuseUnknown(`prepared statement "${m.statement}"`);
    // The server plans the statement again at Bind when the search path changed since Parse.
    const ready = this.readyToDecide();
    if (ready === null) return this.onBindChecked(m, stmt);
    const go = (r: Refusal | null): Promise<void> | void => {
      if (this.wire.ended) return;
      if (r === null) return this.onBindChecked(m, stmt);
      this.refuseExtended(stmt.sql, r);
    };
    return ready instanceof Promise ? ready.then(go) : go(ready);
  }

  private onBindChecked(m: Extract<P.FrontendMessage, { type: 'bind' }>, stmt: Stmt): Promise<void> | void {
    const r = preparedElsewhere(stmt.name || '(unnamed)', stmt.path, this.path.key());
    if (r) return this.refuseExtended(stmt.sql, r);
    const uses = stmt.decision?.uses;
    if (uses) return this.bindUsing(m, stmt, uses);
    const portal: Portal = { name: m.portal, stmt, formats: m.resultFormats };
    this.names.bound(portal);
    this.queue.forward(m.raw, { t: 'bind' });
  }

  /**
   * Bind of a statement that runs a prepared statement or cursor by name (EXECUTE p, FETCH c): the
   * name may stand for another definition than at Parse. Decided again when its generation moved
   * on; the portal gets a copy of the statement whose mask plan comes from the portal's own
   * description (a Describe of the proxy's own), so the columns masked are the ones it returns.
   */
  private bindUsing(m: Extract<P.FrontendMessage, { type: 'bind' }>, stmt: Stmt, uses: NameUse): Promise<void> | void {
    if (this.queue.redefining(uses)) return this.refuseExtended(stmt.sql, deniedRefusal(null, redefiningReason(uses)));
    const gen = this.names.generation(uses);
    const bind = (decision: StatementDecision | undefined): void => {
      const own: Stmt = { name: stmt.name, sql: stmt.sql, decision, plan: undefined, path: stmt.path, gen };
      const portal: Portal = { name: m.portal, stmt: own, formats: m.resultFormats };
      this.names.bound(portal);
      this.queue.forward(m.raw, { t: 'bind' });
      if (this.deps.masksConfigured === false) own.plan = null;
      else this.queue.forward(P.describe('P', m.portal), { t: 'describeP', portal, injected: true });
    };
    if (gen === stmt.gen) return bind(stmt.decision);
    const decided = (d: Decision): void => {
      if (this.wire.ended) return;
      const s = d.statements.length === 1 ? d.statements[0]! : decidingStatement(d);
      if (d.decision === 'deny' || !s) return this.refuseExtended(stmt.sql, deniedRefusal(s?.rule ?? null, s?.reason ?? 'denied'));
      bind(s);
    };
    const d = this.sessionChecks(this.decide(stmt.sql));
    if (!(d instanceof Promise)) return decided(d);
    return d.then((x) => {
      decided(x);
      this.wire.flush();
    });
  }

  private onDescribe(m: Extract<P.FrontendMessage, { type: 'describe' }>): void {
    if (m.target === 'S') {
      const stmt = this.names.statement(m.name);
      if (!stmt) return this.refuseUnknown(`prepared statement "${m.name}"`);
      this.queue.forward(m.raw, { t: 'describeS', stmt, injected: false });
    } else {
      const portal = this.names.portal(m.name);
      if (!portal) return this.refuseUnknown(`portal "${m.name}"`);
      this.queue.forward(m.raw, { t: 'describeP', portal });
    }
  }

  private onExecute(m: Extract<P.FrontendMessage, { type: 'execute' }>): Promise<void> | void {
    const portal = this.names.portal(m.portal);
    if (!portal) return this.refuseUnknown(`portal "${m.portal}"`);
    const stmt = portal.stmt;
    const time = new Date().toISOString();
    const start = performance.now();
    const uses = stmt.decision?.uses;
    if (uses && (this.names.generation(uses) !== stmt.gen || this.queue.redefining(uses))) {
      const r = deniedRefusal(null, `${NAMESPACE_WORD[uses.namespace]} "${uses.name}" was defined anew after portal "${portal.name}" was bound; bind it again`);
      return this.refuseExtended(stmt.sql, r);
    }
    if (this.deps.audit.writeError) return this.refuseExtended(stmt.sql, deniedRefusal(null, 'audit log unavailable'));
    if (this.expired()) {
      // A statement prepared before expiry must not run after it.
      const r = sessionExpiredRefusal(this.deps.config.session.expiresAt);
      this.trail.simple(stmt.sql, 'deny', null, 'session expired');
      this.queue.skipUntilSync = true;
      this.queue.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r })]);
      return;
    }
    const s = stmt.decision;
    const run = (approval?: AuditEntry['approval']): void => {
      const req: Req = { time, start, sql: stmt.sql, decision: s, approval, path: stmt.path };
      this.noteRun(s);
      this.queue.forward(m.raw, { t: 'execute', portal, req, active: null, started: false });
    };
    if (s?.decision !== 'review') return run();
    // One approval per execution (F18): this Execute, and what is pipelined behind it, waits here.
    return review(this.deps, this.trail.redacted(stmt.sql), s, this.signal).then(({ approved, approval, refusal }) => {
      if (this.wire.ended) return;
      const r = !approved ? refusal! : this.expired() ? sessionExpiredRefusal(this.deps.config.session.expiresAt) : null;
      if (r === null) run(approval);
      else {
        this.trail.statement(stmt.sql, s, time, start, { decision: 'review', approval, reason: r.message });
        this.queue.skipUntilSync = true;
        this.queue.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r })]);
      }
      this.wire.flush();
    });
  }
}

const NAMESPACE_WORD = { prepared: 'prepared statement', cursor: 'cursor' } as const;

function redefiningReason(uses: NameUse): string {
  return `${NAMESPACE_WORD[uses.namespace]} "${uses.name}" is being defined anew by a statement still running; send this once it has completed`;
}

/** A decision denying the whole message. */
function denyAll(sql: string, reason: string): Decision {
  return { decision: 'deny', statements: [{ sql, kind: 'other', decision: 'deny', rule: null, reason, accesses: [], masked: [] }] };
}

/** `d` denied by the session (not the policy): `s` (else every statement) carries the reason. */
function denied(d: Decision, s: StatementDecision | undefined, reason: string, detail?: string): Decision {
  const mark = (x: StatementDecision): StatementDecision => ({ ...x, decision: 'deny', rule: null, reason: detail ? `${reason} (${detail})` : reason });
  return { decision: 'deny', statements: d.statements.map((x) => (!s || x === s ? mark(x) : x)) };
}

/** The statement that decides a multi-statement message (the most restrictive). */
function decidingStatement(d: Decision): StatementDecision | undefined {
  return d.statements.find((s) => s.decision === 'deny') ?? d.statements.find((s) => s.decision === 'review') ?? d.statements[0];
}
