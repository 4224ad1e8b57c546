// OIDC claims → role. A role matches when every claim it names matches one of its globs. A claim
// that is absent or not a string never matches (octo-sts: no coercion of numbers or booleans).
import type { Policy, Role } from './compile.js';
import { PolicyError } from './errors.js';

export type Claims = Readonly<Record<string, unknown>>;

function claimMatches(value: unknown, globs: Role['match'][number]['globs']): boolean {
  return typeof value === 'string' && globs.some((g) => g.test(value));
}

/** The first claim of `role` that `claims` fail, or null when the role matches. */
function firstMismatch(role: Role, claims: Claims): Role['match'][number] | null {
  for (const m of role.match) {
    if (!Object.hasOwn(claims, m.claim) || !claimMatches(claims[m.claim], m.globs)) return m;
  }
  return null;
}

export function roleMatches(role: Role, claims: Claims): boolean {
  return firstMismatch(role, claims) === null;
}

/** Names of every role whose match accepts the claims, in policy order. */
export function matchRoles(policy: Policy, claims: Claims): string[] {
  return [...policy.roles.values()].filter((r) => roleMatches(r, claims)).map((r) => r.name);
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
  const checked = [...new Set([...policy.roles.values()].flatMap((r) => r.match.map((m) => m.claim)))];
  throw new PolicyError(
    'ERR_ROLE_NO_MATCH',
    `no role in ${policy.file} matches the claims (checked ${checked.map((c) => showClaim(claims, c)).join(', ')} against roles ${[...policy.roles.keys()].join(', ')})`,
  );
}
