import { describe, expect, it } from 'vitest';
import { hasWriteAccess, parseApprovers, parseCommand, screenComment, type IssueComment } from '../../src/approval/answers.js';
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
const ctx = { requestId: 'r-1', otherIds: new Set(['r-1', 'r-0']), actor: 'Dev', requestedAt: T0, deadline: T0 + 60_000 };
function comment(over: Partial<IssueComment> = {}): IssueComment {
  return {
    id: 1, body: '/tollgate approve r-1', html_url: 'https://github.example/c/1',
    created_at: '2026-11-30T10:00:05Z', updated_at: '2026-11-30T10:00:05Z', user: { login: 'rev', type: 'User' }, ...over,
  };
}

describe('screenComment', () => {
  it('passes a fresh, unedited answer by a human other than the actor', () => {
    expect(screenComment(comment(), ctx)).toEqual({ kind: 'candidate', verdict: 'approve', login: 'rev' });
  });
  it('counts the request second itself as after the request (whole-second timestamps)', () => {
    expect(screenComment(comment({ created_at: '2026-11-30T10:00:00Z', updated_at: '2026-11-30T10:00:00Z' }), ctx).kind).toBe('candidate');
  });
  it.each([
    [{ created_at: '2026-11-30T09:59:59Z', updated_at: '2026-11-30T09:59:59Z' }, 'the comment is older than the request'],
    [{ created_at: '2026-11-30T10:01:02Z', updated_at: '2026-11-30T10:01:02Z' }, 'the comment came after the request timed out'],
    [{ updated_at: '2026-11-30T10:00:06Z' }, 'the comment was edited: post a new comment instead'],
    [{ user: { login: 'dev', type: 'User' } }, "self-approval: the job's actor cannot answer their own job's request"],
    [{ user: { login: 'ci[bot]', type: 'Bot' } }, 'bot accounts cannot answer (Bot)'],
    [{ user: { login: 'ci[bot]', type: 'User' } }, 'bot accounts cannot answer (User)'],
    [{ user: { login: 'acme', type: 'Organization' } }, 'bot accounts cannot answer (Organization)'],
    [{ user: null }, 'the comment has no author (deleted account)'],
    [{ body: '/tollgate approve r-9' }, 'wrong request id "r-9" (this request is r-1)'],
    [{ body: '/tollgate approve r-1 ok' }, 'malformed answer: the whole comment must be "/tollgate approve r-1" or "/tollgate deny r-1"'],
    [{ created_at: 'yesterday', updated_at: 'yesterday' }, 'the comment has no valid creation time'],
  ] as [Partial<IssueComment>, string][])('refuses %j: %s', (over, reason) => {
    expect(screenComment(comment(over), ctx)).toEqual({ kind: 'refuse', reason });
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
    expect(s).toContain('- `u34`: no write permission ([comment](https://c/34))');
    expect(s).toContain("listed in the role's approvers (`acme/dba`)");
  });
  it('stays under GitHub\'s 65535-character summary limit', () => {
    const s = checkRunSummary({ req: { ...req, statement: 'x'.repeat(100_000) }, actor: 'dev', repository: 'acme/app', approvers: [], deadline: new Date(0), refusals: [] });
    expect(s.length).toBeLessThan(65_535);
    expect(s).toContain('… (truncated)');
  });
});
