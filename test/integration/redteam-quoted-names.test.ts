// Red team, names that could collide (issue 8 item 7): object names are compared as one string,
// so each part that holds `.`, `"` or `:` is written quoted ("a.b".c ≠ a."b.c"). Real objects with
// such names, through the proxy: a rule, a mask or a COPY check written for one name never applies
// to its look-alike, and a schema named like an analysis label (`program:…`) passes for no label.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, closeAndCheckAudit, uniqueSchema } from '../fixtures/redteam/env.js';
import { copyData, errors, rows, types, Wire, type Msg } from '../fixtures/redteam/wire.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';

const P = uniqueSchema('qn'); // a plain schema: P."b.c" is the table the policy allows
const DOTTED = `${P}.b`; // the schema "P.b": "P.b".c is its look-alike, which no rule allows
const LABEL = `program:${P}`; // a schema named like the analysis' COPY PROGRAM label
const QUOTE = `${P}"q`; // a schema whose name holds a double quote
const SECRET = 'eve@quoted.example';

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read, copy_to], objects: ['${P}."b.c"', '"${LABEL}".users', '"${QUOTE.replace(/"/g, '""')}".t', "pg_catalog.*"] }
        - { action: deny, kinds: [any] }
      masks:
        - { columns: ['${P}."b.c".email', '"${LABEL}".users.email'], strategy: redact }
`;

let proxy: TestProxy;
let w: Wire;

beforeAll(async () => {
  await admin(`DROP SCHEMA IF EXISTS ${P} CASCADE; DROP SCHEMA IF EXISTS ${q(DOTTED)} CASCADE; DROP SCHEMA IF EXISTS ${q(LABEL)} CASCADE; DROP SCHEMA IF EXISTS ${q(QUOTE)} CASCADE;
    CREATE SCHEMA ${P}; CREATE SCHEMA ${q(DOTTED)}; CREATE SCHEMA ${q(LABEL)}; CREATE SCHEMA ${q(QUOTE)};
    CREATE TABLE ${P}."b.c" (id int, email text); INSERT INTO ${P}."b.c" VALUES (1, '${SECRET}');
    CREATE TABLE ${q(DOTTED)}.c (id int, email text); INSERT INTO ${q(DOTTED)}.c VALUES (2, 'LOOKALIKE-ROW');
    CREATE TABLE ${q(LABEL)}.users (id int, email text); INSERT INTO ${q(LABEL)}.users VALUES (3, '${SECRET}');
    CREATE TABLE ${q(QUOTE)}.t (v text); INSERT INTO ${q(QUOTE)}.t VALUES ('quoted-ok');`);
  proxy = await startTestProxy({ policy });
  w = await Wire.login(proxy.port, proxy.password);
});

afterAll(async () => {
  w?.destroy();
  if (proxy) { const lines = await closeAndCheckAudit(proxy); expect(JSON.stringify(lines)).not.toContain(SECRET); }
  await admin(`DROP SCHEMA IF EXISTS ${P} CASCADE; DROP SCHEMA IF EXISTS ${q(DOTTED)} CASCADE; DROP SCHEMA IF EXISTS ${q(LABEL)} CASCADE; DROP SCHEMA IF EXISTS ${q(QUOTE)} CASCADE`);
});

function denied(m: Msg[]): string {
  const e = errors(m);
  expect(e.map((x) => x.code)).toEqual(['42501']);
  return e[0]!.message;
}

const clear = (m: Msg[]) => Buffer.concat(m.map((x) => x.body)).toString('latin1').includes(SECRET);

describe('"a.b".c and a."b.c" are two names', () => {
  it('the rule for P."b.c" allows it, masked by catalog and by lineage', async () => {
    const m = await w.query(`SELECT * FROM ${P}."b.c"`);
    expect(rows(m)).toEqual([['1', '***']]);
    expect(rows(await w.query(`SELECT lower(email) FROM ${P}."b.c"`))).toEqual([['***']]);
    expect(clear(m)).toBe(false);
  });

  it('its look-alike "P.b".c is denied, by name in the reason', async () => {
    const m = await w.query(`SELECT * FROM ${q(DOTTED)}.c`);
    expect(denied(m)).toBe(`tollgate: denied: select on "${DOTTED}".c denied by roles.test.postgres.rules[1]`);
    expect(Buffer.concat(m.map((x) => x.body)).toString('latin1')).not.toContain('LOOKALIKE-ROW');
  });

  it('the audit log records each under its own quoted name', async () => {
    const objects = (await proxy.audit()).flatMap((l) => ((l as { accesses?: { object?: string }[] }).accesses ?? []).map((a) => a.object));
    expect(objects).toContain(`${P}."b.c"`);
    expect(objects).toContain(`"${DOTTED}".c`);
  });

  it('a name with a double quote matches the rule that quotes it', async () => {
    expect(rows(await w.query(`SELECT v FROM ${q(QUOTE)}.t`))).toEqual([['quoted-ok']]);
  });
});

describe('a schema named like a label is no label', () => {
  it('COPY "program:…".users TO STDOUT is checked for masked columns (refused), not taken for COPY PROGRAM', async () => {
    const m = await w.query(`COPY ${q(LABEL)}.users TO STDOUT`);
    expect(denied(m)).toBe(`tollgate: denied: result refused: COPY cannot mask columns; "${LABEL}".users has or reads masked columns`);
    expect(copyData(m)).toBe('');
    expect(clear(m)).toBe(false);
  });

  it('SELECT from it is masked by the mask that quotes it', async () => {
    const m = await w.query(`SELECT email FROM ${q(LABEL)}.users`);
    expect(rows(m)).toEqual([['***']]);
    expect(types(m)).toBe('TDCZ');
  });
});
