// Verifies a GitHub Actions OIDC token with jose: RS256 only, keys from <issuer>/.well-known/jwks,
// iss, aud, exp, nbf and iat checked with a small clock tolerance. Every failure becomes an
// IdentityError with a stable code and one sentence that says what to do.

import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { IdentityError, quote } from './errors.js';

/** GitHub Actions OIDC claims (https://docs.github.com/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect). */
export interface Claims extends JWTPayload {
  iss: string;
  aud: string | string[];
  exp: number;
  iat: number;
  sub?: string;
  repository?: string;
  repository_id?: string;
  repository_owner?: string;
  repository_owner_id?: string;
  repository_visibility?: string;
  ref?: string;
  ref_type?: string;
  ref_protected?: string;
  sha?: string;
  workflow?: string;
  workflow_ref?: string;
  workflow_sha?: string;
  job_workflow_ref?: string;
  job_workflow_sha?: string;
  run_id?: string;
  run_number?: string;
  run_attempt?: string;
  actor?: string;
  actor_id?: string;
  triggering_actor?: string;
  event_name?: string;
  environment?: string;
  head_ref?: string;
  base_ref?: string;
  runner_environment?: string;
  [claim: string]: unknown;
}

export interface VerifyOptions {
  /** Expected `iss`, e.g. https://token.actions.githubusercontent.com (https, or http on loopback). */
  issuer: string;
  /** Expected `aud` (the audience the token was requested for). */
  audience: string;
  /** Allowed clock skew for exp/nbf/iat, seconds (default 60). */
  clockToleranceSec?: number;
  /** Timeout of the JWKS request, ms (default 5000). */
  fetchTimeoutMs?: number;
  /** "Now" for the time checks (tests). */
  currentDate?: Date;
}

const DEFAULT_TOLERANCE_SEC = 60;
const DEFAULT_FETCH_TIMEOUT_MS = 5_000;
/** An unknown kid refetches the keys at most this often, so bad tokens cannot hammer the issuer. */
const JWKS_COOLDOWN_MS = 30_000;
const JWKS_MAX_AGE_MS = 10 * 60_000;

type RemoteSet = ReturnType<typeof createRemoteJWKSet>;
/** One cached key set per issuer (and timeout), shared by every verification in the process. */
const keySets = new Map<string, RemoteSet>();

/** Where the issuer publishes its keys. */
export function jwksUrl(issuer: string): URL {
  return new URL(`${issuer.replace(/\/+$/, '')}/.well-known/jwks`);
}

function keySetFor(url: URL, timeoutMs: number): RemoteSet {
  const key = `${url.href} ${timeoutMs}`;
  let set = keySets.get(key);
  if (!set) {
    set = createRemoteJWKSet(url, { timeoutDuration: timeoutMs, cooldownDuration: JWKS_COOLDOWN_MS, cacheMaxAge: JWKS_MAX_AGE_MS });
    keySets.set(key, set);
  }
  return set;
}

/** Forgets every cached key set (tests; a long-lived process never needs it). */
export function clearJwksCache(): void {
  keySets.clear();
}

function checkOptions(opts: VerifyOptions): URL {
  if (typeof opts.audience !== 'string' || opts.audience === '') throw new TypeError('verifyOidcToken: audience must be a non-empty string');
  let url: URL;
  try {
    url = jwksUrl(opts.issuer);
  } catch {
    throw new TypeError(`verifyOidcToken: issuer must be a URL, got ${quote(opts.issuer)}`);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new TypeError(`verifyOidcToken: issuer must be an https URL (http only on loopback), got ${quote(opts.issuer)}`);
  }
  return url;
}

/** Verifies `token` and returns its claims, or throws IdentityError (TypeError for bad options). */
export async function verifyOidcToken(token: string, opts: VerifyOptions): Promise<Claims> {
  const url = checkOptions(opts);
  const tolerance = opts.clockToleranceSec ?? DEFAULT_TOLERANCE_SEC;
  const timeoutMs = opts.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const ctx: Context = { issuer: opts.issuer, audience: opts.audience, url, tolerance, timeoutMs, now: opts.currentDate ?? new Date() };
  if (typeof token !== 'string' || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) {
    throw new IdentityError('ERR_OIDC_MALFORMED', `The OIDC token is not a JWT (three base64url parts separated by dots), so it cannot be verified; pass the token exactly as core.getIDToken() returned it.`);
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keySetFor(url, timeoutMs), {
      algorithms: ['RS256'],
      issuer: opts.issuer,
      audience: opts.audience,
      requiredClaims: ['exp', 'iat'],
      clockTolerance: tolerance,
      currentDate: ctx.now,
    }));
  } catch (err) {
    throw explain(err, token, ctx);
  }
  // jose checks iat only against a maximum age; a token issued in the future is not valid yet.
  const iat = payload.iat!;
  if (iat > Math.floor(ctx.now.getTime() / 1000) + tolerance) {
    throw new IdentityError('ERR_OIDC_NOT_YET_VALID', `The OIDC token was issued at ${isoTime(iat)}, after the runner's current time ${ctx.now.toISOString()} (tolerance ${tolerance} s); fix the runner's clock (NTP) and rerun the job.`);
  }
  return payload as Claims;
}

interface Context {
  issuer: string;
  audience: string;
  url: URL;
  tolerance: number;
  timeoutMs: number;
  now: Date;
}

function isoTime(epochSec: unknown): string {
  return typeof epochSec === 'number' && Number.isFinite(epochSec) ? new Date(epochSec * 1000).toISOString() : 'an invalid time';
}

/** The token's protected header, or {} when it cannot be read. Never trusted, only quoted. */
function header(token: string): Record<string, unknown> {
  try {
    const h = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as unknown;
    return h !== null && typeof h === 'object' ? (h as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function explain(err: unknown, token: string, ctx: Context): IdentityError {
  const from = `the issuer ${ctx.issuer}`;
  const keys = ctx.url.href;
  const wrap = (code: ConstructorParameters<typeof IdentityError>[0], message: string) => new IdentityError(code, message, { cause: err });
  if (err instanceof errors.JOSEAlgNotAllowed) {
    const alg = header(token).alg;
    return wrap('ERR_OIDC_ALG', `The OIDC token is signed with algorithm ${quote(alg, 20)}, but only RS256 tokens from ${from} are accepted, so this token did not come from GitHub's token service.`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return wrap('ERR_OIDC_SIGNATURE', `The OIDC token's signature does not verify with the keys published at ${keys}, so it was not issued by ${from} or was altered.`);
  }
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    const kid = header(token).kid;
    if (typeof kid !== 'string') {
      return wrap('ERR_OIDC_NO_KEY', `The OIDC token names no key id (kid), which GitHub's tokens always do, so no key published at ${keys} can be chosen to verify it.`);
    }
    return wrap('ERR_OIDC_NO_KEY', `The OIDC token's key id ${quote(kid, 64)} is not among the keys published at ${keys}, so it was not issued by ${from}; check the \`oidc-issuer\` input.`);
  }
  if (err instanceof errors.JWTExpired) {
    const exp = (err.payload as JWTPayload | undefined)?.exp;
    return wrap('ERR_OIDC_EXPIRED', `The OIDC token expired at ${isoTime(exp)} (now ${ctx.now.toISOString()}, tolerance ${ctx.tolerance} s); request the token right before it is used, as GitHub's tokens live about five minutes, and check the runner's clock.`);
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    const p = (err.payload ?? {}) as JWTPayload;
    if (err.reason === 'missing' || err.reason === 'invalid') {
      return wrap('ERR_OIDC_MALFORMED', `The OIDC token's ${quote(err.claim)} claim is ${err.reason === 'missing' ? 'missing' : 'not a valid value'}, and a GitHub Actions token always has it, so this token cannot be used.`);
    }
    switch (err.claim) {
      case 'aud':
        return wrap('ERR_OIDC_AUDIENCE', `The OIDC token was issued for audience ${quote(p.aud)}, not ${quote(ctx.audience)}; request it with core.getIDToken(${quote(ctx.audience)}) or set the action's \`audience\` input to the audience the token is requested for.`);
      case 'iss':
        return wrap('ERR_OIDC_ISSUER', `The OIDC token was issued by ${quote(p.iss)}, not ${quote(ctx.issuer)}; set the action's \`oidc-issuer\` input to your runners' issuer (GitHub Enterprise Server: https://HOSTNAME/_services/token).`);
      case 'nbf':
        return wrap('ERR_OIDC_NOT_YET_VALID', `The OIDC token is not valid before ${isoTime(p.nbf)} (now ${ctx.now.toISOString()}, tolerance ${ctx.tolerance} s); fix the runner's clock (NTP) and rerun the job.`);
      default:
        return wrap('ERR_OIDC_MALFORMED', `The OIDC token's ${quote(err.claim)} claim failed its check (${err.reason}), so this token cannot be used.`);
    }
  }
  if (err instanceof errors.JWKSTimeout) {
    return wrap('ERR_OIDC_JWKS_UNREACHABLE', `The OIDC signing keys at ${keys} did not arrive within ${ctx.timeoutMs} ms, so the token cannot be verified and nothing was started; check that the runner can reach ${ctx.url.origin}.`);
  }
  if (err instanceof errors.JWKSInvalid || (err instanceof errors.JOSEError && /parse the JSON Web Key Set/.test(err.message))) {
    return wrap('ERR_OIDC_JWKS_INVALID', `The document at ${keys} is not a valid JSON Web Key Set, so the token cannot be verified; check that the \`oidc-issuer\` input names an OIDC issuer.`);
  }
  if (err instanceof errors.JOSEError && /Expected 200 OK/.test(err.message)) {
    return wrap('ERR_OIDC_JWKS_UNREACHABLE', `The OIDC issuer did not answer 200 OK for its signing keys at ${keys}, so the token cannot be verified and nothing was started; check the \`oidc-issuer\` input and the issuer's status.`);
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported) {
    return wrap('ERR_OIDC_MALFORMED', `The OIDC token is not a well-formed signed JWT (${err.message}), so it cannot be verified; pass the token exactly as core.getIDToken() returned it.`);
  }
  if (err instanceof TypeError || (err instanceof Error && err.name === 'AbortError')) {
    // fetch() failing: refused connection, DNS, TLS.
    const why = (err.cause as NodeJS.ErrnoException | undefined)?.code ?? err.message;
    if (/CERT|SSL|TLS|SIGNATURE/.test(why)) {
      return wrap('ERR_OIDC_JWKS_UNREACHABLE', `The TLS certificate of ${ctx.url.origin} was not trusted while fetching the OIDC signing keys (${why}), so nothing was started; make the runner trust the issuer's CA (NODE_EXTRA_CA_CERTS) or fix the \`oidc-issuer\` input.`);
    }
    return wrap('ERR_OIDC_JWKS_UNREACHABLE', `The OIDC signing keys at ${keys} could not be fetched (${why}), so the token cannot be verified and nothing was started; check that the runner can reach ${ctx.url.origin}.`);
  }
  return wrap('ERR_OIDC_MALFORMED', `The OIDC token could not be verified (${err instanceof Error ? err.message : String(err)}), so nothing was started.`);
}
