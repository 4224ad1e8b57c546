// Real clients through the full proxy (real policy engine, audit log, catalog) in front of the test
// PostgreSQL: psql (simple protocol, \d), node-postgres (extended protocol), COPY both ways, cancel.

import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../src/pg/protocol.js';
import { admin, startTestProxy, TEST_UPSTREAM, type TestProxy } from '../support/proxy.js';

const S = `tg_proxy_cli_${process.pid}`;

const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["${S}.people", "${S}.items", "${S}.*_view", "${S}.people_view2", "pg_catalog.*", "information_schema.*"] }
        - { action: allow, kinds: [insert, update, copy_from, copy_to], objects: ["${S}.items"] }
        - { action: allow, kinds: [call], objects: ["pg_catalog.pg_sleep"] }
        - { action: deny, kinds: [any] }
      masks:
        - { columns: ["${S}.people.email"], strategy: redact }
        - { columns: ["${S}.people.ssn"], strategy: "null" }
`;

let proxy: TestProxy;

function run(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: proxy.env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

function client(): pg.Client {
  return new pg.Client(proxy.pg);
}

beforeAll(async () => {
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE; CREATE SCHEMA ${S};
    CREATE TABLE ${S}.people (id int PRIMARY KEY, name text, email text, ssn text);
    INSERT INTO ${S}.people VALUES (1, 'Ann', 'ann@example.org', '123-45-6789'), (2, 'Bob', NULL, '987-65-4321');
    CREATE TABLE ${S}.items (id int, label text);
    CREATE TABLE ${S}.secret (id int);
    CREATE VIEW ${S}.people_view AS SELECT id, email FROM ${S}.people;
    CREATE VIEW ${S}.people_view2 AS SELECT * FROM ${S}.people_view;
    CREATE VIEW ${S}.items_view AS SELECT id, label FROM ${S}.items;`);
  proxy = await startTestProxy({ policy });
});

afterAll(async () => {
  await proxy?.stop();
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE`);
});

describe('psql (simple protocol)', () => {
  it('runs an allowed query', async () => {
    const r = await run('psql', ['-XAtc', `SELECT name FROM ${S}.people ORDER BY id`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('Ann\nBob\n');
  });

  it('shows a denial as "tollgate: denied" and the session stays usable', async () => {
    const r = await run('psql', ['-XAt', '-v', 'ON_ERROR_STOP=0'], `SELECT * FROM ${S}.secret;\nSELECT 40 + 2;\n`);
    expect(r.stderr).toMatch(/ERROR:  tollgate: denied/);
    expect(r.stderr).toMatch(/DETAIL:  rule: roles\.test\.postgres\.rules\[3\]/);
    expect(r.stdout).toBe('42\n');
  });

  it('reports the right transaction status after a denial inside a transaction', async () => {
    const r = await run('psql', ['-XAt', '-v', 'ON_ERROR_STOP=0'], `BEGIN;\nSELECT * FROM ${S}.secret;\nSELECT txid_current_if_assigned() IS NULL;\nCOMMIT;\n`);
    expect(r.stderr).toMatch(/tollgate: denied/);
    // The upstream transaction is untouched by a denial: the next statement runs inside it.
    expect(r.stdout).toBe('BEGIN\nt\nCOMMIT\n');
  });

  it('serves \\d and \\dt', async () => {
    const d = await run('psql', ['-Xc', `\\d ${S}.people`]);
    expect(d.stderr).toBe('');
    expect(d.stdout).toMatch(/Table "tg_proxy_cli_\d+\.people"/);
    expect(d.stdout).toMatch(/email\s+\| text/);
    const dt = await run('psql', ['-XAtc', `\\dt ${S}.*`]);
    expect(dt.stderr).toBe('');
    expect(dt.stdout.split('\n').filter(Boolean).map((l) => l.split('|')[1])).toEqual(['items', 'people', 'secret']);
  });

  it('masks columns (redact and null strategies, by catalog) in psql output', async () => {
    const r = await run('psql', ['-XAtc', `SELECT id, email, ssn FROM ${S}.people ORDER BY id`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toContain('ann@example.org');
    expect(r.stdout).not.toContain('123-45-6789');
    const [first, second] = r.stdout.trim().split('\n');
    expect(first!.split('|')[0]).toBe('1');
    expect(first!.split('|')[2]).toBe(''); // null strategy
    expect(second).toBe('2||'); // NULL email stays NULL
  });

  it('copies in and out for allowed statements', async () => {
    const inn = await run('psql', ['-Xc', `\\copy ${S}.items FROM STDIN`], '1\tone\n2\ttwo\n\\.\n');
    expect(inn.stderr).toBe('');
    expect(inn.stdout).toBe('COPY 2\n');
    const out = await run('psql', ['-Xc', `COPY ${S}.items TO STDOUT`]);
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe('1\tone\n2\ttwo\n');
  });

  it('refuses COPY of a table with masked columns', async () => {
    const out = await run('psql', ['-Xc', `COPY ${S}.people TO STDOUT`]);
    expect(out.stdout).not.toContain('ann@example.org');
    expect(out.stderr).toMatch(/tollgate: denied/);
  });

  it('refuses startup options, a role parameter and a non-UTF8 client encoding', async () => {
    const withOptions = await run('psql', ['-Xc', 'SELECT 1', `options='-c role=postgres'`]);
    expect(withOptions.stderr).toMatch(/startup parameter "options" is not allowed/);
    const sjis = await new Promise<{ stderr: string }>((resolve) => {
      execFile('psql', ['-Xc', 'SELECT 1'], { env: { ...proxy.env, PGCLIENTENCODING: 'SJIS' } }, (_e, _o, stderr) => resolve({ stderr }));
    });
    expect(sjis.stderr).toMatch(/client_encoding "SJIS" is not allowed/);
    for (const param of ['search_path', 'role']) {
      const reply = await rawStartup({ user: 'tollgate', database: 'test', [param]: 'x' });
      const e = P.decodeErrorFields(reply.subarray(5));
      expect(e.get('S')).toBe('FATAL');
      expect(e.get('C')).toBe('08004');
      expect(e.get('M')).toBe(`tollgate: startup parameter "${param}" is not allowed`);
    }
  });

  it('refuses SET client_encoding to SJIS', async () => {
    const r = await run('psql', ['-XAt', '-v', 'ON_ERROR_STOP=0'], "SET client_encoding TO 'SJIS';\nSHOW client_encoding;\n");
    expect(r.stderr).toMatch(/tollgate: denied/);
    expect(r.stdout).toBe('UTF8\n');
  });
});

function rawStartup(params: Record<string, string>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(proxy.port, '127.0.0.1', () => s.write(P.startupMessage(params)));
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

describe('node-postgres (extended protocol)', () => {
  it('runs parameterised queries and named prepared statements', async () => {
    const c = client();
    await c.connect();
    const r = await c.query({ text: `SELECT name FROM ${S}.people WHERE id = $1`, values: [2] });
    expect(r.rows).toEqual([{ name: 'Bob' }]);
    for (const id of [1, 2, 1]) {
      const q = await c.query({ name: 'by-id', text: `SELECT id, name FROM ${S}.people WHERE id = $1`, values: [id] });
      expect(q.rows).toEqual([{ id, name: id === 1 ? 'Ann' : 'Bob' }]);
    }
    await c.end();
  });

  it('denies a Parse with 42501 and the connection stays usable', async () => {
    const c = client();
    await c.connect();
    await expect(c.query({ text: `SELECT * FROM ${S}.secret WHERE id = $1`, values: [1] })).rejects.toMatchObject({
      code: '42501',
      message: expect.stringMatching(/^tollgate: denied/),
    });
    expect((await c.query({ text: 'SELECT $1::int * 2 AS v', values: [21] })).rows).toEqual([{ v: 42 }]);
    await c.end();
  });

  it('keeps pipelined queries in order around a denied one', async () => {
    const c = client();
    await c.connect();
    const results = await Promise.allSettled([
      c.query({ text: 'SELECT $1::int AS v', values: [1] }),
      c.query({ text: `SELECT * FROM ${S}.secret WHERE id = $1`, values: [1] }),
      c.query({ text: 'SELECT $1::int AS v', values: [3] }),
      c.query(`SELECT count(*)::int AS n FROM ${S}.people`),
      c.query(`DELETE FROM ${S}.people`),
      c.query({ name: 'p2', text: 'SELECT $1::text AS t', values: ['x'] }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[0] as PromiseFulfilledResult<pg.QueryResult>).value.rows).toEqual([{ v: 1 }]);
    expect((results[2] as PromiseFulfilledResult<pg.QueryResult>).value.rows).toEqual([{ v: 3 }]);
    expect((results[3] as PromiseFulfilledResult<pg.QueryResult>).value.rows).toEqual([{ n: 2 }]);
    expect((results[5] as PromiseFulfilledResult<pg.QueryResult>).value.rows).toEqual([{ t: 'x' }]);
    expect(await admin(`SELECT count(*)::int AS n FROM ${S}.people`).then((r) => r.rows[0].n)).toBe(2);
    await c.end();
  });

  it('masks text and binary results and computed columns', async () => {
    const c = client();
    await c.connect();
    const text = await c.query({ text: `SELECT email, ssn FROM ${S}.people WHERE id = $1`, values: [1] });
    expect(text.rows[0].email).not.toBe('ann@example.org');
    expect(text.rows[0].ssn).toBeNull();
    const bin = await c.query({ text: `SELECT email FROM ${S}.people WHERE id = $1`, values: [1], binary: true } as pg.QueryConfig);
    expect(String(bin.rows[0].email)).not.toContain('ann@example.org');
    for (const expr of ['lower(email)', "email || ''", 'upper(email) AS e', 'row_to_json(p)::text', 'p::text']) {
      const r = await c.query(`SELECT ${expr} FROM ${S}.people p WHERE id = 1`);
      expect(JSON.stringify(r.rows)).not.toMatch(/ann@example\.org/i);
    }
    await c.end();
  });

  it('masks what views read from masked columns, through views of views', async () => {
    const c = client();
    await c.connect();
    for (const v of ['people_view', 'people_view2']) {
      const r = await c.query(`SELECT * FROM ${S}.${v} WHERE id = 1`);
      expect(r.rows).toHaveLength(1);
      expect(JSON.stringify(r.rows)).not.toContain('ann@example.org');
    }
    await c.query(`INSERT INTO ${S}.items VALUES (9, 'nine')`);
    const plain = await c.query(`SELECT * FROM ${S}.items_view WHERE id = 9`);
    expect(plain.rows).toEqual([{ id: 9, label: 'nine' }]);
    await c.end();
  });

  it('withholds upstream error texts that could quote a masked value', async () => {
    const c = client();
    await c.connect();
    for (const q of [`SELECT email::int FROM ${S}.people WHERE id = 1`, { text: `SELECT email::int FROM ${S}.people WHERE id = $1`, values: [1] }]) {
      const err = await c.query(q as string).then(
        () => null,
        (e: Error & { code?: string; detail?: string }) => e,
      );
      expect(err?.code).toBe('22P02');
      expect(err?.message).toBe('tollgate: the upstream message is withheld because the statement touches masked data (SQLSTATE 22P02)');
      expect(JSON.stringify(err)).not.toContain('ann@example.org');
    }
    // Object-name errors quote the value too when the value is used as a name.
    for (const [q, code] of [
      [`SELECT email::regclass FROM ${S}.people WHERE id = 1`, '3F000'],
      [`SELECT current_setting(email) FROM ${S}.people WHERE id = 1`, '42704'],
    ] as const) {
      const err = await c.query(q).then(
        () => null,
        (e: Error & { code?: string }) => e,
      );
      expect(err?.code).toBe(code);
      expect(err?.message).toBe(`tollgate: the upstream message is withheld because the statement touches masked data (SQLSTATE ${code})`);
      expect(JSON.stringify(err)).not.toContain('ann@example');
    }
    // A table without masked columns keeps the server's own message.
    const plain = await c.query(`SELECT 'abc'::int FROM ${S}.items`).then(
      () => null,
      (e: Error) => e,
    );
    expect(plain?.message).toBe('invalid input syntax for type integer: "abc"');
    await c.end();
  });

  it('cancels a running query through the proxy', async () => {
    const c = client();
    await c.connect();
    const started = Date.now();
    const running = c.query('SELECT pg_sleep(20)');
    await new Promise((r) => setTimeout(r, 300));
    const key = c as unknown as { processID: number; secretKey: number };
    const secret = Buffer.alloc(4);
    secret.writeInt32BE(key.secretKey);
    await new Promise<void>((resolve, reject) => {
      const s = connect(proxy.port, '127.0.0.1', () => s.end(P.cancelRequest(key.processID, secret)));
      s.on('close', () => resolve());
      s.on('error', reject);
    });
    await expect(running).rejects.toMatchObject({ code: '57014' });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    await c.end();
  });
});

describe('audit log', () => {
  it('has one line per request, with redacted statements and no planted values', async () => {
    // Let the writer reach the disk.
    await new Promise((r) => setTimeout(r, 200));
    const lines = (await proxy.audit());
    const sql = lines.filter((l) => l.type === 'sql');
    expect(sql.length).toBeGreaterThan(10);
    const text = JSON.stringify(lines);
    for (const planted of ['ann@example.org', '123-45-6789', proxy.password, "'SJIS'"]) expect(text).not.toContain(planted);
    const denied = sql.find((l) => l.decision === 'deny' && (l.statement ?? '').includes('secret'));
    expect(denied).toMatchObject({ session: proxy.config.session.id, role: 'test', rule: 'roles.test.postgres.rules[3]' });
    const read = sql.find((l) => l.decision === 'allow' && (l.statement ?? '').startsWith('SELECT id, email, ssn'));
    expect(read?.rows).toBe(2);
    expect(read?.masked?.map((m) => m.name).sort()).toEqual(['email', 'ssn']);
    expect(lines.some((l) => l.type === 'connect' && l.decision === 'allow')).toBe(true);
  });
});
