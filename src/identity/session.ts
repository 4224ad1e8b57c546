// A gateway session: an id to name it in logs and outputs, a secret clients use as their password,
// and an expiry. Durations in policies and inputs are parsed by src/policy/duration.ts.

import { randomBytes } from 'node:crypto';

export interface Session {
  /** 12 characters of base64url (72 random bits): names the session in logs, outputs and artifacts. */
  id: string;
  /** 43 characters of base64url (256 random bits): the password clients use; never logged. */
  secret: string;
  expiresAt: Date;
}

/** A new session that lives `ttlMs` milliseconds from now. */
export function newSession(ttlMs: number, now: Date = new Date()): Session {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new TypeError(`newSession: ttlMs must be a positive integer of milliseconds, got ${ttlMs}`);
  return {
    id: randomBytes(9).toString('base64url'),
    secret: randomBytes(32).toString('base64url'),
    expiresAt: new Date(now.getTime() + ttlMs),
  };
}

/** True once the session's time is up (the expiry instant itself counts as expired). */
export function isExpired(session: Pick<Session, 'expiresAt'>, now: Date = new Date()): boolean {
  return now.getTime() >= session.expiresAt.getTime();
}
