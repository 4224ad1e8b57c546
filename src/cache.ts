// Bounded caches for the hot path: the policy engine's decisions, the proxy's mask plans and
// redactions, the audit log's repeated strings, SCRAM verifiers.
//
// LruMap is a bounded map that forgets the least recently used entries when full, approximately: two
// generations of at most capacity/2 entries each. New entries go into the young one; a hit in the
// old one moves the entry to the young one; when the young one is full it becomes the old one and
// the old one is dropped. A hit in the young generation touches nothing, so the hot path (the same
// shapes, over and over) costs one Map lookup instead of a delete and a re-insert per hit.
// Both generations together never hold more than `capacity`: a capacity of 1 has no old generation.

export class LruMap<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly half: number;
  /** Whether a full young generation is kept as the old one (false for capacity 1: it would make two). */
  private readonly keepOld: boolean;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new TypeError('capacity must be a positive integer');
    this.half = Math.max(1, Math.floor(capacity / 2));
    this.keepOld = capacity >= 2;
  }

  /** Entries held (at most `capacity`). */
  get size(): number {
    return this.young.size + this.old.size;
  }

  get(key: K): V | undefined {
    const value = this.young.get(key);
    if (value !== undefined) return value;
    const aged = this.old.get(key);
    if (aged !== undefined) {
      this.old.delete(key);
      this.insert(key, aged);
    }
    return aged;
  }

  set(key: K, value: V): void {
    this.old.delete(key);
    this.insert(key, value);
  }

  delete(key: K): void {
    this.young.delete(key);
    this.old.delete(key);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  private insert(key: K, value: V): void {
    if (!this.young.has(key) && this.young.size >= this.half) {
      this.old = this.keepOld ? this.young : new Map();
      this.young = new Map();
    }
    this.young.set(key, value);
  }
}

/**
 * `compute`, remembered for the last `capacity` or so keys. Only for pure functions of the key: the
 * callers use it for strings that repeat from statement to statement (the same redaction, the same
 * JSON of a rule's name), where computing again would be the same work each time.
 */
export function memoize<K, V>(compute: (key: K) => V, capacity: number): (key: K) => V {
  const cache = new LruMap<K, V>(capacity);
  return (key) => {
    let value = cache.get(key);
    if (value === undefined) {
      value = compute(key);
      cache.set(key, value);
    }
    return value;
  };
}
