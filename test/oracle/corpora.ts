// The attack and ordinary corpora (test/fixtures/*.yml) through the oracle. Attacks are judged only
// as the role, in the rolled-back transaction, never run for real; each runs with its own set-up in a
// transaction block rolled back afterwards, over the same fixture. Ordinary statements (what psql, pg_dump, drivers and migration tools send) run
// in order on one session, for real after being judged.
import type pg from 'pg';
import { FIXTURES, loadAttacks, loadOrdinary } from '../support/corpus.js';
import type { Cluster } from './cluster.js';
import { Judge } from './judge.js';
import { emptySummary, record, type Summary } from './run.js';

/** The objects the corpora's statements name (tables, a look-alike schema, routines that write). */
export const FIXTURE = `
DROP SCHEMA IF EXISTS public CASCADE;
DROP SCHEMA IF EXISTS evil CASCADE;
DROP SCHEMA IF EXISTS "PUBLIC" CASCADE;
CREATE SCHEMA public;
CREATE TABLE public.users (id int PRIMARY KEY, email text, ssn text, name text);
INSERT INTO public.users VALUES (1, 'ann@x.io', '111-11-1111', 'ann'), (2, 'bob@x.io', '222-22-2222', 'bob');
CREATE TABLE public.orders (id serial PRIMARY KEY, user_id int, total numeric, status text);
INSERT INTO public.orders (user_id, total) VALUES (1, 10), (2, 20);
CREATE TABLE public.accounts (id int PRIMARY KEY, balance numeric);
CREATE TABLE public.audit_log (id serial PRIMARY KEY, msg text);
CREATE TABLE public."Orders" (id int, note text);
CREATE SCHEMA "PUBLIC";
CREATE TABLE "PUBLIC".users (id int);
CREATE SCHEMA evil;
CREATE TABLE evil.users (id int, email text, ssn text, name text);
CREATE FUNCTION public.wipe_users() RETURNS int LANGUAGE sql AS $$ DELETE FROM public.users; SELECT 1 $$;
CREATE PROCEDURE public.wipe() LANGUAGE sql AS $$ DELETE FROM public.users $$;
CREATE FUNCTION public.trg_wipe() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM public.users; RETURN NEW; END $$;
`;

async function fresh(cluster: Cluster, db: string): Promise<pg.Client> {
  const c = await cluster.connect(db);
  await c.query("SET statement_timeout = '30s'");
  return c;
}

export async function runAttacks(cluster: Cluster, db: string, fixtures: string = FIXTURES): Promise<Summary> {
  const started = performance.now();
  const summary = emptySummary();
  const { attacks } = loadAttacks(fixtures);
  let c = await fresh(cluster, db);
  await c.query(FIXTURE);
  for (const a of attacks) {
    try {
      // Each attack in a transaction block rolled back afterwards: its set-up and whatever the
      // judging left are gone before the next (the judge works in a savepoint inside it).
      await c.query('BEGIN; SAVEPOINT setup');
      const judge = new Judge(c);
      // Through the judge (not judged): it remembers what a set-up PREPAREs for a later EXECUTE.
      if (a.demo?.setup) await judge.judgeText(a.demo.setup, { asRole: false });
      if (c.getTransactionStatus() === 'E') await c.query('ROLLBACK TO SAVEPOINT setup');
      await judge.refreshSearchPath();
      for (const j of await judge.judgeText(a.sql, { runForReal: false })) record(summary, `attack ${a.id}`, j);
      await c.query('ROLLBACK; DEALLOCATE ALL; RESET ALL');
    } catch {
      summary.cannot['the session ended'] = (summary.cannot['the session ended'] ?? 0) + 1;
      await c.end().catch(() => undefined);
      c = await fresh(cluster, db);
    }
  }
  await c.end().catch(() => undefined);
  summary.ms = performance.now() - started;
  return summary;
}

export async function runOrdinary(cluster: Cluster, db: string, fixtures: string = FIXTURES): Promise<Summary> {
  const started = performance.now();
  const summary = emptySummary();
  let c = await fresh(cluster, db);
  await c.query(FIXTURE);
  let judge = new Judge(c);
  for (const e of loadOrdinary(fixtures)) {
    try {
      for (const j of await judge.judgeText(e.sql)) record(summary, `ordinary ${e.id}`, j);
      // Entries are independent: one that failed inside a transaction block must not fail the rest.
      if (c.getTransactionStatus() === 'E') await c.query('ROLLBACK');
    } catch {
      summary.statements += 1;
      summary.cannot['the session ended'] = (summary.cannot['the session ended'] ?? 0) + 1;
      await c.end().catch(() => undefined);
      c = await fresh(cluster, db);
      judge = new Judge(c);
    }
  }
  await c.end().catch(() => undefined);
  summary.ms = performance.now() - started;
  return summary;
}
