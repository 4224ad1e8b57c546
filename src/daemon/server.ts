// The proxy daemon: load the policy, open the audit log, listen, hand each client to a
// ProxyConnection, and drain on request. One connection's failure never reaches another: every
// handler is guarded and every socket has an 'error' handler.

import { createServer, type Server, type Socket } from 'node:net';
import { createApprover } from '../approval/index.js';
import type { Approver } from '../approval/types.js';
import { AuditLog } from '../audit/log.js';
import type { AuditEntry } from '../audit/types.js';
import type { Role } from '../policy/compile.js';
import { loadPolicy } from '../policy/load.js';
import { credentialSecrets } from '../http/listen.js';
import type { Analyzer } from '../policy/engine.js';
import { createEngine, sqlAnalyzer } from '../policy/sql-analyzer.js';
import { initSql } from '../sql/parser.js';
import { redactLiterals, redactNormalized, shapeKey } from '../sql/shape.js';
import { sendCancel } from '../pg/cancel.js';
import { CancelKeys } from '../pg/cancel-keys.js';
import { addAncestorOrigins, ColumnCatalog, descendantMaskNames, inheritedMaskNames, InheritanceMap, withAncestorSources } from '../pg/catalog.js';
import { maskValue } from '../pg/mask-values.js';
import { errorResponse, FrontendParser } from '../pg/protocol.js';
import { ScramServer } from '../pg/scram.js';
import { connectUpstream } from '../pg/upstream.js';
import { ViewOrigins, type ViewOrigin } from '../pg/view-origins.js';
import { ProxyConnection } from '../proxy/connection.js';
import type { ConnectionDeps, EngineLike, Logger } from '../proxy/deps.js';
import type { ProxyConfig } from './config.js';
import { splitQualified } from '../sql/qualified.js';

export interface ProxyDeps {
  approver?: Approver;
  engine?: EngineLike;
  logger?: Logger;
  /** Replaces the upstream catalog (tests). */
  catalog?: ConnectionDeps['catalog'];
  /** Replaces the clock (tests of session expiry). */
  now?: () => Date;
}

export interface RunningProxy {
  port: number;
  host: string;
  /** Number of open client connections. */
  readonly connections: number;
  /**
   * Stops accepting, lets running statements finish (at most `graceMs`, default 10 s), ends every
   * session, flushes and closes the audit log.
   */
  close(opts?: { graceMs?: number }): Promise<void>;
  /** Resolves when every audit record appended so far is on disk (a busy log batches its writes). */
  flushAudit(): Promise<void>;
  /** The session's audit log and approver, shared with the HTTP listeners of the same session. */
  readonly shared?: { readonly audit: AuditLog; readonly approver: Approver };
}

/** What views read, including the partitioned tables / parents of the partitions / children they read. */
class InheritingViewOrigins extends ViewOrigins {
  constructor(url: string, private readonly catalog: ColumnCatalog) {
    super(url);
  }

  override async origins(relationOid: number): Promise<ViewOrigin[] | null> {
    return addAncestorOrigins(await super.origins(relationOid), (schema, table) => this.catalog.ancestorsOf(schema, table));
  }
}

/** Concurrent client connections unless ProxyConfig.maxClientConnections says otherwise. */
export const DEFAULT_MAX_CLIENT_CONNECTIONS = 64;
/** Time to complete startup and SCRAM unless ProxyConfig.authTimeoutMs says otherwise. */
export const DEFAULT_AUTH_TIMEOUT_MS = 30_000;

const stderrLogger: Logger = {
  info: (m) => process.stderr.write(`${m}\n`),
  warn: (m) => process.stderr.write(`${m}\n`),
};

export async function startProxy(config: ProxyConfig, deps: ProxyDeps = {}): Promise<RunningProxy> {
  const logger = deps.logger ?? stderrLogger;
  await initSql();
  let inheritance: InheritanceMap | null = null;
  // Set below when the role has masks: lineage through partitions must reach their parents' masks.
  let lineageInheritance: InheritanceMap | null = null;
  const analyzer: Analyzer = {
    analyze: (sql, options) => {
      const analyses = sqlAnalyzer.analyze(sql, options);
      const map = lineageInheritance;
      if (!map || map.none) return analyses;
      if (!map.loaded) {
        // Fail closed (the engine does not cache a failed analysis): try to load it again.
        loadInheritance();
        throw new Error('the table inheritance catalog (partitions of masked tables) could not be read from the upstream');
      }
      return withAncestorSources(analyses, (schema, table) => map.ancestors(schema, table) ?? []);
    },
    shapeKey,
  };
  const policyEngine = deps.engine ? null : await createEngine(loadPolicy(config.policyPath), config.role, { analyzer });
  const engine: EngineLike = deps.engine ?? policyEngine!;
  // Terminal questions go to stderr: stdout belongs to the daemon's own output.
  const approvers = policyEngine?.role.approvers;
  const approver = deps.approver ?? createApprover(config.approval, {
    output: process.stderr,
    approvers: approvers ? [...approvers] : undefined,
    // The check run's text is scrubbed like the audit log.
    secrets: [config.session.secret, config.maskKey, ...upstreamSecrets(config.upstream)],
  });
  const audit = await AuditLog.open(config.auditPath, {
    session: config.session.id,
    secrets: [config.session.secret, config.maskKey, ...upstreamSecrets(config.upstream), ...credentialSecrets(config.http?.credentials ?? {})],
    onError: (err) => logger.warn(`tollgate: ${err.message}`),
  });
  const ownCatalog = deps.catalog ? null : new ColumnCatalog(config.upstream);
  // A mask on a partitioned table or inheritance parent also covers its partitions and children.
  const maskFor = (schema: string, table: string, column: string) => engine.maskForColumn(schema, table, column);
  // …and a mask on a partition or child covers the same column read through its parent.
  const catalog = descendantMaskNames(inheritedMaskNames(deps.catalog ?? ownCatalog!, maskFor), (schema, table) => {
      const below = inheritance ? inheritance.descendants(schema, table) : [];
      // Unknown (a reload failed): this result is refused, and the map is read again for the next.
      if (below === undefined) loadInheritance();
      return below;
    },
    maskFor,
  );
  const cancelKeys = new CancelKeys();
  const views = ownCatalog ? new InheritingViewOrigins(config.upstream, ownCatalog) : undefined;
  // Which tables are partitions/children of which (synchronous answers for error-text scrubbing).
  // When partitions change, decisions cached under the old map (lineage of computed columns over a
  // table that is now a partition of a masked one) are dropped.
  inheritance = ownCatalog ? new InheritanceMap((sql) => ownCatalog.query(sql), () => policyEngine?.clearCache()) : null;
  const loadInheritance = (): void => {
    inheritance?.refresh().catch((err: Error) => logger.warn(`tollgate: cannot read the table inheritance catalog: ${err.message}`));
  };
  if (inheritance && policyEngine && policyEngine.role.masks.length > 0) {
    lineageInheritance = inheritance;
    // Before listening: decisions are cached, so none may be made without knowing the partitions.
    await inheritance.refresh().catch((err: Error) => logger.warn(`tollgate: cannot read the table inheritance catalog: ${err.message}`));
  } else {
    loadInheritance();
  }
  const schema = {
    epoch: 0,
    changed() {
      this.epoch++;
      ownCatalog?.invalidate();
      views?.invalidate();
      loadInheritance();
    },
    // Masked data can reach lineage through partitions: the next decision waits for the reload.
    settling: () => lineageInheritance?.loading ?? null,
  };
  const connDeps: ConnectionDeps = {
    config,
    engine,
    catalog,
    // writeError lets a connection deny new statements while the log cannot be written (fail closed).
    audit: {
      append: (e: AuditEntry) => audit.append(e),
      appendLater: (build: () => AuditEntry) => audit.appendLater(build),
      get writeError() {
        return audit.writeError;
      },
    },
    approver,
    redact: redactLiterals,
    redactShape: redactNormalized,
    maskValue,
    maskKey: Buffer.from(config.maskKey, 'utf8'),
    connectUpstream: (url, opts) => connectUpstream(url, opts),
    sendCancel: (url, key) => sendCancel(url, key),
    createScram: (secret) => new ScramServer(secret),
    cancelKeys,
    logger,
    schema,
    views,
    masksConfigured: policyEngine ? policyEngine.role.masks.length > 0 : true,
    objectHasMasks:
      policyEngine && policyEngine.role.masks.length > 0 ? (object) => objectHasMasks(policyEngine.role, object, inheritance) : undefined,
    now: deps.now,
  };

  const live = new Set<ProxyConnection>();
  const maxClients = positiveInt(config.maxClientConnections, DEFAULT_MAX_CLIENT_CONNECTIONS, 'maxClientConnections');
  const authTimeoutMs = positiveInt(config.authTimeoutMs, DEFAULT_AUTH_TIMEOUT_MS, 'authTimeoutMs');
  let refusing = 0;
  const server: Server = createServer({ noDelay: true }, (socket: Socket) => {
    socket.on('error', () => {}); // the connection's own handler closes it; never crash the process
    try {
      if (closing) {
        socket.destroy();
        return;
      }
      if (live.size >= maxClients) {
        // Like PostgreSQL: no session (and no upstream connection) for a client over the limit.
        // Refusals in progress are bounded too, so a flood of them cannot pile up.
        if (refusing >= maxClients) {
          socket.destroy();
          return;
        }
        refusing++;
        refuseTooMany(socket, connDeps, authTimeoutMs, () => refusing--);
        return;
      }
      const conn = new ProxyConnection(socket, connDeps);
      live.add(conn);
      // PostgreSQL's authentication_timeout: an unauthenticated client must not hold a slot.
      const deadline = setTimeout(() => conn.authDeadline(authTimeoutMs / 1000), authTimeoutMs);
      deadline.unref();
      void conn.closed.then(() => {
        clearTimeout(deadline);
        live.delete(conn);
      });
      conn.start();
    } catch (err) {
      logger.warn(`tollgate: cannot start a connection: ${(err as Error).message}`);
      socket.destroy();
    }
  });
  server.on('error', (err) => logger.warn(`tollgate: listener error: ${err.message}`));
  let closing = false;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.listen.port;

  let closed: Promise<void> | null = null;
  return {
    port,
    host: config.listen.host,
    get connections() {
      return live.size;
    },
    close(opts = {}) {
      if (closed) return closed;
      closing = true;
      closed = (async () => {
        const stopped = new Promise<void>((r) => server.close(() => r()));
        for (const c of live) c.beginDrain();
        const grace = opts.graceMs ?? 10_000;
        const all = Promise.all([...live].map((c) => c.closed));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, grace)))]);
        clearTimeout(timer);
        for (const c of live) c.close();
        await stopped;
        ownCatalog?.close();
        views?.close();
        await approver.close?.();
        await audit.close();
      })();
      return closed;
    },
    flushAudit: () => audit.flush(),
    shared: { audit, approver },
  };
}

function positiveInt(v: number | undefined, dflt: number, what: string): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`tollgate: ${what} must be a positive integer, not ${v}`);
  return v;
}

/**
 * Answers a client over the connection limit as PostgreSQL does: after its startup packet (so a
 * client that first asks for SSL reads 'N', then the error), FATAL 53300. A CancelRequest is still
 * honoured: a client at the limit must be able to stop its own query.
 */
function refuseTooMany(socket: Socket, deps: ConnectionDeps, timeoutMs: number, done: () => void): void {
  const parser = new FrontendParser();
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.removeAllListeners('data');
    // A peer that never closes its side must not keep the socket.
    setTimeout(() => socket.destroy(), 1000).unref();
    done();
  };
  const timer = setTimeout(() => {
    finish();
    socket.destroy();
  }, Math.min(timeoutMs, 10_000));
  timer.unref();
  socket.on('close', finish);
  socket.on('data', (chunk: Buffer) => {
    try {
      parser.parse(chunk, (m) => {
        if (finished) return;
        if (m.type === 'sslRequest' || m.type === 'gssEncRequest') {
          socket.write('N');
        } else if (m.type === 'cancelRequest') {
          finish();
          socket.end();
          const key = deps.cancelKeys.lookup(m.pid, m.secret);
          if (key) deps.sendCancel(deps.config.upstream, key).catch((err: Error) => deps.logger.warn(`tollgate: cancel request failed: ${err.message}`));
        } else {
          finish();
          socket.end(errorResponse({ severity: 'FATAL', code: TOO_MANY_CONNECTIONS, message: 'sorry, too many clients already' }));
        }
      });
    } catch {
      finish();
      socket.destroy();
    }
  });
}

/** SQLSTATE too_many_connections. */
const TOO_MANY_CONNECTIONS = '53300';

/** The upstream URL's password (and its decoded form) must never reach the audit log. */
function upstreamSecrets(url: string): string[] {
  try {
    const u = new URL(url);
    if (!u.password) return [];
    return [u.password, decodeURIComponent(u.password)];
  } catch {
    return [];
  }
}


/**
 * Whether any mask pattern of `role` can cover a column of `schema.name`, of a table it is a
 * partition/child of, or of one of its own partitions/children, as far as `inheritance` knows (unqualified, or partitions unknown: assume so).
 */
export function objectHasMasks(role: Role, object: string, inheritance: InheritanceMap | null): boolean {
  const parts = splitQualified(object);
  if (parts.length !== 2 || !parts[0] || !parts[1]) return true;
  const [schema, table] = parts as [string, string];
  const covers = (s: string, t: string): boolean => role.masks.some((m) => m.columns.some((p) => p.schema.test(s) && p.table.test(t)));
  if (covers(schema, table)) return true;
  const ancestors = inheritance ? inheritance.ancestors(schema, table) : [];
  const descendants = inheritance ? inheritance.descendants(schema, table) : [];
  // Not loaded (or its last reload failed): the table may be a partition of a masked one.
  if (ancestors === undefined || descendants === undefined) return true;
  // A parent hands out its partitions' rows: a mask on a partition covers reads through the parent.
  return ancestors.some((a) => covers(a.schema, a.table)) || descendants.some((d) => covers(d.schema, d.table));
}
