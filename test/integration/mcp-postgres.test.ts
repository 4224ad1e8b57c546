// SQL inside MCP tool calls is decided as SQL: the published PostgreSQL MCP server
// (@modelcontextprotocol/server-postgres, its `query` tool) behind tollgate, against the local
// PostgreSQL. A counting relay between that server and PostgreSQL records every statement the server
// sends, so "nothing reached the database" is shown on the wire, not inferred from the server's
// read-only transaction. The same statement through psql and tollgate's PostgreSQL proxy is denied
// with the same reason.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, startTestProxy, type TestProxy } from '../support/proxy.js';
import { BIN, textOf, wrap, type Wrapped } from '../support/mcp.js';

const run = promisify(execFile);
const S = 'mcp_t';

/** Forwards TCP to PostgreSQL and records the text of every Query and Parse message clients send. */
class Relay {
  server!: Server;
  port = 0;
  statements: string[] = [];
  private sockets = new Set<Socket>();
  async start(): Promise<void> {
    this.server = createServer((client) => {
      const up = connect(5432, '127.0.0.1');
      this.sockets.add(client).add(up);
      let buf = Buffer.alloc(0);
      let started = false;
      client.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          if (!started) {
            if (buf.length < 4) break;
            const len = buf.readInt32BE(0);
            if (buf.length < len) break;
            buf = buf.subarray(len);
            started = true;
            continue;
          }
          if (buf.length < 5) break;
          const len = buf.readInt32BE(1);
          if (buf.length < len + 1) break;
          const type = String.fromCharCode(buf[0]!);
          const body = buf.subarray(5, len + 1);
          if (type === 'Q') this.statements.push(body.subarray(0, body.indexOf(0)).toString());
          if (type === 'P') {
            const name = body.indexOf(0);
            this.statements.push(body.subarray(name + 1, body.indexOf(0, name + 1)).toString());
          }
          buf = buf.subarray(len + 1);
        }
        up.write(d);
      });
      up.on('data', (d) => client.write(d));
      const end = () => {
        client.destroy();
        up.destroy();
      };
      client.on('close', end).on('error', end);
      up.on('close', end).on('error', end);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(() => r(null)));
  }
}

const POLICY = readFileSync('test/fixtures/policies/mcp.yml', 'utf8');
let relay: Relay;
let w: Wrapped;
const query = async (sql: string) => w.client.callTool({ name: 'query', arguments: { sql } });

beforeAll(async () => {
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE; CREATE SCHEMA ${S};
    CREATE TABLE ${S}.people (id int primary key, name text, email text, ssn text);
    INSERT INTO ${S}.people VALUES (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789'), (2, 'Alan Turing', 'alan@example.com', '987-65-4321');
    CREATE TABLE ${S}.orders (id int primary key, status text); INSERT INTO ${S}.orders VALUES (100, 'new');`);
  relay = new Relay();
  await relay.start();
  w = await wrap({ server: 'postgres', command: BIN.postgres[0], args: [...BIN.postgres[1], `postgresql://postgres@127.0.0.1:${relay.port}/test`] });
}, 60_000);

afterAll(async () => {
  await w?.close();
  await relay?.stop();
  await admin(`DROP SCHEMA IF EXISTS ${S} CASCADE`);
});

describe('the PostgreSQL MCP server through tollgate', () => {
  it('masked columns come back masked in the tool result', async () => {
    const r = await query(`SELECT name, email, ssn FROM ${S}.people ORDER BY id`);
    expect(JSON.parse(textOf(r))).toEqual([
      { name: 'Ada Lovelace', email: 'a***@example.com', ssn: '***' },
      { name: 'Alan Turing', email: 'a***@example.com', ssn: '***' },
    ]);
    expect(relay.statements).toContain(`SELECT name, email, ssn FROM ${S}.people ORDER BY id`);
  });

  it('masks follow the data through expressions, aliases and whole rows', async () => {
    expect(JSON.parse(textOf(await query(`SELECT upper(email) AS name FROM ${S}.people WHERE id = 1`)))).toEqual([{ name: 'A***@EXAMPLE.COM' }]);
    expect(JSON.parse(textOf(await query(`SELECT row_to_json(p) FROM ${S}.people p WHERE id = 1`)))).toEqual([{ row_to_json: '***' }]);
    expect(JSON.parse(textOf(await query(`SELECT ssn || '' AS x, id FROM ${S}.people WHERE id = 2`)))).toEqual([{ x: '***', id: 2 }]);
  });

  it('DROP TABLE through the agent: denied by tollgate exactly as through psql, and nothing reaches the database', async () => {
    const before = relay.statements.length;
    const r = await query(`DROP TABLE ${S}.people`);
    expect(r).toEqual({ content: [{ type: 'text', text: `tollgate: denied: drop on ${S}.people denied by roles.agent.postgres.rules[2]` }], isError: true });
    expect(relay.statements.slice(before)).toEqual([]);
    expect((await admin(`SELECT count(*)::int AS n FROM ${S}.people`)).rows[0].n).toBe(2);

    const proxy: TestProxy = await startTestProxy({ policy: POLICY, role: 'agent' });
    try {
      const psql = await run('psql', ['-XAt', '-v', 'ON_ERROR_STOP=0', '-c', `DROP TABLE ${S}.people`], { env: proxy.env }).catch((e: { stderr: string }) => e);
      expect((psql as { stderr: string }).stderr).toContain(`ERROR:  tollgate: denied: drop on ${S}.people denied by roles.agent.postgres.rules[2]`);
    } finally {
      await proxy.stop();
    }
    const line = (await w.records()).find((l) => l.statement === `DROP TABLE ${S}.people`)!;
    expect(line).toMatchObject({ type: 'mcp', decision: 'deny', rule: 'roles.agent.postgres.rules[2]', accesses: [{ kind: 'drop', object: `${S}.people` }], mcp: { tool: 'query', arguments: { sql: 'string' }, outcome: 'refused' } });
  });

  it('a write hidden after a read, or behind COMMIT, is denied whole; nothing reaches the database', async () => {
    const before = relay.statements.length;
    for (const sql of [
      `SELECT 'a\\' ; DELETE FROM ${S}.people; --'`,
      `COMMIT; DELETE FROM ${S}.people`,
      `SELECT 1; SET ROLE postgres`,
      `EXPLAIN ANALYZE DELETE FROM ${S}.people`,
      `WITH d AS (DELETE FROM ${S}.people RETURNING *) SELECT count(*) FROM d`,
      `SELECT set_config('search_path', 'evil', false)`,
      `COPY (SELECT 1) TO PROGRAM 'id'`,
      `DO $$ BEGIN DELETE FROM ${S}.people; END $$`,
    ]) {
      const r = await query(sql);
      expect(r.isError, sql).toBe(true);
      expect(textOf(r), sql).toMatch(/^tollgate: denied: /);
    }
    expect(relay.statements.slice(before)).toEqual([]);
  });

  it('* over a masked table and EXECUTE of something prepared elsewhere are denied', async () => {
    expect(textOf(await query(`SELECT * FROM ${S}.people`))).toBe(
      `tollgate: denied: the columns of * carry data a mask may cover (${S}.people.ssn), and a tool result names columns only by name: list the columns instead of *`,
    );
    expect(textOf(await query('EXECUTE leak'))).toMatch(/^tollgate: denied: /);
    expect(JSON.parse(textOf(await query(`SELECT * FROM ${S}.orders`)))).toEqual([{ id: 100, status: 'new' }]);
  });

  it('a write the postgres rules send to review is held (no channel here: denied, saying why)', async () => {
    const r = await query(`UPDATE ${S}.orders SET status = 'shipped'`);
    expect(textOf(r)).toBe(`tollgate: denied: update on ${S}.orders needs review by roles.agent.postgres.rules[1]; not approved: no approval channel in this test`);
    expect((await admin(`SELECT status FROM ${S}.orders`)).rows[0].status).toBe('new');
  });

  it('the server\'s resources (table schemas) are not in the role: hidden and denied', async () => {
    expect((await w.client.listResources()).resources).toEqual([]);
  });
});
