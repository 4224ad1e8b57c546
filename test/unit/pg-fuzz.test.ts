// Fuzzing the live proxy: more than 10,000 random and mutated frames, before and after
// authentication, while a well-behaved client keeps querying. Nothing may crash the proxy or stall
// the healthy client; every fuzzed connection ends with an answer or a close.
// Also fuzzes the pure parsers directly: they may only ever throw ProtocolError.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { ProtocolError } from '../../src/pg/errors.js';
import * as P from '../../src/pg/protocol.js';
import { flushMessage } from '../support/wire-writers.js';
import { RawClient, startTestProxy, type TestProxy } from '../support/proxy.js';

const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["pg_catalog.*"] }
        - { action: deny, kinds: [any] }
`;

// A small deterministic PRNG so a failure can be replayed from its seed.
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

const templates: Buffer[] = [
  P.query('SELECT 1'),
  P.query("SELECT 'a', 2, now()"),
  P.query('DROP TABLE nothing'),
  P.query(''),
  P.parse('s', 'SELECT $1::int', [23]),
  P.parse('', 'SELECT 1'),
  P.bind('', '', [Buffer.from('1')], [1]),
  P.bind('p', 's', [null], []),
  P.describe('S', 's'),
  P.describe('P', ''),
  P.execute('', 0),
  P.execute('p', 1),
  P.close('S', 's'),
  P.close('P', 'p'),
  P.sync(),
  flushMessage(),
  Buffer.from([0x64, 0, 0, 0, 7, 1, 2, 3]),
  Buffer.from([0x63, 0, 0, 0, 4]),
  new P.MessageWriter().cstring('stop').flush('f'),
  Buffer.from([0x46, 0, 0, 0, 6, 0, 0]),
  P.passwordMessage(Buffer.from('x')),
];

function mutate(r: () => number, base: Buffer): Buffer {
  const b = Buffer.from(base);
  switch (Math.floor(r() * 7)) {
    case 0: // flip bytes
      for (let i = 0, n = 1 + Math.floor(r() * 4); i < n; i++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      return b;
    case 1: // random type byte
      b[0] = Math.floor(r() * 256);
      return b;
    case 2: {
      // random length field (tiny, huge, negative, off by a few)
      const choices = [0, 3, 4, 5, b.length - 1 - 1, b.length + 3, 0x7fffffff, 0x40000000, -1, Math.floor(r() * 0xffffffff) | 0];
      b.writeInt32BE(choices[Math.floor(r() * choices.length)]! | 0, 1);
      return b;
    }
    case 3: // truncate
      return b.subarray(0, Math.floor(r() * b.length));
    case 4: // append garbage inside the declared length
      return Buffer.concat([b, randomBytes(Math.floor(r() * 8))]);
    case 5: // entirely random
      return randomBytes(1 + Math.floor(r() * 40));
    default:
      return b; // unmutated
  }
}

describe('pure parsers under random input', () => {
  it('throw only ProtocolError, for 20,000 random and mutated inputs', () => {
    const r = rng(12345);
    let thrown = 0;
    for (let i = 0; i < 20_000; i++) {
      const input = mutate(r, templates[Math.floor(r() * templates.length)]!);
      const fp = new P.FrontendParser({ maxMessageLength: 1 << 20 });
      fp.parse(P.startupMessage({ user: 'u' }), () => {});
      const bp = new P.BackendParser({ maxMessageLength: 1 << 20 });
      for (const parse of [() => fp.parse(input, () => {}), () => bp.parse(input, (f) => {
        // Decoders must also fail cleanly on garbage bodies.
        for (const d of [P.decodeRowDescription, P.decodeDataRow, P.decodeErrorFields, P.decodeCommandComplete]) {
          try {
            d(f.body);
          } catch (err) {
            if (!(err instanceof ProtocolError)) throw err;
          }
        }
      })]) {
        try {
          parse();
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
          thrown++;
        }
      }
    }
    expect(thrown).toBeGreaterThan(1000);
  });
});

describe('live proxy under fuzzed frames', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startTestProxy({ policy });
  });
  afterAll(async () => proxy?.stop());

  it('survives 10,000+ fuzzed frames while a healthy client keeps working', async () => {
    const healthy = new pg.Client(proxy.pg);
    await healthy.connect();
    let healthyQueries = 0;
    let stop = false;
    const healthyLoop = (async () => {
      while (!stop) {
        const r = await healthy.query('SELECT 42 AS v');
        expect(r.rows).toEqual([{ v: 42 }]);
        healthyQueries++;
        await new Promise((res) => setTimeout(res, 20));
      }
    })();

    const r = rng(777);
    let frames = 0;
    let connections = 0;
    // Before authentication: random startup-phase packets on fresh connections.
    for (let i = 0; i < 300; i++) {
      const c = await RawClient.open(proxy.port);
      connections++;
      const packets = [P.startupMessage({ user: 'tollgate', database: 'test' }), P.sslRequest(), P.cancelRequest(1, Buffer.alloc(4))];
      const base = packets[Math.floor(r() * packets.length)]!;
      const b = Buffer.from(base);
      if (r() < 0.5) b.writeInt32BE(Math.floor(r() * 0xffffffff) | 0, 0);
      else b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      c.send(b);
      frames++;
      c.send(randomBytes(Math.floor(r() * 32)));
      frames++;
      c.destroy();
    }
    // After authentication: batches of mutated frames until the proxy closes the connection.
    while (frames < 10_500) {
      const c = await RawClient.session(proxy.port, proxy.password);
      connections++;
      for (let batch = 0; batch < 40 && !c.closed; batch++) {
        const parts: Buffer[] = [];
        for (let i = 0; i < 10; i++) {
          const t = templates[Math.floor(r() * templates.length)]!;
          parts.push(r() < 0.85 ? t : mutate(r, t));
        }
        if (!c.send(Buffer.concat(parts))) break;
        frames += parts.length;
        await new Promise((res) => setImmediate(res));
      }
      // The connection either answers a final Sync+Query or has been closed by the proxy.
      if (!c.closed) {
        c.send(Buffer.concat([P.sync(), P.query('SELECT 1')]));
        await c.waitClosed(300);
      }
      c.destroy();
    }
    stop = true;
    await healthyLoop;
    expect(frames).toBeGreaterThanOrEqual(10_000);
    expect(connections).toBeGreaterThan(300);
    expect(healthyQueries).toBeGreaterThan(5);
    expect((await healthy.query('SELECT 7 AS v')).rows).toEqual([{ v: 7 }]);
    await healthy.end();
    // No connection leaks: every fuzzed session has been closed by now.
    const deadline = Date.now() + 5_000;
    while (proxy.connections > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    expect(proxy.connections).toBe(0);
    await new Promise((res) => setTimeout(res, 300));
    expect(await verifyAuditFile(proxy.auditPath)).toMatchObject({ ok: true });
  }, 180_000);
});
