import { beforeAll, describe, expect, it } from 'vitest';
import { fingerprintSync } from 'libpg-query';
import { initSql } from '../../src/sql/parser.js';
import { redactLiterals, shapeKey } from '../../src/sql/shape.js';
import { isNormalizationOf } from '../../src/sql/parser.js';

beforeAll(async () => {
  await initSql();
});

describe('shapeKey', () => {
  it('is the same for the same statement with other constants', () => {
    expect(shapeKey("SELECT * FROM t WHERE a = 'x' AND b = 1")).toBe('SELECT * FROM t WHERE a = $1 AND b = $2');
    expect(shapeKey("SELECT * FROM t WHERE a = 'yy' AND b = 22")).toBe('SELECT * FROM t WHERE a = $1 AND b = $2');
  });
  it('keeps names the fingerprint would merge (EXECUTE a vs b)', () => {
    expect(fingerprintSync('EXECUTE a')).toBe(fingerprintSync('EXECUTE b'));
    expect(shapeKey('EXECUTE a')).not.toBe(shapeKey('EXECUTE b'));
    expect(shapeKey('SELECT * FROM a')).not.toBe(shapeKey('SELECT * FROM b'));
    expect(shapeKey('SELECT * FROM "A"')).not.toBe(shapeKey('SELECT * FROM a'));
  });
  it('follows the server split: the hidden DELETE is part of the shape', () => {
    expect(shapeKey("SELECT 'a\\' ; DELETE FROM users; --'")).toBe("SELECT $1 ; DELETE FROM users; --'");
  });
  it('is null when the text does not parse', () => {
    expect(shapeKey('SELECT FROM WHERE (')).toBeNull();
  });
});

describe('redactLiterals', () => {
  it('replaces constants with parameters', () => {
    expect(redactLiterals("SELECT * FROM users WHERE email = 'a@b.c' AND id = 42")).toBe('SELECT * FROM users WHERE email = $1 AND id = $2');
  });
  it('hides constants the normaliser leaves (COPY targets, DDL defaults) and comments', () => {
    expect(redactLiterals("COPY t TO PROGRAM 'curl -H token:s3cret x'")).toBe('COPY t TO PROGRAM ?');
    expect(redactLiterals("CREATE TABLE t (a text DEFAULT 'secret')")).toBe('CREATE TABLE t (a text DEFAULT ?)');
    expect(redactLiterals('SELECT 1 -- password=hunter2')).toBe('SELECT $1');
    expect(redactLiterals('SELECT /* hunter2 */ 1')).toBe('SELECT  $1');
  });
  it('hides passwords of role statements', () => {
    expect(redactLiterals("ALTER ROLE bob PASSWORD 'hunter2'")).toBe('ALTER ROLE bob PASSWORD $1');
    expect(redactLiterals("CREATE USER bob PASSWORD 'hunter2'")).not.toContain('hunter2');
  });
  it('every constant form', () => {
    const out = redactLiterals("SELECT E'\\x41', U&'d\\0061t', x'ff', b'01', 1e5, $q$secret$q$");
    expect(out).toBe('SELECT $1, $2, $3, $4, $5, $6');
  });
  it('never echoes unparsable text', () => {
    expect(redactLiterals("SELECT 'hunter2' FROM")).toBe('<unparsable statement, 21 bytes>');
    expect(redactLiterals("SELECT 'é")).toBe('<unparsable statement, 10 bytes>');
  });
});

describe('normalisation is checked (libpg-query returns some parse errors as text)', () => {
  it('statements whose keywords become constants still have a shape', () => {
    expect(shapeKey('SELECT * FROM t WHERE active = true AND id = 5')).toBe('SELECT * FROM t WHERE active = $1 AND id = $2');
    expect(shapeKey('SET TRANSACTION READ WRITE')).toBe('SET TRANSACTION $1 WRITE');
    expect(shapeKey('SET TRANSACTION READ ONLY')).toBe('SET TRANSACTION $1 ONLY');
  });
  it('an error message is never taken for a normalisation', () => {
    expect(shapeKey("SELECT 'é")).toBeNull();
    expect(shapeKey('WITH x AS (SELECT 1) SELECT * FROM t FETCH FIRST 1 ROW WITH TIES')).toBeNull();
    expect(redactLiterals("SELECT 'hunter2")).toBe('<unparsable statement, 15 bytes>');
  });
  it('isNormalizationOf', () => {
    expect(isNormalizationOf("SELECT 'a', 1", 'SELECT $1, $2')).toBe(true);
    expect(isNormalizationOf('SELECT 1 /* c */ , $1', 'SELECT $2 /* c */ , $1')).toBe(true);
    expect(isNormalizationOf('SELECT 1', 'SELECT 1')).toBe(true);
    expect(isNormalizationOf("SELECT 'x", 'unterminated quoted string at or near "\'x"')).toBe(false);
    expect(isNormalizationOf('SELECT a', 'SELECT $1a')).toBe(false);
    expect(isNormalizationOf('SELECT 1, 2', 'SELECT $1, 2, $2')).toBe(false);
  });
});

