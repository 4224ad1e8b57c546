// A `review` statement held for a human: the request the approver shows (the statement redacted,
// who asks, the rule), its outcome as the audit log keeps it, and the refusal when it did not end
// in an approval. One request per execution: a reviewer never saw the parameters of the next one.

import { randomUUID } from 'node:crypto';
import type { ReviewOutcome } from '../approval/types.js';
import type { AuditEntry } from '../audit/types.js';
import { deniedRefusal, type Refusal } from '../pg/errors.js';
import type { StatementDecision } from '../policy/types.js';
import type { ConnectionDeps } from './deps.js';

export interface Reviewed {
  approved: boolean;
  approval: AuditEntry['approval'];
  refusal?: Refusal;
}

export async function review(
  deps: Pick<ConnectionDeps, 'approver' | 'config'>,
  statement: string,
  s: StatementDecision,
  signal: AbortSignal,
): Promise<Reviewed> {
  const id = randomUUID();
  let outcome: ReviewOutcome;
  try {
    outcome = await deps.approver.review(
      {
        id,
        sessionId: deps.config.session.id,
        statement,
        kind: s.decidingAccess?.kind ?? s.kind,
        object: s.decidingAccess?.object,
        rule: s.rule,
        reason: s.reason,
        identity: deps.config.claims,
        requestedAt: new Date(),
        timeoutMs: deps.config.approvalTimeoutMs,
      },
      signal,
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
