// Which startup parameters a client may send, checked before authentication.
//
// The upstream session is opened with the proxy's own parameters; a client's are never forwarded.
// Parameters that would change what the server executes or as whom (`options`, `role`,
// `search_path`, `session_authorization`, `replication`, any other GUC) are refused. A few that
// drivers always send are accepted: `user` (must be `tollgate`), `database` (ignored: the upstream
// URL names the database), `application_name` (passed on), `client_encoding` (must be UTF8) and
// the display settings `DateStyle` (must be ISO), `TimeZone` and `extra_float_digits`, which are
// accepted but NOT applied (the upstream keeps its defaults; a client may `SET` them, which the
// policy always allows). The upstream session's `search_path` is the proxy's own (public, see
// upstream.ts startupParameters), so a client cannot choose where unqualified names resolve.

import { SQLSTATE, type Refusal } from './errors.js';

const ACCEPTED_PARAMS = new Set(['user', 'database', 'application_name', 'client_encoding', 'datestyle', 'timezone', 'extra_float_digits']);

/** PostgreSQL compares encoding names ignoring case and non-alphanumerics (`UTF-8`, `utf8`, `unicode`). */
export function isUtf8Name(value: string): boolean {
  const n = value.toLowerCase().replace(/[^a-z0-9]/g, '');
  return n === 'utf8' || n === 'unicode';
}

export function checkStartupParams(params: Map<string, string>): Refusal | null {
  for (const [rawName, value] of params) {
    const name = rawName.toLowerCase();
    if (name.startsWith('_pq_.')) continue; // protocol extensions: answered with NegotiateProtocolVersion
    if (!ACCEPTED_PARAMS.has(name)) {
      return {
        code: SQLSTATE.rejectedConnection,
        message: `tollgate: startup parameter "${rawName}" is not allowed`,
        detail: 'the gateway opens the upstream session with its own parameters; options, role, search_path and other settings cannot be passed at connect',
      };
    }
    if (name === 'user' && value !== 'tollgate') {
      return {
        code: SQLSTATE.invalidAuthorization,
        message: `tollgate: unknown user "${value}"`,
        hint: 'connect as user "tollgate" with the session password',
      };
    }
    if (name === 'client_encoding' && !isUtf8Name(value)) {
      return {
        code: SQLSTATE.rejectedConnection,
        message: `tollgate: client_encoding "${value}" is not allowed; only UTF8 is`,
        hint: 'set PGCLIENTENCODING=UTF8',
      };
    }
    if (name === 'datestyle' && !/^\s*iso\b/i.test(value)) {
      return { code: SQLSTATE.rejectedConnection, message: `tollgate: DateStyle "${value}" is not allowed; only ISO is` };
    }
  }
  if (!params.has('user')) {
    return { code: SQLSTATE.invalidAuthorization, message: 'tollgate: no user name given in the startup packet' };
  }
  return null;
}
