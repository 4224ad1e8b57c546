// The bounded caches every hot path shares (src/cache.ts).
import { describe, expect, it } from 'vitest';
import { LruMap, memoize } from '../../src/cache.js';

describe('LruMap', () => {
  it('holds at most its capacity, keeps what was used lately, and forgets on delete', () => {
    const m = new LruMap<string, number>(4);
    for (const [i, k] of ['a', 'b', 'c', 'd'].entries()) m.set(k, i);
    expect(m.get('a')).toBe(0); // used: survives the next inserts
    m.set('e', 4);
    m.set('f', 5);
    expect(m.size).toBeLessThanOrEqual(4);
    expect(m.get('a')).toBe(0);
    expect(m.get('b')).toBeUndefined();
    m.delete('a');
    expect(m.get('a')).toBeUndefined();
  });
});

describe('memoize', () => {
  it('computes once per key while the key is remembered', () => {
    let calls = 0;
    const twice = memoize((s: string) => (calls++, s + s), 2);
    expect([twice('x'), twice('x'), twice('y'), twice('x')]).toEqual(['xx', 'xx', 'yy', 'xx']);
    expect(calls).toBe(2);
  });
});
