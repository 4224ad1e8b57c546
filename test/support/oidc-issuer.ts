// A local OIDC issuer for tests, shaped like GitHub Actions' token service: /.well-known/jwks and
// /.well-known/openid-configuration on node:http (port 0), tokens with GitHub's claims, and a token
// request endpoint standing in for ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN.

import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export interface MintOptions {
  /** `aud` (default: the claims' `aud`, else "tollgate"). */
  audience?: string | string[];
  /** Lifetime in seconds from now (default 300); negative for an already expired token. */
  expiresIn?: number;
  /** `alg` header: RS256 (default), `none` (unsigned) or `HS256` (HMAC keyed with the public key's PEM). */
  alg?: 'RS256' | 'none' | 'HS256';
  /** `kid` header (default: the issuer's key id); `null` leaves it out. */
  kid?: string | null;
  /** Sign with this private key instead of the issuer's (a key the JWKS does not publish). */
  key?: CryptoKey;
}

export interface TokenRequest {
  audience: string | null;
  authorized: boolean;
}

export interface OidcIssuer {
  /** The issuer URL (`iss`), e.g. http://127.0.0.1:PORT — no trailing slash. */
  url: string;
  /** The key id the JWKS publishes. */
  kid: string;
  /** A token with GitHub-shaped default claims; `claims` override any default (iss, aud, iat, exp, …). */
  mint(claims?: Record<string, unknown>, opts?: MintOptions): Promise<string>;
  /**
   * A token from the exact header and payload given, signed RS256 with the issuer's key (or `key`)
   * whatever the header says, or carrying `signature` verbatim.
   */
  mintRaw(header: Record<string, unknown>, payload: Record<string, unknown>, opts?: { key?: CryptoKey; signature?: string }): Promise<string>;
  /** The issuer's default claims (what mint() starts from), without iss/aud/iat/nbf/exp. */
  defaultClaims: Record<string, unknown>;
  /**
   * Stands in for ACTIONS_ID_TOKEN_REQUEST_URL (`url`, with a query so `&audience=` can be appended)
   * and ACTIONS_ID_TOKEN_REQUEST_TOKEN (`token`): GET with `Authorization: Bearer <token>` answers
   * {"value": <jwt for the requested audience>} using `claims`; `failWith` makes it answer that status.
   */
  requestServer: { url: string; token: string; claims: Record<string, unknown>; failWith: number | null; requests: TokenRequest[] };
  /** Answer the JWKS with this status (null: serve the keys), e.g. 500, or 'garbage' for a non-JSON body. */
  jwksFailure: number | 'garbage' | null;
  /** How many times the JWKS was fetched. */
  readonly jwksFetches: number;
  /** Replaces the published key (new kid); returns the new kid. Tokens minted afterwards use it. */
  rotateKey(): Promise<string>;
  close(): Promise<void>;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export async function startOidcIssuer(): Promise<OidcIssuer> {
  let keys = await newKey();
  let jwksFetches = 0;
  const defaultClaims: Record<string, unknown> = {
    sub: 'repo:acme/app:pull_request',
    repository: 'acme/app',
    repository_id: '100200300',
    repository_owner: 'acme',
    repository_owner_id: '9000',
    repository_visibility: 'private',
    ref: 'refs/pull/12/merge',
    ref_type: 'branch',
    ref_protected: 'false',
    sha: 'c'.repeat(40),
    head_ref: 'feature/x',
    base_ref: 'main',
    workflow: 'migrate',
    workflow_ref: 'acme/app/.github/workflows/migrate.yml@refs/pull/12/merge',
    workflow_sha: 'c'.repeat(40),
    job_workflow_ref: 'acme/app/.github/workflows/migrate.yml@refs/pull/12/merge',
    job_workflow_sha: 'c'.repeat(40),
    run_id: '4242',
    run_number: '7',
    run_attempt: '1',
    actor: 'dev1',
    actor_id: '5150',
    triggering_actor: 'dev1',
    event_name: 'pull_request',
    runner_environment: 'github-hosted',
  };

  const issuer = {} as OidcIssuer;
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  async function mintRaw(header: Record<string, unknown>, payload: Record<string, unknown>, opts: { key?: CryptoKey; signature?: string } = {}) {
    const input = `${b64(header)}.${b64(payload)}`;
    if (opts.signature !== undefined) return `${input}.${opts.signature}`;
    const key = opts.key ?? keys.privateKey;
    const sig = await crypto.subtle.sign({ name: 'RSASSA-PKCS1-v1_5' }, key, Buffer.from(input));
    return `${input}.${Buffer.from(sig).toString('base64url')}`;
  }

  async function mint(claims: Record<string, unknown> = {}, opts: MintOptions = {}) {
    const now = Math.floor(Date.now() / 1000);
    const payload: Record<string, unknown> = {
      jti: randomBytes(8).toString('hex'),
      ...defaultClaims,
      iss: url,
      aud: 'tollgate',
      iat: now,
      nbf: now,
      exp: now + (opts.expiresIn ?? 300),
      ...claims,
    };
    if (opts.audience !== undefined) payload.aud = opts.audience;
    const kid = opts.kid === undefined ? keys.kid : opts.kid;
    const alg = opts.alg ?? 'RS256';
    const header: Record<string, unknown> = { alg, typ: 'JWT', ...(kid === null ? {} : { kid }) };
    if (alg === 'none') return mintRaw(header, payload, { signature: '' });
    if (alg === 'HS256') {
      // The classic key-confusion attack: HMAC keyed with the issuer's public key.
      const input = `${b64(header)}.${b64(payload)}`;
      const sig = createHmac('sha256', keys.publicPem).update(input).digest('base64url');
      return `${input}.${sig}`;
    }
    if (opts.key) return mintRaw(header, payload, { key: opts.key });
    return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(keys.privateKey);
  }

  const requestServer = {
    url: `${url}/token-request?api-version=2.0`,
    token: randomBytes(24).toString('hex'),
    claims: {} as Record<string, unknown>,
    failWith: null as number | null,
    requests: [] as TokenRequest[],
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const u = new URL(req.url ?? '/', url);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    try {
      if (u.pathname === '/.well-known/jwks') {
        jwksFetches++;
        if (issuer.jwksFailure === 'garbage') return json(200, '<html>not json');
        if (issuer.jwksFailure !== null) return json(issuer.jwksFailure, { message: 'unavailable' });
        return json(200, { keys: [keys.publicJwk] });
      }
      if (u.pathname === '/.well-known/openid-configuration') {
        return json(200, {
          issuer: url,
          jwks_uri: `${url}/.well-known/jwks`,
          subject_types_supported: ['public', 'pairwise'],
          response_types_supported: ['id_token'],
          claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti', 'nbf', 'ref', 'repository', 'repository_owner', 'run_id', 'actor', 'workflow', 'event_name', 'job_workflow_ref', 'sha'],
          id_token_signing_alg_values_supported: ['RS256'],
          scopes_supported: ['openid'],
        });
      }
      if (u.pathname === '/token-request') {
        const authorized = req.headers.authorization === `Bearer ${requestServer.token}`;
        const audience = u.searchParams.get('audience');
        requestServer.requests.push({ audience, authorized });
        if (requestServer.failWith !== null) return json(requestServer.failWith, { message: 'refused by the test' });
        if (!authorized) return json(401, { message: 'bad bearer token' });
        // GitHub's default audience is the repository owner's URL.
        const aud = audience ?? `https://github.com/${String(defaultClaims.repository_owner)}`;
        return json(200, { count: 1, value: await mint({ ...requestServer.claims }, { audience: aud }) });
      }
      json(404, { message: 'not found' });
    } catch (err) {
      json(500, { message: (err as Error).message });
    }
  }

  Object.assign(issuer, {
    url,
    kid: keys.kid,
    mint,
    mintRaw,
    defaultClaims,
    requestServer,
    jwksFailure: null,
    async rotateKey() {
      keys = await newKey();
      issuer.kid = keys.kid;
      return keys.kid;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  });
  Object.defineProperty(issuer, 'jwksFetches', { get: () => jwksFetches, enumerable: true });
  return issuer;
}

async function newKey(): Promise<{ kid: string; privateKey: CryptoKey; publicJwk: JWK; publicPem: string }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const kid = randomBytes(8).toString('hex');
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

/** A private key the issuer does not publish (for bad-signature tokens). */
export async function foreignKey(): Promise<CryptoKey> {
  return (await generateKeyPair('RS256', { modulusLength: 2048 })).privateKey;
}
