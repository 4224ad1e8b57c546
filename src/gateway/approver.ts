// The approver of one gateway session: a review becomes a pending approval in the state store and a
// check run with Approve/Deny buttons created by the App on the pull request's head commit (read by
// the gateway from GitHub, not from the job). The statement is held until any replica decides it
// (ApprovalHub wakes this one), or until its deadline: then it is timed out here and the check run
// completed as such. Without a pull request or an App there is no one to ask: denied, saying why.
import { checkRunName, checkRunSummary } from '../approval/check-run-text.js';
import type { Approver, ReviewOutcome, ReviewRequest } from '../approval/types.js';
import { decide, getApproval, insertApproval, setCheckRun, type ApprovalHub, type ApprovalRow } from './approvals.js';
import type { GatewayContext } from './context.js';
import type { GithubApp } from './github-app.js';
import type { SessionRow } from './sessions.js';

export interface GatewayApproverDeps {
  ctx: GatewayContext;
  hub: ApprovalHub;
  app: GithubApp | null;
  session: SessionRow;
  approvers: readonly string[] | null;
}

export class GatewayApprover implements Approver {
  constructor(private readonly d: GatewayApproverDeps) {}

  async review(req: ReviewRequest, signal?: AbortSignal): Promise<ReviewOutcome> {
    const { ctx, session, app } = this.d;
    const repository = typeof session.identity.repository === 'string' ? session.identity.repository : '';
    const actor = typeof session.identity.actor === 'string' ? session.identity.actor : '';
    if (!app) return { approved: false, via: 'unavailable', reason: 'the gateway has no GitHub App configured, so no one can be asked' };
    if (session.pullRequest === null || !repository) {
      return { approved: false, via: 'unavailable', reason: 'the session has no pull request to ask on (the job passed none), so review falls back to deny' };
    }
    ctx.metrics.approvalsPending.inc();
    try {
      const pr = await app.pullRequest(repository, session.pullRequest);
      const deadline = new Date(req.requestedAt.getTime() + req.timeoutMs);
      const name = checkRunName(req);
      await insertApproval(ctx.store, {
        id: req.id,
        session: session.id,
        repository,
        pullRequest: session.pullRequest,
        headSha: pr.headSha,
        actor,
        prAuthor: pr.author,
        approvers: this.d.approvers,
        name,
        requestedAt: req.requestedAt,
        deadline,
      });
      const summary = checkRunSummary({ req, actor, repository, approvers: this.d.approvers ?? [], deadline, refusals: [] });
      const run = await app.createCheckRun(repository, { name, headSha: pr.headSha, externalId: req.id, title: 'Waiting for approval', summary });
      await setCheckRun(ctx.store, req.id, run.id);
      const row = await this.d.hub.wait(req.id, deadline, signal);
      if (row && row.status !== 'pending') return outcomeOf(row, run.url);
      // Deadline (or the client went away): first writer wins, so a click racing this is honoured.
      const timedOut = await decide(ctx.store, req.id, { status: 'timed_out', via: 'timeout', reason: 'no permitted answer before the approval timeout' }, ctx.now());
      if (!timedOut) {
        const answered = await getApproval(ctx.store, req.id);
        if (answered && answered.status !== 'pending') return outcomeOf(answered, run.url);
      }
      await app.completeCheckRun(repository, run.id, 'timed_out', 'Timed out', `No permitted answer before ${deadline.toISOString()}; the statement was denied.`).catch(() => {});
      return { approved: false, via: 'timeout', reason: 'no permitted answer before the approval timeout', where: run.url };
    } catch (err) {
      ctx.logger.warn(`tollgate gateway: review ${req.id} failed: ${(err as Error).message}`);
      return { approved: false, via: 'unavailable', reason: 'the review could not be opened on GitHub or in the state store; denied' };
    } finally {
      ctx.metrics.approvalsPending.dec();
    }
  }
}

function outcomeOf(row: ApprovalRow, runUrl: string): ReviewOutcome {
  return {
    approved: row.status === 'approved',
    via: row.status === 'timed_out' ? 'timeout' : 'github',
    approver: row.approver ?? undefined,
    at: row.decidedAt ?? undefined,
    where: row.answerUrl ?? runUrl,
    reason: row.reason ?? undefined,
  };
}
