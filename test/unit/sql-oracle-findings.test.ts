// Accesses the oracle (test/oracle, `npm run oracle`) found missing: PostgreSQL refused the statement
// for a role holding exactly the privileges the analysis named. Each finding stays here as a test.
import { beforeAll, describe, expect, it } from 'vitest';
import { analyze } from '../../src/sql/analyze.js';
import { initSql } from '../../src/sql/parser.js';
import type { Access } from '../../src/sql/types.js';

beforeAll(async () => {
  await initSql();
});

function accesses(sql: string, searchPath?: string[]): Access[] {
  const r = analyze(sql, searchPath ? { searchPath } : {});
  expect(r).toHaveLength(1);
  expect(r[0]!.error).toBeUndefined();
  const key = (x: Access) => `${x.kind} ${x.object ?? ''} ${x.exact ? 1 : 0}`;
  return r[0]!.accesses.slice().sort((x, y) => key(x).localeCompare(key(y)));
}

describe('CREATE TRIGGER names the function it will run (PostgreSQL checks EXECUTE on it)', () => {
  it('unqualified and qualified', () => {
    expect(accesses('CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW EXECUTE FUNCTION trg()')).toEqual([
      { kind: 'call', object: 'public.trg' },
      { kind: 'create', object: 'public.x' },
    ]);
    expect(accesses('CREATE TRIGGER t AFTER UPDATE ON app.x FOR EACH STATEMENT EXECUTE PROCEDURE audit.log_it()')).toEqual([
      { kind: 'call', object: 'audit.log_it' },
      { kind: 'create', object: 'app.x' },
    ]);
  });
  it('a constraint trigger too, and an event trigger', () => {
    expect(accesses('CREATE CONSTRAINT TRIGGER t AFTER INSERT ON x FOR EACH ROW EXECUTE FUNCTION s.f()')).toContainEqual({ kind: 'call', object: 's.f' });
    expect(accesses('CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION s.g()')).toContainEqual({ kind: 'call', object: 's.g' });
  });
});

describe('RENAME and SET SCHEMA name the new name as a create (PostgreSQL checks CREATE on its schema)', () => {
  it('relations', () => {
    expect(accesses('ALTER TABLE tx1 RENAME TO a1')).toEqual([
      { kind: 'alter', object: 'public.tx1' },
      { kind: 'create', object: 'public.a1' },
    ]);
    expect(accesses('ALTER TABLE s.tx1 SET SCHEMA s2')).toEqual([
      { kind: 'alter', object: 's.tx1' },
      { kind: 'create', object: 's2.tx1' },
    ]);
    expect(accesses('ALTER VIEW v RENAME TO w', ['app', 'public'])).toEqual([
      { kind: 'alter', object: 'app.v' },
      { kind: 'alter', object: 'public.v' },
      { kind: 'create', object: 'app.w' },
      { kind: 'create', object: 'public.w' },
    ]);
  });
  it('routines, types and schemas', () => {
    expect(accesses('ALTER FUNCTION f(int) RENAME TO g')).toContainEqual({ kind: 'create', object: 'public.g' });
    expect(accesses('ALTER FUNCTION s.f(int) SET SCHEMA t')).toContainEqual({ kind: 'create', object: 't.f' });
    expect(accesses('ALTER TYPE mood RENAME TO feeling')).toContainEqual({ kind: 'create', object: 'type:public.feeling' });
    expect(accesses('ALTER SCHEMA a RENAME TO b')).toContainEqual({ kind: 'create', object: 'schema:b' });
  });
  it('parts of a table stay in their table', () => {
    expect(accesses('ALTER TABLE t RENAME COLUMN a TO b')).toEqual([{ kind: 'alter', object: 'public.t' }]);
    expect(accesses('ALTER TABLE t RENAME CONSTRAINT c TO d')).toEqual([{ kind: 'alter', object: 'public.t' }]);
  });
});

describe('sequence functions name their sequence (PostgreSQL checks USAGE/UPDATE/SELECT on it)', () => {
  it('nextval and setval change it, currval reads it', () => {
    expect(accesses("SELECT nextval('g.seq')")).toEqual([
      { kind: 'call', object: 'pg_catalog.nextval' },
      { kind: 'select' },
      { kind: 'update', object: 'g.seq' },
    ]);
    expect(accesses("SELECT pg_catalog.setval('public.orders_id_seq', 3, true)")).toContainEqual({ kind: 'update', object: 'public.orders_id_seq' });
    expect(accesses("SELECT currval('s'::regclass)")).toContainEqual({ kind: 'select', object: 'public.s' });
  });
  it('reads the name as regclass input does: folded, quoted parts exact, search path for one part', () => {
    expect(accesses(`SELECT nextval('App."Seq"')`)).toContainEqual({ kind: 'update', object: 'app.Seq' });
    expect(accesses("SELECT nextval('s')", ['a', 'b'])).toEqual(expect.arrayContaining([
      { kind: 'update', object: 'a.s' },
      { kind: 'update', object: 'b.s' },
    ]));
  });
  it('the literal decides the access: never reused for another literal of the same shape', () => {
    expect(analyze("SELECT nextval('s')")[0]!.literalSensitive).toBe(true);
  });
  it('a computed name stays a call only', () => {
    expect(accesses("SELECT nextval(pg_get_serial_sequence('t', 'id'))")).toEqual([
      { kind: 'call', object: 'pg_catalog.nextval' },
      { kind: 'select' },
    ]);
  });
});

describe('ON CONFLICT with a conflict target reads the target (PostgreSQL checks SELECT on the arbiter columns)', () => {
  it('DO NOTHING and DO UPDATE, by columns or by constraint', () => {
    expect(accesses('INSERT INTO t (id) VALUES (1) ON CONFLICT (id) DO NOTHING')).toEqual([
      { kind: 'insert', object: 'public.t' },
      { kind: 'select', object: 'public.t' },
    ]);
    expect(accesses('INSERT INTO t (id) VALUES (1) ON CONFLICT ON CONSTRAINT t_pkey DO NOTHING')).toContainEqual({ kind: 'select', object: 'public.t' });
    expect(accesses("INSERT INTO accounts VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET balance = 0")).toEqual([
      { kind: 'insert', object: 'public.accounts' },
      { kind: 'select', object: 'public.accounts' },
      { kind: 'update', object: 'public.accounts' },
    ]);
  });
  it('without a conflict target DO NOTHING reads nothing', () => {
    expect(accesses('INSERT INTO t (id) VALUES (1) ON CONFLICT DO NOTHING')).toEqual([{ kind: 'insert', object: 'public.t' }]);
  });
});

describe('objects defined by a function name it (PostgreSQL checks EXECUTE when creating them)', () => {
  it('operators, aggregates, casts, conversions', () => {
    expect(accesses('CREATE OPERATOR === (LEFTARG = boolean, RIGHTARG = boolean, PROCEDURE = fn_op2, RESTRICT = eqsel)'))
      .toEqual([{ kind: 'call', object: 'public.fn_op2' }, { kind: 'create', object: 'operator:public.===' }]);
    expect(accesses('CREATE AGGREGATE a(int) (SFUNC = s.f, STYPE = int, FINALFUNC = ff)')).toEqual([
      { kind: 'call', object: 'public.ff' },
      { kind: 'call', object: 's.f' },
      { kind: 'create', object: 'public.a' },
    ]);
    expect(accesses('CREATE CAST (int4 AS t) WITH FUNCTION s.f(int4)')).toContainEqual({ kind: 'call', object: 's.f' });
    expect(accesses("CREATE CONVERSION c FOR 'LATIN1' TO 'UTF8' FROM s.conv")).toContainEqual({ kind: 'call', object: 's.conv' });
  });
});

describe('a constraint trigger FROM another table is created on that table too (PostgreSQL checks TRIGGER on it)', () => {
  it('names both tables as create', () => {
    expect(accesses('CREATE CONSTRAINT TRIGGER t AFTER UPDATE ON a FROM b FOR EACH ROW EXECUTE FUNCTION f()')).toEqual([
      { kind: 'call', object: 'public.f' },
      { kind: 'create', object: 'public.a' },
      { kind: 'create', object: 'public.b' },
    ]);
  });
});

describe('new names are quoted like every other object name', () => {
  it('a rename to a name holding a dot', () => {
    expect(accesses('ALTER TABLE t RENAME TO "a.b"')).toContainEqual({ kind: 'create', object: 'public."a.b"' });
    expect(accesses('ALTER TABLE "x.y".t SET SCHEMA "p:q"')).toContainEqual({ kind: 'create', object: '"p:q".t' });
  });
});
