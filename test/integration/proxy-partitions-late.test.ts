// A table that becomes a partition of a masked table while the proxy runs: computed columns over it
// (`lower(email)`) are masked only through the inheritance map, and decisions are cached. Once the
// partition is attached through the proxy, a statement decided before (and cached) must be decided
// again, and must not run before the proxy has read the new partitions — also when the DDL ran inside
// a transaction block, whose changes the proxy's catalog connection sees only after COMMIT.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, startTestProxy, type TestProxy } from '../support/proxy.js';

const S = `tg_late_${process.pid}`;
const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read, alter], objects: ["${S}.*", "pg_catalog.*"] }
        - { action: allow, kinds: [transaction] }
        - { action: deny, kinds: [any] }
      masks:
        - { columns: ["${S}.users.email"], strategy: redact }
`;

let proxy: TestProxy;
let client: pg.Client;

beforeAll(async () => {
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE; CREATE SCHEMA ${S};
    CREATE TABLE ${S}.users (id int, email text) PARTITION BY RANGE (id);
    CREATE TABLE ${S}.users_p1 PARTITION OF ${S}.users FOR VALUES FROM (0) TO (100);
    CREATE TABLE ${S}.late (id int, email text);
    INSERT INTO ${S}.late VALUES (150, 'late@secret.example');
    CREATE TABLE ${S}.later (id int, email text);
    INSERT INTO ${S}.later VALUES (250, 'later@secret.example');`);
  proxy = await startTestProxy({ policy });
  client = new pg.Client(proxy.pg);
  await client.connect();
});

afterAll(async () => {
  await client?.end().catch(() => {});
  await proxy?.stop();
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE`);
});

const lower = (table: string) => `SELECT lower(email) AS e FROM ${S}.${table}`;

describe('a table attached as a partition of a masked table while the proxy runs', () => {
  it('is read in clear before, and masked (not served from the cache) right after the ATTACH', async () => {
    expect((await client.query(lower('late'))).rows).toEqual([{ e: 'late@secret.example' }]);
    await client.query(`ALTER TABLE ${S}.users ATTACH PARTITION ${S}.late FOR VALUES FROM (100) TO (200)`);
    // The very next statement, same text as the cached one.
    expect((await client.query(lower('late'))).rows).toEqual([{ e: '***' }]);
  });

  it('after an ATTACH inside a transaction block, once the block has committed', async () => {
    expect((await client.query(lower('later'))).rows).toEqual([{ e: 'later@secret.example' }]);
    await client.query('BEGIN');
    await client.query(`ALTER TABLE ${S}.users ATTACH PARTITION ${S}.later FOR VALUES FROM (200) TO (300)`);
    await client.query('COMMIT');
    expect((await client.query(lower('later'))).rows).toEqual([{ e: '***' }]);
  });
});
