// The two things `main` needs from the policy module: the role this job's claims earn, and the
// policy's defaults (session ttl, approval timeout) in milliseconds. Policy errors are things the
// workflow author fixes, so they become configuration errors that say so.
import { readFileSync } from 'node:fs';
import { loadPolicy, parsePolicy } from '../policy/load.js';
import { selectRole } from '../policy/roles.js';
import type { Policy } from '../policy/compile.js';
import { ConfigurationError } from './errors.js';

/** `display`: how errors name the file when `path` is a private copy (the base commit's policy). */
export function roleFor(path: string, claims: Record<string, unknown>, wanted?: string, display?: string): { policy: Policy; role: string } {
  let policy: Policy;
  try {
    policy = display ? parsePolicy(readFileSync(path, 'utf8'), display) : loadPolicy(path);
  } catch (err) {
    throw new ConfigurationError(`The policy file could not be used: ${(err as Error).message}`);
  }
  try {
    return { policy, role: selectRole(policy, claims, wanted).name };
  } catch (err) {
    // A dangerous event's message says what to do; widening the match would be the wrong advice.
    if ((err as { code?: unknown }).code === 'ERR_ROLE_DANGEROUS_EVENT') throw new ConfigurationError(`${(err as Error).message}.`);
    throw new ConfigurationError(`${(err as Error).message}. Add or widen a role's \`match\` in the policy, or run this job where a role applies.`);
  }
}

export function policyDefaults(policy: Policy): { sessionTtlMs: number; approvalTimeoutMs: number } {
  return { sessionTtlMs: policy.sessionTtlMs, approvalTimeoutMs: policy.approvalTimeoutMs };
}
