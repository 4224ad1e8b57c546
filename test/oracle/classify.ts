// What a refusal means. PostgreSQL says which privilege it missed ("permission denied for table t");
// the oracle decides whether the analysis should have named it (a missed access) or whether the
// check is one the oracle cannot judge, named by kind.
import type pg from 'pg';
import type { Access, StatementAnalysis } from '../../src/sql/types.js';
import { parseObject, type GrantPlan } from './grants.js';

export interface PgError {
  code: string;
  message: string;
  where?: string;
}

export type Verdict =
  /** Ran as the role holding only the named privileges. */
  | { outcome: 'passed' }
  /** Refused for a privilege on something the analysis did not name. */
  | { outcome: 'missed'; what: string; message: string }
  /** The server runs it for the role while tollgate denies it whatever the policy (an analysis error). */
  | { outcome: 'false-denial'; reason: string }
  /** Refused inside a routine, trigger or view body that tollgate does not look into (reported apart). */
  | { outcome: 'body'; kind: string; message: string }
  /** Not judged, by kind. */
  | { outcome: 'cannot'; kind: string; message?: string };

export interface Outcome {
  an: StatementAnalysis;
  accesses: Access[];
  plan: GrantPlan;
  roleErr: PgError | null;
  suErr: PgError | null;
  ranForReal: boolean;
}

const DDL_KINDS = new Set(['create', 'alter', 'drop', 'comment', 'grant', 'revoke']);
const REL_TYPES = new Set(['table', 'view', 'materialized view', 'sequence', 'foreign table']);
const FN_TYPES = new Set(['function', 'procedure', 'routine', 'aggregate']);

export async function classify(client: pg.Client, o: Outcome): Promise<Verdict> {
  const { an, roleErr, suErr } = o;
  const copyStarted = roleErr?.code === '57014' && /no source stream/i.test(roleErr.message);
  if (!roleErr || copyStarted) {
    if (an.error) return { outcome: 'false-denial', reason: an.error };
    return { outcome: 'passed' };
  }
  if (an.error) return { outcome: 'cannot', kind: 'tollgate denies it (analysis error); the server refuses it too' };
  const msg = roleErr.message;
  if (roleErr.code === '25001') return { outcome: 'cannot', kind: 'cannot run inside a transaction block' };
  if (roleErr.code === '57014') return { outcome: 'cannot', kind: 'timed out as the role' };
  if (roleErr.code !== '42501') {
    if (suErr) return { outcome: 'cannot', kind: 'error not about privileges (fails as superuser too)' };
    if (!o.ranForReal) return { outcome: 'cannot', kind: 'error not about privileges', message: `${roleErr.code} ${msg}` };
    return { outcome: 'cannot', kind: 'error not about privileges, as the role only', message: `${roleErr.code} ${msg}` };
  }
  let m = /^must be owner of (.+?) (\S+)$/.exec(msg);
  if (m) return { outcome: 'cannot', kind: `owner check: ${m[1]}` };
  m = /^permission denied to set parameter "(.+)"$/.exec(msg);
  if (m) {
    if (o.accesses.some((a) => (a.kind === 'set' || a.kind === 'reset') && a.object === m![1])) {
      return { outcome: 'cannot', kind: 'parameter only a superuser may set' };
    }
    return inBody(roleErr) ?? { outcome: 'missed', what: `set ${m[1]}`, message: msg };
  }
  m = /^permission denied for (table|view|materialized view|sequence|foreign table|function|procedure|routine|aggregate|schema|database|type|domain|language|large object|tablespace|foreign-data wrapper|foreign server|parameter|column) (.+)$/.exec(msg);
  if (!m) return { outcome: 'cannot', kind: 'needs superuser or a role attribute', message: normalize(msg) };
  const [, type, name] = m as unknown as [string, string, string];
  const body = inBody(roleErr);
  if (body) return body;
  if ((an.kind === 'grant' || an.kind === 'revoke') && o.accesses.some((a) => a.kind === an.kind && a.object !== undefined && parseObject(a.object).parts.at(-1) === name)) {
    return { outcome: 'cannot', kind: `owner check: ${an.kind} on a ${type} the role does not own`, message: msg };
  }
  if (REL_TYPES.has(type)) return relationRefusal(client, o, type, name, msg);
  // DDL that creates a trigger, policy, default… with a routine names it in its own text: refused,
  // it is the statement's own access, not an existing body's.
  if (FN_TYPES.has(type) && DDL_KINDS.has(an.kind) && mentions(an.sql, name)) return { outcome: 'missed', what: `${type} ${name}`, message: msg };
  if (FN_TYPES.has(type)) return routineRefusal(client, o, type, name, msg);
  if (type === 'schema' && !o.accesses.some((a) => a.object !== undefined && parseObject(a.object).parts[0] === name)) {
    // Looking a name up in a schema (a constraint of SET CONSTRAINTS, a type in a cast) needs USAGE
    // on it; tollgate's accesses are about objects, and the statement names none in that schema.
    return { outcome: 'cannot', kind: 'USAGE on a schema only to look a name up (no object of it named)', message: msg };
  }
  if (type === 'schema' || type === 'database') return { outcome: 'missed', what: `${type} ${name}`, message: msg };
  return { outcome: 'cannot', kind: `${type} privileges (not accesses in tollgate's model)`, message: msg };
}

/** A refusal raised while running a routine's or trigger's body (PostgreSQL's CONTEXT says so). */
function inBody(e: PgError): Verdict | null {
  const where = e.where ?? '';
  if (!where) return null;
  if (/trigger/i.test(where)) return { outcome: 'body', kind: 'trigger body', message: e.message };
  if (/function|procedure|SQL statement/i.test(where)) return { outcome: 'body', kind: 'routine body', message: e.message };
  return null;
}

function normalize(msg: string): string {
  return msg.replace(/"[^"]*"/g, '"…"');
}

/** Named relations as oids (those that exist). */
async function namedRelations(client: pg.Client, o: Outcome): Promise<number[]> {
  const names = o.plan.rels.map((r) => `${quote(r.s)}.${quote(r.n)}`)
    .concat(o.plan.own.filter((x) => x.t === 'any').map((r) => `${quote(r.s)}.${quote(r.n)}`));
  if (!names.length) return [];
  const r = await client.query('SELECT DISTINCT to_regclass(n)::oid AS oid FROM unnest($1::text[]) n WHERE to_regclass(n) IS NOT NULL', [names]);
  return r.rows.map((x: { oid: number }) => Number(x.oid));
}

function quote(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** Objects (their oids) reached from the named relations through views, rules, triggers, policies, defaults, constraints, indexes. */
const REACHED_SQL = `
WITH RECURSIVE named(oid) AS (SELECT unnest($1::oid[])),
parts(classid, objid, relid) AS (
  SELECT 'pg_rewrite'::regclass, r.oid, r.ev_class FROM pg_rewrite r JOIN named n ON n.oid = r.ev_class
  UNION ALL SELECT 'pg_trigger'::regclass, t.oid, t.tgrelid FROM pg_trigger t JOIN named n ON n.oid = t.tgrelid
  UNION ALL SELECT 'pg_policy'::regclass, p.oid, p.polrelid FROM pg_policy p JOIN named n ON n.oid = p.polrelid
  UNION ALL SELECT 'pg_attrdef'::regclass, a.oid, a.adrelid FROM pg_attrdef a JOIN named n ON n.oid = a.adrelid
  UNION ALL SELECT 'pg_constraint'::regclass, c.oid, c.conrelid FROM pg_constraint c JOIN named n ON n.oid = c.conrelid
  UNION ALL SELECT 'pg_class'::regclass, i.indexrelid, i.indrelid FROM pg_index i JOIN named n ON n.oid = i.indrelid
),
reached(classid, oid, via, depth) AS (
  SELECT d.refclassid, d.refobjid, p.classid::regclass::text, 1 FROM parts p
    JOIN pg_depend d ON d.classid = p.classid AND d.objid = p.objid
  UNION
  SELECT d.refclassid, d.refobjid, r.via, r.depth + 1 FROM reached r
    JOIN pg_rewrite w ON r.classid = 'pg_class'::regclass AND w.ev_class = r.oid
    JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
    WHERE r.depth < 8
)
SELECT DISTINCT classid::regclass::text AS cls, oid, via FROM reached`;

async function reached(client: pg.Client, o: Outcome): Promise<Array<{ cls: string; oid: number; via: string }>> {
  const named = await namedRelations(client, o);
  if (!named.length) return [];
  const r = await client.query(REACHED_SQL, [named]);
  return r.rows.map((x: { cls: string; oid: string; via: string }) => ({ cls: x.cls, oid: Number(x.oid), via: x.via }));
}

const VIA: Record<string, string> = {
  pg_rewrite: 'view or rule body',
  pg_trigger: 'trigger',
  pg_policy: 'row-level security policy',
  pg_attrdef: 'column default',
  pg_constraint: 'constraint',
  pg_class: 'index expression',
};

/** The name appears in the text as an identifier (folded or quoted). */
function mentions(sql: string, name: string): boolean {
  const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\w$])"?${esc}"?($|[^\\w$])`, 'i').test(sql);
}

async function relationRefusal(client: pg.Client, o: Outcome, type: string, name: string, msg: string): Promise<Verdict> {
  const cands = await client.query(
    `SELECT c.oid, n.nspname, n.nspname LIKE 'pg_temp%' AS temp FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = $1`,
    [name],
  );
  const rows = cands.rows as Array<{ oid: string; nspname: string; temp: boolean }>;
  const namedSameName = o.accesses.some((a) => a.object !== undefined && parseObject(a.object).parts[1] === name);
  if (rows.length && rows.every((r) => r.temp) && namedSameName) {
    return { outcome: 'cannot', kind: 'a temporary relation shadows the name the analysis resolved', message: msg };
  }
  // A named relation refused for another kind of privilege: the analysis named the object, not
  // what the statement does to it.
  const named = await namedRelations(client, o);
  if (rows.length === 1 && rows[0]!.nspname === 'pg_catalog' && named.includes(Number(rows[0]!.oid))) {
    // PostgreSQL lets no one but a superuser write a system catalog, whatever is granted.
    return { outcome: 'cannot', kind: 'writes a system catalog (superuser only)', message: msg };
  }
  if (rows.some((r) => named.includes(Number(r.oid))) && rows.length === 1) return { outcome: 'missed', what: `${type} ${name}`, message: msg };
  const via = await reached(client, o);
  const hit = via.find((v) => v.cls === 'pg_class' && !named.includes(v.oid) && rows.some((r) => Number(r.oid) === v.oid));
  if (hit) return { outcome: 'body', kind: VIA[hit.via] ?? hit.via, message: msg };
  // DDL on a partitioned or inherited table recurses to partitions and children, which PostgreSQL
  // checks too; without a catalog the analysis cannot name them.
  if (named.length) {
    const kids = await client.query(
      `WITH RECURSIVE d(oid) AS (SELECT inhrelid FROM pg_inherits WHERE inhparent = ANY($1::oid[])
         UNION SELECT i.inhrelid FROM pg_inherits i JOIN d ON i.inhparent = d.oid)
       SELECT 1 FROM d WHERE oid = ANY($2::oid[]) LIMIT 1`,
      [named, rows.map((r) => Number(r.oid))],
    );
    if (kids.rowCount) return { outcome: 'cannot', kind: 'partitions or inheritance children of a named table (no catalog)', message: msg };
  }
  // A built-in that reads a relation named by its argument (currtid2, table_to_xml…) is an exact call:
  // only a rule naming it allows it, whatever relation it is given.
  if (o.accesses.some((a) => a.kind === 'call' && a.exact && a.object?.startsWith('pg_catalog.'))) {
    return { outcome: 'cannot', kind: 'a relation named by an argument of an exact built-in', message: msg };
  }
  if (await inSqlBody(client, o, name)) return { outcome: 'body', kind: 'routine body', message: msg };
  return { outcome: 'missed', what: `${type} ${name}`, message: msg };
}

async function routineRefusal(client: pg.Client, o: Outcome, type: string, name: string, msg: string): Promise<Verdict> {
  const via = await reached(client, o);
  const cands = await client.query('SELECT oid FROM pg_proc WHERE proname = $1', [name]);
  const ids = new Set((cands.rows as Array<{ oid: string }>).map((r) => Number(r.oid)));
  const hit = via.find((v) => v.cls === 'pg_proc' && ids.has(v.oid));
  if (hit) return { outcome: 'body', kind: VIA[hit.via] ?? hit.via, message: msg };
  // Casts and type input/output functions of user types run for a literal or a cast in the text;
  // the analysis has no catalog of types to name them by.
  const cast = await client.query(
    `SELECT 1 FROM pg_proc p WHERE p.proname = $1 AND (EXISTS (SELECT 1 FROM pg_cast c WHERE c.castfunc = p.oid)
       OR EXISTS (SELECT 1 FROM pg_type t WHERE p.oid IN (t.typinput, t.typoutput, t.typreceive, t.typsend, t.typmodin, t.typmodout)))`,
    [name],
  );
  if (cast.rowCount) return { outcome: 'cannot', kind: 'a cast or type input function of a user type (no catalog)', message: msg };
  // An operator written with a built-in's name (`=`, `<`) that resolves to a user type's own operator,
  // and `t.f` field notation calling f(t): the analysis has no catalog to see either.
  const op = await client.query('SELECT 1 FROM pg_operator o JOIN pg_proc p ON p.oid = o.oprcode WHERE p.proname = $1 LIMIT 1', [name]);
  if (op.rowCount) return { outcome: 'cannot', kind: "an operator on a user type, by a built-in operator's name (no catalog)", message: msg };
  // (`x.f` not followed by `(`: `s.f(…)` is a schema-qualified call, which the analysis names.)
  if (new RegExp(`\\.\\s*"?${name.replace(/[^a-z0-9_]/gi, '')}"?(?![\\w$"]|\\s*\\()`, 'i').test(o.an.sql)) {
    return { outcome: 'cannot', kind: 'a function called in field notation, t.f for f(t) (no catalog)', message: msg };
  }
  // A SQL function the planner inlined: the calls in its body are checked with no function context.
  if (await inSqlBody(client, o, name, true)) return { outcome: 'body', kind: 'routine body', message: msg };
  // Built-ins leave no dependency to follow (they are pinned): a view's functions run with the
  // caller's rights, so a built-in its text calls is the view body's.
  const views = (await namedRelations(client, o)).concat(via.filter((v) => v.cls === 'pg_class').map((v) => v.oid));
  if (views.length) {
    const v = await client.query(
      `SELECT 1 FROM pg_class WHERE oid = ANY($1::oid[]) AND relkind IN ('v', 'm') AND pg_get_viewdef(oid) ~ $2 LIMIT 1`,
      [views, `\\m${name.replace(/[^a-z0-9_]/gi, '')}\\(`],
    );
    if (v.rowCount) return { outcome: 'body', kind: 'view or rule body', message: msg };
  }
  // nextval() of a serial column written by a rule's or view's action: the default of a table such
  // a body writes.
  const bodyRels = via.filter((v) => v.cls === 'pg_class' && v.via === 'pg_rewrite').map((v) => v.oid);
  if (name === 'nextval' && bodyRels.length) {
    const d = await client.query('SELECT 1 FROM pg_attrdef WHERE adrelid = ANY($1::oid[]) LIMIT 1', [bodyRels]);
    if (d.rowCount) return { outcome: 'body', kind: 'column default written by a rule or view body', message: msg };
  }
  return { outcome: 'missed', what: `${type} ${name}`, message: msg };
}

/** `name` appears in the body of a SQL function the statement calls (inlined, so no CONTEXT line). */
async function inSqlBody(client: pg.Client, o: Outcome, name: string, call = false): Promise<boolean> {
  const named = o.plan.fns;
  if (!named.length) return false;
  const word = name.replace(/[^a-z0-9_]/gi, '');
  const r = await client.query(
    `SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace, jsonb_to_recordset($1::jsonb) AS f(s text, n text)
     WHERE p.proname = f.n AND (n.nspname = f.s OR (f.s = 'pg_temp' AND n.oid = pg_my_temp_schema()))
       AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'sql')
       AND coalesce(p.prosrc, '') || coalesce(pg_get_function_sqlbody(p.oid), '') ~* $2 LIMIT 1`,
    [JSON.stringify(named), call ? `\\m${word}\\(` : `\\m${word}\\M`],
  );
  return !!r.rowCount;
}
