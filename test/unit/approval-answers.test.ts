import { describe, expect, it } from 'vitest';
import { fromReview, hasWriteAccess, parseApprovers, parseCommand, screenAnswer, screenComment, type IssueComment, type PullReview } from '../../src/approval/answers.js';
import { checkRunName, checkRunSummary, code, fence } from '../../src/approval/check-run-text.js';
import type { ReviewRequest } from '../../src/approval/types.js';

describe('parseCommand', () => {
  it('reads exactly /tollgate approve|deny <id>, trimmed', () => {
    expect(parseCommand('/tollgate approve r-1')).toEqual({ kind: 'answer', verdict: 'approve', id: 'r-1' });
    expect(parseCommand('  /tollgate deny r_2.x \r\n')).toEqual({ kind: 'answer', verdict: 'deny', id: 'r_2.x' });
  });
  it('ignores comments not addressed to tollgate', () => {
    for (const b of ['lgtm', 'please /tollgate approve r-1', '/tollgateapprove r-1', '', null, undefined]) {
      expect(parseCommand(b)).toEqual({ kind: 'none' });
    }
  });
  it('calls anything else addressed to tollgate malformed', () => {
    for (const b of ['/tollgate', '/tollgate approve', '/tollgate approve r-1 now', '/tollgate Approve r-1',
      '/tollgate approve r-1\n/tollgate deny r-1', '/tollgate yes r-1', '/tollgate approve `r-1`', '/tollgate approve ::x']) {
      expect(parseCommand(b)).toEqual({ kind: 'malformed' });
    }
  });
});

const T0 = Date.parse('2026-11-30T10:00:00.600Z');
const ctx = {
  requestId: 'r-1', otherIds: new Set(['r-1', 'r-0']), requestedAt: T0, deadline: T0 + 60_000,
  refusedIds: new Map([[7, "the job's actor (Dev)"], [8, "the pull request's author (pat)"], [9, "the run's triggering actor (rerunner)"]]),
};
function comment(over: Partial<IssueComment> = {}): IssueComment {
  return {
    id: 1, body: '/tollgate approve r-1', html_url: 'https://github.example/c/1',
    created_at: '2026-11-30T10:00:05Z', updated_at: '2026-11-30T10:00:05Z', user: { login: 'rev', id: 100, type: 'User' }, ...over,
  };
}

describe('screenAnswer: pull-request reviews', () => {
  const review = (over: Partial<PullReview> = {}): PullReview => ({
    id: 9, body: '/tollgate approve r-1', html_url: 'https://github.example/r/9', state: 'APPROVED',
    submitted_at: '2026-11-30T10:00:05Z', user: { login: 'rev', id: 100, type: 'User' }, ...over,
  });
  it('an approving review naming the request is an approval', () => {
    expect(screenAnswer(fromReview(review()), ctx)).toEqual({ kind: 'candidate', verdict: 'approve', login: 'rev', userId: 100 });
  });
  it('a review with /tollgate deny is a denial whatever its state', () => {
    for (const state of ['APPROVED', 'CHANGES_REQUESTED', 'COMMENTED']) {
      expect(screenAnswer(fromReview(review({ state, body: '/tollgate deny r-1' })), ctx)).toMatchObject({ kind: 'candidate', verdict: 'deny' });
    }
  });
  it.each([
    [{ state: 'COMMENTED' }, 'an approval given as a review must be an approving review (this one is COMMENTED)'],
    [{ state: 'CHANGES_REQUESTED' }, 'an approval given as a review must be an approving review (this one is CHANGES_REQUESTED)'],
    [{ state: 'DISMISSED' }, 'the review was dismissed'],
    [{ user: { login: 'pat', id: 8, type: 'User' } }, "self-approval: the pull request's author (pat) cannot answer this job's request"],
    [{ submitted_at: '2026-11-30T09:59:59Z' }, 'the review is older than the request'],
    [{ submitted_at: null }, 'the review has no valid creation time'],
    [{ body: '/tollgate approve r-1\nLGTM' }, 'malformed answer: the whole review must be "/tollgate approve r-1" or "/tollgate deny r-1"'],
  ] as [Partial<PullReview>, string][])('refuses %j: %s', (over, reason) => {
    expect(screenAnswer(fromReview(review(over)), ctx)).toEqual({ kind: 'refuse', reason });
  });
  it('an approving review that does not name a request is not an answer', () => {
    expect(screenAnswer(fromReview(review({ body: 'LGTM' })), ctx)).toEqual({ kind: 'ignore' });
    expect(screenAnswer(fromReview(review({ state: 'PENDING' })), ctx)).toEqual({ kind: 'ignore' });
  });
});

describe('screenComment', () => {
  it('passes a fresh, unedited answer by a human other than the actor', () => {
    expect(screenComment(comment(), ctx)).toEqual({ kind: 'candidate', verdict: 'approve', login: 'rev', userId: 100 });
  });
  it('counts the request second itself as after the request (whole-second timestamps)', () => {
    expect(screenComment(comment({ created_at: '2026-11-30T10:00:00Z', updated_at: '2026-11-30T10:00:00Z' }), ctx).kind).toBe('candidate');
  });
  it.each([
    [{ created_at: '2026-11-30T09:59:59Z', updated_at: '2026-11-30T09:59:59Z' }, 'the comment is older than the request'],
    [{ created_at: '2026-11-30T10:01:02Z', updated_at: '2026-11-30T10:01:02Z' }, 'the comment came after the request timed out'],
    [{ updated_at: '2026-11-30T10:00:06Z' }, 'the comment was edited: post a new comment instead'],
    [{ user: { login: 'dev', id: 7, type: 'User' } }, "self-approval: the job's actor (Dev) cannot answer this job's request"],
    // The actor renamed: a new login, the same account.
    [{ user: { login: 'someone-else', id: 7, type: 'User' } }, "self-approval: the job's actor (Dev) cannot answer this job's request"],
    [{ user: { login: 'pat', id: 8, type: 'User' } }, "self-approval: the pull request's author (pat) cannot answer this job's request"],
    [{ user: { login: 'rerunner', id: 9, type: 'User' } }, "self-approval: the run's triggering actor (rerunner) cannot answer this job's request"],
    [{ user: { login: 'rev', type: 'User' } }, "the comment's author has no account id"],
    [{ user: { login: 'ci[bot]', id: 5, type: 'Bot' } }, 'bot accounts cannot answer (Bot)'],
    [{ user: { login: 'ci[bot]', id: 5, type: 'User' } }, 'bot accounts cannot answer (User)'],
    [{ user: { login: 'acme', id: 5, type: 'Organization' } }, 'bot accounts cannot answer (Organization)'],
    [{ user: null }, 'the comment has no author (deleted account)'],
    [{ body: '/tollgate approve r-9' }, 'wrong request id "r-9" (this request is r-1)'],
    [{ body: '/tollgate approve r-1 ok' }, 'malformed answer: the whole comment must be "/tollgate approve r-1" or "/tollgate deny r-1"'],
    [{ created_at: 'yesterday', updated_at: 'yesterday' }, 'the comment has no valid creation time'],
  ] as [Partial<IssueComment>, string][])('refuses %j: %s', (over, reason) => {
    expect(screenComment(comment(over), ctx)).toEqual({ kind: 'refuse', reason });
  });
  it('a login that once was the actor but now belongs to another account is not refused as the actor', () => {
    expect(screenComment(comment({ user: { login: 'Dev', id: 101, type: 'User' } }), ctx).kind).toBe('candidate');
  });
  it('ignores answers to other requests of the same approver and ordinary comments', () => {
    expect(screenComment(comment({ body: '/tollgate deny r-0' }), ctx)).toEqual({ kind: 'ignore' });
    expect(screenComment(comment({ body: 'thanks!' }), ctx)).toEqual({ kind: 'ignore' });
  });
});

describe('parseApprovers and hasWriteAccess', () => {
  it('parses logins and org/team, refuses anything else', () => {
    expect(parseApprovers(['alice', '@Bob', 'acme/db-admins'])).toEqual([
      { kind: 'login', login: 'alice' }, { kind: 'login', login: 'Bob' }, { kind: 'team', org: 'acme', team: 'db-admins' },
    ]);
    expect(() => parseApprovers(['a/b/c'])).toThrow('approvers: "a/b/c" is neither a GitHub login nor org/team');
    expect(() => parseApprovers([''])).toThrow(TypeError);
  });
  it('needs write, maintain or admin', () => {
    expect(hasWriteAccess({ permission: 'write', role_name: 'write' })).toBe(true);
    expect(hasWriteAccess({ permission: 'write', role_name: 'maintain' })).toBe(true);
    expect(hasWriteAccess({ permission: 'admin', role_name: 'admin' })).toBe(true);
    expect(hasWriteAccess({ permission: 'read', role_name: 'triage' })).toBe(false);
    expect(hasWriteAccess({ permission: 'none', role_name: 'none' })).toBe(false);
    expect(hasWriteAccess({})).toBe(false);
    expect(hasWriteAccess({ permission: ['write'] })).toBe(false);
  });
});

describe('check run text', () => {
  const req: ReviewRequest = {
    id: 'r-1', sessionId: 's', statement: 'SELECT "a``b" FROM t', kind: 'select', object: 'public.t', rule: null,
    reason: 'a | pipe', identity: { repository: 'acme/app', ref: 'refs/heads/`x`' }, requestedAt: new Date(0), timeoutMs: 1000,
  };
  it('names the check run after kind and object', () => {
    expect(checkRunName(req)).toBe('tollgate: approve select on public.t');
    expect(checkRunName({ ...req, object: undefined })).toBe('tollgate: approve select');
  });
  it('uses code spans and fences that no backtick inside can close', () => {
    expect(code('a`b')).toBe('``a`b``');
    expect(code('`x`')).toBe('`` `x` ``');
    expect(fence('x ```` y', 'sql')).toBe('`````sql\nx ```` y\n`````');
    expect(fence('plain')).toBe('```\nplain\n```');
  });
  it('renders the statement, the identity table with escaped cells, and how to answer', () => {
    const s = checkRunSummary({ req, actor: 'dev', repository: 'acme/app', approvers: [], deadline: new Date(1000), refusals: [] });
    expect(s).toContain('```sql\nSELECT "a``b" FROM t\n```');
    expect(s).toContain('| Reason | `a \\| pipe` |');
    expect(s).toContain('| Ref | `` refs/heads/`x` `` |');
    expect(s).toContain('| Rule | — |');
    expect(s).toContain('| Answer by | 1970-01-01T00:00:01.000Z |');
    expect(s).toContain('```\n/tollgate approve r-1\n```');
    expect(s).not.toContain('Refused answers');
  });
  it('lists refusals, keeping the last 30', () => {
    const refusals = Array.from({ length: 35 }, (_, i) => ({ login: `u${i}`, reason: 'no write permission', url: `https://c/${i}` }));
    const s = checkRunSummary({ req, actor: 'dev', repository: 'acme/app', approvers: ['acme/dba'], deadline: new Date(0), refusals });
    expect(s).toContain('**Refused answers** (35):');
    expect(s).toContain('- … 5 earlier refusals not shown');
    expect(s).not.toContain('`u4`');
    expect(s).toContain('- `u34`: `no write permission` ([answer](https://c/34))');
    expect(s).toContain("listed in the role's approvers (`acme/dba`)");
  });
  it('stays under GitHub\'s 65535-character summary limit', () => {
    const s = checkRunSummary({ req: { ...req, statement: 'x'.repeat(100_000) }, actor: 'dev', repository: 'acme/app', approvers: [], deadline: new Date(0), refusals: [] });
    expect(s.length).toBeLessThan(65_535);
    expect(s).not.toContain('xxxxxxxxxx');
    expect(s).toContain('**This statement cannot be approved from the check run:**');
  });
});
