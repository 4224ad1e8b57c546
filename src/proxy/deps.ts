// What one proxied connection needs from the rest of the program: the session it serves and the
// services shared by every connection (policy engine, catalog, audit log, approvals, the upstream).
// The daemon (daemon/server.ts) wires them; a gateway listener serving many sessions can build the
// same object per session, sharing the services.

import type { Duplex } from 'node:stream';
import type { Approver } from '../approval/types.js';
import type { AuditEntry } from '../audit/types.js';
import type { DecideContext } from '../policy/engine.js';
import type { Decision, MaskStrategy } from '../policy/types.js';
import type { CancelKeys } from '../pg/cancel-keys.js';
import type { CatalogLike, MaskValueFn } from '../pg/mask-plan.js';
import type { ViewOriginsLike } from '../pg/view-origins.js';

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

/** The session one connection serves: who it is, where it goes, until when. (A ProxyConfig is one.) */
export interface ConnectionConfig {
  /** postgres://… of the real database. Never logged. */
  upstream: string;
  role: string;
  /** Verified OIDC claims (or a synthetic identity for `serve`/`demo`). */
  claims: Record<string, unknown>;
  session: {
    id: string;
    /** The password clients use (SCRAM-SHA-256) with user `tollgate`. */
    secret: string;
    expiresAt: Date;
  };
  approvalTimeoutMs: number;
  /** Largest Query/Parse/FunctionCall message after authentication (protocol.ts default when unset). */
  maxStatementBytes?: number;
}

export interface ConnectionDeps {
  config: ConnectionConfig;
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
