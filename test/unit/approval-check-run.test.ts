// The check run cannot lie: what a reviewer reads is the whole statement, visibly (issue 16.3, 16.6).
import { describe, expect, it } from 'vitest';
import { checkRunSummary, showableStatement, STATEMENT_LIMIT } from '../../src/approval/check-run-text.js';
import { hidesBody, viewStatement } from '../../src/approval/statement-view.js';
import { compileScrubber } from '../../src/audit/redact.js';
import type { ReviewRequest } from '../../src/approval/types.js';

const req: ReviewRequest = {
  id: 'r-1', sessionId: 'sess-9', statement: 'UPDATE orders SET status = $1 WHERE id = $2', kind: 'update', object: 'public.orders', rule: null,
  reason: 'writes need review', identity: { repository: 'acme/app' }, requestedAt: new Date(0), timeoutMs: 1000,
};
const summary = (over: Partial<ReviewRequest> = {}, extra: Partial<Parameters<typeof checkRunSummary>[0]> = {}) =>
  checkRunSummary({ req: { ...req, ...over }, actor: 'dev', repository: 'acme/app', approvers: [], deadline: new Date(0), refusals: [], ...extra });

describe('viewStatement: every character that runs is visible', () => {
  it('escapes bidi overrides and isolates, so text cannot be reordered', () => {
    const s = 'DELETE FROM t WHERE owner = $1 \u202E-- 1$ = di dna\u202C';
    expect(viewStatement(s).text).toBe('DELETE FROM t WHERE owner = $1 ⟨U+202E⟩-- 1$ = di dna⟨U+202C⟩');
    expect(viewStatement('a\u2066b\u2069c\u200Fd\u061Ce').text).toBe('a⟨U+2066⟩b⟨U+2069⟩c⟨U+200F⟩d⟨U+061C⟩e');
  });
  it('escapes zero-width, no-break, odd spaces, tags, controls and tabs', () => {
    expect(viewStatement('SELECT * FROM us\u200Bers').text).toBe('SELECT * FROM us⟨U+200B⟩ers');
    expect(viewStatement('a\u00A0b\u2003c\uFEFFd\u00ADe').text).toBe('a⟨U+00A0⟩b⟨U+2003⟩c⟨U+FEFF⟩d⟨U+00AD⟩e');
    expect(viewStatement('a\u{E0041}b\u0007c\td').text).toBe('a⟨U+E0041⟩b⟨U+0007⟩c⟨U+0009⟩d');
    expect(viewStatement('x\u2028y').text).toBe('x⟨U+2028⟩y');
  });
  it('escapes combining marks on ASCII letters (lookalikes), keeps ordinary accented text', () => {
    expect(viewStatement('users\u0301').text).toBe('users⟨U+0301⟩');
    expect(viewStatement('café').text).toBe('café');
  });
  it('a statement cannot fake a mark: the marks\' own characters are escaped', () => {
    expect(viewStatement('SELECT 1 /* ⟨9 spaces⟩ ↪ */').text).toBe('SELECT 1 /* ⟨U+27E8⟩9 spaces⟨U+27E9⟩ ⟨U+21AA⟩ */');
  });
  it('collapses padding visibly: long space runs and many blank lines', () => {
    const padded = `UPDATE orders SET status = $1 WHERE id = $2${' '.repeat(500)}OR true`;
    expect(viewStatement(padded).text).toBe('UPDATE orders SET status = $1 WHERE id = $2 ⟨500 spaces⟩ OR true');
    expect(viewStatement(`DELETE FROM t WHERE id = $1${'\n'.repeat(200)}OR true`).text).toBe('DELETE FROM t WHERE id = $1\n⟨199 blank lines⟩\nOR true');
    expect(viewStatement('a\n\nb').text).toBe('a\n\nb');
    expect(viewStatement('  indented   four').text).toBe('  indented   four');
  });
  it('breaks long lines, so nothing hides past the right edge', () => {
    const long = `SELECT ${'a, '.repeat(60)}b FROM t`;
    const lines = viewStatement(long).text.split('\n');
    expect(lines.length).toBe(2);
    expect(lines.every((l) => [...l].length <= 102)).toBe(true);
    expect(lines[1]!.startsWith('↪ ')).toBe(true);
    expect(lines.join('').replace('↪ ', '')).toBe(long);
  });
});

describe('showableStatement and the summary: whole or not approvable here', () => {
  it('never truncates: a statement too long to show whole is not approvable, and the check run says where to read it', () => {
    const long = `UPDATE orders SET status = $1 WHERE id = $2 ${'AND id = $2 '.repeat(5_000)}OR true`;
    const shown = showableStatement(long);
    expect(shown).toEqual({ ok: false, why: expect.stringMatching(new RegExp(`^the statement is \\d+ characters long as shown, more than the ${STATEMENT_LIMIT} a check run can show whole$`)) });
    const s = summary({ statement: long });
    expect(s).not.toContain('OR true');
    expect(s).not.toContain('truncated');
    expect(s).toContain('**This statement cannot be approved from the check run:** the statement is');
    expect(s).toContain('artifact `tollgate-audit-sess-9`');
    expect(s.length).toBeLessThan(65_535);
  });
  it('a function, procedure or DO body reduced to a placeholder is never approved unseen', () => {
    for (const st of ['DO ?', 'do $$ ? $$', 'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS ?', 'CREATE OR REPLACE PROCEDURE p() LANGUAGE plpgsql AS ?', 'CREATE FUNCTION f() RETURNS int AS ?, ? LANGUAGE c']) {
      expect(hidesBody(st), st).toBe(true);
      expect(showableStatement(st).ok, st).toBe(false);
    }
    expect(hidesBody('CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END')).toBe(false);
    expect(hidesBody('SELECT * FROM functions WHERE x = ?')).toBe(false);
  });
  it('scrubs secrets like the audit log does (a secret in a quoted identifier, a JWT)', () => {
    const scrub = compileScrubber(['hunter2-session-secret']);
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
    const s = summary({ statement: `SELECT * FROM "hunter2-session-secret" WHERE t = "${jwt}"`, reason: 'why hunter2-session-secret' }, { scrub });
    expect(s).not.toContain('hunter2-session-secret');
    expect(s).not.toContain(jwt);
    expect(s).toContain('SELECT * FROM "[secret]"');
  });
  it('refusal reasons that quote outsiders are code spans: no links, no mentions', () => {
    const s = summary({}, { refusals: [{ login: 'mallory', reason: 'wrong request id "www.evil.example" (this request is r-1) @everyone', url: 'https://github.example/c/1' }] });
    expect(s).toContain('- `mallory`: `wrong request id "www.evil.example" (this request is r-1) @everyone` ([answer](https://github.example/c/1))');
  });
  it('shows the statement visibly in the summary', () => {
    expect(summary({ statement: 'SELECT * FROM us\u200Bers' })).toContain('```sql\nSELECT * FROM us⟨U+200B⟩ers\n```');
  });
});
