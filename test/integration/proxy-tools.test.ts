// pgbench (-M simple and -M prepared) and pg_dump through the proxy, in a scratch database.

import { execFile } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestProxy, type TestProxy } from '../support/proxy.js';

const DB = `tg_proxy_tools_${process.pid}`;
const ADMIN = 'postgres://postgres@127.0.0.1:5432/test';
const UPSTREAM = `postgres://postgres@127.0.0.1:5432/${DB}`;

const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["public.*", "pg_catalog.*", "information_schema.*"] }
        - { action: allow, kinds: [copy_to, lock], objects: ["public.*"] }
        - { action: allow, kinds: [call], objects: ["pg_catalog.set_config"] }
        - { action: allow, kinds: [select], objects: ["pg_catalog.pg_subscription"] }
        - { action: allow, kinds: [set, reset], objects: [synchronize_seqscans, idle_in_transaction_session_timeout, lock_timeout, row_security, search_path, quote_all_identifiers, default_transaction_isolation, transaction, restrict_nonsystem_relation_kind] }
        - { action: deny, kinds: [any] }
      masks:
        - { columns: ["public.pgbench_branches.filler"], strategy: redact }
`;

let proxy: TestProxy;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function adminQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await adminQuery(`DROP DATABASE IF EXISTS ${DB}`);
  await adminQuery(`CREATE DATABASE ${DB}`);
  const init = await run('pgbench', ['-i', '-s', '1', '-q', '-h', '127.0.0.1', '-U', 'postgres', DB], { ...process.env, PGPASSWORD: '' });
  expect(init.code).toBe(0);
  proxy = await startTestProxy({ policy, upstream: UPSTREAM });
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await adminQuery(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
});

describe('pgbench through the proxy', () => {
  for (const mode of ['simple', 'extended', 'prepared']) {
    it(`runs -S -M ${mode} without a failed transaction`, async () => {
      const r = await run('pgbench', ['-n', '-S', '-M', mode, '-c', '2', '-t', '200', DB], { ...proxy.env, PGDATABASE: DB });
      expect(r.stderr).not.toMatch(/error|denied/i);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/number of transactions actually processed: 400\/400/);
      expect(r.stdout).toMatch(/number of failed transactions: 0/);
    });
  }

  it('is refused a write the policy does not allow (the default TPC-B script)', async () => {
    const r = await run('pgbench', ['-n', '-M', 'prepared', '-c', '1', '-t', '2', DB], { ...proxy.env, PGDATABASE: DB });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/tollgate: denied/);
  });
});

describe('pg_dump through the proxy', () => {
  it('dumps a schema under a policy that allows reads, COPY TO and LOCK', async () => {
    const r = await run('pg_dump', ['--no-owner', '-t', 'public.pgbench_tellers', '-t', 'public.pgbench_accounts', DB], { ...proxy.env, PGDATABASE: DB });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/CREATE TABLE public\.pgbench_tellers/);
    expect(r.stdout).toMatch(/COPY public\.pgbench_accounts \(aid, bid, abalance, filler\) FROM stdin;\n1\t1\t0\t/);
  });

  it('fails closed when a dumped table has a masked column (COPY cannot mask)', async () => {
    const r = await run('pg_dump', ['--no-owner', '-t', 'public.pgbench_branches', DB], { ...proxy.env, PGDATABASE: DB });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/tollgate: denied: result refused: COPY cannot mask columns/);
    expect(r.stdout).not.toMatch(/^1\t/m);
  });
});
