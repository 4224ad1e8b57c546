// The oracle's mapping from accesses to the privileges its role gets (test/oracle/grants.ts): exactly
// what each access names, never more.
import { describe, expect, it } from 'vitest';
import { parseObject, planGrants } from '../oracle/grants.js';

describe('object names', () => {
  it('splits schema and name, quoted parts exact, prefixes apart', () => {
    expect(parseObject('public.users')).toEqual({ prefix: null, parts: ['public', 'users'] });
    expect(parseObject('"a.b"."c""d"')).toEqual({ prefix: null, parts: ['a.b', 'c"d'] });
    expect(parseObject('type:public.mood')).toEqual({ prefix: 'type', parts: ['public', 'mood'] });
    expect(parseObject('schema:app')).toEqual({ prefix: 'schema', parts: ['app'] });
    expect(parseObject('program:rm -rf /')).toEqual({ prefix: 'program', parts: ['rm -rf /'] });
  });
});

describe('privileges per access', () => {
  it('DML kinds are the table privileges of the same name, with USAGE on the schema', () => {
    const p = planGrants([
      { kind: 'select', object: 'app.a' }, { kind: 'insert', object: 'app.b' }, { kind: 'update', object: 'app.b' },
      { kind: 'delete', object: 'public.c' }, { kind: 'truncate', object: 'public.d' },
    ], 'insert');
    expect(p.rels).toEqual([
      { s: 'app', n: 'a', p: ['SELECT'] }, { s: 'app', n: 'b', p: ['INSERT', 'UPDATE'] },
      { s: 'public', n: 'c', p: ['DELETE'] }, { s: 'public', n: 'd', p: ['TRUNCATE'] },
    ]);
    expect(p.usage.sort()).toEqual(['app', 'public']);
    expect(p.writes).toEqual([{ s: 'app', n: 'b' }, { s: 'app', n: 'b' }]);
    expect(p.own).toEqual([]);
  });
  it('calls are EXECUTE, settings SET ON PARAMETER, COPY its direction, lock UPDATE', () => {
    const p = planGrants([
      { kind: 'call', object: 'app.f' }, { kind: 'call', object: 'pg_catalog.nextval' }, { kind: 'set', object: 'work_mem' },
      { kind: 'copy_to', object: 'app.t' }, { kind: 'copy_from', object: 'app.u' }, { kind: 'lock', object: 'app.v' },
      { kind: 'copy_to', object: 'program:cat', exact: true },
    ], 'select');
    expect(p.fns).toEqual([{ s: 'app', n: 'f' }, { s: 'pg_catalog', n: 'nextval' }]);
    expect(p.params).toEqual(['work_mem']);
    expect(p.rels).toEqual([{ s: 'app', n: 't', p: ['SELECT'] }, { s: 'app', n: 'u', p: ['INSERT'] }, { s: 'app', n: 'v', p: ['UPDATE'] }]);
  });
  it('LOCK statements also get SELECT (ACCESS SHARE mode asks for it)', () => {
    expect(planGrants([{ kind: 'lock', object: 'app.v' }], 'lock').rels).toEqual([{ s: 'app', n: 'v', p: ['SELECT', 'UPDATE'] }]);
  });
  it('DDL: create is CREATE on the schema (or the database for a schema); changes of an object make the role its owner', () => {
    const p = planGrants([
      { kind: 'create', object: 'app.t' }, { kind: 'create', object: 'schema:s2' }, { kind: 'alter', object: 'app.u' },
      { kind: 'drop', object: 'type:app.mood' }, { kind: 'comment', object: 'schema:app' }, { kind: 'create', object: 'pg_temp.x' },
      { kind: 'select', object: 'app.ref' },
    ], 'create');
    // (alter app.u: an ADD PRIMARY KEY builds its index in app.)
    expect(p.create).toEqual(['app']);
    expect(p.createDb).toBe(true);
    expect(p.own).toEqual([
      { s: 'app', n: 't', t: 'any' }, { s: 'app', n: 'u', t: 'any' }, { s: 'app', n: 'mood', t: 'type' }, { s: '', n: 'app', t: 'schema' },
    ]);
    // A table DDL reads (FOREIGN KEY … REFERENCES) may be referenced too.
    expect(p.rels).toEqual([{ s: 'app', n: 'ref', p: ['SELECT', 'REFERENCES'] }]);
  });
  it('accesses without an object, and objects outside schemas, grant nothing', () => {
    const p = planGrants([{ kind: 'select' }, { kind: 'transaction' }, { kind: 'create', object: 'role:bob' }, { kind: 'drop', object: 'database:x' }], 'select');
    expect(p).toEqual({ rels: [], fns: [], usage: [], create: [], createDb: false, params: [], own: [], writes: [] });
  });
});
