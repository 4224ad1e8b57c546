// The oracle's runs: PostgreSQL's regression files replayed in order, the attack and ordinary corpora,
// and generated statements, each statement judged by judge.ts; results gathered into one summary.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import catalog from '../../src/sql/catalog.generated.json' with { type: 'json' };
import { classifyBuiltin } from '../../src/sql/builtins.js';
import { initSql } from '../../src/sql/parser.js';
import { REGRESS_DIR, splitStatements, stripPsql } from '../support/regress.js';
import type { Cluster } from './cluster.js';
import { HELPER_SQL, revokeBuiltinsSql } from './helper-sql.js';
import { Judge, type Judged } from './judge.js';

export interface Finding { source: string; sql: string; detail: string }

export interface Summary {
  statements: number;
  /** passed + missed + false denials: statements the oracle reached a verdict on. */
  judged: number;
  passed: number;
  missed: Finding[];
  falseDenials: Finding[];
  /** Refusals inside routine, trigger, view or policy bodies: by kind. */
  body: Record<string, number>;
  cannot: Record<string, number>;
  /** Judged statements with parts PostgreSQL checked as an owner or that needed their defaults granted. */
  notes: { definerViews: number; definerFns: number; defaults: number; tempShadow: number };
  examples: Record<string, Finding[]>;
  ms: number;
}

export function emptySummary(): Summary {
  return { statements: 0, judged: 0, passed: 0, missed: [], falseDenials: [], body: {}, cannot: {}, notes: { definerViews: 0, definerFns: 0, defaults: 0, tempShadow: 0 }, examples: {}, ms: 0 };
}

const MAX_EXAMPLES = 3;

export function record(s: Summary, source: string, j: Judged): void {
  s.statements += 1;
  const v = j.verdict;
  const sql = j.sql.length > 400 ? `${j.sql.slice(0, 400)}…` : j.sql;
  const example = (key: string, detail: string): void => {
    const list = (s.examples[key] ??= []);
    if (list.length < MAX_EXAMPLES) list.push({ source, sql, detail });
  };
  switch (v.outcome) {
    case 'passed':
      s.judged += 1;
      s.passed += 1;
      if (j.definerViews) s.notes.definerViews += 1;
      if (j.definerFns) s.notes.definerFns += 1;
      if (j.defaults) s.notes.defaults += 1;
      if (j.tempShadow) s.notes.tempShadow += 1;
      return;
    case 'missed':
      s.judged += 1;
      s.missed.push({ source, sql, detail: `${v.what}: ${v.message}` });
      return;
    case 'false-denial':
      s.judged += 1;
      s.falseDenials.push({ source, sql, detail: v.reason });
      return;
    case 'body':
      s.body[v.kind] = (s.body[v.kind] ?? 0) + 1;
      example(`body: ${v.kind}`, v.message);
      return;
    case 'cannot':
      s.cannot[v.kind] = (s.cannot[v.kind] ?? 0) + 1;
      example(v.kind, v.message ?? '');
      return;
  }
}

export function merge(into: Summary, from: Summary): void {
  into.statements += from.statements;
  into.judged += from.judged;
  into.passed += from.passed;
  into.missed.push(...from.missed);
  into.falseDenials.push(...from.falseDenials);
  for (const [k, n] of Object.entries(from.body)) into.body[k] = (into.body[k] ?? 0) + n;
  for (const [k, n] of Object.entries(from.cannot)) into.cannot[k] = (into.cannot[k] ?? 0) + n;
  into.notes.definerViews += from.notes.definerViews;
  into.notes.definerFns += from.notes.definerFns;
  into.notes.defaults += from.notes.defaults;
  into.notes.tempShadow += from.notes.tempShadow;
  for (const [k, l] of Object.entries(from.examples)) {
    const list = (into.examples[k] ??= []);
    for (const e of l) if (list.length < MAX_EXAMPLES) list.push(e);
  }
  into.ms += from.ms;
}

/** Built-ins tollgate names as calls (effects and dangerous ones): PUBLIC loses EXECUTE on them. */
function namedBuiltins(): string[] {
  return Object.keys((catalog as { functions: Record<string, unknown> }).functions).filter((n) => classifyBuiltin(n) !== 'pure');
}

/** A database prepared for the oracle: the helper, the event trigger, PUBLIC's rights reduced. */
export async function createOracleDatabase(cluster: Cluster, name: string): Promise<void> {
  await initSql();
  const admin = await cluster.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const c = await cluster.connect(name);
  try {
    await c.query(HELPER_SQL);
    await c.query(revokeBuiltinsSql(namedBuiltins()));
  } finally {
    await c.end();
  }
}

/** Schedule order of PostgreSQL 17's regression suite (files that create what later ones use come first). */
const SCHEDULE = `test_setup boolean char name varchar text int2 int4 int8 oid float4 float8 bit numeric txid uuid enum money
rangetypes pg_lsn regproc strings md5 numerology point lseg line box path polygon circle date time timetz timestamp timestamptz
interval inet macaddr macaddr8 multirangetypes geometry horology tstypes regex type_sanity opr_sanity misc_sanity comments
expressions unicode xid mvcc database create_function_c create_misc create_operator create_procedure create_table create_type
create_schema create_index create_index_spgist create_view index_including index_including_gist create_aggregate
create_function_sql create_cast constraints triggers select inherit typed_table vacuum drop_if_exists updatable_views
roleattributes create_am hash_func errors infinite_recurse sanity_check select_into select_distinct select_distinct_on
select_implicit select_having subselect union case join aggregates transactions random portals arrays btree_index hash_index
update delete namespace prepared_xacts brin gin gist spgist privileges init_privs security_label collate matview lock
replica_identity rowsecurity object_address tablesample groupingsets drop_operator password identity generated join_hash
brin_bloom brin_multi create_table_like alter_generic alter_operator misc async dbsize merge misc_functions sysviews tsrf tid
tidscan tidrangescan collate.icu.utf8 incremental_sort create_role rules psql psql_crosstab amutils stats_ext
collate.linux.utf8 collate.windows.win1252 select_parallel write_parallel vacuum_parallel publication subscription
select_views portals_p2 foreign_key cluster dependency guc bitmapops combocid tsearch tsdicts foreign_data window xmlmap
functional_deps advisory_lock indirect_toast equivclass json jsonb json_encoding jsonpath jsonpath_encoding jsonb_jsonpath
sqljson sqljson_queryfuncs sqljson_jsontable plancache limit plpgsql copy2 temp domain rangefuncs prepare conversion truncate
alter_table sequence polymorphism rowtypes returning largeobject with xml partition_join partition_prune reloptions hash_part
indexing partition_aggregate partition_info tuplesort explain compression memoize stats predicate oidjoins event_trigger
event_trigger_login fast_default tablespace stats`.split(/\s+/);

/** The corpus's files in schedule order (files the schedule does not list follow, by name). */
export function regressFiles(dir: string = REGRESS_DIR): string[] {
  if (!existsSync(dir)) throw new Error(`the regression corpus is not at ${dir} (set TOLLGATE_REGRESS_DIR)`);
  const present = new Set(readdirSync(dir).filter((f) => f.endsWith('.sql')).map((f) => f.slice(0, -4)));
  const ordered = [...new Set(SCHEDULE)].filter((f) => present.has(f));
  const rest = [...present].filter((f) => !ordered.includes(f)).sort();
  return ordered.concat(rest);
}

export interface ProgressFn { (file: string, s: Summary): void }

/** Replays one regression file on its own connection to `db`, judging each statement. */
export async function runRegressFile(cluster: Cluster, db: string, file: string, dir: string = REGRESS_DIR, judgeIt = true): Promise<Summary> {
  const started = performance.now();
  const summary = emptySummary();
  const text = stripPsql(readFileSync(join(dir, `${file}.sql`), 'utf8'));
  const stmts = splitStatements(text);
  let client = await session(cluster, db);
  let judge = new Judge(client);
  for (const s of stmts) {
    let results: Judged[];
    try {
      results = await judge.judgeText(s.sql, judgeIt ? {} : { asRole: false });
    } catch (err) {
      // The statement ended the session (pg_terminate_backend of itself…): count it and go on anew.
      summary.statements += 1;
      summary.cannot['the session ended'] = (summary.cannot['the session ended'] ?? 0) + 1;
      await client.end().catch(() => undefined);
      client = await session(cluster, db);
      judge = new Judge(client);
      void err;
      continue;
    }
    for (const j of results) record(summary, file, j);
  }
  await client.end().catch(() => undefined);
  summary.ms = performance.now() - started;
  return summary;
}

async function session(cluster: Cluster, db: string): Promise<pg.Client> {
  const c = await cluster.connect(db);
  // A statement that waits forever (a lock, pg_sleep) must not stall the run.
  await c.query("SET statement_timeout = '60s'");
  return c;
}
