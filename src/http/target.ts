// The request target as the upstream will read it. Pure: no I/O.
//
// The proxy decides on this form and forwards this form, so what was decided is what the upstream
// sees. Anything servers read differently from one another is refused (400) rather than guessed:
// encoded slashes and backslashes, dot segments, `;` parameters (Tomcat/Spring strip them, Go does
// not), fragments, bytes outside RFC 3986, malformed escapes. Escapes of unreserved characters are
// decoded (`%61` → `a`, `%2E` → `.` and then refused as a dot segment); other escapes are kept,
// upper-cased. Empty segments (`//`) are merged; a trailing slash is kept (`/v2/` ≠ `/v2`).

export interface QueryParam {
  readonly name: string;
  readonly value: string;
}

export interface NormalizedTarget {
  /** The normalized path, e.g. `/v2/prod/api/manifests/v2`. */
  readonly path: string;
  /** The query as received (validated), without `?`; '' when none. Forwarded unchanged. */
  readonly rawQuery: string;
  /** Decoded query parameters, in order (as Go's url.ParseQuery reads them). */
  readonly query: readonly QueryParam[];
  /** Path and query names with every value hidden: what the audit log keeps. */
  readonly auditPath: string;
}

export type TargetResult = { ok: true; target: NormalizedTarget } | { ok: false; reason: string };

/** Longest request target accepted (Node's header limit is 16 KiB in all). */
export const MAX_TARGET_LENGTH = 8192;

const UNRESERVED = /[A-Za-z0-9\-._~]/;
// pchar minus `;` (refused: matrix parameters) and `%` (escapes handled apart).
const PATH_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,=:@/]$/;
const QUERY_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,=:@/?%]$/;

const fail = (reason: string): TargetResult => ({ ok: false, reason });

export function normalizeTarget(raw: string, opts: { caseInsensitive?: boolean } = {}): TargetResult {
  if (raw.length === 0) return fail('empty request target');
  if (raw.length > MAX_TARGET_LENGTH) return fail(`request target longer than ${MAX_TARGET_LENGTH} bytes`);
  if (raw === '*') return fail('asterisk-form request target');
  if (raw[0] !== '/') return fail(/^[A-Za-z][A-Za-z0-9+.-]*:/.test(raw) ? 'absolute-form request target' : 'request target does not start with /');
  if (raw.startsWith('//')) return fail('request target starts with // (read as a host by some servers)');
  if (raw.includes('#')) return fail('fragment in the request target');

  const q = raw.indexOf('?');
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  const rawQuery = q < 0 ? '' : raw.slice(q + 1);

  let decoded = '';
  for (let i = 0; i < rawPath.length; i++) {
    const ch = rawPath[i]!;
    if (ch === '%') {
      const hex = rawPath.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return fail('malformed percent-escape in the path');
      const code = parseInt(hex, 16);
      const c = String.fromCharCode(code);
      if (c === '/') return fail('encoded slash (%2F) in the path');
      if (c === '\\') return fail('encoded backslash (%5C) in the path');
      if (c === ';') return fail('encoded semicolon (%3B) in the path');
      if (code < 0x20 || code === 0x7f) return fail('encoded control character in the path');
      decoded += UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`;
      i += 2;
    } else if (ch === ';') {
      return fail('";" parameters in the path');
    } else if (ch === '\\') {
      return fail('backslash in the path');
    } else if (!PATH_CHAR.test(ch)) {
      return fail(`character ${JSON.stringify(ch)} not allowed in the path`);
    } else {
      decoded += ch;
    }
  }

  const segments = decoded.split('/').slice(1);
  const trailing = segments.length > 1 && segments[segments.length - 1] === '';
  const kept: string[] = [];
  for (const s of segments) {
    if (s === '.' || s === '..') return fail('dot segment (. or ..) in the path');
    if (s !== '') kept.push(s);
  }
  let path = `/${kept.join('/')}${trailing && kept.length > 0 ? '/' : ''}`;
  if (opts.caseInsensitive) path = path.toLowerCase();

  const query: QueryParam[] = [];
  if (rawQuery !== '') {
    for (const ch of rawQuery) {
      if (!QUERY_CHAR.test(ch)) return fail(ch === ';' ? '";" in the query (servers split on it differently)' : `character ${JSON.stringify(ch)} not allowed in the query`);
    }
    for (const pair of rawQuery.split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const name = unescapeQuery(eq < 0 ? pair : pair.slice(0, eq));
      const value = unescapeQuery(eq < 0 ? '' : pair.slice(eq + 1));
      if (name === null || value === null) return fail('malformed percent-escape in the query');
      query.push({ name, value });
    }
  }
  const auditQuery = query.map((p) => `${encodeURIComponent(p.name)}=…`).join('&');
  return { ok: true, target: { path, rawQuery, query, auditPath: auditQuery ? `${path}?${auditQuery}` : path } };
}

/** Go's url.QueryUnescape: `+` is a space, `%XX` a byte (UTF-8 decoded); null when malformed. */
function unescapeQuery(text: string): string | null {
  if (!text.includes('%') && !text.includes('+')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '%') {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(ch === '+' ? 0x20 : ch.charCodeAt(0));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Every value of the query parameter `name`. */
export function queryValues(target: NormalizedTarget, name: string): string[] {
  const out: string[] = [];
  for (const p of target.query) if (p.name === name) out.push(p.value);
  return out;
}
