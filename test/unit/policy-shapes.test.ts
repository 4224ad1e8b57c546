// The engine's shape cache hands each statement it decides PostgreSQL's normalised text of that
// statement (`shape`), and the audit log redacts by it. The shape handed out must be exactly what the
// normaliser gives for the statement's own text, for every statement served from the same entry.
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/load.js';
import { createEngine } from '../../src/policy/sql-analyzer.js';
import { normalizeSql } from '../../src/sql/parser.js';
import { redactLiterals, redactNormalized } from '../../src/sql/shape.js';
import type { Policy } from '../../src/policy/compile.js';
import type { PolicyEngine } from '../../src/policy/engine.js';

let engine: PolicyEngine;
let policy: Policy;

beforeAll(async () => {
  policy = parsePolicy(
    ['version: 1', 'roles:', '  r:', '    match: { repository: "*" }', '    postgres:', '      rules:', '        - { action: allow, kinds: [read], objects: ["*"] }', ''].join('\n'),
    'memo.yml',
  );
  engine = await createEngine(policy, 'r');
});

describe('statement shapes from the decision cache', () => {
  it('each statement served from a shape entry carries its own text and the normaliser shape of that text', async () => {
    const messages = [
      ['  SELECT abalance FROM pgbench_accounts WHERE aid = 4711 ;  ', '  SELECT abalance FROM pgbench_accounts WHERE aid = 12 ;  '],
      ["SELECT 'x;y', 2.5 FROM t WHERE a = E'\\\\';", "SELECT 'other', 7.25 FROM t WHERE a = E'z';"],
      ['SELECT 1 -- trailing comment;\n;', 'SELECT 2 -- trailing comment;\n;'],
    ];
    let served = 0;
    for (const [first, second] of messages) {
      engine.decide(first!);
      const hits = engine.cacheStats().shapeHits;
      const s = engine.decide(second!).statements[0]!;
      // The same text as the analysis itself gives the statement (a fresh engine has no cache).
      const fresh = await createEngine(policy, 'r');
      expect(s.sql).toBe(fresh.decide(second!).statements[0]!.sql);
      if (engine.cacheStats().shapeHits === hits) {
        // A statement whose text is not the message trimmed (the final `;` is inside a comment
        // here) is never served from a shape: it is analysed, and brings no shape.
        expect(second).toContain('comment');
        expect(s.shape).toBeUndefined();
        continue;
      }
      served++;
      expect(s.shape).toBe(normalizeSql(s.sql));
      expect(redactNormalized(s.shape!)).toBe(redactLiterals(s.sql));
    }
    expect(served).toBe(2);
  });

  it('texts that differ only in literals are not remembered one by one', () => {
    const before = engine.cacheStats().exactSize;
    for (let i = 0; i < 50; i++) engine.decide(`SELECT abalance FROM pgbench_accounts WHERE aid = ${1000 + i}`);
    expect(engine.cacheStats().exactSize).toBe(before + 1);
  });
});
