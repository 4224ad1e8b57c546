// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, both sides, no I/O.
//
// Server side: clients authenticate to the proxy as user `tollgate` with the session secret.
// Client side: the proxy authenticates to the upstream with the URL's password.
// Channel binding (SCRAM-SHA-256-PLUS) is not offered; `y,,` is accepted because we never
// advertise PLUS, so a client that could bind has not been downgraded by anyone but us.
//
// Nothing here logs, and no error message contains a password, proof or key.

import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { LruMap } from '../cache.js';

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
export const DEFAULT_SCRAM_ITERATIONS = 4096;
const KEY_LEN = 32;
/** The most PBKDF2 rounds the client side accepts from a server (PostgreSQL's default is 4096). */
export const MAX_CLIENT_ITERATIONS = 1_000_000;
// A nonce or message longer than this is not a real client; refuse before doing work.
const MAX_MESSAGE_LEN = 4096;

/** A stable error code callers can switch on; the message never contains secrets. */
export class ScramError extends Error {
  readonly code: 'ERR_SCRAM_MALFORMED' | 'ERR_SCRAM_STATE' | 'ERR_SCRAM_VERIFY' | 'ERR_SCRAM_UNSUPPORTED';
  constructor(code: ScramError['code'], message: string) {
    super(message);
    this.name = 'ScramError';
    this.code = code;
  }
}

/** What a server must keep to verify a password: never the password itself. */
export interface ScramVerifier {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

function hmac(key: Buffer, data: string | Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

function saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(saslPrep(password), 'utf8'), salt, iterations, KEY_LEN, 'sha256');
}

/**
 * Derives the verifier (StoredKey, ServerKey) once. The proxy calls this once per session and hands
 * the result to every connection's `ScramServer`, so PBKDF2 runs once, not per connection.
 */
export function deriveScramVerifier(
  password: string,
  iterations: number = DEFAULT_SCRAM_ITERATIONS,
  salt: Buffer = randomBytes(16),
): ScramVerifier {
  if (!Number.isInteger(iterations) || iterations < 4096) {
    throw new TypeError('SCRAM iterations must be an integer >= 4096');
  }
  const salted = saltedPassword(password, salt, iterations);
  const clientKey = hmac(salted, 'Client Key');
  return {
    salt: Buffer.from(salt),
    iterations,
    storedKey: sha256(clientKey),
    serverKey: hmac(salted, 'Server Key'),
  };
}

// `new ScramServer(password)` per connection must not rerun PBKDF2: keep the few verifiers of this
// process keyed by a digest of (iterations, password). The secret itself is never stored here.
const verifierCache = new LruMap<string, ScramVerifier>(8);

function cachedVerifier(password: string, iterations: number): ScramVerifier {
  const id = createHash('sha256').update(`${iterations}\0`).update(password, 'utf8').digest('base64');
  let v = verifierCache.get(id);
  if (!v) {
    v = deriveScramVerifier(password, iterations);
    verifierCache.set(id, v);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Message syntax (RFC 5802 section 7), strict: a malformed message is refused, never guessed at.

interface Attr {
  name: string;
  value: string;
}

const PRINTABLE_NO_COMMA = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeMessage(data: Buffer, what: string): string {
  if (data.length === 0 || data.length > MAX_MESSAGE_LEN) {
    throw new ScramError('ERR_SCRAM_MALFORMED', `${what}: bad length ${data.length}`);
  }
  const text = data.toString('utf8');
  // Round-trip check rejects invalid UTF-8 (replacement characters) and NUL bytes.
  if (!Buffer.from(text, 'utf8').equals(data) || text.includes('\0')) {
    throw new ScramError('ERR_SCRAM_MALFORMED', `${what}: not valid UTF-8 text`);
  }
  return text;
}

function parseAttrs(text: string, what: string): Attr[] {
  return text.split(',').map((part) => {
    if (part.length < 2 || part[1] !== '=' || !/^[A-Za-z]$/.test(part[0]!)) {
      throw new ScramError('ERR_SCRAM_MALFORMED', `${what}: malformed attribute`);
    }
    return { name: part[0]!, value: part.slice(2) };
  });
}

function expectAttr(attrs: Attr[], index: number, name: string, what: string): string {
  const a = attrs[index];
  if (!a || a.name !== name) {
    throw new ScramError('ERR_SCRAM_MALFORMED', `${what}: expected attribute '${name}' at position ${index + 1}`);
  }
  return a.value;
}

function decodeBase64(value: string, what: string): Buffer {
  if (!BASE64.test(value)) throw new ScramError('ERR_SCRAM_MALFORMED', `${what}: not base64`);
  return Buffer.from(value, 'base64');
}

function checkNonce(nonce: string, what: string): void {
  if (!PRINTABLE_NO_COMMA.test(nonce)) throw new ScramError('ERR_SCRAM_MALFORMED', `${what}: bad nonce`);
}

function newNonce(): string {
  return randomBytes(18).toString('base64');
}

/** Constant-time equality of two strings of possibly different lengths. */
function safeEqualText(a: string, b: string): boolean {
  const ab = createHash('sha256').update(a).digest();
  const bb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ab, bb) && a.length === b.length;
}

// ---------------------------------------------------------------------------------------------
// Server

type ServerState =
  | { step: 'initial' }
  | { step: 'sent-first'; gs2Header: string; clientFirstBare: string; serverFirst: string; nonce: string }
  | { step: 'done' };

export type ScramServerResult = { ok: true; serverFinal: Buffer } | { ok: false; reason: string };

/**
 * One authentication exchange on one client connection. Construct it with the session's
 * `ScramVerifier` (preferred) or the password (derived once per process and cached).
 */
export class ScramServer {
  private readonly verifier: ScramVerifier;
  private state: ServerState = { step: 'initial' };
  private readonly serverNonceForTest: string | undefined;

  /** `serverNonceForTest` only reproduces published vectors; production code never passes it. */
  constructor(secret: string | ScramVerifier, iterations: number = DEFAULT_SCRAM_ITERATIONS, serverNonceForTest?: string) {
    this.verifier = typeof secret === 'string' ? cachedVerifier(secret, iterations) : secret;
    this.serverNonceForTest = serverNonceForTest;
  }

  mechanisms(): string[] {
    return [SCRAM_SHA_256];
  }

  /** Takes the SASLInitialResponse data; returns the server-first-message. Throws ScramError. */
  handleClientFirst(data: Buffer): Buffer {
    if (this.state.step !== 'initial') {
      this.state = { step: 'done' };
      throw new ScramError('ERR_SCRAM_STATE', 'client-first-message received twice');
    }
    this.state = { step: 'done' }; // any failure below ends the exchange
    const what = 'client-first-message';
    const text = decodeMessage(data, what);

    // gs2-header: cbind-flag "," [authzid] ","
    const c1 = text.indexOf(',');
    const c2 = c1 < 0 ? -1 : text.indexOf(',', c1 + 1);
    if (c1 < 0 || c2 < 0) throw new ScramError('ERR_SCRAM_MALFORMED', `${what}: missing GS2 header`);
    const flag = text.slice(0, c1);
    const authzid = text.slice(c1 + 1, c2);
    if (flag.startsWith('p=')) {
      throw new ScramError('ERR_SCRAM_UNSUPPORTED', `${what}: channel binding is not supported`);
    }
    if (flag !== 'n' && flag !== 'y') throw new ScramError('ERR_SCRAM_MALFORMED', `${what}: bad channel-binding flag`);
    if (authzid !== '') {
      throw new ScramError('ERR_SCRAM_UNSUPPORTED', `${what}: authorization identity is not supported`);
    }
    const gs2Header = text.slice(0, c2 + 1);
    const clientFirstBare = text.slice(c2 + 1);

    const attrs = parseAttrs(clientFirstBare, what);
    if (attrs[0]?.name === 'm') throw new ScramError('ERR_SCRAM_UNSUPPORTED', `${what}: mandatory extension`);
    // The user name travels in the StartupMessage; PostgreSQL clients send `n=` or `n=*` here.
    expectAttr(attrs, 0, 'n', what);
    const clientNonce = expectAttr(attrs, 1, 'r', what);
    checkNonce(clientNonce, what);
    // Optional extensions after the nonce are syntactically checked by parseAttrs and ignored.

    const nonce = clientNonce + (this.serverNonceForTest ?? newNonce());
    const serverFirst = `r=${nonce},s=${this.verifier.salt.toString('base64')},i=${this.verifier.iterations}`;
    this.state = { step: 'sent-first', gs2Header, clientFirstBare, serverFirst, nonce };
    return Buffer.from(serverFirst, 'utf8');
  }

  /** Takes the SASLResponse data; on success returns the server-final-message for AuthenticationSASLFinal. */
  handleClientFinal(data: Buffer): ScramServerResult {
    const state = this.state;
    this.state = { step: 'done' };
    if (state.step !== 'sent-first') return { ok: false, reason: 'client-final-message out of order' };
    const what = 'client-final-message';
    try {
      const text = decodeMessage(data, what);
      const attrs = parseAttrs(text, what);
      const last = attrs[attrs.length - 1];
      if (attrs.length < 3 || last?.name !== 'p') return { ok: false, reason: `${what}: proof must come last` };
      const channel = decodeBase64(expectAttr(attrs, 0, 'c', what), what);
      const nonce = expectAttr(attrs, 1, 'r', what);
      if (!channel.equals(Buffer.from(state.gs2Header, 'utf8'))) {
        return { ok: false, reason: `${what}: channel-binding data does not match the GS2 header` };
      }
      if (!safeEqualText(nonce, state.nonce)) return { ok: false, reason: `${what}: wrong nonce` };
      const proof = decodeBase64(last.value, what);
      if (proof.length !== KEY_LEN) return { ok: false, reason: `${what}: bad proof length` };

      const withoutProof = text.slice(0, text.lastIndexOf(',p='));
      const authMessage = `${state.clientFirstBare},${state.serverFirst},${withoutProof}`;
      const clientSignature = hmac(this.verifier.storedKey, authMessage);
      const clientKey = xor(proof, clientSignature);
      if (!timingSafeEqual(sha256(clientKey), this.verifier.storedKey)) {
        return { ok: false, reason: 'password authentication failed' };
      }
      const serverSignature = hmac(this.verifier.serverKey, authMessage);
      return { ok: true, serverFinal: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8') };
    } catch (err) {
      if (err instanceof ScramError) return { ok: false, reason: err.message };
      throw err;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Client

type ClientState =
  | { step: 'initial' }
  | { step: 'sent-first'; clientFirstBare: string; clientNonce: string }
  | { step: 'sent-final'; expectedServerSignature: Buffer }
  | { step: 'done' };

/** Test-only knobs: reproduce published vectors. Production code passes nothing. */
export interface ScramClientTestOptions {
  clientNonce?: string;
  /** Send the user name in client-first (RFC examples do; PostgreSQL ignores it, libpq sends `n=`). */
  sendUserName?: boolean;
}

/** The client side, for authenticating to the upstream. One instance per connection attempt. */
export class ScramClient {
  private readonly user: string;
  private readonly password: string;
  private readonly test: ScramClientTestOptions;
  private state: ClientState = { step: 'initial' };

  constructor(user: string, password: string, test: ScramClientTestOptions = {}) {
    this.user = user;
    this.password = password;
    if (test.clientNonce !== undefined) checkNonce(test.clientNonce, 'client nonce');
    this.test = test;
  }

  /** The SASLInitialResponse data. PostgreSQL takes the user from the StartupMessage, so `n=` is empty. */
  clientFirst(): Buffer {
    if (this.state.step !== 'initial') throw new ScramError('ERR_SCRAM_STATE', 'clientFirst called twice');
    const clientNonce = this.test.clientNonce ?? newNonce();
    const clientFirstBare = `n=${this.test.sendUserName ? saslName(this.user) : ''},r=${clientNonce}`;
    this.state = { step: 'sent-first', clientFirstBare, clientNonce };
    return Buffer.from(`n,,${clientFirstBare}`, 'utf8');
  }

  /** Takes AuthenticationSASLContinue data; returns the client-final-message. Throws ScramError. */
  handleServerFirst(data: Buffer): Buffer {
    const p = this.parseServerFirst(data);
    return this.finish(p, saltedPassword(this.password, p.salt, p.iterations));
  }

  /**
   * As `handleServerFirst`, but PBKDF2 runs on libuv's thread pool: the proxy uses this so one
   * upstream login never stalls every other connection's event loop.
   */
  async handleServerFirstAsync(data: Buffer): Promise<Buffer> {
    const p = this.parseServerFirst(data);
    const salted = await new Promise<Buffer>((resolve, reject) =>
      pbkdf2(Buffer.from(saslPrep(this.password), 'utf8'), p.salt, p.iterations, KEY_LEN, 'sha256', (err, key) =>
        err ? reject(err) : resolve(key),
      ),
    );
    return this.finish(p, salted);
  }

  private parseServerFirst(data: Buffer): { text: string; nonce: string; salt: Buffer; iterations: number; clientFirstBare: string } {
    const state = this.state;
    this.state = { step: 'done' };
    if (state.step !== 'sent-first') throw new ScramError('ERR_SCRAM_STATE', 'server-first-message out of order');
    const what = 'server-first-message';
    const text = decodeMessage(data, what);
    const attrs = parseAttrs(text, what);
    if (attrs[0]?.name === 'm') throw new ScramError('ERR_SCRAM_UNSUPPORTED', `${what}: mandatory extension`);
    const nonce = expectAttr(attrs, 0, 'r', what);
    const saltB64 = expectAttr(attrs, 1, 's', what);
    const iterText = expectAttr(attrs, 2, 'i', what);
    checkNonce(nonce, what);
    // The server must extend our nonce, never replace it.
    if (!nonce.startsWith(state.clientNonce) || nonce.length <= state.clientNonce.length) {
      throw new ScramError('ERR_SCRAM_VERIFY', `${what}: server nonce does not extend the client nonce`);
    }
    const salt = decodeBase64(saltB64, what);
    if (salt.length === 0) throw new ScramError('ERR_SCRAM_MALFORMED', `${what}: empty salt`);
    if (!/^[1-9][0-9]{0,9}$/.test(iterText)) throw new ScramError('ERR_SCRAM_MALFORMED', `${what}: bad iteration count`);
    const iterations = Number(iterText);
    // A hostile server could ask for billions of rounds to pin a CPU: refuse beyond a generous cap.
    if (iterations > MAX_CLIENT_ITERATIONS) {
      throw new ScramError('ERR_SCRAM_UNSUPPORTED', `${what}: iteration count ${iterations} exceeds the limit of ${MAX_CLIENT_ITERATIONS}`);
    }
    return { text, nonce, salt, iterations, clientFirstBare: state.clientFirstBare };
  }

  private finish(p: { text: string; nonce: string; clientFirstBare: string }, salted: Buffer): Buffer {
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = sha256(clientKey);
    const withoutProof = `c=${Buffer.from('n,,').toString('base64')},r=${p.nonce}`;
    const authMessage = `${p.clientFirstBare},${p.text},${withoutProof}`;
    const proof = xor(clientKey, hmac(storedKey, authMessage));
    const expectedServerSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    this.state = { step: 'sent-final', expectedServerSignature };
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8');
  }

  /** Takes AuthenticationSASLFinal data; throws ScramError unless the server proved it knows the password. */
  verifyServerFinal(data: Buffer): void {
    const state = this.state;
    this.state = { step: 'done' };
    if (state.step !== 'sent-final') throw new ScramError('ERR_SCRAM_STATE', 'server-final-message out of order');
    const what = 'server-final-message';
    const text = decodeMessage(data, what);
    const attrs = parseAttrs(text, what);
    if (attrs[0]?.name === 'e') {
      // The value is a fixed RFC token (e.g. invalid-proof), safe to show.
      const token = /^[a-z-]{1,64}$/.test(attrs[0].value) ? attrs[0].value : 'unknown';
      throw new ScramError('ERR_SCRAM_VERIFY', `server rejected the SCRAM exchange: ${token}`);
    }
    const signature = decodeBase64(expectAttr(attrs, 0, 'v', what), what);
    if (signature.length !== KEY_LEN || !timingSafeEqual(signature, state.expectedServerSignature)) {
      throw new ScramError('ERR_SCRAM_VERIFY', 'server signature mismatch: the upstream did not prove it knows the password');
    }
  }
}

function saslName(user: string): string {
  return user.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

// ---------------------------------------------------------------------------------------------
// SASLprep (RFC 4013) as PostgreSQL applies it: a password that SASLprep rejects is used as is.
// ASCII passwords without control characters are unchanged. Limits, documented: the unassigned
// code point check uses this runtime's Unicode tables rather than Unicode 3.2, and the bidi LCat
// check approximates RFC 3454 D.2 by "any letter that is not RandALCat"; only exotic
// passwords (characters newer than Unicode 3.2, mixed-direction text) can differ from PostgreSQL.

// RFC 3454 B.1: commonly mapped to nothing.
const MAP_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu;
// RFC 3454 C.1.2: non-ASCII space characters, mapped to SPACE.
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/gu;
// RFC 3454 C.1.2 (after mapping none remain), C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9.
const PROHIBITED =
  /[\u0000-\u001F\u007F-\u009F\u00A0\u1680\u2000-\u200F\u2028-\u202F\u205F-\u2063\u206A-\u206F\u3000\u06DD\u070F\u180E\u0340\u0341\uFEFF\uFFF9-\uFFFD\u2FF0-\u2FFB\uE000-\uF8FF\uFDD0-\uFDEF\uFFFE\uFFFF\u{1D173}-\u{1D17A}\u{E0001}\u{E0020}-\u{E007F}\u{F0000}-\u{FFFFD}\u{100000}-\u{10FFFD}\u{1FFFE}\u{1FFFF}\u{2FFFE}\u{2FFFF}\u{3FFFE}\u{3FFFF}\u{4FFFE}\u{4FFFF}\u{5FFFE}\u{5FFFF}\u{6FFFE}\u{6FFFF}\u{7FFFE}\u{7FFFF}\u{8FFFE}\u{8FFFF}\u{9FFFE}\u{9FFFF}\u{AFFFE}\u{AFFFF}\u{BFFFE}\u{BFFFF}\u{CFFFE}\u{CFFFF}\u{DFFFE}\u{DFFFF}\u{EFFFE}\u{EFFFF}]|\p{Cs}/u;
const UNASSIGNED = /\p{Cn}/u;
// RFC 3454 D.1: characters with bidi property R or AL.
const RAND_AL =
  /[\u05BE\u05C0\u05C3\u05D0-\u05EA\u05F0-\u05F4\u061B\u061F\u0621-\u063A\u0640-\u064A\u066D-\u066F\u0671-\u06D5\u06DD\u06E5\u06E6\u06FA-\u06FE\u0700-\u070D\u0710\u0712-\u072C\u0780-\u07A5\u07B1\u200F\uFB1D\uFB1F-\uFB28\uFB2A-\uFB36\uFB38-\uFB3C\uFB3E\uFB40\uFB41\uFB43\uFB44\uFB46-\uFBB1\uFBD3-\uFD3D\uFD50-\uFD8F\uFD92-\uFDC7\uFDF0-\uFDFC\uFE70-\uFE74\uFE76-\uFEFC]/u;

/** SASLprep of a password, or the password unchanged when SASLprep refuses it (as PostgreSQL does). */
export function saslPrep(password: string): string {
  // Fast path: printable ASCII is left alone by every step.
  if (/^[\x20-\x7e]*$/.test(password)) return password;
  const mapped = password.replace(MAP_TO_NOTHING, '').replace(NON_ASCII_SPACE, ' ').normalize('NFKC');
  if (PROHIBITED.test(mapped) || UNASSIGNED.test(mapped)) return password;
  const chars = Array.from(mapped);
  if (chars.some((c) => RAND_AL.test(c))) {
    const hasL = chars.some((c) => /\p{L}/u.test(c) && !RAND_AL.test(c));
    if (hasL || !RAND_AL.test(chars[0]!) || !RAND_AL.test(chars[chars.length - 1]!)) return password;
  }
  return mapped;
}
