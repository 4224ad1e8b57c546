// Errors of the proxy's data path, and the ErrorResponse fields clients see for each refusal.
// Every refusal speaks the protocol: a client gets an ErrorResponse with a SQLSTATE, never a reset.

/** Malformed input on the wire (bad length, unknown type, truncated body). The connection ends. */
export class ProtocolError extends Error {
  readonly code = 'ERR_PG_PROTOCOL';
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** SQLSTATEs the proxy uses, named as PostgreSQL's errcodes.txt names them. */
export const SQLSTATE = {
  insufficientPrivilege: '42501',
  protocolViolation: '08P01',
  connectionFailure: '08006',
  rejectedConnection: '08004',
  invalidAuthorization: '28000',
  invalidPassword: '28P01',
  featureNotSupported: '0A000',
  adminShutdown: '57P01',
  queryCanceled: '57014',
  internalError: 'XX000',
} as const;

export interface Refusal {
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** A statement the policy denies (or a review that ended without approval). */
export function deniedRefusal(rule: string | null, reason: string): Refusal {
  return {
    code: SQLSTATE.insufficientPrivilege,
    message: `tollgate: denied: ${reason}`,
    detail: `rule: ${rule ?? '(no rule matched)'}; reason: ${reason}`,
  };
}

export function sessionExpiredRefusal(expiresAt: Date): Refusal {
  return {
    code: SQLSTATE.insufficientPrivilege,
    message: 'tollgate: session expired',
    detail: `the gateway session expired at ${expiresAt.toISOString()}`,
  };
}
