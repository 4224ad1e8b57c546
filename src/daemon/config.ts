// What the proxy daemon needs to run one session. The action hands it over on stdin (never argv or
// the environment); `tollgate serve` builds it from flags.

import type { ApprovalConfig } from '../approval/config.js';

export type { ApprovalConfig, GithubApprovalConfig } from '../approval/config.js';

import type { ListenerTls } from '../http/tls.js';
import type { UpstreamCredentials } from '../http/upstream.js';

export interface ProxyConfig {
  listen: { host: string; port: number };
  /** postgres://user:pass@host:port/db?sslmode=… of the real database. Never logged. */
  upstream: string;
  policyPath: string;
  role: string;
  /** Verified OIDC claims (or a synthetic identity for `serve`/`demo`). */
  claims: Record<string, unknown>;
  session: {
    id: string;
    /** The password clients use (SCRAM-SHA-256) with user `tollgate`. */
    secret: string;
    expiresAt: Date;
  };
  auditPath: string;
  approvalTimeoutMs: number;
  approval: ApprovalConfig;
  /** Key for the `hash` mask strategy (HMAC); random per session unless given. */
  maskKey: string;
  /**
   * Largest Query/Parse/FunctionCall message a client may send, in bytes (length field included).
   * Larger ones end the connection with FATAL 08P01 as soon as their header arrives. The proxy
   * analyses statements on its event loop, so huge ones would stall every session. Default 16 MiB
   * (protocol.ts DEFAULT_MAX_STATEMENT_LENGTH); Bind and CopyData keep PostgreSQL's 1 GiB.
   */
  maxStatementBytes?: number;
  /** A client that has not completed startup and SCRAM within this many ms gets FATAL 08P01. Default 30 000. */
  authTimeoutMs?: number;
  /** Concurrent client connections (authenticated or not); more get FATAL 53300. Default 64. */
  maxClientConnections?: number;
  /** The role's HTTP upstreams: their resolved credentials (never logged), by upstream name. */
  http?: { credentials: Record<string, UpstreamCredentials>; tls?: Record<string, ListenerTls> };
}
