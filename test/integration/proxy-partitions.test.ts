// Red-team finding F5b: a mask on a partitioned table (or an inheritance parent) must also cover
// its partitions and children, read directly by name. RowDescription names the partition a column
// came from, so the catalog reports the table's ancestors and the mask lookup follows them.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, startTestProxy, TEST_UPSTREAM, type TestProxy } from '../support/proxy.js';

const S = `tg_parts_${process.pid}`;
const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["${S}.*", "pg_catalog.*"] }
        - { action: allow, kinds: [insert], objects: ["${S}.scratch"] }
        - { action: allow, kinds: [alter], objects: ["${S}.users", "${S}.late", "${S}.later"] }
        - { action: allow, kinds: [transaction] }
        - { action: deny, kinds: [any] }
      masks:
        - { columns: ["${S}.users.email"], strategy: redact }
        - { columns: ["${S}.users.ssn"], strategy: redact }
        - { columns: ["${S}.users_p1.ssn"], strategy: "null" }
        - { columns: ["${S}.legacy.email"], strategy: "null" }
`;

let proxy: TestProxy;
let client: pg.Client;

beforeAll(async () => {
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE; CREATE SCHEMA ${S};
    CREATE TABLE ${S}.users (id int, email text, ssn text) PARTITION BY RANGE (id);
    CREATE TABLE ${S}.users_p1 PARTITION OF ${S}.users FOR VALUES FROM (0) TO (100);
    CREATE TABLE ${S}.users_p2 PARTITION OF ${S}.users FOR VALUES FROM (100) TO (200) PARTITION BY LIST (id);
    CREATE TABLE ${S}.users_p2a PARTITION OF ${S}.users_p2 FOR VALUES IN (150);
    INSERT INTO ${S}.users VALUES (1, 'ann@secret.example', '111-22-3333'), (150, 'cid@secret.example', '333-44-5555');
    CREATE TABLE ${S}.legacy (id int, email text);
    CREATE TABLE ${S}.legacy_child (note text) INHERITS (${S}.legacy);
    INSERT INTO ${S}.legacy_child VALUES (2, 'bob@secret.example', 'plain note');
    CREATE VIEW ${S}.p1_view AS SELECT email FROM ${S}.users_p1;
    CREATE VIEW ${S}.child_view AS SELECT note, email FROM ${S}.legacy_child;
    CREATE TABLE ${S}.plain (id int, email text);
    CREATE TABLE ${S}.scratch (t text);
    INSERT INTO ${S}.plain VALUES (3, 'open@example.org');
    CREATE TABLE ${S}.late (id int, email text, ssn text);
    INSERT INTO ${S}.late VALUES (250, 'late@secret.example', NULL);
    CREATE TABLE ${S}.later (id int, email text, ssn text);
    INSERT INTO ${S}.later VALUES (350, 'later@secret.example', NULL);`);
  proxy = await startTestProxy({ policy });
  client = new pg.Client(proxy.pg);
  await client.connect();
});

afterAll(async () => {
  await client?.end().catch(() => {});
  await proxy?.stop();
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE`);
});

async function rows(sql: string, values?: unknown[]): Promise<unknown[][]> {
  const r = await client.query({ text: sql, values, rowMode: 'array' });
  return r.rows as unknown[][];
}

describe('masks on partitioned tables and inheritance parents (F5b)', () => {
  it('mask the parent and every partition, at any depth', async () => {
    expect(await rows(`SELECT email FROM ${S}.users ORDER BY id`)).toEqual([['***'], ['***']]);
    expect(await rows(`SELECT email FROM ${S}.users_p1`)).toEqual([['***']]);
    expect(await rows(`SELECT email FROM ${S}.users_p2`)).toEqual([['***']]);
    expect(await rows(`SELECT id, email FROM ${S}.users_p2a`)).toEqual([[150, '***']]);
  });

  it('mask a partition read through the extended protocol too', async () => {
    expect(await rows(`SELECT email FROM ${S}.users_p1 WHERE id = $1`, [1])).toEqual([['***']]);
  });

  it('mask an inheritance child, not its own extra columns', async () => {
    expect(await rows(`SELECT id, email, note FROM ${S}.legacy_child`)).toEqual([[2, null, 'plain note']]);
    expect(await rows(`SELECT email FROM ${S}.legacy`)).toEqual([[null]]);
  });

  it('apply the strictest of the partition’s own mask and its ancestors’ masks', async () => {
    // users_p1.ssn: own mask null beats the parent's redact; users_p2a.ssn: only the root's redact.
    expect(await rows(`SELECT ssn FROM ${S}.users_p1`)).toEqual([[null]]);
    expect(await rows(`SELECT ssn FROM ${S}.users_p2a`)).toEqual([['***']]);
  });

  it('mask a view over a partition or a child (the view reads a masked ancestor column)', async () => {
    expect(await rows(`SELECT email FROM ${S}.p1_view`)).toEqual([['***']]);
    // A view that reads any masked column has all its columns masked (the strictest: null).
    expect(await rows(`SELECT note, email FROM ${S}.child_view`)).toEqual([[null, null]]);
  });

  it('withhold value-quoting upstream errors of statements reading a partition of a masked table', async () => {
    // users_p2a has no mask of its own: only its root users has.
    const err = await client.query(`SELECT 1 FROM ${S}.users_p2a WHERE email::int = 1`).then(
      () => null,
      (e: Error & { code?: string }) => e,
    );
    expect({ code: err?.code, message: err?.message }).toEqual({
      code: '22P02',
      message: 'tollgate: the upstream message is withheld because the statement touches masked data (SQLSTATE 22P02)',
    });
    const plain = await client.query(`SELECT 1 FROM ${S}.plain WHERE email::int = 1`).then(
      () => null,
      (e: Error & { code?: string }) => e,
    );
    expect({ code: plain?.code, message: plain?.message }).toEqual({ code: '22P02', message: 'invalid input syntax for type integer: "open@example.org"' });
  });

  it('mask computed columns over a partition or a child (lineage through the inheritance catalog)', async () => {
    expect(await rows(`SELECT lower(email) FROM ${S}.users_p1`)).toEqual([['***']]);
    expect(await rows(`SELECT upper(email) AS e FROM ${S}.users_p2a`)).toEqual([['***']]);
    expect(await rows(`SELECT email || '' FROM ${S}.legacy_child`)).toEqual([[null]]);
    expect(await rows(`SELECT lower(email) FROM ${S}.users_p1 WHERE id = $1`, [1])).toEqual([['***']]);
    expect(await rows(`SELECT lower(email) FROM ${S}.plain`)).toEqual([['open@example.org']]);
  });

  it('deny storing a partition’s masked column elsewhere', async () => {
    const err = await client.query(`INSERT INTO ${S}.scratch SELECT email FROM ${S}.users_p1`).then(
      () => null,
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).toBe('42501');
    expect(err?.message).toBe(`tollgate: denied: the statement stores data of the masked column ${S}.users.email elsewhere or under another name, where it would be readable unmasked`);
    expect(await rows(`INSERT INTO ${S}.scratch SELECT email FROM ${S}.plain RETURNING 1`)).toEqual([[1]]);
  });

  it('leave tables without masked ancestors alone', async () => {
    expect(await rows(`SELECT id, email FROM ${S}.plain`)).toEqual([[3, 'open@example.org']]);
    expect(await rows(`SELECT id FROM ${S}.users_p1`)).toEqual([[1]]);
  });
});

// A table that becomes a partition of a masked table while the proxy runs: computed columns over it
// are masked only through the inheritance map, and decisions are cached. After an ATTACH through the
// proxy, a statement decided before (and cached) must be decided again, not before the proxy has read
// the new partitions — also when the ATTACH ran inside a transaction block, which the proxy's catalog
// connection sees only after COMMIT.
describe('a table attached as a partition of a masked table while the proxy runs', () => {
  const lower = (table: string) => `SELECT lower(email) AS e FROM ${S}.${table}`;

  it('is read in clear before, and masked (not served from the cache) right after the ATTACH', async () => {
    expect(await rows(lower('late'))).toEqual([['late@secret.example']]);
    await client.query(`ALTER TABLE ${S}.users ATTACH PARTITION ${S}.late FOR VALUES FROM (200) TO (300)`);
    // The very next statement, same text as the cached one.
    expect(await rows(lower('late'))).toEqual([['***']]);
  });

  it('after an ATTACH inside a transaction block, once the block has committed', async () => {
    expect(await rows(lower('later'))).toEqual([['later@secret.example']]);
    await client.query('BEGIN');
    await client.query(`ALTER TABLE ${S}.users ATTACH PARTITION ${S}.later FOR VALUES FROM (300) TO (400)`);
    await client.query('COMMIT');
    expect(await rows(lower('later'))).toEqual([['***']]);
  });
});
