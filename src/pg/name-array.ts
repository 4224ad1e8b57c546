// PostgreSQL's text output of a name[] (what `current_schemas(false)` returns), parsed.

/** Parses PostgreSQL's text form of a name[] (`{public,"my schema"}`); null when malformed. */
export function parseNameArray(text: string): string[] | null {
  if (!text.startsWith('{') || !text.endsWith('}')) return null;
  const body = text.slice(1, -1);
  const out: string[] = [];
  if (body === '') return out;
  let i = 0;
  while (i <= body.length) {
    let item = '';
    if (body[i] === '"') {
      i++;
      while (i < body.length && body[i] !== '"') {
        if (body[i] === '\\') i++;
        item += body[i] ?? '';
        i++;
      }
      if (body[i] !== '"') return null;
      i++;
    } else {
      while (i < body.length && body[i] !== ',') item += body[i++];
    }
    out.push(item);
    if (i >= body.length) break;
    if (body[i] !== ',') return null;
    i++;
  }
  return out;
}
