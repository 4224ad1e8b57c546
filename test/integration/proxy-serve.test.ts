// `tollgate serve`: the JSON configuration on stdin (how the action starts it), the flag form, the
// ready line, refusal of bad input, and a clean stop that flushes the audit log.

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { parseConfigJson, parseListen, run, type ServeIo } from '../../src/cli/serve.js';
import { TEST_UPSTREAM } from '../support/proxy.js';

const policy = `
version: 1
roles:
  ci:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["pg_catalog.*"] }
        - { action: deny, kinds: [any] }
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-serve-'));
  writeFileSync(join(dir, 'policy.yml'), policy);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Harness {
  io: ServeIo;
  out: () => string;
  err: () => string;
  stop: () => void;
  ready: Promise<{ host: string; port: number }>;
}

function harness(stdin: string, env: NodeJS.ProcessEnv = {}): Harness {
  let out = '';
  let err = '';
  let stopper: (() => void) | null = null;
  let readyResolve!: (v: { host: string; port: number }) => void;
  const ready = new Promise<{ host: string; port: number }>((r) => (readyResolve = r));
  const stdout = new PassThrough();
  stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /^tollgate: listening on (.+):(\d+)$/m.exec(out);
    if (m) readyResolve({ host: m[1]!, port: Number(m[2]) });
  });
  const stderr = new PassThrough();
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return {
    io: { stdout, stderr, stdin: Readable.from([Buffer.from(stdin)]), env, onStop: (s) => (stopper = s) },
    out: () => out,
    err: () => err,
    stop: () => stopper?.(),
    ready,
  };
}

function jsonConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    upstream: TEST_UPSTREAM,
    policyPath: join(dir, 'policy.yml'),
    role: 'ci',
    claims: { repository: 'acme/app', actor: 'octocat' },
    session: { id: randomUUID(), secret: 'from-stdin-secret', expiresAt: new Date(Date.now() + 600_000).toISOString() },
    auditPath: join(dir, `audit-${randomUUID()}.jsonl`),
    approvalTimeoutMs: 1000,
    approval: { kind: 'none', reason: 'push build' },
    maskKey: randomBytes(32).toString('base64'),
    ...overrides,
  };
}

describe('tollgate serve --config -', () => {
  it('reads the config from stdin, prints one ready line, serves, and stops with exit 0', async () => {
    const cfg = jsonConfig();
    const h = harness(JSON.stringify(cfg));
    const exit = run(['--config', '-'], h.io);
    const { host, port } = await h.ready;
    expect(host).toBe('127.0.0.1');
    expect(h.out()).toBe(`tollgate: listening on 127.0.0.1:${port}\n`);
    const c = new pg.Client({ host, port, user: 'tollgate', password: 'from-stdin-secret', database: 'test' });
    await c.connect();
    expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    await expect(c.query('CREATE TABLE nope (id int)')).rejects.toMatchObject({ code: '42501' });
    c.on('error', () => {});
    h.stop();
    expect(await exit).toBe(0);
    const v = await verifyAuditFile(cfg.auditPath as string);
    expect(v).toMatchObject({ ok: true });
    const text = readFileSync(cfg.auditPath as string, 'utf8');
    expect(text).not.toContain('from-stdin-secret');
    expect(text.split('\n').filter(Boolean).map((l) => JSON.parse(l).decision)).toEqual(['allow', 'allow', 'deny']);
  });

  it('refuses a malformed configuration with exit 2, without echoing its values', async () => {
    const bad = jsonConfig({ session: { id: 'x', secret: 'do-not-echo', expiresAt: 'not a date' } });
    const h = harness(JSON.stringify(bad));
    expect(await run(['--config', '-'], h.io)).toBe(2);
    expect(h.err()).toMatch(/session\.expiresAt: expected an ISO date/);
    expect(h.err()).not.toContain('do-not-echo');
    const h2 = harness('{not json');
    expect(await run(['--config', '-'], h2.io)).toBe(2);
    expect(h2.err()).toMatch(/not valid JSON/);
    const h3 = harness('{}');
    expect(await run(['--config', 'file.json'], h3.io)).toBe(2);
    expect(h3.err()).toMatch(/--config takes "-"/);
  });

  it('exits 1 when the policy cannot be loaded', async () => {
    const h = harness(JSON.stringify(jsonConfig({ policyPath: join(dir, 'missing.yml') })));
    expect(await run(['--config', '-'], h.io)).toBe(1);
    expect(h.err()).toMatch(/cannot start: .*missing\.yml: cannot read the policy file: no such file/);
  });

  it('parses a config with a github approval channel', () => {
    const cfg = parseConfigJson(
      JSON.stringify(jsonConfig({ approval: { kind: 'github', apiUrl: 'https://api.github.com', token: 't', repository: 'acme/app', pullNumber: 4, headSha: 'abc', actor: 'octocat', pollMs: 1000 } })),
    );
    expect(cfg.approval).toMatchObject({ kind: 'github', pullNumber: 4 });
    expect(cfg.session.expiresAt).toBeInstanceOf(Date);
  });
});

describe('tollgate serve with flags', () => {
  it('generates and prints a password when TOLLGATE_PASSWORD is unset', async () => {
    const audit = join(dir, 'flags-audit.jsonl');
    const h = harness('', {});
    const exit = run(['--policy', join(dir, 'policy.yml'), '--role', 'ci', '--upstream', TEST_UPSTREAM, '--listen', '127.0.0.1:0', '--audit', audit], h.io);
    const { port } = await h.ready;
    const m = /generated password for user "tollgate": (\S+)/.exec(h.err());
    expect(m).not.toBeNull();
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'tollgate', password: m![1]!, database: 'test' });
    await c.connect();
    expect((await c.query('SELECT 2 AS v')).rows).toEqual([{ v: 2 }]);
    await c.end();
    h.stop();
    expect(await exit).toBe(0);
  });

  it('uses TOLLGATE_PASSWORD and refuses a wrong one', async () => {
    const h = harness('', { TOLLGATE_PASSWORD: 'env-pass' });
    const exit = run(['--policy', join(dir, 'policy.yml'), '--role', 'ci', '--upstream', TEST_UPSTREAM, '--listen', '127.0.0.1:0', '--audit', join(dir, 'a2.jsonl')], h.io);
    const { port } = await h.ready;
    expect(h.err()).not.toMatch(/generated password/);
    const bad = new pg.Client({ host: '127.0.0.1', port, user: 'tollgate', password: 'wrong', database: 'test' });
    await expect(bad.connect()).rejects.toMatchObject({ code: '28P01' });
    const good = new pg.Client({ host: '127.0.0.1', port, user: 'tollgate', password: 'env-pass', database: 'test' });
    await good.connect();
    await good.end();
    h.stop();
    expect(await exit).toBe(0);
  });

  it('reports usage errors with exit 2', async () => {
    for (const [argv, re] of [
      [['--policy', 'p.yml'], /--role is required/],
      [['--bogus'], /unknown argument "--bogus"/],
      [['--policy', join(dir, 'policy.yml'), '--role', 'nobody', '--upstream', TEST_UPSTREAM], /no role named "nobody"/],
    ] as const) {
      const h = harness('');
      expect(await run([...argv], h.io)).toBe(2);
      expect(h.err()).toMatch(re);
    }
    expect(parseListen('[::1]:6432')).toEqual({ host: '::1', port: 6432 });
    expect(() => parseListen('localhost')).toThrow(/expected host:port/);
  });
});
