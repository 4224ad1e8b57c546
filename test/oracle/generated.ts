// Statements the regression corpus has few of, generated over one fixture: views over views (owner's
// and invoker's rights), SECURITY DEFINER and INVOKER routines, triggers, rules, row-level security
// policies, inheritance and partitions, column defaults, writing CTEs, locks and DDL. Every statement
// is judged as the role only (never run for real), so each starts from the same fixture.
import type { Cluster } from './cluster.js';
import { Judge } from './judge.js';
import { emptySummary, record, type Summary } from './run.js';

export const GENERATED_FIXTURE = `
CREATE SCHEMA g;
CREATE TABLE g.base (id int PRIMARY KEY, v text, secret text);
INSERT INTO g.base VALUES (1, 'a', 's1'), (2, 'b', 's2');
CREATE TABLE g.other (id int, w text);
INSERT INTO g.other VALUES (1, 'x'), (3, 'y');
CREATE TABLE g.log (id serial, msg text);
CREATE VIEW g.v_def AS SELECT id, v FROM g.base;
CREATE VIEW g.v_inv WITH (security_invoker = true) AS SELECT id, v FROM g.base;
CREATE VIEW g.vv_def AS SELECT * FROM g.v_def;
CREATE VIEW g.vv_inv WITH (security_invoker = true) AS SELECT * FROM g.v_inv;
CREATE VIEW g.vv_mixed WITH (security_invoker = true) AS SELECT * FROM g.v_def;
CREATE VIEW g.v_join_inv WITH (security_invoker = true) AS SELECT b.id, o.w FROM g.base b JOIN g.other o USING (id);
CREATE FUNCTION g.f_inv() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM g.base $$;
CREATE FUNCTION g.f_def() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS $$ SELECT count(*) FROM g.base $$;
CREATE FUNCTION g.f_pure(int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT $1 + 1 $$;
CREATE PROCEDURE g.p_inv() LANGUAGE sql AS $$ INSERT INTO g.log (msg) VALUES ('p') $$;
CREATE VIEW g.v_calls AS SELECT id, g.f_pure(id) AS f FROM g.base;
CREATE VIEW g.v_calls_inv WITH (security_invoker = true) AS SELECT id, g.f_pure(id) AS f FROM g.base;
CREATE FUNCTION g.log_it() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO g.log (msg) VALUES (TG_OP); RETURN NULL; END $$;
CREATE FUNCTION g.log_it_def() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN INSERT INTO g.log (msg) VALUES (TG_OP); RETURN NULL; END $$;
CREATE TABLE g.trg_inv (id int);
CREATE TRIGGER t AFTER INSERT OR UPDATE OR DELETE ON g.trg_inv FOR EACH ROW EXECUTE FUNCTION g.log_it();
CREATE TABLE g.trg_def (id int);
CREATE TRIGGER t AFTER INSERT OR UPDATE OR DELETE ON g.trg_def FOR EACH ROW EXECUTE FUNCTION g.log_it_def();
CREATE TABLE g.trg_when (id int);
CREATE TRIGGER t AFTER INSERT ON g.trg_when FOR EACH ROW WHEN (g.f_pure(NEW.id) > 0) EXECUTE FUNCTION g.log_it_def();
CREATE TABLE g.ruled (id int);
CREATE RULE r AS ON INSERT TO g.ruled DO ALSO INSERT INTO g.log (msg) VALUES ('rule');
CREATE VIEW g.v_ruled AS SELECT id FROM g.other;
CREATE RULE r_ins AS ON INSERT TO g.v_ruled DO INSTEAD INSERT INTO g.other (id) VALUES (NEW.id);
CREATE TABLE g.rls (id int, who text);
ALTER TABLE g.rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON g.rls USING (id IN (SELECT id FROM g.other)) WITH CHECK (true);
CREATE TABLE g.rls_fn (id int);
ALTER TABLE g.rls_fn ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON g.rls_fn USING (g.f_pure(id) > 0) WITH CHECK (g.f_pure(id) > 0);
CREATE TABLE g.parent (id int, v text);
CREATE TABLE g.child (extra int) INHERITS (g.parent);
CREATE TABLE g.parted (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE g.part1 PARTITION OF g.parted FOR VALUES FROM (0) TO (100);
CREATE TABLE g.part2 PARTITION OF g.parted FOR VALUES FROM (100) TO (200);
CREATE TABLE g.with_default (id serial, v text DEFAULT g.f_pure(1)::text);
CREATE TABLE g.checked (id int CHECK (g.f_pure(id) > 0));
CREATE TABLE g.indexed (id int);
CREATE INDEX ON g.indexed (g.f_pure(id));
CREATE SEQUENCE g.seq;
`;

const READ_TARGETS = ['base', 'v_def', 'v_inv', 'vv_def', 'vv_inv', 'vv_mixed', 'v_join_inv', 'v_calls', 'v_calls_inv',
  'parent', 'child', 'parted', 'part1', 'rls', 'rls_fn', 'ruled', 'trg_inv'];
const WRITE_TARGETS = ['base', 'v_def', 'v_inv', 'vv_def', 'vv_inv', 'parent', 'child', 'parted', 'part1', 'rls', 'rls_fn',
  'ruled', 'v_ruled', 'trg_inv', 'trg_def', 'trg_when', 'with_default', 'checked', 'indexed'];
const TABLES = ['base', 'parent', 'child', 'parted', 'part1', 'rls', 'trg_inv', 'with_default', 'checked', 'indexed'];

const READS = [
  (r: string) => `SELECT * FROM g.${r}`,
  (r: string) => `SELECT count(*) FROM g.${r} WHERE id > 0`,
  (r: string) => `SELECT * FROM g.${r} FOR UPDATE`,
  (r: string) => `SELECT * FROM g.${r} FOR SHARE`,
  (r: string) => `WITH c AS (SELECT * FROM g.${r}) SELECT * FROM c`,
  (r: string) => `SELECT (SELECT max(id) FROM g.${r})`,
  (r: string) => `SELECT b.id FROM g.base b WHERE EXISTS (SELECT 1 FROM g.${r} x WHERE x.id = b.id)`,
  (r: string) => `SELECT * FROM g.other o, LATERAL (SELECT id FROM g.${r} x WHERE x.id = o.id) l`,
  (r: string) => `EXPLAIN SELECT * FROM g.${r}`,
  (r: string) => `EXPLAIN ANALYZE SELECT * FROM g.${r}`,
  (r: string) => `COPY (SELECT * FROM g.${r}) TO STDOUT`,
  (r: string) => `DECLARE c CURSOR WITH HOLD FOR SELECT * FROM g.${r}`,
  (r: string) => `PREPARE q AS SELECT * FROM g.${r}`,
  (r: string) => `SELECT * FROM g.${r} UNION SELECT * FROM g.${r}`,
];

const WRITES = [
  (w: string) => `INSERT INTO g.${w} (id) VALUES (7)`,
  (w: string) => `INSERT INTO g.${w} (id) SELECT id FROM g.other`,
  (w: string) => `INSERT INTO g.${w} (id) VALUES (8) RETURNING *`,
  (w: string) => `INSERT INTO g.${w} (id) VALUES (9) ON CONFLICT DO NOTHING`,
  (w: string) => `UPDATE g.${w} SET id = 5`,
  (w: string) => `UPDATE g.${w} SET id = id + 1 WHERE id = 1`,
  (w: string) => `UPDATE g.${w} t SET id = o.id FROM g.other o WHERE t.id = o.id`,
  (w: string) => `UPDATE g.${w} SET id = 6 RETURNING id`,
  (w: string) => `DELETE FROM g.${w}`,
  (w: string) => `DELETE FROM g.${w} WHERE id = 1`,
  (w: string) => `DELETE FROM g.${w} t USING g.other o WHERE t.id = o.id`,
  (w: string) => `MERGE INTO g.${w} t USING g.other s ON t.id = s.id WHEN MATCHED THEN UPDATE SET id = s.id WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)`,
  (w: string) => `MERGE INTO g.${w} t USING g.other s ON t.id = s.id WHEN MATCHED THEN DELETE`,
  (w: string) => `WITH d AS (DELETE FROM g.${w} WHERE id = 1 RETURNING id) INSERT INTO g.log (msg) SELECT id::text FROM d`,
  (w: string) => `WITH u AS (UPDATE g.${w} SET id = id RETURNING *) SELECT count(*) FROM u`,
  (w: string) => `WITH i AS (INSERT INTO g.${w} (id) VALUES (10) RETURNING id) SELECT * FROM i`,
  (w: string) => `WITH s AS (SELECT id FROM g.other) UPDATE g.${w} SET id = s.id FROM s WHERE g.${w}.id = s.id`,
  (w: string) => `EXPLAIN ANALYZE DELETE FROM g.${w}`,
  (w: string) => `EXPLAIN UPDATE g.${w} SET id = 1`,
];

const TABLE_ONLY = [
  (t: string) => `TRUNCATE g.${t}`,
  (t: string) => `COPY g.${t} TO STDOUT`,
  (t: string) => `COPY g.${t} (id) FROM STDIN`,
  (t: string) => `LOCK TABLE g.${t} IN ACCESS SHARE MODE`,
  (t: string) => `LOCK TABLE g.${t} IN ROW EXCLUSIVE MODE`,
  (t: string) => `LOCK TABLE g.${t} IN ACCESS EXCLUSIVE MODE`,
  (t: string) => `SELECT * FROM ONLY g.${t}`,
  (t: string) => `UPDATE ONLY g.${t} SET id = 1`,
  (t: string) => `CREATE TABLE g.copy_${t} AS SELECT * FROM g.${t}`,
  (t: string) => `SELECT * INTO g.into_${t} FROM g.${t}`,
  (t: string) => `CREATE VIEW g.view_${t} AS SELECT * FROM g.${t}`,
  (t: string) => `CREATE MATERIALIZED VIEW g.mv_${t} AS SELECT * FROM g.${t}`,
  (t: string) => `ALTER TABLE g.${t} ADD COLUMN z int`,
  (t: string) => `CREATE INDEX ON g.${t} (id)`,
  (t: string) => `CREATE TRIGGER x AFTER INSERT ON g.${t} FOR EACH ROW EXECUTE FUNCTION g.log_it()`,
  (t: string) => `CREATE POLICY q ON g.${t} USING (id IN (SELECT id FROM g.other))`,
  (t: string) => `CREATE RULE q AS ON DELETE TO g.${t} DO ALSO DELETE FROM g.other`,
  (t: string) => `ALTER TABLE g.${t} RENAME TO renamed_${t}`,
  (t: string) => `ALTER TABLE g.${t} SET SCHEMA public`,
  (t: string) => `COMMENT ON TABLE g.${t} IS 'x'`,
  (t: string) => `GRANT SELECT ON g.${t} TO PUBLIC`,
  (t: string) => `DROP TABLE g.${t} CASCADE`,
  (t: string) => `ANALYZE g.${t}`,
  (t: string) => `CREATE TABLE g.fk_${t} (id int REFERENCES g.base (id))`,
  (t: string) => `CREATE TABLE g.like_${t} (LIKE g.${t})`,
  (t: string) => `CREATE TABLE g.inh_${t} () INHERITS (g.${t})`,
];

const OTHERS = [
  'SELECT g.f_inv()', 'SELECT g.f_def()', 'SELECT * FROM g.f_inv()', 'SELECT g.f_pure(id) FROM g.base', 'CALL g.p_inv()',
  'SELECT count(*) FROM g.base WHERE g.f_pure(id) > 1', 'VALUES (g.f_def())', "SELECT nextval('g.seq')", "SELECT currval('g.seq')",
  "SELECT setval('g.seq', 5)", 'INSERT INTO g.with_default (v) VALUES ($$x$$)', 'INSERT INTO g.with_default DEFAULT VALUES',
  'UPDATE g.with_default SET v = DEFAULT', 'ALTER TABLE g.other ADD FOREIGN KEY (id) REFERENCES g.base (id)',
  'CREATE FUNCTION g.newf() RETURNS int LANGUAGE sql AS $$ SELECT count(*)::int FROM g.base $$',
  'CREATE FUNCTION g.newf2() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT count(*)::int FROM g.base; END',
  'CREATE VIEW g.newv WITH (security_invoker = true) AS SELECT * FROM g.v_def',
  'ALTER VIEW g.v_inv SET (security_invoker = false)', 'ALTER FUNCTION g.f_inv() SECURITY DEFINER',
  'ALTER TABLE g.parted ATTACH PARTITION g.other FOR VALUES FROM (200) TO (300)', 'ALTER TABLE g.parted DETACH PARTITION g.part2',
  'CREATE TABLE g.part3 PARTITION OF g.parted FOR VALUES FROM (300) TO (400)', 'ALTER TABLE g.rls DISABLE ROW LEVEL SECURITY',
  'DROP POLICY p ON g.rls', 'ALTER POLICY p ON g.rls USING (true)', 'DROP RULE r ON g.ruled', 'DROP TRIGGER t ON g.trg_inv',
  'REFRESH MATERIALIZED VIEW g.v_def', 'TABLE g.base', 'SELECT * FROM g.base NATURAL JOIN g.other',
  'SELECT row_to_json(b) FROM g.base b', 'SELECT (SELECT b FROM g.base b LIMIT 1)',
  'INSERT INTO g.base (id) VALUES (1) ON CONFLICT (id) DO NOTHING', 'INSERT INTO g.base (id) VALUES (1) ON CONFLICT ON CONSTRAINT base_pkey DO NOTHING',
  "INSERT INTO g.base (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET v = 'x'", "INSERT INTO g.base (id) VALUES (1) ON CONFLICT ON CONSTRAINT base_pkey DO UPDATE SET v = 'x'",
  "INSERT INTO g.base (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET v = excluded.v", 'SET CONSTRAINTS g.base_pkey DEFERRED',
];

export function generatedStatements(): string[] {
  const out: string[] = [];
  for (const r of READ_TARGETS) for (const f of READS) out.push(f(r));
  for (const w of WRITE_TARGETS) for (const f of WRITES) out.push(f(w));
  for (const t of TABLES) for (const f of TABLE_ONLY) out.push(f(t));
  out.push(...OTHERS);
  return out;
}

export async function runGenerated(cluster: Cluster, db: string, statements: string[] = generatedStatements()): Promise<Summary> {
  const started = performance.now();
  const summary = emptySummary();
  const c = await cluster.connect(db);
  try {
    await c.query("SET statement_timeout = '30s'");
    await c.query(GENERATED_FIXTURE);
    const judge = new Judge(c);
    for (const sql of statements) {
      for (const j of await judge.judgeText(sql, { runForReal: false })) record(summary, 'generated', j);
    }
  } finally {
    await c.end().catch(() => undefined);
  }
  summary.ms = performance.now() - started;
  return summary;
}
