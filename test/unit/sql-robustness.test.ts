import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initSql, parseSql } from '../../src/sql/parser.js';
import { analyze } from '../../src/sql/analyze.js';
import { Walker } from '../../src/sql/walk.js';
import { AnalysisError } from '../../src/sql/errors.js';
import { REGRESS_DIR } from '../support/regress.js';

beforeAll(async () => {
  await initSql();
});

const CORPUS = REGRESS_DIR;

/** Statements of a regression file: psql meta-commands and COPY data stripped, split after `;` lines. */
function statements(text: string): string[] {
  const out: string[] = [];
  let buf = '';
  let inCopy = false;
  for (const line of text.split('\n')) {
    if (inCopy) {
      if (line.startsWith('\\.')) inCopy = false;
      continue;
    }
    if (line.startsWith('\\')) continue;
    buf += line + '\n';
    if (/^copy\b.*\bfrom\s+stdin/i.test(line) && line.trimEnd().endsWith(';')) inCopy = true;
    if (line.trimEnd().endsWith(';')) {
      out.push(buf);
      buf = '';
    }
  }
  return out;
}

describe('odd input never throws', () => {
  it('deep nesting, long lists, many statements, binary junk', () => {
    const cases = [
      'SELECT ' + '('.repeat(3000) + '1' + ')'.repeat(3000),
      'SELECT ' + 'ARRAY['.repeat(500) + '1' + ']'.repeat(500),
      'SELECT 1 WHERE 1 IN (' + Array.from({ length: 20000 }, (_, i) => i).join(',') + ')',
      'SELECT 1;'.repeat(5000),
      'SELECT * FROM ' + Array.from({ length: 300 }, (_, i) => `t${i}`).join(' JOIN ') + ' ON true'.repeat(299),
      'SELECT (SELECT (SELECT (SELECT (SELECT 1 FROM a) FROM b) FROM c) FROM d) FROM e',
      '\u0000\u0001\u0002',
      '\uD800',
      ';;;',
      '-- only a comment',
    ];
    for (const sql of cases) {
      const r = analyze(sql);
      expect(Array.isArray(r)).toBe(true);
      for (const s of r) expect(s.error !== undefined || s.accesses.length > 0).toBe(true);
    }
  });
  it('long but ordinary chains are analysed', () => {
    const union = analyze('SELECT a FROM t' + ' UNION SELECT a FROM t'.repeat(1000))[0]!;
    expect([union.error, union.accesses]).toEqual([undefined, [{ kind: 'select', object: 'public.t' }]]);
    const plus = analyze('SELECT ' + Array.from({ length: 1000 }, (_, i) => `a${i}`).join(' + ') + ' FROM t')[0]!;
    expect([plus.error, plus.accesses]).toEqual([undefined, [{ kind: 'select', object: 'public.t' }]]);
    expect(plus.outputs![0]!.sources).toHaveLength(1000);
  });
  it('nesting beyond the parser or the walk is denied with a reason', () => {
    for (const sql of ['SELECT a FROM t' + ' UNION SELECT a FROM t'.repeat(4000), 'SELECT ' + '(SELECT '.repeat(1000) + '1' + ')'.repeat(1000)]) {
      const r = analyze(sql);
      expect(r).toHaveLength(1);
      expect(r[0]!.error).toMatch(/nested too deeply|too deeply nested|stack/);
      expect(r[0]!.accesses).toEqual([]);
    }
    const r = analyze('SELECT ' + '('.repeat(100000) + '1' + ')'.repeat(100000));
    expect(r).toHaveLength(1);
    expect(r[0]!.error).toBeTruthy();
    expect(r[0]!.accesses).toEqual([]);
  });
});

describe('PostgreSQL regression SQL (a sample of files)', () => {
  it('every statement the parser accepts gets accesses or a reason, none throws', () => {
    const files = readdirSync(CORPUS).filter((f) => f.endsWith('.sql')).sort().filter((_, i) => i % 8 === 0);
    let parsed = 0;
    let decided = 0;
    const errors: string[] = [];
    for (const f of files) {
      for (const sql of statements(readFileSync(join(CORPUS, f), 'utf8'))) {
        try {
          parseSql(sql);
        } catch {
          continue;
        }
        parsed++;
        for (const s of analyze(sql)) {
          if (s.error) errors.push(`${f}: ${s.error}`);
          else {
            expect(s.accesses.length).toBeGreaterThan(0);
            decided++;
          }
        }
      }
    }
    expect(files.length).toBeGreaterThan(20);
    expect(parsed).toBeGreaterThan(3000);
    // Known, deliberate refusals only (computed set_config names; non-UTF8 client_encoding).
    for (const e of errors) expect(e).toMatch(/set_config with a setting name|client_encoding|search_path to a value/);
    expect(decided).toBeGreaterThan(parsed * 0.99);
  });
});

describe('fail closed on what was never reviewed', () => {
  it('an unknown statement type is an error naming it', () => {
    expect(() => new Walker(['public']).statement({ FrobnicateStmt: {} }, null)).toThrow(new AnalysisError('unsupported statement FrobnicateStmt'));
  });
  it('an unknown expression node is an error naming it', () => {
    const tree = { SelectStmt: { targetList: [{ ResTarget: { val: { Var: { varno: 1 } } } }], op: 'SETOP_NONE' } };
    expect(() => new Walker(['public']).statement(tree, null)).toThrow(new AnalysisError('unsupported node Var'));
  });
  it('an unknown FROM item is an error naming it', () => {
    const tree = { SelectStmt: { fromClause: [{ RangeTblRef: { rtindex: 1 } }], op: 'SETOP_NONE' } };
    expect(() => new Walker(['public']).statement(tree, null)).toThrow(new AnalysisError('unsupported FROM item RangeTblRef'));
  });
  it('analyze() turns such errors into a denied statement, never an exception', () => {
    // Not text at all: a caller bug, still no exception.
    const r = analyze(42 as unknown as string);
    expect(r).toEqual([{ sql: '', kind: 'other', accesses: [], outputs: null, error: 'statement is not text', literalSensitive: false }]);
    const p = analyze('SELECT 1', { searchPath: [''] });
    expect(p.map((x) => [x.error, x.accesses])).toEqual([['search path is not a list of schema names', []]]);
  });
});


describe('every statement type of the grammar is reviewed', () => {
  it('each *Stmt node of libpg-query 18 has a handler (or is deliberately refused)', () => {
    const types = readFileSync(new URL('../../node_modules/@pgsql/types/types.d.ts', import.meta.url), 'utf8');
    const start = types.indexOf('export type Node =');
    const union = types.slice(start, types.indexOf('export ', start + 1));
    const names = [...union.matchAll(/^\s+(\w+Stmt):/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(100);
    // Never a statement of plain SQL text: PL/pgSQL assignment, the analyser's set operation node, the
    // parser's wrapper, and REPLICA IDENTITY (only inside ALTER TABLE, walked there).
    const refused = new Set(['PLAssignStmt', 'SetOperationStmt', 'RawStmt', 'ReplicaIdentityStmt']);
    const unhandled: string[] = [];
    for (const t of names) {
      try {
        new Walker(['public']).statement({ [t]: {} }, null);
      } catch (err) {
        // An empty body may be refused for what it lacks, but always as an AnalysisError.
        expect([t, err instanceof AnalysisError]).toEqual([t, true]);
        if ((err as Error).message === `unsupported statement ${t}`) unhandled.push(t);
      }
    }
    expect(unhandled.sort()).toEqual([...refused].sort());
  });
});
