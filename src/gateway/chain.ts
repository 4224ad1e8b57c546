// Each session's audit records form their own hash chain in the state store, in the in-runner log's
// exact line format (canonical JSON with seq, prev, hash). Appends lock the session's row, so records
// written by different replicas still chain in one order. When a session ends its head is signed
// (Ed25519, key from the config): someone who can write to the store can rewrite lines and rehash a
// chain, but cannot sign the new head.
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson, sealLine } from '../audit/canonical.js';
import { compileScrubber, sanitizeEntry } from '../audit/redact.js';
import type { AuditEntry } from '../audit/types.js';
import { verifyAuditLines, type VerifyResult } from '../audit/verify.js';
import { keyIdOf } from './config.js';
import { StoreError, type Client, type Store } from './store.js';

export class SessionEndedError extends Error {
  override readonly name = 'SessionEndedError';
}

/** Appends `entries` to the session's chain inside the caller's transaction; returns the new head. */
export async function appendInTx(
  client: Client,
  session: string,
  entries: readonly AuditEntry[],
  opts: { secrets?: readonly string[]; allowEnded?: boolean } = {},
): Promise<{ seq: number; head: string }> {
  const r = await client.query<{ chain_seq: string; chain_head: string; ended_at: Date | null }>(
    'SELECT chain_seq, chain_head, ended_at FROM tollgate.sessions WHERE id = $1 FOR UPDATE',
    [session],
  );
  const row = r.rows[0];
  if (!row) throw new StoreError(`no session ${session} in the state store`);
  if (row.ended_at && !opts.allowEnded) throw new SessionEndedError(`session ${session} has ended`);
  let seq = Number(row.chain_seq);
  let prev = row.chain_head;
  if (entries.length === 0) return { seq, head: prev };
  const scrub = compileScrubber(opts.secrets ?? []);
  const values: unknown[] = [];
  const rows: string[] = [];
  for (const entry of entries) {
    const line = sanitizeEntry({ ...entry, session }, scrub) as unknown as Record<string, unknown>;
    line.seq = ++seq;
    line.prev = prev;
    const { hash, text } = sealLine(line);
    prev = hash;
    const n = values.length;
    rows.push(`($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4})`);
    values.push(session, seq, hash, text);
  }
  await client.query(`INSERT INTO tollgate.audit_records (session, seq, hash, line) VALUES ${rows.join(', ')}`, values);
  await client.query('UPDATE tollgate.sessions SET chain_seq = $2, chain_head = $3 WHERE id = $1', [session, seq, prev]);
  return { seq, head: prev };
}

/** Appends and commits: the records are durable when this resolves. */
export function appendRecords(store: Store, session: string, entries: readonly AuditEntry[], secrets?: readonly string[]): Promise<{ seq: number; head: string }> {
  return store.tx((c) => appendInTx(c, session, entries, { secrets }));
}

/** What the signature covers: the session, the number of records and the head hash. */
export function signedText(session: string, seq: number, head: string, keyId: string): string {
  return canonicalJson({ head, key_id: keyId, seq, session });
}

export interface SignedHead {
  session: string;
  seq: number;
  head: string;
  keyId: string;
  /** base64 Ed25519 signature over signedText(). */
  signature: string;
}

export function signHead(key: KeyObject, session: string, seq: number, head: string): SignedHead {
  const keyId = keyIdOf(createPublicKey(key));
  const signature = sign(null, Buffer.from(signedText(session, seq, head, keyId)), key).toString('base64');
  return { session, seq, head, keyId, signature };
}

/** Signs the chain head and stores it (in the ending transaction). */
export async function storeSignedHead(client: Client, key: KeyObject, session: string, seq: number, head: string): Promise<SignedHead> {
  const signed = signHead(key, session, seq, head);
  await client.query(
    `INSERT INTO tollgate.chain_heads (session, seq, head, key_id, signature, signed_at) VALUES ($1, $2, $3, $4, $5, now())
     ON CONFLICT (session) DO UPDATE SET seq = EXCLUDED.seq, head = EXCLUDED.head, key_id = EXCLUDED.key_id, signature = EXCLUDED.signature, signed_at = EXCLUDED.signed_at`,
    [session, seq, head, signed.keyId, signed.signature],
  );
  return signed;
}

/** The session's lines in chain order. */
export async function readLines(store: Store, session: string): Promise<string[]> {
  const r = await store.query<{ line: string }>('SELECT line FROM tollgate.audit_records WHERE session = $1 ORDER BY seq', [session]);
  return r.rows.map((x) => x.line);
}

export async function readSignedHead(store: Store, session: string): Promise<SignedHead | null> {
  const r = await store.query<{ seq: string; head: string; key_id: string; signature: string }>(
    'SELECT seq, head, key_id, signature FROM tollgate.chain_heads WHERE session = $1',
    [session],
  );
  const row = r.rows[0];
  return row ? { session, seq: Number(row.seq), head: row.head, keyId: row.key_id, signature: row.signature } : null;
}

export type ChainVerdict =
  | { ok: true; count: number; head: string; signed: boolean }
  | { ok: false; reason: string };

/**
 * Verifies one session's chain and, when it has ended, its signed head with `publicKey`. A chain whose
 * head is not signed is reported as such (`signed: false`) only while the session is live; an ended
 * session without a signature, or with one that does not match, fails.
 */
export function verifyChain(lines: readonly string[], head: SignedHead | null, publicKey: KeyObject | null, ended: boolean): ChainVerdict {
  const result: VerifyResult = verifyAuditLines(lines);
  if (!result.ok) return { ok: false, reason: `record ${result.line}: ${result.reason}` };
  if (!head) {
    if (ended) return { ok: false, reason: 'the session has ended but its chain head carries no signature' };
    return { ok: true, count: result.count, head: result.head, signed: false };
  }
  if (head.seq !== result.count || head.head !== result.head) {
    return { ok: false, reason: `the signed head (${head.seq} records, ${head.head.slice(0, 12)}…) does not match the chain (${result.count} records, ${result.head.slice(0, 12)}…): records were added, removed or rewritten` };
  }
  if (!publicKey) return { ok: false, reason: 'no public key to check the signed head with' };
  const keyId = keyIdOf(publicKey);
  if (head.keyId !== keyId) return { ok: false, reason: `the head is signed with key ${head.keyId}, not with the given key ${keyId}` };
  const good = verify(null, Buffer.from(signedText(head.session, head.seq, head.head, head.keyId)), publicKey, Buffer.from(head.signature, 'base64'));
  if (!good) return { ok: false, reason: 'the signature of the chain head does not verify' };
  return { ok: true, count: result.count, head: result.head, signed: true };
}
