// The one serialization the hash chain is computed over. A line on disk is exactly
// canonicalJson(line), so a verifier can recompute every byte: any edit, even one that keeps the JSON
// meaning (spacing, key order, a duplicate key that a naive reader would see first), is detected.

import * as cryptoModule from 'node:crypto';
import { createHash } from 'node:crypto';
import { memoize } from '../cache.js';

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
    if (value.length === 0) return '[]';
    // A frozen array of frozen flat objects (an access list the policy engine hands out for every
    // statement of a shape) cannot change: serialized once.
    const frozen = Object.isFrozen(value);
    if (frozen) {
      const known = frozenJson.get(value);
      if (known !== undefined) return known;
    }
    let out = `[${serialize(value[0])}`;
    for (let i = 1; i < value.length; i++) out += `,${serialize(value[i])}`;
    out += ']';
    if (frozen && value.every((v) => v === null || typeof v !== 'object' || frozenJson.has(v))) frozenJson.set(value, out);
    return out;
  }
  const obj = value as Record<string, unknown>;
  // A frozen object of primitives (the session's identity, the same on every line) is serialized once.
  const frozen = Object.isFrozen(obj);
  if (frozen) {
    const known = frozenJson.get(obj);
    if (known !== undefined) return known;
  }
  const keys = Object.keys(obj);
  // Keys in code-unit order: the default sort compares UTF-16 code units, which is that order.
  if (keys.length > 1) keys.sort();
  let out = '{';
  let first = true;
  let primitives = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    if (v !== null && typeof v === 'object') primitives = false;
    out += first ? `${JSON.stringify(k)}:${serialize(v)}` : `,${JSON.stringify(k)}:${serialize(v)}`;
    first = false;
  }
  out += '}';
  if (frozen && primitives) frozenJson.set(obj, out);
  return out;
}

const frozenJson = new WeakMap<object, string>();

/** SHA-256 (hex) of a line's canonical form without its `hash` field. */
export function lineHash(lineWithoutHash: Record<string, unknown>): string {
  return sha256(canonicalJson(lineWithoutHash));
}

/** crypto.hash (Node ≥ 20.12) is a one-shot SHA-256 without a Hash object per line. */
const oneShot = (cryptoModule as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

function sha256(text: string): string {
  return oneShot ? oneShot('sha256', text, 'hex') : createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The writer's fast path: `body` must already be plain JSON data (strings, finite numbers, booleans,
 * null, arrays, plain objects), as sanitizeEntry produces. Serializes each top-level field once, in
 * sorted key order, into the part before `hash` and the part after it; the hash is computed over the line
 * without `hash` (the two parts joined), and the line is the two parts with the hash
 * between them. Equal to canonicalJson({...body, hash}) byte for byte.
 */
export function sealLine(body: Record<string, unknown>): { hash: string; text: string } {
  // Fields gathered in arrays and joined once: the joins are flat strings, so hashing and writing
  // the line do not each walk a tree of small concatenations.
  const fieldsBefore: string[] = [];
  const fieldsAfter: string[] = [];
  if (onlyLineFields(body)) {
    // The usual case: the fields of an AuditLine, walked in their precomputed sorted order.
    for (let i = 0; i < LINE_FIELDS.length; i++) {
      const v = body[LINE_FIELDS[i]!];
      if (v === undefined) continue;
      const text = typeof v === 'string' ? (LINE_REPEATS[i] ? quoteRepeated(v) : JSON.stringify(v)) : serialize(v);
      (i < HASH_AT ? fieldsBefore : fieldsAfter).push(LINE_PREFIXES[i]! + text);
    }
  } else {
    const keys = Object.keys(body);
    keys.sort();
    for (const k of keys) {
      if (k === 'hash') continue;
      const v = body[k];
      if (v === undefined) continue;
      (k < 'hash' ? fieldsBefore : fieldsAfter).push(`${JSON.stringify(k)}:${serialize(v)}`);
    }
  }
  const before = fieldsBefore.join(',');
  const after = fieldsAfter.join(',');
  const hash = sha256(`{${before}${before !== '' && after !== '' ? ',' : ''}${after}}`);
  const hashField = `"hash":"${hash}"`;
  const text = `{${before === '' ? '' : `${before},`}${hashField}${after === '' ? '' : `,${after}`}}`;
  return { hash, text };
}

/** AuditLine's fields other than `hash`, in code-unit order, with their serialized `"key":` prefixes. */
const LINE_FIELDS: readonly string[] = [
  'accesses', 'approval', 'decision', 'durationMs', 'identity', 'masked', 'prev', 'reason', 'role', 'rows',
  'rule', 'seq', 'session', 'sqlstate', 'statement', 'time', 'type',
].sort();
const LINE_FIELD_SET = new Set(LINE_FIELDS);
const LINE_PREFIXES = LINE_FIELDS.map((k) => `${JSON.stringify(k)}:`);
/**
 * Fields whose string is usually the same as on the lines before (a session's statements share their
 * role, session, rule, reason and, by shape, their statement text): their JSON is remembered.
 */
const LINE_REPEATS: readonly boolean[] = LINE_FIELDS.map((k) => ['decision', 'reason', 'role', 'rule', 'session', 'sqlstate', 'statement', 'type'].includes(k));
const quoteRepeated = memoize((text: string) => JSON.stringify(text), 1000);

/** Index of the first field that sorts after `hash`. */
const HASH_AT = LINE_FIELDS.findIndex((k) => k > 'hash');

function onlyLineFields(body: Record<string, unknown>): boolean {
  for (const k in body) if (!LINE_FIELD_SET.has(k) && Object.prototype.hasOwnProperty.call(body, k)) return false;
  return true;
}
