import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../src/action/errors.js';
import { approvalFromEvent } from '../../src/action/event.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-action-event-'));
const SHA = 'a'.repeat(40);
function event(payload: unknown): string {
  const p = join(dir, `${Math.random()}.json`);
  writeFileSync(p, JSON.stringify(payload));
  return p;
}
const base = { GITHUB_REPOSITORY: 'acme/app', GITHUB_ACTOR: 'dev1', GITHUB_API_URL: 'http://127.0.0.1:9/', GITHUB_SERVER_URL: 'https://github.com', GITHUB_RUN_ID: '77', GITHUB_SHA: 'b'.repeat(40) };

describe('approvalFromEvent', () => {
  it('a pull_request event approves on the PR head commit', () => {
    const path = event({ pull_request: { number: 12, head: { sha: SHA } } });
    expect(approvalFromEvent({ ...base, GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: path }, 'tok', 500)).toEqual({
      kind: 'github', apiUrl: 'http://127.0.0.1:9', token: 'tok', repository: 'acme/app', pullNumber: 12, headSha: SHA, actor: 'dev1', pollMs: 500,
      runUrl: 'https://github.com/acme/app/actions/runs/77',
    });
  });

  it('pull_request_target too', () => {
    const path = event({ pull_request: { number: 3, head: { sha: SHA } } });
    expect(approvalFromEvent({ ...base, GITHUB_EVENT_NAME: 'pull_request_target', GITHUB_EVENT_PATH: path }, 'tok', 500)).toMatchObject({ kind: 'github', pullNumber: 3 });
  });

  it('a push has no channel, and says why', () => {
    expect(approvalFromEvent({ ...base, GITHUB_EVENT_NAME: 'push', GITHUB_EVENT_PATH: event({ ref: 'refs/heads/main' }) }, 'tok', 500)).toEqual({
      kind: 'none', reason: 'this job was triggered by a push event, not a pull request, so there is no pull request to approve on',
    });
  });

  it('a PR event with a broken payload has no channel (fail closed)', () => {
    for (const payload of [{}, { pull_request: { number: '12', head: { sha: SHA } } }, { pull_request: { number: 12, head: { sha: 'zz' } } }]) {
      expect(approvalFromEvent({ ...base, GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: event(payload) }, 'tok', 500))
        .toEqual({ kind: 'none', reason: 'the pull_request event payload has no pull request number and head commit' });
    }
  });

  it('a PR job without a token or actor cannot approve', () => {
    const path = event({ pull_request: { number: 12, head: { sha: SHA } } });
    expect(() => approvalFromEvent({ ...base, GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: path }, '', 500)).toThrow(ConfigurationError);
    expect(approvalFromEvent({ ...base, GITHUB_ACTOR: '', GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: path }, 'tok', 500))
      .toEqual({ kind: 'none', reason: 'GITHUB_ACTOR is not set, so the job\'s own actor could not be kept from approving' });
  });
});
