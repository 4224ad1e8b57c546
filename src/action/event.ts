// Which approval channel a job gets, from the event that triggered it (GITHUB_EVENT_PATH): a pull
// request gets the GitHub approver on its head commit; anything else gets none, so `review`
// statements are denied with a reason the author can read.
import { readFileSync } from 'node:fs';
import type { ApprovalConfig } from '../approval/config.js';
import { ConfigurationError } from './errors.js';

export interface EventEnv {
  GITHUB_EVENT_NAME?: string;
  GITHUB_EVENT_PATH?: string;
  GITHUB_REPOSITORY?: string;
  GITHUB_SHA?: string;
  GITHUB_ACTOR?: string;
  GITHUB_TRIGGERING_ACTOR?: string;
  GITHUB_API_URL?: string;
  GITHUB_SERVER_URL?: string;
  GITHUB_RUN_ID?: string;
  GITHUB_RUN_ATTEMPT?: string;
}

const PR_EVENTS = new Set(['pull_request', 'pull_request_target']);

/** `actorId`: the verified token's `actor_id`, so the actor is refused by account, not by login. */
export function approvalFromEvent(env: EventEnv, token: string, pollMs: number, actorId?: number): ApprovalConfig {
  const name = env.GITHUB_EVENT_NAME ?? '';
  if (!PR_EVENTS.has(name)) {
    return { kind: 'none', reason: `this job was triggered by ${name ? `a ${name} event` : 'an unknown event'}, not a pull request, so there is no pull request to approve on` };
  }
  const pr = readPullRequest(env.GITHUB_EVENT_PATH);
  if (!pr) return { kind: 'none', reason: `the ${name} event payload has no pull request number and head commit` };
  const repository = env.GITHUB_REPOSITORY ?? '';
  if (!/^[^/\s]+\/[^/\s]+$/.test(repository)) return { kind: 'none', reason: 'GITHUB_REPOSITORY is not set, so the pull request cannot be found' };
  // Without the actor we could not keep the job's author from approving their own statements.
  if (!env.GITHUB_ACTOR) return { kind: 'none', reason: "GITHUB_ACTOR is not set, so the job's own actor could not be kept from approving" };
  if (!token) {
    throw new ConfigurationError('Input `github-token` is empty: approvals on the pull request need a token with `checks: write` and `pull-requests: read` (the default `${{ github.token }}` works when the job grants those permissions).');
  }
  const runUrl = env.GITHUB_RUN_ID
    ? `${(env.GITHUB_SERVER_URL ?? 'https://github.com').replace(/\/+$/, '')}/${repository}/actions/runs/${env.GITHUB_RUN_ID}${env.GITHUB_RUN_ATTEMPT ? `/attempts/${env.GITHUB_RUN_ATTEMPT}` : ''}`
    : undefined;
  return {
    kind: 'github',
    apiUrl: (env.GITHUB_API_URL ?? 'https://api.github.com').replace(/\/+$/, ''),
    token,
    repository,
    pullNumber: pr.number,
    headSha: pr.headSha,
    actor: env.GITHUB_ACTOR,
    ...(actorId !== undefined ? { actorId } : {}),
    ...(env.GITHUB_TRIGGERING_ACTOR ? { triggeringActor: env.GITHUB_TRIGGERING_ACTOR } : {}),
    pollMs,
    ...(runUrl ? { runUrl } : {}),
  };
}

/** The pull request's number and head commit from the event payload, when it has them. */
export function readPullRequest(path: string | undefined): { number: number; headSha: string } | undefined {
  if (!path) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  const pr = (payload as { pull_request?: { number?: unknown; head?: { sha?: unknown } } }).pull_request;
  const number = pr?.number;
  const sha = pr?.head?.sha;
  if (typeof number !== 'number' || !Number.isInteger(number) || number <= 0) return undefined;
  if (typeof sha !== 'string' || !/^[0-9a-f]{40}$/.test(sha)) return undefined;
  return { number, headSha: sha };
}
