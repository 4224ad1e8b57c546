// Sensitive catalog relations (red-team finding F12): password hashes, credentials, column statistics
// (copies of masked values), other sessions' SQL and server configuration files. Any access to them is
// exact, so `read` on `pg_catalog.*` — what psql's \d family needs — never covers them.
import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, initSql } from '../../src/sql/index.js';
import { classifyBuiltin, isCatalogRelation, isSensitiveRelation, SENSITIVE_RELATIONS } from '../../src/sql/builtins.js';
import type { Access } from '../../src/sql/types.js';
import { loadPolicy, parsePolicy } from '../../src/policy/load.js';
import { createEngine } from '../../src/policy/sql-analyzer.js';
import type { PolicyEngine } from '../../src/policy/engine.js';

const EXPECTED = [
  'pg_authid', 'pg_file_settings', 'pg_hba_file_rules', 'pg_ident_file_mappings', 'pg_largeobject',
  'pg_shadow', 'pg_stat_activity', 'pg_statistic', 'pg_statistic_ext_data', 'pg_stats', 'pg_stats_ext',
  'pg_stats_ext_exprs', 'pg_subscription', 'pg_user_mapping', 'pg_user_mappings',
];

/** What psql's \d family and pg_dump read: never sensitive. */
const HARMLESS = [
  'pg_class', 'pg_roles', 'pg_user', 'pg_group', 'pg_settings', 'pg_statistic_ext', 'pg_largeobject_metadata',
  'pg_namespace', 'pg_attribute', 'pg_foreign_server', 'pg_db_role_setting', 'pg_stat_user_tables', 'pg_database',
];

function only(sql: string, searchPath?: string[]): Access[] {
  const as = analyze(sql, searchPath ? { searchPath } : {});
  expect(as.map((a) => a.error ?? null), sql).toEqual(as.map(() => null));
  return as.flatMap((a) => a.accesses);
}

const exactSelect = (r: string): Access => ({ kind: 'select', object: `pg_catalog.${r}`, exact: true });

beforeAll(async () => {
  await initSql();
});

describe('the list', () => {
  it('is exactly the reviewed set, and every one exists in the generated catalog', () => {
    expect(SENSITIVE_RELATIONS).toEqual(EXPECTED);
    for (const r of EXPECTED) expect([r, isCatalogRelation(r)]).toEqual([r, true]);
  });

  it('leaves what psql and pg_dump read alone', () => {
    for (const r of HARMLESS) expect([r, isSensitiveRelation(`pg_catalog.${r}`)]).toEqual([r, false]);
  });

  it('is about pg_catalog: a user table of the same name elsewhere is not sensitive', () => {
    expect(isSensitiveRelation('public.pg_authid')).toBe(false);
    expect(isSensitiveRelation('pg_catalog.pg_authid')).toBe(true);
  });

  it('covers FDW option values in information_schema and pg_stat_statements in any schema', () => {
    expect(isSensitiveRelation('information_schema.user_mapping_options')).toBe(true);
    expect(isSensitiveRelation('information_schema._pg_user_mappings')).toBe(true);
    expect(isSensitiveRelation('information_schema.tables')).toBe(false);
    expect(isSensitiveRelation('public.pg_stat_statements')).toBe(true);
    expect(isSensitiveRelation('monitoring.pg_stat_statements')).toBe(true);
  });

  it('makes the functions behind pg_stat_activity and pg_stat_statements dangerous', () => {
    for (const f of ['pg_stat_get_activity', 'pg_stat_get_backend_activity', 'pg_stat_statements']) {
      expect([f, classifyBuiltin(f)]).toEqual([f, 'dangerous']);
    }
    expect(classifyBuiltin('pg_stat_get_numscans')).toBe('pure');
  });
});

describe('accesses to sensitive relations are exact', () => {
  it('qualified and unqualified, for every relation of the list', () => {
    for (const r of EXPECTED) {
      expect(only(`SELECT * FROM pg_catalog.${r}`)).toEqual([exactSelect(r)]);
      expect(only(`SELECT * FROM ${r}`)).toEqual([exactSelect(r)]);
      expect(only(`SELECT * FROM "${r}"`)).toEqual([exactSelect(r)]);
    }
  });

  it('a harmless catalog relation stays a plain read', () => {
    expect(only('SELECT * FROM pg_roles')).toEqual([{ kind: 'select', object: 'pg_catalog.pg_roles' }]);
    expect(only('SELECT * FROM pg_catalog.pg_largeobject_metadata')).toEqual([
      { kind: 'select', object: 'pg_catalog.pg_largeobject_metadata' },
    ]);
  });

  it('through a JOIN', () => {
    expect(only('SELECT c.relname, s.stavalues1::text FROM pg_class c JOIN pg_statistic s ON s.starelid = c.oid')).toEqual([
      { kind: 'select', object: 'pg_catalog.pg_class' },
      exactSelect('pg_statistic'),
    ]);
    expect(only('SELECT r.rolname FROM pg_roles r LEFT JOIN pg_catalog.pg_authid a USING (oid)')).toEqual([
      { kind: 'select', object: 'pg_catalog.pg_roles' },
      exactSelect('pg_authid'),
    ]);
  });

  it('through subqueries, CTEs and lateral joins', () => {
    expect(only('SELECT (SELECT passwd FROM pg_shadow LIMIT 1)')).toEqual([exactSelect('pg_shadow')]);
    expect(only('SELECT 1 WHERE EXISTS (SELECT 1 FROM pg_stats WHERE most_common_vals IS NOT NULL)')).toEqual([
      exactSelect('pg_stats'),
    ]);
    expect(only('WITH q AS (SELECT query FROM pg_stat_activity) SELECT * FROM q')).toEqual([exactSelect('pg_stat_activity')]);
    expect(only('SELECT * FROM pg_class c, LATERAL (SELECT umoptions FROM pg_user_mappings) m')).toEqual([
      { kind: 'select', object: 'pg_catalog.pg_class' },
      exactSelect('pg_user_mappings'),
    ]);
  });

  it('in a view body, CREATE TABLE AS and SELECT INTO', () => {
    expect(only('CREATE VIEW public.pw AS SELECT usename, passwd FROM pg_shadow')).toEqual([
      { kind: 'create', object: 'public.pw' },
      exactSelect('pg_shadow'),
    ]);
    expect(only('CREATE TABLE public.st AS SELECT * FROM pg_catalog.pg_stats')).toContainEqual(exactSelect('pg_stats'));
    expect(only('SELECT subconninfo INTO public.s FROM pg_subscription')).toContainEqual(exactSelect('pg_subscription'));
  });

  it('through EXPLAIN, COPY, PREPARE and DECLARE (the definition carries the exact access)', () => {
    expect(only('EXPLAIN SELECT * FROM pg_stats_ext')).toEqual([{ kind: 'explain' }, exactSelect('pg_stats_ext')]);
    expect(only('COPY pg_catalog.pg_largeobject TO STDOUT')).toEqual([
      { kind: 'copy_to', object: 'pg_catalog.pg_largeobject', exact: true },
      exactSelect('pg_largeobject'),
    ]);
    const [p] = analyze('PREPARE p AS SELECT * FROM pg_statistic_ext_data');
    expect(p!.defines?.accesses).toEqual([exactSelect('pg_statistic_ext_data')]);
    const [d] = analyze('DECLARE c CURSOR FOR SELECT * FROM pg_hba_file_rules');
    expect(d!.defines?.accesses).toEqual([exactSelect('pg_hba_file_rules')]);
  });

  it('any kind of access, not only reads', () => {
    expect(only('GRANT SELECT ON pg_authid TO public')).toEqual([{ kind: 'grant', object: 'pg_catalog.pg_authid', exact: true }]);
    expect(only('LOCK TABLE pg_catalog.pg_statistic')).toEqual([{ kind: 'lock', object: 'pg_catalog.pg_statistic', exact: true }]);
  });

  it('a search path that puts a schema before pg_catalog: that schema is plain, pg_catalog exact', () => {
    expect(only('SELECT * FROM pg_authid', ['app', 'pg_catalog'])).toEqual([
      { kind: 'select', object: 'app.pg_authid' },
      exactSelect('pg_authid'),
    ]);
  });

  it('pg_stat_statements in any schema, and its function', () => {
    expect(only('SELECT query FROM public.pg_stat_statements')).toEqual([
      { kind: 'select', object: 'public.pg_stat_statements', exact: true },
    ]);
    expect(only('SELECT query FROM pg_stat_get_activity(NULL)')).toContainEqual({
      kind: 'call',
      object: 'pg_catalog.pg_stat_get_activity',
      exact: true,
    });
  });
});

const CATALOG_READER = `version: 1
roles:
  browse:
    match: { sub: x }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["public.*", "pg_catalog.*", "information_schema.*"] }
        - { action: deny,  kinds: [any] }
  stats:
    match: { sub: x }
    postgres:
      rules:
        - { action: allow, kinds: [select], objects: ["pg_catalog.pg_stats"] }
        - { action: allow, kinds: [read], objects: ["pg_catalog.*"] }
        - { action: deny,  kinds: [any] }
  grouped:
    match: { sub: x }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["pg_catalog.pg_stats"] }
        - { action: allow, kinds: [select], objects: ["pg_catalog.pg_stat*"] }
        - { action: deny,  kinds: [any] }
`;

describe('policy decisions', () => {
  let browse: PolicyEngine;
  let stats: PolicyEngine;
  let grouped: PolicyEngine;
  beforeAll(async () => {
    const policy = parsePolicy(CATALOG_READER, 'catalog.yml');
    browse = await createEngine(policy, 'browse');
    stats = await createEngine(policy, 'stats');
    grouped = await createEngine(policy, 'grouped');
  });

  it('read on pg_catalog.* denies every sensitive relation, with the reason naming it', () => {
    for (const r of EXPECTED) {
      const d = browse.decide(`SELECT * FROM ${r}`);
      expect([r, d.decision, d.statements[0]!.rule]).toEqual([r, 'deny', null]);
      expect(d.statements[0]!.reason).toBe(
        `select on pg_catalog.${r} is dangerous: only a rule naming kind select and object pg_catalog.${r} exactly (no group, no glob) may allow it`,
      );
    }
  });

  it('read on pg_catalog.* still allows the rest of the catalog', () => {
    expect(browse.decide('SELECT rolname FROM pg_roles').decision).toBe('allow');
    expect(browse.decide('SELECT name, setting FROM pg_settings').decision).toBe('allow');
    expect(browse.decide('SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace').decision).toBe('allow');
  });

  it('a JOIN with a sensitive relation denies the whole statement', () => {
    expect(browse.decide('SELECT c.relname FROM pg_class c JOIN pg_stats s ON s.tablename = c.relname')).toMatchObject({
      decision: 'deny',
      statements: [{ decidingAccess: exactSelect('pg_stats') }],
    });
  });

  it('a rule naming select on pg_catalog.pg_stats allows exactly that relation', () => {
    expect(stats.decide('SELECT * FROM pg_stats')).toMatchObject({ decision: 'allow', statements: [{ rule: 'roles.stats.postgres.rules[0]' }] });
    expect(stats.decide('SELECT * FROM pg_catalog.pg_stats').decision).toBe('allow');
    expect(stats.decide('SELECT * FROM pg_statistic').decision).toBe('deny');
    expect(stats.decide('SELECT * FROM pg_stats_ext').decision).toBe('deny');
    expect(stats.decide('SELECT * FROM pg_authid').decision).toBe('deny');
  });

  it('a group kind or a glob does not name it', () => {
    expect(grouped.decide('SELECT * FROM pg_stats')).toMatchObject({ decision: 'deny', statements: [{ rule: null }] });
    expect(grouped.decide('SELECT * FROM pg_stat_activity')).toMatchObject({ decision: 'deny', statements: [{ rule: null }] });
  });
});

describe('shipped policies', () => {
  it('migrations.yml: pg_catalog.* reads no longer reach password hashes, statistics or other sessions', async () => {
    const e = await createEngine(loadPolicy('policies/migrations.yml'), 'migrations');
    for (const sql of [
      'SELECT rolname, rolpassword FROM pg_authid',
      'SELECT usename, passwd FROM pg_shadow',
      'SELECT umoptions FROM pg_user_mapping',
      'SELECT subconninfo FROM pg_subscription',
      'SELECT data FROM pg_largeobject',
      'SELECT stavalues1::text FROM pg_statistic',
      'SELECT most_common_vals::text FROM pg_stats',
      'SELECT query FROM pg_stat_activity',
      'SELECT * FROM pg_hba_file_rules',
      'SELECT * FROM pg_file_settings',
      'SELECT option_value FROM information_schema.user_mapping_options',
    ]) {
      expect([sql, e.decide(sql).decision]).toEqual([sql, 'deny']);
    }
    expect(e.decide("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").decision).toBe('allow');
    expect(e.decide('SELECT relname FROM pg_class').decision).toBe('allow');
  });

  it('demo.yml: statistics of the masked users table are denied, psql still browses', async () => {
    const e = await createEngine(loadPolicy('policies/demo.yml'), 'demo');
    expect(e.decide("SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'users'")).toMatchObject({
      decision: 'deny',
      statements: [{ rule: null }],
    });
    expect(e.decide("SELECT stavalues1::text FROM pg_statistic WHERE starelid = 'users'::regclass").decision).toBe('deny');
    expect(e.decide('SELECT query FROM pg_stat_activity').decision).toBe('deny');
    expect(e.decide('SELECT rolname, rolpassword FROM pg_authid')).toMatchObject({
      decision: 'deny',
      statements: [{ rule: 'roles.demo.postgres.rules[1]' }],
    });
    expect(e.decide('SELECT relname FROM pg_class').decision).toBe('allow');
  });
});
