// JSON masking of responses: field patterns, base64 kept decodable, watch lines, the size bound.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { compileFieldMasker } from '../../src/http/mask.js';
import { maskLines, maskPlan, MaskRefused, maskWhole } from '../../src/http/mask-stream.js';

const B64 = Buffer.from('[masked]').toString('base64');
const secret = { kind: 'Secret', metadata: { name: 'db', labels: { data: 'x' } }, data: { password: 'aHVudGVyMg==', user: 'YWRtaW4=' }, stringData: null };

describe('field patterns', () => {
  const m = compileFieldMasker(['data.*', '**.env[*].value']);
  it('a Secret, a SecretList and a watch event: data.* wherever the path ends with it', () => {
    expect(m.mask(secret).value).toEqual({ ...secret, data: { password: B64, user: B64 } });
    const list = m.mask({ kind: 'SecretList', items: [secret, secret] });
    expect((list.value as { items: { data: unknown }[] }).items.map((i) => i.data)).toEqual([{ password: B64, user: B64 }, { password: B64, user: B64 }]);
    expect(list.masked).toBe(4);
    expect((m.mask({ type: 'ADDED', object: secret }).value as { object: { data: unknown } }).object.data).toEqual({ password: B64, user: B64 });
  });
  it('env[*].value in every container; other fields untouched', () => {
    const pod = { spec: { containers: [{ name: 'a', env: [{ name: 'TOKEN', value: 'plain secret' }, { name: 'X', valueFrom: { secretKeyRef: {} } }] }] } };
    expect(m.mask(pod).value).toEqual({ spec: { containers: [{ name: 'a', env: [{ name: 'TOKEN', value: '[masked]' }, { name: 'X', valueFrom: { secretKeyRef: {} } }] }] } });
  });
  it('a masked object is masked leaf by leaf; __proto__ stays a plain key', () => {
    const v = JSON.parse('{"data":{"a":{"b":[1,"x"]},"__proto__":{"polluted":"yes"}}}');
    const out = compileFieldMasker(['data']).mask(v).value as Record<string, unknown>;
    expect(JSON.stringify(out)).toBe('{"data":{"a":{"b":["[masked]","[masked]"]},"__proto__":{"polluted":"[masked]"}}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('streams', () => {
  const m = compileFieldMasker(['data.*']);
  it('a whole body under the bound is masked; over it is refused', async () => {
    const body = Buffer.from(JSON.stringify(secret));
    expect(JSON.parse((await maskWhole(Readable.from([body]), m, 1000)).toString()).data).toEqual({ password: B64, user: B64 });
    await expect(maskWhole(Readable.from([body]), m, 50)).rejects.toThrow(new MaskRefused('the JSON body is larger than the 50-byte masking bound'));
    await expect(maskWhole(Readable.from([Buffer.from('{"data":')]), m, 50)).rejects.toThrow('the body says JSON but does not parse');
  });
  it('watch lines are masked one by one, split anywhere', async () => {
    const text = `${JSON.stringify({ type: 'ADDED', object: secret })}\n${JSON.stringify({ type: 'DELETED', object: secret })}\n`;
    const parts = [text.slice(0, 7), text.slice(7, 100), text.slice(100)].map((t) => Buffer.from(t));
    let out = '';
    await pipeline(Readable.from(parts), maskLines(m, 10_000), async function* (src) { for await (const c of src) out += c.toString(); });
    expect(out.split('\n').filter(Boolean).map((l) => JSON.parse(l).object.data)).toEqual([{ password: B64, user: B64 }, { password: B64, user: B64 }]);
    expect(out).not.toContain('aHVudGVyMg==');
  });
  it('a line over the bound fails the stream', async () => {
    await expect(pipeline(Readable.from([Buffer.from('{"data":{"a":"'.padEnd(200, 'x'))]), maskLines(m, 100), async function* (src) { for await (const _ of src); })).rejects.toThrow('a line of the stream is longer than the 100-byte masking bound');
  });
  it('plans: protobuf and compressed JSON are refused, large JSON by its length, text passes', () => {
    expect(maskPlan({ 'content-type': 'application/vnd.kubernetes.protobuf' }, 'GET', 200, false, 100)).toEqual({ kind: 'refuse', reason: 'a application/vnd.kubernetes.protobuf body cannot be masked (ask for JSON)' });
    expect(maskPlan({ 'content-type': 'application/json', 'content-encoding': 'gzip' }, 'GET', 200, false, 100)).toEqual({ kind: 'refuse', reason: 'a gzip-encoded JSON body cannot be masked' });
    expect(maskPlan({ 'content-type': 'application/json', 'content-length': '101' }, 'GET', 200, false, 100)).toEqual({ kind: 'refuse', reason: 'the JSON body (101 bytes) is larger than the 100-byte masking bound' });
    expect(maskPlan({ 'content-type': 'application/json' }, 'GET', 200, true, 100)).toEqual({ kind: 'lines', limit: 100 });
    expect(maskPlan({ 'content-type': 'text/plain' }, 'GET', 200, false, 100)).toEqual({ kind: 'pass' });
    expect(maskPlan({ 'content-type': 'application/json' }, 'HEAD', 200, false, 100)).toEqual({ kind: 'pass' });
  });
});
