// `tollgate serve` with a role that has HTTP upstreams: one listener line per upstream, SQL and
// HTTP records in one hash chain, credentials from the environment never in the log.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { run } from '../../src/cli/serve.js';
import { startUpstream } from '../support/http-proxy.js';
import { TEST_UPSTREAM } from '../support/proxy.js';

let dir: string;
let up: Awaited<ReturnType<typeof startUpstream>>;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-http-serve-'));
  up = await startUpstream();
  writeFileSync(join(dir, 'policy.yml'), `
version: 1
roles:
  ci:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read] }
    http:
      upstreams:
        api: { url: "${up.url}", auth: { bearer_env: HTTP_SERVE_API_TOKEN } }
      rules:
        - { action: allow, methods: [GET], paths: ["/things/*"] }
`);
});
afterAll(async () => {
  await up?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('starts a listener per upstream next to the PostgreSQL one; both write one chain', async () => {
  let out = '';
  let err = '';
  let stop: (() => void) | null = null;
  const stdout = new PassThrough();
  const ready = new Promise<void>((resolve) => stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (/tollgate: listening on/.test(out)) resolve();
  }));
  const stderr = new PassThrough();
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const audit = join(dir, 'audit.jsonl');
  const done = run(
    ['--policy', join(dir, 'policy.yml'), '--role', 'ci', '--upstream', TEST_UPSTREAM, '--listen', '127.0.0.1:0', '--audit', audit],
    { stdout, stderr, stdin: Readable.from([]), env: { TOLLGATE_PASSWORD: 'serve-secret-1', HTTP_SERVE_API_TOKEN: 'real-token-9' }, onStop: (s) => (stop = s) },
  );
  await Promise.race([ready, done.then(() => { throw new Error(err); })]);
  const http = /^tollgate: http api listening on 127\.0\.0\.1:(\d+)$/m.exec(out);
  const sql = /^tollgate: listening on 127\.0\.0\.1:(\d+)$/m.exec(out);
  expect(http && sql && out.indexOf(http[0]) < out.indexOf(sql[0])).toBe(true);

  const r = await request(`http://127.0.0.1:${http![1]}/things/1?token=abc`, { headers: { authorization: 'Bearer serve-secret-1' } });
  expect(r.statusCode).toBe(200);
  await r.body.dump();
  expect(up.seen[up.seen.length - 1]!.headers.authorization).toBe('Bearer real-token-9');
  const denied = await request(`http://127.0.0.1:${http![1]}/other`, { headers: { authorization: 'Bearer serve-secret-1' } });
  expect(denied.statusCode).toBe(403);
  await denied.body.dump();

  const client = new pg.Client({ host: '127.0.0.1', port: Number(sql![1]), user: 'tollgate', password: 'serve-secret-1', database: 'test' });
  await client.connect();
  await client.query('SELECT 1');
  await client.end();

  stop!();
  expect(await done).toBe(0);
  expect(await verifyAuditFile(audit)).toMatchObject({ ok: true });
  const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(lines.filter((l) => l.type === 'http').map((l) => [l.decision, l.http.path, l.http.status])).toEqual([
    ['allow', '/things/1?token=…', 200],
    ['deny', '/other', 403],
  ]);
  expect(lines.some((l) => l.type === 'sql')).toBe(true);
  const text = readFileSync(audit, 'utf8');
  expect(text).not.toContain('real-token-9');
  expect(text).not.toContain('serve-secret-1');
});

it('a credential the policy names but the environment lacks stops serve with a clear error', async () => {
  let err = '';
  const stderr = new PassThrough();
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await run(
    ['--policy', join(dir, 'policy.yml'), '--role', 'ci', '--upstream', TEST_UPSTREAM, '--listen', '127.0.0.1:0', '--audit', join(dir, 'a2.jsonl')],
    { stdout: new PassThrough(), stderr, stdin: Readable.from([]), env: { TOLLGATE_PASSWORD: 'x' }, onStop: () => {} },
  );
  expect(code).toBe(2);
  expect(err).toContain('tollgate serve: http upstream api: environment variable HTTP_SERVE_API_TOKEN is not set');
});
