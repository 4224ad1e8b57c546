// `tollgate check` (in-process through runCheck, and once through the built dist/cli.js) and the
// `tollgate` dispatcher.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exactlyOne, parseFlags, UsageError } from '../../src/cli/args.js';
import { runCheck, USAGE } from '../../src/cli/check.js';
import { main, type Command } from '../../src/cli/index.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

async function check(...argv: string[]) {
  const c = capture();
  const code = await runCheck(argv, c.io);
  return { code, out: c.out, err: c.err };
}

const dir = mkdtempSync(join(tmpdir(), 'tollgate-check-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const DEMO = ['--policy', 'policies/demo.yml', '--role', 'demo'];

describe('tollgate check: decisions and exit codes', () => {
  it('exit 0 when everything is allowed, one line per statement', async () => {
    const r = await check(...DEMO, '--sql', 'SELECT name, email FROM users; SELECT 1');
    expect(r).toEqual({
      code: 0,
      out: [
        'allow   SELECT name, email FROM users  — select on public.users allowed by roles.demo.postgres.rules[0]; masked: email (partial)',
        'allow   SELECT 1  — select allowed by roles.demo.postgres.rules[0]',
      ],
      err: [],
    });
  });

  it('exit 1 when something is denied (and the whole message is)', async () => {
    const r = await check(...DEMO, '--sql', "SELECT 1; UPDATE users SET email = 'x'");
    expect(r.code).toBe(1);
    expect(r.out).toEqual([
      'allow   SELECT 1  — select allowed by roles.demo.postgres.rules[0]',
      "deny    UPDATE users SET email = 'x'  — update on public.users denied by roles.demo.postgres.rules[4]",
    ]);
  });

  it('exit 3 when review is needed and nothing is denied', async () => {
    const r = await check(...DEMO, '--sql', "INSERT INTO orders VALUES (1, 1, 2.00, 'new')");
    expect(r.code).toBe(3);
    expect(r.out).toEqual([
      "review  INSERT INTO orders VALUES (1, 1, 2.00, 'new')  — insert on public.orders needs review by roles.demo.postgres.rules[3]",
    ]);
    expect((await check(...DEMO, '--sql', "INSERT INTO orders VALUES (1, 1, 2.00, 'new'); DELETE FROM users")).code).toBe(1);
  });

  it('--json prints the contract shape', async () => {
    const r = await check(...DEMO, '--json', '--sql', 'SELECT lower(email) AS e FROM users; BEGIN');
    expect(r.code).toBe(0);
    expect(r.out).toHaveLength(1);
    expect(JSON.parse(r.out[0]!)).toEqual({
      decision: 'allow',
      statements: [
        {
          sql: 'SELECT lower(email) AS e FROM users',
          kind: 'select',
          decision: 'allow',
          rule: 'roles.demo.postgres.rules[0]',
          reason: 'select on public.users allowed by roles.demo.postgres.rules[0]',
          accesses: [{ kind: 'select', object: 'public.users' }],
          masked: [{ index: 0, name: 'e', strategy: 'partial', column: 'public.users.email' }],
        },
        {
          sql: 'BEGIN',
          kind: 'transaction',
          decision: 'allow',
          rule: null,
          reason: 'transaction control is always allowed',
          accesses: [{ kind: 'transaction', object: null }],
          masked: [],
        },
      ],
    });
  });

  it('--file reads the SQL, --claims picks the role', async () => {
    const sql = file('q.sql', 'SELECT * FROM users;\nTRUNCATE users;\n');
    const claims = file('claims.json', JSON.stringify({ repository_owner_id: '1234567', repository: 'acme/app', event_name: 'push', ref: 'refs/heads/main', job_workflow_ref: 'acme/platform/.github/workflows/migrate.yml@refs/tags/v1' }));
    const r = await check('--policy', 'policies/migrations.yml', '--claims', claims, '--file', sql);
    expect(r.code).toBe(3);
    expect(r.out).toEqual([
      'allow   SELECT * FROM users  — select on public.users allowed by roles.migrations.postgres.rules[2]',
      'review  TRUNCATE users  — truncate on public.users needs review by roles.migrations.postgres.rules[0]',
    ]);
  });

  it('--file - reads standard input', async () => {
    const c = capture();
    const code = await runCheck([...DEMO, '--file', '-'], { ...c.io, stdin: () => 'TRUNCATE orders' });
    expect([code, c.out, c.err]).toEqual([3, ['review  TRUNCATE orders  — truncate on public.orders needs review by roles.demo.postgres.rules[3]'], []]);
  });

  it('long and multi-line statements stay on one line', async () => {
    const r = await check(...DEMO, '--sql', `SELECT id,\n       name\n  FROM users WHERE name = '${'x'.repeat(100)}'`);
    expect(r.out[0]).toMatch(/^allow {3}SELECT id, name FROM users WHERE name = 'x+…  — select on public\.users/);
  });
});

describe('tollgate check: bad input is exit 2 with one line on stderr', () => {
  it.each([
    [['--role', 'demo', '--sql', 'SELECT 1'], `tollgate check: missing --policy (${USAGE})`],
    [['--policy', 'policies/demo.yml', '--sql', 'SELECT 1'], `tollgate check: missing --role or --claims (${USAGE})`],
    [[...DEMO, '--claims', 'x.json', '--sql', 'SELECT 1'], `tollgate check: give only one of --role or --claims (${USAGE})`],
    [DEMO, `tollgate check: missing --sql or --file or --http (${USAGE})`],
    [[...DEMO, '--sql', 'SELECT 1', '--file', 'q.sql'], `tollgate check: give only one of --sql or --file or --http (${USAGE})`],
    [[...DEMO, '--sql', 'SELECT 1', '--verbose'], `tollgate check: unknown flag --verbose (${USAGE})`],
    [[...DEMO, '--sql'], `tollgate check: --sql needs a value (${USAGE})`],
    [[...DEMO, '--sql', 'SELECT 1', 'extra'], `tollgate check: unexpected argument "extra" (${USAGE})`],
    [['--policy', 'policies/nope.yml', '--role', 'demo', '--sql', 'SELECT 1'], 'tollgate check: policies/nope.yml: cannot read the policy file: no such file'],
    [['--policy', 'test/fixtures/policies/bad-action.yml', '--role', 'ci', '--sql', 'SELECT 1'], 'tollgate check: test/fixtures/policies/bad-action.yml:11: roles.ci.postgres.rules[1].action: expected one of allow, deny, review, got "permit"'],
    [['--policy', 'test/fixtures/policies/duplicate-key.yml', '--role', 'ci', '--sql', 'SELECT 1'], 'tollgate check: test/fixtures/policies/duplicate-key.yml:7: roles.ci.match.repository: duplicate key (first defined at line 5)'],
    [['--policy', 'policies/demo.yml', '--role', 'admin', '--sql', 'SELECT 1'], 'tollgate check: unknown role "admin" in policies/demo.yml (roles: demo)'],
    [[...DEMO, '--file', 'nope.sql'], 'tollgate check: cannot read the SQL file nope.sql: no such file'],
    [[...DEMO, '--sql', '  -- only a comment\n'], 'tollgate check: no SQL statement in the input'],
  ])('%j', async (argv, message) => {
    expect(await check(...argv)).toEqual({ code: 2, out: [], err: [message] });
  });

  it('claims that match no role, or are not a JSON object', async () => {
    const nomatch = file('nomatch.json', JSON.stringify({ repository: 'evil/app', ref: 'refs/heads/main' }));
    expect(await check('--policy', 'policies/readonly.yml', '--claims', nomatch, '--sql', 'SELECT 1')).toEqual({
      code: 2,
      out: [],
      err: ['tollgate check: no role in policies/readonly.yml matches the claims (checked repository_owner_id (absent), repository="evil/app", event_name (absent), ref="refs/heads/main" against roles readonly)'],
    });
    const notJson = file('bad.json', '{ repository: ');
    const r = await check('--policy', 'policies/readonly.yml', '--claims', notJson, '--sql', 'SELECT 1');
    expect(r.code).toBe(2);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(new RegExp(`^tollgate check: ${notJson.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not valid JSON: `));
    const list = file('list.json', '["a"]');
    expect((await check('--policy', 'policies/readonly.yml', '--claims', list, '--sql', 'SELECT 1')).err).toEqual([
      `tollgate check: ${list}: expected a JSON object of OIDC claims`,
    ]);
  });

  it('--help prints the usage and exits 0', async () => {
    expect(await check('--help')).toEqual({ code: 0, out: [USAGE], err: [] });
  });
});

describe('tollgate (the dispatcher)', () => {
  it('--help and no arguments', async () => {
    const h = capture();
    expect(await main(['--help'], h.io)).toBe(0);
    expect(h.out[0]).toMatch(/^usage:\n {2}tollgate check --policy F/);
    expect(h.out[0]).toContain('tollgate audit verify F.jsonl');
    const n = capture();
    expect(await main([], n.io)).toBe(2);
    expect(n.err[0]).toMatch(/^usage:/);
  });

  it('an unknown command is exit 2 with the usage', async () => {
    const c = capture();
    expect(await main(['chek'], c.io)).toBe(2);
    expect(c.err[0]).toBe('tollgate: unknown command "chek"');
    expect(c.err[1]).toMatch(/^usage:/);
    expect(await main(['toString'], capture().io)).toBe(2);
  });

  it('dispatches check with the arguments after the command name', async () => {
    const c = capture();
    expect(await main(['check', ...DEMO, '--sql', 'DELETE FROM users'], c.io)).toBe(1);
  });

  const commands = (load: Command['load']): Record<string, Command> => ({ x: { usage: 'x', summary: 'x', load } });

  it('a command whose module is missing is "not available", not a crash', async () => {
    const missing = './not-written-yet.js';
    const c = capture();
    expect(await main(['x'], c.io, commands(() => import(/* @vite-ignore */ missing)))).toBe(2);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toMatch(/^tollgate: the x command is not available in this build \(/);
    const d = capture();
    expect(await main(['x'], d.io, commands(async () => ({ other: 1 })))).toBe(2);
    expect(d.err).toEqual(['tollgate: the x command is not available in this build (its module has no run())']);
  });

  it('a command that throws: usage errors exit 2, failures exit 1, one line each', async () => {
    const u = capture();
    expect(await main(['x', 'a'], u.io, commands(async () => ({ run: async () => { throw new UsageError('missing --upstream'); } })))).toBe(2);
    expect(u.err).toEqual(['tollgate x: missing --upstream']);
    const f = capture();
    expect(await main(['x'], f.io, commands(async () => ({ run: async () => { throw new Error('listen EADDRINUSE\n    at stack'); } })))).toBe(1);
    expect(f.err).toEqual(['tollgate x: listen EADDRINUSE']);
    const seen: string[][] = [];
    const ok = capture();
    expect(await main(['x', 'verify', 'f'], ok.io, commands(async () => ({ run: async (argv: string[]) => { seen.push(argv); return 0; } })))).toBe(0);
    expect(seen).toEqual([['verify', 'f']]);
  });
});

describe('dist/cli.js', () => {
  it('runs check as the contract says (exit code, stdout, one stderr line)', () => {
    const ok = execFileSync(process.execPath, ['dist/cli.js', 'check', ...DEMO, '--json', '--sql', 'SELECT ssn FROM users'], { encoding: 'utf8' });
    expect(JSON.parse(ok)).toMatchObject({ decision: 'allow', statements: [{ masked: [{ index: 0, name: 'ssn', strategy: 'redact', column: '*.ssn' }] }] });
    const review = spawnSync(process.execPath, ['dist/cli.js', 'check', ...DEMO, '--sql', 'DELETE FROM orders'], { encoding: 'utf8' });
    expect(review.status).toBe(3);
    const bad = spawnSync(process.execPath, ['dist/cli.js', 'check', '--policy', 'policies/nope.yml', '--role', 'demo', '--sql', 'SELECT 1'], { encoding: 'utf8' });
    expect([bad.status, bad.stdout, bad.stderr]).toEqual([2, '', 'tollgate check: policies/nope.yml: cannot read the policy file: no such file\n']);
  });
});

describe('parseFlags (shared by every subcommand)', () => {
  const spec = { string: ['policy', 'listen'], boolean: ['json'], positionals: 1 } as const;

  it('reads --flag value, --flag=value, booleans and positionals', () => {
    expect(parseFlags(['--policy', 'p.yml', '--listen=127.0.0.1:0', '--json', 'file'], spec)).toEqual({
      policy: 'p.yml',
      listen: '127.0.0.1:0',
      json: true,
      _: ['file'],
    });
    expect(parseFlags([], spec)).toEqual({ _: [] });
    expect(parseFlags(['--policy=--odd'], spec).policy).toBe('--odd');
  });

  it.each([
    [['--nope'], 'unknown flag --nope'],
    [['-p', 'x'], 'unknown flag -p'],
    [['--policy'], '--policy needs a value'],
    [['--policy', '--json'], '--policy needs a value'],
    [['--json=yes'], '--json takes no value'],
    [['--policy', 'a', '--policy', 'b'], '--policy given more than once'],
    [['a', 'b'], 'unexpected argument "b"'],
  ])('%j → UsageError %s', (argv, message) => {
    expect(() => parseFlags(argv, spec)).toThrow(new UsageError(message));
  });

  it('exactlyOne names the choices', () => {
    expect(exactlyOne({ a: 'x', b: undefined }, ['a', 'b'])).toBe('a');
    expect(() => exactlyOne({ a: undefined, b: undefined }, ['a', 'b'])).toThrow('missing --a or --b');
    expect(() => exactlyOne({ a: '1', b: '2' }, ['a', 'b'])).toThrow('give only one of --a or --b');
  });
});

describe('tollgate check --http', () => {
  const HTTP = ['--policy', 'test/fixtures/policies/http.yml', '--role', 'deploy'];
  it('exit 3 for a push to prod (review), the rule named', async () => {
    expect(await check(...HTTP, '--upstream', 'registry', '--http', 'PUT /v2/prod/api/manifests/v2')).toEqual({
      code: 3,
      out: ['review  PUT /v2/prod/api/manifests/v2  — push prod/api:v2 needs review by roles.deploy.http.rules[2]'],
      err: [],
    });
  });
  it('exit 0 for an allowed pull, exit 1 for a denial (with the status the proxy answers)', async () => {
    expect((await check(...HTTP, '--upstream', 'registry', '--http', 'GET /v2/prod/api/manifests/v2')).code).toBe(0);
    expect(await check(...HTTP, '--upstream', 'cluster', '--http', 'POST /api/v1/namespaces/prod/pods/web/exec')).toEqual({
      code: 1,
      out: ['deny    POST /api/v1/namespaces/prod/pods/web/exec  — exec pods/exec prod/web denied by roles.deploy.http.rules[6] (the proxy answers 403)'],
      err: [],
    });
    expect((await check(...HTTP, '--upstream', 'registry', '--http', 'PUT /v2/staging/../prod/api/manifests/v2')).out).toEqual([
      'deny    PUT /v2/staging/../prod/api/manifests/v2  — cannot judge the request: dot segment (. or ..) in the path (the proxy answers 400)',
    ]);
  });
  it('--json', async () => {
    const r = await check(...HTTP, '--upstream', 'cluster', '--json', '--http', 'delete /apis/apps/v1/namespaces/prod/deployments/api');
    expect(JSON.parse(r.out[0]!)).toEqual({
      decision: 'review',
      http: {
        upstream: 'cluster', method: 'DELETE', path: '/apis/apps/v1/namespaces/prod/deployments/api', operation: 'delete deployments.apps prod/api',
        vocabulary: 'kubernetes', decision: 'review', rule: 'roles.deploy.http.rules[5]', reason: 'delete deployments.apps prod/api needs review by roles.deploy.http.rules[5]',
        status: null, accesses: [{ what: 'delete deployments.apps prod/api', decision: 'review', rule: 'roles.deploy.http.rules[5]' }],
      },
    });
  });
  it('bad input is exit 2 with one line', async () => {
    expect(await check(...HTTP, '--http', 'GET /v2/')).toEqual({ code: 2, out: [], err: ['tollgate check: role "deploy" has several http upstreams: pick one with --upstream (registry, cluster, api, legacy)'] });
    expect(await check(...HTTP, '--upstream', 'nope', '--http', 'GET /v2/')).toEqual({ code: 2, out: [], err: ['tollgate check: unknown upstream "nope" (defined: registry, cluster, api, legacy)'] });
    expect(await check(...HTTP, '--upstream', 'api', '--http', '/v2/')).toEqual({ code: 2, out: [], err: ['tollgate check: --http "/v2/": expected "METHOD /path", e.g. "PUT /v2/prod/api/manifests/v2"'] });
    expect((await check(...HTTP, '--upstream', 'api', '--sql', 'select 1')).code).toBe(2);
    expect((await check(...DEMO, '--http', 'GET /')).err).toEqual(['tollgate check: role "demo" has no http upstreams']);
  });
});
