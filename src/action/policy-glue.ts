// The two things `main` needs from the policy module: the role this job's claims earn, and the
// policy's defaults (session ttl, approval timeout) in milliseconds.
import { loadPolicy } from '../policy/load.js';
import { selectRole } from '../policy/roles.js';
import { ConfigurationError } from './errors.js';

type Policy = Awaited<ReturnType<typeof loadPolicy>>;

export async function roleFor(path: string, claims: Record<string, unknown>, wanted?: string): Promise<{ policy: Policy; role: string }> {
  let policy: Policy;
  try {
    policy = await loadPolicy(path);
  } catch (err) {
    throw new ConfigurationError(`The policy file could not be used: ${(err as Error).message}`);
  }
  try {
    const selected = selectRole(policy, claims as never, wanted);
    return { policy, role: roleName(selected) };
  } catch (err) {
    throw new ConfigurationError(`${(err as Error).message} Add or widen a role's \`match\` in the policy, or run this job where a role applies.`);
  }
}

function roleName(selected: unknown): string {
  if (typeof selected === 'string') return selected;
  const name = (selected as { name?: unknown } | null)?.name;
  if (typeof name === 'string') return name;
  throw new Error('selectRole returned no role name');
}

export function policyDefaults(policy: Policy): { sessionTtlMs: number; approvalTimeoutMs: number } {
  return { sessionTtlMs: policy.sessionTtlMs, approvalTimeoutMs: policy.approvalTimeoutMs };
}
