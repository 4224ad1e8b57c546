// Sequence functions name their sequence by an argument: nextval('s') and setval('s', …) change s,
// currval('s') reads it (PostgreSQL checks USAGE/UPDATE/SELECT on s for them). When that argument is
// a constant, the sequence is an access of its own; the walk marks the statement literal-sensitive.
import type { Kind } from './types.js';
import { type N, unwrapIf } from './ast.js';

/** pg_catalog sequence functions → the access they make on their sequence argument. */
export const SEQUENCE_FUNCTIONS: ReadonlyMap<string, Kind> = new Map<string, Kind>([
  ['pg_catalog.nextval', 'update'],
  ['pg_catalog.setval', 'update'],
  ['pg_catalog.currval', 'select'],
]);

/** The text of `'s'` or `'s'::regclass` / `'s'::text`; null for anything computed. */
export function constantName(arg: unknown): string | null {
  let v = arg;
  const cast = unwrapIf(v, 'TypeCast') as N;
  if (cast.arg) v = cast.arg;
  const c = unwrapIf(v, 'A_Const') as N;
  return c.sval && typeof c.sval.sval === 'string' ? c.sval.sval : null;
}

/**
 * A regclass literal's name parts, as PostgreSQL reads them (stringToQualifiedNameList): dots split,
 * "quoted" parts exact with "" for a quote, other parts lower-cased (ASCII). Null when malformed.
 */
export function qualifiedName(text: string): string[] | null {
  const parts: string[] = [];
  let i = 0;
  const s = text.trim();
  while (true) {
    let part = '';
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) return null;
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += s[i++];
      }
      if (part === '') return null;
    } else {
      const start = i;
      while (i < s.length && s[i] !== '.' && !/\s/.test(s[i]!)) i++;
      part = s.slice(start, i).replace(/[A-Z]/g, (ch) => ch.toLowerCase());
      if (part === '' || part.includes('"')) return null;
    }
    parts.push(part);
    while (i < s.length && /\s/.test(s[i]!)) i++;
    if (i >= s.length) break;
    if (s[i] !== '.') return null;
    i++;
    while (i < s.length && /\s/.test(s[i]!)) i++;
  }
  return parts.length >= 1 && parts.length <= 3 ? parts : null;
}
