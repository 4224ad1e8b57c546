// COPY through the live proxy: COPY TO of a table or view with masked columns is denied before it
// runs (F3: COPY has no RowDescription, so nothing could be masked), in the simple and the extended
// protocol; COPY FROM STDIN in the extended protocol keeps the connection in step although the
// server ignores the Syncs a client sends during COPY IN (F7).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../src/pg/protocol.js';
import { flushMessage } from '../support/wire-writers.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { Wire, copyData, copyDataMsg, copyDoneMsg, errors, rows, types, type Msg } from '../fixtures/redteam/wire.js';
import { admin, dropSchema, redteamPolicy, seedSchema, SECRET_EMAIL, SECRET_SSN, uniqueSchema } from '../fixtures/redteam/env.js';

const S = uniqueSchema('copy');
let proxy: TestProxy;

beforeAll(async () => {
  await seedSchema(S);
  await admin(`CREATE VIEW ${S}.users_v AS SELECT id, email FROM ${S}.users;
    CREATE VIEW ${S}.ids_v AS SELECT id FROM ${S}.users;
    CREATE TABLE ${S}.plain (id int, note text); INSERT INTO ${S}.plain VALUES (7, 'open');`);
  proxy = await startTestProxy({
    policy: redteamPolicy(
      S,
      `        - { action: allow, kinds: [copy_to], objects: ["${S}.users", "${S}.plain"] }
        - { action: allow, kinds: [read], objects: ["${S}.users_v", "${S}.ids_v", "${S}.plain"] }
`,
    ),
  });
});

afterAll(async () => {
  await proxy?.stop();
  await dropSchema(S);
});

const REFUSED = /^tollgate: denied: result refused: COPY cannot mask columns/;

function expectRefused(msgs: Msg[]): void {
  const e = errors(msgs);
  expect(e.map((x) => x.code)).toEqual(['42501']);
  expect(e[0]!.message).toMatch(REFUSED);
  expect(types(msgs)).not.toMatch(/[Hd]/); // no CopyOutResponse, no CopyData
  const text = msgs.map((m) => m.body.toString('utf8')).join('');
  expect(text).not.toContain(SECRET_EMAIL);
  expect(text).not.toContain(SECRET_SSN);
}

describe('F3: COPY TO of masked data is denied', () => {
  const statements = [
    `COPY ${S}.users TO STDOUT`,
    `COPY (SELECT * FROM ${S}.users) TO STDOUT`,
    `COPY (TABLE ${S}.users) TO STDOUT`,
    `COPY (SELECT * FROM ${S}.users_v) TO STDOUT`,
    `COPY (SELECT u.* FROM ${S}.plain p JOIN ${S}.users u ON u.id = 1) TO STDOUT`,
  ];

  it.each(statements)('simple protocol: %s', async (sql) => {
    const w = await Wire.login(proxy.port, proxy.password);
    try {
      const msgs = await w.query(sql);
      expectRefused(msgs);
      expect(types(msgs)).toBe('EZ');
      expect(rows(await w.query('SELECT 1'))).toEqual([['1']]);
    } finally {
      w.end();
    }
  });

  it.each(statements)('extended protocol: %s', async (sql) => {
    const w = await Wire.login(proxy.port, proxy.password);
    try {
      w.send(P.parse('', sql), P.bind('', ''), P.execute(''), P.sync());
      const msgs = await w.ready();
      expectRefused(msgs);
      expect(types(msgs)).toBe('EZ');
    } finally {
      w.end();
    }
  });

  it('a table without masked columns (and a view of unmasked columns) still copies', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    try {
      const m1 = await w.query(`COPY ${S}.plain TO STDOUT`);
      expect(errors(m1)).toEqual([]);
      expect(copyData(m1)).toBe('7\topen\n');
      const m2 = await w.query(`COPY (SELECT * FROM ${S}.ids_v) TO STDOUT`);
      expect(errors(m2)).toEqual([]);
      expect(copyData(m2)).toBe('1\n');
      w.reset();
      w.send(P.parse('', `COPY ${S}.plain TO STDOUT`), P.bind('', ''), P.execute(''), P.sync());
      const m3 = await w.ready();
      expect(errors(m3)).toEqual([]);
      expect(copyData(m3)).toBe('7\topen\n');
    } finally {
      w.end();
    }
  });
});

describe('F17: a refused COPY in a pipeline', () => {
  it('is denied at Parse, so nothing pipelined behind it up to Sync runs', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    try {
      for (let i = 0; i < 3; i++) {
        w.reset();
        w.send(
          P.parse('', `COPY (SELECT email FROM ${S}.users) TO STDOUT`),
          P.bind('', ''),
          P.execute(''),
          P.parse('', `INSERT INTO ${S}.scratch VALUES ('after-refusal')`),
          P.bind('', ''),
          P.execute(''),
          P.sync(),
        );
        await w.ready();
        expect(types(w.msgs)).toBe('EZ');
        expect(errors(w.msgs)[0]!.message).toMatch(REFUSED);
      }
      const r = await admin(`SELECT count(*)::int AS n FROM ${S}.scratch WHERE t = 'after-refusal'`);
      expect(r.rows[0].n).toBe(0);
    } finally {
      w.end();
    }
  });
});

describe('F17: a result refused after it ran, with more pipelined behind it', () => {
  it("the error's detail says the messages behind it may have run (they did)", async () => {
    // A catalog that cannot answer: the result columns of a read cannot be checked for masks.
    const broken = await startTestProxy({
      policy: redteamPolicy(S),
      deps: { catalog: { resolve: () => Promise.reject(new Error('catalog unavailable')) } },
    });
    const w = await Wire.login(broken.port, broken.password);
    try {
      w.send(
        P.parse('', `SELECT id FROM ${S}.users`),
        P.bind('', ''),
        P.execute(''),
        P.parse('', `INSERT INTO ${S}.scratch VALUES ('f17-behind')`),
        P.bind('', ''),
        P.execute(''),
        P.sync(),
      );
      await w.ready();
      expect(types(w.msgs)).toBe('12EZ');
      const e = errors(w.msgs)[0]!;
      expect(e.code).toBe('42501');
      expect(e.message).toMatch(/^tollgate: denied: result refused: /);
      expect(e.detail).toMatch(/messages sent after this statement before Sync were already forwarded and may have run$/);
      const r = await admin(`SELECT count(*)::int AS n FROM ${S}.scratch WHERE t = 'f17-behind'`);
      expect(r.rows[0].n).toBe(1);
      // Alone (Sync right after it), the detail does not claim anything ran behind it.
      w.reset();
      w.send(P.parse('', `SELECT id FROM ${S}.users`), P.bind('', ''), P.execute(''), P.sync());
      await w.ready();
      expect(types(w.msgs)).toBe('12EZ');
      expect(errors(w.msgs)[0]!.detail).not.toMatch(/may have run/);
    } finally {
      w.end();
      await broken.stop();
    }
  });
});

describe('F7: Sync and Flush during COPY IN', () => {
  it("libpq's PQexecParams(COPY … FROM STDIN): one ReadyForQuery for two Syncs, the connection stays in step", async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    try {
      w.send(P.parse('', `COPY ${S}.scratch FROM STDIN`), P.bind('', ''), P.describe('P', ''), P.execute(''), P.sync());
      await w.next((m) => m.type === 'G');
      expect(types(w.msgs)).toBe('12nG');
      w.reset();
      w.send(copyDataMsg('zz\n'), copyDoneMsg(), P.sync());
      await w.ready();
      expect(types(w.msgs)).toBe('CZ');
      const m = await w.query('SELECT 1');
      expect(types(m)).toBe('TDCZ');
      expect(rows(m)).toEqual([['1']]);
      const r = await admin(`SELECT count(*)::int AS n FROM ${S}.scratch WHERE t = 'zz'`);
      expect(r.rows[0].n).toBe(1);
    } finally {
      w.end();
    }
  });

  it('the whole libpq sequence sent at once, with Flush and Sync inside the copy', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    try {
      w.send(
        P.parse('', `COPY ${S}.scratch FROM STDIN`),
        P.bind('', ''),
        P.execute(''),
        P.sync(),
        copyDataMsg('yy1\n'),
        flushMessage(),
        P.sync(),
        copyDataMsg('yy2\n'),
        copyDoneMsg(),
        P.sync(),
        P.query('SELECT 2'),
      );
      await w.ready(2);
      expect(types(w.msgs)).toBe('12GCZTDCZ');
      expect(rows(w.msgs)).toEqual([['2']]);
      const r = await admin(`SELECT count(*)::int AS n FROM ${S}.scratch WHERE t IN ('yy1', 'yy2')`);
      expect(r.rows[0].n).toBe(2);
    } finally {
      w.end();
    }
  });

  it('pg-copy-streams style (simple Query, CopyData, CopyDone), with a stray Sync, then node-style extended queries', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    try {
      w.send(P.query(`COPY ${S}.scratch FROM STDIN`), copyDataMsg('ww\n'), P.sync(), copyDoneMsg());
      await w.ready();
      expect(types(w.msgs)).toBe('GCZ');
      w.reset();
      w.send(P.parse('', 'SELECT $1::int AS n'), P.bind('', '', [Buffer.from('5')]), P.describe('P', ''), P.execute(''), P.sync());
      await w.ready();
      expect(types(w.msgs)).toBe('12TDCZ');
      expect(rows(w.msgs)).toEqual([['5']]);
    } finally {
      w.end();
    }
  });

  it('a COPY FROM that fails before COPY IN: its Sync is answered', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    try {
      // Bind with a parameter the statement does not take: the server fails at Bind, skips to Sync.
      w.send(P.parse('', `COPY ${S}.scratch FROM STDIN`), P.bind('', '', [Buffer.from('x')]), P.execute(''), P.sync());
      await w.ready();
      expect(types(w.msgs)).toBe('1EZ');
      expect(errors(w.msgs)[0]!.code).toBe('08P01');
      expect(rows(await w.query('SELECT 3'))).toEqual([['3']]);
    } finally {
      w.end();
    }
  });
});
