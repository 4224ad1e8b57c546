// Reads and checks the action's inputs (action.yml). Every problem is a ConfigurationError that
// names the input and says what a valid value looks like.
import * as core from '@actions/core';
import { unverifiedRemote } from '../pg/auth-policy.js';
import { ConfigurationError } from './errors.js';

export interface ActionInputs {
  policy: string;
  /** Empty when not given: the step then fails with a configuration error before anything starts. */
  upstream: string;
  audience: string;
  role?: string;
  listen: { host: string; port: number };
  /** Undefined: use the policy's default. */
  sessionTtlMs?: number;
  approvalTimeoutMs?: number;
  githubToken: string;
  approvalPollMs: number;
  oidcIssuer: string;
}

export function readInputs(get: (name: string) => string = (n) => core.getInput(n)): ActionInputs {
  const policy = get('policy');
  if (!policy) throw new ConfigurationError('Input `policy` is required: the path of the tollgate policy file in the workspace, e.g. `policy: .github/tollgate.yml`.');
  const upstream = get('upstream');
  if (!upstream) throw new ConfigurationError('Input `upstream` is required: the PostgreSQL URL of the real database, passed from a secret, e.g. `upstream: ${{ secrets.DATABASE_URL }}`.');
  checkUpstream(upstream);
  const githubToken = get('github-token');
  // Masked as early as possible: the token is a credential even when it is the job's own.
  if (githubToken) core.setSecret(githubToken);
  const role = get('role');
  return {
    policy,
    upstream,
    audience: get('audience') || 'tollgate',
    ...(role ? { role } : {}),
    listen: parseListen(get('listen') || '127.0.0.1:6432'),
    ...optionalDuration('session-ttl', get('session-ttl'), 'sessionTtlMs'),
    ...optionalDuration('approval-timeout', get('approval-timeout'), 'approvalTimeoutMs'),
    githubToken,
    approvalPollMs: parseDuration('approval-poll', get('approval-poll') || '10s'),
    oidcIssuer: parseIssuer(get('oidc-issuer') || 'https://token.actions.githubusercontent.com'),
  };
}

/** `host:port`, `[::1]:port`; the port may be 0 (any free port). */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ConfigurationError(`Input \`listen\` must be host:port (e.g. 127.0.0.1:6432), got "${value}".`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `15m`, `1h30m`, `500ms`: a positive duration. */
export function parseDuration(input: string, value: string): number {
  const text = value.trim();
  const re = /(\d+)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    end = re.lastIndex;
  }
  if (text === '' || end !== text.length || total <= 0 || !Number.isSafeInteger(total)) {
    throw new ConfigurationError(`Input \`${input}\` must be a positive duration such as 90s, 15m or 1h30m, got "${value}".`);
  }
  return total;
}

function optionalDuration<K extends string>(input: string, value: string, key: K): { [P in K]?: number } {
  if (!value) return {};
  return { [key]: parseDuration(input, value) } as { [P in K]?: number };
}

function checkUpstream(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Never echo the value: it carries a password.
    throw new ConfigurationError('Input `upstream` is not a valid URL: expected postgres://user:password@host:5432/database.');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigurationError(`Input \`upstream\` must be a postgres:// or postgresql:// URL, got a ${url.protocol}// URL.`);
  }
  if (!url.hostname) throw new ConfigurationError('Input `upstream` has no host: expected postgres://user:password@host:5432/database.');
  // A runner reaches the database over networks it does not control: verify the server.
  const unsafe = unverifiedRemote(value);
  if (unsafe) throw new ConfigurationError(`Input \`upstream\`: ${unsafe}.`);
}

function parseIssuer(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigurationError(`Input \`oidc-issuer\` must be an https URL such as https://token.actions.githubusercontent.com, got "${value}".`);
  }
  const local = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
  // Plain http only for an issuer on the runner itself (tests, local stand-ins): keys fetched over
  // the network must come over TLS.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
    throw new ConfigurationError(`Input \`oidc-issuer\` must be an https URL, got "${value}".`);
  }
  return value.replace(/\/+$/, '');
}

/** Database name the client should ask for: the upstream's, so tools that print it are not confused. */
export function upstreamDatabase(upstream: string): string {
  const url = new URL(upstream);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  return name || decodeURIComponent(url.username) || 'postgres';
}
