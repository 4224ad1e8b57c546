// connectUpstream, sendCancel and ColumnCatalog against the real PostgreSQL at 127.0.0.1:5432, plus
// small fake servers for what a real server does not do (TLS here runs through a TLS-terminating relay
// with a throwaway certificate, because the local server has ssl=off).

import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendCancel } from '../../src/pg/cancel.js';
import { CatalogError, ColumnCatalog, SimpleQuerySession } from '../../src/pg/catalog.js';
import * as P from '../../src/pg/protocol.js';
import { commandComplete, rowDescription } from '../support/wire-writers.js';
import { B, BackendParser, decodeErrorFields, query } from '../../src/pg/protocol.js';
import { ScramServer, deriveScramVerifier } from '../../src/pg/scram.js';
import { connectUpstream, parseUpstreamUrl, UpstreamError, type Upstream } from '../../src/pg/upstream.js';
import { ADMIN, ensurePasswordAuth } from '../support/pg-hba.js';
import { startTestProxy } from '../support/proxy.js';

const execFileAsync = promisify(execFile);
const PG = '127.0.0.1:5432';
const DB = 'test';
const suffix = randomBytes(4).toString('hex');
const roles = {
  scram: `tollgate_scram_${suffix}`,
  md5: `tollgate_md5_${suffix}`,
  clear: `tollgate_clear_${suffix}`,
  prep: `tollgate_scramprep_${suffix}`,
};
const PASSWORDS = {
  scram: `scram-${randomBytes(6).toString('hex')}`,
  md5: `md5-${randomBytes(6).toString('hex')}`,
  clear: `clear-${randomBytes(6).toString('hex')}`,
  // Characters that need percent-encoding in a URL.
  special: `p@ss:w/rd%?#& ${randomBytes(3).toString('hex')}`,
  // Fullwidth letters: SASLprep (NFKC) turns them into ASCII, on the server and in our client.
  prep: '\uff53\uff45\uff43\uff52\uff45\uff54-\u00fc',
};
const SCHEMA = `tollgate_catalog_${suffix}`;

const url = (user: string, password?: string, extra = '') =>
  `postgres://${encodeURIComponent(user)}${password === undefined ? '' : ':' + encodeURIComponent(password)}@${PG}/${DB}${extra}`;

/** Runs one simple query on an Upstream and returns its text rows; the socket stays usable. */
function simpleQuery(up: Upstream, sql: string): Promise<(string | null)[][]> {
  return new Promise((resolve, reject) => {
    const parser = new BackendParser();
    const rows: (string | null)[][] = [];
    let error: string | null = null;
    const onData = (chunk: Buffer) =>
      parser.parse(chunk, (f) => {
        if (f.code === B.DataRow) {
          const n = f.body.readInt16BE(0);
          let off = 2;
          const row: (string | null)[] = [];
          for (let i = 0; i < n; i++) {
            const len = f.body.readInt32BE(off);
            off += 4;
            row.push(len < 0 ? null : f.body.toString('utf8', off, off + len));
            if (len > 0) off += len;
          }
          rows.push(row);
        } else if (f.code === B.ErrorResponse) {
          const fields = decodeErrorFields(f.body);
          error = `${fields.get('C')}: ${fields.get('M')}`;
        } else if (f.code === B.ReadyForQuery) {
          up.socket.off('data', onData);
          up.socket.pause();
          if (error) reject(new Error(error));
          else resolve(rows);
        }
      });
    up.socket.on('data', onData);
    up.socket.once('error', reject);
    if (up.leftover.length) onData(up.leftover);
    up.socket.resume();
    up.socket.write(query(sql));
  });
}

async function expectUpstreamError(p: Promise<unknown>, code: UpstreamError['code'], message: RegExp): Promise<UpstreamError> {
  const err = await p.then(
    () => {
      throw new Error('expected the connection to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamError);
  expect((err as UpstreamError).code).toBe(code);
  expect((err as UpstreamError).message).toMatch(message);
  for (const pw of Object.values(PASSWORDS)) expect((err as Error).message).not.toContain(pw);
  return err as UpstreamError;
}

let admin: pg.Client;

beforeAll(async () => {
  const groups = await ensurePasswordAuth();
  admin = new pg.Client({ ...ADMIN, database: DB });
  await admin.connect();
  await admin.query(`SET password_encryption = 'scram-sha-256'`);
  await admin.query(`CREATE ROLE ${roles.scram} LOGIN PASSWORD '${PASSWORDS.scram}' IN ROLE ${groups.scram}`);
  await admin.query(`CREATE ROLE ${roles.clear} LOGIN PASSWORD '${PASSWORDS.clear}' IN ROLE ${groups.password}`);
  await admin.query(`CREATE ROLE ${roles.prep} LOGIN PASSWORD '${PASSWORDS.prep}' IN ROLE ${groups.scram}`);
  await admin.query(`SET password_encryption = 'md5'`);
  await admin.query(`CREATE ROLE ${roles.md5} LOGIN PASSWORD '${PASSWORDS.md5}' IN ROLE ${groups.md5}`);
  await admin.query(`RESET password_encryption`);
  const stored = await admin.query<{ rolname: string; kind: string }>(
    `SELECT rolname, left(rolpassword, 3) AS kind FROM pg_authid WHERE rolname = ANY($1)`,
    [Object.values(roles)],
  );
  const kinds = Object.fromEntries(stored.rows.map((r) => [r.rolname, r.kind]));
  expect(kinds[roles.scram]).toBe('SCR');
  expect(kinds[roles.md5]).toBe('md5');
});

afterAll(async () => {
  if (!admin) return;
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  for (const r of Object.values(roles)) await admin.query(`DROP ROLE IF EXISTS ${r}`);
  await admin.end();
});

describe('parseUpstreamUrl', () => {
  it('decodes percent-encoded parts and applies defaults', () => {
    const t = parseUpstreamUrl('postgresql://us%40er:p%3Aw%2Fd@db.example/my%20db');
    expect(t).toEqual({
      host: 'db.example',
      port: 5432,
      user: 'us@er',
      password: 'p:w/d',
      database: 'my db',
      sslmode: 'prefer',
      sslrootcert: undefined,
      applicationName: undefined,
      connectTimeoutMs: undefined,
    });
    expect(parseUpstreamUrl('postgres://u@[::1]:6543').database).toBe('u');
    expect(parseUpstreamUrl('postgres://u@[::1]:6543').host).toBe('::1');
    expect(parseUpstreamUrl('postgres://u@/d?host=/var/run/postgresql').host).toBe('/var/run/postgresql');
    expect(parseUpstreamUrl('postgres://u@/d').host).toBe('localhost');
    expect(parseUpstreamUrl('postgres://u@?sslmode=disable').database).toBe('u');
    expect(parseUpstreamUrl('postgres://u@h/d?sslmode=verify-full&sslrootcert=/ca.pem').sslrootcert).toBe('/ca.pem');
  });

  it.each([
    ['http://u@h/d', /scheme must be postgres/],
    ['postgres://h/d', /user name is required/],
    ['postgres://u@h/d?sslmode=requre', /sslmode must be one of/],
    ['postgres://u@h/d?options=-c%20role%3Dx', /unsupported parameter 'options'/],
    ['postgres://u@h:99999/d', /not a valid URL|port/],
    ['postgres://u:%E0%A4%A@h/d', /bad percent-encoding in the password/],
    ['postgres://u@h1,h2/d', /multiple hosts|not a valid URL/],
    ['not a url', /not a valid URL/],
  ])('refuses %s', (u, msg) => {
    expect(() => parseUpstreamUrl(u)).toThrow(msg);
  });

  it('never puts the password in an error', () => {
    try {
      parseUpstreamUrl('postgres://u:hunter2@h/d?sslmode=bogus');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });
});

describe('connectUpstream against PostgreSQL', () => {
  it('connects with trust, reports parameters and a 4-byte backend key, and the session works', async () => {
    const up = await connectUpstream(url('postgres'), { applicationName: 'tollgate-test' });
    try {
      expect(up.tls).toBe(false);
      expect(up.leftover.length).toBe(0);
      expect(up.backendKey.secret.length).toBe(4);
      expect(up.backendKey.pid).toBeGreaterThan(0);
      expect(up.parameters.get('client_encoding')).toBe('UTF8');
      expect(up.parameters.get('application_name')).toBe('tollgate-test');
      expect(up.parameters.get('server_version')).toMatch(/^15\./);
      const rows = await simpleQuery(up, `SELECT current_user, current_database(), pg_backend_pid()::text`);
      expect(rows).toEqual([['postgres', DB, String(up.backendKey.pid)]]);
    } finally {
      up.socket.destroy();
    }
  });

  it('keeps standard_conforming_strings on even when the role defaults it to off', async () => {
    // With it off, `'a\\'` would not end at the quote on the server while the gateway's parser says it does.
    const role = `tollgate_scs_${suffix}`;
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`ALTER ROLE ${role} SET standard_conforming_strings = off`);
    try {
      const up = await connectUpstream(url(role));
      try {
        expect(up.parameters.get('standard_conforming_strings')).toBe('on');
        expect(await simpleQuery(up, `SELECT current_setting('standard_conforming_strings')`)).toEqual([['on']]);
      } finally {
        up.socket.destroy();
      }
    } finally {
      await admin.query(`DROP ROLE ${role}`);
    }
  });

  it('authenticates with SCRAM-SHA-256', async () => {
    const up = await connectUpstream(url(roles.scram, PASSWORDS.scram));
    try {
      expect(await simpleQuery(up, 'SELECT current_user')).toEqual([[roles.scram]]);
    } finally {
      up.socket.destroy();
    }
  });

  it('refuses a wrong SCRAM password with a clear error that holds no password', async () => {
    const err = await expectUpstreamError(
      connectUpstream(url(roles.scram, PASSWORDS.scram + 'x')),
      'ERR_UPSTREAM_AUTH',
      new RegExp(`password authentication failed for user "${roles.scram}"`),
    );
    expect(err.sqlstate).toBe('28P01');
    expect(err.message).toContain(`upstream ${roles.scram}@127.0.0.1:5432/${DB}`);
  });

  it('says so when the server asks for a password and the URL has none', async () => {
    await expectUpstreamError(
      connectUpstream(url(roles.scram)),
      'ERR_UPSTREAM_AUTH',
      /asks for a password \(SCRAM-SHA-256\) but the upstream URL has none/,
    );
  });

  it('authenticates with MD5, and refuses a wrong MD5 password', async () => {
    const up = await connectUpstream(url(roles.md5, PASSWORDS.md5));
    try {
      expect(await simpleQuery(up, 'SELECT current_user')).toEqual([[roles.md5]]);
    } finally {
      up.socket.destroy();
    }
    const err = await expectUpstreamError(connectUpstream(url(roles.md5, 'nope')), 'ERR_UPSTREAM_AUTH', /password authentication failed/);
    expect(err.sqlstate).toBe('28P01');
  });

  it('answers a cleartext password request', async () => {
    const up = await connectUpstream(url(roles.clear, PASSWORDS.clear));
    try {
      expect(await simpleQuery(up, 'SELECT current_user')).toEqual([[roles.clear]]);
    } finally {
      up.socket.destroy();
    }
    await expectUpstreamError(connectUpstream(url(roles.clear, 'nope')), 'ERR_UPSTREAM_AUTH', /password authentication failed/);
  });

  it('handles percent-encoded passwords with URL-special characters', async () => {
    await admin.query(`ALTER ROLE ${roles.clear} PASSWORD '${PASSWORDS.special.replace(/'/g, "''")}'`);
    try {
      expect(url(roles.clear, PASSWORDS.special)).toContain('%40');
      const up = await connectUpstream(url(roles.clear, PASSWORDS.special));
      up.socket.destroy();
    } finally {
      await admin.query(`ALTER ROLE ${roles.clear} PASSWORD '${PASSWORDS.clear}'`);
    }
  });

  it('applies SASLprep like PostgreSQL: the fullwidth password and its NFKC form both work', async () => {
    const a = await connectUpstream(url(roles.prep, PASSWORDS.prep));
    a.socket.destroy();
    const b = await connectUpstream(url(roles.prep, 'secret-\u00fc'));
    b.socket.destroy();
    await expectUpstreamError(connectUpstream(url(roles.prep, 'secret-u')), 'ERR_UPSTREAM_AUTH', /password authentication failed/);
  });

  it('reports a missing database with its SQLSTATE', async () => {
    const err = await expectUpstreamError(
      connectUpstream(`postgres://postgres@${PG}/tollgate_no_such_db_${suffix}`),
      'ERR_UPSTREAM_REFUSED',
      /database "tollgate_no_such_db_\w+" does not exist/,
    );
    expect(err.sqlstate).toBe('3D000');
  });

  it('connects over the Unix socket named by ?host=', async () => {
    const dir = String((await admin.query('SHOW unix_socket_directories')).rows[0].unix_socket_directories).split(',')[0]!.trim();
    const up = await connectUpstream(`postgres://postgres@/${DB}?host=${encodeURIComponent(dir)}`);
    try {
      expect(up.tls).toBe(false);
      expect(await simpleQuery(up, 'SELECT current_user')).toEqual([['postgres']]);
    } finally {
      up.socket.destroy();
    }
  });

  it('fails clearly when nothing listens', async () => {
    const port = await freePort();
    await expectUpstreamError(connectUpstream(`postgres://postgres@127.0.0.1:${port}/x?sslmode=disable`), 'ERR_UPSTREAM_CONNECT', /ECONNREFUSED/);
  });
});

describe('sslmode against the local server (ssl is off there)', () => {
  it('the server really has ssl off', async () => {
    expect((await admin.query('SHOW ssl')).rows[0].ssl).toBe('off');
  });

  it.each(['require', 'verify-ca', 'verify-full'])('sslmode=%s fails: the server does not support SSL', async (mode) => {
    await expectUpstreamError(
      connectUpstream(url('postgres', undefined, `?sslmode=${mode}`)),
      'ERR_UPSTREAM_TLS',
      new RegExp(`sslmode=${mode} but the server does not support SSL`),
    );
  });

  it.each(['prefer', 'disable', 'allow'])('sslmode=%s connects in plain text', async (mode) => {
    const up = await connectUpstream(url('postgres', undefined, `?sslmode=${mode}`));
    expect(up.tls).toBe(false);
    up.socket.destroy();
  });
});

describe('TLS through a TLS-terminating relay in front of PostgreSQL', () => {
  let dir: string;
  let relay: net.Server;
  let relayPort: number;
  let certPath: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-tls-'));
    certPath = join(dir, 'cert.pem');
    const keyPath = join(dir, 'key.pem');
    // A throwaway self-signed certificate for db.example only (no IP address in it).
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=db.example',
      '-addext', 'subjectAltName=DNS:db.example',
    ], { stdio: 'ignore' });
    const secureContext = tls.createSecureContext({ key: readText(keyPath), cert: readText(certPath) });
    relay = net.createServer((client) => {
      client.once('data', (first) => {
        if (first.length !== 8 || first.readInt32BE(4) !== 80877103) return client.destroy();
        client.write('S');
        const secure = new tls.TLSSocket(client, { isServer: true, secureContext });
        const server = net.connect(5432, '127.0.0.1');
        secure.pipe(server).pipe(secure);
        secure.on('error', () => server.destroy());
        server.on('error', () => secure.destroy());
      });
      client.on('error', () => undefined);
    });
    relayPort = await listen(relay);
  });

  afterAll(() => {
    relay?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const relayUrl = (user: string, password: string | undefined, q: string) =>
    `postgres://${user}${password ? ':' + encodeURIComponent(password) : ''}@127.0.0.1:${relayPort}/${DB}${q}`;

  it('sslmode=require speaks TLS (without checking the certificate) and SCRAM works over it', async () => {
    const up = await connectUpstream(relayUrl(roles.scram, PASSWORDS.scram, '?sslmode=require'));
    try {
      expect(up.tls).toBe(true);
      expect(up.socket).toBeInstanceOf(tls.TLSSocket);
      expect(await simpleQuery(up, 'SELECT current_user')).toEqual([[roles.scram]]);
    } finally {
      up.socket.destroy();
    }
  });

  it('sendCancel goes over TLS too when the URL requires it', async () => {
    const u = relayUrl(roles.scram, PASSWORDS.scram, '?sslmode=require');
    const up = await connectUpstream(u);
    try {
      const running = simpleQuery(up, 'SELECT pg_sleep(30)').then(
        () => 'finished',
        (e: Error) => e.message,
      );
      await new Promise((r) => setTimeout(r, 200));
      await sendCancel(u, up.backendKey);
      expect(await running).toBe('57014: canceling statement due to user request');
    } finally {
      up.socket.destroy();
    }
  });

  it('sslmode=prefer uses TLS when the server offers it', async () => {
    const up = await connectUpstream(relayUrl('postgres', undefined, '?sslmode=prefer'));
    expect(up.tls).toBe(true);
    up.socket.destroy();
  });

  it('sslmode=verify-ca accepts a certificate signed by sslrootcert', async () => {
    const up = await connectUpstream(relayUrl('postgres', undefined, `?sslmode=verify-ca&sslrootcert=${certPath}`));
    expect(up.tls).toBe(true);
    up.socket.destroy();
  });

  it('sslmode=verify-full refuses a certificate for another host name', async () => {
    await expectUpstreamError(
      connectUpstream(relayUrl('postgres', undefined, `?sslmode=verify-full&sslrootcert=${certPath}`)),
      'ERR_UPSTREAM_TLS',
      /TLS handshake failed: .*(IP: 127\.0\.0\.1 is not in the cert's list|does not match)/,
    );
  });

  it('sslmode=verify-full refuses a certificate no trusted CA signed', async () => {
    await expectUpstreamError(
      connectUpstream(relayUrl('postgres', undefined, '?sslmode=verify-full')),
      'ERR_UPSTREAM_TLS',
      /TLS handshake failed: self[- ]signed certificate/,
    );
  });

  it('names an unreadable sslrootcert', async () => {
    await expectUpstreamError(
      connectUpstream(relayUrl('postgres', undefined, `?sslmode=verify-ca&sslrootcert=${join(dir, 'missing.pem')}`)),
      'ERR_UPSTREAM_TLS',
      /cannot read sslrootcert .*missing\.pem: ENOENT/,
    );
  });
});

describe('misbehaving servers', () => {
  it('refuses bytes injected after the SSL answer (CVE-2021-23222)', async () => {
    const { port, close } = await fakeServer((sock) => {
      sock.once('data', () => sock.write(Buffer.concat([Buffer.from('S'), Buffer.from('injected')])));
    });
    try {
      await expectUpstreamError(
        connectUpstream(`postgres://u:pw@127.0.0.1:${port}/d?sslmode=require`),
        'ERR_UPSTREAM_PROTOCOL',
        /unexpected data after its SSL answer/,
      );
    } finally {
      close();
    }
  });

  it('refuses AuthenticationOk before the server proved it knows the password (SCRAM)', async () => {
    const { port, close } = await fakeServer((sock) => {
      let step = 0;
      sock.on('data', () => {
        step++;
        if (step === 1) sock.write(authMessage(10, Buffer.from('SCRAM-SHA-256\0\0')));
        else if (step === 2) sock.write(authMessage(0));
      });
    });
    try {
      await expectUpstreamError(
        connectUpstream(`postgres://u:pw@127.0.0.1:${port}/d?sslmode=disable`),
        'ERR_UPSTREAM_AUTH',
        /ended SCRAM authentication without proving it knows the password/,
      );
    } finally {
      close();
    }
  });

  it('refuses an unsupported authentication method and SASL without SCRAM-SHA-256', async () => {
    for (const [msg, re] of [
      [authMessage(7), /unsupported authentication GSSAPI/],
      [authMessage(10, Buffer.from('SCRAM-SHA-256-PLUS\0\0')), /only SCRAM-SHA-256 is supported/],
    ] as const) {
      const { port, close } = await fakeServer((sock) => sock.once('data', () => sock.write(msg)));
      try {
        await expectUpstreamError(connectUpstream(`postgres://u:pw@127.0.0.1:${port}/d?sslmode=disable`), 'ERR_UPSTREAM_AUTH', re);
      } finally {
        close();
      }
    }
  });

  it('refuses an absurd message length before allocating', async () => {
    const { port, close } = await fakeServer((sock) => {
      sock.once('data', () => {
        const m = Buffer.alloc(5);
        m[0] = 0x52;
        m.writeInt32BE(0x7fffffff, 1);
        sock.write(m);
      });
    });
    try {
      await expectUpstreamError(connectUpstream(`postgres://u:pw@127.0.0.1:${port}/d?sslmode=disable`), 'ERR_UPSTREAM_PROTOCOL', /absurd length/);
    } finally {
      close();
    }
  });

  it('times out on a server that never answers, and closes the socket', async () => {
    let serverSawClose: Promise<void> | undefined;
    const { port, close } = await fakeServer((sock) => {
      serverSawClose = new Promise((r) => sock.once('close', () => r()));
      sock.resume();
    });
    try {
      const t0 = Date.now();
      await expectUpstreamError(
        connectUpstream(`postgres://u:pw@127.0.0.1:${port}/d`, { timeoutMs: 300 }),
        'ERR_UPSTREAM_TIMEOUT',
        /timed out after 300 ms/,
      );
      expect(Date.now() - t0).toBeLessThan(2000);
      // The client gave up and closed its socket: the server sees the connection end.
      await expect(serverSawClose).resolves.toBeUndefined();
    } finally {
      close();
    }
  });

  it('fails when the server closes during the handshake', async () => {
    const { port, close } = await fakeServer((sock) => sock.once('data', () => sock.end()));
    try {
      await expectUpstreamError(connectUpstream(`postgres://u:pw@127.0.0.1:${port}/d?sslmode=disable`), 'ERR_UPSTREAM_PROTOCOL', /closed the connection during the handshake/);
    } finally {
      close();
    }
  });
});

describe('sendCancel', () => {
  it('cancels the query a backend is running', async () => {
    const up = await connectUpstream(url(roles.scram, PASSWORDS.scram));
    try {
      const running = simpleQuery(up, 'SELECT pg_sleep(30)').then(
        () => 'finished',
        (e: Error) => e.message,
      );
      await new Promise((r) => setTimeout(r, 200));
      const t0 = Date.now();
      await sendCancel(url(roles.scram, PASSWORDS.scram), up.backendKey);
      expect(await running).toBe('57014: canceling statement due to user request');
      expect(Date.now() - t0).toBeLessThan(5000);
      // The session itself survives a cancel.
      expect(await simpleQuery(up, 'SELECT 1')).toEqual([['1']]);
    } finally {
      up.socket.destroy();
    }
  });

  it('rejects when the upstream cannot be reached', async () => {
    const port = await freePort();
    await expectUpstreamError(sendCancel(`postgres://u@127.0.0.1:${port}/d?sslmode=disable`, { pid: 1, secret: Buffer.alloc(4) }), 'ERR_UPSTREAM_CONNECT', /ECONNREFUSED/);
  });
});

describe('ColumnCatalog', () => {
  let oids: { users: number; orders: number };

  beforeAll(async () => {
    await admin.query(`CREATE SCHEMA ${SCHEMA}`);
    await admin.query(`CREATE TABLE ${SCHEMA}.users (id int, email text, "Weird Name" text)`);
    await admin.query(`CREATE TABLE ${SCHEMA}.orders (id int, dropped int, total numeric)`);
    await admin.query(`ALTER TABLE ${SCHEMA}.orders DROP COLUMN dropped`);
    const r = await admin.query<{ relname: string; oid: string }>(
      `SELECT c.relname, c.oid::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`,
      [SCHEMA],
    );
    const m = Object.fromEntries(r.rows.map((x) => [x.relname, Number(x.oid)]));
    oids = { users: m.users!, orders: m.orders! };
  });

  it('resolves names, batches lookups of one tick into one query, and caches', async () => {
    let sessions = 0;
    const sqls: string[] = [];
    const catalog = new ColumnCatalog(url('postgres'), {
      open: async () => {
        sessions++;
        const s = await SimpleQuerySession.open(url('postgres'));
        return {
          query: (sql: string) => (sqls.push(sql), s.query(sql)),
          close: () => s.close(),
          get closed() {
            return s.closed;
          },
        };
      },
    });
    try {
      const [a, b, c, d] = await Promise.all([
        catalog.resolve(oids.users, 2),
        catalog.resolve(oids.users, 3),
        catalog.resolve(oids.orders, 3),
        catalog.resolve(0, 1),
      ]);
      expect(a).toEqual({ schema: SCHEMA, table: 'users', column: 'email' });
      expect(b).toEqual({ schema: SCHEMA, table: 'users', column: 'Weird Name' });
      expect(c).toEqual({ schema: SCHEMA, table: 'orders', column: 'total' });
      expect(d).toBeNull();
      expect(sessions).toBe(1);
      expect(sqls.filter((s) => s.includes('pg_attribute'))).toHaveLength(1);
      // Cached: no more queries, and the synchronous peek sees it.
      expect(await catalog.resolve(oids.users, 1)).toEqual({ schema: SCHEMA, table: 'users', column: 'id' });
      expect(catalog.cached(oids.users, 2)).toBe(a);
      expect(catalog.cached(oids.users + 999_999, 1)).toBeUndefined();
      expect(sqls.filter((s) => s.includes('pg_attribute'))).toHaveLength(1);
    } finally {
      catalog.close();
    }
  });

  it('reloads a table when a column was added after caching', async () => {
    const catalog = new ColumnCatalog(url('postgres'));
    try {
      expect(await catalog.resolve(oids.orders, 1)).toEqual({ schema: SCHEMA, table: 'orders', column: 'id' });
      await admin.query(`ALTER TABLE ${SCHEMA}.orders ADD COLUMN ssn text`);
      expect(await catalog.resolve(oids.orders, 4)).toEqual({ schema: SCHEMA, table: 'orders', column: 'ssn' });
    } finally {
      catalog.close();
    }
  });

  it('rejects (fail closed) for a dropped column, an unknown table and an unreachable server', async () => {
    const catalog = new ColumnCatalog(url('postgres'));
    try {
      await expect(catalog.resolve(oids.orders, 2)).rejects.toMatchObject({ code: 'ERR_CATALOG_NOT_FOUND' });
      await expect(catalog.resolve(4_000_000_000, 1)).rejects.toBeInstanceOf(CatalogError);
    } finally {
      catalog.close();
    }
    const port = await freePort();
    const down = new ColumnCatalog(`postgres://postgres@127.0.0.1:${port}/x?sslmode=disable`);
    await expect(down.resolve(oids.users, 2)).rejects.toMatchObject({ code: 'ERR_CATALOG_LOOKUP' });
    down.close();
  });

  it('rejects (fail closed) when the lookup times out', async () => {
    // A server that authenticates (trust) and then never answers a query.
    const { port, close } = await fakeServer((sock) => {
      sock.once('data', () =>
        sock.write(Buffer.concat([authMessage(0), P.backendKeyData(7, Buffer.alloc(4)), P.readyForQuery('I')])),
      );
    });
    try {
      const catalog = new ColumnCatalog(`postgres://u@127.0.0.1:${port}/d?sslmode=disable`, { queryTimeoutMs: 200 });
      const err = await catalog.resolve(oids.users, 2).then(
        () => null,
        (e: CatalogError) => e,
      );
      expect(err).toBeInstanceOf(CatalogError);
      expect(err?.code).toBe('ERR_CATALOG_LOOKUP');
      expect(err?.message).toBe('column name lookup failed: catalog query timed out after 200 ms');
      catalog.close();
    } finally {
      close();
    }
  });

  it('recovers after its session dies', async () => {
    const catalog = new ColumnCatalog(url('postgres'));
    try {
      expect(await catalog.resolve(oids.users, 2)).toMatchObject({ column: 'email' });
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tollgate-catalog' AND usename = 'postgres'`,
      );
      await new Promise((r) => setTimeout(r, 100));
      catalog.invalidate();
      expect(await catalog.resolve(oids.users, 3)).toMatchObject({ column: 'Weird Name' });
    } finally {
      catalog.close();
    }
  });
});

describe('the whole proxy in front of a SCRAM-authenticated upstream role', () => {
  it('clients log in with the session secret, the proxy logs in upstream with SCRAM, masks by catalog', async () => {
    const E2E = `${SCHEMA}_e2e`;
    await admin.query(`CREATE SCHEMA ${E2E}; CREATE TABLE ${E2E}.people (id int, email text, hashed text, part text);
      INSERT INTO ${E2E}.people VALUES (1, 'ann@example.org', 'ann@example.org', 'ann@example.org');
      GRANT USAGE ON SCHEMA ${E2E} TO ${roles.scram}; GRANT SELECT ON ${E2E}.people TO ${roles.scram};`);
    const proxy = await startTestProxy({
      upstream: url(roles.scram, PASSWORDS.scram),
      policy: `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["${E2E}.*", "pg_catalog.*"] }
        - { action: deny, kinds: [any] }
      masks:
        - { columns: ["${E2E}.people.email"], strategy: redact }
        - { columns: ["${E2E}.people.hashed"], strategy: hash }
        - { columns: ["${E2E}.people.part"], strategy: partial }
`,
    });
    try {
      const c = new pg.Client(proxy.pg);
      await c.connect();
      const who = await c.query('SELECT current_user AS u');
      expect(who.rows).toEqual([{ u: roles.scram }]);
      const r = await c.query(`SELECT id, email, hashed, part FROM ${E2E}.people`);
      expect(r.rows).toHaveLength(1);
      expect(r.rows[0]).toMatchObject({ id: 1, email: '***', part: 'a***@example.org' });
      expect(r.rows[0].hashed).toMatch(/^[0-9a-f]{16}$/);
      await c.end();
      const wrong = new pg.Client({ ...proxy.pg, password: proxy.password + 'x' });
      await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);
    } finally {
      await proxy.stop();
      await admin.query(`DROP SCHEMA ${E2E} CASCADE`);
    }
  });
});

describe('ScramServer with real clients (node-postgres, psql/libpq)', () => {
  // A minimal server: SCRAM-SHA-256 with ScramServer, then answers every query with one row `ok`.
  const SECRET = `session-${randomBytes(8).toString('hex')}`;
  let server: net.Server;
  let port: number;
  const outcomes: string[] = [];

  beforeAll(async () => {
    const verifier = deriveScramVerifier(SECRET);
    server = net.createServer((sock) => {
      const parser = new P.FrontendParser();
      const scram = new ScramServer(verifier);
      let step: 'startup' | 'first' | 'final' | 'ready' = 'startup';
      sock.on('error', () => undefined);
      sock.on('data', (chunk) => {
        try {
          parser.parse(chunk, (m) => {
            if (m.type === 'sslRequest' || m.type === 'gssEncRequest') sock.write('N');
            else if (m.type === 'startup' && step === 'startup') {
              step = 'first';
              sock.write(P.authenticationSASL(scram.mechanisms()));
            } else if (m.type === 'password' && step === 'first') {
              const { mechanism, data } = P.decodeSASLInitialResponse(m.body);
              if (mechanism !== 'SCRAM-SHA-256') throw new Error('mechanism');
              step = 'final';
              sock.write(P.authenticationSASLContinue(scram.handleClientFirst(data)));
            } else if (m.type === 'password' && step === 'final') {
              const r = scram.handleClientFinal(m.body);
              outcomes.push(r.ok ? 'ok' : r.reason);
              if (!r.ok) {
                sock.end(P.errorResponse({ severity: 'FATAL', code: '28P01', message: 'password authentication failed for user "tollgate"' }));
                return;
              }
              step = 'ready';
              sock.write(Buffer.concat([
                P.authenticationSASLFinal(r.serverFinal),
                P.authenticationOk(),
                P.parameterStatus('client_encoding', 'UTF8'),
                P.parameterStatus('server_version', '15.0'),
                P.backendKeyData(1234, Buffer.alloc(4, 1)),
                P.readyForQuery('I'),
              ]));
            } else if (m.type === 'query' && step === 'ready') {
              sock.write(Buffer.concat([
                rowDescription([{ name: 'answer', tableOid: 0, attnum: 0, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 }]),
                P.dataRow([Buffer.from('ok')]),
                commandComplete('SELECT 1'),
                P.readyForQuery('I'),
              ]));
            } else if (m.type === 'terminate') sock.end();
            else throw new Error(`unexpected ${m.type} in ${step}`);
          });
        } catch (err) {
          outcomes.push(`error: ${(err as Error).message}`);
          sock.destroy();
        }
      });
    });
    port = await listen(server);
  });

  afterAll(() => server?.close());

  it('node-postgres authenticates with the session secret', async () => {
    outcomes.length = 0;
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'tollgate', password: SECRET, database: 'x' });
    await c.connect();
    expect((await c.query('SELECT whatever')).rows).toEqual([{ answer: 'ok' }]);
    await c.end();
    expect(outcomes).toEqual(['ok']);
  });

  it('node-postgres with a wrong secret is refused', async () => {
    outcomes.length = 0;
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'tollgate', password: SECRET + 'x', database: 'x' });
    await expect(c.connect()).rejects.toThrow('password authentication failed for user "tollgate"');
    expect(outcomes).toEqual(['password authentication failed']);
  });

  it('psql (libpq) authenticates, and is refused with a wrong secret', async () => {
    outcomes.length = 0;
    // Asynchronously: the server runs in this process.
    const run = async (password: string) => {
      try {
        return (await execFileAsync('psql', ['-X', '-A', '-t', '-h', '127.0.0.1', '-p', String(port), '-U', 'tollgate', '-d', 'x', '-c', 'SELECT 1'], {
          env: { ...process.env, PGPASSWORD: password, PGSSLMODE: 'prefer', PGCONNECT_TIMEOUT: '5' },
          encoding: 'utf8',
        })).stdout;
      } catch (err) {
        return `failed: ${(err as { stderr?: string }).stderr ?? ''}`;
      }
    };
    expect((await run(SECRET)).trim()).toBe('ok');
    expect(await run('wrong')).toMatch(/failed: .*password authentication failed for user "tollgate"/s);
    expect(outcomes).toEqual(['ok', 'password authentication failed']);
  });
});

// ---------------------------------------------------------------------------------------------

function readText(p: string): string {
  return readFileSync(p, 'utf8');
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

async function fakeServer(onConnection: (sock: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((sock) => {
    sockets.push(sock);
    sock.on('error', () => undefined);
    onConnection(sock);
  });
  const port = await listen(server);
  return {
    port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function authMessage(kind: number, extra: Buffer = Buffer.alloc(0)): Buffer {
  const m = Buffer.alloc(9 + extra.length);
  m[0] = 0x52;
  m.writeInt32BE(8 + extra.length, 1);
  m.writeInt32BE(kind, 5);
  extra.copy(m, 9);
  return m;
}

