// Masking applied to an upstream response on its way to the client: a JSON body is parsed and
// masked under a size bound (beyond it the response is refused, never passed on unmasked); a watch
// stream (one JSON object per line) is masked line by line, each line under the same bound. What
// cannot be masked (compressed or protobuf bodies) is refused.
import { Transform, type TransformCallback } from 'node:stream';
import type { FieldMasker } from './mask.js';

export type MaskPlan =
  | { kind: 'pass' }
  | { kind: 'refuse'; reason: string }
  | { kind: 'whole'; limit: number }
  | { kind: 'lines'; limit: number };

/** How to treat a response of an upstream that masks fields. */
export function maskPlan(headers: Record<string, string | string[] | undefined>, method: string, status: number, watch: boolean, limit: number): MaskPlan {
  if (method === 'HEAD' || status === 204 || status === 304) return { kind: 'pass' };
  const type = String(headers['content-type'] ?? '').toLowerCase();
  const encoding = String(headers['content-encoding'] ?? 'identity').toLowerCase();
  if (/protobuf|cbor|msgpack/.test(type)) return { kind: 'refuse', reason: `a ${type.split(';')[0]} body cannot be masked (ask for JSON)` };
  const json = /^application\/(?:[a-z0-9.+-]*\+)?json\b/.test(type) || type === '';
  if (!json) return { kind: 'pass' };
  if (encoding !== 'identity') return { kind: 'refuse', reason: `a ${encoding}-encoded JSON body cannot be masked` };
  const length = Number(headers['content-length'] ?? NaN);
  if (watch || /stream=watch/.test(type)) return { kind: 'lines', limit };
  if (Number.isFinite(length) && length > limit) return { kind: 'refuse', reason: `the JSON body (${length} bytes) is larger than the ${limit}-byte masking bound` };
  return { kind: 'whole', limit };
}

export class MaskRefused extends Error {}

/** Reads a whole JSON body (at most `limit` bytes) and returns it masked. */
export async function maskWhole(body: AsyncIterable<Buffer>, masker: FieldMasker, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    size += c.length;
    if (size > limit) throw new MaskRefused(`the JSON body is larger than the ${limit}-byte masking bound`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return Buffer.from(text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MaskRefused('the body says JSON but does not parse');
  }
  return Buffer.from(JSON.stringify(masker.mask(value).value));
}

/** One JSON value per line in, the same lines masked out; a line over `limit` or not JSON fails the stream. */
export function maskLines(masker: FieldMasker, limit: number): Transform {
  let pending: Buffer[] = [];
  let size = 0;
  const emit = (t: Transform, line: Buffer) => {
    const text = line.toString('utf8');
    if (text.trim() === '') return t.push(line);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new MaskRefused('a line of the stream is not JSON');
    }
    t.push(`${JSON.stringify(masker.mask(value).value)}`);
  };
  return new Transform({
    transform(this: Transform, chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      try {
        let start = 0;
        for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, start)) {
          pending.push(chunk.subarray(start, i));
          emit(this, Buffer.concat(pending));
          this.push('\n');
          pending = [];
          size = 0;
          start = i + 1;
        }
        const rest = chunk.subarray(start);
        size += rest.length;
        if (size > limit) throw new MaskRefused(`a line of the stream is longer than the ${limit}-byte masking bound`);
        if (rest.length) pending.push(rest);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(this: Transform, cb: TransformCallback) {
      try {
        if (pending.length) emit(this, Buffer.concat(pending));
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
}
