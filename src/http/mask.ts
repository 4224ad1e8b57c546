// JSON response masking (the upstream's `mask:` fields), e.g. a Kubernetes Secret's `data.*` or a
// pod's `env[*].value`. Pure. A field pattern is dotted names (`*` any key, `[*]` any item) and
// matches wherever the path of a value ends with it, so `data.*` covers a Secret, every item of a
// SecretList and the object of a watch event. A masked string that was base64 stays base64 (a
// Secret's data still decodes), anything else becomes "[masked]"; objects and arrays are masked
// leaf by leaf.

export interface FieldMasker {
  /** The value with every matching field masked (a new value; the input is not changed). */
  mask(value: unknown): { value: unknown; masked: number };
}

type Seg = { kind: 'key'; name: string } | { kind: 'anyKey' } | { kind: 'anyItem' } | { kind: 'anyDepth' };
type PathSeg = string | number;

const MASKED = '[masked]';
const MASKED_B64 = Buffer.from(MASKED).toString('base64');
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function parsePattern(pattern: string): Seg[] {
  const out: Seg[] = [];
  for (const part of pattern.split('.')) {
    const item = part.endsWith('[*]');
    const name = item ? part.slice(0, -3) : part;
    if (name === '**') out.push({ kind: 'anyDepth' });
    else if (name === '*') out.push({ kind: 'anyKey' });
    else out.push({ kind: 'key', name });
    if (item) out.push({ kind: 'anyItem' });
  }
  // A leading ** is what every pattern means already (it matches at any depth).
  while (out[0]?.kind === 'anyDepth') out.shift();
  return out;
}

/** Whether `pattern` matches the end of `path`. */
function endsWith(path: readonly PathSeg[], pattern: readonly Seg[]): boolean {
  const match = (pi: number, si: number): boolean => {
    if (si < 0) return true;
    if (pi < 0) return false;
    const s = pattern[si]!;
    const p = path[pi]!;
    switch (s.kind) {
      case 'anyDepth':
        for (let k = pi; k >= -1; k--) if (match(k, si - 1)) return true;
        return false;
      case 'anyItem':
        return typeof p === 'number' && match(pi - 1, si - 1);
      case 'anyKey':
        return typeof p === 'string' && match(pi - 1, si - 1);
      case 'key':
        return p === s.name && match(pi - 1, si - 1);
    }
  };
  return match(path.length - 1, pattern.length - 1);
}

/** A copy with each value replaced; `__proto__` from JSON stays an ordinary key. */
function rebuild(v: Record<string, unknown>, f: (k: string, x: unknown) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: f(k, x), enumerable: true, writable: true, configurable: true });
  return out;
}

export function compileFieldMasker(patterns: readonly string[]): FieldMasker {
  const compiled = patterns.map(parsePattern);
  const hit = (path: readonly PathSeg[]) => compiled.some((p) => endsWith(path, p));
  return {
    mask(value) {
      let masked = 0;
      const leaf = (v: unknown): unknown => {
        if (Array.isArray(v)) return v.map(leaf);
        if (v !== null && typeof v === 'object') return rebuild(v as Record<string, unknown>, (_k, x) => leaf(x));
        masked++;
        if (typeof v === 'string') return v.length > 0 && BASE64.test(v) ? MASKED_B64 : MASKED;
        return MASKED;
      };
      const walk = (v: unknown, path: PathSeg[]): unknown => {
        if (path.length > 0 && hit(path)) return leaf(v);
        if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
        if (v !== null && typeof v === 'object') return rebuild(v as Record<string, unknown>, (k, x) => walk(x, [...path, k]));
        return v;
      };
      const out = walk(value, []);
      return { value: out, masked };
    },
  };
}
