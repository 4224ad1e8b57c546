import { mkdtemp, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson, GENESIS, lineHash } from '../../src/audit/canonical.js';
import { AuditLog, AuditLogError } from '../../src/audit/log.js';
import type { AuditEntry } from '../../src/audit/types.js';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { OrderedWriter, type Sink } from '../../src/audit/writer.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-log-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function entry(i: number, extra: Partial<AuditEntry> = {}): AuditEntry {
  return {
    time: `2026-11-30T04:00:${String(i % 60).padStart(2, '0')}.000Z`,
    session: 'sess1',
    identity: { repository: 'acme/app', actor: 'octocat' },
    role: 'ci-readonly',
    type: 'sql',
    statement: 'SELECT * FROM public.orders WHERE id = $1',
    accesses: [{ kind: 'select', object: 'public.orders' }],
    decision: 'allow',
    rule: 'roles.ci-readonly.postgres.rules[0]',
    rows: i,
    durationMs: 1.5,
    ...extra,
  };
}

async function lines(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8');
  return text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('canonicalJson', () => {
  it('sorts keys at every depth, drops undefined, no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: undefined, x: 'é' }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"x":"é","z":1}]},"b":1}',
    );
  });
  it('round-trips: canonical(parse(canonical(x))) === canonical(x)', () => {
    const v = { t: new Date(0), s: 'a\u2028b"\\', n: -0, f: 1e21, u: '\ud800' };
    const c = canonicalJson(v);
    expect(canonicalJson(JSON.parse(c))).toBe(c);
    expect(c).toBe('{"f":1e+21,"n":0,"s":"a\u2028b\\"\\\\","t":"1970-01-01T00:00:00.000Z","u":"\\ud800"}');
  });
});

describe('AuditLog', () => {
  it('writes a chain: seq from 1, prev = genesis then previous hash, hash over the line without hash', async () => {
    const path = join(dir, 'a.jsonl');
    const log = await AuditLog.open(path);
    const l1 = log.append(entry(1));
    const l2 = log.append(entry(2, { decision: 'deny', rule: null, reason: 'no rule matched' }));
    expect(l1.seq).toBe(1);
    expect(l1.prev).toBe(GENESIS);
    expect(l2.seq).toBe(2);
    expect(l2.prev).toBe(l1.hash);
    await log.close();
    const text = await readFile(path, 'utf8');
    const raw = text.split('\n');
    expect(raw).toHaveLength(3);
    expect(raw[2]).toBe('');
    const [a, b] = await lines(path);
    expect(raw[0]).toBe(canonicalJson(a));
    const { hash, ...rest } = a!;
    expect(hash).toBe(lineHash(rest));
    expect(hash).toBe(l1.hash);
    expect(b).toEqual(JSON.parse(JSON.stringify(l2)));
    expect(log.count).toBe(2);
    expect(log.head).toBe(l2.hash);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await verifyAuditFile(path)).toEqual({ ok: true, count: 2, head: l2.hash });
  });

  it('append does not wait for the disk; flush puts everything on disk in order', async () => {
    const path = join(dir, 'b.jsonl');
    const log = await AuditLog.open(path);
    for (let i = 1; i <= 5000; i++) log.append(entry(i));
    // Same tick, nothing awaited: append returned without touching the disk.
    expect(readFileSync(path, 'utf8').length).toBe(0);
    await log.flush();
    const all = await lines(path);
    expect(all).toHaveLength(5000);
    expect(all.map((l) => l.seq)).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1));
    await log.close();
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, count: 5000 });
  });

  it('continues the chain of an existing file', async () => {
    const path = join(dir, 'c.jsonl');
    const first = await AuditLog.open(path);
    first.append(entry(1));
    const last = first.append(entry(2));
    await first.close();
    const second = await AuditLog.open(path, { session: 'sess2' });
    expect(second.count).toBe(2);
    expect(second.head).toBe(last.hash);
    const l3 = second.append({ ...entry(3), session: '' });
    expect(l3.seq).toBe(3);
    expect(l3.prev).toBe(last.hash);
    expect(l3.session).toBe('sess2');
    await second.close();
    expect(await verifyAuditFile(path)).toEqual({ ok: true, count: 3, head: l3.hash });
  });

  it('continues after a last line longer than the 64 KiB tail chunk', async () => {
    const path = join(dir, 'long.jsonl');
    const first = await AuditLog.open(path);
    first.append(entry(1));
    const long = first.append(entry(2, { statement: `SELECT ${'x,'.repeat(100_000)}y FROM t` }));
    await first.close();
    const second = await AuditLog.open(path);
    expect(second.count).toBe(2);
    expect(second.head).toBe(long.hash);
    await second.close();
  });

  it.each([
    ['an incomplete last line', (t: string) => t.slice(0, -10), /last line is incomplete/],
    ['a last line that is not JSON', (t: string) => `${t}{not json\n`, /not valid JSON/],
    ['an edited last line', (t: string) => t.replace('"rows":2', '"rows":3'), /does not match its hash/],
    ['an empty last line', (t: string) => `${t}\n`, /not valid JSON/],
  ])('refuses to open a file with %s', async (_name, damage, message) => {
    const path = join(dir, 'd.jsonl');
    const log = await AuditLog.open(path);
    log.append(entry(1));
    log.append(entry(2));
    await log.close();
    await writeFile(path, damage(await readFile(path, 'utf8')));
    const err = await AuditLog.open(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditLogError);
    expect((err as AuditLogError).code).toBe('ERR_AUDIT_TAIL');
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain('tollgate audit verify');
  });

  it('refuses to append after close; close twice is fine; a missing identity is recorded as {}', async () => {
    const log = await AuditLog.open(join(dir, 'e.jsonl'));
    expect(log.append({ ...entry(1), identity: undefined } as unknown as AuditEntry).identity).toEqual({});
    await log.close();
    await log.close();
    expect(() => log.append(entry(1))).toThrowError(/append after close/);
  });

  it('sanitizes entries: unknown fields dropped, literals stripped, secrets replaced', async () => {
    const path = join(dir, 'f.jsonl');
    const log = await AuditLog.open(path, { secrets: ['s3cr3t-session-pw'] });
    const line = log.append({
      ...entry(1),
      statement: "SELECT * FROM users WHERE email = 'alice@example.com' AND pw = 's3cr3t-session-pw'",
      reason: 'client sent password s3cr3t-session-pw',
      params: ['4111111111111111'],
      masked: [{ name: 'email', strategy: 'redact', column: 'public.users.email', value: 'alice@example.com' }],
    } as unknown as AuditEntry);
    await log.close();
    const text = await readFile(path, 'utf8');
    expect(text).not.toContain('alice@example.com');
    expect(text).not.toContain('s3cr3t-session-pw');
    expect(text).not.toContain('4111111111111111');
    expect(line.statement).toBe('SELECT * FROM users WHERE email = ? AND pw = ?');
    expect(line.reason).toBe('client sent password [secret]');
    expect(line.masked).toEqual([{ name: 'email', strategy: 'redact', column: 'public.users.email' }]);
    expect('params' in line).toBe(false);
  });

  it('keeps the selected claims of a verified token, a synthetic identity whole, and sees in-place changes', async () => {
    const path = join(dir, 'g.jsonl');
    const log = await AuditLog.open(path, { secrets: ['pw-123456'] });
    const claims: Record<string, unknown> = {
      iss: 'https://token.actions.githubusercontent.com', aud: 'tollgate', exp: 2, iat: 1, jti: 'j',
      repository: 'acme/app', repository_id: '1', actor: 'dev1', run_id: '42', ref: 'refs/heads/main', nested: { x: 1 },
    };
    const a = log.append(entry(1, { identity: claims }));
    expect(a.identity).toEqual({ iss: 'https://token.actions.githubusercontent.com', repository: 'acme/app', actor: 'dev1', run_id: '42', ref: 'refs/heads/main' });
    claims.actor = 'pw-123456';
    const b = log.append(entry(2, { identity: claims }));
    expect(b.identity.actor).toBe('[secret]');
    const c = log.append(entry(3, { identity: { actor: 'you', source: 'tollgate serve' } }));
    expect(c.identity).toEqual({ actor: 'you', source: 'tollgate serve' });
    await log.close();
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, count: 3 });
    const [, second] = await lines(path);
    expect((second!.identity as Record<string, unknown>).actor).toBe('[secret]');
  });

  it('surfaces write errors from flush and onError (disk full)', async () => {
    const errors: AuditLogError[] = [];
    const log = await AuditLog.open('/dev/full', { onError: (e) => errors.push(e) });
    log.append(entry(1));
    const err = await log.flush().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditLogError);
    expect((err as AuditLogError).code).toBe('ERR_AUDIT_WRITE');
    expect((err as Error).message).toMatch(/audit log \/dev\/full: write failed.*ENOSPC/);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(log.writeError).toBe(err);
    await expect(log.close()).rejects.toThrow(/ENOSPC/);
  });
});

/** A sink that fails on chosen write calls and records what it received. */
function flakySink(failOn: Set<number>, maxChunk = Infinity): Sink & { data: string; calls: number } {
  const sink = {
    data: '',
    calls: 0,
    async write(bytes: Uint8Array) {
      sink.calls++;
      if (failOn.has(sink.calls)) throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
      const n = Math.min(bytes.length, maxChunk);
      sink.data += Buffer.from(bytes.subarray(0, n)).toString('utf8');
      return n;
    },
    async sync() {},
    async close() {},
  };
  return sink;
}

describe('OrderedWriter', () => {
  it('keeps every record, in order, across a failed write and partial writes', async () => {
    const sink = flakySink(new Set([2]), 7);
    const seen: Error[] = [];
    const w = new OrderedWriter(sink, (e) => new Error(`wrapped: ${(e as Error).message}`), (e) => seen.push(e));
    w.push(Buffer.from('first record\n'));
    const failed = await w.flush().catch((e: unknown) => e);
    expect((failed as Error).message).toBe('wrapped: EIO: i/o error');
    expect(seen).toHaveLength(1);
    expect(w.error).toBe(failed);
    expect(w.pendingBytes).toBe('first record\n'.length - 7);
    w.push(Buffer.from('second record\n'));
    await w.flush();
    expect(w.error).toBeNull();
    expect(sink.data).toBe('first record\nsecond record\n');
    expect(w.pendingBytes).toBe(0);
  });

  it('a write that keeps failing rejects flush each time and loses nothing', async () => {
    const sink = flakySink(new Set([1, 2, 3]));
    const w = new OrderedWriter(sink, (e) => e as Error);
    w.push(Buffer.from('a\n'));
    await expect(w.flush()).rejects.toThrow('EIO');
    w.push(Buffer.from('b\n'));
    await expect(w.flush()).rejects.toThrow('EIO');
    await expect(w.flush()).rejects.toThrow('EIO');
    await w.close();
    expect(sink.data).toBe('a\nb\n');
  });

  it('in the background, retries a failing sink once a second and reports the failure once', async () => {
    const sink = flakySink(new Set([1, 2]));
    const seen: Error[] = [];
    const w = new OrderedWriter(sink, (e) => e as Error, (e) => seen.push(e));
    w.push(Buffer.from('a\n'));
    await new Promise((r) => setTimeout(r, 30));
    expect(sink.calls).toBe(1);
    w.push(Buffer.from('b\n'));
    await new Promise((r) => setTimeout(r, 30));
    expect(sink.calls).toBe(1); // no retry storm on every append
    await new Promise((r) => setTimeout(r, 1_100));
    expect(sink.calls).toBe(2); // retried after a second, failed again
    w.push(Buffer.from('c\n'));
    await new Promise((r) => setTimeout(r, 1_100));
    expect(sink.data).toBe('a\nb\nc\n');
    expect(w.error).toBeNull();
    expect(seen).toHaveLength(1);
  });

  it('concurrent flushes all wait for the data pushed before them', async () => {
    const sink = flakySink(new Set(), 3);
    const w = new OrderedWriter(sink, (e) => e as Error);
    w.push(Buffer.from('one\n'));
    const f1 = w.flush();
    w.push(Buffer.from('two\n'));
    const f2 = w.flush();
    await Promise.all([f1, f2]);
    expect(sink.data).toBe('one\ntwo\n');
  });
});
