import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { GithubApprover, NoChannelApprover, TerminalApprover, createApprover } from '../../src/approval/index.js';

describe('createApprover', () => {
  it('picks the channel from the proxy configuration', () => {
    expect(createApprover({ kind: 'terminal' }, { input: new PassThrough(), output: new PassThrough() })).toBeInstanceOf(TerminalApprover);
    expect(createApprover({ kind: 'none', reason: 'push build' })).toBeInstanceOf(NoChannelApprover);
    expect(createApprover({
      kind: 'github', apiUrl: 'http://127.0.0.1:1', token: 't', repository: 'o/r', pullNumber: 3, headSha: 'abc', actor: 'a', pollMs: 10,
    }, { approvers: ['o/team', 'lead'] })).toBeInstanceOf(GithubApprover);
  });

  it('refuses a configuration it cannot use, before any review', () => {
    const base = { kind: 'github' as const, apiUrl: 'http://127.0.0.1:1', token: 't', repository: 'o/r', pullNumber: 3, headSha: 'abc', actor: 'a', pollMs: 10 };
    expect(() => createApprover({ ...base, repository: 'nope' })).toThrow('github approval: repository "nope" is not owner/name');
    expect(() => createApprover({ ...base, pullNumber: 0 })).toThrow('github approval: pullNumber 0 is not a pull request number');
    expect(() => createApprover({ ...base, token: '' })).toThrow('github approval: no token');
    expect(() => createApprover({ ...base, actor: '' })).toThrow("github approval: no actor (the job's actor may never approve, so it must be known)");
    expect(() => createApprover({ ...base, headSha: '' })).toThrow('github approval: no head commit SHA for the check run');
    expect(() => createApprover({ ...base, pollMs: 0 })).toThrow('github approval: pollMs 0 must be positive');
    expect(() => createApprover(base, { approvers: ['a/b/c'] })).toThrow('approvers: "a/b/c" is neither a GitHub login nor org/team');
    expect(() => createApprover({ kind: 'email' } as never)).toThrow('approval: unknown channel "email"');
  });
});
