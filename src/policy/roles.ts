// OIDC claims → role. A role matches when every claim it names matches one of its globs. A claim
// that is absent or not a string never matches (octo-sts: no coercion of numbers or booleans).
//
// Some events run a workflow of the base repository, with its ref and secrets, on behalf of someone
// else's code: a role matches their jobs only when it names the event literally in `event_name`
// (a glob such as `*` never opts in), so `ref: refs/heads/main` alone never admits them.
import type { Policy, Role } from './compile.js';
import { PolicyError } from './errors.js';

export type Claims = Readonly<Record<string, unknown>>;

/** Events a role must name literally in `event_name`, and why. */
export const DANGEROUS_EVENTS: Readonly<Record<string, string>> = {
  pull_request_target:
    'a pull_request_target job runs the base branch\'s workflow with its ref, secrets and write token, but anyone who can open a pull request (from a fork too) starts it, and a workflow that checks out or builds the pull request runs their code with those',
  workflow_run:
    'a workflow_run job runs with the default branch\'s ref, secrets and write token after another workflow, which a pull request from a fork can trigger, so what it reads (artifacts, the head commit) may be an outsider\'s',
};

function claimMatches(value: unknown, globs: Role['match'][number]['globs']): boolean {
  return typeof value === 'string' && globs.some((g) => g.test(value));
}

/**
 * The dangerous event these claims come from when the role does not name it literally, or
 * `malformed` when `event_name` is there but not a string (a claim the refusal relies on: fail closed).
 */
function unnamedDangerousEvent(role: Role, claims: Claims): string | null {
  if (!Object.hasOwn(claims, 'event_name')) return null;
  const event = claims.event_name;
  if (typeof event !== 'string') return MALFORMED;
  if (!Object.hasOwn(DANGEROUS_EVENTS, event)) return null;
  const named = role.match.some((m) => m.claim === 'event_name' && m.globs.some((g) => g.literal && g.source === event));
  return named ? null : event;
}

const MALFORMED = '(malformed)';

/** The first claim of `role` that `claims` fail, or null when the role matches. */
function firstMismatch(role: Role, claims: Claims): Role['match'][number] | null {
  for (const m of role.match) {
    if (!Object.hasOwn(claims, m.claim) || !claimMatches(claims[m.claim], m.globs)) return m;
  }
  return null;
}

export function roleMatches(role: Role, claims: Claims): boolean {
  return firstMismatch(role, claims) === null && unnamedDangerousEvent(role, claims) === null;
}

/** Names of every role whose match accepts the claims, in policy order. */
export function matchRoles(policy: Policy, claims: Claims): string[] {
  return [...policy.roles.values()].filter((r) => roleMatches(r, claims)).map((r) => r.name);
}

function dangerousEventError(roles: readonly string[], event: string): PolicyError {
  if (event === MALFORMED) {
    return new PolicyError('ERR_ROLE_DANGEROUS_EVENT', 'the token\'s event_name claim is not a string, so it cannot be told whether the job runs for someone else\'s pull request; no role is granted');
  }
  const which = roles.length === 1 ? `role ${JSON.stringify(roles[0])} matches` : `roles ${roles.map((r) => JSON.stringify(r)).join(', ')} match`;
  return new PolicyError(
    'ERR_ROLE_DANGEROUS_EVENT',
    `this job was started by a ${event} event, and ${which} the other claims but do${roles.length === 1 ? 'es' : ''} not name ${event} in event_name: ${DANGEROUS_EVENTS[event]}. A role admits such jobs only when its match lists \`event_name: ${event}\` literally (a glob such as * does not opt in); do that only for a role whose workflow never runs the pull request's code with it`,
  );
}

/** The role of that name, or ERR_ROLE_UNKNOWN naming the roles there are. */
export function getRole(policy: Policy, name: string): Role {
  const role = policy.roles.get(name);
  if (!role) {
    throw new PolicyError(
      'ERR_ROLE_UNKNOWN',
      `unknown role ${JSON.stringify(name)} in ${policy.file} (roles: ${[...policy.roles.keys()].join(', ')})`,
    );
  }
  return role;
}

function showClaim(claims: Claims, name: string): string {
  if (!Object.hasOwn(claims, name)) return `${name} (absent)`;
  const v = claims[name];
  return typeof v === 'string' ? `${name}=${JSON.stringify(v)}` : `${name}=${JSON.stringify(v) ?? String(v)} (not a string)`;
}

/**
 * The role for these claims: `wanted` when given (it must exist and match), else the first role in
 * policy order that matches. Errors name the claims that were checked.
 */
export function selectRole(policy: Policy, claims: Claims, wanted?: string): Role {
  if (wanted !== undefined) {
    const role = getRole(policy, wanted);
    const miss = firstMismatch(role, claims);
    const event = miss ? null : unnamedDangerousEvent(role, claims);
    if (event) throw dangerousEventError([role.name], event);
    if (miss) {
      const globs = miss.globs.map((g) => g.source).join(' | ');
      throw new PolicyError(
        'ERR_ROLE_NO_MATCH',
        `role ${JSON.stringify(wanted)} does not match the claims: ${showClaim(claims, miss.claim)} does not match ${globs}`,
      );
    }
    return role;
  }
  for (const role of policy.roles.values()) if (roleMatches(role, claims)) return role;
  // Say so when a role would have matched but for the event: the fix is not to widen the match.
  const refused = [...policy.roles.values()].filter((r) => firstMismatch(r, claims) === null);
  const event = refused.length ? unnamedDangerousEvent(refused[0]!, claims) : null;
  if (event) throw dangerousEventError(refused.map((r) => r.name), event);
  const checked = [...new Set([...policy.roles.values()].flatMap((r) => r.match.map((m) => m.claim)))];
  throw new PolicyError(
    'ERR_ROLE_NO_MATCH',
    `no role in ${policy.file} matches the claims (checked ${checked.map((c) => showClaim(claims, c)).join(', ')} against roles ${[...policy.roles.keys()].join(', ')})`,
  );
}
