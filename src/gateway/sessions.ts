// Sessions in the state store. A session's secret is returned once, to the job that opened it; the
// store keeps only its SHA-256 (for the HTTP API) and its SCRAM verifier (for the PostgreSQL
// listener), so a dump of the store lets nobody in. Lookups answer the same way for an unknown id
// and a wrong secret: the API gives no oracle for which sessions exist.
import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { AuditEntry } from '../audit/types.js';
import { newSession } from '../identity/session.js';
import { deriveScramVerifier, type ScramVerifier } from '../pg/scram.js';
import { appendInTx, storeSignedHead, type SignedHead } from './chain.js';
import type { Store } from './store.js';

export interface SessionRow {
  id: string;
  role: string;
  upstream: string;
  identity: Record<string, unknown>;
  pullRequest: number | null;
  headSha: string | null;
  createdAt: Date;
  expiresAt: Date;
  endedAt: Date | null;
  endedBy: string | null;
}

export interface NewSession {
  role: string;
  upstream: string;
  /** The verified claims that say who runs (recorded on every line). */
  identity: Record<string, unknown>;
  ttlMs: number;
  pullRequest?: number | null;
  headSha?: string | null;
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

const COLUMNS = 'id, role, upstream, identity, pull_request, head_sha, created_at, expires_at, ended_at, ended_by';

interface Row {
  id: string;
  role: string;
  upstream: string;
  identity: Record<string, unknown>;
  pull_request: number | null;
  head_sha: string | null;
  created_at: Date;
  expires_at: Date;
  ended_at: Date | null;
  ended_by: string | null;
}

function toSession(r: Row): SessionRow {
  return {
    id: r.id,
    role: r.role,
    upstream: r.upstream,
    identity: r.identity,
    pullRequest: r.pull_request,
    headSha: r.head_sha,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    endedAt: r.ended_at,
    endedBy: r.ended_by,
  };
}

/** Opens a session and records its first audit line, in one transaction. Returns the secret once. */
export async function createSession(store: Store, s: NewSession, now: Date = new Date()): Promise<{ session: SessionRow; secret: string }> {
  const { id, secret, expiresAt } = newSession(s.ttlMs, now);
  const v = deriveScramVerifier(secret);
  const row = await store.tx(async (c) => {
    const r = await c.query<Row>(
      `INSERT INTO tollgate.sessions (id, secret_sha256, scram_salt, scram_iterations, scram_stored_key, scram_server_key, role, upstream, identity, pull_request, head_sha, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING ${COLUMNS}`,
      [id, sha256(secret), v.salt, v.iterations, v.storedKey, v.serverKey, s.role, s.upstream, JSON.stringify(s.identity), s.pullRequest ?? null, s.headSha ?? null, now, expiresAt],
    );
    await appendInTx(c, id, [sessionEntry(id, s.identity, s.role, 'allow', `session opened for role ${s.role} (upstream ${s.upstream}), expires ${expiresAt.toISOString()}`, now)], { secrets: [secret] });
    return r.rows[0]!;
  });
  return { session: toSession(row), secret };
}

export function sessionEntry(session: string, identity: Record<string, unknown>, role: string, decision: AuditEntry['decision'], reason: string, now = new Date()): AuditEntry {
  return { time: now.toISOString(), session, identity, role, type: 'session', decision, reason };
}

/** The session when `secret` is its secret (ended or not), else null. Timing-safe on the hash. */
export async function authenticate(store: Store, id: string, secret: string): Promise<SessionRow | null> {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return null;
  const r = await store.query<Row & { secret_sha256: Buffer }>(`SELECT ${COLUMNS}, secret_sha256 FROM tollgate.sessions WHERE id = $1`, [id]);
  const row = r.rows[0];
  // Hash either way, so an unknown id costs what a known one does.
  const given = sha256(secret);
  if (!row) return null;
  return timingSafeEqual(given, row.secret_sha256) ? toSession(row) : null;
}

export async function getSession(store: Store, id: string): Promise<SessionRow | null> {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return null;
  const r = await store.query<Row>(`SELECT ${COLUMNS} FROM tollgate.sessions WHERE id = $1`, [id]);
  return r.rows[0] ? toSession(r.rows[0]) : null;
}

/** The SCRAM verifier of a live session, for the PostgreSQL listener; null when none can log in. */
export async function scramVerifierOf(store: Store, id: string, now = new Date()): Promise<{ session: SessionRow; verifier: ScramVerifier } | null> {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return null;
  const r = await store.query<Row & { scram_salt: Buffer; scram_iterations: number; scram_stored_key: Buffer; scram_server_key: Buffer }>(
    `SELECT ${COLUMNS}, scram_salt, scram_iterations, scram_stored_key, scram_server_key FROM tollgate.sessions WHERE id = $1`,
    [id],
  );
  const row = r.rows[0];
  if (!row || row.ended_at || row.expires_at.getTime() <= now.getTime()) return null;
  return {
    session: toSession(row),
    verifier: { salt: row.scram_salt, iterations: row.scram_iterations, storedKey: row.scram_stored_key, serverKey: row.scram_server_key },
  };
}

/**
 * Ends a session: records who ended it, appends the closing line and signs the chain head, in one
 * transaction. Ending an ended session changes nothing and returns null.
 */
export async function endSession(store: Store, id: string, by: string, reason: string, key: KeyObject, now = new Date()): Promise<SignedHead | null> {
  return store.tx(async (c) => {
    const r = await c.query<Row>(`UPDATE tollgate.sessions SET ended_at = $2, ended_by = $3 WHERE id = $1 AND ended_at IS NULL RETURNING ${COLUMNS}`, [id, now, by]);
    const row = r.rows[0];
    if (!row) return null;
    const { seq, head } = await appendInTx(c, id, [sessionEntry(id, row.identity, row.role, 'allow', `session ended by ${by}: ${reason}`, now)], { allowEnded: true });
    return storeSignedHead(c, key, id, seq, head);
  });
}

/**
 * Makes an OIDC token single-use: true the first time its `jti` is seen, false after (a replay).
 * Expired entries are swept on the way, so the table stays the size of five minutes of jobs.
 */
export async function claimTokenOnce(store: Store, jti: string, expiresAt: Date): Promise<boolean> {
  await store.query('DELETE FROM tollgate.oidc_tokens WHERE expires_at < now() - interval \'10 minutes\'');
  const r = await store.query('INSERT INTO tollgate.oidc_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING', [jti, expiresAt]);
  return r.rowCount === 1;
}

/** Records a refusal that belongs to no session. Never throws (the caller already refuses). */
export async function recordRefusal(store: Store, what: string, code: string, detail: string, remote?: string): Promise<boolean> {
  try {
    await store.query('INSERT INTO tollgate.refusals (what, code, detail, remote) VALUES ($1, $2, $3, $4)', [what, code, detail.slice(0, 1000), remote ?? null]);
    return true;
  } catch {
    return false;
  }
}
