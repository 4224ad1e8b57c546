// sealLine is the audit log's fast serializer: it must produce exactly canonicalJson({...body, hash})
// with hash = lineHash(body), so verify.ts (which recomputes through canonicalJson) accepts every line.
import { describe, expect, it } from 'vitest';
import { canonicalJson, lineHash, sealLine } from '../../src/audit/canonical.js';

const CASES: Record<string, Record<string, unknown>> = {
  'every AuditLine field, nested objects out of order, escapes': {
    type: 'sql', time: 't', statement: 'é\\n "q"', sqlstate: '42P01', session: 's', seq: 7, rule: null, rows: 0,
    role: 'r', reason: 'why\u2028', prev: 'p', masked: [{ strategy: 'hash', name: 'e', column: 'public.u.email' }],
    identity: Object.freeze({ sub: 'x', actor: 'a' }), durationMs: 1.5, decision: 'allow',
    approval: { via: 'terminal', approved: true, id: 'i' }, accesses: [{ object: 'public.u', kind: 'read', exact: true }],
  },
  'only fields that sort before hash': { decision: 'deny', accesses: [] },
  'only fields that sort after hash': { time: 't', seq: 1 },
  'an unknown field (generic path) and a stale hash field': { zeta: { b: [1, { y: null, a: undefined }], a: 'q' }, hash: 'old', seq: 3 },
  'undefined fields are dropped': { seq: 1, prev: 'x', rows: undefined },
};

describe('sealLine', () => {
  for (const [name, body] of Object.entries(CASES)) {
    it(`equals canonicalJson with the hash inserted: ${name}`, () => {
      const { hash: _stale, ...rest } = body;
      const { hash, text } = sealLine(body);
      expect(hash).toBe(lineHash(rest));
      expect(text).toBe(canonicalJson({ ...rest, hash }));
      const parsed = JSON.parse(text) as Record<string, unknown>;
      expect(canonicalJson(parsed)).toBe(text);
    });
  }

  it('a frozen identity serialized once is not reused after a different object with the same keys', () => {
    const a = Object.freeze({ sub: 'one' });
    const b = Object.freeze({ sub: 'two' });
    expect(sealLine({ identity: a, seq: 1 }).text).toContain('"identity":{"sub":"one"}');
    expect(sealLine({ identity: b, seq: 1 }).text).toContain('"identity":{"sub":"two"}');
  });
});
