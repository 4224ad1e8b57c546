// From tollgate's accesses for one statement to the privileges a fresh role gets for it: exactly what
// each access names, nothing more (see PRIVILEGES below). Pure: the SQL that applies the plan is
// in helper.sql.ts, which looks the objects up (an object that does not exist gets nothing).
import type { Access } from '../../src/sql/types.js';

/** `schema.name` (parts may be double-quoted) or `prefix:schema.name`, split into parts. */
export interface ObjectName {
  prefix: string | null;
  parts: string[];
}

export function parseObject(object: string): ObjectName {
  let rest = object;
  let prefix: string | null = null;
  const m = /^([a-z_]+):(.*)$/s.exec(object);
  if (m && !object.startsWith('"')) {
    prefix = m[1]!;
    rest = m[2]!;
  }
  const parts: string[] = [];
  let i = 0;
  while (i <= rest.length) {
    if (rest[i] === '"') {
      let j = i + 1;
      let part = '';
      while (j < rest.length) {
        if (rest[j] === '"' && rest[j + 1] === '"') {
          part += '"';
          j += 2;
        } else if (rest[j] === '"') break;
        else part += rest[j++];
      }
      parts.push(part);
      i = j + 2; // past the quote and the dot
    } else {
      // Unquoted: the schema ends at the first dot; the last part keeps any further dots.
      const dot = parts.length === 0 ? rest.indexOf('.', i) : -1;
      if (dot < 0) {
        parts.push(rest.slice(i));
        break;
      }
      parts.push(rest.slice(i, dot));
      i = dot + 1;
    }
  }
  return { prefix, parts };
}

export interface RelGrant { s: string; n: string; p: string[] }
export interface Named { s: string; n: string }

/** What the helper applies inside the rolled-back transaction. */
export interface GrantPlan {
  rels: RelGrant[];
  /** EXECUTE on every routine (and operator's function) of that name in that schema. */
  fns: Named[];
  usage: string[];
  create: string[];
  createDb: boolean;
  params: string[];
  /** Objects the DDL changes: the role is made their owner (what PostgreSQL checks for DDL). */
  own: Array<Named & { t: 'any' | 'type' | 'schema' }>;
  /** Tables the statement writes: their column defaults' sequences and functions are granted. */
  writes: Named[];
}

const TABLE_PRIVS: Record<string, string[]> = {
  select: ['SELECT'],
  insert: ['INSERT'],
  update: ['UPDATE'],
  delete: ['DELETE'],
  truncate: ['TRUNCATE'],
  copy_to: ['SELECT'],
  copy_from: ['INSERT'],
  // Plain EXPLAIN plans the statement, and PostgreSQL checks the statement's own rights when planning
  // it: `explain X` stands for whichever DML the statement does to X.
  explain: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  // FOR UPDATE/SHARE and LOCK … MODE need UPDATE (ACCESS SHARE: SELECT, added for LOCK statements).
  lock: ['UPDATE'],
};

/** Kinds whose object PostgreSQL checks by ownership. */
const OWNER_KINDS = new Set(['alter', 'drop', 'comment', 'grant', 'revoke', 'vacuum', 'analyze']);

/** Prefixes of objects outside schemas (src/sql/ddl.ts GLOBAL_TYPES and the COPY targets). */
const OUTSIDE_SCHEMAS = new Set(['schema', 'database', 'role', 'extension', 'language', 'tablespace', 'foreign_server',
  'server', 'fdw', 'foreign_data_wrapper', 'event_trigger', 'publication', 'subscription', 'access_method', 'cast',
  'transform', 'user_mapping', 'parameter_acl', 'largeobject', 'program', 'file', 'owned_by']);

const BUILTIN_SCHEMAS = new Set(['pg_catalog', 'information_schema']);

export function planGrants(accesses: Access[], statementKind: string): GrantPlan {
  const plan: GrantPlan = { rels: [], fns: [], usage: [], create: [], createDb: false, params: [], own: [], writes: [] };
  const rels = new Map<string, RelGrant>();
  const relGrant = (s: string, n: string, privs: string[]): void => {
    const key = `${s}\u0000${n}`;
    const g = rels.get(key) ?? { s, n, p: [] };
    for (const p of privs) if (!g.p.includes(p)) g.p.push(p);
    rels.set(key, g);
  };
  const usage = new Set<string>();
  const create = new Set<string>();
  for (const a of accesses) {
    if (a.object === undefined) continue;
    if (a.kind === 'set' || a.kind === 'reset') {
      plan.params.push(a.object);
      continue;
    }
    const { prefix, parts } = parseObject(a.object);
    const two = parts.length === 2 ? { s: parts[0]!, n: parts[1]! } : null;
    // Every object in a schema (typed ones too: operator families, text search dictionaries…).
    const inSchema = two && (!prefix || !OUTSIDE_SCHEMAS.has(prefix));
    if (two && inSchema && !BUILTIN_SCHEMAS.has(two.s) && two.s !== 'pg_temp') usage.add(two.s);
    const privs = TABLE_PRIVS[a.kind];
    if (privs && two && !prefix) {
      relGrant(two.s, two.n, a.kind === 'lock' && statementKind === 'lock' ? ['SELECT', 'UPDATE'] : privs);
      // DDL that reads a table (FOREIGN KEY … REFERENCES t, LIKE t) names it as a read.
      if (a.kind === 'select' && (statementKind === 'create' || statementKind === 'alter')) relGrant(two.s, two.n, ['REFERENCES']);
      if (a.kind === 'insert' || a.kind === 'update' || a.kind === 'copy_from' || a.kind === 'merge') plan.writes.push(two);
      continue;
    }
    if (a.kind === 'merge' && two && !prefix) {
      plan.writes.push(two);
      continue;
    }
    if (a.kind === 'call' && two && !prefix) {
      plan.fns.push(two);
      continue;
    }
    if (a.kind === 'create') {
      // Schemas, publications and (trusted) extensions are created with CREATE on the database.
      if (prefix === 'schema' || prefix === 'publication' || prefix === 'extension') plan.createDb = true;
      else if (two && inSchema && two.s !== 'pg_temp') {
        if (BUILTIN_SCHEMAS.has(two.s)) continue;
        usage.add(two.s);
        create.add(two.s);
        // CREATE INDEX / TRIGGER / POLICY / RULE ON t, CREATE OR REPLACE of an existing object: owner.
        plan.own.push({ ...two, t: prefix === 'type' || prefix === 'domain' ? 'type' : 'any' });
      }
      continue;
    }
    if (OWNER_KINDS.has(a.kind)) {
      if (prefix === 'schema' && parts.length === 1) plan.own.push({ s: '', n: parts[0]!, t: 'schema' });
      else if (two && (!prefix || prefix === 'type' || prefix === 'domain') && two.n !== '*') {
        if (!BUILTIN_SCHEMAS.has(two.s)) {
          usage.add(two.s);
          plan.own.push({ ...two, t: prefix ? 'type' : 'any' });
          // ALTER TABLE … ADD PRIMARY KEY / UNIQUE builds an index next to the table (CREATE there).
          if (a.kind === 'alter' && !prefix && two.s !== 'pg_temp') create.add(two.s);
        }
      }
    }
  }
  plan.rels = [...rels.values()];
  plan.usage = [...usage];
  plan.create = [...create];
  return plan;
}
