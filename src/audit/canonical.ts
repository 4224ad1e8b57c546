// The one serialization the hash chain is computed over. A line on disk is exactly
// canonicalJson(line), so a verifier can recompute every byte: any edit, even one that keeps the JSON
// meaning (spacing, key order, a duplicate key that a naive reader would see first), is detected.

import { createHash } from 'node:crypto';

/** `prev` of the first line of every log. */
export const GENESIS = '0'.repeat(64);

/**
 * JSON with object keys sorted by code unit at every depth and no whitespace. The value is first
 * normalized through JSON (toJSON, undefined fields dropped) so that parse(canonical(x)) re-serializes
 * to the same text.
 */
export function canonicalJson(value: unknown): string {
  const plain: unknown = JSON.parse(JSON.stringify(value) ?? 'null');
  return serialize(plain);
}

function serialize(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + serialize(value[i]);
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  // A frozen object of primitives (the session's identity, the same on every line) is serialized once.
  const frozen = Object.isFrozen(obj);
  if (frozen) {
    const known = frozenJson.get(obj);
    if (known !== undefined) return known;
  }
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${serialize(v)}`;
    first = false;
  }
  out += '}';
  if (frozen && Object.values(obj).every((v) => v === null || typeof v !== 'object')) frozenJson.set(obj, out);
  return out;
}

const frozenJson = new WeakMap<object, string>();

/** SHA-256 (hex) of a line's canonical form without its `hash` field. */
export function lineHash(lineWithoutHash: Record<string, unknown>): string {
  return sha256(canonicalJson(lineWithoutHash));
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The writer's fast path: `body` must already be plain JSON data (strings, finite numbers, booleans,
 * null, arrays, plain objects), as sanitizeEntry produces. Serializes the top level once and returns
 * the hash and the canonical line with the hash inserted at its sorted place.
 */
export function sealLine(body: Record<string, unknown>): { hash: string; text: string } {
  const parts = Object.keys(body)
    .filter((k) => body[k] !== undefined && k !== 'hash')
    .sort()
    .map((k) => [k, `${JSON.stringify(k)}:${serialize(body[k])}`] as const);
  const hash = sha256(`{${parts.map((p) => p[1]).join(',')}}`);
  const at = parts.findIndex(([k]) => k > 'hash');
  const withHash = parts.map((p) => p[1]);
  withHash.splice(at < 0 ? withHash.length : at, 0, `"hash":${JSON.stringify(hash)}`);
  return { hash, text: `{${withHash.join(',')}}` };
}
