// One error class for everything a policy, a role choice or a claim set can get wrong, with a
// stable code so callers can switch on it (jose style). The message is one line meant for a user.

export type PolicyErrorCode =
  | 'ERR_POLICY_READ' // the file cannot be read
  | 'ERR_POLICY_SYNTAX' // not YAML, or duplicate keys
  | 'ERR_POLICY_INVALID' // YAML, but not a valid policy
  | 'ERR_ROLE_UNKNOWN' // a role was asked for by name and the policy has none of that name
  | 'ERR_ROLE_NO_MATCH' // the claims match no role (or not the role asked for)
  | 'ERR_ROLE_DANGEROUS_EVENT'; // a role matches but for a pull_request_target / workflow_run it does not name

/** One problem in a policy file, located. `line` is 1-based; `path` like `roles.ci.match.ref[1]`. */
export interface PolicyProblem {
  file: string;
  line: number;
  path: string;
  message: string;
}

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  readonly code: PolicyErrorCode;
  /** Every problem found, in document order; `message` is the first one. */
  readonly problems: readonly PolicyProblem[];

  constructor(code: PolicyErrorCode, message: string, problems: readonly PolicyProblem[] = []) {
    super(message);
    this.code = code;
    this.problems = problems;
  }
}

export function formatProblem(p: PolicyProblem): string {
  return `${p.file}:${p.line}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

/** `roles.ci.postgres.rules[1].action`; keys that are not plain words are quoted. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

