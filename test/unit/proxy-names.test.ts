// The session's names (src/proxy/names.ts): what EXECUTE / FETCH stand for, and how PREPARE,
// DECLARE, DEALLOCATE, DISCARD and the protocol's Parse / Bind / Close share the server's namespaces.
import { describe, expect, it } from 'vitest';
import { PolicyEngine, type Analyzer } from '../../src/policy/engine.js';
import { parsePolicy } from '../../src/policy/load.js';
import type { StatementDecision } from '../../src/policy/types.js';
import { SessionNames, type Stmt } from '../../src/proxy/names.js';
import type { Access, NamedDefinition } from '../../src/sql/types.js';

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
  'names.yml',
);

const analyzer: Analyzer = {
  analyze: (sql) => [
    { sql, kind: 'execute', accesses: [{ kind: 'execute', object: 'q' }], outputs: null, literalSensitive: false, uses: { namespace: 'prepared', name: 'q' } },
  ],
  shapeKey: (sql) => sql,
};

function decision(accesses: Access[], defines?: NamedDefinition): StatementDecision {
  return { sql: 'x', kind: 'other', decision: 'allow', rule: null, reason: '', accesses, masked: [], defines };
}

function stmt(name: string, sql = 'SELECT 1'): Stmt {
  return { name, sql, decision: undefined, plan: null, path: '["public"]' };
}

describe('SessionNames', () => {
  it('remembers what ran, and EXECUTE is decided by it', () => {
    const names = new SessionNames();
    const e = new PolicyEngine(policy, 'app', { analyzer });
    const lookup = names.lookupDefinition;
    expect(e.decide('EXECUTE q', { definitions: lookup }).statements[0]!.reason).toBe('prepared statement "q" is not defined in this session');
    names.remember(decision([], { namespace: 'prepared', name: 'q', accesses: [{ kind: 'select', object: 'public.t' }], outputs: null }), '["public"]');
    expect(e.decide('EXECUTE q', { definitions: lookup }).decision).toBe('allow');
    expect(names.preparedPath('q')).toBe('["public"]');
    names.remember(decision([], { namespace: 'prepared', name: 'q', accesses: [{ kind: 'delete', object: 'public.t' }], outputs: null }), null);
    expect(e.decide('EXECUTE q', { definitions: lookup }).decision).toBe('deny');
    expect(names.preparedPath('q')).toBeNull();
    names.remember(decision([], { namespace: 'cursor', name: 'c', accesses: [], outputs: null }), undefined);
    expect(lookup('cursor', 'c')).toBeDefined();
    // DEALLOCATE q drops the prepared statement and a cursor of that name alike.
    names.forgetShadowed(decision([{ kind: 'deallocate', object: 'q' }]));
    expect(lookup('prepared', 'q')).toBeUndefined();
    expect(e.decide('EXECUTE q', { definitions: lookup }).statements[0]!.reason).toBe('prepared statement "q" is not defined in this session');
    names.remember(decision([]), '["public"]');
    expect(lookup('prepared', 'q')).toBeUndefined();
  });

  it('one namespace upstream: a protocol Parse replaces a PREPAREd name, a Bind a DECLAREd cursor', () => {
    const names = new SessionNames();
    names.remember(decision([], { namespace: 'prepared', name: 'p', accesses: [], outputs: null }), '["public"]');
    names.remember(decision([], { namespace: 'cursor', name: 'c', accesses: [], outputs: null }), '["public"]');
    expect(names.statementExists('p')).toBe(true);
    const s = stmt('p');
    expect(names.parsed(s)).toBeUndefined();
    expect(names.lookupDefinition('prepared', 'p')).toBeUndefined();
    expect(names.statement('p')).toBe(s);
    names.bound({ name: 'c', stmt: s, formats: [] });
    expect(names.lookupDefinition('cursor', 'c')).toBeUndefined();
    expect(names.portal('c')?.stmt).toBe(s);
    names.closed('P', 'c');
    expect(names.portal('c')).toBeUndefined();
    names.closed('S', 'p');
    expect(names.statement('p')).toBeUndefined();
  });

  it('the unnamed statement never "exists"; a skipped Parse gives the name back what it had', () => {
    const names = new SessionNames();
    const a = stmt('');
    names.parsed(a);
    expect(names.statementExists('')).toBe(false);
    const b = stmt('', 'SELECT 2');
    const prev = names.parsed(b);
    expect(prev).toBe(a);
    names.parseSkipped(b, prev);
    expect(names.statement('')).toBe(a);
    // Only while the name still holds the skipped statement.
    const c = stmt('');
    names.parsed(c);
    names.parseSkipped(b, prev);
    expect(names.statement('')).toBe(c);
    const n = stmt('n');
    names.parsed(n);
    names.parseSkipped(n, undefined);
    expect(names.statement('n')).toBeUndefined();
  });

  it('PREPARE / DECLARE shadow protocol names of theirs; DISCARD ALL forgets every named one', () => {
    const names = new SessionNames();
    names.parsed(stmt('p'));
    names.parsed(stmt(''));
    names.bound({ name: 'c', stmt: stmt('p'), formats: [] });
    names.bound({ name: '', stmt: stmt('p'), formats: [] });
    names.forgetShadowed(decision([], { namespace: 'prepared', name: 'p', accesses: [], outputs: null }));
    expect(names.statement('p')).toBeUndefined();
    names.forgetShadowed(decision([], { namespace: 'cursor', name: 'c', accesses: [], outputs: null }));
    expect(names.portal('c')).toBeUndefined();
    names.parsed(stmt('x'));
    names.remember(decision([], { namespace: 'prepared', name: 'y', accesses: [], outputs: null }), '["public"]');
    names.forgetShadowed(decision([{ kind: 'reset', object: 'all' }]));
    expect(names.statement('x')).toBeUndefined();
    expect(names.lookupDefinition('prepared', 'y')).toBeUndefined();
    expect(names.preparedPath('y')).toBeUndefined();
    // The unnamed statement and portal stay (DISCARD ALL cannot run inside the extended batch that made them).
    expect(names.statement('')).toBeDefined();
    expect(names.portal('')).toBeDefined();
    names.forgetShadowed(undefined);
  });
});
