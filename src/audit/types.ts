import type { Access } from '../sql/types.js';
import type { Action, MaskedOutput } from '../policy/types.js';

/** What the proxy records for one request (one Query message, or one Parse/Bind/Execute cycle). */
export interface AuditEntry {
  /** ISO time the request arrived. */
  time: string;
  session: string;
  /** Selected OIDC claims: repository, workflow, run_id, actor, ref, sha, sub, … */
  identity: Record<string, unknown>;
  role: string;
  /** `sql` for statements, `http` for HTTP requests, `mcp` for MCP messages; `connect`, `auth`, `session` for connection events. */
  type: 'sql' | 'http' | 'mcp' | 'connect' | 'auth' | 'session';
  /** The statement with every literal replaced by a placeholder. Never the raw text. */
  statement?: string;
  accesses?: Access[];
  decision: Action | 'error';
  rule?: string | null;
  reason?: string;
  approval?: { id: string; approved: boolean; via: string; approver?: string; at?: string; where?: string; reason?: string };
  masked?: Pick<MaskedOutput, 'name' | 'strategy' | 'column'>[];
  rows?: number;
  durationMs?: number;
  /** Upstream error SQLSTATE when the server refused an allowed statement. */
  sqlstate?: string;
  /** For `type: http`: the request as decided (query values hidden), what the client got, and how much. */
  http?: HttpAuditFields;
  /** (type `mcp`) The MCP message: what it asked of which server, with argument values hidden. */
  mcp?: McpAuditFields;
}

export interface McpAuditFields {
  /** JSON-RPC method, e.g. `tools/call`, `notifications/cancelled`. */
  method: string;
  server: string;
  /** `request` from the client, `notification` from the client, or `server` (something the server sent). */
  direction: 'request' | 'notification' | 'server';
  tool?: string;
  uri?: string;
  prompt?: string;
  /** The arguments' shape: the same keys with each value replaced by its JSON type. */
  arguments?: unknown;
  /** Bytes of the result as the server sent it (JSON). */
  resultBytes?: number;
  /** The tool reported an error (`isError`), or the server answered with a JSON-RPC error (`error`). */
  outcome?: 'ok' | 'tool-error' | 'error' | 'cancelled' | 'refused';
  /** What masking changed in the result: field masks and secrets replaced. */
  maskedFields?: number;
  secrets?: number;
}

export interface HttpAuditFields {
  upstream: string;
  method: string;
  /** The normalized path with every query value replaced by `…`. */
  path: string;
  /** The request in the policy's vocabulary (`push prod/api:v2`), when it was decided. */
  operation?: string;
  /** Status sent to the client; 0 when the connection broke before one was sent. */
  status: number;
  bytesIn: number;
  bytesOut: number;
}

/** A line of the log: the entry plus its place in the SHA-256 chain. */
export interface AuditLine extends AuditEntry {
  seq: number;
  prev: string;
  hash: string;
}
