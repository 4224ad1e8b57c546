// `tollgate lint --policy F [--strict] [--json]`: what a valid policy can still get wrong (the rule
// list is src/policy/lint/). One line per finding, `file:line: level: path: message [rule]`.
// Exit 0 when nothing is an error, 1 when something is (with --strict, warnings are), 2 bad input;
// a policy that does not load prints every problem the loader found.
import { formatPath, formatProblem, PolicyError } from '../policy/errors.js';
import { LINT_RULES, lintPolicy } from '../policy/lint/index.js';
import { loadLocatedPolicy } from '../policy/load.js';
import { parseFlags, required, stdio, UsageError, type CliIO } from './args.js';

export const USAGE = 'usage: tollgate lint --policy F [--strict] [--json] [--rules]  (--strict: warnings are errors; --rules lists the checks)';

export async function runLint(argv: readonly string[], io: CliIO = stdio): Promise<number> {
  try {
    const flags = parseFlags(argv, { string: ['policy'], boolean: ['strict', 'json', 'rules', 'help'] });
    if (flags.help) {
      io.out(USAGE);
      return 0;
    }
    if (flags.rules) {
      for (const r of LINT_RULES) io.out(`${r.id.padEnd(24)} ${r.level.padEnd(7)} ${r.summary}`);
      return 0;
    }
    const file = required(flags.policy, 'policy');
    const { policy, lineOf } = loadLocatedPolicy(file);
    const findings = lintPolicy(policy, { strict: flags.strict ?? false });
    const count = (level: string) => findings.filter((f) => f.level === level).length;
    if (flags.json) {
      io.out(JSON.stringify({ file, findings: findings.map((f) => ({ ...f, path: formatPath(f.path), line: lineOf(f.path) })) }));
    } else {
      for (const f of findings) io.out(`${file}:${lineOf(f.path)}: ${f.level}: ${formatPath(f.path)}: ${f.message} [${f.rule}]`);
      io.out(`${file}: ${count('error')} error(s), ${count('warning')} warning(s), ${count('info')} note(s)`);
    }
    return count('error') ? 1 : 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`tollgate lint: ${err.message} (${USAGE})`);
      return 2;
    }
    if (err instanceof PolicyError) {
      const problems = err.problems.length ? err.problems.map(formatProblem) : [err.message];
      for (const p of problems) io.err(`tollgate lint: ${p}`);
      return 2;
    }
    io.err(`tollgate lint: internal error: ${(err as Error)?.message ?? String(err)}`);
    return 2;
  }
}

export function run(argv: string[]): Promise<number> {
  return runLint(argv);
}
