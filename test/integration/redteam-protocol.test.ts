// Red team, wire protocol: an attacker who writes the client bytes tries to get a denied statement
// past the live proxy with extended-protocol tricks (names reused across a denial, portals of denied
// statements, Sync-less pipelines, Flush), messages out of place (FunctionCall, CopyData outside COPY,
// a Query during COPY IN, a second StartupMessage), bytes the analysis could read differently from
// the server (a NUL inside a Query, invalid UTF-8) and guessed cancel keys. Every attempt asserts
// the exact outcome, that nothing denied reached the database, and that the audit log stays clean.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../src/pg/protocol.js';
import { flushMessage } from '../support/wire-writers.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import {
  admin,
  closeAndCheckAudit,
  dropSchema,
  redteamPolicy,
  seedSchema,
  uniqueSchema,
  untouched,
  SECRET_EMAIL,
  SECRET_SSN,
} from '../fixtures/redteam/env.js';
import { copyDataMsg, copyDoneMsg, errors, functionCallMsg, rawMsg, rawRows, rows, types, Wire, type Msg } from '../fixtures/redteam/wire.js';

const S = uniqueSchema('proto');
let proxy: TestProxy;

const DENIED_PREFIX = 'tollgate: denied';

function expectDenied(msgs: Msg[]): void {
  const e = errors(msgs);
  expect(e).toHaveLength(1);
  expect(e[0]!.code).toBe('42501');
  expect(e[0]!.message.startsWith(DENIED_PREFIX)).toBe(true);
}

async function login(): Promise<Wire> {
  return Wire.login(proxy.port, proxy.password);
}

/** A fresh connection still gets served (the proxy survived whatever the last test did). */
async function stillServing(): Promise<void> {
  const w = await login();
  const m = await w.query("SELECT 'PLANTED-alive' AS alive");
  expect(rows(m)).toEqual([['PLANTED-alive']]);
  w.end();
}

/** Sends bytes, waits for `n` ReadyForQuery, returns the messages. */
async function exchange(w: Wire, bufs: Buffer[], n = 1): Promise<Msg[]> {
  w.reset();
  w.send(...bufs);
  await w.ready(n);
  return [...w.msgs];
}

/** A FATAL protocol violation, then the proxy closes the connection. */
async function expectProtocolViolation(w: Wire): Promise<void> {
  await w.closedWithin(5_000);
  const e = errors(w.msgs);
  expect(e.length).toBeGreaterThanOrEqual(1);
  expect(e[0]!.severity).toBe('FATAL');
  expect(e[0]!.code).toBe('08P01');
  expect(e[0]!.message.startsWith('tollgate: protocol violation:')).toBe(true);
}

beforeAll(async () => {
  await seedSchema(S);
  proxy = await startTestProxy({ policy: redteamPolicy(S) });
});

afterAll(async () => {
  if (proxy) await proxy.stop();
  await dropSchema(S);
});

describe('extended protocol: names, portals and pipelines around a denial', () => {
  it('a Parse reusing an allowed statement name for a denied statement is refused; the name keeps the allowed statement', async () => {
    const w = await login();
    expect(types(await exchange(w, [P.parse('s1', "SELECT 'PLANTED-p1' AS one"), P.sync()]))).toBe('1Z');
    // The denied Parse never reaches the server, and the Bind/Execute behind it are skipped until Sync.
    const denied = await exchange(w, [P.parse('s1', `DELETE FROM ${S}.users WHERE email <> 'PLANTED-p2'`), P.bind('', 's1'), P.execute(''), P.sync()]);
    expect(types(denied)).toBe('EZ');
    expectDenied(denied);
    const again = await exchange(w, [P.bind('', 's1'), P.execute(''), P.sync()]);
    expect(types(again)).toBe('2DCZ');
    expect(rows(again)).toEqual([['PLANTED-p1']]);
    expect(await untouched(S)).toEqual({ users: 1, secret: 1 });
    w.end();
  });

  it('a Parse holding several statements is decided as a whole: one denied statement denies it', async () => {
    const w = await login();
    const mixed = await exchange(w, [P.parse('m', `SELECT 'PLANTED-p3'; DELETE FROM ${S}.users`), P.sync()]);
    expect(types(mixed)).toBe('EZ');
    expectDenied(mixed);
    // Allowed statements only: the server itself refuses several commands in one Parse.
    const allowed = await exchange(w, [P.parse('m2', "SELECT 'PLANTED-p4'; SELECT 2"), P.sync()]);
    expect(errors(allowed).map((e) => e.code)).toEqual(['42601']);
    expect(await untouched(S)).toEqual({ users: 1, secret: 1 });
    w.end();
  });

  it('Bind, Describe and Execute of statements and portals the proxy never allowed are refused', async () => {
    const w = await login();
    // A denied Parse leaves no statement behind: binding or describing its name is refused.
    const parsed = await exchange(w, [P.parse('dd', `DELETE FROM ${S}.users WHERE id = 1`), P.sync()]);
    expectDenied(parsed);
    for (const attempt of [
      [P.bind('p', 'dd'), P.execute('p'), P.sync()],
      [P.describe('S', 'dd'), P.sync()],
      [P.describe('P', 'p'), P.sync()],
      [P.execute('never-bound'), P.sync()],
      [P.bind('', 'made-by-sql-prepare'), P.execute(''), P.sync()],
    ]) {
      const m = await exchange(w, attempt);
      expect(types(m)).toBe('EZ');
      expectDenied(m);
      expect(errors(m)[0]!.message).toMatch(/was not prepared through the extended protocol/);
    }
    expect(await untouched(S)).toEqual({ users: 1, secret: 1 });
    w.end();
  });

  it('a Close forgets the statement: binding it afterwards is refused', async () => {
    const w = await login();
    const m = await exchange(w, [P.parse('cl', "SELECT 'PLANTED-p5'"), P.close('S', 'cl'), P.bind('', 'cl'), P.execute(''), P.sync()]);
    expect(types(m)).toBe('13EZ');
    expectDenied(m);
    w.end();
  });

  it('the unnamed statement overwritten mid-pipeline by a denied Parse keeps the allowed one', async () => {
    const w = await login();
    const m = await exchange(
      w,
      [
        P.parse('', "SELECT 'PLANTED-p6' AS three"),
        P.bind('', ''),
        P.parse('', `DELETE FROM ${S}.users WHERE email LIKE 'PLANTED-p7%'`),
        P.execute(''),
        P.sync(),
        P.bind('', ''),
        P.execute(''),
        P.sync(),
      ],
      2,
    );
    // Parse+Bind answered, the denial, Sync; then the unnamed statement still is the SELECT.
    expect(types(m)).toBe('12EZ2DCZ');
    expectDenied(m);
    expect(rows(m)).toEqual([['PLANTED-p6']]);
    expect(await untouched(S)).toEqual({ users: 1, secret: 1 });
    w.end();
  });

  it('without a Sync everything after a denied Parse is skipped, a simple Query included', async () => {
    const w = await login();
    const m = await exchange(
      w,
      [P.parse('', `DELETE FROM ${S}.users`), P.query(`DELETE FROM ${S}.scratch WHERE t = 'PLANTED-p8'`), P.sync(), P.query("SELECT 'PLANTED-p9'")],
      2,
    );
    expect(types(m)).toBe('EZTDCZ');
    expectDenied(m);
    expect(rows(m)).toEqual([['PLANTED-p9']]);
    w.end();
  });

  it('Flush delivers the denial before Sync, and what follows stays skipped until Sync', async () => {
    const w = await login();
    w.reset();
    w.send(P.parse('', `DELETE FROM ${S}.users WHERE email = 'PLANTED-p10'`), flushMessage());
    await w.next((x) => x.type === 'E');
    expect(types(w.msgs)).toBe('E');
    expectDenied(w.msgs);
    w.send(P.bind('', ''), P.execute(''), flushMessage());
    await new Promise((r) => setTimeout(r, 200));
    expect(types(w.msgs)).toBe('E');
    w.send(P.sync());
    await w.ready();
    expect(types(w.msgs)).toBe('EZ');
    expect(await untouched(S)).toEqual({ users: 1, secret: 1 });
    w.end();
  });

  it('binary result formats, per-column formats and row-limited Executes are masked', async () => {
    const w = await login();
    const all = await exchange(w, [P.parse('', `SELECT email FROM ${S}.users WHERE email <> 'PLANTED-p11'`), P.bind('', '', [], [1]), P.execute(''), P.sync()]);
    expect(types(all)).toBe('12DCZ');
    expect(rawRows(all)[0]![0]!.toString()).toBe('***');
    const mixed = await exchange(w, [P.parse('', `SELECT id, email, ssn FROM ${S}.users`), P.bind('bp', '', [], [0, 1, 1]), P.describe('P', 'bp'), P.execute('bp'), P.sync()]);
    expect(types(mixed)).toBe('12TDCZ');
    expect(rawRows(mixed)[0]!.map((v) => (v === null ? null : v.toString()))).toEqual(['1', '***', null]);
    const limited = await exchange(w, [P.parse('', `SELECT email FROM ${S}.users`), P.bind('', ''), P.execute('', 1), P.execute('', 1), P.sync()]);
    expect(types(limited)).toBe('12DsCZ');
    expect(rows(limited)).toEqual([['***']]);
    for (const m of [all, mixed, limited]) {
      const bytes = Buffer.concat(m.map((x) => x.body)).toString('latin1');
      expect(bytes).not.toContain(SECRET_EMAIL);
      expect(bytes).not.toContain(SECRET_SSN);
    }
    w.end();
  });
});

describe('simple protocol: several statements in one Query', () => {
  it('one denied statement denies the whole message: nothing of it runs, transaction control included', async () => {
    const w = await login();
    for (const sql of [
      `INSERT INTO ${S}.scratch VALUES ('PLANTED-s1'); DELETE FROM ${S}.users`,
      `BEGIN; INSERT INTO ${S}.scratch VALUES ('PLANTED-s2'); COMMIT; DELETE FROM ${S}.secret`,
      `DELETE FROM ${S}.users; INSERT INTO ${S}.scratch VALUES ('PLANTED-s3')`,
      `SELECT 'PLANTED-s4'; SELECT * FROM ${S}.secret`,
      `INSERT INTO ${S}.scratch VALUES ('PLANTED-s5');;; ; DROP TABLE ${S}.users`,
    ]) {
      const m = await w.query(sql);
      expect(types(m)).toBe('EZ');
      expectDenied(m);
    }
    expect(await untouched(S)).toEqual({ users: 1, secret: 1 });
    expect(rows(await w.query(`SELECT count(*) FROM ${S}.scratch`))).toEqual([['0']]);
    w.end();
  });

  it('an all-allowed message runs whole and masks each result by its own statement', async () => {
    const w = await login();
    const m = await w.query(`SELECT 'PLANTED-s6' AS a; SELECT lower(email) AS e FROM ${S}.users; SELECT id, ssn FROM ${S}.users`);
    expect(types(m)).toBe('TDCTDCTDCZ');
    expect(rows(m)).toEqual([['PLANTED-s6'], ['***'], ['1', null]]);
    w.end();
  });
});

describe('messages out of place', () => {
  it('refuses the FunctionCall message with 42501 and keeps the session', async () => {
    const w = await login();
    // 2974 = pg_terminate_backend(int4) — the message would run it without any SQL text.
    const m = await exchange(w, [functionCallMsg(2974, [String(process.pid)])]);
    expect(types(m)).toBe('EZ');
    expectDenied(m);
    expect(errors(m)[0]!.message).toBe('tollgate: denied: the function-call protocol message is not allowed');
    expect(rows(await w.query("SELECT 'PLANTED-f1'"))).toEqual([['PLANTED-f1']]);
    w.end();
  });

  it('CopyData and CopyDone outside COPY carry nothing the server runs', async () => {
    const w = await login();
    const m = await exchange(w, [copyDataMsg(`DELETE FROM ${S}.users;\n`), copyDoneMsg(), P.query("SELECT 'PLANTED-f2'")]);
    expect(types(m)).toBe('TDCZ');
    expect(rows(m)).toEqual([['PLANTED-f2']]);
    expect(await untouched(S)).toEqual({ users: 1, secret: 1 });
    w.end();
  });

  it('a denied COPY pipelined behind an allowed COPY FROM STDIN never runs; COPY data is only data', async () => {
    const w = await login();
    w.reset();
    w.send(P.query(`COPY ${S}.scratch FROM STDIN`), P.query(`COPY ${S}.secret FROM STDIN`));
    await w.next((x) => x.type === 'G');
    // An end-of-data marker followed by SQL: the server discards the rest, it never parses it.
    w.send(copyDataMsg(`PLANTED-c1\n\\.\nDELETE FROM ${S}.users;\n`), copyDoneMsg());
    await w.ready(2);
    expect(types(w.msgs)).toBe('GCZEZ');
    expectDenied(w.msgs);
    expect(errors(w.msgs)[0]!.message).toMatch(/copy_from on rt_proto_\w+\.secret/);
    expect(await untouched(S)).toEqual({ users: 1, secret: 1 });
    w.end();
    await admin(`TRUNCATE ${S}.scratch`);
  });

  it('extended-protocol COPY FROM STDIN with the Sync libpq sends during COPY keeps the session in step (regression)', async () => {
    const w = await login();
    w.reset();
    w.send(P.parse('', `COPY ${S}.scratch FROM STDIN`), P.bind('', ''), P.describe('P', ''), P.execute(''), P.sync());
    await w.next((x) => x.type === 'G');
    w.send(copyDataMsg('PLANTED-c3\n'), copyDoneMsg(), P.sync());
    await w.ready();
    expect(types(w.msgs)).toBe('12nGCZ');
    expect(rows(await w.query("SELECT 'PLANTED-c4'"))).toEqual([['PLANTED-c4']]);
    expect(rows(await w.query(`SELECT count(*) FROM ${S}.scratch`))).toEqual([['1']]);
    w.end();
    await admin(`TRUNCATE ${S}.scratch`);
  });

  it('a Query sent during COPY IN ends that session (the server drops it); the proxy keeps serving', async () => {
    const w = await login();
    w.reset();
    w.send(P.query(`COPY ${S}.scratch FROM STDIN`));
    await w.next((x) => x.type === 'G');
    w.send(P.query(`SELECT 'PLANTED-c2'`));
    await w.closedWithin(5_000);
    const codes = errors(w.msgs).map((e) => e.code);
    expect(codes[0]).toBe('08P01'); // unexpected message type 0x51 during COPY from stdin
    expect(codes.at(-1)).toBe('08006'); // tollgate: the upstream connection was lost
    await stillServing();
  });

  it('a second StartupMessage, an SSLRequest after startup and an unknown message type are protocol violations', async () => {
    for (const bytes of [
      P.startupMessage({ user: 'tollgate', database: 'test', options: '-c role=postgres' }),
      P.sslRequest(),
      rawMsg('Y', Buffer.from('PLANTED-u1')),
    ]) {
      const w = await login();
      w.reset();
      // Read as a typed message, a startup packet starts with type 0x00 and a length taken from its
      // own bytes: the proxy judges it once that many bytes arrived (PostgreSQL refuses the type byte
      // at once; see the findings about limits checked at the header).
      const typedLength = bytes.readInt32BE(1);
      w.send(bytes, Buffer.alloc(Math.max(0, 1 + typedLength - bytes.length)));
      await expectProtocolViolation(w);
      expect(errors(w.msgs)[0]!.message).toMatch(/^tollgate: protocol violation: unknown frontend message type 0x(00|59)$/);
    }
    await stillServing();
  });

  it('absurd message lengths close the connection without harming others', async () => {
    for (const head of [Buffer.from([0x51, 0, 0, 0, 2]), Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xff])]) {
      const w = await login();
      w.reset();
      w.send(head);
      await expectProtocolViolation(w);
    }
    await stillServing();
  });
});

describe('bytes the analysis and the server could read differently', () => {
  it('a NUL inside a Query (the server would stop at it) closes the connection', async () => {
    const w = await login();
    w.reset();
    // The server reads up to the first NUL; a reader that looked past it would see a DELETE.
    w.send(rawMsg('Q', Buffer.from(`SELECT 'PLANTED-n1'\0DELETE FROM ${S}.users\0`)));
    await expectProtocolViolation(w);
    expect(errors(w.msgs)[0]!.message).toMatch(/^tollgate: protocol violation: Query: \d+ trailing bytes$/);
    expect(await untouched(S)).toEqual({ users: 1, secret: 1 });
    await stillServing();
  });

  it('a NUL inside a Parse closes the connection', async () => {
    const w = await login();
    w.reset();
    const body = Buffer.concat([Buffer.from('\0'), Buffer.from(`SELECT 'PLANTED-n2'\0DELETE FROM ${S}.users\0`), Buffer.from([0, 0])]);
    w.send(rawMsg('P', body), P.sync());
    await expectProtocolViolation(w);
    expect(await untouched(S)).toEqual({ users: 1, secret: 1 });
  });

  it('invalid UTF-8 is refused by the server; hiding a newline after a broken byte does not hide a DELETE', async () => {
    const w = await login();
    const bad = await exchange(w, [rawMsg('Q', Buffer.concat([Buffer.from("SELECT 'PLANTED-u2", 'latin1'), Buffer.from([0xff, 0x27, 0])]))]);
    expect(errors(bad).map((e) => e.code)).toEqual(['22021']);
    // 0xC0 starts a two-byte sequence: a decoder that swallowed the newline would see one comment.
    const hidden = await exchange(w, [
      rawMsg('Q', Buffer.concat([Buffer.from('SELECT 1 -- '), Buffer.from([0xc0]), Buffer.from(`\n; DELETE FROM ${S}.users WHERE email <> 'PLANTED-u3'`), Buffer.from([0])])),
    ]);
    expect(types(hidden)).toBe('EZ');
    expectDenied(hidden);
    expect(await untouched(S)).toEqual({ users: 1, secret: 1 });
    w.end();
  });
});

describe('cancel requests', () => {
  async function sendCancel(pid: number, secret: Buffer): Promise<void> {
    const c = await Wire.open(proxy.port);
    c.send(P.cancelRequest(pid, secret));
    await c.closedWithin(5_000);
  }

  it('guessed keys cancel nothing; only the key the proxy gave this session cancels it', async () => {
    const victim = await login();
    const key = victim.backendKey!;
    expect(key).toBeDefined();
    victim.reset();
    victim.send(P.query("SELECT pg_sleep(1.2), 'PLANTED-k1'"));
    await new Promise((r) => setTimeout(r, 150));
    const wrongSecret = Buffer.from(key.secret);
    wrongSecret[0] = wrongSecret[0]! ^ 0xff;
    await sendCancel(key.pid, wrongSecret);
    await sendCancel((key.pid + 1) & 0x7fffffff, key.secret);
    await sendCancel(randomBytes(4).readUInt32BE(0) & 0x7fffffff, randomBytes(4));
    await sendCancel(key.pid, Buffer.concat([key.secret, randomBytes(28)])); // a 3.2-style long key
    await victim.ready(1, 5_000);
    expect(errors(victim.msgs)).toEqual([]);
    expect(rows(victim.msgs)).toEqual([['', 'PLANTED-k1']]);

    // Positive control: the real key does cancel.
    victim.reset();
    victim.send(P.query('SELECT pg_sleep(5)'));
    await new Promise((r) => setTimeout(r, 150));
    await sendCancel(key.pid, key.secret);
    await victim.ready(1, 5_000);
    expect(errors(victim.msgs).map((e) => e.code)).toEqual(['57014']);
    victim.end();
  });
});

describe('audit log after every attempt above', () => {
  it('verifies, and holds no planted literal and no masked value', async () => {
    const lines = await closeAndCheckAudit(proxy);
    // Every refusal above was recorded as a deny.
    expect(lines.filter((l) => l.decision === 'deny').length).toBeGreaterThanOrEqual(15);
  });
});
