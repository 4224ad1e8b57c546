// One error class for everything identity refuses, with a stable code callers can switch on and a
// message that is ONE sentence a workflow author can act on (it ends up as the step's error).

export type IdentityErrorCode =
  | 'ERR_OIDC_MALFORMED'
  | 'ERR_OIDC_ALG'
  | 'ERR_OIDC_SIGNATURE'
  | 'ERR_OIDC_AUDIENCE'
  | 'ERR_OIDC_ISSUER'
  | 'ERR_OIDC_EXPIRED'
  | 'ERR_OIDC_NOT_YET_VALID'
  | 'ERR_OIDC_NO_KEY'
  | 'ERR_OIDC_JWKS_UNREACHABLE'
  | 'ERR_OIDC_JWKS_INVALID';

export class IdentityError extends Error {
  constructor(
    readonly code: IdentityErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'IdentityError';
  }
}

/**
 * A value taken from a token (header or claim) made safe to quote in a message: printable ASCII only,
 * bounded length. Claims are only quoted after the signature was verified; header values never are
 * trusted, hence this.
 */
export function quote(value: unknown, max = 80): string {
  if (typeof value !== 'string') return Array.isArray(value) ? value.map((v) => quote(v, max)).join(', ') : String(value);
  const clean = value.replace(/[^\x20-\x7e]/g, '?');
  return JSON.stringify(clean.length > max ? `${clean.slice(0, max)}…` : clean);
}
