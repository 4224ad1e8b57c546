import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../src/action/errors.js';
import { parseDuration, parseListen, readInputs, upstreamDatabase } from '../../src/action/inputs.js';

const UPSTREAM = 'postgres://app:s3cret-pw@db.internal:5432/shop?sslmode=verify-full&sslrootcert=system';

function inputs(over: Record<string, string> = {}) {
  const values: Record<string, string> = { policy: 'tollgate.yml', upstream: UPSTREAM, ...over };
  const asked: string[] = [];
  const got = readInputs((n) => { asked.push(n); return values[n] ?? ''; });
  return { got, asked };
}

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigurationError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigurationError');
}

describe('readInputs', () => {
  it('applies the defaults of action.yml when inputs are empty', () => {
    expect(inputs().got).toEqual({
      policy: 'tollgate.yml',
      upstream: UPSTREAM,
      audience: 'tollgate',
      listen: { host: '127.0.0.1', port: 6432 },
      githubToken: '',
      approvalPollMs: 10_000,
      oidcIssuer: 'https://token.actions.githubusercontent.com',
    });
  });

  it('reads every input action.yml declares, and no other', () => {
    const declared = Object.keys((parse(readFileSync('action.yml', 'utf8')) as { inputs: object }).inputs).sort();
    expect([...new Set(inputs().asked)].sort()).toEqual(declared);
  });

  it('parses the optional durations, role and issuer', () => {
    const { got } = inputs({ 'session-ttl': '15m', 'approval-timeout': '1h30m', role: 'migrator', 'oidc-issuer': 'http://127.0.0.1:4000/', 'approval-poll': '500ms', listen: '[::1]:0' });
    expect(got).toMatchObject({ sessionTtlMs: 900_000, approvalTimeoutMs: 5_400_000, role: 'migrator', oidcIssuer: 'http://127.0.0.1:4000', approvalPollMs: 500, listen: { host: '::1', port: 0 } });
  });

  it('says how to fix a missing policy or upstream', () => {
    expect(configError(() => readInputs((n) => (n === 'upstream' ? UPSTREAM : '')))).toMatch(/Input `policy` is required/);
    expect(configError(() => readInputs((n) => (n === 'policy' ? 'p.yml' : '')))).toMatch(/Input `upstream` is required.*secrets\./);
  });

  it('rejects a non-postgres upstream without echoing it', () => {
    const msg = configError(() => inputs({ upstream: 'mysql://u:hunter2@h/db' }));
    expect(msg).toBe('Input `upstream` must be a postgres:// or postgresql:// URL, got a mysql:// URL.');
    expect(configError(() => inputs({ upstream: 'not a url hunter2' }))).not.toContain('hunter2');
  });

  it('refuses a plain-http issuer that is not on the runner', () => {
    expect(configError(() => inputs({ 'oidc-issuer': 'http://issuer.example.com' }))).toMatch(/must be an https URL/);
  });
});

describe('parseDuration', () => {
  it.each([['90s', 90_000], ['15m', 900_000], ['1h30m', 5_400_000], ['250ms', 250], ['2d', 172_800_000]])('%s = %i ms', (text, ms) => {
    expect(parseDuration('x', text)).toBe(ms);
  });
  it.each(['', '0s', '10', '1.5h', 'm', '10 m', '-5m', '1h+', '5y'])('rejects %j', (text) => {
    expect(configError(() => parseDuration('session-ttl', text))).toMatch(/^Input `session-ttl` must be a positive duration/);
  });
});

describe('parseListen', () => {
  it('reads host:port', () => expect(parseListen('0.0.0.0:5433')).toEqual({ host: '0.0.0.0', port: 5433 }));
  it.each(['6432', '127.0.0.1', '127.0.0.1:99999', 'a:b', ':6432'])('rejects %j', (v) => {
    expect(configError(() => parseListen(v))).toMatch(/Input `listen` must be host:port/);
  });
});

describe('upstreamDatabase', () => {
  it('is the path of the upstream URL, else the user name', () => {
    expect(upstreamDatabase(UPSTREAM)).toBe('shop');
    expect(upstreamDatabase('postgres://bob:x@h:5432')).toBe('bob');
    expect(upstreamDatabase('postgresql://h/my%20db')).toBe('my db');
  });
});

describe('an upstream off the runner must be verified (issue 8 item 4)', () => {
  it.each(['prefer', 'require', 'verify-ca', 'disable'])('sslmode=%s to a remote host fails, naming the host and the fix, never the password', (mode) => {
    const msg = configError(() => inputs({ upstream: `postgres://app:hunter2@db.internal:5432/shop?sslmode=${mode}` }));
    expect(msg).toMatch(new RegExp(`^Input \`upstream\`: the upstream db\\.internal is not on this machine and sslmode=${mode} does not verify that the server is who it claims to be: anyone on the network path could read and change the traffic.*Use sslmode=verify-full with sslrootcert=system \\(or the server's CA file\\)\\.$`));
    expect(msg).not.toContain('hunter2');
  });
  it('no sslmode means prefer, which fails too; loopback and Unix sockets are fine', () => {
    expect(configError(() => inputs({ upstream: 'postgres://app:pw@10.1.2.3/shop' }))).toContain('sslmode=prefer');
    expect(inputs({ upstream: 'postgres://app:pw@127.0.0.1:5432/shop' }).got.upstream).toBe('postgres://app:pw@127.0.0.1:5432/shop');
    expect(inputs({ upstream: 'postgres://app:pw@localhost/shop?host=/var/run/postgresql' }).got.upstream).toContain('host=/var/run');
  });
});
