import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/log.js';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { run } from '../../src/cli/audit.js';

let dir: string;
let good: string;
let text: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-verify-'));
  good = join(dir, 'good.jsonl');
  const log = await AuditLog.open(good);
  for (let i = 1; i <= 6; i++) {
    log.append({
      time: `2026-11-30T04:00:0${i}.000Z`,
      session: 'sess1',
      identity: { actor: 'octocat' },
      role: 'ci',
      type: 'sql',
      statement: `SELECT c${i} FROM public.t WHERE id = $1`,
      decision: i === 3 ? 'deny' : 'allow',
      rows: i,
    });
  }
  await log.close();
  text = await readFile(good, 'utf8');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines = () => text.trimEnd().split('\n');
const join_ = (ls: string[]) => `${ls.join('\n')}\n`;

async function check(content: string) {
  const path = join(dir, `case-${Math.random().toString(36).slice(2)}.jsonl`);
  await writeFile(path, content);
  return verifyAuditFile(path);
}

describe('verifyAuditFile', () => {
  it('accepts an intact chain and reports the count and head', async () => {
    const last = JSON.parse(lines()[5]!) as { hash: string };
    expect(await verifyAuditFile(good)).toEqual({ ok: true, count: 6, head: last.hash });
  });

  it('accepts an empty file as 0 records', async () => {
    expect(await check('')).toMatchObject({ ok: true, count: 0 });
  });

  it('detects an edited value', async () => {
    const ls = lines();
    ls[2] = ls[2]!.replace('"decision":"deny"', '"decision":"allow"');
    expect(await check(join_(ls))).toEqual({ ok: false, line: 3, reason: 'hash does not match the line (edited)' });
  });

  it('detects an edit that keeps the JSON meaning (spacing, key order)', async () => {
    const ls = lines();
    ls[1] = ls[1]!.replace('{', '{ ');
    expect(await check(join_(ls))).toEqual({ ok: false, line: 2, reason: 'line is not in canonical form (edited)' });
  });

  it('detects a duplicate key added to mislead readers', async () => {
    const ls = lines();
    ls[3] = ls[3]!.replace('{', '{"decision":"deny",');
    expect(await check(join_(ls))).toEqual({ ok: false, line: 4, reason: 'line is not in canonical form (edited)' });
  });

  it('detects a deleted line', async () => {
    const ls = lines();
    ls.splice(3, 1);
    expect(await check(join_(ls))).toEqual({
      ok: false,
      line: 4,
      reason: 'seq 5 where 4 was expected (line deleted, inserted or reordered)',
    });
  });

  it('detects a deleted first line', async () => {
    const ls = lines();
    ls.shift();
    expect(await check(join_(ls))).toEqual({
      ok: false,
      line: 1,
      reason: 'seq 2 where 1 was expected (line deleted, inserted or reordered)',
    });
  });

  it('detects an inserted line (a copy of another)', async () => {
    const ls = lines();
    ls.splice(2, 0, ls[1]!);
    expect(await check(join_(ls))).toEqual({
      ok: false,
      line: 3,
      reason: 'seq 2 where 3 was expected (line deleted, inserted or reordered)',
    });
  });

  it('detects swapped lines', async () => {
    const ls = lines();
    [ls[1], ls[2]] = [ls[2]!, ls[1]!];
    expect(await check(join_(ls))).toEqual({
      ok: false,
      line: 2,
      reason: 'seq 3 where 2 was expected (line deleted, inserted or reordered)',
    });
  });

  it('detects a forged line with a correct seq and its own valid hash (prev no longer matches)', async () => {
    const forgedLog = join(dir, 'forged-src.jsonl');
    const log = await AuditLog.open(forgedLog);
    log.append({ time: 'x', session: 'evil', identity: {}, role: 'ci', type: 'sql', decision: 'allow' });
    log.append({ time: 'x', session: 'evil', identity: {}, role: 'ci', type: 'sql', decision: 'allow' });
    await log.close();
    const forged = (await readFile(forgedLog, 'utf8')).trimEnd().split('\n')[1]!; // seq 2, prev of evil chain
    const ls = lines();
    ls[1] = forged;
    expect(await check(join_(ls))).toEqual({
      ok: false,
      line: 2,
      reason: 'prev does not match the hash of the previous line (chain broken)',
    });
  });

  it('detects a line truncated in the middle', async () => {
    const ls = lines();
    ls[2] = ls[2]!.slice(0, 40);
    expect(await check(join_(ls))).toEqual({ ok: false, line: 3, reason: 'bad JSON' });
  });

  it('detects an empty line, a non-object, a missing final newline', async () => {
    const ls = lines();
    expect(await check(join_([ls[0]!, '', ...ls.slice(1)]))).toEqual({ ok: false, line: 2, reason: 'empty line' });
    expect(await check(join_([ls[0]!, '[1,2]']))).toEqual({ ok: false, line: 2, reason: 'not a JSON object' });
    expect(await check(ls.join('\n'))).toEqual({ ok: false, line: 6, reason: 'incomplete last line (no final newline)' });
  });

  it('detects a CRLF conversion', async () => {
    expect(await check(text.replace(/\n/g, '\r\n'))).toEqual({ ok: false, line: 1, reason: 'line is not in canonical form (edited)' });
  });

  it('detects every one of 600 random single-byte edits, and names the edited line', async () => {
    const bytes = Buffer.from(text, 'utf8');
    const starts = [0];
    for (let i = 0; i < bytes.length - 1; i++) if (bytes[i] === 0x0a) starts.push(i + 1);
    const lineOf = (pos: number) => starts.filter((s0) => s0 <= pos).length;
    let seed = 12345;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const path = join(dir, 'fuzz.jsonl');
    for (let i = 0; i < 600; i++) {
      const pos = rnd(bytes.length - 1); // the final newline is covered by the "no final newline" case
      const mutated = Buffer.from(bytes);
      let b = rnd(256);
      if (b === mutated[pos]) b = (b + 1) % 256;
      mutated[pos] = b;
      await writeFile(path, mutated);
      const r = await verifyAuditFile(path);
      expect(r.ok, `byte ${pos} -> ${b}`).toBe(false);
      // A newline written into a line splits it there: the break is found on that line or its new half.
      if (!r.ok) expect([lineOf(pos), lineOf(pos) + 1]).toContain(r.line);
    }
  });

  it('rejects when the file does not exist', async () => {
    await expect(verifyAuditFile(join(dir, 'missing.jsonl'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('tollgate audit verify', () => {
  function io() {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
  }

  it('exit 0 and the count when intact', async () => {
    const c = io();
    expect(await run(['verify', good], c.io)).toBe(0);
    expect(c.out).toEqual(['ok: 6 records, chain intact']);
    expect(c.err).toEqual([]);
  });

  it('tolerates a leading "audit" argument', async () => {
    const c = io();
    expect(await run(['audit', 'verify', good], c.io)).toBe(0);
    expect(c.out).toEqual(['ok: 6 records, chain intact']);
  });

  it('exit 1 naming the first broken line', async () => {
    const ls = lines();
    ls.splice(4, 1);
    const path = join(dir, 'broken.jsonl');
    await writeFile(path, join_(ls));
    const c = io();
    expect(await run(['verify', path], c.io)).toBe(1);
    expect(c.out).toEqual(['line 5: seq 6 where 5 was expected (line deleted, inserted or reordered)']);
  });

  it('exit 2 for a missing file and for bad usage', async () => {
    const c = io();
    expect(await run(['verify', join(dir, 'nope.jsonl')], c.io)).toBe(2);
    expect(c.err).toEqual([`tollgate audit verify: cannot read ${join(dir, 'nope.jsonl')}: no such file`]);
    const d = io();
    expect(await run(['verify'], d.io)).toBe(2);
    expect(d.err).toEqual([
      'usage: tollgate audit verify FILE.jsonl\n' +
        '       tollgate audit verify --state URL --session ID --public-key F.pem\n' +
        '       tollgate audit export --state URL --session ID [--out F.jsonl]',
    ]);
    const e = io();
    expect(await run(['check', good], e.io)).toBe(2);
    expect(await run(['verify', dir], e.io)).toBe(2);
    expect(e.err[1]).toBe(`tollgate audit verify: cannot read ${dir}: is a directory`);
  });
});
