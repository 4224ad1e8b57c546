import { describe, expect, it } from 'vitest';
import { assertNoSecrets, sanitizeEntry, scrubSecrets, SecretLeakError, stripLiterals } from '../../src/audit/redact.js';
import type { AuditEntry } from '../../src/audit/types.js';

describe('assertNoSecrets', () => {
  const secret = 'pa"ss/wörd+1';
  it.each([
    ['raw', `x ${secret} y`],
    ['JSON-escaped', JSON.stringify({ v: secret })],
    ['URL-encoded', `postgres://u:${encodeURIComponent(secret)}@h/db`],
    ['base64', Buffer.from(secret).toString('base64')],
    ['base64url', `Basic ${Buffer.from(secret).toString('base64url')}`],
  ])('finds a secret in %s form, without putting it in the message', (_form, text) => {
    let caught: unknown;
    try {
      assertNoSecrets(text, ['other-secret', secret]);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(SecretLeakError);
    expect((caught as SecretLeakError).secretIndex).toBe(1);
    expect((caught as Error).message).toMatch(/^secret #2 appears in the text at offset \d+$/);
    expect((caught as Error).message).not.toContain(secret);
  });
  it('passes clean text and ignores empty secrets', () => {
    expect(() => assertNoSecrets('SELECT $1', ['', 'topsecret'])).not.toThrow();
  });
});

describe('scrubSecrets', () => {
  it('replaces secrets (longest first) and JWT-shaped strings', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmFjbWUvYXBwIn0.c2lnbmF0dXJl';
    expect(scrubSecrets(`a=abc b=abcdef t=${jwt}`, ['abc', 'abcdef'])).toBe('a=[secret] b=[secret] t=[token]');
  });
});

describe('stripLiterals', () => {
  it.each([
    ["SELECT * FROM t WHERE a = 'x' AND b = 42", 'SELECT * FROM t WHERE a = ? AND b = ?'],
    ["SELECT E'it\\'s'", 'SELECT ?'],
    ["SELECT 'it''s', 'a\\' ; DELETE FROM users; --'", 'SELECT ?, ? ; DELETE FROM users;'],
    ["SELECT U&'d\\0061t', X'1F', B'101', N'n'", 'SELECT ?, ?, ?, ?'],
    ['SELECT $$secret$$, $tag$ x $$ y $tag$, $1', 'SELECT ?, ?, $1'],
    ['SELECT 1.5e-3, .5, 0x1F, 1_000', 'SELECT ?, ?, ?, ?'],
    ['SELECT t1.c2 FROM s1.t1 -- password hunter2\nWHERE x = $2', 'SELECT t1.c2 FROM s1.t1 \nWHERE x = $2'],
    ['SELECT /* a /* nested */ secret */ 1', 'SELECT  ?'],
    ['SELECT "it\'s 42" FROM "a""b"', 'SELECT "it\'s 42" FROM "a""b"'],
    ['SELECT $1, $2 FROM public.orders', 'SELECT $1, $2 FROM public.orders'],
  ])('%s', (input, expected) => {
    expect(stripLiterals(input)).toBe(expected);
  });
  it.each(["SELECT 'unterminated", 'SELECT /* open', 'SELECT $x$ open', 'SELECT "open'])('withholds %s', (input) => {
    expect(stripLiterals(input)).toBe('[statement withheld: unterminated literal or comment]');
  });
});

describe('sanitizeEntry', () => {
  it('keeps exactly the AuditEntry fields with their types', () => {
    const dirty = {
      time: '2026-11-30T04:00:00.000Z',
      session: 's1',
      identity: { repository: 'acme/app', run_id: '42', nested: { a: 1 }, n: 3, b: true },
      role: 'ci',
      type: 'sql',
      statement: "SELECT 'x'",
      accesses: [{ kind: 'select', object: 'public.t', exact: false, extra: 'drop me' }, null],
      decision: 'allow',
      rule: null,
      approval: { id: 'r1', approved: true, via: 'github', approver: 'alice', token: 'ghp_x' },
      masked: [{ index: 0, name: 'email', strategy: 'hash', column: '*.email', sample: 'a@b.c' }],
      rows: 3,
      durationMs: Number.NaN,
      sqlstate: '42501',
      password: 'hunter2',
    } as unknown as AuditEntry;
    expect(sanitizeEntry(dirty)).toEqual({
      time: '2026-11-30T04:00:00.000Z',
      session: 's1',
      identity: { repository: 'acme/app', run_id: '42', n: 3, b: true },
      role: 'ci',
      type: 'sql',
      statement: 'SELECT ?',
      accesses: [{ kind: 'select', object: 'public.t', exact: false }],
      decision: 'allow',
      rule: null,
      approval: { id: 'r1', approved: true, via: 'github', approver: 'alice' },
      masked: [{ name: 'email', strategy: 'hash', column: '*.email' }],
      rows: 3,
      sqlstate: '42501',
    });
  });
  it('keeps the SQL module\'s placeholder for unparsable text as is', () => {
    const base = { time: 't', session: 's', identity: {}, role: 'r', type: 'sql', decision: 'deny' } as const;
    expect(sanitizeEntry({ ...base, statement: '<unparsable statement, 42 bytes>' }).statement).toBe('<unparsable statement, 42 bytes>');
    expect(sanitizeEntry({ ...base, statement: "<unparsable statement, 42 bytes> 'x'" }).statement).toBe('<unparsable statement, ? bytes> ?');
  });
  it('coerces an unknown decision to error and an unknown type to session, never throws', () => {
    const out = sanitizeEntry({ decision: 'maybe', type: 'ftp' } as unknown as AuditEntry);
    expect(out.decision).toBe('error');
    expect(out.type).toBe('session');
    expect(out.session).toBe('');
  });
});
