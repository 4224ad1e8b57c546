// The search-path tracker (src/proxy/search-path.ts), without sockets: which statements make the
// proxy read the path again, which path a statement of a message was decided under, and when a
// message must be decided under every schema the session has used.
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/load.js';
import { createEngine } from '../../src/policy/sql-analyzer.js';
import type { PolicyEngine } from '../../src/policy/engine.js';
import type { StatementDecision } from '../../src/policy/types.js';
import { keepsPath, mayMovePath, pathKey, preparedElsewhere, SearchPath, setsPath } from '../../src/proxy/search-path.js';

let engine: PolicyEngine;
beforeAll(async () => {
  const policy = parsePolicy(
    `version: 1
roles:
  app:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [any] }
`,
    'path.yml',
  );
  engine = await createEngine(policy, 'app');
});

function st(sql: string, searchPath = ['public']): StatementDecision[] {
  return engine.decide(sql, { searchPath }).statements;
}
function one(sql: string): StatementDecision {
  return st(sql)[0]!;
}

describe('SearchPath', () => {
  it('starts at the pinned path, and quotes it for the startup parameter', () => {
    const p = new SearchPath(['public', 'My "App"']);
    expect(p.current).toEqual(['public', 'My "App"']);
    expect(p.startupValue).toBe('"public", "My ""App"""');
    expect(p.key()).toBe(pathKey(['public', 'My "App"']));
    expect(p.needsLookup).toBe(false);
    expect(new SearchPath().current).toEqual(['public']);
  });

  it('needs a lookup only once something set the path and something may have moved it since', () => {
    const p = new SearchPath();
    p.noteStatement(one('ROLLBACK'));
    expect(p.needsLookup).toBe(false); // never set: RESET/ROLLBACK return to the pinned path
    p.noteStatement(one('SET search_path = app, public'));
    expect(p.needsLookup).toBe(true);
    p.looked(['app', 'public']);
    expect(p.needsLookup).toBe(false);
    expect(p.current).toEqual(['app', 'public']);
    p.noteStatement(one('SELECT 1'));
    expect(p.needsLookup).toBe(false);
    p.noteStatement(one('BEGIN'));
    expect(p.needsLookup).toBe(false);
    p.noteStatement(one('ROLLBACK TO SAVEPOINT a'));
    expect(p.needsLookup).toBe(true);
    p.looked(['public']);
    p.noteStatement(undefined);
    expect(p.needsLookup).toBe(false);
  });

  it('a transaction that ends (T or E to I) makes the path stale once it was set; BEGIN does not', () => {
    const p = new SearchPath();
    p.transactionStatus('T', 'I');
    expect(p.needsLookup).toBe(false);
    p.noteStatement(one('SET LOCAL search_path = app'));
    p.looked(['app']);
    p.transactionStatus('I', 'T');
    expect(p.needsLookup).toBe(false);
    p.transactionStatus('E', 'I');
    expect(p.needsLookup).toBe(true);
  });

  it('the path of statement i of a message is unknown once an earlier one may move it', () => {
    const p = new SearchPath();
    const msg = st('SELECT 1; SET search_path = app; SELECT 2');
    expect(p.at(msg, 0)).toBe('["public"]');
    expect(p.at(msg, 1)).toBe('["public"]');
    expect(p.at(msg, 2)).toBeNull();
  });

  it('a message that may move the path is decided again under every schema the session has used', () => {
    const p = new SearchPath();
    expect(p.widenFor({ decision: 'allow', statements: st('SELECT 1') })).toBeNull();
    expect(p.widenFor({ decision: 'allow', statements: st('ROLLBACK; SELECT 1') })).toBeNull(); // nothing else used yet
    const sql = "BEGIN; SET LOCAL search_path = other; SAVEPOINT a; SET LOCAL search_path = app; ROLLBACK TO a; SELECT * FROM t";
    p.noteNamed(sql, st(sql));
    expect(p.widenFor({ decision: 'allow', statements: st('ROLLBACK TO a; SELECT * FROM t') })).toEqual(['public', 'other', 'app']);
    p.looked(['app', 'pg_catalog']);
    expect(p.widenFor({ decision: 'allow', statements: st('ROLLBACK; SELECT 1') })).toEqual(['app', 'public', 'other', 'pg_catalog']);
  });

  it('denies a message that sets the path then resets it, or calls a function, before more statements', () => {
    const p = new SearchPath();
    expect(p.widenFor({ decision: 'allow', statements: st('SET search_path = app; RESET ALL; SELECT 1') })).toEqual({
      deny: 'this message sets the search path and then resets it (RESET ALL, DISCARD, SET … FROM CURRENT) before more statements; send them as separate messages',
    });
    expect(p.widenFor({ decision: 'allow', statements: st('SELECT app.f(); SELECT 1') })).toEqual({
      deny: 'a function or DO block in this message may change the search path before the statements after it; send them as separate messages',
    });
  });

  it('noteNamed ignores messages that do not set the path', () => {
    const p = new SearchPath();
    p.noteNamed('SELECT 1', st('SELECT 1'));
    expect(p.widenFor({ decision: 'allow', statements: st('ROLLBACK; SELECT 1') })).toBeNull();
  });
});

describe('search-path predicates', () => {
  it('setsPath: SET/RESET of the path or the role, set_config, user functions, DO', () => {
    expect(setsPath(one('SET search_path = a'))).toBe(true);
    expect(setsPath(one('RESET search_path'))).toBe(true);
    expect(setsPath(one('SET ROLE r'))).toBe(true);
    expect(setsPath(one("SELECT set_config('search_path', 'a', false)"))).toBe(true);
    expect(setsPath(one('SELECT app.f()'))).toBe(true);
    expect(setsPath(one('DO $$ BEGIN END $$'))).toBe(true);
    expect(setsPath(one('SET application_name = x'))).toBe(false);
    expect(setsPath(one('SELECT lower(name) FROM t'))).toBe(false);
  });

  it('mayMovePath: transaction ends, RESET, DISCARD, DDL; not BEGIN, SAVEPOINT, RELEASE', () => {
    for (const sql of ['COMMIT', 'ROLLBACK', 'ROLLBACK TO SAVEPOINT a', 'COMMIT AND CHAIN', 'RESET ALL', 'DISCARD ALL', 'CREATE SCHEMA s', 'ALTER SCHEMA s RENAME TO t', 'DROP SCHEMA s']) {
      expect(mayMovePath(one(sql)), sql).toBe(true);
    }
    for (const sql of ['BEGIN', 'START TRANSACTION', 'SAVEPOINT a', 'RELEASE a', 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'SELECT 1']) {
      expect(mayMovePath(one(sql)), sql).toBe(false);
    }
  });

  it('keepsPath reads past comments and refuses AND CHAIN', () => {
    expect(keepsPath('/* x */ -- y\n begin')).toBe(true);
    expect(keepsPath('BEGIN AND CHAIN')).toBe(false);
    expect(keepsPath('commit')).toBe(false);
  });

  it('preparedElsewhere refuses another or an unknown path', () => {
    expect(preparedElsewhere('p', '["public"]', '["public"]')).toBeNull();
    const r = preparedElsewhere('p', '["app"]', '["public"]')!;
    expect(r.code).toBe('42501');
    expect(r.message).toBe('tollgate: denied: prepared statement "p" was prepared under another search_path');
    expect(preparedElsewhere('p', null, '["public"]')).not.toBeNull();
    expect(preparedElsewhere('p', undefined, '["public"]')).not.toBeNull();
    expect(preparedElsewhere('p', '["public"]', null)).not.toBeNull();
  });
});
