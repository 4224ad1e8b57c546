import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayConfigError, loadGatewayConfig, parseGatewayConfig } from '../../src/gateway/config.js';

let dir: string;
const env = { STATE: 'postgres://s@127.0.0.1/state', MAIN: 'postgres://u:p@db:5432/orders', MASK: 'm'.repeat(32), HOOK: 'whsec' };

const POLICY = `version: 1
roles:
  ci:
    match: { repository: acme/* }
    upstream: main
    postgres: { rules: [{ action: allow, kinds: [read] }] }
`;

function config(overrides: Record<string, string> = {}): string {
  const parts: Record<string, string> = {
    version: 'version: 1',
    listen: 'listen: { postgres: "0.0.0.0:5432", http: "0.0.0.0:8443", admin: "10.0.0.5:9090" }',
    tls: 'tls: { cert: tls.crt, key: tls.key }',
    state: 'state: { url_env: STATE }',
    oidc: 'oidc: { issuer: "https://token.actions.githubusercontent.com", audience: tollgate }',
    policy: 'policy: policy.yml',
    upstreams: 'upstreams:\n  main: { url_env: MAIN }',
    audit: 'audit: { signing_key_file: signing.pem }',
    masks: 'masks: { key_env: MASK }',
    ...overrides,
  };
  return Object.values(parts).filter(Boolean).join('\n') + '\n';
}

function parse(text: string, e: NodeJS.ProcessEnv = env) {
  return parseGatewayConfig(text, join(dir, 'gateway.yml'), e);
}

function problem(text: string, e: NodeJS.ProcessEnv = env): string {
  try {
    parse(text, e);
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayConfigError);
    return (err as Error).message.replaceAll(dir, 'DIR');
  }
  throw new Error('expected a config error');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-gwcfg-'));
  writeFileSync(join(dir, 'policy.yml'), POLICY);
  writeFileSync(join(dir, 'tls.crt'), 'cert');
  writeFileSync(join(dir, 'tls.key'), 'key');
  writeFileSync(join(dir, 'signing.pem'), generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'rsa.pem'), generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gateway config', () => {
  it('reads a complete config, resolving env names and relative files', () => {
    const c = parse(config());
    expect(c.listen.postgres).toEqual({ host: '0.0.0.0', port: 5432 });
    expect(c.listen.admin).toEqual({ host: '10.0.0.5', port: 9090 });
    expect(c.tls).toEqual({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') });
    expect(c.stateUrl).toBe(env.STATE);
    expect(c.upstreams.get('main')).toEqual({ url: env.MAIN });
    expect(c.policy.roles.get('ci')!.upstream).toBe('main');
    expect(c.signingKeyId).toMatch(/^[0-9a-f]{16}$/);
    expect(c.github).toBeNull();
  });

  it('names file, line and key of a schema problem', () => {
    expect(problem(config({ listen: 'listen: { postgres: "0.0.0.0:5432", http: "nope", admin: "10.0.0.5:9090" }' }))).toBe(
      'DIR/gateway.yml:2: listen.http: expected host:port (e.g. 0.0.0.0:5432 or [::1]:5432), got "nope"',
    );
    expect(problem(config({ state: 'state: { url_env: STATE, url: "postgres://x" }' }))).toMatch(/gateway\.yml:4: state\.url: unknown key \(expected one of: url_env\)/);
    expect(problem(config({ masks: '' }))).toMatch(/gateway\.yml:\d+: masks: missing, expected a map/);
    expect(problem(config({ version: 'version: 2' }))).toMatch(/gateway\.yml:1: version: expected 1, got number 2/);
    expect(problem('')).toMatch(/the gateway config is empty/);
    expect(problem('listen: [\n')).toMatch(/YAML syntax error/);
  });

  it('refuses plaintext unless both data listeners are loopback', () => {
    expect(problem(config({ tls: '' }))).toMatch(/gateway\.yml:2: listen\.postgres: listens on 0\.0\.0\.0, which is not loopback, so TLS is required/);
    const c = parse(config({ tls: '', listen: 'listen: { postgres: "127.0.0.1:5432", http: "[::1]:8443", admin: "127.0.0.1:9090" }' }));
    expect(c.tls).toBeNull();
  });

  it('says which environment variable is missing', () => {
    expect(problem(config(), { ...env, STATE: undefined })).toMatch(/gateway\.yml:4: state\.url_env: environment variable STATE is not set/);
    expect(problem(config(), { ...env, MASK: 'short' })).toMatch(/masks\.key_env: MASK must hold at least 32 characters/);
    expect(problem(config(), { ...env, MAIN: 'mysql://x' })).toMatch(/upstreams\.main\.url_env: MAIN is not a postgres:\/\/ URL/);
  });

  it('checks files and keys', () => {
    expect(problem(config({ tls: 'tls: { cert: missing.crt, key: tls.key }' }))).toMatch(/tls\.cert: cannot read DIR\/missing\.crt: no such file/);
    expect(problem(config({ audit: 'audit: { signing_key_file: rsa.pem }' }))).toMatch(/audit\.signing_key_file: expected an Ed25519 private key, got rsa/);
    expect(problem(config({ audit: 'audit: { signing_key_file: tls.crt }' }))).toMatch(/audit\.signing_key_file: not a PEM private key/);
  });

  it('refuses an http issuer off loopback', () => {
    expect(problem(config({ oidc: 'oidc: { issuer: "http://issuer.example.com", audience: tollgate }' }))).toMatch(/oidc\.issuer: expected an https URL/);
  });

  it('ties policy roles to configured upstreams', () => {
    writeFileSync(join(dir, 'p2.yml'), POLICY.replace('upstream: main', 'upstream: other'));
    expect(problem(config({ policy: 'policy: p2.yml' }))).toMatch(/roles\.ci\.upstream: unknown upstream "other" \(the gateway config .* defines main\)/);
    writeFileSync(join(dir, 'p3.yml'), POLICY.replace('    upstream: main\n', ''));
    expect(problem(config({ policy: 'policy: p3.yml' }))).toMatch(/roles\.ci: names no upstream; in gateway mode every role needs upstream: one of main/);
    writeFileSync(join(dir, 'p4.yml'), POLICY.replace('upstream: main', 'upstream: main\n    upstreem: x'));
    expect(problem(config({ policy: 'policy: p4.yml' }))).toMatch(/policy: .*p4\.yml:6: roles\.ci\.upstreem: unknown key/);
  });

  it('reads the github section', () => {
    writeFileSync(join(dir, 'app.pem'), 'APPKEY');
    const c = parse(config({ github: 'github: { app_id: 123, private_key_file: app.pem, webhook_secret_env: HOOK }' }));
    expect(c.github).toEqual({ apiUrl: 'https://api.github.com', appId: '123', privateKey: 'APPKEY', webhookSecret: 'whsec' });
  });

  it('reports an unreadable config file', () => {
    expect(() => loadGatewayConfig(join(dir, 'nope.yml'), env)).toThrow(/nope\.yml: cannot read the gateway config: no such file/);
  });
});
