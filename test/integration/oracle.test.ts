// A bounded slice of `npm run oracle` (test/oracle): on a private PostgreSQL cluster of its own, the
// generated statements, the attack and ordinary corpora and one regression file are run as a role
// holding exactly the privileges tollgate's accesses name. PostgreSQL refusing one of them for a
// privilege the analysis did not name (a missed access) fails the test; so does a false denial.
// The oracle is also shown to catch a planted missed access, so a silent oracle cannot pass.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { analyze } from '../../src/sql/analyze.js';
import { initSql } from '../../src/sql/parser.js';
import { startCluster, type Cluster } from '../oracle/cluster.js';
import { runAttacks, runOrdinary } from '../oracle/corpora.js';
import { GENERATED_FIXTURE, generatedStatements, runGenerated } from '../oracle/generated.js';
import { Judge } from '../oracle/judge.js';
import { createOracleDatabase, runRegressFile, type Summary } from '../oracle/run.js';

const SLOW = 180_000;
let cluster: Cluster;

beforeAll(async () => {
  await initSql();
  cluster = await startCluster();
  for (const db of ['regression', 'attacks', 'ordinary', 'generated', 'selftest']) await createOracleDatabase(cluster, db);
}, SLOW);

afterAll(async () => {
  await cluster?.stop();
}, SLOW);

/**
 * Denials tollgate makes on purpose although the server would run the statement: another client
 * encoding or standard_conforming_strings off would make the server read later bytes differently
 * from the gateway's parser (README: the proxy's rules).
 */
const BY_DESIGN = /^SET (client_encoding|standard_conforming_strings) to /;

function findings(s: Summary): string[] {
  return s.missed.map((m) => `missed [${m.source}] ${m.detail}: ${m.sql}`)
    .concat(s.falseDenials.filter((m) => !BY_DESIGN.test(m.detail)).map((m) => `false denial [${m.source}] ${m.detail}: ${m.sql}`));
}

describe('the oracle itself', () => {
  let c: pg.Client;
  let judge: Judge;
  beforeAll(async () => {
    c = await cluster.connect('selftest');
    await c.query(GENERATED_FIXTURE);
    judge = new Judge(c);
  }, SLOW);
  afterAll(async () => {
    await c?.end();
  });

  it('reports a planted missed access: the accesses without the read of g.other', async () => {
    const [an] = analyze('SELECT * FROM g.base WHERE id IN (SELECT id FROM g.other)');
    const planted = { ...an!, accesses: an!.accesses.filter((a) => a.object !== 'g.other') };
    const j = await judge.judgeOne(planted, { runForReal: false });
    expect(j.verdict).toEqual({ outcome: 'missed', what: 'table other', message: 'permission denied for table other' });
  });

  it('reports a planted missed call and a planted missed write', async () => {
    const [call] = analyze('SELECT g.f_pure(id) FROM g.base');
    const j1 = await judge.judgeOne({ ...call!, accesses: call!.accesses.filter((a) => a.kind !== 'call') }, { runForReal: false });
    expect(j1.verdict).toMatchObject({ outcome: 'missed', what: 'function f_pure' });
    const [del] = analyze('WITH d AS (DELETE FROM g.log RETURNING id) SELECT count(*) FROM d');
    const j2 = await judge.judgeOne({ ...del!, accesses: del!.accesses.filter((a) => a.kind !== 'delete') }, { runForReal: false });
    expect(j2.verdict).toMatchObject({ outcome: 'missed', what: 'table log' });
  });

  it('grants nothing beyond the accesses: an analysis error runs as a bare role and is refused', async () => {
    const [an] = analyze('SELECT * FROM g.base');
    const j = await judge.judgeOne({ ...an!, accesses: [], error: 'planted' }, { runForReal: false });
    expect(j.verdict).toEqual({ outcome: 'cannot', kind: 'tollgate denies it (analysis error); the server refuses it too' });
  });

  it('names what it cannot judge: an invoker view body, an owner check, a statement outside a transaction', async () => {
    expect((await judge.judgeText('SELECT * FROM g.v_inv', { runForReal: false }))[0]!.verdict).toEqual({
      outcome: 'body', kind: 'view or rule body', message: 'permission denied for table base',
    });
    expect((await judge.judgeText('ALTER TABLE g.parted ADD COLUMN z int', { runForReal: false }))[0]!.verdict)
      .toMatchObject({ outcome: 'cannot', kind: 'owner check: table' });
    expect((await judge.judgeText('VACUUM g.base', { runForReal: false }))[0]!.verdict)
      .toEqual({ outcome: 'cannot', kind: 'cannot run inside a transaction block' });
  });

  it('leaves the session as it found it (no role, no grant, no prepared statement survives)', async () => {
    await judge.judgeText('PREPARE leftover AS SELECT * FROM g.base', { runForReal: false });
    const r = await c.query(`SELECT current_user AS u, (SELECT count(*) FROM pg_prepared_statements)::int AS p,
      (SELECT count(*) FROM pg_roles WHERE rolname = 'oracle_r')::int AS r`);
    expect(r.rows[0]).toEqual({ u: 'postgres', p: 0, r: 0 });
  });
});

describe('no missed access and no false denial', () => {
  it('generated statements (views over views, definer and invoker routines, triggers, rules, policies, partitions, writing CTEs)', async () => {
    // Every other statement keeps the slice inside its time budget; `npm run oracle` runs them all.
    const s = await runGenerated(cluster, 'generated', generatedStatements().filter((_, i) => i % 2 === 0));
    expect(findings(s)).toEqual([]);
    expect(s.judged).toBeGreaterThan(250);
    expect(s.body['view or rule body']).toBeGreaterThan(0);
    expect(s.body['row-level security policy']).toBeGreaterThan(0);
    expect(s.notes.definerViews).toBeGreaterThan(0);
  }, SLOW);

  it('the attack corpus', async () => {
    const s = await runAttacks(cluster, 'attacks');
    expect(findings(s)).toEqual([]);
    expect(s.falseDenials.map((f) => f.source).sort()).toEqual(['attack set-client-encoding-sjis', 'attack set-names']);
    expect(s.statements).toBeGreaterThan(140);
  }, SLOW);

  it('the ordinary corpus', async () => {
    const s = await runOrdinary(cluster, 'ordinary');
    expect(findings(s)).toEqual([]);
    expect(s.judged).toBeGreaterThan(100);
  }, SLOW);

  it('a regression file replayed in order (returning.sql)', async () => {
    const s = await runRegressFile(cluster, 'regression', 'returning');
    expect(findings(s)).toEqual([]);
    expect(s.judged).toBeGreaterThan(50);
  }, SLOW);
});
