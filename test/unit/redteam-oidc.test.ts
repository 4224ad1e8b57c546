// Red team, identity: tokens an attacker can forge or bend — algorithm tricks beyond the obvious ones,
// keys the token itself points to (jwk/jku/x5u), a JWKS with several keys, issuer and audience
// spellings, claims of the wrong type, huge tokens — and claims of the wrong JSON type matched
// against policy globs. Each is refused with the exact IdentityError / PolicyError code; the key
// server the token names is never contacted.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IdentityError } from '../../src/identity/errors.js';
import { clearJwksCache, verifyOidcToken, type Claims } from '../../src/identity/oidc.js';
import { PolicyError } from '../../src/policy/errors.js';
import { parsePolicy } from '../../src/policy/load.js';
import { selectRole } from '../../src/policy/roles.js';

const AUD = 'tollgate';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

interface KeyPair {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function rsaKey(kid: string, extra: Partial<JWK> = {}): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, ...extra } };
}

/** A JWKS endpoint serving exactly `keys`, and a count of requests to any other path (jku/x5u bait). */
class KeyServer {
  keys: JWK[] = [];
  jwksFetches = 0;
  otherFetches = 0;
  url = '';
  private server!: Server;
  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res) => {
      if (req.url === '/.well-known/jwks') {
        this.jwksFetches++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: this.keys }));
        return;
      }
      this.otherFetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [] }));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const keys = new KeyServer();
let a: KeyPair;
let b: KeyPair;
let attacker: KeyPair;

function payload(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: keys.url, aud: AUD, iat: now() - 5, exp: now() + 300, repository: 'acme/app', ref: 'refs/heads/main', ...extra };
}

async function sign(header: Record<string, unknown>, body: Record<string, unknown>, key: CryptoKey): Promise<string> {
  return new SignJWT(body).setProtectedHeader({ alg: 'RS256', ...header } as { alg: string }).sign(key);
}

async function refused(token: string, opts: { issuer?: string; audience?: string } = {}): Promise<IdentityError> {
  const err = await verifyOidcToken(token, { issuer: opts.issuer ?? keys.url, audience: opts.audience ?? AUD }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IdentityError);
  return err as IdentityError;
}

beforeAll(async () => {
  await keys.start();
  a = await rsaKey('key-a');
  b = await rsaKey('key-b');
  attacker = await rsaKey('key-a'); // claims the published kid
});

afterAll(async () => {
  await keys.close();
});

beforeEach(() => {
  clearJwksCache();
  keys.keys = [a.jwk, b.jwk];
  keys.jwksFetches = 0;
  keys.otherFetches = 0;
});

describe('a JWKS with two keys', () => {
  it('verifies a token under either published kid', async () => {
    for (const k of [a, b]) {
      const claims = await verifyOidcToken(await sign({ kid: k.kid }, payload(), k.privateKey), { issuer: keys.url, audience: AUD });
      expect(claims.repository).toBe('acme/app');
    }
  });

  it('refuses a token signed by key B that names kid A', async () => {
    const e = await refused(await sign({ kid: a.kid }, payload(), b.privateKey));
    expect(e.code).toBe('ERR_OIDC_SIGNATURE');
  });

  it('refuses an attacker key published under no kid, whatever kid the token names', async () => {
    expect((await refused(await sign({ kid: a.kid }, payload(), attacker.privateKey))).code).toBe('ERR_OIDC_SIGNATURE');
    expect((await refused(await sign({ kid: 'key-c' }, payload(), attacker.privateKey))).code).toBe('ERR_OIDC_NO_KEY');
    expect((await refused(await sign({ kid: '../../.well-known/jwks' }, payload(), attacker.privateKey))).code).toBe('ERR_OIDC_NO_KEY');
  });

  it('refuses an attacker-signed token without kid (no published key verifies it)', async () => {
    const e = await refused(await sign({}, payload(), attacker.privateKey));
    expect(e.code).toBe('ERR_OIDC_NO_KEY');
    expect(e.message).toMatch(/names no key id/);
  });

  it('never uses a published key restricted to encryption or to another algorithm', async () => {
    keys.keys = [{ ...a.jwk, use: 'enc' }, { ...b.jwk, alg: 'RS512' }];
    expect((await refused(await sign({ kid: a.kid }, payload(), a.privateKey))).code).toBe('ERR_OIDC_NO_KEY');
    expect((await refused(await sign({ kid: b.kid }, payload(), b.privateKey))).code).toBe('ERR_OIDC_NO_KEY');
  });
});

describe('keys the token points to itself', () => {
  it('ignores an embedded jwk, jku and x5u header: the named key server is never contacted', async () => {
    const header = { kid: 'key-evil', jwk: attacker.jwk, jku: `${keys.url}/evil-jwks`, x5u: `${keys.url}/evil-cert` };
    const e = await refused(await sign(header, payload(), attacker.privateKey));
    expect(e.code).toBe('ERR_OIDC_NO_KEY');
    const e2 = await refused(await sign({ ...header, kid: a.kid }, payload(), attacker.privateKey));
    expect(e2.code).toBe('ERR_OIDC_SIGNATURE');
    expect(keys.otherFetches).toBe(0);
  });

  it('refuses a critical header parameter it does not understand', async () => {
    const token = await new SignJWT(payload())
      .setProtectedHeader({ alg: 'RS256', kid: a.kid, crit: ['tollgate-bypass'], 'tollgate-bypass': true } as unknown as { alg: string })
      .sign(a.privateKey)
      .catch(() => null);
    // jose refuses to even sign an unknown crit: build the same token by hand.
    const manual =
      token ??
      `${b64({ alg: 'RS256', kid: a.kid, crit: ['tollgate-bypass'], 'tollgate-bypass': true })}.${b64(payload())}.${(await sign({ kid: a.kid }, payload(), a.privateKey)).split('.')[2]}`;
    expect((await refused(manual)).code).toBe('ERR_OIDC_MALFORMED');
  });
});

describe('algorithm spellings', () => {
  for (const alg of ['none', 'None', 'NONE', 'nOnE', 'HS256', 'RS256 ', 'rs256', 'PS256', 'ES256']) {
    it(`refuses alg ${JSON.stringify(alg)}`, async () => {
      const token = `${b64({ alg, kid: a.kid, typ: 'JWT' })}.${b64(payload())}.`;
      const e = await refused(token);
      expect(e.code).toBe('ERR_OIDC_ALG');
    });
  }

  it('refuses an RS256 header with an empty or foreign signature', async () => {
    const good = await sign({ kid: a.kid }, payload(), a.privateKey);
    const [h, p] = good.split('.');
    expect((await refused(`${h}.${p}.`)).code).toBe('ERR_OIDC_SIGNATURE');
    const other = (await sign({ kid: a.kid }, payload({ repository: 'evil/x' }), a.privateKey)).split('.')[2];
    expect((await refused(`${h}.${p}.${other}`)).code).toBe('ERR_OIDC_SIGNATURE');
  });
});

describe('issuer, audience and time claims', () => {
  it('compares iss exactly: a trailing slash on either side is another issuer', async () => {
    expect((await refused(await sign({ kid: a.kid }, payload({ iss: `${keys.url}/` }), a.privateKey))).code).toBe('ERR_OIDC_ISSUER');
    const plain = await sign({ kid: a.kid }, payload(), a.privateKey);
    expect((await refused(plain, { issuer: `${keys.url}/` })).code).toBe('ERR_OIDC_ISSUER');
    expect((await refused(await sign({ kid: a.kid }, payload({ iss: keys.url.toUpperCase() }), a.privateKey))).code).toBe('ERR_OIDC_ISSUER');
  });

  it('compares aud exactly', async () => {
    for (const aud of ['tollgate ', 'Tollgate', 'tollgate-evil', ['tollgate-evil', 'x'], [], '']) {
      const e = await refused(await sign({ kid: a.kid }, payload({ aud }), a.privateKey));
      expect(e.code).toBe('ERR_OIDC_AUDIENCE');
    }
  });

  it('refuses time claims of the wrong type, nbf in the future, and no iat', async () => {
    for (const bad of [{ exp: String(now() + 300) }, { iat: String(now()) }, { nbf: 'yesterday' }, { exp: null }]) {
      const e = await refused(await sign({ kid: a.kid }, payload(bad), a.privateKey));
      expect(e.code).toBe('ERR_OIDC_MALFORMED');
    }
    expect((await refused(await sign({ kid: a.kid }, payload({ nbf: now() + 3600 }), a.privateKey))).code).toBe('ERR_OIDC_NOT_YET_VALID');
    const noIat = payload();
    delete noIat.iat;
    const e = await refused(await sign({ kid: a.kid }, noIat, a.privateKey));
    expect(e.code).toBe('ERR_OIDC_MALFORMED');
    expect(e.message).toMatch(/"iat" claim is missing/);
  });
});

describe('malformed and huge tokens', () => {
  it('refuses surrounding whitespace, JSON serialization and extra parts', async () => {
    const good = await sign({ kid: a.kid }, payload(), a.privateKey);
    for (const t of [`${good}\n`, ` ${good}`, `${good}.x`, JSON.stringify({ payload: good.split('.')[1], signatures: [] }), `Bearer ${good}`]) {
      expect((await refused(t)).code).toBe('ERR_OIDC_MALFORMED');
    }
  });

  it('refuses a 4 MB forged token quickly and without contacting the key server more than once', async () => {
    const big = payload({ padding: 'A'.repeat(4 * 1024 * 1024) });
    const t0 = Date.now();
    const e = await refused(await sign({ kid: 'nope' }, big, attacker.privateKey));
    expect(e.code).toBe('ERR_OIDC_NO_KEY');
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(keys.jwksFetches).toBe(1);
    // The message never quotes the token.
    expect(e.message.length).toBeLessThan(400);
  });
});

describe('claims of the wrong JSON type against policy globs', () => {
  const policy = parsePolicy(
    `version: 1
roles:
  deploy:
    match: { repository: "acme/*", ref: refs/heads/main }
    postgres: { rules: [{ action: allow, kinds: [read] }] }
  anything:
    match: { repository_owner: "**" }
    postgres: { rules: [{ action: allow, kinds: [read] }] }
`,
    'redteam.yml',
  );

  function roleFor(claims: Record<string, unknown>): string | PolicyError {
    try {
      return selectRole(policy, claims).name;
    } catch (e) {
      if (e instanceof PolicyError) return e;
      throw e;
    }
  }

  it('matches the genuine claims (control)', () => {
    expect(roleFor({ repository: 'acme/app', ref: 'refs/heads/main' })).toBe('deploy');
    expect(roleFor({ repository_owner: 'anyone' })).toBe('anything');
  });

  for (const [label, value] of [
    ['an array holding a matching string', ['acme/app']],
    ['a number', 1],
    ['a boolean', true],
    ['null', null],
    ['an object whose toString matches', { toString: 'acme/app' }],
    ['a nested path', 'acme/app/../../evil'],
    ['a lookalike (Cyrillic a)', 'аcme/app'],
  ] as const) {
    it(`refuses repository as ${label}`, () => {
      const r = roleFor({ repository: value, ref: 'refs/heads/main' });
      expect(r).toBeInstanceOf(PolicyError);
      expect((r as PolicyError).code).toBe('ERR_ROLE_NO_MATCH');
    });
  }

  it('a literal pattern is exact: a trailing newline, NUL or space in the claim does not match', () => {
    for (const ref of ['refs/heads/main\n', 'refs/heads/main\u0000', 'refs/heads/main ', 'refs/heads/Main', 'refs/heads/main/x']) {
      const r = roleFor({ repository: 'acme/app', ref });
      expect((r as PolicyError).code).toBe('ERR_ROLE_NO_MATCH');
    }
  });

  it('a "**" glob still wants a string', () => {
    for (const v of [['x'], 7, false, null, {}]) {
      const r = roleFor({ repository_owner: v });
      expect((r as PolicyError).code).toBe('ERR_ROLE_NO_MATCH');
    }
  });

  it('a claim smuggled through __proto__ in the verified token does not count', async () => {
    // JSON.parse keeps "__proto__" as an own property: the claims object has no own `repository`.
    const raw = `{"iss":${JSON.stringify(keys.url)},"aud":"tollgate","iat":${now() - 5},"exp":${now() + 300},"__proto__":{"repository":"acme/app","ref":"refs/heads/main","repository_owner":"x"}}`;
    const token = await new SignJWT(JSON.parse(raw) as Record<string, unknown>).setProtectedHeader({ alg: 'RS256', kid: a.kid }).sign(a.privateKey);
    const claims: Claims = await verifyOidcToken(token, { issuer: keys.url, audience: AUD });
    expect(Object.hasOwn(claims, 'repository')).toBe(false);
    const r = roleFor(claims);
    expect(r).toBeInstanceOf(PolicyError);
    expect((r as PolicyError).code).toBe('ERR_ROLE_NO_MATCH');
  });
});
