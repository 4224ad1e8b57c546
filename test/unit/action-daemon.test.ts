// startDaemon/stopDaemon against small stand-in daemons: the contract is the `listening` line on
// stdout, the config on stdin, and SIGTERM to stop.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive, startDaemon, stopDaemon } from '../../src/action/daemon.js';
import { SafeFailure } from '../../src/action/errors.js';
import type { ProxyConfig } from '../../src/daemon/config.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-action-daemon-'));
const started: number[] = [];
afterAll(() => {
  for (const pid of started) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
});

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
}

// Reads the config from stdin, records what it saw, listens on an ephemeral port, stops on SIGTERM.
const GOOD = script('good.mjs', `
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const cfg = JSON.parse(input);
  writeFileSync(cfg.auditPath, JSON.stringify({ argv: process.argv.slice(2), env: Object.keys(process.env), cfg }));
  const srv = createServer().listen(0, '127.0.0.1', () => {
    console.log('tollgate: listening on 127.0.0.1:' + srv.address().port);
  });
  process.on('SIGTERM', () => { srv.close(); process.exit(0); });
});
`);
const FAILS = script('fails.mjs', `process.stdin.resume(); process.stdin.on('end', () => { console.error('tollgate: policy roles.x: bad glob; upstream postgres://u:pw-SECRET@h/db'); process.exit(2); });`);
const SILENT = script('silent.mjs', `setInterval(() => {}, 1000); process.stdin.resume();`);
const STUBBORN = script('stubborn.mjs', `
process.on('SIGTERM', () => {});
process.stdin.resume();
process.stdin.on('end', () => console.log('tollgate: listening on 127.0.0.1:1'));
setInterval(() => {}, 1000);
`);

function config(name: string): ProxyConfig {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    upstream: 'postgres://u:pw-SECRET@127.0.0.1:5432/test',
    policyPath: '/p.yml',
    role: 'r',
    claims: { repository: 'acme/app' },
    session: { id: 'sess-1', secret: 'session-SECRET', expiresAt: new Date('2030-01-01T00:00:00Z') },
    auditPath: join(dir, `${name}.seen.json`),
    approvalTimeoutMs: 1000,
    approval: { kind: 'none', reason: 'push' },
    maskKey: 'k',
  };
}

describe('startDaemon', () => {
  it('hands the config over on stdin only and returns once it listens', async () => {
    process.env.INPUT_UPSTREAM = 'postgres://u:pw-SECRET@127.0.0.1:5432/test';
    try {
      const d = await startDaemon({ cliPath: GOOD, config: config('good'), logPath: join(dir, 'good.log'), timeoutMs: 10_000, redact: [] });
      started.push(d.pid);
      expect(d.host).toBe('127.0.0.1');
      expect(d.port).toBeGreaterThan(0);
      expect(isAlive(d.pid)).toBe(true);
      const seen = JSON.parse(readFileSync(join(dir, 'good.seen.json'), 'utf8'));
      expect(seen.argv).toEqual(['serve', '--config', '-']);
      expect(seen.cfg.session.secret).toBe('session-SECRET');
      expect(seen.cfg.session.expiresAt).toBe('2030-01-01T00:00:00.000Z');
      // Nothing secret travels by argv or by the environment the daemon inherits.
      expect(seen.env.filter((k: string) => k.startsWith('INPUT_'))).toEqual([]);
      expect(await stopDaemon(d.pid, 5_000)).toBe('stopped');
      expect(isAlive(d.pid)).toBe(false);
      expect(await stopDaemon(d.pid, 5_000)).toBe('not-running');
    } finally {
      delete process.env.INPUT_UPSTREAM;
    }
  });

  it('fails with the daemon\'s own error (secrets removed) when it exits before listening', async () => {
    const err = await startDaemon({ cliPath: FAILS, config: config('fails'), logPath: join(dir, 'fails.log'), timeoutMs: 10_000, redact: ['pw-SECRET'] }).catch((e) => e);
    expect(err).toBeInstanceOf(SafeFailure);
    expect(err.message).toBe('The tollgate proxy exited with code 2 before it listened. Its output:\ntollgate: policy roles.x: bad glob; upstream postgres://u:[secret]@h/db');
  });

  it('fails, and kills it, when it does not listen in time', async () => {
    const t0 = Date.now();
    const err = await startDaemon({ cliPath: SILENT, config: config('silent'), logPath: join(dir, 'silent.log'), timeoutMs: 600, redact: [] }).catch((e) => e);
    expect(err).toBeInstanceOf(SafeFailure);
    expect(err.message).toBe('The tollgate proxy did not listen within 1s. Its output:\n(no output)');
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});

describe('stopDaemon', () => {
  it('kills a daemon that ignores SIGTERM after the grace period', async () => {
    const d = await startDaemon({ cliPath: STUBBORN, config: config('stubborn'), logPath: join(dir, 'stubborn.log'), timeoutMs: 10_000, redact: [] });
    started.push(d.pid);
    expect(await stopDaemon(d.pid, 300)).toBe('killed');
    expect(isAlive(d.pid)).toBe(false);
  });
});
