import { describe, expect, it } from 'vitest';
import { codeCell, escapeCell, renderSummary } from '../../src/audit/summary.js';
import type { AuditLine } from '../../src/audit/types.js';

function line(seq: number, over: Partial<AuditLine>): AuditLine {
  return {
    time: `2026-11-30T04:00:0${seq}.000Z`,
    session: 'Ab3dEf6hIj9k',
    identity: { repository: 'acme/app', actor: 'dev1' },
    role: 'ci-readonly',
    type: 'sql',
    decision: 'allow',
    seq,
    prev: String(seq - 1).repeat(64).slice(0, 64),
    hash: String(seq).repeat(64).slice(0, 64),
    ...over,
  };
}

const lines: AuditLine[] = [
  line(1, { type: 'connect', decision: 'allow' }),
  line(2, { statement: 'SELECT id, email FROM public.users', rule: 'roles.ci-readonly.postgres.rules[0]', masked: [{ name: 'email', strategy: 'redact', column: 'public.users.email' }] }),
  line(3, { statement: 'DELETE FROM public.users WHERE id = $1', decision: 'deny', rule: null, reason: 'no rule matched delete on public.users' }),
  line(4, {
    statement: 'UPDATE public.orders SET status = $1 WHERE id = $2',
    decision: 'review',
    rule: 'roles.ci-readonly.postgres.rules[1]',
    approval: { id: 'req-7', approved: true, via: 'check run', approver: 'alice', at: '2026-11-30T04:01:00Z', where: 'https://github.com/acme/app/pull/12#issuecomment-1' },
  }),
  line(5, {
    statement: 'SELECT a || b FROM "we|ird`name"',
    decision: 'review',
    approval: { id: 'req-8', approved: false, via: 'github', reason: 'timed out after 30m' },
  }),
];

describe('renderSummary', () => {
  it('renders counts, notable statements and approvals exactly', () => {
    expect(renderSummary(lines, { sessionId: 'Ab3dEf6hIj9k', role: 'ci-readonly', verified: true, artifact: 'tollgate-audit-Ab3dEf6hIj9k' })).toBe(
      [
        '## tollgate session `Ab3dEf6hIj9k`',
        '',
        '**Role** `ci-readonly` · **Requests** 5 · **Audit chain** verified · **Artifact** `tollgate-audit-Ab3dEf6hIj9k`',
        '',
        '| Decision | Count |',
        '| --- | ---: |',
        '| allow | 2 |',
        '| review | 2 |',
        '| deny | 1 |',
        '| error | 0 |',
        '',
        '### Denied, reviewed and masked statements',
        '',
        '| Seq | Time | Decision | Statement | Rule | Reason | Review | Masked |',
        '| ---: | --- | --- | --- | --- | --- | --- | --- |',
        '| 2 | 2026-11-30T04:00:02.000Z | allow | `SELECT id, email FROM public.users` | `roles.ci-readonly.postgres.rules[0]` |  |  | public.users.email (redact) |',
        '| 3 | 2026-11-30T04:00:03.000Z | deny | `DELETE FROM public.users WHERE id = $1` |  | no rule matched delete on public.users |  |  |',
        '| 4 | 2026-11-30T04:00:04.000Z | review | `UPDATE public.orders SET status = $1 WHERE id = $2` | `roles.ci-readonly.postgres.rules[1]` |  | approved |  |',
        '| 5 | 2026-11-30T04:00:05.000Z | review | `` SELECT a \\|\\| b FROM "we\\|ird`name" `` |  |  | timed out |  |',
        '',
        '### Approvals',
        '',
        '| Request | Statement | Outcome | Approver | Time | Where |',
        '| --- | --- | --- | --- | --- | --- |',
        '| `req-7` | `UPDATE public.orders SET status = $1 WHERE id = $2` | approved | `alice` | 2026-11-30T04:01:00Z | [check run](https://github.com/acme/app/pull/12#issuecomment-1) |',
        '| `req-8` | `` SELECT a \\|\\| b FROM "we\\|ird`name" `` | timed out | — | — | github |',
        '',
        'Chain head: `5555555555555555555555555555555555555555555555555555555555555555` (seq 5).',
        '',
      ].join('\n'),
    );
  });

  it('is deterministic and says when nothing was notable; a broken chain is flagged first', () => {
    const quiet = [line(1, { statement: 'SELECT 1' })];
    const a = renderSummary(quiet, { sessionId: 's', role: 'r', chainOk: false });
    expect(renderSummary(quiet, { sessionId: 's', role: 'r', chainOk: false })).toBe(a);
    expect(a).toBe(
      [
        '## tollgate session `s`',
        '',
        "> **Warning:** the audit log's hash chain is broken, so this record cannot be trusted.",
        '',
        '**Role** `r` · **Requests** 1 · **Audit chain** BROKEN',
        '',
        '| Decision | Count |',
        '| --- | ---: |',
        '| allow | 1 |',
        '| review | 0 |',
        '| deny | 0 |',
        '| error | 0 |',
        '',
        '### Denied, reviewed and masked statements',
        '',
        'No statement was denied, reviewed or masked.',
        '',
        '### Approvals',
        '',
        'No statement needed an approval.',
        '',
        'Chain head: `1111111111111111111111111111111111111111111111111111111111111111` (seq 1).',
        '',
      ].join('\n'),
    );
  });

  it('never shows a secret or a token, even from an edited log', async () => {
    const { assertNoSecrets } = await import('../../src/audit/redact.js');
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmFjbWUvYXBwIn0.c2lnbmF0dXJl';
    const tampered = [line(1, { statement: 'SELECT hunter2-pw', decision: 'deny', reason: `token ${jwt}` })];
    const md = renderSummary(tampered, { sessionId: 's', role: 'r', verified: false, secrets: ['hunter2-pw'] });
    expect(() => assertNoSecrets(md, ['hunter2-pw', jwt])).not.toThrow();
    expect(md).toContain('| 1 | 2026-11-30T04:00:01.000Z | deny | `SELECT [secret]` |  | token [token] |  |  |');
  });

  it('caps long tables', () => {
    const many = Array.from({ length: 7 }, (_, i) => line(i + 1, { statement: `DROP TABLE t${i}`, decision: 'deny' }));
    const md = renderSummary(many, { sessionId: 's', role: 'r', verified: true, maxRows: 3 });
    expect(md).toContain('| 3 | 2026-11-30T04:00:03.000Z | deny | `DROP TABLE t2` |  |  |  |  |\n\n… and 4 more in the audit log.\n');
    expect(md).not.toContain('DROP TABLE t3');
  });
});

describe('cells', () => {
  it('escapes markup and HTML in text cells', () => {
    expect(escapeCell('<img src=x> *bold* [l](u) a|b @team ~~s~~ \\')).toBe('\\<img src=x\\> \\*bold\\* \\[l\\](u) a\\|b \\@team \\~\\~s\\~\\~ \\\\');
  });
  it('code spans survive backticks, pipes and newlines; long text is truncated', () => {
    expect(codeCell('a`b')).toBe('`` a`b ``');
    expect(codeCell('``x``|')).toBe('``` ``x``\\| ```');
    expect(codeCell('SELECT\n  1')).toBe('`SELECT 1`');
    expect(codeCell('x'.repeat(200))).toBe(`\`${'x'.repeat(159)}…\``);
    expect(codeCell('😀'.repeat(200), 5)).toBe('`😀😀😀😀…`');
  });
});
