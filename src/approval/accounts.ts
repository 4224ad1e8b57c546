// Who may and who may never answer, as numeric GitHub account ids, resolved once when the session
// starts. Logins are names an account can give up and another can take; an id stays with its account.
// So a job's actor who renames their account, or an approver's login that changes owner after the
// session started, changes nothing here.
import type { ApproverEntry } from './answers.js';
import { GithubApiError, type GithubClient } from './github-client.js';

export interface Principals {
  /** id → who they are ("the job's actor `dev`"): never an answer from them. */
  refused: Map<number, string>;
  /** Ids of the logins listed in `approvers` (as they were at session start). */
  approverIds: Map<number, string>;
  /** Listed logins with no account at session start: they can never approve. */
  unknownApprovers: string[];
}

export interface PrincipalInput {
  /** repos/{owner}/{repo} */
  repoPath: string;
  pullNumber: number;
  actor: string;
  /** The verified token's `actor_id` claim, when it has one. */
  actorId?: number;
  /** GITHUB_TRIGGERING_ACTOR: who started this run (a re-run's actor may differ from the author). */
  triggeringActor?: string;
  approvers: readonly ApproverEntry[];
}

interface User {
  id?: unknown;
  login?: unknown;
}

/** Throws GithubApiError when the API cannot tell (then no review can be answered: fail closed). */
export async function resolvePrincipals(client: GithubClient, p: PrincipalInput, deadline: number, signal?: AbortSignal): Promise<Principals> {
  const refused = new Map<number, string>();
  const actorId = p.actorId ?? (await userId(client, p.actor, deadline, signal));
  if (actorId === null) throw new GithubApiError('ERR_GITHUB_BAD_RESPONSE', `the job's actor ${p.actor} has no GitHub account`);
  refused.set(actorId, `the job's actor (${p.actor})`);

  const pr = (await client.request<{ user?: User }>('GET', `${p.repoPath}/pulls/${p.pullNumber}`, { deadline, signal })).data;
  const authorId = pr?.user?.id;
  if (typeof authorId !== 'number' || !Number.isSafeInteger(authorId)) {
    throw new GithubApiError('ERR_GITHUB_BAD_RESPONSE', `pull request #${p.pullNumber} has no author id`);
  }
  if (!refused.has(authorId)) refused.set(authorId, `the pull request's author (${typeof pr.user?.login === 'string' ? pr.user.login : 'unknown'})`);

  if (p.triggeringActor && p.triggeringActor.toLowerCase() !== p.actor.toLowerCase()) {
    const id = await userId(client, p.triggeringActor, deadline, signal);
    if (id !== null && !refused.has(id)) refused.set(id, `the run's triggering actor (${p.triggeringActor})`);
  }

  const approverIds = new Map<number, string>();
  const unknownApprovers: string[] = [];
  for (const a of p.approvers) {
    if (a.kind !== 'login') continue;
    const id = await userId(client, a.login, deadline, signal);
    if (id === null) unknownApprovers.push(a.login);
    else approverIds.set(id, a.login);
  }
  return { refused, approverIds, unknownApprovers };
}

/** The account id behind a login now, or null when there is no such account. */
async function userId(client: GithubClient, login: string, deadline: number, signal?: AbortSignal): Promise<number | null> {
  try {
    const u = (await client.request<User>('GET', `users/${encodeURIComponent(login)}`, { deadline, signal })).data;
    return typeof u?.id === 'number' && Number.isSafeInteger(u.id) ? u.id : null;
  } catch (err) {
    if (err instanceof GithubApiError && err.code === 'ERR_GITHUB_HTTP' && err.status === 404) return null;
    throw err;
  }
}

/** The `actor_id` claim (a string of digits in GitHub's tokens) as a number, when it is one. */
export function claimedActorId(claims: Record<string, unknown>): number | undefined {
  const v = claims.actor_id;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^[1-9][0-9]{0,15}$/.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
