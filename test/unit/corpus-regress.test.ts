// PostgreSQL 17's own regression SQL (~44,000 statements nobody here wrote) through the analysis and
// the engine, under an allow-everything policy and under policies/readonly.yml:
//  - no crash and no hang (every decision within a time bound, the whole run within the test timeout);
//  - every statement PostgreSQL's parser accepts gets a decision with accesses, or an explicit
//    analysis error (denied; counted, listed, and bounded by MAX_ANALYSIS_ERRORS);
//  - every statement the parser rejects is denied;
//  - under allow-everything, a deny of an understood statement comes only from a dangerous access
//    that needs an exact rule;
//  - nothing that writes, changes the schema, runs code or changes the session is allowed by readonly.yml.
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { HARMLESS_SETTINGS } from '../../src/policy/decide.js';
import { loadPolicy } from '../../src/policy/load.js';
import { createEngine } from '../../src/policy/sql-analyzer.js';
import type { PolicyEngine } from '../../src/policy/engine.js';
import type { Decision } from '../../src/policy/types.js';
import type { Access } from '../../src/sql/types.js';
import { FIXTURES } from '../support/corpus.js';
import { loadRegressCorpus, type RegressStatement } from '../support/regress.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Parsed statements the analysis may fail on (each is denied); above this the test fails. */
const MAX_ANALYSIS_ERRORS = 25;
/** No single decision may take longer than this (ms): a hang is a failure, not a slow pass (the slowest
 * takes ~40 ms; the bound leaves room for a loaded CI machine). */
const MAX_DECIDE_MS = 10_000;

/** What a read-only role may be allowed to do at all. */
function isReadOnly(a: Access): boolean {
  if (a.exact) return false;
  if (a.kind === 'select' || a.kind === 'show' || a.kind === 'explain' || a.kind === 'transaction') return true;
  if ((a.kind === 'set' || a.kind === 'reset') && a.object !== undefined) return HARMLESS_SETTINGS.has(a.object);
  return false;
}

interface Counts {
  statements: number;
  parsed: number;
  rejectedByParser: number;
  decided: number;
  allowed: number;
  reviewed: number;
  denied: number;
  deniedByAnalysisError: number;
  slowest_ms: number;
}

let corpus: RegressStatement[] = [];

function run(engine: PolicyEngine, check: (s: RegressStatement, d: Decision) => void): { counts: Counts; errors: RegressStatement[] } {
  const counts: Counts = {
    statements: corpus.length, parsed: 0, rejectedByParser: 0, decided: 0,
    allowed: 0, reviewed: 0, denied: 0, deniedByAnalysisError: 0, slowest_ms: 0,
  };
  const errors: RegressStatement[] = [];
  for (const s of corpus) {
    const started = performance.now();
    const d = engine.decide(s.sql);
    const ms = performance.now() - started;
    counts.slowest_ms = Math.max(counts.slowest_ms, Math.round(ms));
    if (ms > MAX_DECIDE_MS) throw new Error(`${s.file}: deciding took ${Math.round(ms)} ms: ${s.sql.slice(0, 200)}`);
    counts.decided += 1;
    if (d.decision === 'allow') counts.allowed += 1;
    else if (d.decision === 'review') counts.reviewed += 1;
    else counts.denied += 1;
    if (!s.parsed) {
      counts.rejectedByParser += 1;
      if (d.decision !== 'deny') throw new Error(`${s.file}: rejected by the parser but ${d.decision}: ${s.sql.slice(0, 200)}`);
      continue;
    }
    counts.parsed += 1;
    // The parser gave this text as one statement; the analysis must see exactly one too.
    if (d.statements.length !== 1) throw new Error(`${s.file}: ${d.statements.length} statements decided for one: ${s.sql.slice(0, 200)}`);
    if (d.statements.some((st) => st.accesses.length === 0)) {
      if (d.decision !== 'deny') throw new Error(`${s.file}: no accesses but ${d.decision}: ${s.sql.slice(0, 200)}`);
      counts.deniedByAnalysisError += 1;
      errors.push(s);
      continue;
    }
    check(s, d);
  }
  return { counts, errors };
}

beforeAll(async () => {
  corpus = await loadRegressCorpus();
});

describe('PostgreSQL 17 regression corpus', () => {
  it('splits into about 44,000 statements, about 43,000 of which the parser accepts', () => {
    const parsed = corpus.filter((s) => s.parsed).length;
    expect(corpus.length).toBeGreaterThan(40_000);
    expect(parsed).toBeGreaterThan(40_000);
    expect(corpus.length - parsed).toBeLessThan(1_000);
  });

  it('allow-everything policy: every parsed statement decided with accesses; denies only for exact rules', async () => {
    const engine = await createEngine(loadPolicy(FIXTURES + 'policies/corpus-allow-all.yml'), 'everything');
    const { counts, errors } = run(engine, (s, d) => {
      if (d.decision === 'allow') return;
      // Allow-everything has no exact rule: only a dangerous access may be denied under it.
      for (const st of d.statements) {
        if (st.decision === 'allow') continue;
        if (!st.decidingAccess?.exact) {
          throw new Error(`${s.file}: ${st.decision} without a dangerous access (${st.reason}): ${s.sql.slice(0, 200)}`);
        }
      }
    });
    console.log('regress corpus, allow-everything:', JSON.stringify(counts));
    if (errors.length) {
      console.log(`analysis errors (denied), ${errors.length}:\n` + errors.map((e) => `  ${e.file}: ${e.sql.replace(/\s+/g, ' ').slice(0, 160)}`).join('\n'));
    }
    expect(counts.decided).toBe(counts.statements);
    expect(counts.parsed + counts.rejectedByParser).toBe(counts.statements);
    expect(counts.deniedByAnalysisError).toBeLessThanOrEqual(MAX_ANALYSIS_ERRORS);
  }, 120_000);

  it('policies/readonly.yml: nothing that writes, changes the schema, runs code or changes the session is allowed', async () => {
    const engine = await createEngine(loadPolicy(ROOT + 'policies/readonly.yml'), 'readonly');
    const leaks: string[] = [];
    const { counts } = run(engine, (s, d) => {
      if (d.decision !== 'allow') return;
      for (const st of d.statements) {
        const bad = st.accesses.filter((a) => !isReadOnly(a));
        if (bad.length) leaks.push(`${s.file}: ${JSON.stringify(bad)}: ${s.sql.replace(/\s+/g, ' ').slice(0, 160)}`);
      }
    });
    console.log('regress corpus, readonly.yml:', JSON.stringify(counts));
    expect(leaks, leaks.slice(0, 20).join('\n')).toEqual([]);
    expect(counts.decided).toBe(counts.statements);
    // The read-only role allows reads, so it must allow some of them (a test that denies all proves nothing).
    expect(counts.allowed).toBeGreaterThan(1_000);
  }, 120_000);
});
