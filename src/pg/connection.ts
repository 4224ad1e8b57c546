// One client connection through the proxy: startup and SCRAM authentication, one upstream session,
// then every message in both directions.
//
// Client → upstream: each frontend message is decided (Query and Parse by the policy engine), then
// forwarded as its raw bytes, refused locally, or held for review. Upstream → client: frames are
// forwarded as whole runs of the input chunk; only the messages the proxy must see are looked at
// (RowDescription and DataRow for masking, CommandComplete/ErrorResponse for the audit log,
// ReadyForQuery for the transaction status).
//
// The proxy answers some requests itself (denials). To put those answers in the right place of the
// response stream, every forwarded request that produces a response gets an entry in `pending`;
// local answers are entries too, emitted when they reach the head of the queue.
//
// Behaviour worth knowing (the README's proxy section repeats it):
// - A denied statement never reaches the upstream. Its ReadyForQuery carries the status the
//   upstream last reported: a denial inside a transaction leaves the transaction usable ('T'),
//   where a server-side error would have put it in 'E'. In an extended-protocol batch the messages
//   before the denied Parse have already run and are kept (PostgreSQL would roll back the implicit
//   transaction); the rest of the batch up to Sync is skipped, as after a server error.
// - A result the proxy refuses after the upstream ran the statement (mask plan failed, result
//   columns unknown) ends with an error; the rest of the result is read and dropped (not cancelled:
//   a late cancel could hit the next statement) and nothing more reaches the client until
//   ReadyForQuery. Messages the client pipelined behind it up to Sync were already forwarded and
//   still run (each was decided and allowed on its own); the error's detail says so, so the client
//   is not told they were skipped. (Holding every pipeline until each result is known would cost a
//   round trip per statement; COPY TO of masked columns, the common case, is denied before it runs.)
// - Every Parse is followed by a Describe of the proxy's own (its answer is not forwarded), so
//   the result columns of a prepared statement are known even when the client never describes it.
// - Bind/Describe/Execute of a statement or portal the proxy did not see parsed (SQL PREPARE and
//   DECLARE share those namespaces) are refused: the proxy cannot vouch for what they run.
// - The search path is pinned: the upstream session is opened with the proxy's own `search_path`
//   startup parameter (`deps.searchPath`, default public), so "$user" and role/database defaults
//   never apply and RESET / DISCARD ALL / SET … TO DEFAULT return to the path decisions assume.
//   Once anything may have set it (SET/RESET search_path, set_config, a user function, DO), every
//   statement that can move it (transaction control but BEGIN/SAVEPOINT/RELEASE, ROLLBACK TO,
//   AND CHAIN, RESET, DISCARD, DDL, calls) and every transaction end makes the proxy wait for what
//   is in flight and read `current_schemas(false)` before the next decision or Bind. Inside an
//   unsynced extended-protocol batch that cannot be done, so such a Parse/Bind is refused. A
//   message of several statements where one may move the path before the next is decided under
//   every schema the session has used (RESET ALL / DISCARD / FROM CURRENT after a SET in the same
//   message, or a call before more statements, is refused).
// - The server re-plans a prepared statement under the search path current at Bind / EXECUTE: a
//   statement (protocol Parse or SQL PREPARE) decided under another path is refused there.
// - COPY … TO of a relation with masked columns (by the catalog: a table's columns, a view's
//   origins) is denied before it runs: COPY has no RowDescription, nothing could be masked.
// - COPY IN: PostgreSQL ignores Sync and Flush during COPY IN, so those get no pending entry.
// - When the audit log reports a write error, every new statement is denied.
// - Session expiry is checked at Query, Parse and Execute (a statement prepared before expiry does
//   not run after it). FunctionCall is always refused.

import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { ReviewOutcome, Approver } from '../approval/types.js';
import type { AuditEntry } from '../audit/types.js';
import { LruMap, memoize } from '../cache.js';
import type { DecideContext } from '../policy/engine.js';
import type { Decision, MaskStrategy, StatementDecision } from '../policy/types.js';
import { analyze } from '../sql/analyze.js';
import type { Access, NamedDefinition } from '../sql/types.js';
import type { ProxyConfig } from './config.js';
import { CancelKeys } from './cancel-keys.js';
import { ProtocolError, SQLSTATE, deniedRefusal, sessionExpiredRefusal, type Refusal } from './errors.js';
import {
  buildMaskPlan,
  maskDataRow,
  MaskPlanError,
  type CatalogLike,
  type MaskPlan,
  type MaskRules,
  type MaskValueFn,
} from './mask-plan.js';
import { parseNameArray } from './name-array.js';
import * as P from './protocol.js';
import type { ViewOriginsLike } from './view-origins.js';
import { checkStartupParams, isUtf8Name } from './startup-params.js';

export { CancelKeys, checkStartupParams, isUtf8Name, parseNameArray };

// ---------------------------------------------------------------------------------------------
// What a connection needs from the rest of the program (wired by server.ts).

export interface EngineLike {
  decide(sql: string, ctx?: DecideContext): Decision;
  maskForColumn(schema: string, table: string, column: string): { strategy: MaskStrategy; column: string } | null;
}

export interface UpstreamSession {
  socket: Duplex;
  backendKey: { pid: number; secret: Buffer };
  parameters: Map<string, string>;
  leftover: Buffer;
}

export interface ScramServerLike {
  mechanisms(): string[];
  handleClientFirst(data: Buffer): Buffer;
  handleClientFinal(data: Buffer): { ok: true; serverFinal: Buffer } | { ok: false; reason: string };
}

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
}

export interface ConnectionDeps {
  config: ProxyConfig;
  engine: EngineLike;
  catalog: CatalogLike;
  /**
   * The audit log. `writeError` (AuditLog's) non-null means records are not reaching the disk:
   * every new statement is then denied (nothing may run unrecorded).
   */
  audit: {
    append(entry: AuditEntry): void;
    /** When given, statement records are handed over as builders, built and sealed in batches. */
    appendLater?(build: () => AuditEntry): void;
    readonly writeError?: unknown;
  };
  approver: Approver;
  redact(sql: string): string;
  /** redact() for a text PostgreSQL already normalised (a StatementDecision's `shape`). */
  redactShape?(shape: string): string;
  maskValue: MaskValueFn;
  maskKey: Buffer;
  connectUpstream(url: string, opts: { applicationName?: string; searchPath?: string }): Promise<UpstreamSession>;
  sendCancel(url: string, key: { pid: number; secret: Buffer }): Promise<void>;
  createScram(secret: string): ScramServerLike;
  cancelKeys: CancelKeys;
  logger: Logger;
  /**
   * False when the role has no masks at all: result columns then need no catalog lookup and no
   * Describe of their own. Default true (look everything up).
   */
  masksConfigured?: boolean;
  /**
   * Whether a mask may cover a column of `schema.table` (any object the analysis names). Upstream
   * error and notice texts of statements touching such objects are withheld where they can carry
   * values (`invalid input syntax for type integer: "ann@example.org"`). Default: none masked.
   */
  objectHasMasks?: (object: string) => boolean;
  /**
   * Shared by all connections: bumped after a statement that may change table definitions ran, so
   * cached column names and mask plans are looked up again (a renamed column must not keep the
   * plan of its old name).
   */
  schema?: {
    epoch: number;
    changed(): void;
    /** A reload of what the schema change affects, still running: decisions wait for it. */
    settling?(): Promise<void> | null;
  };
  /** What views read (their result columns carry the view's own OID): masked when they read masked columns. */
  views?: ViewOriginsLike;
  /**
   * The search path every upstream session is opened with (a startup parameter, so a role or
   * database default never applies and RESET returns to it). Default ['public'].
   */
  searchPath?: readonly string[];
  now?: () => Date;
}

// ---------------------------------------------------------------------------------------------
// The per-connection state.

/** A prepared statement as the proxy knows it (name → what was decided at Parse). */
interface Stmt {
  name: string;
  sql: string;
  decision: StatementDecision | undefined;
  /** undefined until the upstream described it; null = nothing to mask. */
  plan: MaskPlan | null | undefined;
  planError?: string;
  /** The search path it was decided under (pathKey): the server re-plans it under the current one. */
  path: string;
}

interface Portal {
  name: string;
  stmt: Stmt;
  formats: number[];
}

/** One audit record in progress. */
interface Req {
  time: string;
  start: number;
  sql: string;
  decision: StatementDecision | undefined;
  approval?: AuditEntry['approval'];
  masked?: MaskPlan['masked'];
  rows?: number;
  /** The search path it was decided under (pathKey), null when unsure; kept with a PREPARE it defines. */
  path?: string | null;
}

interface ActivePlan {
  plan: MaskPlan;
  formats: readonly number[];
}

type Item =
  | { t: 'local'; make: () => Buffer[] }
  | { t: 'query'; reqs: Req[]; idx: number; active: ActivePlan | null }
  | { t: 'parse'; stmt: Stmt; prev: Stmt | undefined; req: Req }
  | { t: 'describeS'; stmt: Stmt; injected: boolean }
  | { t: 'describeP'; portal: Portal }
  | { t: 'bind' }
  | { t: 'close' }
  /** `ignorable`: sent after an Execute that may start COPY IN, which makes the server ignore it. */
  | { t: 'sync'; ignorable?: boolean }
  | { t: 'execute'; portal: Portal; req: Req; active: ActivePlan | null; started: boolean }
  /** The proxy's own `current_schemas(false)` lookup: nothing of it reaches the client. */
  | { t: 'lookup'; schemas: string[] | null; failed: boolean; done: () => void };

type Phase = 'startup' | 'sasl-first' | 'sasl-final' | 'connecting' | 'ready' | 'closed';

export class ProxyConnection {
  private phase: Phase = 'startup';
  private readonly fparser = new P.FrontendParser();
  private readonly bparser = new P.BackendParser();
  private upstream: UpstreamSession | null = null;
  private scram: ScramServerLike | null = null;
  private proxyKey: { pid: number; secret: Buffer } | null = null;
  private applicationName: string | undefined;

  // Client → proxy messages and upstream → proxy frames, each handled in order, one at a time (a
  // handler may block its side: review, connect, a catalog lookup).
  private readonly front = new Lane<P.FrontendMessage>();
  private readonly back = new Lane<P.BackendFrame>();

  private readonly pending: Item[] = [];
  private readonly toClient = new OutputRun();
  private readonly toUpstream = new OutputRun();
  private clientBlocked = false; // client socket buffer full → pause upstream
  private upstreamBlocked = false; // upstream socket buffer full → pause client

  private readonly statements = new Map<string, Stmt>();
  private readonly portals = new Map<string, Portal>();
  /** After an error in an extended-protocol batch: drop client messages until Sync. */
  private skipUntilSync = false;
  /** Drop every upstream message until ReadyForQuery (a result the proxy refused to pass on). */
  private suppressUntilReady = false;
  private txStatus: 'I' | 'T' | 'E' = 'I';
  /** DDL ran since the last ReadyForQuery outside a transaction block (see readyForQuery). */
  private schemaChangedInBlock = false;
  /** Prepared statements and cursors defined by allowed PREPARE / DECLARE that ran (for EXECUTE / FETCH). */
  private readonly definitions = new Map<string, NamedDefinition>();
  private readonly lookupDefinition = (ns: NamedDefinition['namespace'], name: string) => this.definitions.get(`${ns}:${name}`);
  /**
   * The session's search path as last read from the upstream; undefined = the default. Once a
   * statement that may change it has been allowed (`pathTouched`), the proxy re-reads it before
   * deciding whenever it may have changed since (`pathStale`): after such a statement and after
   * every transaction end (a rollback or SET LOCAL reverts it).
   */
  private searchPath: string[];
  /** The path the upstream session was opened with: its default (RESET, DISCARD ALL return to it). */
  private readonly pinnedPath: string[];
  /** Every schema any path of this session named: a rollback may bring any of them back. */
  private readonly pathsUsed = new Set<string>();
  private pathTouched = false;
  private pathStale = false;
  /** SQL PREPARE'd statements: the path each was decided under (null: unsure → EXECUTE refused). */
  private readonly definitionPaths = new Map<string, string | null>();
  /**
   * The upstream is in COPY IN (CopyInResponse seen, CommandComplete/ErrorResponse not yet): it
   * ignores Sync and Flush then, so they must not get a pending item.
   */
  private copyIn = false;
  /** An Execute of COPY FROM was forwarded and the client has not ended the copy yet. */
  private copyExpected = false;
  /** Extended-protocol messages were forwarded since the last Sync. */
  private extendedOpen = false;
  private idleWaiters: (() => void)[] = [];
  private draining = false;
  private readonly abort = new AbortController();
  private readonly planCache = new LruMap<string, MaskPlan | null>(500);
  private planEpoch = 0;
  private readonly maskRules: MaskRules = {
    maskForColumn: (schema, table, column) => this.deps.engine.maskForColumn(schema, table, column),
    tableHasMasks: (schema, table) => (this.deps.objectHasMasks ? this.deps.objectHasMasks(`${schema}.${table}`) : true),
  };
  /** deps.redact and deps.redactShape, remembered: statements repeat (see redacted()). */
  private readonly redactText = memoize((sql: string) => redactOr(() => this.deps.redact(sql)), 1000);
  private readonly redactShape = memoize((shape: string) => redactOr(() => this.deps.redactShape!(shape)), 1000);
  private auditPending: (() => AuditEntry)[] = [];
  private closedResolve!: () => void;
  /** Resolves when both sockets are gone. */
  readonly closed = new Promise<void>((r) => (this.closedResolve = r));

  constructor(private readonly client: Socket, private readonly deps: ConnectionDeps) {
    this.pinnedPath = [...(deps.searchPath ?? ['public'])];
    this.searchPath = [...this.pinnedPath];
    for (const x of this.pinnedPath) this.pathsUsed.add(x);
  }

  start(): void {
    this.client.setNoDelay(true);
    this.client.on('data', (chunk: Buffer) => this.onClientData(chunk));
    this.client.on('error', () => this.close());
    this.client.on('close', () => this.close());
    this.client.on('drain', () => {
      this.clientBlocked = false;
      this.updateFlow();
    });
  }

  /** True when nothing is in flight: no queued request, no held message. */
  get idle(): boolean {
    return this.pending.length === 0 && this.front.empty && !this.front.busy && !this.back.busy;
  }

  /** SIGTERM: let what runs finish, then end the session with an admin-shutdown error. */
  beginDrain(): void {
    this.draining = true;
    if (this.phase !== 'ready') {
      this.close();
      return;
    }
    if (this.idle) this.shutdownNow();
  }

  /** The authentication deadline (server.ts) passed: a client still in startup/SASL is refused. */
  authDeadline(seconds: number): void {
    if (this.phase !== 'startup' && this.phase !== 'sasl-first' && this.phase !== 'sasl-final') return;
    this.auditEvent('auth', 'deny', 'authentication timeout');
    this.fatal({ code: SQLSTATE.protocolViolation, message: `tollgate: canceling authentication due to timeout (${seconds} s)` });
  }

  /** Ends both sides now. */
  close(): void {
    if (this.phase === 'closed') {
      // Already ending (a FATAL was sent): make sure both sockets are gone.
      this.client.destroy();
      this.upstream?.socket.destroy();
      this.closedResolve();
      return;
    }
    this.drainAudit();
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    const wasBusy = this.pending.some((i) => i.t !== 'local');
    this.phase = 'closed';
    this.abort.abort();
    if (this.proxyKey) this.deps.cancelKeys.release(this.proxyKey.pid);
    const up = this.upstream;
    if (up) {
      // A client that vanished mid-query: stop the upstream's work, do not let it run on.
      if (wasBusy) this.deps.sendCancel(this.deps.config.upstream, up.backendKey).catch(() => {});
      up.socket.destroy();
    }
    this.client.destroy();
    this.closedResolve();
    for (const w of waiters) w();
  }

  // -------------------------------------------------------------------------------------------
  // Flow control and output

  private updateFlow(): void {
    if (this.phase === 'closed') return;
    const up = this.upstream?.socket;
    if (up) {
      if (this.clientBlocked || this.back.busy) up.pause();
      else up.resume();
    }
    if (this.upstreamBlocked || this.front.busy) this.client.pause();
    else this.client.resume();
  }

  private sendClient(buf: Buffer): void {
    this.toClient.push(buf);
  }

  private sendUpstream(buf: Buffer): void {
    this.toUpstream.push(buf);
  }

  private flush(): void {
    if (this.phase === 'closed') {
      this.drainAudit();
      return;
    }
    const toUpstream = this.upstream ? this.toUpstream.take() : null;
    if (toUpstream && this.upstream) {
      if (!this.upstream.socket.write(toUpstream) && !this.upstreamBlocked) {
        this.upstreamBlocked = true;
        this.upstream.socket.once('drain', () => {
          this.upstreamBlocked = false;
          this.updateFlow();
        });
        this.updateFlow();
      }
    }
    const toClient = this.toClient.take();
    if (toClient) {
      if (!this.client.write(toClient) && !this.clientBlocked) {
        this.clientBlocked = true;
        this.updateFlow();
      }
    }
    // Audit records are built after the bytes are on their way: the client does not wait for them.
    this.drainAudit();
  }

  private drainAudit(): void {
    if (this.auditPending.length === 0) return;
    const list = this.auditPending;
    this.auditPending = [];
    const later = this.deps.audit.appendLater;
    for (const build of list) {
      if (!later) this.append(build());
      else {
        try {
          later.call(this.deps.audit, build);
        } catch (err) {
          this.auditFailed(err);
        }
      }
    }
  }

  /** A FATAL error to the client, then close. */
  private fatal(r: Refusal): void {
    if (this.phase === 'closed') return;
    this.sendClient(P.errorResponse({ severity: 'FATAL', ...r }));
    this.flush();
    this.phase = 'closed';
    this.abort.abort();
    if (this.proxyKey) this.deps.cancelKeys.release(this.proxyKey.pid);
    this.upstream?.socket.destroy();
    this.client.end();
    this.client.once('close', () => this.closedResolve());
    // A peer that never closes its side must not keep the socket (and a drain) waiting.
    setTimeout(() => this.close(), 1000).unref();
  }

  private shutdownNow(): void {
    this.fatal({ code: SQLSTATE.adminShutdown, message: 'tollgate: the gateway is shutting down' });
  }

  private internalError(err: unknown): void {
    this.deps.logger.warn(`tollgate: connection error: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof ProtocolError) this.fatal({ code: SQLSTATE.protocolViolation, message: `tollgate: protocol violation: ${err.message}` });
    else this.fatal({ code: SQLSTATE.internalError, message: 'tollgate: internal error; the connection is closed' });
  }

  // -------------------------------------------------------------------------------------------
  // Client side

  private onClientData(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    try {
      this.fparser.parse(chunk, this.front.push);
    } catch (err) {
      this.internalError(err);
      return;
    }
    this.runFront();
  }

  private runFront(): void {
    if (this.front.busy || this.phase === 'closed') return;
    try {
      const emptied = this.runLane(this.front, (m) => this.onFrontend(m), () => this.runFront());
      if (emptied && this.draining && this.phase === 'ready' && this.idle) this.shutdownNow();
    } catch (err) {
      this.internalError(err);
    }
  }

  /**
   * Handles a lane's items in order until it is empty (true) or a handler returns a promise: the
   * lane is then busy (its socket paused) until it settles, and `resume` runs it again.
   */
  private runLane<T>(lane: Lane<T>, handle: (item: T) => Promise<void> | void, resume: () => void): boolean {
    while (lane.head < lane.items.length) {
      const r = handle(lane.items[lane.head++]!);
      if (r) {
        lane.busy = true;
        this.flush();
        this.updateFlow();
        r.then(
          () => {
            lane.busy = false;
            this.updateFlow();
            resume();
          },
          (err) => this.internalError(err),
        );
        return false;
      }
      if ((this.phase as Phase) === 'closed') return false;
    }
    lane.items = [];
    lane.head = 0;
    this.flush();
    return true;
  }

  private onFrontend(m: P.FrontendMessage): Promise<void> | void {
    switch (this.phase) {
      case 'startup':
        return this.onStartup(m);
      case 'sasl-first':
      case 'sasl-final':
        return this.onSasl(m);
      case 'ready':
        return this.onReady(m);
      default:
        return;
    }
  }

  private onStartup(m: P.FrontendMessage): Promise<void> | void {
    switch (m.type) {
      case 'sslRequest':
      case 'gssEncRequest':
        // No TLS between client and proxy (both on the runner): the client goes on in clear.
        this.sendClient(Buffer.from('N'));
        return;
      case 'cancelRequest': {
        const key = this.deps.cancelKeys.lookup(m.pid, m.secret);
        this.phase = 'closed';
        this.client.end();
        this.closedResolve();
        setTimeout(() => this.client.destroy(), 1000).unref();
        if (!key) return;
        return this.deps.sendCancel(this.deps.config.upstream, key).catch((err: Error) => {
          this.deps.logger.warn(`tollgate: cancel request failed: ${err.message}`);
        });
      }
      case 'startup': {
        const refusal = checkStartupParams(m.params);
        if (refusal) {
          this.auditEvent('connect', 'deny', refusal.message);
          this.fatal(refusal);
          return;
        }
        this.applicationName = m.params.get('application_name')?.slice(0, 63);
        const minor = m.protocol & 0xffff;
        const ext = [...m.params.keys()].filter((k) => k.startsWith('_pq_.'));
        if (minor > 0 || ext.length) this.sendClient(P.negotiateProtocolVersion(0, ext));
        this.scram = this.deps.createScram(this.deps.config.session.secret);
        this.sendClient(P.authenticationSASL(this.scram.mechanisms()));
        this.phase = 'sasl-first';
        return;
      }
      default:
        throw new ProtocolError(`unexpected ${m.type} message before startup`);
    }
  }

  private authFailed(reason: string): void {
    this.auditEvent('auth', 'deny', reason);
    this.fatal({ code: SQLSTATE.invalidPassword, message: 'password authentication failed for user "tollgate"' });
  }

  private onSasl(m: P.FrontendMessage): Promise<void> | void {
    if (m.type !== 'password') throw new ProtocolError(`expected a SASL response, got ${m.type}`);
    const scram = this.scram!;
    if (this.phase === 'sasl-first') {
      const { mechanism, data } = P.decodeSASLInitialResponse(m.body);
      if (!scram.mechanisms().includes(mechanism)) return this.authFailed(`unsupported SASL mechanism ${mechanism}`);
      let serverFirst: Buffer;
      try {
        serverFirst = scram.handleClientFirst(data);
      } catch (err) {
        return this.authFailed((err as Error).message);
      }
      this.sendClient(P.authenticationSASLContinue(serverFirst));
      this.phase = 'sasl-final';
      return;
    }
    const res = scram.handleClientFinal(m.body);
    if (!res.ok) return this.authFailed(res.reason);
    this.sendClient(P.authenticationSASLFinal(res.serverFinal));
    this.sendClient(P.authenticationOk());
    this.phase = 'connecting';
    this.fparser.authenticated(this.deps.config.maxStatementBytes); // large messages allowed from now on
    this.flush();
    return this.connectUpstream();
  }

  private async connectUpstream(): Promise<void> {
    let up: UpstreamSession;
    try {
      up = await this.deps.connectUpstream(this.deps.config.upstream, {
        applicationName: this.applicationName,
        searchPath: this.pinnedPath.map(quoteIdent).join(', '),
      });
    } catch (err) {
      // The error text may name the host; never the password (connectUpstream's contract).
      this.deps.logger.warn(`tollgate: upstream connection failed: ${(err as Error).message}`);
      this.auditEvent('connect', 'error', 'upstream connection failed');
      this.fatal({ code: SQLSTATE.connectionFailure, message: 'tollgate: cannot connect to the upstream database' });
      return;
    }
    if ((this.phase as Phase) === 'closed') {
      up.socket.destroy();
      return;
    }
    this.upstream = up;
    const enc = up.parameters.get('client_encoding');
    if (enc !== undefined && !isUtf8Name(enc)) {
      this.fatal({ code: SQLSTATE.rejectedConnection, message: `tollgate: upstream client_encoding is ${enc}, not UTF8` });
      return;
    }
    up.socket.on('data', (chunk: Buffer) => this.onUpstreamData(chunk));
    up.socket.on('error', (err: Error) => this.upstreamLost(err.message));
    up.socket.on('close', () => this.upstreamLost('closed'));
    for (const [name, value] of up.parameters) this.sendClient(P.parameterStatus(name, value));
    this.proxyKey = this.deps.cancelKeys.issue(up.backendKey);
    this.sendClient(P.backendKeyData(this.proxyKey.pid, this.proxyKey.secret));
    this.sendClient(P.readyForQuery('I'));
    this.phase = 'ready';
    this.auditEvent('connect', 'allow', 'client authenticated; upstream session opened');
    this.flush();
    if (up.leftover.length) this.onUpstreamData(up.leftover);
  }

  private upstreamLost(why: string): void {
    if (this.phase === 'closed') return;
    this.deps.logger.warn(`tollgate: upstream connection lost (${why})`);
    this.fatal({ code: SQLSTATE.connectionFailure, message: 'tollgate: the upstream connection was lost' });
  }

  private expired(): boolean {
    const now = this.deps.now ? this.deps.now() : new Date();
    return now.getTime() >= this.deps.config.session.expiresAt.getTime();
  }

  private onReady(m: P.FrontendMessage): Promise<void> | void {
    if (this.skipUntilSync && m.type !== 'sync' && m.type !== 'terminate') return;
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
      case 'close': {
        if (m.target === 'S') this.statements.delete(m.name);
        else this.portals.delete(m.name);
        this.forward(m.raw, { t: 'close' });
        return;
      }
      case 'sync':
        if (this.copyIn) {
          // PostgreSQL ignores a Sync during COPY IN (libpq sends one): no answer will come.
          this.sendUpstream(m.raw);
          return;
        }
        this.skipUntilSync = false;
        if (this.copyExpected) {
          // Whether the server ignores it depends on whether the COPY starts: decided at CopyInResponse.
          this.forward(m.raw, { t: 'sync', ignorable: true });
          return;
        }
        this.forward(m.raw, { t: 'sync' });
        this.extendedOpen = false;
        return;
      case 'copyDone':
      case 'copyFail':
        this.copyIn = false;
        this.copyExpected = false;
        this.sendUpstream(m.raw);
        return;
      case 'flush':
      case 'copyData':
        // COPY data carries no SQL; the COPY statement itself was decided at Query/Parse.
        this.sendUpstream(m.raw);
        return;
      case 'terminate':
        this.sendUpstream(m.raw);
        this.flush();
        this.close();
        return;
      case 'functionCall': {
        const refusal = deniedRefusal(null, 'the function-call protocol message is not allowed');
        this.auditSimple('(function call message)', 'deny', null, refusal.message);
        this.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...refusal }), P.readyForQuery(this.txStatus)]);
        return;
      }
      default:
        throw new ProtocolError(`unexpected ${m.type} message after startup`);
    }
  }

  private forward(raw: Buffer, item: Item): void {
    this.sendUpstream(raw);
    this.pending.push(item);
    if (item.t !== 'query' && item.t !== 'sync' && item.t !== 'lookup' && item.t !== 'local') this.extendedOpen = true;
  }

  /** Wakes whoever waits for every forwarded request to be answered. */
  private checkIdle(): void {
    if (this.pending.length === 0 && this.idleWaiters.length) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
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
    if (!this.pathTouched || !this.pathStale) return null;
    if (this.extendedOpen) {
      return deniedRefusal(null, 'the search path may have changed inside this pipeline; send Sync before the next statement');
    }
    return this.refreshSearchPath().then(() => null);
  }

  private async refreshSearchPath(): Promise<void> {
    while (this.pending.length > 0 && this.phase !== 'closed') await new Promise<void>((r) => this.idleWaiters.push(r));
    if (this.phase === 'closed') return;
    let done!: () => void;
    const answered = new Promise<void>((r) => (done = r));
    const item: Extract<Item, { t: 'lookup' }> = { t: 'lookup', schemas: null, failed: false, done };
    this.forward(P.query('SELECT pg_catalog.current_schemas(false)'), item);
    this.flush();
    await answered;
    // In a failed transaction the lookup fails too: keep the last known path (only ROLLBACK can run).
    if (!item.failed && item.schemas) {
      this.searchPath = item.schemas;
      for (const x of item.schemas) this.pathsUsed.add(x);
      this.pathStale = false;
    }
  }

  /**
   * Marks the search path as possibly changed by an allowed statement. Once anything may have set it
   * (SET/RESET search_path, set_config, a user function or DO block), every statement that can move
   * it (transaction control incl. ROLLBACK TO and AND CHAIN, RESET ALL, DISCARD, DDL, another call)
   * makes the proxy read it again before its next decision.
   */
  private notePathChange(s: StatementDecision | undefined): void {
    if (!s) return;
    if (setsPath(s)) this.pathTouched = true;
    if (this.pathTouched && mayMovePath(s)) this.pathStale = true;
  }

  /**
   * Remembers every schema a SET search_path / set_config of this message names. Only the path a
   * message ends with is read back from the server; a ROLLBACK TO may later restore one set in
   * between, and unqualified names must then be decided under it too.
   */
  private notePathsNamed(sql: string, st: readonly StatementDecision[]): void {
    if (!st.some((s) => s.accesses.some((a) => (a.kind === 'set' || a.kind === 'reset') && a.object === 'search_path'))) return;
    for (const a of analyze(sql, { searchPath: [...this.searchPath] })) {
      if (Array.isArray(a.searchPathChange)) for (const x of a.searchPathChange) this.pathsUsed.add(x);
    }
  }

  /** pathKey of the path statement `i` of a message was decided under, null when an earlier one may have moved it. */
  private pathAt(statements: readonly StatementDecision[], i: number): string | null {
    for (let j = 0; j < i; j++) if (mayMovePath(statements[j]!)) return null;
    return pathKey(this.searchPath);
  }

  /**
   * A prepared statement is re-planned by the server under the search path of its use: one decided
   * under another path is refused (it would resolve names the policy never saw).
   */
  private preparedElsewhere(name: string, decidedUnder: string | null | undefined, now: string | null): Refusal | null {
    if (decidedUnder !== undefined && decidedUnder !== null && decidedUnder === now) return null;
    const r = deniedRefusal(null, `prepared statement "${name}" was prepared under another search_path`);
    r.detail = `${r.detail}; PostgreSQL re-plans a prepared statement under the current search_path, which the gateway did not decide it under: prepare it again`;
    return r;
  }

  /**
   * SQL PREPARE and DECLARE share their namespaces with protocol statements and portals: once one
   * (re)defines a name, what the proxy knew under that name (its mask plan) no longer applies.
   */
  private forgetShadowed(s: StatementDecision | undefined): void {
    if (!s) return;
    this.forgetDropped(s);
    if (!s.defines) return;
    if (s.defines.namespace === 'prepared') this.statements.delete(s.defines.name);
    else this.portals.delete(s.defines.name);
  }

  /**
   * DEALLOCATE, CLOSE and DISCARD ALL drop prepared statements and cursors upstream: their SQL
   * definitions must go too, or a protocol statement or portal made later under the same name
   * would be EXECUTEd / FETCHed as the old, harmless definition (F2c). Forgotten when decided:
   * if the statement then fails, a later EXECUTE is refused as unknown (fail closed).
   */
  private forgetDropped(s: StatementDecision): void {
    for (const a of s.accesses) {
      const all = (a.kind === 'deallocate' && a.object === undefined) || (a.kind === 'reset' && a.object === 'all'); // DISCARD ALL (RESET ALL too: forgetting more is safe)
      if (all) {
        this.definitions.clear();
        this.definitionPaths.clear();
        for (const name of [...this.statements.keys()]) if (name !== '') this.statements.delete(name);
        for (const name of [...this.portals.keys()]) if (name !== '') this.portals.delete(name);
      } else if (a.kind === 'deallocate' && a.object !== undefined) {
        // DEALLOCATE drops protocol statements of the name too, CLOSE protocol portals.
        this.statements.delete(a.object);
        this.portals.delete(a.object);
        for (const ns of ['prepared', 'cursor']) {
          this.definitions.delete(`${ns}:${a.object}`);
          this.definitionPaths.delete(`${ns}:${a.object}`);
        }
      }
    }
  }

  private rememberDefinition(s: StatementDecision | undefined, path: string | null | undefined): void {
    if (!s?.defines) return;
    const key = `${s.defines.namespace}:${s.defines.name}`;
    this.definitions.set(key, s.defines);
    this.definitionPaths.set(key, path ?? null);
  }

  private enqueueLocal(make: () => Buffer[]): void {
    this.pending.push({ t: 'local', make });
    this.emitLocalHead();
  }

  private emitLocalHead(): void {
    if (this.suppressUntilReady) return; // dropped with the refused batch when ReadyForQuery comes
    while (this.pending.length && this.pending[0]!.t === 'local') {
      const item = this.pending.shift() as Extract<Item, { t: 'local' }>;
      for (const b of item.make()) this.sendClient(b);
    }
  }

  /** Decides; never throws (an engine failure is a denial). */
  private decide(sql: string): Decision {
    try {
      const d = this.deps.engine.decide(sql, { definitions: this.lookupDefinition, searchPath: this.searchPath });
      this.notePathsNamed(sql, d.statements);
      if (d.statements.length < 2) return d;
      // Several statements in one message: the analysis follows SET search_path inside it, but not
      // what a transaction end, ROLLBACK TO, RESET or a function may bring back. Those resolve
      // unqualified names under every schema the session has used (and the session default).
      const st = d.statements;
      let moves = false;
      for (let i = 0; i < st.length - 1; i++) {
        if (!mayMovePath(st[i]!)) continue;
        moves = true;
        if (resetsAll(st[i]!) && st.slice(0, i).some(setsPath)) {
          return denyAll(sql, 'this message sets the search path and then resets it (RESET ALL, DISCARD, SET … FROM CURRENT) before more statements; send them as separate messages');
        }
        if (st[i]!.accesses.some(mayRunSql)) {
          return denyAll(sql, 'a function or DO block in this message may change the search path before the statements after it; send them as separate messages');
        }
      }
      if (!moves) return d;
      const others = [...this.pathsUsed].filter((x) => !this.searchPath.includes(x));
      if (others.length === 0) return d;
      const all = [...this.searchPath, ...others].filter((x) => x !== 'pg_catalog');
      if (this.searchPath.includes('pg_catalog') || this.pathsUsed.has('pg_catalog')) all.push('pg_catalog');
      return this.deps.engine.decide(sql, { definitions: this.lookupDefinition, searchPath: all });
    } catch (err) {
      return denyAll(sql, `the statement could not be analysed (${(err as Error).message})`);
    }
  }

  private onQuery(m: Extract<P.FrontendMessage, { type: 'query' }>): Promise<void> | void {
    const ready = this.readyToDecide();
    if (ready === null) return this.onQueryDecide(m);
    const go = (r: Refusal | null): Promise<void> | void => {
      if (this.phase === 'closed') return;
      if (r === null) return this.onQueryDecide(m);
      this.auditSimple(m.sql, 'deny', null, r.message);
      this.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r }), P.readyForQuery(this.txStatus)]);
    };
    return ready instanceof Promise ? ready.then(go) : go(ready);
  }

  private onQueryDecide(m: Extract<P.FrontendMessage, { type: 'query' }>): Promise<void> | void {
    const time = new Date().toISOString();
    const start = performance.now();
    if (this.expired()) {
      const r = sessionExpiredRefusal(this.deps.config.session.expiresAt);
      this.auditSimple(m.sql, 'deny', null, 'session expired');
      this.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r }), P.readyForQuery(this.txStatus)]);
      return;
    }
    const decided = this.sessionChecks(this.decide(m.sql));
    if (!(decided instanceof Promise)) return this.onQueryDecided(m, decided, time, start);
    return decided.then((d) => {
      if (this.phase === 'closed') return;
      const r = this.onQueryDecided(m, d, time, start);
      this.flush();
      return r;
    });
  }

  private onQueryDecided(m: Extract<P.FrontendMessage, { type: 'query' }>, d: Decision, time: string, start: number): Promise<void> | void {
    const proceed = (approval?: AuditEntry['approval']): void => {
      const reqs: Req[] = d.statements.map((s, i) => ({ time, start, sql: s.sql, decision: s, approval, path: this.pathAt(d.statements, i) }));
      for (const s of d.statements) {
        this.notePathChange(s);
        this.forgetShadowed(s);
        if (s.accesses.some((a) => a.kind === 'copy_from')) this.copyExpected = true;
      }
      this.forward(m.raw, { t: 'query', reqs, idx: 0, active: null });
    };
    const refuse = (r: Refusal, approval?: AuditEntry['approval']): void => {
      // A reviewed statement keeps its decision `review`; the approval says how it ended.
      const decision = approval ? 'review' : 'deny';
      for (const s of d.statements) this.auditStatement(s.sql, s, time, start, { decision, approval, reason: r.message });
      if (d.statements.length === 0) this.auditSimple(m.sql, 'deny', null, r.message);
      this.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r }), P.readyForQuery(this.txStatus)]);
    };
    if (d.decision === 'allow') return proceed();
    const deciding = decidingStatement(d);
    if (d.decision === 'deny' || !deciding) return refuse(deniedRefusal(deciding?.rule ?? null, deciding?.reason ?? 'denied'));
    return this.review(m.sql, deciding).then(({ approved, approval, refusal }) => {
      if (this.phase === 'closed') return;
      if (approved && this.expired()) return refuse(sessionExpiredRefusal(this.deps.config.session.expiresAt), approval);
      if (approved) proceed(approval);
      else refuse(refusal!, approval);
      this.flush();
    });
  }

  private async review(
    sql: string,
    s: StatementDecision,
  ): Promise<{ approved: boolean; approval: AuditEntry['approval']; refusal?: Refusal }> {
    const id = randomUUID();
    let outcome: ReviewOutcome;
    try {
      outcome = await this.deps.approver.review(
        {
          id,
          sessionId: this.deps.config.session.id,
          statement: this.redacted(sql),
          kind: s.decidingAccess?.kind ?? s.kind,
          object: s.decidingAccess?.object,
          rule: s.rule,
          reason: s.reason,
          identity: this.deps.config.claims,
          requestedAt: new Date(),
          timeoutMs: this.deps.config.approvalTimeoutMs,
        },
        this.abort.signal,
      );
    } catch (err) {
      outcome = { approved: false, via: 'unavailable', reason: `the approver failed: ${(err as Error).message}` };
    }
    const approval: AuditEntry['approval'] = {
      id,
      approved: outcome.approved === true,
      via: outcome.via,
      approver: outcome.approver,
      at: outcome.at?.toISOString(),
      where: outcome.where,
      reason: outcome.reason,
    };
    if (outcome.approved === true) return { approved: true, approval };
    const why =
      outcome.via === 'timeout'
        ? `review ${id} timed out without an answer`
        : `review ${id} was not approved${outcome.reason ? `: ${outcome.reason}` : ''}`;
    return { approved: false, approval, refusal: deniedRefusal(s.rule, why) };
  }

  private onParse(m: Extract<P.FrontendMessage, { type: 'parse' }>): Promise<void> | void {
    const ready = this.readyToDecide();
    if (ready === null) return this.onParseDecide(m);
    const go = (r: Refusal | null): Promise<void> | void => {
      if (this.phase === 'closed') return;
      if (r === null) return this.onParseDecide(m);
      this.auditSimple(m.sql, 'deny', null, r.message);
      this.skipUntilSync = true;
      this.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r })]);
    };
    return ready instanceof Promise ? ready.then(go) : go(ready);
  }

  private onParseDecide(m: Extract<P.FrontendMessage, { type: 'parse' }>): Promise<void> | void {
    const time = new Date().toISOString();
    const start = performance.now();
    const refuse = (r: Refusal, s: StatementDecision | undefined, approval?: AuditEntry['approval']): void => {
      if (s) this.auditStatement(m.sql, s, time, start, { decision: approval ? 'review' : 'deny', approval, reason: r.message });
      else this.auditSimple(m.sql, 'deny', null, r.message);
      this.skipUntilSync = true;
      this.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r })]);
    };
    if (this.expired()) return refuse(sessionExpiredRefusal(this.deps.config.session.expiresAt), undefined);
    const decided = this.sessionChecks(this.decide(m.sql));
    if (!(decided instanceof Promise)) return this.onParseDecided(m, decided, time, start, refuse);
    return decided.then((d) => {
      if (this.phase === 'closed') return;
      const r = this.onParseDecided(m, d, time, start, refuse);
      this.flush();
      return r;
    });
  }

  private onParseDecided(
    m: Extract<P.FrontendMessage, { type: 'parse' }>,
    d: Decision,
    time: string,
    start: number,
    refuse: (r: Refusal, s: StatementDecision | undefined, approval?: AuditEntry['approval']) => void,
  ): Promise<void> | void {
    const s = d.statements.length === 1 ? d.statements[0]! : decidingStatement(d);
    const path = pathKey(this.searchPath);
    const proceed = (approval?: AuditEntry['approval']): void => {
      if (m.name !== '' && (this.statements.has(m.name) || this.definitions.has(`prepared:${m.name}`))) {
        // The server would refuse it (42P05) — but a Bind pipelined behind it is read before that
        // answer comes: answering here keeps every portal bound to the statement the server uses (F20).
        if (s) this.auditStatement(m.sql, s, time, start, { decision: 'error', approval, reason: `prepared statement "${m.name}" already exists`, sqlstate: '42P05' });
        else this.auditSimple(m.sql, 'error', null, `prepared statement "${m.name}" already exists`);
        this.skipUntilSync = true;
        this.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', code: '42P05', message: `prepared statement "${m.name}" already exists` })]);
        return;
      }
      const stmt: Stmt = { name: m.name, sql: m.sql, decision: s, plan: undefined, path };
      // One namespace upstream: SQL EXECUTE of this name now runs this statement, not a PREPAREd one.
      this.definitions.delete(`prepared:${m.name}`);
      this.definitionPaths.delete(`prepared:${m.name}`);
      const prev = this.statements.get(m.name);
      this.statements.set(m.name, stmt);
      this.forward(m.raw, { t: 'parse', stmt, prev, req: { time, start, sql: m.sql, decision: s, approval, path } });
      // Learn the result columns now: a client may Bind/Execute without ever asking Describe.
      if (this.deps.masksConfigured === false) stmt.plan = null;
      else this.forward(P.describe('S', m.name), { t: 'describeS', stmt, injected: true });
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
    for (const [i, s] of st.entries()) {
      if (s.uses?.namespace !== 'prepared') continue;
      const name = s.uses.name;
      const key = `prepared:${name}`;
      let defined = this.definitionPaths.get(key);
      for (let j = 0; j < i; j++) if (st[j]!.defines?.namespace === 'prepared' && st[j]!.defines!.name === name) defined = this.pathAt(st, j);
      const r = this.preparedElsewhere(name, defined, this.pathAt(st, i));
      if (r) return denied(d, s, r.message.replace(/^tollgate: denied: /, ''), r.detail);
    }
    const copy = this.copyMasked(d);
    if (copy === null) return d;
    const toDecision = (why: string | null): Decision => (why === null ? d : denied(d, undefined, `result refused: ${why}`));
    return copy instanceof Promise ? copy.then(toDecision) : toDecision(copy);
  }

  /** Why a COPY … TO in `d` would stream masked values, or null. */
  private copyMasked(d: Decision): Promise<string | null> | string | null {
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
      const dot = o.indexOf('.');
      if (dot <= 0) return `COPY cannot mask columns; ${o} cannot be checked for masked columns`;
      const schema = o.slice(0, dot);
      const table = o.slice(dot + 1);
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
    return this.deps.objectHasMasks ? this.deps.objectHasMasks(`${schema}.${table}`) : true;
  }

  private originMasked(schema: string, table: string, column: string | null): boolean {
    return column === null ? this.tableHasMasks(schema, table) : this.deps.engine.maskForColumn(schema, table, column) !== null;
  }

  /** A reference to a statement or portal the proxy never saw (e.g. made by SQL PREPARE/DECLARE): refused. */
  private refuseUnknown(what: string): void {
    const r = deniedRefusal(null, `${what} was not prepared through the extended protocol; the gateway cannot vouch for it`);
    this.auditSimple(`(${what})`, 'deny', null, r.message);
    this.skipUntilSync = true;
    this.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r })]);
  }

  private onBind(m: Extract<P.FrontendMessage, { type: 'bind' }>): Promise<void> | void {
    const stmt = this.statements.get(m.statement);
    if (!stmt) return this.refuseUnknown(`prepared statement "${m.statement}"`);
    // The server plans the statement again at Bind when the search path changed since Parse.
    const ready = this.readyToDecide();
    if (ready === null) return this.onBindChecked(m, stmt);
    const go = (r: Refusal | null): void => {
      if (this.phase === 'closed') return;
      if (r === null) return this.onBindChecked(m, stmt);
      this.refuseExtended(stmt.sql, r);
    };
    return ready instanceof Promise ? ready.then(go) : go(ready);
  }

  private refuseExtended(sql: string, r: Refusal): void {
    this.auditSimple(sql, 'deny', null, r.message);
    this.skipUntilSync = true;
    this.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r })]);
  }

  private onBindChecked(m: Extract<P.FrontendMessage, { type: 'bind' }>, stmt: Stmt): void {
    const r = this.preparedElsewhere(stmt.name || '(unnamed)', stmt.path, pathKey(this.searchPath));
    if (r) return this.refuseExtended(stmt.sql, r);
    // One namespace upstream: SQL FETCH of this name now reads this portal, not a DECLAREd cursor (F2b).
    this.definitions.delete(`cursor:${m.portal}`);
    const portal: Portal = { name: m.portal, stmt, formats: m.resultFormats };
    this.portals.set(m.portal, portal);
    this.forward(m.raw, { t: 'bind' });
  }

  private onDescribe(m: Extract<P.FrontendMessage, { type: 'describe' }>): void {
    if (m.target === 'S') {
      const stmt = this.statements.get(m.name);
      if (!stmt) return this.refuseUnknown(`prepared statement "${m.name}"`);
      this.forward(m.raw, { t: 'describeS', stmt, injected: false });
    } else {
      const portal = this.portals.get(m.name);
      if (!portal) return this.refuseUnknown(`portal "${m.name}"`);
      this.forward(m.raw, { t: 'describeP', portal });
    }
  }

  private onExecute(m: Extract<P.FrontendMessage, { type: 'execute' }>): Promise<void> | void {
    const portal = this.portals.get(m.portal);
    if (!portal) return this.refuseUnknown(`portal "${m.portal}"`);
    const stmt = portal.stmt;
    const time = new Date().toISOString();
    const start = performance.now();
    if (this.deps.audit.writeError) return this.refuseExtended(stmt.sql, deniedRefusal(null, 'audit log unavailable'));
    if (this.expired()) {
      // A statement prepared before expiry must not run after it.
      const r = sessionExpiredRefusal(this.deps.config.session.expiresAt);
      this.auditSimple(stmt.sql, 'deny', null, 'session expired');
      this.skipUntilSync = true;
      this.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r })]);
      return;
    }
    const s = stmt.decision;
    const run = (approval?: AuditEntry['approval']): void => {
      const req: Req = { time, start, sql: stmt.sql, decision: s, approval, path: stmt.path };
      if (s?.accesses.some((a) => a.kind === 'copy_from')) this.copyExpected = true;
      this.notePathChange(s);
      this.forgetShadowed(s);
      this.forward(m.raw, { t: 'execute', portal, req, active: null, started: false });
    };
    if (s?.decision !== 'review') return run();
    // One approval per execution (F18): this Execute, and what is pipelined behind it, waits here.
    return this.review(stmt.sql, s).then(({ approved, approval, refusal }) => {
      if (this.phase === 'closed') return;
      const r = !approved ? refusal! : this.expired() ? sessionExpiredRefusal(this.deps.config.session.expiresAt) : null;
      if (r === null) run(approval);
      else {
        this.auditStatement(stmt.sql, s, time, start, { decision: 'review', approval, reason: r.message });
        this.skipUntilSync = true;
        this.enqueueLocal(() => [P.errorResponse({ severity: 'ERROR', ...r })]);
      }
      this.flush();
    });
  }

  // -------------------------------------------------------------------------------------------
  // Upstream side

  private onUpstreamData(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    try {
      this.bparser.parse(chunk, this.back.push);
    } catch (err) {
      this.internalError(err);
      return;
    }
    this.runBack();
  }

  private runBack(): void {
    if (this.back.busy || this.phase === 'closed') return;
    try {
      const emptied = this.runLane(this.back, (f) => this.onBackend(f), () => this.runBack());
      if (emptied && this.draining && this.idle) this.shutdownNow();
    } catch (err) {
      this.internalError(err);
    }
  }

  private onBackend(f: P.BackendFrame): Promise<void> | void {
    const code = f.code;
    // Asynchronous messages can arrive at any time.
    if (code === P.B.NoticeResponse || code === P.B.NotificationResponse) {
      if (this.suppressUntilReady) return;
      this.sendClient(code === P.B.NoticeResponse ? this.scrubMessage(f, this.currentDecision()) : f.raw);
      return;
    }
    if (code === P.B.ParameterStatus) {
      const { name, value } = P.decodeParameterStatus(f.body);
      if (name === 'client_encoding' && !isUtf8Name(value)) {
        // Defense in depth: the policy refuses such a SET; if one got through, stop here.
        this.fatal({ code: SQLSTATE.rejectedConnection, message: `tollgate: client_encoding changed to ${value}; only UTF8 is allowed` });
        return;
      }
      this.sendClient(f.raw);
      return;
    }
    this.emitLocalHead();
    const item = this.pending[0];
    if (!item) {
      if (code === P.B.ErrorResponse) {
        // e.g. FATAL from an administrator's pg_terminate_backend: pass it on; the close follows.
        this.sendClient(f.raw);
        return;
      }
      throw new ProtocolError(`unexpected upstream message '${String.fromCharCode(code)}' with no request pending`);
    }
    if (this.suppressUntilReady) {
      if (code !== P.B.ReadyForQuery) return;
      // Everything up to this ReadyForQuery is dropped, the expectations with it.
      let i = 0;
      while (i < this.pending.length) {
        const t = this.pending[i++]!.t;
        if (t === 'sync' || t === 'query') break;
      }
      this.pending.splice(0, i);
      this.checkIdle();
      this.txStatus = P.decodeReadyForQuery(f.body);
      this.suppressUntilReady = false;
      this.sendClient(f.raw);
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
    for (let i = this.pending.length - 1; i > 0; i--) {
      const it = this.pending[i]!;
      if (it.t === 'sync' && it.ignorable) this.pending.splice(i, 1);
    }
  }

  private readyForQuery(f: P.BackendFrame): void {
    const status = P.decodeReadyForQuery(f.body);
    // A transaction ended: a rollback or SET LOCAL may have reverted the path. (ROLLBACK TO and
    // AND CHAIN keep the status: mayMovePath marks them. BEGIN must not trigger a lookup: it
    // would be the transaction's first query.)
    if (this.pathTouched && status === 'I' && this.txStatus !== 'I') this.pathStale = true;
    // DDL inside a transaction block is invisible to the proxy's catalog connection until it
    // commits: read the schema again when the block ends (once more after autocommitted DDL).
    if (this.schemaChangedInBlock && status === 'I') {
      this.schemaChangedInBlock = false;
      this.deps.schema?.changed();
    }
    this.copyExpected = false;
    this.txStatus = status;
    this.suppressUntilReady = false;
    this.sendClient(f.raw);
    this.popItem();
  }

  private popItem(): void {
    this.pending.shift();
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
      case P.B.RowDescription: {
        const r = this.planFor(f, req?.decision, (plan) => {
          item.active = plan ? { plan, formats: P.decodeRowDescription(f.body).map((x) => x.format) } : null;
          if (plan && req) req.masked = plan.masked;
          this.sendClient(f.raw);
        });
        return r;
      }
      case P.B.DataRow:
        if (item.active) this.sendClient(this.mask(f, item.active));
        else this.sendClient(f.raw);
        return;
      case P.B.CommandComplete:
      case P.B.EmptyQueryResponse:
        if (req) {
          if (f.code === P.B.CommandComplete) {
            req.rows = P.rowsFromTag(P.decodeCommandComplete(f.body));
            this.rememberDefinition(req.decision, req.path);
          }
          this.finishReq(req);
        }
        item.idx++;
        item.active = null;
        this.sendClient(f.raw);
        return;
      case P.B.ErrorResponse:
        if (req) this.finishReq(req, P.decodeErrorFields(f.body).get('C'));
        item.idx = item.reqs.length; // the rest of the message does not run
        item.active = null;
        this.sendClient(this.scrubMessage(f, req?.decision));
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
        this.sendClient(f.raw);
        return;
      default:
        // CopyInResponse, CopyData, CopyDone and the like flow through.
        this.sendClient(f.raw);
        return;
    }
  }

  private onExtendedResponse(item: Exclude<Item, { t: 'query' | 'sync' | 'local' }>, f: P.BackendFrame): Promise<void> | void {
    const code = f.code;
    if (code === P.B.ErrorResponse) {
      this.onExtendedError(item, f);
      return;
    }
    switch (item.t) {
      case 'parse':
        if (code !== P.B.ParseComplete) throw unexpected(code, 'Parse');
        this.sendClient(f.raw);
        this.popItem();
        return;
      case 'bind':
        if (code !== P.B.BindComplete) throw unexpected(code, 'Bind');
        this.sendClient(f.raw);
        this.popItem();
        return;
      case 'close':
        if (code !== P.B.CloseComplete) throw unexpected(code, 'Close');
        this.sendClient(f.raw);
        this.popItem();
        return;
      case 'describeS':
        if (code === P.B.ParameterDescription) {
          if (!item.injected) this.sendClient(f.raw);
          return;
        }
        if (code === P.B.NoData) {
          item.stmt.plan = null;
          if (!item.injected) this.sendClient(f.raw);
          this.popItem();
          return;
        }
        if (code !== P.B.RowDescription) throw unexpected(code, 'Describe');
        return this.planFor(
          f,
          item.stmt.decision,
          (plan) => {
            item.stmt.plan = plan;
            if (!item.injected) this.sendClient(f.raw);
            this.popItem();
          },
          (reason) => {
            // Remember the failure: an Execute of this statement will be refused.
            item.stmt.plan = undefined;
            item.stmt.planError = reason;
            if (!item.injected) this.sendClient(f.raw);
            this.popItem();
            return true;
          },
        );
      case 'describeP':
        if (code === P.B.NoData) {
          this.sendClient(f.raw);
          this.popItem();
          return;
        }
        if (code !== P.B.RowDescription) throw unexpected(code, 'Describe');
        // The statement's plan (from the injected Describe) already covers the columns; pass it on.
        this.sendClient(f.raw);
        this.popItem();
        return;
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
        this.sendClient(item.active ? this.mask(f, item.active) : f.raw);
        return;
      case P.B.CommandComplete:
        item.req.rows = P.rowsFromTag(P.decodeCommandComplete(f.body));
        this.rememberDefinition(item.portal.stmt.decision, item.req.path);
        this.finishReq(item.req);
        this.sendClient(f.raw);
        this.popItem();
        return;
      case P.B.PortalSuspended:
      case P.B.EmptyQueryResponse:
        this.finishReq(item.req);
        this.sendClient(f.raw);
        this.popItem();
        return;
      default:
        // CopyIn/CopyOut responses and COPY data.
        this.sendClient(f.raw);
        return;
    }
  }

  private onExtendedError(item: Exclude<Item, { t: 'query' | 'sync' | 'local' }>, f: P.BackendFrame): void {
    const sqlstate = P.decodeErrorFields(f.body).get('C');
    if (item.t === 'execute') this.finishReq(item.req, sqlstate);
    if (item.t === 'parse') this.finishReq(item.req, sqlstate);
    const decision = item.t === 'execute' ? item.portal.stmt.decision : item.t === 'parse' || item.t === 'describeS' ? item.stmt.decision : undefined;
    this.sendClient(this.scrubMessage(f, decision));
    // The upstream now skips everything up to Sync: so do the expectations.
    let i = 0;
    while (i < this.pending.length && this.pending[i]!.t !== 'sync') {
      const it = this.pending[i]!;
      if (it.t === 'parse' && this.statements.get(it.stmt.name) === it.stmt) {
        if (it.prev) this.statements.set(it.stmt.name, it.prev);
        else this.statements.delete(it.stmt.name);
      }
      i++;
    }
    this.pending.splice(0, i);
    if (this.pending.length === 0) this.skipUntilSync = true;
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
    const lineage = s?.masked ?? [];
    if (this.deps.masksConfigured === false && lineage.length === 0) {
      then(null);
      return;
    }
    const key = lineage.length
      ? `${f.body.toString('latin1')}\u0000${lineage.map((m) => `${m.index}:${m.strategy}:${m.column}`).join(',')}`
      : f.body.toString('latin1');
    if (this.deps.schema && this.deps.schema.epoch !== this.planEpoch) {
      this.planCache.clear();
      this.planEpoch = this.deps.schema.epoch;
    }
    const cached = this.planCache.get(key);
    if (cached !== undefined) {
      then(cached);
      return;
    }
    const fields = P.decodeRowDescription(f.body);
    return buildMaskPlan(fields, lineage, this.deps.catalog, this.maskRules, this.deps.views).then(
      (plan) => {
        this.planCache.set(key, plan);
        then(plan);
        this.flush();
      },
      (err: unknown) => {
        const reason = err instanceof MaskPlanError ? err.message : `mask plan failed: ${(err as Error).message}`;
        if (onFail?.(reason)) return;
        this.refuseResult(reason);
      },
    );
  }

  private mask(f: P.BackendFrame, a: ActivePlan): Buffer {
    return maskDataRow(f.body, a.plan, a.formats, this.deps.maskKey, this.deps.maskValue);
  }

  /** The decision of the statement the upstream is working on, if any. */
  private currentDecision(): StatementDecision | undefined {
    const head = this.pending[0];
    if (!head) return undefined;
    if (head.t === 'query') return head.reqs[head.idx]?.decision;
    if (head.t === 'execute') return head.portal.stmt.decision;
    return undefined;
  }

  /**
   * An upstream ErrorResponse/NoticeResponse as the client may see it. For a statement that touches
   * masked data, texts that can quote values are withheld (the message unless its class is
   * value-free, and always detail, hint, context); the SQLSTATE and the other fields stay.
   */
  private scrubMessage(f: P.BackendFrame, s: StatementDecision | undefined): Buffer {
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

  /** Whether requests behind the current one, up to the next Sync/ReadyForQuery, were already forwarded. */
  private runsBehind(): boolean {
    const head = this.pending[0];
    if (head?.t === 'query') return head.idx < head.reqs.length - 1;
    for (let i = 1; i < this.pending.length; i++) {
      const t = this.pending[i]!.t;
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
    this.sendClient(P.errorResponse({ severity: 'ERROR', ...r }));
    this.suppressUntilReady = true;
    const head = this.pending[0];
    if (head && (head.t === 'execute' || head.t === 'query')) {
      const req = head.t === 'execute' ? head.req : head.reqs[head.idx];
      if (req) this.auditStatement(req.sql, req.decision, req.time, req.start, { decision: 'deny', reason: r.message, approval: req.approval });
      if (head.t === 'query') head.idx = head.reqs.length;
    }
    // No CancelRequest here: a cancel is asynchronous and could land on the client's next
    // statement instead. The rest of the result is read and dropped.
  }

  // -------------------------------------------------------------------------------------------
  // Audit

  /**
   * The statement as the audit log and reviewers see it: literals and comments removed. A statement
   * decided from the engine's shape cache brings its normalised text: redacted once per shape.
   */
  private redacted(sql: string, shape?: string): string {
    return shape !== undefined && this.deps.redactShape ? this.redactShape(shape) : this.redactText(sql);
  }

  private base(type: AuditEntry['type'], time = new Date().toISOString()): Pick<AuditEntry, 'time' | 'session' | 'identity' | 'role' | 'type'> {
    return { time, session: this.deps.config.session.id, identity: this.deps.config.claims, role: this.deps.config.role, type };
  }

  private append(e: AuditEntry): void {
    try {
      this.deps.audit.append(e);
    } catch (err) {
      this.auditFailed(err);
    }
  }

  /** An audit log that cannot be written must stop the data path (fail closed). */
  private auditFailed(err: unknown): void {
    this.deps.logger.warn(`tollgate: audit log write failed: ${(err as Error).message}`);
    this.fatal({ code: SQLSTATE.internalError, message: 'tollgate: the audit log cannot be written' });
  }

  private auditEvent(type: 'connect' | 'auth', decision: AuditEntry['decision'], reason: string): void {
    this.append({ ...this.base(type), decision, reason });
  }

  private auditSimple(sql: string, decision: AuditEntry['decision'], rule: string | null, reason: string): void {
    this.append({ ...this.base('sql'), statement: this.redacted(sql), decision, rule, reason });
  }

  private auditStatement(
    sql: string,
    s: StatementDecision | undefined,
    time: string,
    start: number,
    extra: { decision?: AuditEntry['decision']; reason?: string; approval?: AuditEntry['approval']; masked?: MaskPlan['masked']; rows?: number; sqlstate?: string },
  ): void {
    const durationMs = Math.round((performance.now() - start) * 1000) / 1000;
    this.auditPending.push(() => this.statementEntry(sql, s, time, durationMs, extra));
  }

  private statementEntry(
    sql: string,
    s: StatementDecision | undefined,
    time: string,
    durationMs: number,
    extra: { decision?: AuditEntry['decision']; reason?: string; approval?: AuditEntry['approval']; masked?: MaskPlan['masked']; rows?: number; sqlstate?: string },
  ): AuditEntry {
    // One literal in a fixed shape (no spread of base()): this runs once per statement.
    const e: AuditEntry = {
      time,
      session: this.deps.config.session.id,
      identity: this.deps.config.claims,
      role: this.deps.config.role,
      type: 'sql',
      statement: this.redacted(sql, s?.shape),
      accesses: s?.accesses ?? [],
      decision: extra.decision ?? s?.decision ?? 'error',
      rule: s?.rule ?? null,
      reason: extra.reason ?? s?.reason ?? '',
      durationMs,
    };
    if (extra.approval) e.approval = extra.approval;
    if (extra.masked?.length) e.masked = extra.masked;
    if (extra.rows !== undefined) e.rows = extra.rows;
    if (extra.sqlstate) e.sqlstate = extra.sqlstate;
    return e;
  }

  private finishReq(req: Req, sqlstate?: string): void {
    if (!sqlstate && req.decision && this.deps.schema && changesSchema(req.decision)) {
      this.deps.schema.changed();
      // Inside a transaction block (known or opened by the same message) the change is not
      // visible to the catalog connection yet: read again once the block has ended.
      this.schemaChangedInBlock = true;
    }
    this.auditStatement(req.sql, req.decision, req.time, req.start, {
      approval: req.approval,
      masked: req.masked,
      rows: req.rows,
      sqlstate,
    });
  }
}

/**
 * SQLSTATE classes whose messages cannot quote data values (connection, transaction state and
 * rollback, resources and limits, operator intervention, system errors). Every other class can:
 * data exceptions and integrity violations quote values, and even "object" errors do when a value
 * is used as a name (`email::regclass` → 3F000 schema "<value>", `current_setting(email)` → 42704).
 * So for a statement touching masked data, only these keep their message (and 42501).
 */
const VALUE_FREE = new Set(['08', '25', '40', '53', '54', '55', '57', '58']);

/** A redaction's result, or a fixed text when it fails (the log keeps the record either way). */
function redactOr(redact: () => string): string {
  try {
    return redact();
  } catch {
    return '(statement could not be redacted)';
  }
}

/** A DO block or a call that may run SQL of its own (a user function, a dangerous built-in): it may SET anything. */
function mayRunSql(a: Access): boolean {
  return a.kind === 'do' || (a.kind === 'call' && (a.exact === true || !a.object?.startsWith('pg_catalog.')));
}

/** The statement sets the search path itself (or may: a function can call set_config). */
function setsPath(s: StatementDecision): boolean {
  return s.accesses.some((a) => ((a.kind === 'set' || a.kind === 'reset') && a.object !== undefined && PATH_SETTINGS.has(a.object)) || mayRunSql(a));
}

/** Settings that change what the search path names: the path itself, and the role "$user" expands to. */
const PATH_SETTINGS = new Set(['search_path', 'role', 'session_authorization']);

/**
 * The statement may move the session's search path once it was ever changed: transaction control
 * (ROLLBACK, ROLLBACK TO, COMMIT of a SET LOCAL, AND CHAIN), RESET ALL / DISCARD, SET … FROM
 * CURRENT, DDL (a created or renamed schema changes what the path names), calls.
 */
function mayMovePath(s: StatementDecision): boolean {
  if (setsPath(s)) return true;
  if ((s.kind === 'transaction' || s.accesses.some((a) => a.kind === 'transaction')) && !keepsPath(s.sql)) return true;
  return s.accesses.some((a) => a.kind === 'reset' || a.kind === 'create' || a.kind === 'alter' || a.kind === 'drop');
}

/**
 * Transaction statements that never move the search path: BEGIN, START TRANSACTION, SAVEPOINT,
 * RELEASE, SET TRANSACTION. (A lookup of the path between BEGIN and SET TRANSACTION would be the
 * transaction's first query and break it.) Anything else, or any doubt, counts as moving it.
 */
function keepsPath(sql: string): boolean {
  const text = sql.replace(/^(?:\s+|--[^\n]*(?:\n|$)|\/\*[^*]*\*+(?:[^/*][^*]*\*+)*\/)*/, '');
  return /^(?:begin|start\s+transaction|savepoint|release|set\s+transaction)\b/i.test(text) && !/\band\s+chain\b/i.test(text);
}

/** RESET ALL, DISCARD ALL or SET search_path FROM CURRENT: the analysis cannot follow where they lead. */
function resetsAll(s: StatementDecision): boolean {
  return s.accesses.some(
    (a) => (a.kind === 'reset' && a.object === 'all') || (a.kind === 'set' && a.object === 'search_path' && /\bfrom\s+current\b/i.test(s.sql)),
  );
}

/** A search path as a comparable key. */
function pathKey(path: readonly string[]): string {
  return JSON.stringify(path);
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A decision denying the whole message. */
function denyAll(sql: string, reason: string): Decision {
  return { decision: 'deny', statements: [{ sql, kind: 'other', decision: 'deny', rule: null, reason, accesses: [], masked: [] }] };
}

/** Statements after which the catalog may name columns differently. */
function changesSchema(s: StatementDecision): boolean {
  return s.accesses.some((a) => a.kind === 'create' || a.kind === 'alter' || a.kind === 'drop');
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

function unexpected(code: number, what: string): ProtocolError {
  return new ProtocolError(`unexpected upstream message '${String.fromCharCode(code)}' in answer to ${what}`);
}

/**
 * Bytes waiting to be written, collected without copying: a message that directly follows the
 * previous one in memory (the next frame of the same input chunk) only extends the current run, so
 * forwarded traffic leaves as whole slices of the chunks it arrived in.
 */
/** One direction's queue: items in arrival order, `busy` while a handler's promise runs. */
class Lane<T> {
  items: T[] = [];
  head = 0;
  busy = false;
  /** Bound once: the parsers call it for every message. */
  readonly push = (item: T): void => {
    this.items.push(item);
  };

  get empty(): boolean {
    return this.head >= this.items.length;
  }
}

class OutputRun {
  private parts: Buffer[] = [];
  private run: ArrayBufferLike | null = null;
  private start = 0;
  private end = 0;

  push(buf: Buffer): void {
    if (this.run === buf.buffer && this.end === buf.byteOffset) {
      this.end += buf.length;
      return;
    }
    this.seal();
    this.run = buf.buffer;
    this.start = buf.byteOffset;
    this.end = buf.byteOffset + buf.length;
  }

  /** Everything collected as one buffer (null when nothing is waiting); empties the run. */
  take(): Buffer | null {
    this.seal();
    if (this.parts.length === 0) return null;
    const data = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts = [];
    return data;
  }

  private seal(): void {
    if (this.run === null) return;
    this.parts.push(Buffer.from(this.run, this.start, this.end - this.start));
    this.run = null;
  }
}
