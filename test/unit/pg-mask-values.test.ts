import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HASH_HEX_DIGITS, OID, maskValue } from '../../src/pg/mask-values.js';
import type { MaskStrategy } from '../../src/policy/types.js';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');
const OTHER_KEY = Buffer.from('fedcba9876543210fedcba9876543210');
const INT4 = 23;
const UUID = 2950;
const b = (s: string) => Buffer.from(s, 'utf8');
const text = (strategy: MaskStrategy, v: string | null, typeOid: number = OID.text, format: 0 | 1 = 0, key = KEY) => {
  const r = maskValue(strategy, v === null ? null : b(v), format, typeOid, key);
  return r === null ? null : r.toString('utf8');
};
const hmacHex = (v: string | Buffer, key = KEY) => createHmac('sha256', key).update(v).digest('hex').slice(0, 16);

describe('maskValue: null', () => {
  it('always gives SQL NULL', () => {
    expect(text('null', 'alice@example.com')).toBeNull();
    expect(text('null', '42', INT4, 1)).toBeNull();
    expect(text('null', null)).toBeNull();
  });
});

describe('maskValue: redact', () => {
  it('gives *** in text format whatever the type', () => {
    expect(text('redact', 'alice@example.com')).toBe('***');
    expect(text('redact', '123-45-6789', OID.varchar)).toBe('***');
    expect(text('redact', '42', INT4)).toBe('***');
  });
  it('keeps SQL NULL as NULL', () => {
    expect(text('redact', null)).toBeNull();
  });
  it('gives valid JSON for json and jsonb, and an array literal for text arrays', () => {
    expect(text('redact', '{"ssn":"123"}', OID.json)).toBe('"***"');
    expect(text('redact', '{"ssn":"123"}', OID.jsonb)).toBe('"***"');
    expect(text('redact', '{"ssn":"123"}', OID.json, 1)).toBe('"***"');
    expect(maskValue('redact', Buffer.from('\x01{"a":1}', 'latin1'), 1, OID.jsonb, KEY)).toEqual(Buffer.from('\x01"***"', 'latin1'));
    expect(text('redact', '{a,b}', OID.textArray)).toBe('{***}');
    expect(JSON.parse(text('redact', '{"x":1}', OID.json)!)).toBe('***');
  });
  it('gives *** for text-like types in binary format and NULL for other binary types', () => {
    for (const t of [OID.text, OID.varchar, OID.bpchar, OID.name, OID.unknown]) expect(text('redact', 'secret', t, 1)).toBe('***');
    expect(maskValue('redact', Buffer.from([0, 0, 0, 42]), 1, INT4, KEY)).toBeNull();
    expect(maskValue('redact', Buffer.alloc(16, 7), 1, UUID, KEY)).toBeNull();
    expect(maskValue('redact', b('{a}'), 1, OID.textArray, KEY)).toBeNull();
  });
});

describe('maskValue: hash', () => {
  it('is the keyed HMAC-SHA-256 hex prefix, stable per key, different across keys', () => {
    const h = text('hash', 'alice@example.com');
    expect(h).toBe(hmacHex('alice@example.com'));
    expect(h).toMatch(new RegExp(`^[0-9a-f]{${HASH_HEX_DIGITS}}$`));
    expect(text('hash', 'alice@example.com')).toBe(h);
    expect(text('hash', 'bob@example.com')).not.toBe(h);
    expect(text('hash', 'alice@example.com', OID.text, 0, OTHER_KEY)).toBe(hmacHex('alice@example.com', OTHER_KEY));
    expect(text('hash', 'alice@example.com', OID.text, 0, OTHER_KEY)).not.toBe(h);
  });
  it('is not the plain (unkeyed) SHA-256 of the value, so a dictionary cannot reverse it', () => {
    const plain = createHash('sha256').update('123-45-6789').digest('hex').slice(0, 16);
    expect(text('hash', '123-45-6789')).not.toBe(plain);
  });
  it('agrees between text and binary format for text-like types and jsonb', () => {
    expect(text('hash', 'x-value', OID.varchar, 1)).toBe(text('hash', 'x-value', OID.varchar, 0));
    const jsonbText = text('hash', '{"a": 1}', OID.jsonb, 0);
    const jsonbBin = maskValue('hash', Buffer.from('\x01{"a": 1}', 'latin1'), 1, OID.jsonb, KEY)!;
    expect(jsonbBin[0]).toBe(1);
    expect(jsonbBin.subarray(1).toString()).toBe(jsonbText);
    expect(jsonbText).toBe(`"${hmacHex('{"a": 1}')}"`);
  });
  it('wraps arrays, gives NULL for opaque binary types, keeps NULL', () => {
    expect(text('hash', '{a,b}', OID.textArray)).toBe(`{${hmacHex('{a,b}')}}`);
    expect(maskValue('hash', Buffer.from([0, 0, 0, 42]), 1, INT4, KEY)).toBeNull();
    expect(text('hash', null)).toBeNull();
  });
  it('refuses a short key (fail closed)', () => {
    expect(() => maskValue('hash', b('x'), 0, OID.text, Buffer.alloc(8))).toThrow(/at least 16 bytes/);
  });
});

describe('maskValue: partial', () => {
  it('keeps the first character and the domain of an email', () => {
    expect(text('partial', 'alice@example.com')).toBe('a***@example.com');
    expect(text('partial', 'émile@exemple.fr')).toBe('é***@exemple.fr');
  });
  it('keeps the first character of other values of 4+ characters', () => {
    expect(text('partial', '123-45-6789')).toBe('1***');
    expect(text('partial', 'Jonathan')).toBe('J***');
    expect(text('partial', '東京都港区')).toBe('東***');
    expect(text('partial', '12345', INT4)).toBe('1***');
  });
  it('gives *** for short values and for things that only look like emails', () => {
    expect(text('partial', 'abc')).toBe('***');
    expect(text('partial', 'ab')).toBe('***');
    expect(text('partial', '')).toBe('***');
    expect(text('partial', '東京都')).toBe('***');
    expect(text('partial', '@example.com')).toBe('@***');
    expect(text('partial', 'a@b@c.d')).toBe('a***');
  });
  it('ignores char(n) padding', () => {
    expect(text('partial', 'ab      ', OID.bpchar)).toBe('***');
    expect(text('partial', 'abcd    ', OID.bpchar)).toBe('a***');
  });
  it('redacts JSON and arrays, NULLs opaque binary, keeps NULL', () => {
    expect(text('partial', '"alice@example.com"', OID.json)).toBe('"***"');
    expect(text('partial', '{alice,bob}', OID.textArray)).toBe('{***}');
    expect(maskValue('partial', Buffer.alloc(16), 1, UUID, KEY)).toBeNull();
    expect(text('partial', 'alice@example.com', OID.text, 1)).toBe('a***@example.com');
    expect(text('partial', null)).toBeNull();
  });
});

describe('maskValue: misuse', () => {
  it('throws on an unknown strategy', () => {
    expect(() => maskValue('shuffle' as MaskStrategy, b('x'), 0, OID.text, KEY)).toThrow('unknown mask strategy "shuffle"');
  });
  it('never returns the input bytes', () => {
    for (const s of ['redact', 'hash', 'partial'] as const) {
      for (const v of ['alice@example.com', '123-45-6789', 'x']) {
        expect(text(s, v)).not.toBe(v);
      }
    }
  });
});

describe('maskValue: speed (it sits in the row path)', () => {
  it('masks 100 000 values per strategy quickly', () => {
    const v = b('alice@example.com');
    const figures: Record<string, number> = {};
    for (const s of ['redact', 'hash', 'partial'] as const) {
      const t0 = performance.now();
      for (let i = 0; i < 100_000; i++) maskValue(s, v, 0, OID.text, KEY);
      figures[s] = (performance.now() - t0) / 100; // µs per value
    }
    // Bounds for a loaded, shared 2-core CI machine (typical figures are ~0.1, ~1.3 and ~6 µs): they
    // catch a pathological regression (a per-value allocation storm, a key re-derivation), not noise.
    expect(figures.redact).toBeLessThan(20);
    expect(figures.partial).toBeLessThan(100);
    expect(figures.hash).toBeLessThan(300);
    console.log(`maskValue µs/value: ${JSON.stringify(figures)}`);
  });
});
