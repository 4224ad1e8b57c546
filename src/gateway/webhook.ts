// POST /github/webhook: the App's deliveries. The body is checked against X-Hub-Signature-256 (HMAC
// with the webhook secret, compared in constant time by @octokit/webhooks-methods) before anything
// is parsed; a delivery id seen before is dropped; then a `check_run.requested_action` click or an
// `issue_comment` answer decides a pending approval, if its sender passes the same rules as a comment
// answer: a human with write permission, in the role's approvers when it lists them, neither the
// pull request's author nor the job's actor. Every refusal is answered, counted and recorded.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { verify } from '@octokit/webhooks-methods';
import { parseApprovers, parseCommand } from '../approval/answers.js';
import { decide, firstDelivery, getApproval, type ApprovalRow } from './approvals.js';
import type { GatewayContext } from './context.js';
import type { GithubApp } from './github-app.js';
import { ApiError, readBody, sendJson } from './http.js';

/** GitHub caps deliveries at 25 MB; approval events are a few KiB. */
const MAX_WEBHOOK_BODY = 1024 * 1024;

export interface WebhookDeps {
  secret: string;
  app: GithubApp;
}

export async function handleWebhook(ctx: GatewayContext, deps: WebhookDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST') throw new ApiError(405, 'method_not_allowed', 'use POST /github/webhook', { allow: 'POST' });
  const body = await readBody(req, MAX_WEBHOOK_BODY);
  const signature = header(req, 'x-hub-signature-256');
  if (!signature || !/^sha256=[0-9a-f]{64}$/.test(signature)) throw new ApiError(401, 'bad_signature', 'X-Hub-Signature-256 is missing or malformed');
  // verify() compares in constant time; the body is used exactly as received (bytes, not re-serialized).
  if (!(await verify(deps.secret, body.toString('utf8'), signature).catch(() => false))) {
    throw new ApiError(401, 'bad_signature', 'the X-Hub-Signature-256 of this delivery does not match the webhook secret');
  }
  const event = header(req, 'x-github-event') ?? '';
  const delivery = header(req, 'x-github-delivery') ?? '';
  if (!/^[A-Za-z0-9-]{1,100}$/.test(delivery)) throw new ApiError(400, 'bad_request', 'X-GitHub-Delivery is missing or malformed');
  let payload: Record<string, any>;
  try {
    payload = JSON.parse(body.toString('utf8')) as Record<string, any>;
  } catch {
    throw new ApiError(400, 'bad_request', 'the delivery is not JSON');
  }
  if (!(await firstDelivery(ctx.store, delivery, event))) {
    throw new ApiError(409, 'replayed_delivery', `delivery ${delivery} was already received; a replay is dropped`);
  }
  if (event === 'ping') return sendJson(res, 200, { ok: true });
  if (event === 'check_run' && payload.action === 'requested_action') {
    const verdict = payload.requested_action?.identifier;
    if (verdict !== 'approve' && verdict !== 'deny') throw new ApiError(400, 'bad_request', 'unknown requested action');
    const approval = await pendingApproval(ctx, String(payload.check_run?.external_id ?? ''));
    if (approval.checkRunId !== Number(payload.check_run?.id) || approval.repository !== payload.repository?.full_name) {
      throw new ApiError(403, 'not_this_check_run', 'the click is not on the check run of that request');
    }
    await answer(ctx, deps, approval, verdict, payload.sender, 'github check run button', String(payload.check_run?.html_url ?? ''), res);
    return;
  }
  if (event === 'issue_comment' && payload.action === 'created') {
    const cmd = parseCommand(payload.comment?.body);
    if (cmd.kind === 'none') return sendJson(res, 200, { ignored: 'not a tollgate answer' });
    if (cmd.kind === 'malformed') throw new ApiError(400, 'malformed_answer', 'the whole comment must be "/tollgate approve <id>" or "/tollgate deny <id>"');
    const approval = await pendingApproval(ctx, cmd.id);
    if (approval.repository !== payload.repository?.full_name || approval.pullRequest !== Number(payload.issue?.number)) {
      throw new ApiError(403, 'not_this_pull_request', 'the answer is not on the pull request of that request');
    }
    await answer(ctx, deps, approval, cmd.verdict, payload.comment?.user, 'github comment', String(payload.comment?.html_url ?? ''), res);
    return;
  }
  sendJson(res, 200, { ignored: `event ${event.slice(0, 40)} is not used` });
}

async function pendingApproval(ctx: GatewayContext, id: string): Promise<ApprovalRow> {
  const approval = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id) ? await getApproval(ctx.store, id) : null;
  if (!approval) throw new ApiError(404, 'unknown_approval', 'no request of this gateway has that id');
  if (approval.status !== 'pending') throw new ApiError(409, 'already_decided', `request ${approval.id} was already ${approval.status.replace('_', ' ')}`);
  if (approval.deadline.getTime() <= ctx.now().getTime()) throw new ApiError(409, 'already_decided', `request ${approval.id} timed out`);
  return approval;
}

/** Why `sender` may not answer `approval`, or null when they may. */
export async function refusalOf(app: GithubApp, approval: ApprovalRow, sender: { login?: unknown; type?: unknown } | undefined): Promise<string | null> {
  const login = typeof sender?.login === 'string' ? sender.login : '';
  if (!login) return 'the answer has no sender';
  if (sender?.type !== 'User' || /\[bot\]$/i.test(login)) return `bot accounts cannot answer (${String(sender?.type)})`;
  const same = (a: string | null) => a !== null && a.toLowerCase() === login.toLowerCase();
  if (same(approval.actor)) return "self-approval: the job's actor cannot answer their own job's request";
  if (same(approval.prAuthor)) return "the pull request's author cannot answer a request of their own pull request";
  if (!(await app.hasWrite(approval.repository, login))) return `${login} has no write permission on ${approval.repository}`;
  if (approval.approvers) {
    let listed = false;
    for (const e of parseApprovers(approval.approvers)) {
      if (e.kind === 'login' ? e.login.toLowerCase() === login.toLowerCase() : await app.isTeamMember(approval.repository, e.org, e.team, login)) {
        listed = true;
        break;
      }
    }
    if (!listed) return `${login} is not among the role's approvers (${approval.approvers.join(', ')})`;
  }
  return null;
}

async function answer(
  ctx: GatewayContext,
  deps: WebhookDeps,
  approval: ApprovalRow,
  verdict: 'approve' | 'deny',
  sender: { login?: unknown; type?: unknown } | undefined,
  via: string,
  url: string,
  res: ServerResponse,
): Promise<void> {
  const refusal = await refusalOf(deps.app, approval, sender);
  const login = typeof sender?.login === 'string' ? sender.login.slice(0, 100) : '';
  if (refusal) {
    ctx.logger.warn(`tollgate gateway: answer to ${approval.id} by ${login || 'nobody'} refused: ${refusal}`);
    throw new ApiError(403, 'not_permitted', refusal);
  }
  const now = ctx.now();
  const decided = await decide(ctx.store, approval.id, { status: verdict === 'approve' ? 'approved' : 'denied', approver: login, via, answerUrl: url }, now);
  if (!decided) throw new ApiError(409, 'already_decided', `request ${approval.id} was answered already`);
  if (decided.checkRunId !== null) {
    const word = verdict === 'approve' ? 'Approved' : 'Denied';
    await deps.app
      .completeCheckRun(decided.repository, decided.checkRunId, verdict === 'approve' ? 'success' : 'failure', `${word} by ${login}`, `${word} by @${login} at ${now.toISOString()} (${via}).`)
      .catch((err: Error) => ctx.logger.warn(`tollgate gateway: cannot complete check run ${decided.checkRunId}: ${err.message}`));
  }
  sendJson(res, 200, { id: approval.id, status: decided.status, approver: login });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The route for service.ts: true when it handled the request. Errors become API errors there. */
export function webhookRoute(deps: WebhookDeps) {
  return (ctx: GatewayContext) =>
    async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
      if (new URL(req.url ?? '/', 'http://gateway').pathname !== '/github/webhook') return false;
      await handleWebhook(ctx, deps, req, res);
      return true;
    };
}

