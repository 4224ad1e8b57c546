// Checks a whole audit log: every line must be canonical JSON whose hash matches its content, whose
// seq follows the previous line's and whose prev is the previous line's hash. That catches edited,
// deleted, inserted and reordered lines, a line cut short anywhere, and bad JSON. (Cutting lines off
// the END of the file is not visible in the chain itself: compare the count or the head hash with
// one published elsewhere, e.g. the job summary.)

import { createReadStream } from 'node:fs';
import { canonicalJson, GENESIS, lineHash } from './canonical.js';

export type VerifyResult = { ok: true; count: number; head: string } | { ok: false; line: number; reason: string };

/** Verifies the log at `path` reading it as a stream. Rejects only when the file cannot be read. */
export async function verifyAuditFile(path: string): Promise<VerifyResult> {
  const state = { expectedSeq: 1, prev: GENESIS, lineNo: 0 };
  let pending: Buffer = Buffer.alloc(0);
  const stream = createReadStream(path);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let buf = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
      let nl: number;
      while ((nl = buf.indexOf(0x0a)) >= 0) {
        state.lineNo++;
        const bad = checkLine(buf.subarray(0, nl).toString('utf8'), state);
        if (bad) return { ok: false, line: state.lineNo, reason: bad };
        buf = buf.subarray(nl + 1);
      }
      pending = Buffer.from(buf);
    }
  } finally {
    stream.destroy();
  }
  if (pending.length > 0) {
    state.lineNo++;
    return { ok: false, line: state.lineNo, reason: 'incomplete last line (no final newline)' };
  }
  return { ok: true, count: state.expectedSeq - 1, head: state.prev };
}

/** Verifies lines already in memory (e.g. read from the gateway's state store), in order. */
export function verifyAuditLines(lines: Iterable<string>): VerifyResult {
  const state = { expectedSeq: 1, prev: GENESIS };
  let lineNo = 0;
  for (const text of lines) {
    lineNo++;
    const bad = checkLine(text, state);
    if (bad) return { ok: false, line: lineNo, reason: bad };
  }
  return { ok: true, count: state.expectedSeq - 1, head: state.prev };
}

/** The reason the line breaks the chain, or null (advancing `state`). */
function checkLine(text: string, state: { expectedSeq: number; prev: string }): string | null {
  if (text.length === 0) return 'empty line';
  let line: unknown;
  try {
    line = JSON.parse(text);
  } catch {
    return 'bad JSON';
  }
  if (line === null || typeof line !== 'object' || Array.isArray(line)) return 'not a JSON object';
  const { hash, ...rest } = line as Record<string, unknown>;
  if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) return 'missing or malformed hash';
  if (lineHash(rest) !== hash) return 'hash does not match the line (edited)';
  if (canonicalJson(line) !== text) return 'line is not in canonical form (edited)';
  const seq = rest.seq;
  if (!Number.isSafeInteger(seq)) return 'missing or malformed seq';
  if (seq !== state.expectedSeq) {
    return `seq ${String(seq)} where ${state.expectedSeq} was expected (line deleted, inserted or reordered)`;
  }
  if (rest.prev !== state.prev) {
    return state.expectedSeq === 1
      ? 'prev is not the genesis value (lines missing at the start)'
      : 'prev does not match the hash of the previous line (chain broken)';
  }
  state.expectedSeq++;
  state.prev = hash;
  return null;
}
