// A gateway for tests: a state-store database of the test file's own (dropped and created anew on
// 127.0.0.1:5432), a temporary directory with a policy, an Ed25519 signing key, a self-signed TLS pair
// (openssl) and a gateway.yml, and an in-process replica started on it.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadGatewayConfig, type GatewayConfig } from '../../src/gateway/config.js';
import { startGateway, type GatewayDeps, type RunningGateway } from '../../src/gateway/service.js';
import { Store } from '../../src/gateway/store.js';

export const PG_ADMIN = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Drops and creates database `name` (names are per test file); returns its URL. */
export async function freshDatabase(name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
  const c = new pg.Client({ connectionString: PG_ADMIN });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  return `postgres://postgres@127.0.0.1:5432/${name}`;
}

export async function dropDatabase(name: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

export const TEST_POLICY = `version: 1
defaults: { session_ttl: 30m, approval_timeout: 5m }
roles:
  reader:
    match: { repository: acme/app, ref: "refs/pull/*/merge" }
    upstream: main
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["public.*"] }
        - { action: review, kinds: [write], objects: ["public.orders"] }
        - { action: deny, kinds: [any] }
      masks:
        - { columns: ["*.email"], strategy: redact }
  deployer:
    match: { repository: acme/app, ref: refs/heads/main }
    upstream: main
    postgres:
      rules:
        - { action: allow, kinds: [any] }
`;

export interface GatewayFiles {
  dir: string;
  configFile: string;
  env: NodeJS.ProcessEnv;
  /** PEM of the signing key's public half. */
  publicKeyPem: string;
  certPem: string;
}

export interface GatewayFileOptions {
  stateUrl: string;
  issuer: string;
  upstream?: string;
  policy?: string;
  tls?: boolean;
  listenHost?: string;
  /** Extra YAML appended to the config (e.g. a github: section). */
  extra?: string;
}

/** Writes gateway.yml and what it names into a temporary directory. */
export function writeGatewayFiles(o: GatewayFileOptions): GatewayFiles {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-gw-'));
  writeFileSync(join(dir, 'policy.yml'), o.policy ?? TEST_POLICY);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(dir, 'signing.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(join(dir, 'signing.pub.pem'), publicKeyPem);
  let certPem = '';
  if (o.tls !== false) {
    makeCert(dir, 'tls');
    certPem = execFileSync('cat', [join(dir, 'tls.crt')], { encoding: 'utf8' });
  }
  const host = o.listenHost ?? '127.0.0.1';
  const yaml = `version: 1
listen: { postgres: "${host}:0", http: "${host}:0", admin: "127.0.0.1:0" }
${o.tls !== false ? 'tls: { cert: tls.crt, key: tls.key }\n' : ''}state: { url_env: TG_STATE_URL }
oidc: { issuer: "${o.issuer}", audience: tollgate }
policy: policy.yml
upstreams:
  main: { url_env: TG_MAIN_URL }
audit: { signing_key_file: signing.pem }
masks: { key_env: TG_MASK_KEY }
${o.extra ?? ''}`;
  const configFile = join(dir, 'gateway.yml');
  writeFileSync(configFile, yaml);
  const env = {
    TG_STATE_URL: o.stateUrl,
    TG_MAIN_URL: o.upstream ?? 'postgres://postgres@127.0.0.1:5432/test',
    TG_MASK_KEY: 'k'.repeat(40),
  };
  return { dir, configFile, env, publicKeyPem, certPem };
}

/** A self-signed certificate for 127.0.0.1 and localhost at dir/NAME.crt, dir/NAME.key. */
export function makeCert(dir: string, name: string, cn = 'tollgate-test'): void {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`),
  ], { stdio: 'ignore' });
}

export interface TestGateway extends RunningGateway {
  files: GatewayFiles;
  config: GatewayConfig;
  /** https://127.0.0.1:PORT (or http when TLS is off). */
  url: string;
  adminUrl: string;
  /** fetch() against the API trusting the test certificate. */
  api(path: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; headers: Headers; text: string; json: () => any }>;
  stop(): Promise<void>;
}

/** Migrates the store and starts one replica on the files. */
export async function startTestGateway(files: GatewayFiles, deps: GatewayDeps = {}, migrate = true): Promise<TestGateway> {
  const config = loadGatewayConfig(files.configFile, files.env);
  if (migrate) {
    const store = new Store(config.stateUrl);
    try {
      await store.migrate();
    } finally {
      await store.close();
    }
  }
  const gw = await startGateway(config, { logger: { info: () => {}, warn: () => {} }, ...deps });
  const scheme = config.tls ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${gw.http.port}`;
  return Object.assign(gw, {
    files,
    config,
    url,
    adminUrl: `http://127.0.0.1:${gw.admin.port}`,
    api: (path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) => request(`${url}${path}`, init, files.certPem),
    async stop() {
      await gw.close({ graceMs: 1000 });
    },
  });
}

/** One HTTP(S) request with node:https (the test CA trusted); never throws on a status. */
export async function request(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
  ca?: string,
): Promise<{ status: number; headers: Headers; text: string; json: () => any }> {
  const { request: httpsRequest } = await import('node:https');
  const { request: httpRequest } = await import('node:http');
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(u, { method: init.method ?? 'GET', headers: init.headers, agent: false, ...(ca ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
        resolve({ status: res.statusCode ?? 0, headers, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}

export function cleanup(files: GatewayFiles): void {
  rmSync(files.dir, { recursive: true, force: true });
}
