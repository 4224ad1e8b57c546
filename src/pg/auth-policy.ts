// When the proxy may hand the upstream's password to whoever answers at the upstream's address.
// An on-path attacker can answer "N" to the TLS request under sslmode=prefer (libpq's default) and
// then ask for the password in the clear, or as MD5 (a hash that unlocks the account as well as the
// password does, and cracks offline). So, for an upstream that is not on this machine, a cleartext
// or MD5 request is answered only over TLS with a verified certificate (verify-ca, verify-full, or
// require with sslrootcert), unless the URL allows the method explicitly with `require_auth`, in the
// spirit of libpq's option of that name: `require_auth=password,md5,scram-sha-256` lists the methods
// the server may ask for, and any other request is refused whatever the transport.
// SCRAM never reveals the password and is allowed unless require_auth leaves it out.
import { isIP } from 'node:net';

export type AuthMethod = 'password' | 'md5' | 'scram-sha-256';
export const AUTH_METHODS: readonly AuthMethod[] = ['password', 'md5', 'scram-sha-256'];

/** `require_auth`'s list, or a message saying what is wrong with it. */
export function parseRequireAuth(text: string): AuthMethod[] | string {
  const items = text.split(',').map((s) => s.trim());
  const bad = items.find((m) => !(AUTH_METHODS as readonly string[]).includes(m));
  if (bad !== undefined) return `require_auth must list methods among ${AUTH_METHODS.join(', ')} (got ${JSON.stringify(bad)})`;
  return [...new Set(items as AuthMethod[])];
}

/** Loopback or a Unix socket: the traffic never leaves this machine. */
export function isLocalHost(host: string): boolean {
  if (host.startsWith('/')) return true;
  if (host === 'localhost') return true;
  const h = host.replace(/^\[|\]$/g, '');
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./i.test(h);
  return false;
}

export interface TransportState {
  host: string;
  /** TLS is up with the server's certificate chain checked. */
  verified: boolean;
  requireAuth?: readonly AuthMethod[];
}

/** Null when the proxy may answer a request for `method`, else why not (for the error). */
export function refusedMethod(t: TransportState, method: AuthMethod): string | null {
  if (t.requireAuth) {
    return t.requireAuth.includes(method) ? null : `the upstream URL's require_auth (${t.requireAuth.join(',')}) does not allow ${method}`;
  }
  if (method === 'scram-sha-256' || t.verified || isLocalHost(t.host)) return null;
  const what = method === 'password' ? 'the password in the clear' : 'an MD5 password hash';
  return `the server asks for ${what}, but the connection has no TLS with a verified certificate, so anyone on the path could be asking; use sslmode=verify-full (with sslrootcert), or allow it explicitly with require_auth=${method} in the upstream URL`;
}

/**
 * Why an upstream URL is unsafe to use from a runner, or null: a server off this machine reached
 * below sslmode=verify-full can be impersonated by anyone on the path (the traffic read and changed,
 * and under prefer/require a downgrade to a password request). Reads only the host and sslmode.
 */
export function unverifiedRemote(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null; // the URL parser says what is wrong with it
  }
  const host = u.searchParams.get('host') ?? (u.hostname || 'localhost');
  const sslmode = u.searchParams.get('sslmode') ?? 'prefer';
  if (isLocalHost(host) || sslmode === 'verify-full') return null;
  return `the upstream ${host} is not on this machine and sslmode=${sslmode} does not verify that the server is who it claims to be: anyone on the network path could read and change the traffic${sslmode === 'verify-ca' ? '' : ' or pose as the server'}. Use sslmode=verify-full with sslrootcert=system (or the server's CA file)`;
}
