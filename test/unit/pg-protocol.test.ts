import { describe, expect, it } from 'vitest';
import * as P from '../../src/pg/protocol.js';
import { commandComplete, flushMessage, rowDescription } from '../support/wire-writers.js';
import { ProtocolError } from '../../src/pg/errors.js';

// Parse `bytes` fed as two chunks split at `cut`, and as one byte per chunk.
function frontendAll(bytes: Buffer, cuts: number[]): P.FrontendMessage[] {
  const p = new P.FrontendParser();
  const out: P.FrontendMessage[] = [];
  let prev = 0;
  for (const c of [...cuts, bytes.length]) {
    p.parse(bytes.subarray(prev, c), (m) => out.push(m));
    prev = c;
  }
  expect(p.buffered).toBe(0);
  return out;
}

function strip(m: P.FrontendMessage): Record<string, unknown> {
  const { raw, ...rest } = m as P.FrontendMessage & { body?: Buffer };
  void raw;
  const o: Record<string, unknown> = { ...rest };
  if ('body' in o) o.body = (o.body as Buffer).toString('hex');
  if ('params' in o) o.params = Object.fromEntries(o.params as Map<string, string>);
  if ('secret' in o) o.secret = (o.secret as Buffer).toString('hex');
  return o;
}

const frontendFixture = Buffer.concat([
  P.sslRequest(),
  P.gssEncRequest(),
  P.startupMessage({ user: 'tollgate', database: 'test', application_name: 'psql' }),
  P.passwordMessage(Buffer.from('n,,n=,r=abc')),
  P.query('SELECT 1; SELECT \'é\''),
  P.parse('s1', 'SELECT $1::int', [23]),
  P.bind('p1', 's1', [Buffer.from('42'), null], [1, 0]),
  P.describe('P', 'p1'),
  P.execute('p1', 10),
  P.close('S', 's1'),
  flushMessage(),
  P.sync(),
  Buffer.from([0x64, 0, 0, 0, 7, 1, 2, 3]), // CopyData
  Buffer.from([0x63, 0, 0, 0, 4]), // CopyDone
  new P.MessageWriter().cstring('oops').flush('f'),
  Buffer.from([0x46, 0, 0, 0, 6, 9, 9]), // FunctionCall
  P.terminate(),
]);

const expected = [
  { type: 'sslRequest' },
  { type: 'gssEncRequest' },
  { type: 'startup', protocol: P.PROTOCOL_3_0, params: { user: 'tollgate', database: 'test', application_name: 'psql' } },
  { type: 'password', body: Buffer.from('n,,n=,r=abc').toString('hex') },
  { type: 'query', sql: "SELECT 1; SELECT 'é'" },
  { type: 'parse', name: 's1', sql: 'SELECT $1::int', paramTypes: [23] },
  { type: 'bind', portal: 'p1', statement: 's1', resultFormats: [1, 0] },
  { type: 'describe', target: 'P', name: 'p1' },
  { type: 'execute', portal: 'p1', maxRows: 10 },
  { type: 'close', target: 'S', name: 's1' },
  { type: 'flush' },
  { type: 'sync' },
  { type: 'copyData' },
  { type: 'copyDone' },
  { type: 'copyFail', message: 'oops' },
  { type: 'functionCall' },
  { type: 'terminate' },
];

describe('FrontendParser', () => {
  it('decodes every message type in one chunk, with raw bytes that re-concatenate to the input', () => {
    const msgs = frontendAll(frontendFixture, []);
    expect(msgs.map(strip)).toEqual(expected);
    expect(Buffer.concat(msgs.map((m) => m.raw)).equals(frontendFixture)).toBe(true);
  });

  it('gives the same messages when split into two chunks at every offset', () => {
    for (let cut = 0; cut <= frontendFixture.length; cut++) {
      const msgs = frontendAll(frontendFixture, [cut]);
      expect(msgs.map(strip)).toEqual(expected);
    }
  });

  it('gives the same messages when fed one byte at a time', () => {
    const cuts = Array.from({ length: frontendFixture.length - 1 }, (_, i) => i + 1);
    expect(frontendAll(frontendFixture, cuts).map(strip)).toEqual(expected);
  });

  it('hands out raw subarrays of the chunk (zero copy) for messages inside one chunk', () => {
    const chunk = Buffer.concat([P.startupMessage({ user: 'u' }), P.query('SELECT 1')]);
    const p = new P.FrontendParser();
    const msgs: P.FrontendMessage[] = [];
    p.parse(chunk, (m) => msgs.push(m));
    expect(msgs[1]!.raw.buffer).toBe(chunk.buffer);
  });

  it('decodes a CancelRequest', () => {
    const msgs = frontendAll(P.cancelRequest(1234, Buffer.from([1, 2, 3, 4])), []);
    expect(msgs.map(strip)).toEqual([{ type: 'cancelRequest', pid: 1234, secret: '01020304' }]);
  });

  const bad: [string, Buffer, boolean, RegExp][] = [
    ['a typed length below 4', Buffer.from([0x51, 0, 0, 0, 3]), false, /below the minimum of 4/],
    ['a negative typed length', Buffer.from([0x51, 0xff, 0xff, 0xff, 0xff]), false, /below the minimum/],
    ['a typed length above 1 GiB', Buffer.from([0x51, 0x40, 0, 0, 0]), false, /exceeds the maximum of 1073741823/],
    ['a startup length above 10000', Buffer.from([0, 0, 0x27, 0x11, 0, 3, 0, 0]), true, /exceeds the maximum of 10000/],
    ['a startup length below 4', Buffer.from([0, 0, 0, 2]), true, /below the minimum/],
    ['an unknown protocol version', P.startupMessage({ user: 'u' }, 2 << 16), true, /unsupported frontend protocol 2\.0/],
    ['an unterminated startup parameter list', Buffer.from([0, 0, 0, 11, 0, 3, 0, 0, 0x75, 0, 0x78]), true, /unterminated string/],
    ['an unknown type byte', Buffer.from([0x7a, 0, 0, 0, 4]), false, /unknown frontend message type 0x7a/],
    ['a Query without NUL', Buffer.from([0x51, 0, 0, 0, 5, 0x41]), false, /Query: unterminated string/],
    ['a Sync with a body', Buffer.from([0x53, 0, 0, 0, 5, 0]), false, /Sync: unexpected 1-byte body/],
    ['a Bind with a parameter longer than the message', Buffer.from([0x42, 0, 0, 0, 16, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff, 0, 0]), false, /Bind: truncated/],
    ['a Describe of an unknown target', Buffer.from([0x44, 0, 0, 0, 6, 0x58, 0]), false, /unknown target 'X'/],
    ['an SSLRequest with trailing bytes', Buffer.from([0, 0, 0, 9, 0x04, 0xd2, 0x16, 0x2f, 0]), true, /SSLRequest has a wrong length/],
  ];
  for (const [what, bytes, startup, re] of bad) {
    it(`rejects ${what}`, () => {
      const p = new P.FrontendParser();
      if (!startup) p.parse(P.startupMessage({ user: 'u' }), () => {});
      expect(() => p.parse(bytes, () => {})).toThrow(ProtocolError);
      const p2 = new P.FrontendParser();
      if (!startup) p2.parse(P.startupMessage({ user: 'u' }), () => {});
      expect(() => p2.parse(bytes, () => {})).toThrow(re);
    });
  }

  it('rejects a repeated startup parameter', () => {
    const w = new P.MessageWriter().int32(P.PROTOCOL_3_0).cstring('user').cstring('a').cstring('user').cstring('b').byte(0);
    expect(() => new P.FrontendParser().parse(w.flushUntyped(), () => {})).toThrow(/repeats parameter "user"/);
  });

  it('refuses an absurd length from the header alone, before the body arrives', () => {
    const p = new P.FrontendParser();
    p.parse(P.startupMessage({ user: 'u' }), () => {});
    // Only the 5-byte header of a 2 GiB message: must throw now, not wait for 2 GiB.
    expect(() => p.parse(Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xff]), () => {})).toThrow(/exceeds the maximum/);
  });

  it('honours a smaller configured maximum', () => {
    const p = new P.FrontendParser({ maxMessageLength: 100 });
    p.parse(P.startupMessage({ user: 'u' }), () => {});
    expect(() => p.parse(P.query('x'.repeat(200)), () => {})).toThrow(/exceeds the maximum of 100/);
  });
});

describe('FrontendParser length limits per message type and phase (F8)', () => {
  const header = (code: string, len: number): Buffer => {
    const b = Buffer.alloc(5);
    b[0] = code.charCodeAt(0);
    b.writeInt32BE(len, 1);
    return b;
  };
  const authPhase = (): P.FrontendParser => {
    const p = new P.FrontendParser();
    p.parse(P.startupMessage({ user: 'u' }), () => {});
    return p;
  };
  const ready = (maxStatement?: number): P.FrontendParser => {
    const p = authPhase();
    p.authenticated(maxStatement);
    return p;
  };
  const refusal = (p: P.FrontendParser, bytes: Buffer): string => {
    try {
      p.parse(bytes, () => {});
    } catch (err) {
      expect(err).toBeInstanceOf(ProtocolError);
      return (err as Error).message;
    }
    return 'accepted';
  };

  it('before authentication: a SASL message up to 65535 bytes, refused above from its header alone', () => {
    expect(refusal(authPhase(), header('p', 0x3fffffff))).toBe(
      'password/SASL response message length 1073741823 exceeds the maximum of 65535 before authentication completes',
    );
    expect(refusal(authPhase(), header('p', 65_536))).toBe(
      'password/SASL response message length 65536 exceeds the maximum of 65535 before authentication completes',
    );
    const p = authPhase();
    const got: P.FrontendMessage[] = [];
    p.parse(P.passwordMessage(Buffer.alloc(65_535 - 4, 0x61)), (m) => got.push(m));
    expect(got.map((m) => [m.type, m.raw.length])).toEqual([['password', 65_536]]);
  });

  it('before authentication: every other message up to 10000 bytes', () => {
    expect(refusal(authPhase(), header('Q', 10_001))).toBe('Query message length 10001 exceeds the maximum of 10000 before authentication completes');
    expect(refusal(authPhase(), header('d', 10_001))).toBe('CopyData message length 10001 exceeds the maximum of 10000 before authentication completes');
    expect(refusal(authPhase(), header('Q', 10_000))).toBe('accepted');
  });

  it('after authentication: statements up to the statement limit, values up to 1 GiB, others 10000', () => {
    expect(refusal(ready(), header('Q', (16 << 20) + 1))).toBe(`Query message length ${(16 << 20) + 1} exceeds the maximum of ${16 << 20} for a statement`);
    expect(refusal(ready(), header('Q', 16 << 20))).toBe('accepted');
    expect(refusal(ready(), header('P', 2000))).toBe('accepted');
    expect(refusal(ready(1000), header('P', 1001))).toBe('Parse message length 1001 exceeds the maximum of 1000 for a statement');
    expect(refusal(ready(1000), header('F', 1001))).toBe('FunctionCall message length 1001 exceeds the maximum of 1000 for a statement');
    expect(refusal(ready(1000), header('B', 0x3fffffff))).toBe('accepted');
    expect(refusal(ready(1000), header('d', 0x3fffffff))).toBe('accepted');
    expect(refusal(ready(), header('d', 0x40000000))).toBe('message length 1073741824 exceeds the maximum of 1073741823');
    for (const [code, name] of [['D', 'Describe'], ['E', 'Execute'], ['C', 'Close'], ['S', 'Sync'], ['H', 'Flush'], ['X', 'Terminate'], ['c', 'CopyDone'], ['f', 'CopyFail'], ['p', 'password/SASL response']]) {
      expect(refusal(ready(), header(code!, 10_001))).toBe(`${name} message length 10001 exceeds the maximum of 10000 for this message type`);
    }
    expect(refusal(ready(), header('z', 10_001))).toBe('unknown frontend message type 0x7a');
    expect(() => ready().authenticated(3)).toThrow(TypeError);
  });

  it('frames a large message from many chunks in linear time and byte for byte', () => {
    const p = ready(64 << 20);
    const sql = `SELECT 1 -- ${'a'.repeat(32 << 20)}`;
    const msg = P.query(sql);
    const got: P.FrontendMessage[] = [];
    const t0 = performance.now();
    for (let off = 0; off < msg.length; off += 1 << 16) p.parse(msg.subarray(off, off + (1 << 16)), (m) => got.push(m));
    const ms = performance.now() - t0;
    expect(got.length).toBe(1);
    expect(got[0]!.type === 'query' && got[0]!.sql === sql).toBe(true);
    expect(got[0]!.raw.equals(msg)).toBe(true);
    expect(p.buffered).toBe(0);
    // Quadratic joining (one concat per 64 KiB chunk) took seconds here; linear takes milliseconds.
    expect(ms).toBeLessThan(1_500);
  });
});

const fields: P.FieldDescription[] = [
  { name: 'id', tableOid: 16384, attnum: 1, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 },
  { name: 'email', tableOid: 16384, attnum: 2, typeOid: 25, typeSize: -1, typeModifier: -1, format: 1 },
];

const backendFixture = Buffer.concat([
  P.authenticationOk(),
  P.parameterStatus('client_encoding', 'UTF8'),
  P.backendKeyData(77, Buffer.from([9, 8, 7, 6])),
  P.readyForQuery('I'),
  rowDescription(fields),
  P.dataRow([Buffer.from('1'), null]),
  P.dataRow([Buffer.from('2'), Buffer.from('a@b')]),
  commandComplete('SELECT 2'),
  P.errorResponse({ severity: 'ERROR', code: '42501', message: 'tollgate: denied: x', detail: 'rule: r' }),
  P.readyForQuery('E'),
]);

describe('BackendParser and decoders', () => {
  function frames(cuts: number[]): P.BackendFrame[] {
    const p = new P.BackendParser();
    const out: P.BackendFrame[] = [];
    let prev = 0;
    for (const c of [...cuts, backendFixture.length]) {
      p.parse(backendFixture.subarray(prev, c), (f) => out.push(f));
      prev = c;
    }
    expect(p.buffered).toBe(0);
    return out;
  }
  function decoded(fs: P.BackendFrame[]): unknown[] {
    return fs.map((f) => {
      switch (f.code) {
        case P.B.RowDescription: return ['T', P.decodeRowDescription(f.body)];
        case P.B.DataRow: return ['D', P.decodeDataRow(f.body).map((v) => (v ? v.toString() : null))];
        case P.B.CommandComplete: return ['C', P.decodeCommandComplete(f.body)];
        case P.B.ErrorResponse: return ['E', Object.fromEntries(P.decodeErrorFields(f.body))];
        case P.B.ReadyForQuery: return ['Z', P.decodeReadyForQuery(f.body)];
        case P.B.ParameterStatus: return ['S', P.decodeParameterStatus(f.body)];
        default: return [String.fromCharCode(f.code), f.body.toString('hex')];
      }
    });
  }
  const want = [
    ['R', '00000000'],
    ['S', { name: 'client_encoding', value: 'UTF8' }],
    ['K', '0000004d09080706'],
    ['Z', 'I'],
    ['T', fields],
    ['D', ['1', null]],
    ['D', ['2', 'a@b']],
    ['C', 'SELECT 2'],
    ['E', { S: 'ERROR', V: 'ERROR', C: '42501', M: 'tollgate: denied: x', D: 'rule: r' }],
    ['Z', 'E'],
  ];

  it('frames and decodes in one chunk; raw bytes re-concatenate to the input', () => {
    const fs = frames([]);
    expect(decoded(fs)).toEqual(want);
    expect(Buffer.concat(fs.map((f) => f.raw)).equals(backendFixture)).toBe(true);
  });

  it('gives the same frames when split at every offset', () => {
    for (let cut = 0; cut <= backendFixture.length; cut++) expect(decoded(frames([cut]))).toEqual(want);
  });

  it('gives the same frames when split at every pair of offsets', () => {
    for (let a = 0; a <= backendFixture.length; a += 3) {
      for (let b = a; b <= backendFixture.length; b += 7) expect(decoded(frames([a, b]))).toEqual(want);
    }
  });

  it('rejects a backend length below 4 or above the maximum', () => {
    expect(() => new P.BackendParser().parse(Buffer.from([0x44, 0, 0, 0, 0]), () => {})).toThrow(/below the minimum of 4/);
    expect(() => new P.BackendParser({ maxMessageLength: 1000 }).parse(Buffer.from([0x44, 0, 0, 0x10, 0]), () => {})).toThrow(
      /exceeds the maximum of 1000/,
    );
  });

  it('rejects DataRow bodies whose column lengths overrun the message', () => {
    const body = Buffer.from([0, 1, 0, 0, 0, 9, 0x41]);
    expect(() => P.decodeDataRow(body)).toThrow(/DataRow: truncated/);
  });

  it('reads row counts from command tags', () => {
    expect(P.rowsFromTag('SELECT 5')).toBe(5);
    expect(P.rowsFromTag('INSERT 0 3')).toBe(3);
    expect(P.rowsFromTag('COPY 10')).toBe(10);
    expect(P.rowsFromTag('CREATE TABLE')).toBeUndefined();
    expect(P.rowsFromTag('BEGIN')).toBeUndefined();
  });

  it('round-trips DataRow through the writer', () => {
    const row = P.dataRow([Buffer.from('x'), null, Buffer.alloc(0)]);
    expect(P.decodeDataRow(row.subarray(5)).map((v) => (v ? v.toString('hex') : v))).toEqual(['78', null, '']);
  });

  it('refuses NUL bytes inside a written string rather than truncating it', () => {
    expect(() => new P.MessageWriter().cstring('a\0b')).toThrow(TypeError);
    // Error texts are cleaned instead, so an error can always be sent.
    const e = P.errorResponse({ severity: 'ERROR', code: 'XX000', message: 'a\0b' });
    expect(P.decodeErrorFields(e.subarray(5)).get('M')).toBe('ab');
  });
});
