// Result masking (fields, SQL columns by name, secrets, the size bound), argument shapes, and the
// audit log's own cleaning of `mcp` fields (a caller cannot smuggle values in as a "shape").
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sanitizeEntry } from '../../src/audit/redact.js';
import { maskResult, ResultRefused, type MaskOptions } from '../../src/mcp/mask.js';
import { compileMcpSection } from '../../src/mcp/policy.js';
import { argumentShape } from '../../src/mcp/shape.js';

const role = compileMcpSection('r', { masks: [{ fields: ['password', 'user.email'], strategy: 'redact' }, { fields: ['ssn'], strategy: 'hash' }] });
const base: MaskOptions = { fieldMasks: role.masks, secretPatterns: [], secrets: ['the-session-secret'], maskKey: randomBytes(32), maxBytes: 10_000 };
const text = (t: string) => ({ content: [{ type: 'text', text: t }] });

describe('result masking', () => {
  it('a bare field name matches at any depth, a dotted path only there', () => {
    const r = maskResult(text(JSON.stringify({ password: 'a', email: 'x@y.z', user: { email: 'u@v.w', password: 'b' }, list: [{ user: { email: 'q@r.s' } }] })), base);
    expect(JSON.parse((r.result.content[0] as { text: string }).text)).toEqual({
      password: '***', email: 'x@y.z', user: { email: '***', password: '***' }, list: [{ user: { email: 'q@r.s' } }],
    });
    expect(r.report.maskedFields).toBe(3);
  });

  it('hash is keyed and stable within a session; numbers and objects are masked too', () => {
    const once = maskResult(text('{"ssn":"123-45-6789","n":{"ssn":42}}'), base).result.content[0] as { text: string };
    const again = maskResult(text('{"ssn":"123-45-6789"}'), base).result.content[0] as { text: string };
    const doc = JSON.parse(once.text);
    expect(doc.ssn).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.parse(again.text).ssn).toBe(doc.ssn);
    expect(doc.n.ssn).toMatch(/^[0-9a-f]{16}$/);
  });

  it('the session secret and token shapes are replaced in keys and values', () => {
    const r = maskResult({ content: [{ type: 'text', text: 'x the-session-secret y' }], meta: { 'the-session-secret': 1 } }, base);
    expect(JSON.stringify(r.result)).toBe('{"content":[{"type":"text","text":"x [secret] y"}],"meta":{"[secret]":1}}');
  });

  it('SQL rows: masked columns by name; an unknown column or non-JSON text refuses the result', () => {
    const sql = { ...base, sqlMasks: new Map([['email', 'partial' as const]]), sqlOutputs: new Set(['name', 'email']) };
    const r = maskResult(text(JSON.stringify([{ name: 'Ada', email: 'ada@example.com' }], null, 2)), sql);
    expect(JSON.parse((r.result.content[0] as { text: string }).text)).toEqual([{ name: 'Ada', email: 'a***@example.com' }]);
    expect(() => maskResult(text(JSON.stringify([{ name: 'Ada', Email: 'ada@example.com' }])), sql)).toThrow(
      new ResultRefused('the SQL result has a column "Email" the statement\'s analysis does not name, so its masks cannot be trusted'),
    );
    expect(() => maskResult(text('name | email\nAda | ada@example.com'), sql)).toThrow(ResultRefused);
    expect(() => maskResult(text('{"rows": 3}'), sql)).toThrow(ResultRefused);
  });

  it('over the bound: refused, with the size', () => {
    expect(() => maskResult(text('x'.repeat(20_000)), base)).toThrow(new ResultRefused("the result is 20039 bytes, over the policy's max_result_bytes of 10000"));
  });
});

describe('argument shapes and the audit log', () => {
  it('values become their JSON types', () => {
    expect(argumentShape({ a: 'x', b: 1, c: [true], d: { e: null }, f: [] })).toEqual({ a: 'string', b: 'number', c: ['boolean'], d: { e: 'null' }, f: [] });
  });

  it('the audit log re-derives shapes: a value passed as a "shape" never reaches a line', () => {
    const e = sanitizeEntry({
      time: 't', session: 's', identity: {}, role: 'r', type: 'mcp', decision: 'allow',
      mcp: { method: 'tools/call', server: 'x', direction: 'request', tool: 'echo', arguments: { message: 'hunter2', n: 'number', deep: { a: { b: { c: { d: 'x' } } } } } },
    } as never, ['hunter2']);
    expect(e.type).toBe('mcp');
    expect(e.mcp).toEqual({ method: 'tools/call', server: 'x', direction: 'request', tool: 'echo', arguments: { message: 'string', n: 'number', deep: { a: { b: { c: '…' } } } } });
  });
});
