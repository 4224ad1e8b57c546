// Names cannot collide (issue 8 item 7): parts holding `.`, `"` or `:` are quoted, never by case;
// the analysis, rule globs, masks and literal (exact) rules all compare the same parts.
import { beforeAll, describe, expect, it } from 'vitest';
import { compileNameGlob, namePatternProblem } from '../../src/policy/glob.js';
import { parsePolicy } from '../../src/policy/load.js';
import { createEngine } from '../../src/policy/sql-analyzer.js';
import type { PolicyEngine } from '../../src/policy/engine.js';
import { qualify, quoteName, splitQualified } from '../../src/sql/qualified.js';
import { analyze } from '../../src/sql/analyze.js';
import { initSql } from '../../src/sql/parser.js';

describe('qualified names', () => {
  it('quote only parts with . " or :, never by case', () => {
    expect(qualify('a.b', 'c')).toBe('"a.b".c');
    expect(qualify('a', 'b.c')).toBe('a."b.c"');
    expect(qualify('Users', 'Email')).toBe('Users.Email');
    expect(quoteName('a"b')).toBe('"a""b"');
    expect(quoteName('program:x')).toBe('"program:x"');
    expect(quoteName('')).toBe('');
  });

  it.each([[['a.b', 'c']], [['a', 'b.c']], [['x"y', 'z']], [['"', '.', '""']], [['public', 'users', 'email']], [['a:b', 'c.d', 'e"f']]])('round trip %j', (parts) => {
    expect(splitQualified(qualify(...parts))).toEqual(parts);
  });

  it('splitting is total on text that is not canonical', () => {
    expect(splitQualified('"unterminated.x')).toEqual(['unterminated.x']);
    expect(splitQualified('file:/tmp/x.csv')).toEqual(['file:/tmp/x', 'csv']);
    expect(splitQualified('"a"b.c')).toEqual(['ab', 'c']);
  });
});

describe('name globs', () => {
  it('* stays within a part, dots of a quoted part included; ** crosses parts', () => {
    expect(compileNameGlob('public.*').test('public."a.b"')).toBe(true);
    expect(compileNameGlob('public.*').test('public.a.b')).toBe(false);
    expect(compileNameGlob('public.secret*').test('public."secret.x"')).toBe(true);
    expect(compileNameGlob('"a.b".*').test('"a.b".c')).toBe(true);
    expect(compileNameGlob('"a.b".*').test('a."b.c"')).toBe(false);
    expect(compileNameGlob('a.*').test('"a.b".c')).toBe(false);
    expect(compileNameGlob('a."b.c"').test('"a.b".c')).toBe(false);
    expect(compileNameGlob('**').test('"a.b".c')).toBe(true);
    expect(compileNameGlob('file:/tmp/*.csv').test('file:/tmp/x.csv')).toBe(true);
  });

  it('a literal matches its parts however the policy quotes them', () => {
    const g = compileNameGlob('"public"."users"');
    expect(g.literal).toBe(true);
    expect(g.test('public.users')).toBe(true);
    expect(compileNameGlob('Public.users').test('public.users')).toBe(false);
  });

  it('malformed quoting is refused with a reason', () => {
    expect(namePatternProblem('public."a.b')).toBe('a quoted name part is not closed (write "a.b", with "" for a quote inside)');
    expect(namePatternProblem('"a"b.c')).toBe('a quoted name part must end at a dot (write "a.b".c)');
    expect(namePatternProblem('a"b.c')).toBe('a quote inside a name part: quote the whole part ("a""b")');
    expect(() => parsePolicy('version: 1\nroles:\n  r:\n    match: { repository_owner_id: 1 }\n    postgres:\n      rules:\n        - { action: allow, kinds: [read], objects: [\'public."a.b\'] }\n', 'p.yml')).toThrow(
      'p.yml:7: roles.r.postgres.rules[0].objects[0]: bad glob "public.\\"a.b": a quoted name part is not closed (write "a.b", with "" for a quote inside)',
    );
  });
});

describe('the analysis and the policy', () => {
  beforeAll(async () => {
    await initSql();
  });

  it('"a.b".c and a."b.c" are different accesses; so are their columns', () => {
    expect(analyze('SELECT * FROM "a.b".c')[0]!.accesses).toEqual([{ kind: 'select', object: '"a.b".c' }]);
    expect(analyze('SELECT * FROM a."b.c"')[0]!.accesses).toEqual([{ kind: 'select', object: 'a."b.c"' }]);
    expect(analyze('SELECT "x.y" FROM a."b.c"')[0]!.outputs).toEqual([{ name: 'x.y', sources: ['a."b.c"."x.y"'] }]);
    expect(analyze('SELECT "x.y" FROM t')[0]!.outputs).toEqual([{ name: 'x.y', sources: ['public.t."x.y"'] }]);
    expect(analyze('CREATE TABLE "a.b".c (id int)')[0]!.accesses).toEqual([{ kind: 'create', object: '"a.b".c' }]);
    expect(analyze('SELECT "p.q"."r.s"(1)')[0]!.accesses).toEqual([{ kind: 'call', object: '"p.q"."r.s"' }, { kind: 'select' }]);
    expect(analyze('CREATE SCHEMA "x.y"')[0]!.accesses).toEqual([{ kind: 'create', object: 'schema:"x.y"' }]);
    expect(analyze('DROP TABLE "a.b".c, a."b.c"')[0]!.accesses.map((a) => a.object)).toEqual(['"a.b".c', 'a."b.c"']);
    // Case alone never quotes: names as PostgreSQL folds them.
    expect(analyze('SELECT * FROM "Ab".Cd')[0]!.accesses).toEqual([{ kind: 'select', object: 'Ab.cd' }]);
  });

  let e: PolicyEngine;
  beforeAll(async () => {
    e = await createEngine(
      parsePolicy(
        `version: 1
roles:
  r:
    match: { repository_owner_id: 1 }
    postgres:
      rules:
        - { action: deny,  kinds: [any],  objects: ["public.secret*"] }
        - { action: allow, kinds: [read], objects: ['a."b.c"', "public.*"] }
        - { action: allow, kinds: [call], objects: ['x."f.g"'] }
        - { action: deny,  kinds: [any] }
      masks:
        - { columns: ['a."b.c".email'], strategy: redact }
`,
        'q.yml',
      ),
      'r',
    );
  });

  it('a rule for a."b.c" does not allow "a.b".c', () => {
    expect(e.decide('SELECT * FROM a."b.c"').decision).toBe('allow');
    expect(e.decide('SELECT * FROM "a.b".c').decision).toBe('deny');
  });

  it('a literal (exact) rule for a dotted function name does not allow its look-alike', async () => {
    const calls = await createEngine(
      parsePolicy('version: 1\nroles:\n  r:\n    match: { repository_owner_id: 1 }\n    postgres:\n      rules:\n        - { action: allow, kinds: [select, call], objects: [\'x."f.g"\'] }\n        - { action: deny, kinds: [any] }\n', 'c.yml'),
      'r',
    );
    expect(calls.decide('SELECT x."f.g"()').decision).toBe('allow');
    expect(calls.decide('SELECT "x.f".g()').statements[0]!.reason).toBe('call on "x.f".g denied by roles.r.postgres.rules[1]');
  });

  it('a deny carved by a glob covers dotted names in its part', () => {
    expect(e.decide('SELECT * FROM public."secret.x"').decision).toBe('deny');
    expect(e.decide('SELECT * FROM public."other.x"').decision).toBe('allow');
  });

  it('a mask written with a quoted part covers that column only', () => {
    expect(e.decide('SELECT lower(email) FROM a."b.c"').statements[0]!.masked).toEqual([{ index: 0, name: 'lower', strategy: 'redact', column: 'a."b.c".email' }]);
    expect(e.decide('SELECT lower(email) FROM public."a.b"').statements[0]!.masked).toEqual([]);
  });
});
