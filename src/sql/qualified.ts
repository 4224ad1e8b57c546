// Object names as one string, without collisions. A qualified name is its parts joined with `.`;
// a part is written in double quotes (inner `"` doubled, as SQL writes identifiers) only when it
// contains `.`, `"` or `:`, so `"a.b".c` and `a."b.c"` stay two names, and a schema named
// `program:x` can never pass for the `program:` (or `type:`, `role:`…) objects the analysis labels.
// Case never causes quoting: names are compared exactly as PostgreSQL folded them.
//
// splitQualified() is the inverse, and total: any text splits somehow. Free text that the analysis
// puts in objects (`program:…`, `file:…`, `load:…`) is split by the same rule on both sides of a
// comparison, so it still compares consistently with a pattern written the same way.

const NEEDS_QUOTES = /[.":]/;

/** One name part, quoted only when it holds `.`, `"` or `:`. */
export function quoteName(name: string): string {
  return NEEDS_QUOTES.test(name) ? `"${name.replace(/"/g, '""')}"` : name;
}

/** Parts → one qualified name: qualify('public', 'a.b') = 'public."a.b"'. */
export function qualify(...parts: readonly string[]): string {
  let out = '';
  for (let i = 0; i < parts.length; i++) out += (i ? '.' : '') + quoteName(parts[i]!);
  return out;
}

/**
 * A qualified name → its parts: a part that starts with `"` runs to the next lone `"` (`""` is one
 * quote), anything else to the next `.`. An unterminated quote takes the rest of the text.
 */
export function splitQualified(key: string): string[] {
  if (!key.includes('"')) return key.split('.');
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    let part = '';
    if (key[i] === '"') {
      i++;
      while (i < key.length) {
        if (key[i] === '"') {
          if (key[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += key[i++];
      }
      // Text after the closing quote up to the next dot belongs to the part (not canonical, but total).
      while (i < key.length && key[i] !== '.') part += key[i++];
    } else {
      while (i < key.length && key[i] !== '.') part += key[i++];
    }
    parts.push(part);
    if (i >= key.length) return parts;
    i++; // the dot
  }
}
