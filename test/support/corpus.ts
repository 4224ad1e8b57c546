// Loads the attack and ordinary corpora (test/fixtures/*.yml) with their shape checked, so a typo in
// a fixture fails loudly instead of silently weakening a test.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { Kind } from '../../src/sql/types.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface ExpectedAccess {
  kind: Kind;
  /** Absent = not compared; null = the access must have no object. */
  object?: string | null;
}

export interface AttackDemo {
  setup?: string;
  runner?: 'pg' | 'psql';
  stdin?: string;
  stdin_latin1?: string;
  tag?: string;
  result?: string;
  result_match?: string;
  check?: string;
  expect?: string;
  fresh?: boolean;
  victim?: boolean;
  listen?: string;
  notified?: number;
  min_ms?: number;
}

export interface Generate {
  prefix: string;
  repeat: string;
  times: number;
  middle?: string;
  repeat_after?: string;
}

export interface Attack {
  id: string;
  sql: string;
  decision: 'deny' | 'review';
  deciding?: ExpectedAccess;
  /** Further accesses the deciding statement must carry (e.g. the DELETE inside a PREPARE). */
  also?: ExpectedAccess[];
  reason?: string;
  why: string;
  demo?: AttackDemo;
  demonstrate?: false;
  not_demonstrated?: string;
}

export interface MaskCase {
  id: string;
  sql: string;
  masked: number[];
  why: string;
}

function fail(file: string, id: string, what: string): never {
  throw new Error(`${file}: entry ${id}: ${what}`);
}

/** Expands a `generate` entry (inputs too large to keep in the fixture). */
export function generateSql(g: Generate): string {
  return g.prefix + g.repeat.repeat(g.times) + (g.middle ?? '') + (g.repeat_after ?? '').repeat(g.times);
}

export function loadAttacks(fixtures: string = FIXTURES): { attacks: Attack[]; masking: MaskCase[] } {
  const file = join(fixtures, 'attacks.yml');
  const doc = parse(readFileSync(file, 'utf8')) as { attacks: Array<Record<string, unknown>>; masking: MaskCase[] };
  const seen = new Set<string>();
  const attacks = doc.attacks.map((raw): Attack => {
    const id = String(raw.id);
    if (seen.has(id)) fail(file, id, 'duplicate id');
    seen.add(id);
    const sql = typeof raw.sql === 'string' ? raw.sql : raw.generate ? generateSql(raw.generate as Generate) : null;
    if (sql === null) fail(file, id, 'needs sql or generate');
    if (raw.decision !== 'deny' && raw.decision !== 'review') fail(file, id, 'decision must be deny or review');
    if (!raw.deciding && !raw.reason) fail(file, id, 'needs deciding or reason');
    if (typeof raw.why !== 'string' || raw.why.length < 10) fail(file, id, 'needs a why');
    if (raw.demonstrate === false) {
      if (typeof raw.not_demonstrated !== 'string') fail(file, id, 'demonstrate: false needs not_demonstrated');
    } else {
      const d = raw.demo as AttackDemo | undefined;
      if (!d) fail(file, id, 'needs demo or demonstrate: false');
      const shows = d.tag ?? d.result ?? d.result_match ?? d.check ?? d.notified ?? d.min_ms;
      if (shows === undefined) fail(file, id, 'demo shows nothing (tag, result, result_match, check, notified or min_ms)');
      if (d.check !== undefined && d.expect === undefined) fail(file, id, 'check without expect');
    }
    return { ...(raw as unknown as Attack), sql };
  });
  return { attacks, masking: doc.masking };
}

export interface OrdinaryEntry {
  id: string;
  sql: string;
  /** Policy file: `policies/x.yml` (repository root) or `fixtures/policies/x.yml` (under test/). */
  policy: string;
  role: string;
  source: string;
}

export function loadOrdinary(fixtures: string = FIXTURES): OrdinaryEntry[] {
  const file = join(fixtures, 'ordinary.yml');
  const doc = parse(readFileSync(file, 'utf8')) as { ordinary: OrdinaryEntry[] };
  const seen = new Set<string>();
  for (const e of doc.ordinary) {
    if (seen.has(e.id)) fail(file, e.id, 'duplicate id');
    seen.add(e.id);
    if (typeof e.sql !== 'string' || !e.policy || !e.role || !e.source) fail(file, e.id, 'needs sql, policy, role, source');
  }
  return doc.ordinary;
}
