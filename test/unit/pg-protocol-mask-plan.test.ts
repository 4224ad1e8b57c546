// Mask plans from RowDescription + lineage + catalog, and the DataRow rewrite.

import { describe, expect, it } from 'vitest';
import { buildMaskPlan, formatOf, maskDataRow, MaskPlanError } from '../../src/pg/mask-plan.js';
import * as P from '../../src/pg/protocol.js';
import { addAncestorOrigins, inheritedMaskNames, withAncestorSources, type ColumnName } from '../../src/pg/catalog.js';
import type { StatementAnalysis } from '../../src/sql/types.js';
import type { MaskStrategy } from '../../src/policy/types.js';

const field = (name: string, tableOid: number, attnum: number, typeOid = 25): P.FieldDescription => ({
  name,
  tableOid,
  attnum,
  typeOid,
  typeSize: -1,
  typeModifier: -1,
  format: 0,
});

const catalog = {
  resolve: async (oid: number, attnum: number) => (oid === 100 ? { schema: 'app', table: 'users', column: ['id', 'email', 'ssn'][attnum - 1]! } : null),
};
const rules = {
  maskForColumn: (schema: string, table: string, column: string) =>
    schema === 'app' && table === 'users' && column === 'email' ? { strategy: 'redact' as const, column: 'app.users.email' } : null,
};

describe('buildMaskPlan', () => {
  it('masks by catalog origin and by lineage, and returns null when nothing is masked', async () => {
    const plan = await buildMaskPlan(
      [field('id', 100, 1, 23), field('email', 100, 2), field('lower', 0, 0)],
      [{ index: 2, name: 'lower', strategy: 'hash', column: 'app.users.email' }],
      catalog,
      rules,
    );
    expect(plan?.maskedIndexes).toEqual([1, 2]);
    expect(plan?.masked).toEqual([
      { name: 'email', strategy: 'redact', column: 'app.users.email' },
      { name: 'lower', strategy: 'hash', column: 'app.users.email' },
    ]);
    expect(await buildMaskPlan([field('id', 100, 1, 23), field('x', 0, 0)], [], catalog, rules)).toBeNull();
  });

  it('fails closed when the catalog cannot name a column or throws', async () => {
    await expect(buildMaskPlan([field('mystery', 999, 1)], [], catalog, rules)).rejects.toThrow(MaskPlanError);
    const broken = { resolve: async () => Promise.reject(new Error('connection lost')) };
    await expect(buildMaskPlan([field('email', 100, 2)], [], broken, rules)).rejects.toThrow(/cannot resolve result column "email" \(connection lost\)/);
  });
});

describe('formatOf', () => {
  it('follows Bind: none = text, one = all, else per column', () => {
    expect(formatOf([], 3)).toBe(0);
    expect(formatOf([1], 3)).toBe(1);
    expect(formatOf([0, 1], 1)).toBe(1);
    expect(formatOf([0, 1], 0)).toBe(0);
  });
});

describe('maskDataRow', () => {
  const plan = { columns: [null, { strategy: 'redact' as const, typeOid: 25 }], maskedIndexes: [1], masked: [] };
  const mask = (_s: string, v: Buffer | null, format: 0 | 1) => (v === null ? null : Buffer.from(`masked/${format}`));

  it('rewrites only the masked fields, keeping NULLs and other columns byte for byte', () => {
    const row = P.dataRow([Buffer.from('1'), Buffer.from('a@b.c')]);
    const out = maskDataRow(row.subarray(5), plan, [0, 1], Buffer.from('k'), mask);
    expect(P.decodeDataRow(out.subarray(5)).map((v) => v?.toString() ?? null)).toEqual(['1', 'masked/1']);
    const nul = maskDataRow(P.dataRow([Buffer.from('2'), null]).subarray(5), plan, [], Buffer.from('k'), mask);
    expect(P.decodeDataRow(nul.subarray(5))).toEqual([Buffer.from('2'), null]);
  });

  it('refuses a row whose column count differs from the description', () => {
    const row = P.dataRow([Buffer.from('1')]);
    expect(() => maskDataRow(row.subarray(5), plan, [], Buffer.from('k'), mask)).toThrow(/DataRow has 1 columns, RowDescription had 2/);
  });
});

describe('inheritedMaskNames (partitions and inheritance children, F5b)', () => {
  const names: Record<number, ColumnName> = {
    200: { schema: 'app', table: 'users_p1', column: 'email', ancestors: [{ schema: 'app', table: 'users' }] },
    201: { schema: 'app', table: 'users_p2a', column: 'ssn', ancestors: [{ schema: 'app', table: 'users_p2' }, { schema: 'app', table: 'users' }] },
    202: { schema: 'app', table: 'other_child', column: 'email', ancestors: [{ schema: 'app', table: 'other' }] },
    203: { schema: 'app', table: 'users', column: 'email', ancestors: [] },
  };
  const inner = { resolve: async (oid: number) => (oid === 0 ? null : names[oid]!) };
  const masks: Record<string, MaskStrategy> = {
    'app.users.email': 'redact',
    'app.users.ssn': 'partial',
    'app.users_p2.ssn': 'null',
    'app.users_p2a.ssn': 'hash',
  };
  const lookup = (s: string, t: string, c: string) => (masks[`${s}.${t}.${c}`] ? { strategy: masks[`${s}.${t}.${c}`]! } : null);
  const cat = inheritedMaskNames(inner, lookup);

  it('names the column after the ancestor whose mask is strictest, else keeps its own name', async () => {
    expect(await cat.resolve(200, 2)).toEqual({ ...names[200], table: 'users' });
    // own hash, parent null, root partial: the parent's null wins
    expect(await cat.resolve(201, 3)).toEqual({ ...names[201], table: 'users_p2' });
    expect(await cat.resolve(202, 2)).toEqual(names[202]);
    expect(await cat.resolve(203, 2)).toEqual(names[203]);
    expect(await cat.resolve(0, 0)).toBeNull();
  });

  it('passes a lookup failure on (the plan then fails closed)', async () => {
    const failing = inheritedMaskNames({ resolve: () => Promise.reject(new Error('lookup failed')) }, lookup);
    await expect(failing.resolve(1, 1)).rejects.toThrow('lookup failed');
  });
});

describe('addAncestorOrigins (views over partitions, F5b)', () => {
  it('adds the same column of every ancestor of each relation a view reads', async () => {
    const anc = async (s: string, t: string) => (s === 'app' && t === 'users_p1' ? [{ schema: 'app', table: 'users' }] : []);
    expect(
      await addAncestorOrigins(
        [
          { schema: 'app', table: 'users_p1', column: 'email' },
          { schema: 'app', table: 'users_p1', column: null },
          { schema: 'app', table: 'plain', column: 'id' },
        ],
        anc,
      ),
    ).toEqual([
      { schema: 'app', table: 'users_p1', column: 'email' },
      { schema: 'app', table: 'users_p1', column: null },
      { schema: 'app', table: 'plain', column: 'id' },
      { schema: 'app', table: 'users', column: 'email' },
      { schema: 'app', table: 'users', column: null },
    ]);
    expect(await addAncestorOrigins(null, anc)).toBeNull();
    await expect(addAncestorOrigins([{ schema: 'a', table: 'b', column: 'c' }], () => Promise.reject(new Error('lookup failed')))).rejects.toThrow('lookup failed');
  });
});

describe('withAncestorSources (lineage through partitions, F5b)', () => {
  it('adds each ancestor’s column to the outputs, derived copies and definitions, without changing the input', () => {
    const anc = (s: string, t: string) => (s === 'app' && t === 'users_p1' ? [{ schema: 'app', table: 'users' }] : []);
    const input = {
      sql: 'x',
      kind: 'read',
      accesses: [],
      literalSensitive: false,
      outputs: [
        { name: 'lower', sources: ['app.users_p1.email'] },
        { name: 'u', sources: ['app.users_p1.*', 'app.plain.id'] },
        { name: 'odd', sources: ['weird'] },
      ],
      derived: ['app.users_p1.ssn'],
      defines: { namespace: 'cursor', name: 'c', accesses: [], outputs: [{ name: 'e', sources: ['app.users_p1.email'] }] },
    } as unknown as StatementAnalysis;
    const frozen = JSON.stringify(input);
    const [out] = withAncestorSources([input], anc);
    expect(out!.outputs).toEqual([
      { name: 'lower', sources: ['app.users_p1.email', 'app.users.email'] },
      { name: 'u', sources: ['app.users_p1.*', 'app.plain.id', 'app.users.*'] },
      { name: 'odd', sources: ['weird'] },
    ]);
    expect(out!.derived).toEqual(['app.users_p1.ssn', 'app.users.ssn']);
    expect(out!.defines!.outputs).toEqual([{ name: 'e', sources: ['app.users_p1.email', 'app.users.email'] }]);
    expect(JSON.stringify(input)).toBe(frozen);
  });
});
