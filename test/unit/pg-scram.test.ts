import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ScramClient, ScramError, ScramServer, deriveScramVerifier, saslPrep } from '../../src/pg/scram.js';

// RFC 7677 section 3 example.
const RFC = {
  user: 'user',
  password: 'pencil',
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonceSuffix: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

const b = (s: string) => Buffer.from(s, 'utf8');
// An independent client-final computation straight from RFC 5802 section 3, for flags ScramClient never sends.
function manualClientFinal(password: string, gs2: string, clientFirstBare: string, serverFirst: string): string {
  const attrs = Object.fromEntries(serverFirst.split(',').map((p) => [p[0], p.slice(2)]));
  const salted = pbkdf2Sync(password, Buffer.from(attrs.s!, 'base64'), Number(attrs.i), 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const withoutProof = `c=${Buffer.from(gs2).toString('base64')},r=${attrs.r}`;
  const sig = createHmac('sha256', storedKey).update(`${clientFirstBare},${serverFirst},${withoutProof}`).digest();
  const proof = Buffer.from(clientKey.map((x, i) => x ^ sig[i]!));
  return `${withoutProof},p=${proof.toString('base64')}`;
}

const rfcVerifier = () => deriveScramVerifier(RFC.password, 4096, Buffer.from(RFC.salt, 'base64'));

describe('ScramClient against the RFC 7677 vector', () => {
  it('produces the published client-first and client-final and accepts the server signature', () => {
    const c = new ScramClient(RFC.user, RFC.password, { clientNonce: RFC.clientNonce, sendUserName: true });
    expect(c.clientFirst().toString()).toBe(RFC.clientFirst);
    expect(c.handleServerFirst(b(RFC.serverFirst)).toString()).toBe(RFC.clientFinal);
    expect(() => c.verifyServerFinal(b(RFC.serverFinal))).not.toThrow();
  });

  it('computes the same client-final off the event loop (handleServerFirstAsync)', async () => {
    const c = new ScramClient(RFC.user, RFC.password, { clientNonce: RFC.clientNonce, sendUserName: true });
    c.clientFirst();
    expect((await c.handleServerFirstAsync(b(RFC.serverFirst))).toString()).toBe(RFC.clientFinal);
    expect(() => c.verifyServerFinal(b(RFC.serverFinal))).not.toThrow();
  });

  it('throws on a forged server signature', () => {
    const c = new ScramClient(RFC.user, RFC.password, { clientNonce: RFC.clientNonce, sendUserName: true });
    c.clientFirst();
    c.handleServerFirst(b(RFC.serverFirst));
    const forged = 'v=' + Buffer.alloc(32, 7).toString('base64');
    expect(() => c.verifyServerFinal(b(forged))).toThrow(/server signature mismatch/);
  });

  it('throws when the server does not extend the client nonce', () => {
    const c = new ScramClient(RFC.user, RFC.password, { clientNonce: RFC.clientNonce });
    c.clientFirst();
    expect(() => c.handleServerFirst(b('r=somethingelse123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'))).toThrow(
      /does not extend the client nonce/,
    );
  });

  it('throws when the server repeats the client nonce without extending it', () => {
    const c = new ScramClient(RFC.user, RFC.password, { clientNonce: RFC.clientNonce });
    c.clientFirst();
    expect(() => c.handleServerFirst(b(`r=${RFC.clientNonce},s=${RFC.salt},i=4096`))).toThrow(ScramError);
  });

  it.each([
    ['missing salt', `r=${RFC.clientNonce}xyz,i=4096`],
    ['bad iterations', `r=${RFC.clientNonce}xyz,s=${RFC.salt},i=0`],
    ['non-numeric iterations', `r=${RFC.clientNonce}xyz,s=${RFC.salt},i=4k`],
    ['absurd iterations (CPU pinning)', `r=${RFC.clientNonce}xyz,s=${RFC.salt},i=2000000000`],
    ['bad base64 salt', `r=${RFC.clientNonce}xyz,s=***,i=4096`],
    ['mandatory extension', `m=ext,r=${RFC.clientNonce}xyz,s=${RFC.salt},i=4096`],
    ['garbage', 'hello'],
    ['empty', ''],
  ])('rejects a malformed server-first (%s)', (_name, msg) => {
    const c = new ScramClient('u', 'p', { clientNonce: RFC.clientNonce });
    c.clientFirst();
    expect(() => c.handleServerFirst(b(msg))).toThrow(ScramError);
  });

  it('reports a server error attribute without echoing arbitrary text', () => {
    const c = new ScramClient(RFC.user, RFC.password, { clientNonce: RFC.clientNonce });
    c.clientFirst();
    c.handleServerFirst(b(RFC.serverFirst));
    expect(() => c.verifyServerFinal(b('e=invalid-proof'))).toThrow('server rejected the SCRAM exchange: invalid-proof');
  });

  it('sends an empty user name by default, as libpq does', () => {
    const c = new ScramClient('someone', 'pw');
    expect(c.clientFirst().toString()).toMatch(/^n,,n=,r=[A-Za-z0-9+/=]{24}$/);
  });

  it('refuses calls out of order', () => {
    const c = new ScramClient('u', 'p');
    expect(() => c.handleServerFirst(b(RFC.serverFirst))).toThrow(/out of order/);
    const d = new ScramClient('u', 'p');
    d.clientFirst();
    expect(() => d.clientFirst()).toThrow(/twice/);
  });
});

describe('ScramServer against the RFC 7677 vector', () => {
  it('produces the published server-first and server-final', () => {
    const s = new ScramServer(rfcVerifier(), 4096, RFC.serverNonceSuffix);
    expect(s.mechanisms()).toEqual(['SCRAM-SHA-256']);
    expect(s.handleClientFirst(b(RFC.clientFirst)).toString()).toBe(RFC.serverFirst);
    const r = s.handleClientFinal(b(RFC.clientFinal));
    expect(r).toEqual({ ok: true, serverFinal: b(RFC.serverFinal) });
  });

  it('rejects a wrong proof', () => {
    const s = new ScramServer(rfcVerifier(), 4096, RFC.serverNonceSuffix);
    s.handleClientFirst(b(RFC.clientFirst));
    const bad = RFC.clientFinal.replace(/p=.*$/, 'p=' + Buffer.alloc(32, 1).toString('base64'));
    expect(s.handleClientFinal(b(bad))).toEqual({ ok: false, reason: 'password authentication failed' });
  });

  it('rejects a wrong nonce even with an otherwise well-formed message', () => {
    const s = new ScramServer(rfcVerifier(), 4096, RFC.serverNonceSuffix);
    s.handleClientFirst(b(RFC.clientFirst));
    const bad = RFC.clientFinal.replace('k0,p=', 'k1,p=');
    expect(s.handleClientFinal(b(bad))).toEqual({ ok: false, reason: 'client-final-message: wrong nonce' });
  });

  it('rejects channel-binding data that does not match the GS2 header', () => {
    const s = new ScramServer(rfcVerifier(), 4096, RFC.serverNonceSuffix);
    s.handleClientFirst(b(RFC.clientFirst));
    const bad = RFC.clientFinal.replace('c=biws', 'c=' + Buffer.from('y,,').toString('base64'));
    const r = s.handleClientFinal(b(bad));
    expect(r.ok).toBe(false);
    expect(r.ok === false && r.reason).toMatch(/channel-binding data/);
  });

  it.each([
    ['p= channel binding', 'p=tls-server-end-point,,n=,r=abc', 'ERR_SCRAM_UNSUPPORTED'],
    ['authzid', 'n,a=admin,n=,r=abc', 'ERR_SCRAM_UNSUPPORTED'],
    ['mandatory extension', 'n,,m=x,n=,r=abc', 'ERR_SCRAM_UNSUPPORTED'],
    ['unknown flag', 'x,,n=,r=abc', 'ERR_SCRAM_MALFORMED'],
    ['no gs2 header', 'n=,r=abc', 'ERR_SCRAM_MALFORMED'],
    ['missing nonce', 'n,,n=', 'ERR_SCRAM_MALFORMED'],
    ['nonce with a comma-free but non-printable byte', 'n,,n=,r=ab\u0001c', 'ERR_SCRAM_MALFORMED'],
    ['empty nonce', 'n,,n=,r=', 'ERR_SCRAM_MALFORMED'],
    ['attributes swapped', 'n,,r=abc,n=', 'ERR_SCRAM_MALFORMED'],
    ['malformed attribute', 'n,,n=,r=abc,junk', 'ERR_SCRAM_MALFORMED'],
    ['empty message', '', 'ERR_SCRAM_MALFORMED'],
  ])('rejects a malformed client-first (%s)', (_name, msg, code) => {
    const s = new ScramServer(rfcVerifier());
    let caught: unknown;
    try {
      s.handleClientFirst(b(msg));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ScramError);
    expect((caught as ScramError).code).toBe(code);
    // After a failure the exchange is over: a final message is refused.
    expect(s.handleClientFinal(b(RFC.clientFinal))).toEqual({ ok: false, reason: 'client-final-message out of order' });
  });

  it('rejects invalid UTF-8 and oversized messages', () => {
    expect(() => new ScramServer(rfcVerifier()).handleClientFirst(Buffer.from([0x6e, 0x2c, 0x2c, 0xff]))).toThrow(
      /not valid UTF-8/,
    );
    expect(() => new ScramServer(rfcVerifier()).handleClientFirst(b('n,,n=,r=' + 'a'.repeat(5000)))).toThrow(
      /bad length/,
    );
  });

  it.each([
    ['proof not last', (m: string) => m.replace(/,p=(.*)$/, ',p=$1,x=1')],
    ['no proof', (m: string) => m.replace(/,p=.*$/, '')],
    ['bad base64 proof', (m: string) => m.replace(/p=.*$/, 'p=!!!!')],
    ['short proof', (m: string) => m.replace(/p=.*$/, 'p=' + Buffer.alloc(16).toString('base64'))],
    ['missing channel binding', (m: string) => m.replace('c=biws,', '')],
  ])('rejects a malformed client-final (%s)', (_name, mutate) => {
    const s = new ScramServer(rfcVerifier(), 4096, RFC.serverNonceSuffix);
    s.handleClientFirst(b(RFC.clientFirst));
    const r = s.handleClientFinal(b(mutate(RFC.clientFinal)));
    expect(r.ok).toBe(false);
  });

  it('accepts the y,, flag (client could bind, we do not offer PLUS) and checks c= against it', () => {
    const s = new ScramServer('secret-1');
    const serverFirst = s.handleClientFirst(b('y,,n=,r=clientnonce')).toString();
    const final = manualClientFinal('secret-1', 'y,,', 'n=,r=clientnonce', serverFirst);
    expect(s.handleClientFinal(b(final)).ok).toBe(true);

    const s2 = new ScramServer('secret-1');
    const serverFirst2 = s2.handleClientFirst(b('y,,n=,r=clientnonce')).toString();
    // Same proof computation but claiming `n,,` in c=: the GS2 header was tampered with.
    const tampered = manualClientFinal('secret-1', 'n,,', 'n=,r=clientnonce', serverFirst2);
    expect(s2.handleClientFinal(b(tampered))).toEqual({
      ok: false,
      reason: 'client-final-message: channel-binding data does not match the GS2 header',
    });
  });

  it('refuses a second exchange on the same instance (no replay)', () => {
    const s = new ScramServer(rfcVerifier(), 4096, RFC.serverNonceSuffix);
    s.handleClientFirst(b(RFC.clientFirst));
    expect(s.handleClientFinal(b(RFC.clientFinal)).ok).toBe(true);
    expect(s.handleClientFinal(b(RFC.clientFinal))).toEqual({ ok: false, reason: 'client-final-message out of order' });
    expect(() => s.handleClientFirst(b(RFC.clientFirst))).toThrow(/twice/);
  });
});

describe('ScramServer with ScramClient', () => {
  const roundTrip = (serverPassword: string, clientPassword: string) => {
    const s = new ScramServer(serverPassword);
    const c = new ScramClient('tollgate', clientPassword);
    const serverFirst = s.handleClientFirst(c.clientFirst());
    const r = s.handleClientFinal(c.handleServerFirst(serverFirst));
    if (r.ok) c.verifyServerFinal(r.serverFinal);
    return r;
  };

  it('authenticates with the right password', () => {
    expect(roundTrip('s3cret', 's3cret').ok).toBe(true);
  });

  it('fails with the wrong password', () => {
    expect(roundTrip('s3cret', 's3cret!')).toEqual({ ok: false, reason: 'password authentication failed' });
  });

  it('uses fresh server nonces and a fixed salt per password', () => {
    const first = () => new ScramServer('pw-x').handleClientFirst(b('n,,n=,r=abc')).toString();
    const a = first();
    const c = first();
    expect(a).not.toBe(c);
    expect(a.split(',').slice(1)).toEqual(c.split(',').slice(1));
    expect(a).toMatch(/^r=abc[A-Za-z0-9+/=]{24},s=[A-Za-z0-9+/=]{24},i=4096$/);
  });

  it('derives the salted password once per process, not per connection', () => {
    new ScramServer('warm-up-secret');
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) new ScramServer('warm-up-secret');
    // 200 PBKDF2(4096) derivations would take well over 200 ms; cached construction takes ~nothing.
    expect(performance.now() - t0).toBeLessThan(100);
  });

  it('accepts a verifier derived once for the session', () => {
    const v = deriveScramVerifier('session-secret');
    const s = new ScramServer(v);
    const c = new ScramClient('tollgate', 'session-secret');
    const r = s.handleClientFinal(c.handleServerFirst(s.handleClientFirst(c.clientFirst())));
    expect(r.ok).toBe(true);
  });

  it('agrees for non-ASCII passwords that SASLprep normalizes', () => {
    // Fullwidth letters normalize (NFKC) to ASCII, so both spellings are the same password.
    expect(roundTrip('ｐａｓｓ', 'pass').ok).toBe(true);
    expect(roundTrip('pässwörd', 'pässwörd').ok).toBe(true);
  });
});

describe('saslPrep', () => {
  it('leaves printable ASCII unchanged', () => {
    expect(saslPrep('I am a p@ssw0rd!')).toBe('I am a p@ssw0rd!');
  });
  it('maps non-ASCII spaces and drops soft hyphens (RFC 4013 examples)', () => {
    expect(saslPrep('I\u00ADX')).toBe('IX');
    expect(saslPrep('a\u00A0b')).toBe('a b');
    expect(saslPrep('\u00AA')).toBe('a');
    expect(saslPrep('\u2168')).toBe('IX');
  });
  it('returns the password unchanged when SASLprep refuses it, as PostgreSQL does', () => {
    expect(saslPrep('a\u0007b')).toBe('a\u0007b');
    expect(saslPrep('\u0627\u0031')).toBe('\u0627\u0031');
  });
});
