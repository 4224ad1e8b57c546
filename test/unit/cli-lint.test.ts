// `tollgate lint` (in-process through runLint, and once through the built dist/cli.js): findings
// located at their file and line, --strict, --json, exit codes 0/1/2, and a policy that does not load.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runLint, USAGE } from '../../src/cli/lint.js';

async function lint(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runLint(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'tollgate-lint-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const BY_NAME = `version: 1
roles:
  ci:
    match:
      repository: acme/app
      event_name: push
      ref: refs/heads/main
      job_workflow_ref: acme/platform/.github/workflows/m.yml@refs/heads/main
`;

describe('tollgate lint', () => {
  it('warnings are reported with file and line and exit 0; --strict makes them errors, exit 1', async () => {
    const p = file('by-name.yml', BY_NAME);
    const r = await lint('--policy', p);
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    expect(r.out.map((l) => l.replace(/: role .*(\[[a-z-]+\])$/, ' … $1'))).toEqual([
      `${p}:5: warning: roles.ci.match.repository … [identity-by-name]`,
      `${p}:8: warning: roles.ci.match.job_workflow_ref … [workflow-ref-branch]`,
      `${p}: 0 error(s), 2 warning(s), 0 note(s)`,
    ]);
    const strict = await lint('--policy', p, '--strict');
    expect(strict.code).toBe(1);
    expect(strict.out.at(-1)).toBe(`${p}: 2 error(s), 0 warning(s), 0 note(s)`);
  });

  it('an owner that is not pinned at all is an error without --strict', async () => {
    const p = file('any.yml', 'version: 1\nroles:\n  ci:\n    match:\n      event_name: push\n');
    const r = await lint('--policy', p);
    expect(r.code).toBe(1);
    expect(r.out[0]).toMatch(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:4: error: roles\\.ci\\.match: role "ci" does not pin the repository's owner`));
  });

  it('--json gives each finding with its rule, level, path and line', async () => {
    const r = await lint('--policy', file('j.yml', BY_NAME), '--json');
    const parsed = JSON.parse(r.out[0]!) as { findings: { rule: string; level: string; path: string; line: number }[] };
    expect(parsed.findings.map(({ rule, level, path, line }) => ({ rule, level, path, line }))).toEqual([
      { rule: 'identity-by-name', level: 'warning', path: 'roles.ci.match.repository', line: 5 },
      { rule: 'workflow-ref-branch', level: 'warning', path: 'roles.ci.match.job_workflow_ref', line: 8 },
    ]);
  });

  it('every shipped policy passes --strict', async () => {
    for (const p of ['policies/readonly.yml', 'policies/migrations.yml', 'policies/demo.yml']) {
      const r = await lint('--policy', p, '--strict');
      expect([r.code, r.out.at(-1)], p).toEqual([0, `${p}: 0 error(s), 0 warning(s), 0 note(s)`]);
    }
  });

  it('a policy that does not load prints every problem, exit 2', async () => {
    const p = file('bad.yml', 'version: 1\nroles:\n  ci:\n    match:\n      repository_id: "12*"\n    approvers: ["no way"]\n');
    const r = await lint('--policy', p);
    expect(r).toEqual({
      code: 2,
      out: [],
      err: [
        `tollgate lint: ${p}:5: roles.ci.match.repository_id: expected the repository's numeric id (gh api repos/OWNER/REPO --jq .id), got "12*" (no globs on this claim)`,
        `tollgate lint: ${p}:6: roles.ci.approvers[0]: expected a GitHub login or org/team, got "no way"`,
      ],
    });
    expect(await lint('--policy', join(dir, 'nope.yml'))).toEqual({ code: 2, out: [], err: [`tollgate lint: ${join(dir, 'nope.yml')}: cannot read the policy file: no such file`] });
    expect(await lint()).toEqual({ code: 2, out: [], err: [`tollgate lint: missing --policy (${USAGE})`] });
  });

  it('--rules lists the checks', async () => {
    const r = await lint('--rules');
    expect(r.code).toBe(0);
    expect(r.out.map((l) => l.split(/\s+/)[0])).toEqual(['identity-any-repository', 'identity-by-name', 'branch-without-event', 'workflow-ref-branch', 'dangerous-event']);
  });

  it('runs from the built dist/cli.js', () => {
    const r = spawnSync(process.execPath, ['dist/cli.js', 'lint', '--policy', 'policies/readonly.yml', '--strict'], { encoding: 'utf8' });
    expect([r.status, r.stdout, r.stderr]).toEqual([0, 'policies/readonly.yml: 0 error(s), 0 warning(s), 0 note(s)\n', '']);
  });
});

describe('the README', () => {
  it('every policy it shows loads and passes lint --strict', async () => {
    const { readFileSync } = await import('node:fs');
    const { parsePolicy } = await import('../../src/policy/load.js');
    const { lintPolicy } = await import('../../src/policy/lint/index.js');
    const blocks = [...readFileSync('README.md', 'utf8').matchAll(/```yaml\n(version: 1\n[\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const b of blocks) expect(lintPolicy(parsePolicy(b, 'README.md'), { strict: true }).filter((f) => f.level !== 'info'), b).toEqual([]);
  });
});
