// Red team, issue 8 item 1 — masked values never leave, by any channel:
// - stale decisions and mask plans on re-used names (a named statement `FETCH ALL FROM c` or
//   `EXECUTE p` run again after `c` / `p` were defined anew over masked columns);
// - upstream error and notice texts of statements that reach masked data through views,
//   materialized views, partitions or functions (withheld by lineage, not by object names);
// - masked lineage into pg_notify and other side-effecting built-ins;
// - messages raised later than the statement that caused them (at COMMIT), judged by what the
//   transaction touched.
// Each case asserts the exact outcome, and that no byte of the secret reached the client or the log.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../src/pg/protocol.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { admin, closeAndCheckAudit, dropSchema, seedSchema, uniqueSchema, SECRET_EMAIL, SECRET_SSN } from '../fixtures/redteam/env.js';
import { errors, rows, types, Wire, type Msg } from '../fixtures/redteam/wire.js';

const S = uniqueSchema('lin');
let proxy: TestProxy;

const q = (sql: string) => sql.replace(/\bS\./g, `${S}.`);

beforeAll(async () => {
  await seedSchema(S);
  await admin(`CREATE VIEW ${S}.users_v AS SELECT id, email FROM ${S}.users;
    CREATE VIEW ${S}.users_vv AS SELECT * FROM ${S}.users_v;
    CREATE MATERIALIZED VIEW ${S}.users_mv AS SELECT id, email FROM ${S}.users;
    CREATE TABLE ${S}.parted (id int, email text) PARTITION BY LIST (id);
    CREATE TABLE ${S}.parted_1 PARTITION OF ${S}.parted FOR VALUES IN (1);
    INSERT INTO ${S}.parted VALUES (1, '${SECRET_EMAIL}');
    CREATE TABLE ${S}.plain (id int, t text);
    INSERT INTO ${S}.plain VALUES (1, 'harmless');
    CREATE FUNCTION ${S}.first_email() RETURNS text LANGUAGE sql AS $$ SELECT email FROM ${S}.users LIMIT 1 $$;
    CREATE SEQUENCE ${S}.seq;
    CREATE TABLE ${S}.deferred (v text);
    CREATE FUNCTION ${S}.complain() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'late: %', (SELECT email FROM ${S}.users LIMIT 1); END $$;
    CREATE CONSTRAINT TRIGGER late AFTER INSERT ON ${S}.deferred DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW EXECUTE FUNCTION ${S}.complain();`);
  // Masks on exactly these columns (no wildcard): what reaches them through other names is the test.
  proxy = await startTestProxy({
    policy: `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["${S}.users", "${S}.users_v", "${S}.users_vv", "${S}.users_mv", "${S}.parted", "${S}.parted_1", "${S}.plain", "pg_catalog.*"] }
        - { action: allow, kinds: [call], objects: ["${S}.first_email", "pg_catalog.pg_notify", "pg_catalog.setval", "pg_catalog.pg_advisory_lock", "pg_catalog.pg_advisory_unlock"] }
        - { action: allow, kinds: [listen, notify, transaction, prepare, execute, deallocate] }
        - { action: allow, kinds: [insert], objects: ["${S}.deferred"] }
        - { action: deny, kinds: [any] }
      masks:
        - { columns: ["${S}.users.email", "${S}.users.ssn"], strategy: redact }
        - { columns: ["${S}.parted.email"], strategy: redact }
`,
  });
});

afterAll(async () => {
  if (proxy) await proxy.stop();
  await dropSchema(S);
});

/** No byte of any message carries a secret, in any case. */
function expectNoSecret(msgs: Msg[]): void {
  const bytes = Buffer.concat(msgs.map((m) => m.body)).toString('latin1').toLowerCase();
  expect(bytes).not.toContain(SECRET_EMAIL);
  expect(bytes).not.toContain(SECRET_SSN);
  expect(bytes).not.toContain('ann@');
}

const withheld = (code: string) => `tollgate: the upstream message is withheld because the statement touches masked data (SQLSTATE ${code})`;

describe('stale decisions on re-used names', () => {
  it('a named `FETCH ALL FROM c` run again after c was declared anew over a masked column is masked', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    expect(types(await w.query(q('BEGIN; DECLARE c CURSOR FOR SELECT id FROM S.users')))).toBe('CCZ');
    w.reset();
    w.send(P.parse('f', 'FETCH ALL FROM c'), P.bind('', 'f'), P.execute(''), P.sync());
    await w.ready();
    expect(rows(w.msgs)).toEqual([['1']]);
    expect(types(await w.query(q('COMMIT; BEGIN; DECLARE c CURSOR FOR SELECT email FROM S.users')))).toBe('CCCZ');
    w.reset();
    w.send(P.bind('', 'f'), P.execute(''), P.sync());
    await w.ready();
    expect(rows(w.msgs)).toEqual([['***']]);
    expectNoSecret(w.msgs);
    // A computed column (no table OID to mask by): the new definition's lineage masks it.
    expect(types(await w.query(q("COMMIT; BEGIN; DECLARE c CURSOR FOR SELECT lower(email) || 'PLANTED-l1' AS e FROM S.users")))).toBe('CCCZ');
    w.reset();
    w.send(P.bind('', 'f'), P.execute(''), P.sync());
    await w.ready();
    expect(rows(w.msgs)).toEqual([['***']]);
    expectNoSecret(w.msgs);
    expect(types(await w.query('COMMIT'))).toBe('CZ');
    w.end();
  });

  it('a named `EXECUTE p` run again after DEALLOCATE p; PREPARE p AS … over a masked column is masked', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    expect(types(await w.query(q('PREPARE p AS SELECT id FROM S.users')))).toBe('CZ');
    w.reset();
    w.send(P.parse('e', 'EXECUTE p'), P.bind('', 'e'), P.execute(''), P.sync());
    await w.ready();
    expect(rows(w.msgs)).toEqual([['1']]);
    expect(types(await w.query(q('DEALLOCATE p; PREPARE p AS SELECT lower(email) AS e FROM S.users')))).toBe('CCZ');
    w.reset();
    w.send(P.bind('', 'e'), P.execute(''), P.sync());
    await w.ready();
    expect(rows(w.msgs)).toEqual([['***']]);
    expectNoSecret(w.msgs);
    // A message that would redefine p as something the policy denies is denied whole: p keeps its
    // definition on the server and in the proxy, and stays masked.
    expect(errors(await w.query(q('DEALLOCATE p; PREPARE p AS SELECT v FROM S.secret'))).map((e) => e.code)).toEqual(['42501']);
    w.reset();
    w.send(P.bind('', 'e'), P.execute(''), P.sync());
    await w.ready();
    expect(rows(w.msgs)).toEqual([['***']]);
    // DEALLOCATE alone: p is unknown to the server and to the proxy; the Bind is refused by the proxy.
    expect(types(await w.query('DEALLOCATE p'))).toBe('CZ');
    w.reset();
    w.send(P.bind('', 'e'), P.execute(''), P.sync());
    await w.ready();
    expect(types(w.msgs)).toBe('EZ');
    expect(errors(w.msgs)[0]).toMatchObject({ code: '42501', message: 'tollgate: denied: prepared statement "p" is not defined in this session' });
    w.end();
  });

  it('a portal bound before its cursor was redefined in the same pipeline is refused at Execute', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    expect(types(await w.query(q('BEGIN; DECLARE c CURSOR FOR SELECT id FROM S.users')))).toBe('CCZ');
    w.reset();
    w.send(
      P.parse('f', 'FETCH ALL FROM c'),
      P.bind('pf', 'f'),
      P.parse('x', 'CLOSE c'),
      P.bind('', 'x'),
      P.execute(''),
      P.parse('d', q('DECLARE c CURSOR FOR SELECT email FROM S.users')),
      P.bind('', 'd'),
      P.execute(''),
      P.execute('pf'),
      P.sync(),
    );
    await w.ready();
    expectNoSecret(w.msgs);
    expect(rows(w.msgs)).toEqual([]);
    expect(errors(w.msgs).map((e) => e.code)).toEqual(['42501']);
    expect(types(await w.query('ROLLBACK'))).toBe('CZ');
    w.end();
  });
});

describe('error and notice texts by lineage', () => {
  const cases: [string, string][] = [
    ['SELECT email::int FROM S.users_v', '22P02'],
    ['SELECT email::int FROM S.users_vv', '22P02'],
    ['SELECT email::int FROM S.users_mv', '22P02'],
    ['SELECT email::int FROM S.parted', '22P02'],
    ['SELECT email::int FROM S.parted_1', '22P02'],
    ['SELECT S.first_email()::int', '22P02'],
    ["SELECT (SELECT email FROM S.users_v LIMIT 1)::date WHERE 'PLANTED-l2' <> ''", '22007'],
  ];
  for (const [sql, code] of cases) {
    it(`withholds: ${sql}`, async () => {
      const w = await Wire.login(proxy.port, proxy.password);
      const m = await w.query(q(sql));
      expect(types(m).endsWith('EZ')).toBe(true);
      expect(errors(m)).toEqual([{ severity: 'ERROR', code, message: withheld(code), detail: undefined }]);
      expectNoSecret(m);
      w.end();
    });
  }

  it('keeps the text of a statement that reaches no masked data', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    const m = await w.query(q('SELECT t::int FROM S.plain'));
    expect(errors(m)[0]).toMatchObject({ code: '22P02', message: 'invalid input syntax for type integer: "harmless"' });
    w.end();
  });
});

describe('masked lineage into side effects', () => {
  for (const sql of [
    "SELECT pg_notify('ch', email) FROM S.users",
    "SELECT pg_notify('ch', lower(email) || 'PLANTED-l3') FROM S.users",
    "SELECT pg_notify('ch', x) FROM (SELECT email AS x FROM S.users_v) t",
    "SELECT 1 FROM S.users WHERE pg_notify('ch', email) IS NULL",
    "SELECT setval('S.seq', length(email)) FROM S.users",
    'SELECT pg_advisory_lock(hashtext(email)) FROM S.users',
  ]) {
    it(`denies ${sql}`, async () => {
      const w = await Wire.login(proxy.port, proxy.password);
      await w.query('LISTEN ch');
      const m = await w.query(q(sql));
      expect(types(m)).toBe('EZ');
      expect(errors(m)[0]!.code).toBe('42501');
      expect(errors(m)[0]!.message).toMatch(/^tollgate: denied: /);
      expectNoSecret(m);
      w.end();
    });
  }

  it('still lets unmasked values through pg_notify', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    await w.query('LISTEN ch');
    const m = await w.query(q("SELECT pg_notify('ch', t) FROM S.plain"));
    expect(types(m)).toContain('A');
    w.end();
  });
});

describe('messages raised later, judged by what the transaction touched', () => {
  it('a deferred trigger that raises at COMMIT has its text withheld', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    expect(types(await w.query(q('BEGIN; SELECT email FROM S.users')))).toBe('CTDCZ');
    expect(types(await w.query(q("INSERT INTO S.deferred VALUES ('PLANTED-l4')")))).toBe('CZ');
    const m = await w.query('COMMIT');
    expect(errors(m)).toEqual([{ severity: 'ERROR', code: 'P0001', message: withheld('P0001'), detail: undefined }]);
    expectNoSecret(m);
    w.end();
  });

  it('even when the transaction read nothing masked itself (the trigger did)', async () => {
    const w = await Wire.login(proxy.port, proxy.password);
    expect(types(await w.query(q("BEGIN; INSERT INTO S.deferred VALUES ('x')")))).toBe('CCZ');
    const m = await w.query('COMMIT');
    expect(errors(m)[0]).toMatchObject({ code: 'P0001', message: withheld('P0001') });
    expectNoSecret(m);
    w.end();
  });
});

describe('audit log after every attack above', () => {
  it('verifies and holds no planted literal or secret', async () => {
    await closeAndCheckAudit(proxy);
  });
});
