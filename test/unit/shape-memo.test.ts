// shapeKey remembers recent texts, and the engine teaches it the shape of a statement cut from a
// message it just normalised. The taught shape must be what the normaliser itself gives.
import { beforeAll, describe, expect, it } from 'vitest';
import { initSql } from '../../src/sql/index.js';
import { normalizeSql } from '../../src/sql/parser.js';
import { rememberStatementShape, shapeKey } from '../../src/sql/shape.js';

const strip = (s: string) => s.replace(/[\s;]+$/, '').trim();

beforeAll(async () => {
  await initSql();
});

describe('statement shapes', () => {
  it('a statement cut from a message gets exactly the normaliser shape of its own text', () => {
    const texts = [
      "  SELECT abalance FROM pgbench_accounts WHERE aid = 4711 ;  ",
      "SELECT 'x;y', 2.5, $1 FROM t WHERE a = E'\\\\';",
      'SELECT 1 -- trailing comment;\n;',
    ];
    for (const message of texts) {
      const statement = strip(message);
      rememberStatementShape(statement, shapeKey(message)!, strip);
      expect(shapeKey(statement)).toBe(normalizeSql(statement));
    }
  });

  it('a shape that is not the text with constants replaced is not remembered', () => {
    const text = 'SELECT 41 + 1 FROM memo_probe_table';
    rememberStatementShape(text, 'SELECT $1 FROM other_table', (s) => s);
    expect(shapeKey(text)).toBe('SELECT $1 + $2 FROM memo_probe_table');
  });
});
