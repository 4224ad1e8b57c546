// `tollgate check` tells the truth offline (issue 8 item 8): a `*` over a masked table reports the
// mask on the `*` (the proxy masks those columns by catalog), never an allow with no masks; a `*`
// of unknown width over masked data is denied, as the proxy denies it.
import { describe, expect, it } from 'vitest';
import { runCheck } from '../../src/cli/check.js';

async function check(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCheck(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const DEMO = ['--policy', 'policies/demo.yml', '--role', 'demo'];

describe('tollgate check and *', () => {
  it('SELECT * FROM users names the masks that apply to the *', async () => {
    expect(await check(...DEMO, '--sql', 'SELECT * FROM users')).toEqual({
      code: 0,
      out: ['allow   SELECT * FROM users  — select on public.users allowed by roles.demo.postgres.rules[0]; masked: * (where it holds public.users.email partial, *.ssn redact)'],
      err: [],
    });
    const json = JSON.parse((await check(...DEMO, '--json', '--sql', 'SELECT * FROM users')).out[0]!);
    expect(json.statements[0].masked).toEqual([
      { index: 0, name: '*', strategy: 'partial', column: 'public.users.email' },
      { index: 0, name: '*', strategy: 'redact', column: '*.ssn' },
    ]);
  });

  it('u.* and TABLE t too; a * over a table only a wildcard mask may cover says so', async () => {
    expect((await check(...DEMO, '--sql', 'SELECT o.id, u.* FROM orders o JOIN users u ON u.id = o.user_id')).out[0]).toMatch(/; masked: \* \(where it holds public\.users\.email partial, \*\.ssn redact\)$/);
    expect((await check(...DEMO, '--sql', 'TABLE users')).out[0]).toMatch(/; masked: \* \(where it holds public\.users\.email partial/);
    expect((await check(...DEMO, '--sql', 'SELECT * FROM orders')).out[0]).toBe('allow   SELECT * FROM orders  — select on public.orders allowed by roles.demo.postgres.rules[0]; masked: * (where it holds *.ssn redact)');
    const none = await check('--policy', 'policies/readonly.yml', '--role', 'readonly', '--sql', 'SELECT * FROM users');
    expect(none.out[0]).toBe('allow   SELECT * FROM users  — select on public.users allowed by roles.readonly.postgres.rules[0]');
  });

  it('a * of unknown width over masked data is denied, as the proxy denies it', async () => {
    const r = await check(...DEMO, '--sql', 'SELECT * FROM (SELECT * FROM users UNION ALL SELECT * FROM users) x');
    expect(r.code).toBe(1);
    expect(r.out[0]).toMatch(/^deny {4}SELECT \* FROM \(SELECT \* FROM users UNION ALL SELECT \* FROM users\) x  — result columns of a \* over something other than a table/);
  });

  it('a masked column listed after a * is denied (its position is unknown)', async () => {
    const r = await check(...DEMO, '--sql', 'SELECT *, lower(email) FROM users');
    expect(r.code).toBe(1);
    expect(r.out[0]).toContain('result column "lower" carries masked data (public.users.email) but follows a *');
  });
});
