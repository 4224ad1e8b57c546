// What the audit log keeps of a message's arguments: their shape, never their values. Same keys,
// each value replaced by its JSON type; arrays keep one element's shape; depth and width bounded.
export function argumentShape(value: unknown, depth = 0): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value)) return depth >= 4 ? 'array' : value.slice(0, 1).map((v) => argumentShape(v, depth + 1));
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return typeof value;
    case 'object': {
      if (depth >= 4) return 'object';
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>).slice(0, 50)) out[k] = argumentShape(v, depth + 1);
      return out;
    }
    default:
      return '…';
  }
}
