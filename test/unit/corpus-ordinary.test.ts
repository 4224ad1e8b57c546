// Every statement in test/fixtures/ordinary.yml (what psql, pg_dump, drivers, ORMs and migration
// tools send) is allowed by the policy role the entry names, and the same again from the cache.
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy } from '../../src/policy/load.js';
import { createEngine } from '../../src/policy/sql-analyzer.js';
import type { PolicyEngine } from '../../src/policy/engine.js';
import { loadOrdinary, type OrdinaryEntry } from '../support/corpus.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TEST = fileURLToPath(new URL('../', import.meta.url));

const entries = loadOrdinary();
const engines = new Map<string, PolicyEngine>();

function policyPath(e: OrdinaryEntry): string {
  if (e.policy.startsWith('policies/')) return ROOT + e.policy;
  if (e.policy.startsWith('fixtures/')) return TEST + e.policy;
  throw new Error(`${e.id}: policy must start with policies/ or fixtures/, got ${e.policy}`);
}

const key = (e: OrdinaryEntry): string => `${policyPath(e)}#${e.role}`;

beforeAll(async () => {
  for (const e of entries) {
    if (!engines.has(key(e))) engines.set(key(e), await createEngine(loadPolicy(policyPath(e)), e.role));
  }
});

describe('ordinary corpus: what real tools send is allowed', () => {
  it('has at least 80 statements from several tools', () => {
    expect(entries.length).toBeGreaterThanOrEqual(80);
    const bySource = new Map<string, number>();
    for (const e of entries) {
      const tool = e.id.split('-')[0]!;
      bySource.set(tool, (bySource.get(tool) ?? 0) + 1);
    }
    console.log(`ordinary corpus: ${entries.length} statements`, Object.fromEntries(bySource));
    expect(bySource.get('psql')).toBeGreaterThanOrEqual(20);
    expect(bySource.get('pg')).toBeGreaterThanOrEqual(20);
  });

  for (const e of entries) {
    it(`${e.id} (${e.role})`, () => {
      const engine = engines.get(key(e))!;
      for (const round of ['first', 'cached']) {
        const d = engine.decide(e.sql);
        const why = d.statements.map((s) => `${s.decision}: ${s.reason}`).join(' | ');
        expect(d.decision, `${e.id} ${round}: ${why}`).toBe('allow');
        for (const s of d.statements) expect(s.accesses.length, `${e.id}: accesses`).toBeGreaterThan(0);
      }
    });
  }
});
