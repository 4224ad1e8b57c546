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

describe('LruMap capacity', () => {
  it('LruMap(1) holds one entry, never two', () => {
    const m = new LruMap<string, number>(1);
    m.set('a', 1);
    m.set('b', 2);
    expect(m.size).toBe(1);
    expect(m.get('a')).toBeUndefined();
    expect(m.get('b')).toBe(2);
    m.set('c', 3);
    expect(m.size).toBe(1);
    expect(m.get('c')).toBe(3);
  });

  it('never holds more than its capacity, whatever the order of sets and gets', () => {
    for (const cap of [1, 2, 3, 4, 5, 7, 64]) {
      const m = new LruMap<number, number>(cap);
      for (let i = 0; i < cap * 10; i++) {
        m.set(i, i);
        m.get(i - 1);
        m.get(Math.floor(i / 2));
        expect(m.size).toBeLessThanOrEqual(cap);
      }
    }
  });
});
