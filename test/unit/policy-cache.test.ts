// The decision cache, with a counting stand-in analyzer: exact text first, then shape; never a
// stale entry when a literal changes the accesses, the search path differs, or the session's
// prepared statements differ.
import { describe, expect, it } from 'vitest';
import { PolicyEngine, type Analyzer } from '../../src/policy/engine.js';
import { parsePolicy } from '../../src/policy/load.js';
import type { StatementAnalysis } from '../../src/sql/types.js';

const policy = parsePolicy(
  `version: 1
roles:
  app:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [select], objects: ["public.*"] }
        - { action: allow, kinds: [execute] }
        - { action: deny,  kinds: [any] }
`,
  'cache.yml',
);

/**
 * A stand-in for src/sql: fixed analyses per text, and a shape that replaces numbers and quoted
 * strings (test-only; the real shape comes from PostgreSQL's normaliser).
 */
function fakeAnalyzer(table: (sql: string, searchPath: string[]) => StatementAnalysis[]) {
  const calls = { analyze: 0, shape: 0 };
  const analyzer: Analyzer = {
    analyze(sql, opts) {
      calls.analyze++;
      return table(sql, opts.searchPath ?? ['public']);
    },
    shapeKey(sql) {
      calls.shape++;
      return sql.replace(/'[^']*'|\b\d+\b/g, '$n');
    },
  };
  return { analyzer, calls };
}

const select = (sql: string, object = 'public.t', literalSensitive = false): StatementAnalysis => ({
  sql,
  kind: 'select',
  accesses: [{ kind: 'select', object }],
  outputs: null,
  literalSensitive,
});

describe('decision cache', () => {
  it('exact text: the second decision is the cached one, without analysing', () => {
    const { analyzer, calls } = fakeAnalyzer((sql) => [select(sql)]);
    const e = new PolicyEngine(policy, 'app', { analyzer });
    const a = e.decide('SELECT * FROM t');
    const b = e.decide('SELECT * FROM t');
    expect(b).toBe(a);
    expect(calls.analyze).toBe(1);
    expect(e.cacheStats()).toMatchObject({ exactHits: 1, shapeHits: 0, misses: 1 });
    expect(Object.isFrozen(a) && Object.isFrozen(a.statements[0]) && Object.isFrozen(a.statements[0]!.accesses)).toBe(true);
  });

  it('same shape, other literal: decided from the shape, with its own text', () => {
    const { analyzer, calls } = fakeAnalyzer((sql) => [select(sql)]);
    const e = new PolicyEngine(policy, 'app', { analyzer });
    e.decide('SELECT * FROM t WHERE id = 1');
    const b = e.decide('SELECT * FROM t WHERE id = 2');
    expect(calls.analyze).toBe(1);
    expect(b).toMatchObject({ decision: 'allow', statements: [{ sql: 'SELECT * FROM t WHERE id = 2', rule: 'roles.app.postgres.rules[0]' }] });
    expect(e.cacheStats()).toMatchObject({ exactHits: 0, shapeHits: 1, misses: 1 });
  });

  it('the statement text on a shape hit follows how the analysis trims it', () => {
    const { analyzer } = fakeAnalyzer((sql) => [select(sql.replace(/[\s;]+$/, '').trim())]);
    const e = new PolicyEngine(policy, 'app', { analyzer });
    expect(e.decide('  SELECT 1 ; ').statements[0]!.sql).toBe('SELECT 1');
    expect(e.decide('  SELECT 2 ; ').statements[0]!.sql).toBe('SELECT 2');
    expect(e.cacheStats().shapeHits).toBe(1);
  });

  it('a literal that changes the accesses (literalSensitive) is never served from the shape', () => {
    // set_config('application_name', …) is harmless; set_config('role', …) switches role.
    const { analyzer, calls } = fakeAnalyzer((sql) =>
      sql.includes("'role'")
        ? [{ sql, kind: 'select', accesses: [{ kind: 'set', object: 'role', exact: true }], outputs: null, literalSensitive: true }]
        : [{ sql, kind: 'select', accesses: [{ kind: 'set', object: 'application_name' }], outputs: null, literalSensitive: true }],
    );
    const e = new PolicyEngine(policy, 'app', { analyzer });
    expect(e.decide("SELECT set_config('application_name', 'x', false)").decision).toBe('allow');
    expect(e.decide("SELECT set_config('role', 'x', false)").decision).toBe('deny');
    expect(calls.analyze).toBe(2);
    expect(e.cacheStats()).toMatchObject({ shapeHits: 0, shapeSize: 0, exactSize: 2 });
  });

  it('the search path is part of every key', () => {
    const { analyzer, calls } = fakeAnalyzer((sql, path) => [select(sql, `${path[0]}.t`)]);
    const e = new PolicyEngine(policy, 'app', { analyzer });
    expect(e.decide('SELECT * FROM t', { searchPath: ['public'] }).decision).toBe('allow');
    expect(e.decide('SELECT * FROM t', { searchPath: ['private'] }).decision).toBe('deny');
    expect(e.decide('SELECT * FROM t WHERE a = 1', { searchPath: ['public'] }).decision).toBe('allow');
    expect(e.decide('SELECT * FROM t WHERE a = 2', { searchPath: ['private'] }).decision).toBe('deny');
    expect(e.decide('SELECT * FROM t', { searchPath: ['public', 'x'] }).statements[0]!.accesses).toEqual([{ kind: 'select', object: 'public.t' }]);
    expect(calls.analyze).toBe(5);
    // An empty search path is not the default one.
    e.decide('SELECT * FROM t', { searchPath: [] });
    expect(calls.analyze).toBe(6);
    e.decide('SELECT * FROM t');
    expect(calls.analyze).toBe(7);
    // Elements are not joined ambiguously.
    e.decide('SELECT * FROM t', { searchPath: ['a,b'] });
    e.decide('SELECT * FROM t', { searchPath: ['a', 'b'] });
    expect(calls.analyze).toBe(9);
  });

  it('a message of several statements is cached by its exact text only', () => {
    const { analyzer, calls } = fakeAnalyzer((sql) => sql.split(';').map((s) => select(s.trim())));
    const e = new PolicyEngine(policy, 'app', { analyzer });
    e.decide('SELECT 1; SELECT 2');
    const b = e.decide('SELECT 3; SELECT 4');
    expect(b.statements.map((s) => s.sql)).toEqual(['SELECT 3', 'SELECT 4']);
    expect(calls.analyze).toBe(2);
    e.decide('SELECT 3; SELECT 4');
    expect(calls.analyze).toBe(2);
  });

  it('an analyzer failure denies and is not cached', () => {
    let fail = true;
    const analyzer: Analyzer = {
      analyze: (sql) => {
        if (fail) throw new Error('wasm trap');
        return [select(sql)];
      },
      shapeKey: () => {
        throw new Error('no shape');
      },
    };
    const e = new PolicyEngine(policy, 'app', { analyzer });
    expect(e.decide('SELECT * FROM t')).toMatchObject({
      decision: 'deny',
      statements: [{ decision: 'deny', rule: null, reason: 'the statement could not be analysed: wasm trap' }],
    });
    fail = false;
    expect(e.decide('SELECT * FROM t').decision).toBe('allow');
  });

  it('is bounded: the least recently used entry goes first', () => {
    const { analyzer, calls } = fakeAnalyzer((sql) => [select(sql)]);
    analyzer.shapeKey = () => null; // exact level only
    const e = new PolicyEngine(policy, 'app', { analyzer, cacheSize: 2 });
    e.decide('SELECT a FROM t');
    e.decide('SELECT b FROM t');
    e.decide('SELECT a FROM t'); // a is now the most recent
    e.decide('SELECT c FROM t'); // evicts b
    expect(e.cacheStats()).toMatchObject({ exactSize: 2, shapeSize: 0 });
    e.decide('SELECT a FROM t');
    expect(calls.analyze).toBe(3);
    e.decide('SELECT b FROM t');
    expect(calls.analyze).toBe(4);
  });

  it('EXECUTE with session definitions is re-decided against the session each time', () => {
    const { analyzer, calls } = fakeAnalyzer((sql) => [
      { sql, kind: 'execute', accesses: [{ kind: 'execute', object: 'q' }], outputs: null, literalSensitive: false, uses: { namespace: 'prepared', name: 'q' } },
    ]);
    const e = new PolicyEngine(policy, 'app', { analyzer });
    const reads = () => ({ namespace: 'prepared' as const, name: 'q', accesses: [{ kind: 'select' as const, object: 'public.t' }], outputs: null });
    const deletes = () => ({ namespace: 'prepared' as const, name: 'q', accesses: [{ kind: 'delete' as const, object: 'public.t' }], outputs: null });
    expect(e.decide('EXECUTE q', { definitions: reads }).decision).toBe('allow');
    expect(e.decide('EXECUTE q', { definitions: deletes }).decision).toBe('deny');
    expect(e.decide('EXECUTE q(1)', { definitions: reads }).decision).toBe('allow');
    expect(e.decide('EXECUTE q(2)', { definitions: deletes }).decision).toBe('deny');
    expect(e.decide('EXECUTE q', { definitions: () => undefined }).decision).toBe('deny');
    expect(e.decide('EXECUTE q').decision).toBe('allow');
    expect(calls.analyze).toBe(2);
  });

  it('the cache can be cleared', () => {
    const { analyzer, calls } = fakeAnalyzer((sql) => [select(sql)]);
    const e = new PolicyEngine(policy, 'app', { analyzer });
    e.decide('SELECT 1');
    e.clearCache();
    e.decide('SELECT 1');
    expect(calls.analyze).toBe(2);
  });
});
