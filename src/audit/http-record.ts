// The audit record of one HTTP request (`type: http`), built here with the other record kinds so
// the log has one format: method, upstream, normalized path with query values hidden, decision,
// rule, status, bytes, duration and approval, in the same hash chain as the SQL records.
import type { HttpExchange } from '../http/proxy.js';
import type { AuditEntry } from './types.js';

export interface HttpRecordContext {
  session: string;
  role: string;
  identity: Record<string, unknown>;
}

export function httpAuditEntry(ex: HttpExchange, ctx: HttpRecordContext): AuditEntry {
  const entry: AuditEntry = {
    time: ex.time.toISOString(),
    session: ctx.session,
    identity: ctx.identity,
    role: ctx.role,
    type: 'http',
    decision: ex.decision,
    rule: ex.rule,
    reason: ex.reason,
    durationMs: Math.round(ex.durationMs * 1000) / 1000,
    http: {
      upstream: ex.upstream,
      method: ex.method,
      path: ex.path,
      ...(ex.operation ? { operation: ex.operation } : {}),
      status: ex.status,
      bytesIn: ex.bytesIn,
      bytesOut: ex.bytesOut,
    },
  };
  if (ex.approval) {
    const a = ex.approval;
    entry.approval = {
      id: a.id,
      approved: a.approved,
      via: a.via,
      ...(a.approver ? { approver: a.approver } : {}),
      ...(a.at ? { at: a.at.toISOString() } : {}),
      ...(a.where ? { where: a.where } : {}),
      ...(a.reason ? { reason: a.reason } : {}),
    };
  }
  return entry;
}
