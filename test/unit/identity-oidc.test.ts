import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IdentityError } from '../../src/identity/errors.js';
import { clearJwksCache, verifyOidcToken } from '../../src/identity/oidc.js';
import { foreignKey, startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';

let issuer: OidcIssuer;
const AUD = 'tollgate';
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  issuer = await startOidcIssuer();
});
afterAll(async () => {
  await issuer.close();
});
beforeEach(() => {
  clearJwksCache();
  issuer.jwksFailure = null;
});

async function failure(token: string, opts: Partial<Parameters<typeof verifyOidcToken>[1]> = {}): Promise<IdentityError> {
  const err = await verifyOidcToken(token, { issuer: issuer.url, audience: AUD, ...opts }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IdentityError);
  const e = err as IdentityError;
  // One sentence, no line breaks, never the token itself.
  expect(e.message).not.toMatch(/\n/);
  expect(e.message).toMatch(/[.]$/);
  expect(e.message.split(/\. (?=[A-Z])/)).toHaveLength(1);
  if (token.length > 20) expect(e.message).not.toContain(token.split('.')[1] || token);
  return e;
}

describe('verifyOidcToken', () => {
  it('returns the claims of a good token', async () => {
    const claims = await verifyOidcToken(await issuer.mint(), { issuer: issuer.url, audience: AUD });
    expect(claims).toMatchObject({
      iss: issuer.url,
      aud: 'tollgate',
      sub: 'repo:acme/app:pull_request',
      repository: 'acme/app',
      repository_owner: 'acme',
      ref: 'refs/pull/12/merge',
      actor: 'dev1',
      run_id: '4242',
      event_name: 'pull_request',
      job_workflow_ref: 'acme/app/.github/workflows/migrate.yml@refs/pull/12/merge',
    });
    expect(typeof claims.iat).toBe('number');
  });

  it('accepts an audience list containing ours and an issuer given with a trailing slash for the JWKS', async () => {
    const claims = await verifyOidcToken(await issuer.mint({}, { audience: ['other', AUD] }), { issuer: issuer.url, audience: AUD });
    expect(claims.aud).toEqual(['other', AUD]);
  });

  it('alg none → ERR_OIDC_ALG', async () => {
    const e = await failure(await issuer.mint({}, { alg: 'none' }));
    expect(e.code).toBe('ERR_OIDC_ALG');
    expect(e.message).toBe(
      `The OIDC token is signed with algorithm "none", but only RS256 tokens from the issuer ${issuer.url} are accepted, so this token did not come from GitHub's token service.`,
    );
  });

  it('HS256 signed with the public key → ERR_OIDC_ALG', async () => {
    const e = await failure(await issuer.mint({}, { alg: 'HS256' }));
    expect(e.code).toBe('ERR_OIDC_ALG');
    expect(e.message).toContain('algorithm "HS256"');
  });

  it('RS512 (a real RSA signature, another algorithm) → ERR_OIDC_ALG', async () => {
    const e = await failure(await issuer.mintRaw({ alg: 'RS512', kid: issuer.kid }, { iss: issuer.url, aud: AUD, iat: now(), exp: now() + 60 }));
    expect(e.code).toBe('ERR_OIDC_ALG');
  });

  it('wrong audience → ERR_OIDC_AUDIENCE', async () => {
    const e = await failure(await issuer.mint({ aud: 'someone-else' }));
    expect(e.code).toBe('ERR_OIDC_AUDIENCE');
    expect(e.message).toBe(
      'The OIDC token was issued for audience "someone-else", not "tollgate"; request it with core.getIDToken("tollgate") or set the action\'s `audience` input to the audience the token is requested for.',
    );
  });

  it('wrong issuer → ERR_OIDC_ISSUER', async () => {
    const e = await failure(await issuer.mint({ iss: 'https://token.actions.githubusercontent.com' }));
    expect(e.code).toBe('ERR_OIDC_ISSUER');
    expect(e.message).toContain('issued by "https://token.actions.githubusercontent.com", not');
    expect(e.message).toContain('`oidc-issuer`');
  });

  it('expired → ERR_OIDC_EXPIRED; within the tolerance it still passes', async () => {
    const t = now();
    const e = await failure(await issuer.mint({ iat: t - 900, nbf: t - 900, exp: t - 600 }));
    expect(e.code).toBe('ERR_OIDC_EXPIRED');
    expect(e.message).toContain(`expired at ${new Date((t - 600) * 1000).toISOString()}`);
    await expect(verifyOidcToken(await issuer.mint({ iat: t - 400, exp: t - 30 }), { issuer: issuer.url, audience: AUD })).resolves.toMatchObject({ exp: t - 30 });
    const tight = await failure(await issuer.mint({ iat: t - 400, exp: t - 30 }), { clockToleranceSec: 5 });
    expect(tight.code).toBe('ERR_OIDC_EXPIRED');
  });

  it('not yet valid (nbf or iat in the future beyond the tolerance) → ERR_OIDC_NOT_YET_VALID', async () => {
    const t = now();
    const byNbf = await failure(await issuer.mint({ nbf: t + 600 }));
    expect(byNbf.code).toBe('ERR_OIDC_NOT_YET_VALID');
    expect(byNbf.message).toContain('fix the runner\'s clock');
    const byIat = await failure(await issuer.mint({ iat: t + 600, nbf: t, exp: t + 900 }));
    expect(byIat.code).toBe('ERR_OIDC_NOT_YET_VALID');
    await expect(verifyOidcToken(await issuer.mint({ iat: t + 30, nbf: t + 30 }), { issuer: issuer.url, audience: AUD })).resolves.toBeTruthy();
  });

  it('uses currentDate for every time check', async () => {
    const token = await issuer.mint();
    const later = new Date(Date.now() + 3600_000);
    expect((await failure(token, { currentDate: later })).code).toBe('ERR_OIDC_EXPIRED');
  });

  it('missing iat or exp → ERR_OIDC_MALFORMED naming the claim', async () => {
    const noIat = await failure(await issuer.mint({ iat: undefined }));
    expect(noIat.code).toBe('ERR_OIDC_MALFORMED');
    expect(noIat.message).toContain('"iat" claim is missing');
    const noExp = await failure(await issuer.mint({ exp: undefined }));
    expect(noExp.code).toBe('ERR_OIDC_MALFORMED');
    expect(noExp.message).toContain('"exp" claim is missing');
    const textExp = await failure(await issuer.mint({ exp: 'tomorrow' }));
    expect(textExp.code).toBe('ERR_OIDC_MALFORMED');
    expect(textExp.message).toContain('"exp" claim is not a valid value');
  });

  it('kid not in the JWKS → ERR_OIDC_NO_KEY', async () => {
    const e = await failure(await issuer.mint({}, { kid: 'not-a-published-kid', key: await foreignKey() }));
    expect(e.code).toBe('ERR_OIDC_NO_KEY');
    expect(e.message).toBe(
      `The OIDC token's key id "not-a-published-kid" is not among the keys published at ${issuer.url}/.well-known/jwks, so it was not issued by the issuer ${issuer.url}; check the \`oidc-issuer\` input.`,
    );
  });

  it('signed by another key under the published kid → ERR_OIDC_SIGNATURE', async () => {
    const e = await failure(await issuer.mint({}, { key: await foreignKey() }));
    expect(e.code).toBe('ERR_OIDC_SIGNATURE');
    expect(e.message).toContain('signature does not verify');
  });

  it('a payload altered after signing → ERR_OIDC_SIGNATURE', async () => {
    const [h, , s] = (await issuer.mint()).split('.');
    const forged = Buffer.from(JSON.stringify({ ...issuer.defaultClaims, iss: issuer.url, aud: AUD, iat: now(), exp: now() + 60, repository: 'evil/app' })).toString('base64url');
    expect((await failure(`${h}.${forged}.${s}`)).code).toBe('ERR_OIDC_SIGNATURE');
  });

  it.each([
    ['empty', ''],
    ['no dots', 'not-a-token'],
    ['spaces', 'Bearer abc.def.ghi'],
    ['four parts', 'a.b.c.d'],
  ])('garbage token (%s) → ERR_OIDC_MALFORMED', async (_name, token) => {
    const e = await failure(token);
    expect(e.code).toBe('ERR_OIDC_MALFORMED');
    expect(e.message).toBe('The OIDC token is not a JWT (three base64url parts separated by dots), so it cannot be verified; pass the token exactly as core.getIDToken() returned it.');
  });

  it('three parts that are not JSON → ERR_OIDC_MALFORMED', async () => {
    const e = await failure('abc.def.ghi');
    expect(e.code).toBe('ERR_OIDC_MALFORMED');
    expect(e.message).toMatch(/^The OIDC token is not a well-formed signed JWT \(/);
  });

  it('a token without kid and a JWKS with one key still verifies (jose picks the only key)', async () => {
    await expect(verifyOidcToken(await issuer.mint({}, { kid: null }), { issuer: issuer.url, audience: AUD })).resolves.toBeTruthy();
  });

  it('JWKS answering 500 → ERR_OIDC_JWKS_UNREACHABLE; not JSON → ERR_OIDC_JWKS_INVALID', async () => {
    issuer.jwksFailure = 500;
    expect((await failure(await issuer.mint())).code).toBe('ERR_OIDC_JWKS_UNREACHABLE');
    clearJwksCache();
    issuer.jwksFailure = 'garbage';
    const e = await failure(await issuer.mint());
    expect(e.code).toBe('ERR_OIDC_JWKS_INVALID');
  });

  it('JWKS on a closed port → ERR_OIDC_JWKS_UNREACHABLE', async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r));
    const e = await failure(await issuer.mint({ iss: `http://127.0.0.1:${port}` }), { issuer: `http://127.0.0.1:${port}` });
    expect(e.code).toBe('ERR_OIDC_JWKS_UNREACHABLE');
    expect(e.message).toBe(
      `The OIDC signing keys at http://127.0.0.1:${port}/.well-known/jwks could not be fetched (ECONNREFUSED), so the token cannot be verified and nothing was started; check that the runner can reach http://127.0.0.1:${port}.`,
    );
  });

  it('JWKS that never answers → ERR_OIDC_JWKS_UNREACHABLE after fetchTimeoutMs', async () => {
    const hang: Server = createServer(() => undefined);
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const at = `http://127.0.0.1:${(hang.address() as AddressInfo).port}`;
    try {
      const t0 = Date.now();
      const e = await failure(await issuer.mint({ iss: at }), { issuer: at, fetchTimeoutMs: 300 });
      expect(e.code).toBe('ERR_OIDC_JWKS_UNREACHABLE');
      expect(e.message).toContain('did not arrive within 300 ms');
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      hang.closeAllConnections();
      await new Promise((r) => hang.close(r));
    }
  });

  it('JWKS behind an untrusted TLS certificate → ERR_OIDC_JWKS_UNREACHABLE naming the fix', async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { createServer: createHttps } = await import('node:https');
    const d = mkdtempSync(join(tmpdir(), 'identity-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', join(d, 'k.pem'), '-out', join(d, 'c.pem')], { stdio: 'ignore' });
      const tls = createHttps({ key: readFileSync(join(d, 'k.pem')), cert: readFileSync(join(d, 'c.pem')) }, (_q, r) => r.end('{"keys":[]}'));
      await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
      const at = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;
      try {
        const e = await failure(await issuer.mint({ iss: at }), { issuer: at });
        expect(e.code).toBe('ERR_OIDC_JWKS_UNREACHABLE');
        expect(e.message).toMatch(/^The TLS certificate of https:\/\/127\.0\.0\.1:\d+ was not trusted while fetching the OIDC signing keys \(\w+\)/);
        expect(e.message).toContain('NODE_EXTRA_CA_CERTS');
      } finally {
        tls.closeAllConnections();
        await new Promise((r) => tls.close(r));
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('a flood of tokens with unknown kids fetches the JWKS once (cooldown)', async () => {
    const before = issuer.jwksFetches;
    await verifyOidcToken(await issuer.mint(), { issuer: issuer.url, audience: AUD });
    const key = await foreignKey();
    for (let i = 0; i < 20; i++) {
      expect((await failure(await issuer.mint({}, { kid: `unknown-${i}`, key }))).code).toBe('ERR_OIDC_NO_KEY');
    }
    expect(issuer.jwksFetches - before).toBe(1);
  });

  it('bad options are TypeErrors, not identity errors', async () => {
    const token = await issuer.mint();
    await expect(verifyOidcToken(token, { issuer: 'http://issuer.example.com', audience: AUD })).rejects.toThrow(TypeError);
    await expect(verifyOidcToken(token, { issuer: 'not a url', audience: AUD })).rejects.toThrow(TypeError);
    await expect(verifyOidcToken(token, { issuer: issuer.url, audience: '' })).rejects.toThrow(TypeError);
  });
});

describe('the local issuer', () => {
  it('serves the discovery document and the JWKS', async () => {
    const conf = (await (await fetch(`${issuer.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(conf.issuer).toBe(issuer.url);
    expect(conf.jwks_uri).toBe(`${issuer.url}/.well-known/jwks`);
    const jwks = (await (await fetch(`${issuer.url}/.well-known/jwks`)).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', kid: issuer.kid, alg: 'RS256', use: 'sig' });
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('answers token requests like ACTIONS_ID_TOKEN_REQUEST_URL, only with the bearer token', async () => {
    const rs = issuer.requestServer;
    rs.claims = { actor: 'someone' };
    const ok = await fetch(`${rs.url}&audience=tollgate`, { headers: { authorization: `Bearer ${rs.token}` } });
    expect(ok.status).toBe(200);
    const { value } = (await ok.json()) as { value: string };
    const claims = await verifyOidcToken(value, { issuer: issuer.url, audience: 'tollgate' });
    expect(claims.actor).toBe('someone');
    const bad = await fetch(`${rs.url}&audience=tollgate`, { headers: { authorization: 'Bearer nope' } });
    expect(bad.status).toBe(401);
    rs.failWith = 403;
    expect((await fetch(rs.url, { headers: { authorization: `Bearer ${rs.token}` } })).status).toBe(403);
    rs.failWith = null;
    rs.claims = {};
    expect(rs.requests.slice(-3)).toEqual([
      { audience: 'tollgate', authorized: true },
      { audience: 'tollgate', authorized: false },
      { audience: null, authorized: true },
    ]);
  });
});
