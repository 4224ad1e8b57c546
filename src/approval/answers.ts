// Reading a reviewer's answer from a pull-request comment or review, strictly. Only a body that is
// wholly `/tollgate approve <id>` or `/tollgate deny <id>` is an answer; the checks that need no API
// call (bot, edited, too old, too late, an account that may not answer, wrong id) are decided here,
// purely. Accounts are judged by their numeric id: a login can be renamed and taken by someone else.
// Nothing here depends on the runner: the gateway's App channel applies the same rules.

export interface IssueComment {
  id: number;
  node_id?: string;
  body?: string | null;
  html_url: string;
  created_at: string;
  updated_at: string;
  user: { login: string; id?: number; type: string } | null;
}

/** A pull-request review (GET /pulls/{n}/reviews). Its state cannot be edited, only dismissed. */
export interface PullReview {
  id: number;
  node_id?: string;
  body?: string | null;
  html_url: string;
  state: string;
  submitted_at?: string | null;
  user: { login: string; id?: number; type: string } | null;
}

/** A comment or a review, as one kind of candidate answer. */
export interface AnswerSource {
  source: 'comment' | 'review';
  id: number;
  nodeId?: string;
  body?: string | null;
  url: string;
  createdAt: string;
  /** Comments only: whole-second edit time (an edit within the creation second is invisible here). */
  updatedAt?: string;
  /** Reviews only: APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING. */
  reviewState?: string;
  user: { login: string; id?: number; type: string } | null;
}

export function fromComment(c: IssueComment): AnswerSource {
  return {
    source: 'comment', id: c.id, ...(c.node_id ? { nodeId: c.node_id } : {}), body: c.body, url: c.html_url,
    createdAt: c.created_at, updatedAt: c.updated_at, user: c.user,
  };
}

export function fromReview(r: PullReview): AnswerSource {
  return {
    source: 'review', id: r.id, ...(r.node_id ? { nodeId: r.node_id } : {}), body: r.body, url: r.html_url,
    createdAt: r.submitted_at ?? '', reviewState: r.state, user: r.user,
  };
}

export type Command =
  | { kind: 'none' } // not addressed to tollgate: ordinary discussion, ignored silently
  | { kind: 'malformed' }
  | { kind: 'answer'; verdict: 'approve' | 'deny'; id: string };

/** Request ids are short tokens; anything else is not an id (and is never echoed back). */
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Whether a request id can be quoted in an answer at all. */
export function isAnswerableId(id: string): boolean {
  return ID.test(id);
}

export function parseCommand(body: string | null | undefined): Command {
  const text = (body ?? '').trim();
  if (!/^\/tollgate(?:\s|$)/.test(text)) return { kind: 'none' };
  const m = /^\/tollgate[ \t]+(approve|deny)[ \t]+(\S+)$/.exec(text);
  if (!m || !ID.test(m[2]!)) return { kind: 'malformed' };
  return { kind: 'answer', verdict: m[1] as 'approve' | 'deny', id: m[2]! };
}

export interface AnswerContext {
  requestId: string;
  /** Ids of other requests this approver asked about: answers to them are not mistakes here. */
  otherIds: ReadonlySet<string>;
  /**
   * Accounts that never answer, by numeric id (logins change hands; ids do not): the job's actor,
   * the pull request's author, the triggering actor. The value says who they are.
   */
  refusedIds: ReadonlyMap<number, string>;
  /** Epoch ms: answers created before the request (to the second) are refused. */
  requestedAt: number;
  /** Epoch ms: answers created after the timeout are refused. */
  deadline: number;
}

export type Screened =
  | { kind: 'ignore' }
  | { kind: 'refuse'; reason: string }
  /** Passed every local check: permission (and the approvers list) still to be verified. */
  | { kind: 'candidate'; verdict: 'approve' | 'deny'; login: string; userId: number };

export function screenComment(c: IssueComment, ctx: AnswerContext): Screened {
  return screenAnswer(fromComment(c), ctx);
}

export function screenAnswer(a: AnswerSource, ctx: AnswerContext): Screened {
  const cmd = parseCommand(a.body);
  if (cmd.kind === 'none') return { kind: 'ignore' };
  const where = a.source === 'review' ? 'review' : 'comment';
  if (cmd.kind === 'malformed') {
    return { kind: 'refuse', reason: `malformed answer: the whole ${where} must be "/tollgate approve ${ctx.requestId}" or "/tollgate deny ${ctx.requestId}"` };
  }
  if (cmd.id !== ctx.requestId) {
    if (ctx.otherIds.has(cmd.id)) return { kind: 'ignore' };
    return { kind: 'refuse', reason: `wrong request id "${cmd.id}" (this request is ${ctx.requestId})` };
  }
  const login = a.user?.login ?? '';
  if (!a.user || !login) return { kind: 'refuse', reason: `the ${where} has no author (deleted account)` };
  if (a.user.type !== 'User' || /\[bot\]$/i.test(login)) {
    return { kind: 'refuse', reason: `bot accounts cannot answer (${a.user.type})` };
  }
  const userId = a.user.id;
  if (typeof userId !== 'number' || !Number.isSafeInteger(userId) || userId <= 0) {
    return { kind: 'refuse', reason: `the ${where}'s author has no account id` };
  }
  if (a.source === 'comment' && a.updatedAt !== a.createdAt) return { kind: 'refuse', reason: 'the comment was edited: post a new comment instead' };
  if (a.source === 'review') {
    // The review's state is the answer's second half: it cannot be edited, only dismissed.
    if (a.reviewState === 'DISMISSED') return { kind: 'refuse', reason: 'the review was dismissed' };
    if (a.reviewState === 'PENDING') return { kind: 'ignore' };
    if (cmd.verdict === 'approve' && a.reviewState !== 'APPROVED') {
      return { kind: 'refuse', reason: `an approval given as a review must be an approving review (this one is ${a.reviewState ?? 'unknown'})` };
    }
  }
  const created = Date.parse(a.createdAt);
  if (!Number.isFinite(created)) return { kind: 'refuse', reason: `the ${where} has no valid creation time` };
  // GitHub's timestamps have whole seconds: the request's own second counts as "after".
  if (created < Math.floor(ctx.requestedAt / 1000) * 1000) {
    return { kind: 'refuse', reason: `the ${where} is older than the request` };
  }
  if (created > Math.ceil(ctx.deadline / 1000) * 1000) {
    return { kind: 'refuse', reason: `the ${where} came after the request timed out` };
  }
  const self = ctx.refusedIds.get(userId);
  if (self !== undefined) {
    return { kind: 'refuse', reason: `self-approval: ${self} cannot answer this job's request` };
  }
  return { kind: 'candidate', verdict: cmd.verdict, login, userId };
}

/** An `approvers` entry: a login, or `org/team-slug`. */
export type ApproverEntry = { kind: 'login'; login: string } | { kind: 'team'; org: string; team: string };

export function parseApprovers(list: readonly string[]): ApproverEntry[] {
  return list.map((raw) => {
    const s = raw.trim().replace(/^@/, '');
    const team = /^([A-Za-z0-9][A-Za-z0-9-]*)\/([A-Za-z0-9][A-Za-z0-9_.-]*)$/.exec(s);
    if (team) return { kind: 'team', org: team[1]!, team: team[2]! };
    if (/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(s)) return { kind: 'login', login: s };
    throw new TypeError(`approvers: "${raw}" is neither a GitHub login nor org/team`);
  });
}

/** Collaborator permission answer: write or more, by the legacy `permission` or the `role_name`. */
export function hasWriteAccess(p: { permission?: unknown; role_name?: unknown }): boolean {
  const strong = new Set(['admin', 'maintain', 'write']);
  return (typeof p.permission === 'string' && strong.has(p.permission)) ||
    (typeof p.role_name === 'string' && strong.has(p.role_name));
}
