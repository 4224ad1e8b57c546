// Identity that cannot be borrowed (issue 15): roles match the immutable numeric ids, dangerous events
// are opt-in by name, and lint flags what can be borrowed or moved. Each attack is a token whose
// claims a role must refuse, asserted with the exact outcome.
import { describe, expect, it } from 'vitest';
import { PolicyError } from '../../src/policy/errors.js';
import { globCanStartWith } from '../../src/policy/glob.js';
import { lintPolicy, LINT_RULES, type LintFinding } from '../../src/policy/lint/index.js';
import { loadPolicy, parsePolicy } from '../../src/policy/load.js';
import { matchRoles, selectRole } from '../../src/policy/roles.js';

const ACME_ID = '1234567';
const APP_ID = '7654321';

const policy = parsePolicy(
  `version: 1
roles:
  ci:
    match:
      repository_owner_id: ${ACME_ID}
      repository_id: [${APP_ID}, "7654322"]
      repository: acme/app
      event_name: [push, pull_request]
      ref: [refs/heads/main, refs/pull/*/merge]
`,
  'ids.yml',
);

/** A push to acme/app's main, as GitHub's token says it (ids are strings). */
const push = {
  repository: 'acme/app',
  repository_owner: 'acme',
  repository_id: APP_ID,
  repository_owner_id: ACME_ID,
  event_name: 'push',
  ref: 'refs/heads/main',
  sub: 'repo:acme/app:ref:refs/heads/main',
};

function refusal(fn: () => unknown): PolicyError {
  try {
    fn();
  } catch (err) {
    return err as PolicyError;
  }
  throw new Error('expected a refusal');
}

describe('immutable ids', () => {
  it('a YAML number matches the claim\'s decimal string, and a list of ids means any of them', () => {
    expect(matchRoles(policy, push)).toEqual(['ci']);
    expect(matchRoles(policy, { ...push, repository_id: '7654322' })).toEqual(['ci']);
  });

  it('a claim that is a number (not GitHub\'s string) or has leading zeros does not match', () => {
    expect(matchRoles(policy, { ...push, repository_id: Number(APP_ID) })).toEqual([]);
    expect(matchRoles(policy, { ...push, repository_owner_id: `0${ACME_ID}` })).toEqual([]);
    expect(matchRoles(policy, { ...push, repository_owner_id: `${ACME_ID} ` })).toEqual([]);
  });

  it('a renamed organization: same names, other ids, is refused', () => {
    // acme renamed itself; someone registered "acme" and created "app": every name claim matches.
    const squatter = { ...push, repository_id: '99000001', repository_owner_id: '99000000' };
    const err = refusal(() => selectRole(policy, squatter));
    expect(err.code).toBe('ERR_ROLE_NO_MATCH');
    expect(err.message).toBe(
      'no role in ids.yml matches the claims (checked repository_owner_id="99000000", repository_id="99000001", repository="acme/app", event_name="push", ref="refs/heads/main" against roles ci)',
    );
    expect(refusal(() => selectRole(policy, squatter, 'ci')).message).toBe(
      'role "ci" does not match the claims: repository_owner_id="99000000" does not match 1234567',
    );
    // The owner's id alone does not let another repository of the same owner in either.
    expect(matchRoles(policy, { ...push, repository_id: '5' })).toEqual([]);
  });

  it('a repository transferred away keeps its id but not the owner id', () => {
    expect(matchRoles(policy, { ...push, repository: 'other/app', repository_owner: 'other', repository_owner_id: '42' })).toEqual([]);
  });

  it('ids with absent claims (a token from an issuer that does not send them) never match', () => {
    const { repository_id: _a, repository_owner_id: _b, ...names } = push;
    expect(matchRoles(policy, names)).toEqual([]);
  });
});

describe('dangerous events are opt-in by name', () => {
  const loose = parsePolicy(
    `version: 1
roles:
  by-ref:
    match: { repository_owner_id: ${ACME_ID}, ref: refs/heads/main }
  by-glob:
    match: { repository_owner_id: ${ACME_ID}, event_name: "*", ref: refs/heads/main }
  by-prefix:
    match: { repository_owner_id: ${ACME_ID}, event_name: "pull_request*", ref: refs/heads/main }
  by-sub:
    match: { repository_owner_id: ${ACME_ID}, sub: "repo:acme/app:**" }
`,
    'loose.yml',
  );
  const prt = { ...push, event_name: 'pull_request_target' };
  const run = { ...push, event_name: 'workflow_run' };

  it('a pull_request_target token is refused by roles that do not name the event, whatever else they match', () => {
    expect(matchRoles(loose, push)).toEqual(['by-ref', 'by-glob', 'by-sub']);
    expect(matchRoles(loose, prt)).toEqual([]);
    expect(matchRoles(loose, run)).toEqual([]);
    const err = refusal(() => selectRole(loose, prt));
    expect(err.code).toBe('ERR_ROLE_DANGEROUS_EVENT');
    expect(err.message).toBe(
      'this job was started by a pull_request_target event, and roles "by-ref", "by-glob", "by-prefix", "by-sub" match the other claims but do not name pull_request_target in event_name: a pull_request_target job runs the base branch\'s workflow with its ref, secrets and write token, but anyone who can open a pull request (from a fork too) starts it, and a workflow that checks out or builds the pull request runs their code with those. A role admits such jobs only when its match lists `event_name: pull_request_target` literally (a glob such as * does not opt in); do that only for a role whose workflow never runs the pull request\'s code with it',
    );
  });

  it('asking for the role by name gets the same refusal', () => {
    const err = refusal(() => selectRole(loose, run, 'by-glob'));
    expect(err.code).toBe('ERR_ROLE_DANGEROUS_EVENT');
    expect(err.message).toMatch(/^this job was started by a workflow_run event, and role "by-glob" matches the other claims but does not name workflow_run in event_name: a workflow_run job runs with the default branch's ref/);
  });

  it('a role that names the event literally (alone or in a list) admits it, and only it', () => {
    const named = parsePolicy(
      `version: 1
roles:
  prt:
    match: { repository_owner_id: ${ACME_ID}, event_name: [push, pull_request_target] }
  wr:
    match: { repository_owner_id: ${ACME_ID}, event_name: workflow_run }
`,
      'named.yml',
    );
    expect(matchRoles(named, prt)).toEqual(['prt']);
    expect(matchRoles(named, run)).toEqual(['wr']);
    expect(matchRoles(named, push)).toEqual(['prt']);
  });

  it('an event_name claim that is not a string grants nothing', () => {
    expect(matchRoles(loose, { ...push, event_name: ['push'] })).toEqual([]);
    expect(refusal(() => selectRole(loose, { ...push, event_name: null })).message).toBe(
      "the token's event_name claim is not a string, so it cannot be told whether the job runs for someone else's pull request; no role is granted",
    );
  });

  it('events spelled differently are not the dangerous ones and not the named ones', () => {
    expect(matchRoles(policy, { ...push, event_name: 'Push' })).toEqual([]);
  });
});

describe('globCanStartWith (can this ref pattern be a branch?)', () => {
  it.each([
    ['refs/heads/main', true],
    ['refs/heads/*', true],
    ['refs/*/main', true],
    ['**', true],
    ['*', false],
    ['refs/tags/v1', false],
    ['refs/tags/*', false],
    ['refs/pull/*/merge', false],
    ['ref*', false],
    ['ref**', true],
    ['refs/heads', false],
  ])('%s → %s', (pattern, expected) => {
    expect(globCanStartWith(pattern, 'refs/heads/', '/')).toBe(expected);
  });
});

function lint(yaml: string, strict = false): Omit<LintFinding, 'message'>[] {
  return lintPolicy(parsePolicy(yaml, 'l.yml'), { strict }).map(({ rule, level, path }) => ({ rule, level, path }));
}

const role = (match: string) => `version: 1\nroles:\n  r:\n    match:\n${match.replace(/^/gm, '      ')}\n`;

describe('lint', () => {
  it('a repository or owner by name only is a warning, an error with --strict', () => {
    const text = role('repository: acme/app\nevent_name: push');
    expect(lint(text)).toEqual([{ rule: 'identity-by-name', level: 'warning', path: ['roles', 'r', 'match', 'repository'] }]);
    expect(lint(text, true)).toEqual([{ rule: 'identity-by-name', level: 'error', path: ['roles', 'r', 'match', 'repository'] }]);
    expect(lint(role('repository_owner: acme\nevent_name: push'))[0]?.rule).toBe('identity-by-name');
    expect(lint(role('sub: "repo:acme/app:ref:refs/tags/v1"'))[0]?.rule).toBe('identity-by-name');
    // Either id is enough.
    expect(lint(role(`repository: acme/app\nrepository_id: ${APP_ID}\nevent_name: push`))).toEqual([]);
    expect(lint(role(`repository: acme/*\nrepository_owner_id: ${ACME_ID}\nevent_name: push`))).toEqual([]);
  });

  it('a role that pins no owner at all is an error', () => {
    for (const m of ['repository: "**"\nevent_name: push', 'repository: "*/app"\nevent_name: push', 'event_name: push', 'sub: "repo:*/app:ref:refs/tags/v1"']) {
      expect(lint(role(m)), m).toEqual([{ rule: 'identity-any-repository', level: 'error', path: ['roles', 'r', 'match'] }]);
    }
  });

  it('a branch ref (or no ref) without event_name is explained', () => {
    const ids = `repository_owner_id: ${ACME_ID}\n`;
    expect(lint(role(`${ids}ref: refs/heads/*`))).toEqual([{ rule: 'branch-without-event', level: 'warning', path: ['roles', 'r', 'match', 'ref'] }]);
    expect(lint(role(`${ids}sub: "repo:acme/app:ref:refs/heads/main"`))).toEqual([{ rule: 'branch-without-event', level: 'warning', path: ['roles', 'r', 'match', 'sub'] }]);
    expect(lint(role(ids))).toEqual([{ rule: 'branch-without-event', level: 'warning', path: ['roles', 'r', 'match'] }]);
    expect(lint(role(`${ids}ref: refs/pull/*/merge`))).toEqual([]);
    expect(lint(role(`${ids}ref: refs/tags/*`))).toEqual([]);
    expect(lint(role(`${ids}ref: refs/heads/main\nevent_name: push`))).toEqual([]);
    const message = lintPolicy(parsePolicy(role(`${ids}ref: refs/heads/*`), 'l.yml'))[0]!.message;
    expect(message).toBe(
      'role "r" matches a branch (ref: refs/heads/*) without event_name, so a job of any event that runs on that branch gets it: issue_comment and other jobs that anyone can start on a public repository, workflow_dispatch with its inputs, schedule. pull_request_target and workflow_run jobs run with the base branch\'s ref for pull requests from forks; tollgate refuses them unless a role names them, but name the events you mean, e.g. event_name: [push]',
    );
  });

  it('a branch-pinned reusable workflow is flagged; a tag or a job_workflow_sha is not', () => {
    const base = `repository_owner_id: ${ACME_ID}\nevent_name: push\n`;
    expect(lint(role(`${base}job_workflow_ref: acme/platform/.github/workflows/m.yml@refs/heads/main`))).toEqual([
      { rule: 'workflow-ref-branch', level: 'warning', path: ['roles', 'r', 'match', 'job_workflow_ref'] },
    ]);
    expect(lint(role(`${base}job_workflow_ref: [acme/platform/.github/workflows/m.yml@refs/tags/v1, "acme/platform/.github/workflows/m.yml@**"]`))).toEqual([
      { rule: 'workflow-ref-branch', level: 'warning', path: ['roles', 'r', 'match', 'job_workflow_ref', 1] },
    ]);
    expect(lint(role(`${base}job_workflow_ref: acme/platform/.github/workflows/m.yml@refs/tags/v1`))).toEqual([]);
    expect(lint(role(`${base}job_workflow_ref: "acme/platform/.github/workflows/m.yml@*"`))).toEqual([]);
    expect(lint(role(`${base}job_workflow_ref: acme/platform/.github/workflows/m.yml@refs/heads/main\njob_workflow_sha: ${'a'.repeat(40)}`))).toEqual([]);
    const message = lintPolicy(parsePolicy(role(`${base}job_workflow_ref: acme/platform/.github/workflows/m.yml@refs/heads/main`), 'l.yml'))[0]!.message;
    expect(message).toBe(
      'role "r" matches the reusable workflow at a branch (acme/platform/.github/workflows/m.yml@refs/heads/main): whoever can push to that branch changes what runs with this role. Pin it at a tag (…@refs/tags/v1) or match job_workflow_sha with the commit',
    );
  });

  it('naming a dangerous event is a note; a glob that seems to include one is a warning that it does not', () => {
    const base = `repository_owner_id: ${ACME_ID}\n`;
    expect(lint(role(`${base}event_name: pull_request_target`), true)).toEqual([{ rule: 'dangerous-event', level: 'info', path: ['roles', 'r', 'match', 'event_name'] }]);
    expect(lint(role(`${base}event_name: "pull_request*"`))).toEqual([{ rule: 'dangerous-event', level: 'warning', path: ['roles', 'r', 'match', 'event_name'] }]);
    expect(lint(role(`${base}event_name: "*"`)).map((f) => f.rule)).toEqual(['dangerous-event', 'dangerous-event']);
  });

  it('every shipped policy is clean under --strict', () => {
    for (const f of ['policies/readonly.yml', 'policies/migrations.yml', 'policies/demo.yml']) {
      expect(lintPolicy(loadPolicy(f), { strict: true }).filter((x) => x.level !== 'info'), f).toEqual([]);
    }
  });

  it('rules have unique ids and say what they check', () => {
    expect(new Set(LINT_RULES.map((r) => r.id)).size).toBe(LINT_RULES.length);
    for (const r of LINT_RULES) expect(r.summary.length).toBeGreaterThan(20);
  });
});
