import { describe, expect, it } from 'vitest';
import { loadPolicy, parsePolicy } from '../../src/policy/load.js';
import { PolicyEngine, type Analyzer } from '../../src/policy/engine.js';
import type { StatementAnalysis } from '../../src/sql/types.js';

const table: Record<string, StatementAnalysis[]> = {
  'SELECT email FROM users': [
    { sql: 'SELECT email FROM users', kind: 'select', accesses: [{ kind: 'select', object: 'public.users' }], outputs: [{ name: 'email', sources: ['public.users.email'] }], literalSensitive: false },
  ],
};
const fake: Analyzer = { analyze: (sql) => table[sql] ?? [], shapeKey: () => null };

describe('smoke', () => {
  it('loads and decides', () => {
    const p = loadPolicy('policies/demo.yml');
    const e = new PolicyEngine(p, 'demo', { analyzer: fake });
    const d = e.decide('SELECT email FROM users');
    expect(d.decision).toBe('allow');
    expect(d.statements[0]!.masked).toEqual([{ index: 0, name: 'email', strategy: 'partial', column: 'public.users.email' }]);
    loadPolicy('policies/readonly.yml');
    loadPolicy('policies/migrations.yml');
  });
  it('errors', () => {
    const bad = 'version: 1\nroles:\n  ci:\n    match: { repository: acme/* }\n    postgres:\n      rules:\n        - { action: allow, kinds: [read] }\n        - { action: permit, kinds: [read] }\n';
    expect(() => parsePolicy(bad, 'policies/x.yml')).toThrow('policies/x.yml:8: roles.ci.postgres.rules[1].action: expected one of allow, deny, review, got "permit"');
  });
});
