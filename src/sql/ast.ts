// Small accessors for libpg_query's JSON parse tree: wrapped nodes are `{ Type: body }`.
import { AnalysisError } from './errors.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type N = Record<string, any>;

export function unwrap(node: unknown): [string, N] {
  if (!node || typeof node !== 'object' || Array.isArray(node)) throw new AnalysisError('malformed parse tree');
  const keys = Object.keys(node);
  if (keys.length !== 1) throw new AnalysisError('malformed parse tree node');
  const t = keys[0]!;
  return [t, (node as N)[t] as N];
}

/** `{ Type: body }` → body when wrapped as Type; an unwrapped struct is returned as is. */
export function unwrapIf(node: unknown, type: string): N {
  if (node && typeof node === 'object' && type in (node as N)) {
    const keys = Object.keys(node as N);
    if (keys.length === 1) return (node as N)[type] as N;
  }
  return (node ?? {}) as N;
}

export function list(v: unknown): N[] {
  return Array.isArray(v) ? (v as N[]) : [];
}

export function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new AnalysisError(`missing ${what}`);
  return v;
}

/** `[{String:{sval}}…]` → the strings (A_Star and others skipped). */
export function stringFields(fields: unknown): string[] {
  const out: string[] = [];
  for (const f of list(fields)) {
    const s = (f as N).String as N | undefined;
    if (s && typeof s.sval === 'string') out.push(s.sval);
  }
  return out;
}

export function nameParts(fields: unknown): string[] {
  const parts = stringFields(fields);
  if (parts.length !== list(fields).length || !parts.length) throw new AnalysisError('malformed qualified name');
  return parts;
}

export function stringList(v: unknown): string[] {
  return stringFields(v);
}

/** Text of a string constant or identifier argument, or null. */
export function constString(v: unknown): string | null {
  const c = unwrapIf(v, 'A_Const');
  if (c.sval && typeof c.sval.sval === 'string') return c.sval.sval;
  const s = unwrapIf(v, 'String');
  if (typeof s.sval === 'string') return s.sval;
  return null;
}
