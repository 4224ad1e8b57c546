// Reading a reviewer's answer from a pull-request comment, strictly. Only a comment whose whole body is
// `/tollgate approve <id>` or `/tollgate deny <id>` is an answer; the checks that need no API call
// (bot, edited, too old, too late, the job's own actor, wrong id) are decided here, purely.

export interface IssueComment {
  id: number;
  body?: string | null;
  html_url: string;
  created_at: string;
  updated_at: string;
  user: { login: string; type: string } | null;
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
  actor: string;
  /** Epoch ms: answers created before the request (to the second) are refused. */
  requestedAt: number;
  /** Epoch ms: answers created after the timeout are refused. */
  deadline: number;
}

export type Screened =
  | { kind: 'ignore' }
  | { kind: 'refuse'; reason: string }
  /** Passed every local check: permission (and the approvers list) still to be verified. */
  | { kind: 'candidate'; verdict: 'approve' | 'deny'; login: string };

export function screenComment(c: IssueComment, ctx: AnswerContext): Screened {
  const cmd = parseCommand(c.body);
  if (cmd.kind === 'none') return { kind: 'ignore' };
  if (cmd.kind === 'malformed') {
    return { kind: 'refuse', reason: `malformed answer: the whole comment must be "/tollgate approve ${ctx.requestId}" or "/tollgate deny ${ctx.requestId}"` };
  }
  if (cmd.id !== ctx.requestId) {
    if (ctx.otherIds.has(cmd.id)) return { kind: 'ignore' };
    return { kind: 'refuse', reason: `wrong request id "${cmd.id}" (this request is ${ctx.requestId})` };
  }
  const login = c.user?.login ?? '';
  if (!c.user || !login) return { kind: 'refuse', reason: 'the comment has no author (deleted account)' };
  if (c.user.type !== 'User' || /\[bot\]$/i.test(login)) {
    return { kind: 'refuse', reason: `bot accounts cannot answer (${c.user.type})` };
  }
  if (c.updated_at !== c.created_at) return { kind: 'refuse', reason: 'the comment was edited: post a new comment instead' };
  const created = Date.parse(c.created_at);
  if (!Number.isFinite(created)) return { kind: 'refuse', reason: 'the comment has no valid creation time' };
  // GitHub's timestamps have whole seconds: the request's own second counts as "after".
  if (created < Math.floor(ctx.requestedAt / 1000) * 1000) {
    return { kind: 'refuse', reason: 'the comment is older than the request' };
  }
  if (created > Math.ceil(ctx.deadline / 1000) * 1000) {
    return { kind: 'refuse', reason: 'the comment came after the request timed out' };
  }
  if (login.toLowerCase() === ctx.actor.toLowerCase()) {
    return { kind: 'refuse', reason: "self-approval: the job's actor cannot answer their own job's request" };
  }
  return { kind: 'candidate', verdict: cmd.verdict, login };
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
