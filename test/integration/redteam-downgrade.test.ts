// Red team, the real password (issue 8 item 4): an on-path attacker answers "N" to the proxy's TLS
// request (sslmode=prefer, the default) and asks for the password in the clear or as MD5. The
// stand-in runs on a test host of its own (a network namespace at a non-loopback address); the proxy
// must send it nothing, unless the upstream URL allows the method explicitly (require_auth).
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canMakeHosts, makeTestHost, type TestHost } from '../support/netns.js';
import { startTestProxy } from '../support/proxy.js';

const SECRET = `real-${process.pid}-password`;
const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read] }
`;

let host: TestHost | undefined;

interface StandIn {
  port: number;
  events: { event: string; type?: string; body?: string }[];
}

async function standIn(h: TestHost, port: number, method: 'cleartext' | 'md5'): Promise<StandIn> {
  const child = h.spawn(process.execPath, [resolve('test/fixtures/downgrade/server.mjs'), h.address, String(port), method]);
  const events: StandIn['events'] = [];
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (l) => events.push(JSON.parse(l)));
  for (;;) {
    if (events.some((e) => e.event === 'listening')) break;
    if (child.exitCode !== null) throw new Error('the stand-in exited');
    await once(lines, 'line');
  }
  return { port, events };
}

/** Connects a client through a proxy whose upstream is the stand-in; returns the client's error. */
async function through(upstream: string): Promise<unknown> {
  const proxy = await startTestProxy({ policy, upstream });
  try {
    const c = new pg.Client(proxy.pg);
    const err = await c.connect().then(() => null, (e: unknown) => e);
    await c.end().catch(() => undefined);
    return err;
  } finally {
    await proxy.stop();
  }
}

const hasHosts = canMakeHosts();

beforeAll(() => {
  if (hasHosts) host = makeTestHost('dg');
});

afterAll(() => {
  host?.remove();
});

describe.runIf(hasHosts)('a downgrading upstream on another host', () => {
  it.each(['cleartext', 'md5'] as const)('asking for a %s password under sslmode=prefer gets nothing', async (method) => {
    const s = await standIn(host!, 15432 + (method === 'md5' ? 1 : 0), method);
    const err = await through(`postgres://app:${SECRET}@${host!.address}:${s.port}/db`);
    expect(err).toMatchObject({ code: '08006', message: 'tollgate: cannot connect to the upstream database' });
    await new Promise((r) => setTimeout(r, 200));
    // Each upstream session the proxy opens (the client's, the catalog's) asked for TLS, heard "N",
    // sent its startup packet, was asked for the password, and closed without a word more.
    const seen = s.events.map((e) => e.event);
    expect(seen.filter((e) => e === 'startup').length).toBeGreaterThan(0);
    expect(seen.filter((e) => e === 'ssl-request').length).toBe(seen.filter((e) => e === 'startup').length);
    expect(s.events.filter((e) => e.event === 'message')).toEqual([]);
    expect(JSON.stringify(s.events)).not.toContain(SECRET);
  });

  it('sslmode=require without a verified certificate sends nothing either (TLS refused here, so it stops earlier)', async () => {
    const s = await standIn(host!, 15434, 'cleartext');
    await through(`postgres://app:${SECRET}@${host!.address}:${s.port}/db?sslmode=require`);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.events.some((e) => e.event === 'message')).toBe(false);
  });

  it('require_auth=password in the URL allows the cleartext password explicitly (the stand-in sees it)', async () => {
    const s = await standIn(host!, 15435, 'cleartext');
    await through(`postgres://app:${SECRET}@${host!.address}:${s.port}/db?require_auth=password`);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.events.find((e) => e.event === 'message')).toEqual({ event: 'message', type: 'p', body: `${SECRET}\u0000` });
  });

  it('require_auth=scram-sha-256 refuses a cleartext request even with TLS verified', async () => {
    const s = await standIn(host!, 15436, 'cleartext');
    await through(`postgres://app:${SECRET}@${host!.address}:${s.port}/db?require_auth=scram-sha-256`);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.events.some((e) => e.event === 'message')).toBe(false);
  });
});
