// One client connection through the proxy: its phases (startup and SCRAM authentication, opening
// the upstream session, ready, closed), its sockets and the flow control between them. Once ready,
// client messages go to Requests (requests.ts: decided, forwarded, refused or held for review) and
// upstream frames to the ResponseQueue (queue.ts: routed to the request they answer). What the
// session has named lives in SessionNames (names.ts), the search path in SearchPath
// (search-path.ts), what of a result may leave in ResultGuard (result-guard.ts), its records in
// AuditTrail (audit-trail.ts). The README's proxy section says what a client sees.
//
// Each direction is a Lane handled in order, one message at a time: a handler that must wait
// (review, connect, a catalog lookup) returns a promise, and its side's socket is paused until it
// settles. Output is collected per event-loop turn and written as whole runs of the input chunks.

import type { Socket } from 'node:net';
import { ProtocolError, SQLSTATE, type Refusal } from '../pg/errors.js';
import * as P from '../pg/protocol.js';
import { checkStartupParams, isUtf8Name } from '../pg/startup-params.js';
import { AuditTrail } from './audit-trail.js';
import type { ConnectionDeps, ScramServerLike, UpstreamSession } from './deps.js';
import { Lane, OutputRun } from './lane.js';
import { SessionNames } from './names.js';
import { ResponseQueue, type Rooms, type Wire } from './queue.js';
import { Requests } from './requests.js';
import { ResultGuard } from './result-guard.js';
import { SearchPath } from './search-path.js';

type Phase = 'startup' | 'sasl-first' | 'sasl-final' | 'connecting' | 'ready' | 'closed';

export class ProxyConnection implements Wire {
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
  private readonly toClient = new OutputRun();
  private readonly toUpstream = new OutputRun();
  private clientBlocked = false; // client socket buffer full → pause upstream
  private upstreamBlocked = false; // upstream socket buffer full → pause client
  private draining = false;
  private readonly abort = new AbortController();

  private readonly path: SearchPath;
  private readonly trail: AuditTrail;
  private readonly queue: ResponseQueue;
  private readonly requests: Requests;

  private closedResolve!: () => void;
  /** Resolves when both sockets are gone. */
  readonly closed = new Promise<void>((r) => (this.closedResolve = r));

  constructor(private readonly client: Socket, private readonly deps: ConnectionDeps) {
    this.path = new SearchPath(deps.searchPath ?? ['public']);
    this.trail = new AuditTrail(deps, () => this.fatal({ code: SQLSTATE.internalError, message: 'tollgate: the audit log cannot be written' }));
    const rooms: Rooms = { names: new SessionNames(), path: this.path, guard: new ResultGuard(deps), trail: this.trail };
    this.queue = new ResponseQueue(this, rooms, deps.schema);
    this.requests = new Requests(this, this.queue, rooms, deps, this.abort.signal);
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
    return this.queue.items.length === 0 && this.front.empty && !this.front.busy && !this.back.busy;
  }

  get ended(): boolean {
    return this.phase === 'closed';
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
    this.trail.event('auth', 'deny', 'authentication timeout');
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
    this.trail.drain();
    const wasBusy = this.queue.busy;
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
    this.queue.wakeAll();
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

  sendClient(buf: Buffer): void {
    this.toClient.push(buf);
  }

  sendUpstream(buf: Buffer): void {
    this.toUpstream.push(buf);
  }

  flush(): void {
    if (this.phase === 'closed') {
      this.trail.drain();
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
    this.trail.drain();
  }

  /** A FATAL error to the client, then close. */
  fatal(r: Refusal): void {
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
  // The two lanes

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
      const emptied = this.runLane(this.back, (f) => this.queue.onBackend(f), () => this.runBack());
      if (emptied && this.draining && this.idle) this.shutdownNow();
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
        return this.requests.onMessage(m);
      default:
        return;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Startup, authentication, the upstream session

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
          this.trail.event('connect', 'deny', refusal.message);
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
    this.trail.event('auth', 'deny', reason);
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
        searchPath: this.path.startupValue,
      });
    } catch (err) {
      // The error text may name the host; never the password (connectUpstream's contract).
      this.deps.logger.warn(`tollgate: upstream connection failed: ${(err as Error).message}`);
      this.trail.event('connect', 'error', 'upstream connection failed');
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
    this.queue.backendPid = up.backendKey.pid;
    this.proxyKey = this.deps.cancelKeys.issue(up.backendKey);
    this.sendClient(P.backendKeyData(this.proxyKey.pid, this.proxyKey.secret));
    this.sendClient(P.readyForQuery('I'));
    this.phase = 'ready';
    this.trail.event('connect', 'allow', 'client authenticated; upstream session opened');
    this.flush();
    if (up.leftover.length) this.onUpstreamData(up.leftover);
  }

  private upstreamLost(why: string): void {
    if (this.phase === 'closed') return;
    this.deps.logger.warn(`tollgate: upstream connection lost (${why})`);
    this.fatal({ code: SQLSTATE.connectionFailure, message: 'tollgate: the upstream connection was lost' });
  }
}
