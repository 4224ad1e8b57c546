// The gateway's configuration file (DESIGN.md, "Gateway"): YAML checked by one strict zod schema, with
// errors located as file:line: key: what was expected, like the policy's. Secrets never sit in the
// file: it names environment variables (`*_env`) and files (`*_file`) that hold them; both are
// resolved here, so a missing one stops the gateway before it listens, naming the key.
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import * as z from 'zod';
import type { Policy } from '../policy/compile.js';
import { formatProblem, PolicyError, type PolicyProblem } from '../policy/errors.js';
import { loadPolicy, parseYamlWith } from '../policy/load.js';

export class GatewayConfigError extends Error {
  override readonly name = 'GatewayConfigError';
  constructor(
    message: string,
    readonly problems: readonly PolicyProblem[] = [],
  ) {
    super(message);
  }
}

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

function strict<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown key (expected one of: ${known})` : undefined),
  });
}

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;
const hostPort = z.string().refine((t) => HOST_PORT.test(t) && Number(HOST_PORT.exec(t)![3]) <= 65535, {
  error: (iss) => `expected host:port (e.g. 0.0.0.0:5432 or [::1]:5432), got ${show(iss.input)}`,
});
const ENV = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envName = z.string().regex(ENV, { error: (iss) => `expected an environment variable name, got ${show(iss.input)}` });
const path = z.string().min(1);
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export const gatewaySchema = strict({
  version: z.literal(1),
  listen: strict({ postgres: hostPort, http: hostPort, admin: hostPort }),
  tls: strict({ cert: path, key: path }).optional(),
  state: strict({ url_env: envName }),
  oidc: strict({
    issuer: z.url({ protocol: /^https?$/, error: (iss) => `expected an http(s) URL, got ${show(iss.input)}` }),
    audience: z.string().min(1),
  }),
  policy: path,
  upstreams: z
    .record(z.string().regex(NAME, { error: (iss) => `bad upstream name ${show(iss.input)}: use letters, digits, _ . -` }), strict({ url_env: envName }))
    .refine((u) => Object.keys(u).length > 0, { error: 'expected at least one upstream' }),
  audit: strict({ signing_key_file: path }),
  masks: strict({ key_env: envName }),
  github: strict({
    api_url: z.url({ protocol: /^https?$/ }).optional(),
    app_id: z.union([z.number().int().positive(), z.string().regex(/^\d+$/)]),
    private_key_file: path,
    webhook_secret_env: envName,
  }).optional(),
});

export type GatewayDocument = z.infer<typeof gatewaySchema>;

export interface Listen {
  host: string;
  port: number;
}

export interface GatewayConfig {
  file: string;
  listen: { postgres: Listen; http: Listen; admin: Listen };
  /** Absent only when the postgres and http listeners are loopback-only (plaintext refused elsewhere). */
  tls: { certFile: string; keyFile: string } | null;
  stateUrl: string;
  oidc: { issuer: string; audience: string };
  policyFile: string;
  policy: Policy;
  upstreams: ReadonlyMap<string, { url: string }>;
  /** Signs each session's chain head when it ends (Ed25519). */
  signingKey: KeyObject;
  /** First 16 hex digits of SHA-256 over the public key (SPKI DER): names the key in signatures. */
  signingKeyId: string;
  /** The secret `hash` masks derive their key from: every replica agrees, the state store holds none. */
  maskSecret: string;
  github: { apiUrl: string; appId: string; privateKey: string; webhookSecret: string } | null;
}

export function parseListen(text: string): Listen {
  const m = HOST_PORT.exec(text)!;
  return { host: (m[1] ?? m[2])!, port: Number(m[3]) };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Reads and checks `file`; `env` resolves the `*_env` keys. Throws GatewayConfigError. */
export function loadGatewayConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GatewayConfigError(`${file}: cannot read the gateway config: ${readWhy(err)}`);
  }
  return parseGatewayConfig(text, file, env);
}

export function parseGatewayConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const result = parseYamlWith(text, file, gatewaySchema, 'the gateway config is empty: expected a map with version: 1, listen, state, oidc, policy, upstreams, audit and masks');
  if (!result.ok) throw new GatewayConfigError(formatProblem(result.problems[0]!), result.problems);
  const doc = result.data;
  const lines = text.split('\n');
  // The line of a key, for problems found after the schema (missing env, unreadable file).
  const lineOf = (key: string): number => {
    const i = lines.findIndex((l) => new RegExp(`(^|[\\s{,])${key}\\s*:`).test(l));
    return i < 0 ? 1 : i + 1;
  };
  const fail = (key: string, path: string, message: string): never => {
    const problem = { file, line: lineOf(key), path, message };
    throw new GatewayConfigError(formatProblem(problem), [problem]);
  };
  const base = dirname(resolve(file));
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const fromEnv = (key: string, path: string, name: string): string => {
    const v = env[name];
    if (v === undefined || v === '') fail(key, path, `environment variable ${name} is not set`);
    return v!;
  };
  const readSecretFile = (key: string, path: string, p: string): string => {
    try {
      return readFileSync(at(p), 'utf8');
    } catch (err) {
      return fail(key, path, `cannot read ${at(p)}: ${readWhy(err)}`);
    }
  };

  const listen = { postgres: parseListen(doc.listen.postgres), http: parseListen(doc.listen.http), admin: parseListen(doc.listen.admin) };
  if (!doc.tls) {
    for (const which of ['postgres', 'http'] as const) {
      if (!isLoopback(listen[which].host)) {
        fail(which, `listen.${which}`, `listens on ${listen[which].host}, which is not loopback, so TLS is required: add tls: { cert, key }`);
      }
    }
  } else {
    readSecretFile('cert', 'tls.cert', doc.tls.cert);
    readSecretFile('key', 'tls.key', doc.tls.key);
  }

  const issuer = new URL(doc.oidc.issuer);
  if (issuer.protocol === 'http:' && !isLoopback(issuer.hostname.replace(/^\[|\]$/g, ''))) {
    fail('issuer', 'oidc.issuer', `expected an https URL (http only on loopback), got ${show(doc.oidc.issuer)}`);
  }

  const upstreams = new Map<string, { url: string }>();
  for (const [name, u] of Object.entries(doc.upstreams)) {
    const url = fromEnv('url_env', `upstreams.${name}.url_env`, u.url_env);
    if (!/^postgres(ql)?:\/\//.test(url)) fail('url_env', `upstreams.${name}.url_env`, `${u.url_env} is not a postgres:// URL`);
    upstreams.set(name, { url });
  }

  let policy: Policy;
  try {
    policy = loadPolicy(at(doc.policy));
  } catch (err) {
    if (err instanceof PolicyError) throw new GatewayConfigError(`${file}: policy: ${err.message}`, err.problems);
    throw err;
  }
  for (const role of policy.roles.values()) {
    const known = [...upstreams.keys()].join(', ');
    if (role.upstream === null) {
      throw new GatewayConfigError(`${policy.file}: roles.${role.name}: names no upstream; in gateway mode every role needs upstream: one of ${known}`);
    }
    if (!upstreams.has(role.upstream)) {
      throw new GatewayConfigError(`${policy.file}: roles.${role.name}.upstream: unknown upstream ${show(role.upstream)} (the gateway config ${file} defines ${known})`);
    }
  }

  const keyText = readSecretFile('signing_key_file', 'audit.signing_key_file', doc.audit.signing_key_file);
  let signingKey: KeyObject;
  try {
    signingKey = createPrivateKey(keyText);
  } catch {
    return fail('signing_key_file', 'audit.signing_key_file', 'not a PEM private key');
  }
  if (signingKey.asymmetricKeyType !== 'ed25519') fail('signing_key_file', 'audit.signing_key_file', `expected an Ed25519 private key, got ${signingKey.asymmetricKeyType}`);

  const maskSecret = fromEnv('key_env', 'masks.key_env', doc.masks.key_env);
  if (maskSecret.length < 32) fail('key_env', 'masks.key_env', `${doc.masks.key_env} must hold at least 32 characters (a random secret)`);

  let github: GatewayConfig['github'] = null;
  if (doc.github) {
    github = {
      apiUrl: (doc.github.api_url ?? 'https://api.github.com').replace(/\/+$/, ''),
      appId: String(doc.github.app_id),
      privateKey: readSecretFile('private_key_file', 'github.private_key_file', doc.github.private_key_file),
      webhookSecret: fromEnv('webhook_secret_env', 'github.webhook_secret_env', doc.github.webhook_secret_env),
    };
  }

  return {
    file,
    listen,
    tls: doc.tls ? { certFile: at(doc.tls.cert), keyFile: at(doc.tls.key) } : null,
    stateUrl: fromEnv('url_env', 'state.url_env', doc.state.url_env),
    oidc: { issuer: doc.oidc.issuer.replace(/\/+$/, ''), audience: doc.oidc.audience },
    policyFile: at(doc.policy),
    policy,
    upstreams,
    signingKey,
    signingKeyId: keyIdOf(createPublicKey(signingKey)),
    maskSecret,
    github,
  };
}

/** Names a public key: first 16 hex digits of SHA-256 over its SPKI DER form. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

function readWhy(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (code ?? 'unreadable');
}
