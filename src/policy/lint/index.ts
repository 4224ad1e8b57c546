// `tollgate lint`: what a policy that loads cleanly can still get wrong. The checks are a list of
// small rules, one idea each, that anyone can extend: a rule looks at the compiled policy and
// yields findings at key paths; the runner adds the rule's id and level, and `--strict` turns
// warnings into errors. `info` findings explain a deliberate choice and never fail.
import type { Policy } from '../compile.js';
import { IDENTITY_RULES } from './identity.js';

export type LintLevel = 'error' | 'warning' | 'info';

export interface LintFinding {
  /** The rule's id, e.g. `identity-by-name`. */
  readonly rule: string;
  readonly level: LintLevel;
  /** Key path in the policy document, e.g. ['roles', 'ci', 'match', 'repository']. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export interface LintRule {
  readonly id: string;
  /** The level of its findings unless a finding says otherwise. */
  readonly level: LintLevel;
  /** One line for `tollgate lint --rules`. */
  readonly summary: string;
  check(policy: Policy): Iterable<{ path: readonly (string | number)[]; message: string; level?: LintLevel }>;
}

/** Every rule `tollgate lint` runs, in the order findings are reported. Add new rules here. */
export const LINT_RULES: readonly LintRule[] = [...IDENTITY_RULES];

export interface LintOptions {
  /** Warnings become errors. */
  strict?: boolean;
  rules?: readonly LintRule[];
}

export function lintPolicy(policy: Policy, options: LintOptions = {}): LintFinding[] {
  const out: LintFinding[] = [];
  for (const rule of options.rules ?? LINT_RULES) {
    for (const f of rule.check(policy)) {
      let level = f.level ?? rule.level;
      if (options.strict && level === 'warning') level = 'error';
      out.push({ rule: rule.id, level, path: f.path, message: f.message });
    }
  }
  return out;
}
