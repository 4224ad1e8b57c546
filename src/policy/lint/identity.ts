// Lint rules on who a role admits (issue 15). Names can be borrowed: when an organization or a
// repository is renamed or deleted, whoever registers the old name gets tokens whose `repository`
// and `repository_owner` claims match, so a role should also match the immutable numeric ids
// (what GitHub's and the clouds' OIDC guides recommend). Refs can be moved: a reusable workflow
// matched at a branch runs whatever is pushed there next.
import type { ClaimMatch, Policy, Role } from '../compile.js';
import { globCanStartWith, type Glob } from '../glob.js';
import { DANGEROUS_EVENTS } from '../roles.js';
import type { LintRule } from './index.js';

/** Claims that pin a role to an owner or a repository for good. */
const ID_CLAIMS = ['repository_owner_id', 'repository_id'] as const;

const HOW_TO_FIND =
  'find them with `gh api repos/OWNER/REPO --jq .id` (repository_id) and `gh api users/OWNER --jq .id` (repository_owner_id, organizations too)';

const claim = (role: Role, name: string): ClaimMatch | undefined => role.match.find((m) => m.claim === name);
const matchPath = (role: Role, name?: string) => (name ? ['roles', role.name, 'match', name] : ['roles', role.name, 'match']);

/** The owner part of a `owner/…` value is written out (no `*` before the first `/`). */
const literalOwner = (g: Glob): boolean => {
  const slash = g.source.indexOf('/');
  return slash > 0 && !g.source.slice(0, slash).includes('*');
};

/** Does this claim match fix the owner by name? Every alternative must. */
function fixesOwnerByName(m: ClaimMatch): boolean {
  switch (m.claim) {
    case 'repository_owner':
      return m.globs.every((g) => g.literal);
    case 'repository':
    case 'workflow_ref':
    case 'job_workflow_ref':
      return m.globs.every(literalOwner);
    case 'sub':
      return m.globs.every((g) => /^repo:[^*/:]+\//.test(g.source));
    default:
      return false;
  }
}

const byId = (role: Role): boolean => ID_CLAIMS.some((c) => claim(role, c));

const anyRepository: LintRule = {
  id: 'identity-any-repository',
  level: 'error',
  summary: 'a role that does not pin the owner admits tokens of any repository on GitHub',
  *check(policy: Policy) {
    for (const role of policy.roles.values()) {
      if (byId(role) || role.match.some(fixesOwnerByName)) continue;
      yield {
        path: matchPath(role),
        message: `role ${JSON.stringify(role.name)} does not pin the repository's owner: any workflow in any repository on GitHub can request a token for this audience and match it. Match repository_owner_id (and repository_id for one repository) next to the names; ${HOW_TO_FIND}`,
      };
    }
  },
};

const byName: LintRule = {
  id: 'identity-by-name',
  level: 'warning',
  summary: 'a role that matches a repository or owner by name only can be borrowed after a rename',
  *check(policy: Policy) {
    for (const role of policy.roles.values()) {
      if (byId(role)) continue;
      const named = role.match.filter(fixesOwnerByName);
      if (!named.length) continue;
      const what = named.map((m) => `${m.claim}: ${m.globs.map((g) => g.source).join(' | ')}`).join(', ');
      yield {
        path: matchPath(role, named[0]!.claim),
        message: `role ${JSON.stringify(role.name)} matches by name only (${what}): if the owner or repository is renamed or deleted, whoever registers the name gets tokens that match. Add repository_owner_id or repository_id, which never change hands; ${HOW_TO_FIND}`,
      };
    }
  },
};

/** A `ref` or `sub` pattern that can match a branch of the repository. */
function branchPatterns(role: Role): string[] {
  const out: string[] = [];
  for (const g of claim(role, 'ref')?.globs ?? []) if (globCanStartWith(g.source, 'refs/heads/', '/')) out.push(`ref: ${g.source}`);
  for (const g of claim(role, 'sub')?.globs ?? []) {
    const at = g.source.indexOf(':ref:');
    const branch = at >= 0 ? globCanStartWith(g.source.slice(at + 5), 'refs/heads/', '/') : g.source.includes('**');
    if (branch) out.push(`sub: ${g.source}`);
  }
  return out;
}

const branchWithoutEvent: LintRule = {
  id: 'branch-without-event',
  level: 'warning',
  summary: 'a role that matches a branch ref without event_name admits every event that runs there',
  *check(policy: Policy) {
    for (const role of policy.roles.values()) {
      if (claim(role, 'event_name')) continue;
      const refs = branchPatterns(role);
      if (!refs.length && (claim(role, 'ref') || claim(role, 'sub'))) continue;
      const what = refs.length ? `matches a branch (${refs.join(', ')})` : 'matches any ref';
      yield {
        path: matchPath(role, refs.length ? refs[0]!.split(':')[0] : undefined),
        message: `role ${JSON.stringify(role.name)} ${what} without event_name, so a job of any event that runs ${refs.length ? 'on that branch' : 'on a branch'} gets it: issue_comment and other jobs that anyone can start on a public repository, workflow_dispatch with its inputs, schedule. pull_request_target and workflow_run jobs run with the base branch's ref for pull requests from forks; tollgate refuses them unless a role names them, but name the events you mean, e.g. event_name: [push]`,
      };
    }
  },
};

const workflowRefBranch: LintRule = {
  id: 'workflow-ref-branch',
  level: 'warning',
  summary: 'job_workflow_ref at a branch: the reusable workflow can change under the role',
  *check(policy: Policy) {
    for (const role of policy.roles.values()) {
      const m = claim(role, 'job_workflow_ref');
      if (!m || claim(role, 'job_workflow_sha')) continue;
      for (const [i, g] of m.globs.entries()) {
        const at = g.source.lastIndexOf('@');
        const ref = at >= 0 ? g.source.slice(at + 1) : g.source.includes('**') ? '**' : '';
        if (!globCanStartWith(ref, 'refs/heads/', '/')) continue;
        yield {
          path: m.globs.length > 1 ? [...matchPath(role, m.claim), i] : matchPath(role, m.claim),
          message: `role ${JSON.stringify(role.name)} matches the reusable workflow at a branch (${g.source}): whoever can push to that branch changes what runs with this role. Pin it at a tag (…@refs/tags/v1) or match job_workflow_sha with the commit`,
        };
      }
    }
  },
};

const dangerousEvents: LintRule = {
  id: 'dangerous-event',
  level: 'info',
  summary: 'explains a role that names pull_request_target or workflow_run, or an event_name glob that does not',
  *check(policy: Policy) {
    for (const role of policy.roles.values()) {
      const m = claim(role, 'event_name');
      if (!m) continue;
      for (const [event, why] of Object.entries(DANGEROUS_EVENTS)) {
        const literal = m.globs.some((g) => g.literal && g.source === event);
        if (literal) {
          yield {
            path: matchPath(role, 'event_name'),
            message: `role ${JSON.stringify(role.name)} admits ${event} jobs: ${why}. Keep its workflow from running the pull request's code`,
          };
        } else if (m.globs.some((g) => g.test(event))) {
          yield {
            path: matchPath(role, 'event_name'),
            level: 'warning' as const,
            message: `role ${JSON.stringify(role.name)}: the glob in event_name matches ${event}, but a glob never admits it (${event} must be named literally), so such jobs are refused`,
          };
        }
      }
    }
  },
};

export const IDENTITY_RULES: readonly LintRule[] = [anyRepository, byName, branchWithoutEvent, workflowRefBranch, dangerousEvents];
