// appendLater: the proxy hands its statement records over as builders and the log builds, seals and
// writes them a batch at a time. The chain must be the same as if each had been appended at once, in
// the order of the calls, and nothing handed over may be lost.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/log.js';
import type { AuditEntry } from '../../src/audit/types.js';
import { verifyAuditFile } from '../../src/audit/verify.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-batch-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function entry(rows: number): AuditEntry {
  return { time: '2026-11-30T04:00:00.000Z', session: 's', identity: { actor: 'octocat' }, role: 'r', type: 'sql', statement: 'SELECT $1', decision: 'allow', rows };
}

async function rowsOf(path: string): Promise<unknown[]> {
  return (await readFile(path, 'utf8')).trimEnd().split('\n').map((l) => (JSON.parse(l) as { rows?: number; type: string }).rows ?? 'event');
}

describe('AuditLog.appendLater', () => {
  it('keeps the order of the calls, interleaved with append(), and the chain verifies', async () => {
    const path = join(dir, 'a.jsonl');
    const log = await AuditLog.open(path);
    log.appendLater(() => entry(1));
    log.appendLater(() => entry(2));
    log.append({ ...entry(0), type: 'connect', rows: undefined });
    log.appendLater(() => entry(3));
    await log.close();
    expect(await rowsOf(path)).toEqual([1, 2, 'event', 3]);
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, count: 4 });
  });

  it('builds each record when its batch is sealed, not when it is handed over', async () => {
    const path = join(dir, 'b.jsonl');
    const log = await AuditLog.open(path);
    let built = 0;
    log.appendLater(() => (built++, entry(1)));
    expect(built).toBe(0);
    // count and head seal what is kept: they always describe the whole log.
    expect(log.count).toBe(1);
    expect(built).toBe(1);
    const head = log.head;
    await log.flush();
    const last = JSON.parse((await readFile(path, 'utf8')).trimEnd()) as { hash: string };
    expect(last.hash).toBe(head);
    await log.close();
  });

  it('is written without a flush within the batch interval', async () => {
    const path = join(dir, 'c.jsonl');
    const log = await AuditLog.open(path);
    log.appendLater(() => entry(1));
    await new Promise((r) => setTimeout(r, 50));
    expect(await rowsOf(path)).toEqual([1]);
    log.appendLater(() => entry(2));
    log.appendLater(() => entry(3));
    await new Promise((r) => setTimeout(r, 50));
    expect(await rowsOf(path)).toEqual([1, 2, 3]);
    await log.close();
  });

  it('a builder that throws leaves an error record in its place, and the records after it', async () => {
    const path = join(dir, 'd.jsonl');
    const log = await AuditLog.open(path);
    log.appendLater(() => entry(1));
    log.appendLater(() => {
      throw new Error('boom');
    });
    log.appendLater(() => entry(3));
    await log.close();
    const text = (await readFile(path, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(text.map((l) => l.rows ?? l.decision)).toEqual([1, 'error', 3]);
    expect(text[1]).toMatchObject({ type: 'session', decision: 'error', reason: 'an audit record could not be built: boom' });
    expect(await verifyAuditFile(path)).toMatchObject({ ok: true, count: 3 });
  });

  it('refuses new records after close, and close writes every record kept before it', async () => {
    const path = join(dir, 'e.jsonl');
    const log = await AuditLog.open(path);
    for (let i = 1; i <= 500; i++) log.appendLater(() => entry(i));
    await log.close();
    expect((await rowsOf(path)).length).toBe(500);
    expect(() => log.appendLater(() => entry(501))).toThrow(/append after close/);
  });
});
