// The last line of defence between a request and the audit log (and the job summary). The proxy hands
// over statements that the SQL module already stripped of literals; this module does not trust that:
// it keeps only the fields and types an AuditEntry has, strips any literal or comment that survived,
// and replaces every known secret and anything shaped like a JWT.

import { memoize } from '../cache.js';
import type { AuditEntry } from './types.js';

const DECISIONS = new Set(['allow', 'deny', 'review', 'error']);
const TYPES = new Set(['sql', 'http', 'mcp', 'connect', 'auth', 'session']);
const UNPARSABLE = /^<unparsable statement, \d+ bytes>$/;
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;

/** The OIDC claims an audit line keeps from a verified token: who ran what, where, from which commit. */
export const AUDIT_CLAIMS: readonly string[] = [
  'iss', 'sub', 'repository', 'repository_owner', 'ref', 'sha', 'head_ref', 'base_ref', 'workflow',
  'job_workflow_ref', 'run_id', 'run_attempt', 'actor', 'triggering_actor', 'event_name', 'environment',
];

export const SECRET_MARK = '[secret]';
export const TOKEN_MARK = '[token]';

/** Raised by assertNoSecrets. The message never contains the secret itself. */
export class SecretLeakError extends Error {
  readonly code = 'ERR_SECRET_LEAK';
  constructor(
    readonly secretIndex: number,
    readonly offset: number,
  ) {
    super(`secret #${secretIndex + 1} appears in the text at offset ${offset}`);
    this.name = 'SecretLeakError';
  }
}

/** The forms a secret takes when it passes through JSON, URLs or base64. */
function secretForms(secret: string): string[] {
  const forms = new Set<string>([
    secret,
    JSON.stringify(secret).slice(1, -1),
    encodeURIComponent(secret),
    Buffer.from(secret, 'utf8').toString('base64').replace(/=+$/, ''),
    Buffer.from(secret, 'utf8').toString('base64url'),
  ]);
  return [...forms].filter((f) => f.length > 0);
}

/** Throws SecretLeakError when any non-empty secret (raw, JSON-escaped, URL-encoded or base64) is in `text`. */
export function assertNoSecrets(text: string, secrets: readonly string[]): void {
  secrets.forEach((secret, i) => {
    if (!secret) return;
    for (const form of secretForms(secret)) {
      const at = text.indexOf(form);
      if (at >= 0) throw new SecretLeakError(i, at);
    }
  });
}

/** Replaces every occurrence of each secret (in each of its forms) and every JWT-shaped string. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  return compileScrubber(secrets)(text);
}

/**
 * scrubSecrets with the secrets' forms computed once: the audit log calls this for every string of
 * every entry, so the common case (nothing to replace) is a few `includes` checks.
 */
export function compileScrubber(secrets: readonly string[]): (text: string) => string {
  // Longest first, so a secret that contains another is replaced whole.
  const forms = [...new Set(secrets.filter(Boolean).flatMap(secretForms))].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const form of forms) if (out.includes(form)) out = out.split(form).join(SECRET_MARK);
    return out.includes('eyJ') ? out.replace(JWT_SHAPE, TOKEN_MARK) : out;
  };
}

/**
 * Removes whatever literal or comment survived in a statement: quoted strings (including E'', U&'',
 * B'', X''), dollar-quoted bodies and standalone numbers become `?`, comments disappear. Quoted
 * identifiers and `$n` parameters stay. A statement this scanner cannot follow to its end (an
 * unterminated quote or comment) is withheld entirely.
 */
export function stripLiterals(sql: string): string {
  let out = '';
  let i = 0;
  const n = sql.length;
  const withheld = '[statement withheld: unterminated literal or comment]';
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end;
      if (!/\s$/.test(out)) out += ' ';
      continue;
    }
    if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') (depth++, (i += 2));
        else if (sql[i] === '*' && sql[i + 1] === '/') (depth--, (i += 2));
        else i++;
      }
      if (depth > 0) return withheld;
      if (!/\s$/.test(out)) out += ' ';
      continue;
    }
    if (c === '"') {
      // Quoted identifier: kept as is ("" is an escaped quote).
      let j = i + 1;
      for (;;) {
        if (j >= n) return withheld;
        if (sql[j] === '"') {
          if (sql[j + 1] === '"') j += 2;
          else break;
        } else j++;
      }
      out += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === "'") {
      // A string: with a backslash escape form when the prefix is E (E'', e'').
      const prefix = /(?:^|[^A-Za-z0-9_$\u0080-\uffff])([EeBbXxNn]|[Uu]&)$/.exec(out.slice(-3));
      const escapes = prefix !== null && /^[Ee]$/.test(prefix[1]!);
      let j = i + 1;
      for (;;) {
        if (j >= n) return withheld;
        const d = sql[j];
        if (escapes && d === '\\') j += 2;
        else if (d === "'") {
          if (sql[j + 1] === "'") j += 2;
          else break;
        } else j++;
      }
      if (prefix) out = out.slice(0, out.length - prefix[1]!.length);
      out += '?';
      i = j + 1;
      continue;
    }
    if (c === '$') {
      const param = at(PARAM, sql, i);
      if (param) {
        out += param;
        i += param.length;
        continue;
      }
      const tag = at(DOLLAR_TAG, sql, i);
      if (tag) {
        const close = sql.indexOf(tag, i + tag.length);
        if (close < 0) return withheld;
        out += '?';
        i = close + tag.length;
        continue;
      }
    }
    if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      // An identifier or keyword: digits inside it are not numbers.
      const word = at(WORD, sql, i)!;
      out += word;
      i += word.length;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && next !== undefined && /[0-9]/.test(next))) {
      out += '?';
      i += Math.max(1, at(NUMBER, sql, i)!.length);
      continue;
    }
    out += c;
    i++;
  }
  return out.trim();
}

const PARAM = /\$[0-9]+/y;
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;
const WORD = /[A-Za-z0-9_$\u0080-\uffff]+/y;
const NUMBER = /[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9_]+)?[A-Za-z0-9_]*/y;

/** The match of a sticky regex at `index`, or null. */
function at(re: RegExp, text: string, index: number): string | null {
  re.lastIndex = index;
  return re.exec(text)?.[0] ?? null;
}


/**
 * Access objects whose text after the prefix is a statement literal, not a name: a server file or a
 * program's command line (COPY … TO/FROM 'f' / PROGRAM 'cmd') and a library path (LOAD 'lib'). The
 * policy decides on the whole object; the log keeps only the prefix.
 */
const LITERAL_OBJECT = /^(file|program|load):([\s\S]*)$/;

/** What a literal becomes in the log: the same placeholder stripLiterals puts in statements. */
export const LITERAL_MARK = '?';

/** `program:curl -H …` → `program:?`; any other object unchanged. */
export function redactLiteralObject(object: string): string {
  const m = LITERAL_OBJECT.exec(object);
  return m ? `${m[1]}:${LITERAL_MARK}` : object;
}

/**
 * A function that hides, in any text, the literals carried by `accesses` (see LITERAL_OBJECT): each
 * whole object becomes `prefix:?`, then any other occurrence of the bare literal becomes `?` (a reason
 * may quote it differently; a short literal may mangle a word, which is better than logging it).
 */
export function compileLiteralHider(accesses: unknown): (text: string) => string {
  const objects = new Set<string>();
  const literals = new Set<string>();
  if (Array.isArray(accesses)) {
    for (const a of accesses) {
      const object = a !== null && typeof a === 'object' ? (a as Record<string, unknown>).object : undefined;
      const m = typeof object === 'string' ? LITERAL_OBJECT.exec(object) : null;
      if (!m) continue;
      objects.add(m[0]);
      if (m[2]) literals.add(m[2]);
    }
  }
  if (objects.size === 0) return (text) => text;
  // Longest first, so a literal that contains another is replaced whole.
  const whole = [...objects].sort((a, b) => b.length - a.length);
  const bare = [...literals].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const o of whole) if (out.includes(o)) out = out.split(o).join(redactLiteralObject(o));
    for (const l of bare) if (out.includes(l)) out = out.split(l).join(LITERAL_MARK);
    return out;
  };
}

function cleanAccesses(accesses: unknown[], scrub: (text: string) => string): NonNullable<AuditEntry['accesses']> {
  return accesses
    .filter((a): a is Record<string, unknown> => a !== null && typeof a === 'object')
    .map((a) => {
      const access: NonNullable<AuditEntry['accesses']>[number] = { kind: (typeof a.kind === 'string' ? scrub(a.kind) : 'other') as never };
      if (typeof a.object === 'string') access.object = scrub(redactLiteralObject(a.object));
      if (typeof a.exact === 'boolean') access.exact = a.exact;
      return access;
    });
}

/**
 * What sanitizeEntry can reuse across the entries of one log, all computed by the same rules: the
 * clean form of an accesses array the policy engine froze (a cached decision hands out the same
 * array for every statement of its shape), and the clean text of a statement seen lately. `scrub`
 * must be the same on every call.
 */
export class SanitizeMemo {
  private readonly accesses = new WeakMap<object, { clean: NonNullable<AuditEntry['accesses']>; hide: (text: string) => string }>();

  /**
   * scrub(text), remembered: most strings of a line (role, rule, reason, session, decision) are the
   * same on every line, and scrubbing tries every form of every secret.
   */
  readonly scrubbed: (text: string) => string;
  /** cleanStatement(text), remembered (a statement of one shape has one redacted text). */
  readonly statement: (text: string) => string;

  constructor(private readonly scrub: (text: string) => string) {
    this.scrubbed = memoize(scrub, 1000);
    this.statement = memoize((text: string) => cleanStatement(text, scrub), 1000);
  }

  /** Only frozen arrays of frozen accesses (they cannot change after the first look). */
  accessesOf(value: unknown): { clean: NonNullable<AuditEntry['accesses']>; hide: (text: string) => string } | undefined {
    if (!Array.isArray(value) || !Object.isFrozen(value) || !value.every((a) => a === null || typeof a !== 'object' || Object.isFrozen(a))) return undefined;
    let known = this.accesses.get(value);
    if (!known) {
      // Frozen too: the serializer reuses the JSON of frozen values.
      const clean = Object.freeze(cleanAccesses(value, this.scrub).map((a) => Object.freeze(a)));
      known = { clean: clean as NonNullable<AuditEntry['accesses']>, hide: compileLiteralHider(value) };
      this.accesses.set(value, known);
    }
    return known;
  }
}

/** A statement's text for the log: any literal or comment that survived stripped, secrets scrubbed. */
function cleanStatement(text: string, scrub: (text: string) => string): string {
  // The SQL module's placeholder for text it could not parse carries only a size: keep it readable.
  return UNPARSABLE.test(text) ? text : scrub(stripLiterals(text));
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * A copy of `entry` with only the fields and types of AuditEntry (anything else, e.g. a stray `params`
 * or `value`, is dropped), statement literals stripped, and secrets and tokens replaced in every string
 * (`secrets` may be a compiled scrubber from compileScrubber). Literals inside access objects
 * (`file:`, `program:`, `load:`) become `?` there and in the reason and the approval's reason.
 * Never throws: a record with a wrongly typed field is still recorded, without that field.
 */
export function sanitizeEntry(
  entry: AuditEntry,
  secrets: readonly string[] | ((text: string) => string) = [],
  memo?: SanitizeMemo,
): AuditEntry {
  const e = entry as unknown as Record<string, unknown>;
  const scrub = memo ? memo.scrubbed : typeof secrets === 'function' ? secrets : compileScrubber(secrets);
  const s = (v: unknown) => (typeof v === 'string' ? scrub(v) : undefined);
  const known = memo?.accessesOf(e.accesses);
  // Texts that may quote an access object: built from the entry's own accesses, before scrubbing.
  const hide = known?.hide ?? compileLiteralHider(e.accesses);
  const h = (v: unknown) => (typeof v === 'string' ? scrub(hide(v)) : undefined);
  const out: AuditEntry = {
    time: s(e.time) ?? new Date().toISOString(),
    session: s(e.session) ?? '',
    identity: {},
    role: s(e.role) ?? '',
    type: (TYPES.has(e.type as string) ? e.type : 'session') as AuditEntry['type'],
    decision: (DECISIONS.has(e.decision as string) ? e.decision : 'error') as AuditEntry['decision'],
  };
  if (e.identity && typeof e.identity === 'object') {
    const claims = e.identity as Record<string, unknown>;
    // A verified token (it has `iss`) is cut to the claims that say who and what ran; a synthetic
    // identity (serve, demo) is kept whole.
    const keep = typeof claims.iss === 'string' ? AUDIT_CLAIMS.filter((k) => k in claims) : Object.keys(claims);
    for (const k of keep) {
      const v = claims[k];
      // Claims are flat values; anything nested is not a claim we record.
      if (typeof v === 'string') out.identity[k] = scrub(v);
      else if (typeof v === 'number' || typeof v === 'boolean') out.identity[k] = v;
    }
  }
  if (typeof e.statement === 'string') {
    out.statement = memo ? memo.statement(e.statement) : cleanStatement(e.statement, scrub);
  }
  if (known) out.accesses = known.clean;
  else if (Array.isArray(e.accesses)) out.accesses = cleanAccesses(e.accesses, scrub);
  if (e.rule === null) out.rule = null;
  else if (typeof e.rule === 'string') out.rule = s(e.rule)!;
  if (typeof e.reason === 'string') out.reason = h(e.reason)!;
  const ap = e.approval as Record<string, unknown> | undefined;
  if (ap && typeof ap === 'object') {
    const approval: NonNullable<AuditEntry['approval']> = {
      id: s(ap.id) ?? '',
      approved: ap.approved === true,
      via: s(ap.via) ?? '',
    };
    for (const k of ['approver', 'at', 'where', 'reason'] as const) {
      const v = k === 'reason' ? h(ap[k]) : s(ap[k]);
      if (v !== undefined) approval[k] = v;
    }
    out.approval = approval;
  }
  if (Array.isArray(e.masked)) {
    out.masked = e.masked
      .filter((m): m is Record<string, unknown> => m !== null && typeof m === 'object')
      .map((m) => ({ name: s(m.name) ?? '', strategy: (s(m.strategy) ?? 'redact') as never, column: s(m.column) ?? '' }));
  }
  const rows = num(e.rows);
  if (rows !== undefined) out.rows = rows;
  const durationMs = num(e.durationMs);
  if (durationMs !== undefined) out.durationMs = durationMs;
  if (typeof e.sqlstate === 'string' && /^[0-9A-Z]{5}$/.test(e.sqlstate)) out.sqlstate = e.sqlstate;
  const http = e.http as Record<string, unknown> | undefined;
  if (http && typeof http === 'object') {
    out.http = {
      upstream: s(http.upstream) ?? '',
      method: s(http.method) ?? '',
      path: s(http.path) ?? '',
      status: num(http.status) ?? 0,
      bytesIn: num(http.bytesIn) ?? 0,
      bytesOut: num(http.bytesOut) ?? 0,
    };
    if (typeof http.operation === 'string') out.http.operation = s(http.operation)!;
  }
  if (e.mcp && typeof e.mcp === 'object') out.mcp = cleanMcp(e.mcp as Record<string, unknown>, scrub);
  return out;
}

const MCP_DIRECTIONS = new Set(['request', 'notification', 'server']);
const MCP_OUTCOMES = new Set(['ok', 'tool-error', 'error', 'cancelled', 'refused']);
/** Longest name kept from a message (method, tool, URI): a hostile peer may send anything. */
const MCP_NAME_MAX = 512;

/** The `mcp` fields an audit line may hold: names scrubbed and bounded, the argument shape re-derived. */
function cleanMcp(m: Record<string, unknown>, scrub: (t: string) => string): NonNullable<AuditEntry['mcp']> {
  const name = (v: unknown) => (typeof v === 'string' ? scrub(v.length > MCP_NAME_MAX ? `${v.slice(0, MCP_NAME_MAX)}…` : v) : undefined);
  const out: NonNullable<AuditEntry['mcp']> = {
    method: name(m.method) ?? '',
    server: name(m.server) ?? '',
    direction: (MCP_DIRECTIONS.has(m.direction as string) ? m.direction : 'request') as 'request',
  };
  for (const k of ['tool', 'uri', 'prompt'] as const) {
    const v = name(m[k]);
    if (v !== undefined) out[k] = v;
  }
  if (m.arguments !== undefined) out.arguments = shapeOfShape(m.arguments, scrub, 0);
  for (const k of ['resultBytes', 'maskedFields', 'secrets'] as const) {
    const v = num(m[k]);
    if (v !== undefined) out[k] = v;
  }
  if (MCP_OUTCOMES.has(m.outcome as string)) out.outcome = m.outcome as 'ok';
  return out;
}

const SHAPE_TYPES = new Set(['string', 'number', 'boolean', 'null', 'object', 'array', '…']);
/** An argument shape keeps only type names under scrubbed keys, whatever the caller passed. */
function shapeOfShape(v: unknown, scrub: (t: string) => string, depth: number): unknown {
  if (typeof v === 'string') return SHAPE_TYPES.has(v) ? v : 'string';
  if (depth >= 4 || v === null || typeof v !== 'object') return '…';
  if (Array.isArray(v)) return v.slice(0, 1).map((x) => shapeOfShape(x, scrub, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v).slice(0, 50)) out[scrub(k.length > 128 ? `${k.slice(0, 128)}…` : k)] = shapeOfShape(x, scrub, depth + 1);
  return out;
}
