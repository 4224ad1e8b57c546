// The connection state machine with a stand-in policy (regex rules), catalog and masker, in front of
// the real test PostgreSQL. The full server with the real engine is covered in test/integration.

import { createServer, type Server } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/audit/types.js';
import { sendCancel } from '../../src/pg/cancel.js';
import type { ProxyConfig } from '../../src/daemon/config.js';
import { CancelKeys } from '../../src/pg/cancel-keys.js';
import { checkStartupParams } from '../../src/pg/startup-params.js';
import { ProxyConnection } from '../../src/proxy/connection.js';
import type { ConnectionDeps, EngineLike } from '../../src/proxy/deps.js';
import { ScramServer } from '../../src/pg/scram.js';
import { connectUpstream } from '../../src/pg/upstream.js';
import type { Decision, MaskStrategy } from '../../src/policy/types.js';

const UPSTREAM = process.env.TOLLGATE_TEST_UPSTREAM ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = `tg_conn_${process.pid}`;

// Stand-in engine: statements containing "forbidden" are denied, "needs_review" reviewed.
const engine: EngineLike = {
  decide(sql: string): Decision {
    const decision = /forbidden/i.test(sql) ? 'deny' : /needs_review/i.test(sql) ? 'review' : 'allow';
    const accesses = /^ALTER/i.test(sql) ? [{ kind: 'alter' as const, object: 'x.y' }] : [];
    const masked = /masked_expr/.test(sql) ? [{ index: 0, name: 'x', strategy: 'redact' as MaskStrategy, column: 'x.y.z' }] : [];
    return {
      decision,
      statements: [{ sql, kind: 'select', decision, rule: 'roles.test.postgres.rules[0]', reason: `stand-in ${decision}`, accesses, masked }],
    };
  },
  maskForColumn(_s, table, column) {
    return (table === 'people' || table === 'people2') && column === 'email' ? { strategy: 'redact', column: `${SCHEMA}.${table}.email` } : null;
  },
};

let server: Server;
let catalogFails = false;
let port = 0;
const audit: AuditEntry[] = [];
const config: ProxyConfig = {
  listen: { host: '127.0.0.1', port: 0 },
  upstream: UPSTREAM,
  policyPath: '(none)',
  role: 'test',
  claims: { actor: 'tester' },
  session: { id: 's-1', secret: 'sekret-pass', expiresAt: new Date(Date.now() + 3600_000) },
  auditPath: '(memory)',
  approvalTimeoutMs: 1000,
  approval: { kind: 'none', reason: 'test' },
  maskKey: 'k',
};

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: UPSTREAM });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE; CREATE SCHEMA ${SCHEMA};
    CREATE TABLE ${SCHEMA}.people (id int, email text); INSERT INTO ${SCHEMA}.people VALUES (1, 'a@x.org'), (2, NULL);
    CREATE TABLE ${SCHEMA}.people2 (id int, email text, note text); INSERT INTO ${SCHEMA}.people2 VALUES (1, 'e', 'n@x.org');`);
  await admin.end();
  const { ColumnCatalog } = await import('../../src/pg/catalog.js');
  const real = new ColumnCatalog(UPSTREAM);
  const catalog = {
    resolve: (oid: number, attnum: number) => (catalogFails ? Promise.reject(new Error('catalog unavailable')) : real.resolve(oid, attnum)),
  };
  const deps: ConnectionDeps = {
    config,
    engine,
    catalog,
    audit: { append: (e) => void audit.push(e) },
    approver: { review: async () => ({ approved: false, via: 'unavailable', reason: 'no one' }) },
    redact: (sql) => sql.replace(/'[^']*'/g, '$s').replace(/\b\d+\b/g, '$n'),
    maskValue: (_s, v) => (v === null ? null : Buffer.from('***')),
    maskKey: Buffer.from('k'),
    connectUpstream: (url, o) => connectUpstream(url, o),
    sendCancel: (url, k) => sendCancel(url, k),
    createScram: (s) => new ScramServer(s),
    cancelKeys: new CancelKeys(),
    logger: { info: () => {}, warn: () => {} },
    schema: {
      epoch: 0,
      changed() {
        this.epoch++;
        real.invalidate();
      },
    },
  };
  server = createServer((sock) => {
    sock.on('error', () => {});
    new ProxyConnection(sock, deps).start();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  server?.close();
  const admin = new pg.Client({ connectionString: UPSTREAM });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin.end();
});

function client(extra: Partial<pg.ClientConfig> = {}): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port, user: 'tollgate', password: 'sekret-pass', database: 'test', ...extra });
}

describe('ProxyConnection (stand-in policy, real upstream)', () => {
  it('authenticates with SCRAM and runs an allowed simple query', async () => {
    const c = client();
    await c.connect();
    const r = await c.query('SELECT 1 AS one');
    expect(r.rows).toEqual([{ one: 1 }]);
    await c.end();
  });

  it('refuses a wrong password with 28P01', async () => {
    const c = client({ password: 'wrong' });
    await expect(c.connect()).rejects.toMatchObject({ code: '28P01' });
  });

  it('denies a statement with 42501 and keeps the connection usable', async () => {
    const c = client();
    await c.connect();
    await expect(c.query('SELECT 1 AS forbidden')).rejects.toMatchObject({ code: '42501', message: expect.stringMatching(/^tollgate: denied/) });
    expect((await c.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    await c.end();
  });

  it('denies a Parse (extended protocol) and recovers at Sync', async () => {
    const c = client();
    await c.connect();
    await expect(c.query({ text: 'SELECT $1::int AS forbidden', values: [1] })).rejects.toMatchObject({ code: '42501' });
    expect((await c.query({ text: 'SELECT $1::int AS v', values: [7] })).rows).toEqual([{ v: 7 }]);
    await c.end();
  });

  it('runs named prepared statements repeatedly', async () => {
    const c = client();
    await c.connect();
    for (let i = 0; i < 3; i++) {
      const r = await c.query({ name: 'ps1', text: 'SELECT $1::int + 1 AS v', values: [i] });
      expect(r.rows).toEqual([{ v: i + 1 }]);
    }
    await c.end();
  });

  it('masks a catalog-resolved column in text and binary format', async () => {
    const c = client();
    await c.connect();
    const r = await c.query(`SELECT id, email FROM ${SCHEMA}.people ORDER BY id`);
    expect(r.rows).toEqual([{ id: 1, email: '***' }, { id: 2, email: null }]);
    const r2 = await c.query({ text: `SELECT id, email FROM ${SCHEMA}.people WHERE id = $1`, values: [1] });
    expect(r2.rows).toEqual([{ id: 1, email: '***' }]);
    const r3 = await c.query({ text: `SELECT email FROM ${SCHEMA}.people WHERE id = $1`, values: [1], binary: true } as pg.QueryConfig);
    expect(r3.rows.map((x) => String(x.email))).toEqual(['***']);
    await c.end();
  });

  it('masks a computed column from the statement lineage', async () => {
    const c = client();
    await c.connect();
    const r = await c.query(`SELECT lower(email) AS masked_expr FROM ${SCHEMA}.people WHERE id = 1`);
    expect(r.rows).toEqual([{ masked_expr: '***' }]);
    await c.end();
  });

  it('refuses a result whose columns the catalog cannot name (fail closed), and stays usable', async () => {
    catalogFails = true;
    try {
      const c = client();
      await c.connect();
      await expect(c.query(`SELECT id, email FROM ${SCHEMA}.people`)).rejects.toMatchObject({
        code: '42501',
        message: expect.stringMatching(/^tollgate: denied: result refused: cannot resolve result column "id"/),
      });
      expect((await c.query('SELECT 5 AS five')).rows).toEqual([{ five: 5 }]);
      await expect(c.query({ text: `SELECT email FROM ${SCHEMA}.people WHERE id = $1`, values: [1] })).rejects.toMatchObject({
        code: '42501',
        message: expect.stringMatching(/result refused: cannot resolve result column "email"/),
      });
      expect((await c.query({ text: 'SELECT $1::int AS v', values: [6] })).rows).toEqual([{ v: 6 }]);
      await c.end();
    } finally {
      catalogFails = false;
    }
  });

  it('forgets cached column names and mask plans after DDL (a renamed column gets its new mask)', async () => {
    const c = client();
    await c.connect();
    expect((await c.query(`SELECT note AS x FROM ${SCHEMA}.people2`)).rows).toEqual([{ x: 'n@x.org' }]);
    await c.query(`ALTER TABLE ${SCHEMA}.people2 RENAME COLUMN email TO email_old`);
    await c.query(`ALTER TABLE ${SCHEMA}.people2 RENAME COLUMN note TO email`);
    // The same RowDescription bytes as before (alias x, same table and attribute number).
    expect((await c.query(`SELECT email AS x FROM ${SCHEMA}.people2`)).rows).toEqual([{ x: '***' }]);
    await c.end();
  });

  it('refuses startup parameters that would change the session', () => {
    expect(checkStartupParams(new Map([['user', 'tollgate'], ['options', '-c role=x']]))?.code).toBe('08004');
    expect(checkStartupParams(new Map([['user', 'tollgate'], ['client_encoding', 'SJIS']]))?.code).toBe('08004');
    expect(checkStartupParams(new Map([['user', 'postgres']]))?.code).toBe('28000');
    expect(checkStartupParams(new Map([['user', 'tollgate'], ['client_encoding', 'utf-8'], ['database', 'x']]))).toBeNull();
  });

  it('records audit entries without literals', () => {
    const sqls = audit.filter((e) => e.type === 'sql').map((e) => e.statement ?? '');
    expect(sqls.length).toBeGreaterThan(5);
    expect(sqls.join('\n')).not.toContain('a@x.org');
    expect(audit.some((e) => e.decision === 'deny' && e.type === 'sql')).toBe(true);
  });
});
