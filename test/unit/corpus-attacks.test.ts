// Every attack in test/fixtures/attacks.yml gets exactly its expected decision (deny or review) and
// is decided by exactly the expected access, under the attack policy. Masking cases are allowed reads
// whose masked output columns are asserted exactly.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy } from '../../src/policy/load.js';
import { createEngine } from '../../src/policy/sql-analyzer.js';
import type { PolicyEngine } from '../../src/policy/engine.js';
import type { Decision, StatementDecision } from '../../src/policy/types.js';
import { FIXTURES, loadAttacks, type Attack } from '../support/corpus.js';

const { attacks, masking } = loadAttacks();
let engine: PolicyEngine;

beforeAll(async () => {
  engine = await createEngine(loadPolicy(FIXTURES + 'policies/corpus-attacks.yml'), 'ci-readonly');
});

/** The statement that decides the message: the first one whose decision is the message's. */
function decidingStatement(d: Decision): StatementDecision {
  const s = d.statements.find((st) => st.decision === d.decision);
  if (!s) throw new Error(`no statement carries the message decision ${d.decision}`);
  return s;
}

function checkAttack(a: Attack, d: Decision): void {
  expect(d.decision, `${a.id}: ${JSON.stringify(d.statements.map((s) => [s.decision, s.reason]))}`).toBe(a.decision);
  const s = decidingStatement(d);
  if (a.deciding) {
    const got = s.decidingAccess;
    expect(got, `${a.id}: reason ${s.reason}`).toBeDefined();
    const picked: Record<string, unknown> = { kind: got!.kind };
    if (a.deciding.object !== undefined) picked.object = got!.object ?? null;
    expect(picked, `${a.id}: reason ${s.reason}`).toEqual(a.deciding);
    for (const want of a.also ?? []) {
      const found = s.accesses.some((x) => x.kind === want.kind && (want.object === undefined || (x.object ?? null) === want.object));
      expect(found, `${a.id}: access ${JSON.stringify(want)} in ${JSON.stringify(s.accesses)}`).toBe(true);
    }
  } else {
    // Not understood at all: denied with a reason, by no rule and no access.
    expect(s.rule, a.id).toBeNull();
    expect(s.reason, a.id).toMatch(new RegExp(a.reason!, 'i'));
  }
}

describe('attack corpus under test/fixtures/policies/corpus-attacks.yml', () => {
  it('has at least 80 attacks, each with a reason why it is dangerous', () => {
    expect(attacks.length).toBeGreaterThanOrEqual(80);
    const counts = { deny: 0, review: 0 };
    for (const a of attacks) counts[a.decision] += 1;
    console.log(`attack corpus: ${attacks.length} entries (${counts.deny} deny, ${counts.review} review), ${masking.length} masking cases`);
  });

  for (const a of attacks) {
    it(`${a.id}: ${a.decision}`, () => {
      const started = performance.now();
      const d = engine.decide(a.sql);
      // Huge inputs included: a decision, never a hang.
      expect(performance.now() - started, `${a.id}: decide time (ms)`).toBeLessThan(5000);
      checkAttack(a, d);
      // The cached path must give the same answer as the first one.
      checkAttack(a, engine.decide(a.sql));
    });
  }

  for (const m of masking) {
    it(`${m.id}: allowed, masked columns ${JSON.stringify(m.masked)}`, () => {
      const d = engine.decide(m.sql);
      expect(d.decision, m.id).toBe('allow');
      expect(d.statements).toHaveLength(1);
      expect(d.statements[0]!.masked.map((x) => x.index).sort((x, y) => x - y), m.id).toEqual(m.masked);
    });
  }
});
