// Session state the proxy must follow to decide what the server will really do: the search path
// (re-read from the upstream once a statement may have changed it) and SQL-level prepared
// statements and cursors (EXECUTE / FETCH decided and masked by what PREPARE / DECLARE defined).

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNameArray } from '../../src/pg/name-array.js';
import { admin, startTestProxy, TEST_UPSTREAM, type TestProxy } from '../support/proxy.js';

const S = `tg_proxy_st_${process.pid}`;
const H = `tg_proxy_hid_${process.pid}`;

const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["${S}.*", "pg_catalog.*"] }
        - { action: allow, kinds: [set, reset], objects: [search_path] }
        - { action: allow, kinds: [prepare, execute, deallocate] }
        - { action: allow, kinds: [alter], objects: ["${S}.renames"] }
        # A rename also creates the new name: allowed, so the mask is what denies it.
        - { action: allow, kinds: [create], objects: ["${S}.renamed"] }
        - { action: deny, kinds: [any] }
      masks:
        - { columns: ["${S}.people.email", "${S}.renames.email"], strategy: redact }
`;

let proxy: TestProxy;

beforeAll(async () => {
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE; DROP SCHEMA IF EXISTS ${H} CASCADE;
    CREATE SCHEMA ${S}; CREATE SCHEMA ${H};
    CREATE TABLE ${S}.people (id int, email text); INSERT INTO ${S}.people VALUES (1, 'ann@example.org');
    CREATE TABLE ${H}.people (id int, secret text); INSERT INTO ${H}.people VALUES (1, 'hidden-value');
    CREATE TABLE public.people_${process.pid} (id int);
    CREATE TABLE ${S}.renames (id int, note text); INSERT INTO ${S}.renames VALUES (1, 'note-secret@example.org');`);
  proxy = await startTestProxy({ policy });
});

afterAll(async () => {
  await proxy?.stop();
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE; DROP SCHEMA IF EXISTS ${H} CASCADE; DROP TABLE IF EXISTS public.people_${process.pid}`);
});

describe('search path', () => {
  it('parses name arrays', () => {
    expect(parseNameArray('{}')).toEqual([]);
    expect(parseNameArray('{public}')).toEqual(['public']);
    expect(parseNameArray('{a,"b c","d\\"e"}')).toEqual(['a', 'b c', 'd"e']);
    expect(parseNameArray('public')).toBeNull();
  });

  it('resolves names with the path the server uses after SET search_path', async () => {
    const c = new pg.Client(proxy.pg);
    await c.connect();
    // Without the SET, "people" would be public.people (not allowed).
    await expect(c.query('SELECT id FROM people')).rejects.toMatchObject({ code: '42501' });
    await c.query(`SET search_path TO ${S}`);
    expect((await c.query('SELECT id, email FROM people')).rows).toEqual([{ id: 1, email: expect.not.stringContaining('ann@') }]);
    // A path pointing at a schema the policy does not allow: the same unqualified name is now denied.
    await c.query(`SET search_path TO ${H}`);
    await expect(c.query('SELECT secret FROM people')).rejects.toMatchObject({ code: '42501' });
    await expect(c.query({ text: 'SELECT secret FROM people WHERE id = $1', values: [1] })).rejects.toMatchObject({ code: '42501' });
    await c.end();
  });

  it('follows a rollback that reverts the search path', async () => {
    const c = new pg.Client(proxy.pg);
    await c.connect();
    await c.query(`SET search_path TO ${S}`);
    await c.query('BEGIN');
    await c.query(`SET search_path TO ${H}`);
    await c.query('ROLLBACK');
    // Back to the allowed schema: reading works again.
    expect((await c.query('SELECT id FROM people')).rows).toEqual([{ id: 1 }]);
    await c.end();
  });

  it('decides a multi-statement message with the path it sets for its later statements', async () => {
    const c = new pg.Client(proxy.pg);
    await c.connect();
    await expect(c.query(`SET search_path TO ${H}; SELECT secret FROM people`)).rejects.toMatchObject({ code: '42501' });
    await c.end();
  });
});

describe('SQL prepared statements and cursors', () => {
  it('masks what EXECUTE runs, by the PREPARE that defined it', async () => {
    const c = new pg.Client(proxy.pg);
    await c.connect();
    await c.query(`PREPARE q AS SELECT lower(email) AS e FROM ${S}.people`);
    const r = await c.query('EXECUTE q');
    expect(r.rows).toHaveLength(1);
    expect(r.rows[0].e).not.toContain('ann@example.org');
    await c.end();
  });

  it('masks what FETCH returns, by the DECLARE that defined the cursor', async () => {
    const c = new pg.Client(proxy.pg);
    await c.connect();
    await c.query('BEGIN');
    await c.query(`DECLARE cur CURSOR FOR SELECT email || '' AS e FROM ${S}.people`);
    const r = await c.query('FETCH ALL FROM cur');
    expect(r.rows).toHaveLength(1);
    expect(r.rows[0].e).not.toContain('ann@example.org');
    await c.query('COMMIT');
    await c.end();
  });

  it('denies EXECUTE of a name the session never prepared through the proxy', async () => {
    const c = new pg.Client(proxy.pg);
    await c.connect();
    await expect(c.query('EXECUTE never_prepared')).rejects.toMatchObject({ code: '42501' });
    await c.end();
  });
});

describe('schema changes', () => {
  it('masks a column renamed to a masked name, in this session and in others', async () => {
    const c = new pg.Client(proxy.pg);
    await c.connect();
    expect((await c.query(`SELECT note AS x FROM ${S}.renames`)).rows).toEqual([{ x: 'note-secret@example.org' }]);
    await c.query(`ALTER TABLE ${S}.renames RENAME COLUMN note TO email`);
    const r = await c.query(`SELECT email AS x FROM ${S}.renames`);
    expect(r.rows[0].x).not.toContain('note-secret');
    const other = new pg.Client(proxy.pg);
    await other.connect();
    expect((await other.query(`SELECT email AS x FROM ${S}.renames`)).rows[0].x).not.toContain('note-secret');
    await other.end();
    await c.end();
  });

  it('denies renaming a masked column, or its table, away from the name the mask uses', async () => {
    const c = new pg.Client(proxy.pg);
    await c.connect();
    for (const sql of [`ALTER TABLE ${S}.renames RENAME COLUMN email TO contact`, `ALTER TABLE ${S}.renames RENAME TO renamed`]) {
      await expect(c.query(sql)).rejects.toMatchObject({
        code: '42501',
        message: `tollgate: denied: the statement stores data of the masked column ${S}.renames.email elsewhere or under another name, where it would be readable unmasked`,
      });
    }
    expect((await c.query(`SELECT email AS x FROM ${S}.renames`)).rows[0].x).not.toContain('note-secret');
    await c.end();
  });
});
