// Rewrites one column value of a DataRow for a mask strategy. It sits in the row path, so it works
// on bytes, allocates little and never logs.
//
// What each strategy returns (SQL NULL stays NULL for every strategy: nullness is not masked):
//
//   null     NULL.
//   redact   text format: `***`.
//   hash     text format: the first 16 hex digits (64 bits) of HMAC-SHA-256(key, value bytes). Equal
//            values hash equally within a session (joins and GROUP BY on the masked column still
//            work), and without the per-session key no dictionary of likely values can be checked.
//   partial  text format: an email keeps its first character and its domain (`a***@example.com`);
//            any other value of 4 or more characters keeps its first character (`J***`); shorter
//            values become `***` (one character of three is too much of it).
//
// Types whose clients parse the text, so the replacement must still parse:
//   json, jsonb  the replacement is a JSON string: `"***"`, `"<hex>"`; `partial` gives `"***"`
//                (a JSON document has no single "first character" worth keeping).
//   text-like arrays (text[], varchar[], bpchar[], name[])  `{***}`, `{<hex>}`, `{***}`.
// Binary format: text-like types (text, varchar, bpchar, name, unknown) are the same bytes as in text
// format, so they get the same replacement; json/jsonb likewise (jsonb with its version byte).
// Any other type in binary format (int4, uuid, bytea, arrays, …) becomes NULL, because no byte
// string we could write would both decode as that type and hide the value.

import { createHmac } from 'node:crypto';
import type { MaskStrategy } from '../policy/types.js';

export const OID = {
  name: 19,
  text: 25,
  json: 114,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  jsonb: 3802,
  nameArray: 1003,
  textArray: 1009,
  bpcharArray: 1014,
  varcharArray: 1015,
} as const;

/** Hex digits of the HMAC kept by `hash`. */
export const HASH_HEX_DIGITS = 16;
/** Minimum key length for `hash`: a short key would make a dictionary search feasible again. */
export const MIN_HASH_KEY_BYTES = 16;

const TEXT_LIKE = new Set<number>([OID.text, OID.varchar, OID.bpchar, OID.name, OID.unknown]);
const TEXT_ARRAYS = new Set<number>([OID.textArray, OID.varcharArray, OID.bpcharArray, OID.nameArray]);
const JSONB_VERSION = 1;

// Shared replacements: callers copy them into the new DataRow and must not modify them.
const STARS = Buffer.from('***');
const STARS_JSON = Buffer.from('"***"');
const STARS_JSONB = Buffer.from('\x01"***"', 'latin1');
const STARS_ARRAY = Buffer.from('{***}');

type Shape = 'text' | 'json' | 'jsonb-binary' | 'array' | 'opaque';

/** How a value of this type in this format must look after masking. */
function shapeOf(format: 0 | 1, typeOid: number): Shape {
  if (typeOid === OID.json) return 'json';
  if (typeOid === OID.jsonb) return format === 1 ? 'jsonb-binary' : 'json';
  if (format === 0) return TEXT_ARRAYS.has(typeOid) ? 'array' : 'text';
  return TEXT_LIKE.has(typeOid) ? 'text' : 'opaque';
}

function redacted(shape: Shape): Buffer | null {
  switch (shape) {
    case 'text':
      return STARS;
    case 'json':
      return STARS_JSON;
    case 'jsonb-binary':
      return STARS_JSONB;
    case 'array':
      return STARS_ARRAY;
    case 'opaque':
      return null;
  }
}

function hashed(shape: Shape, value: Buffer, key: Buffer): Buffer | null {
  if (shape === 'opaque') return null;
  if (key.length < MIN_HASH_KEY_BYTES) {
    throw new TypeError(`mask key for 'hash' must be at least ${MIN_HASH_KEY_BYTES} bytes`);
  }
  // Hash the JSON text, not jsonb's version byte, so text and binary results agree.
  const input = shape === 'jsonb-binary' && value[0] === JSONB_VERSION ? value.subarray(1) : value;
  const hex = createHmac('sha256', key).update(input).digest('hex').slice(0, HASH_HEX_DIGITS);
  switch (shape) {
    case 'text':
      return Buffer.from(hex, 'latin1');
    case 'json':
      return Buffer.from(`"${hex}"`, 'latin1');
    case 'jsonb-binary':
      return Buffer.from(`\x01"${hex}"`, 'latin1');
    case 'array':
      return Buffer.from(`{${hex}}`, 'latin1');
  }
}

/** Byte length of the UTF-8 character starting at `b[i]` (1 for anything malformed). */
function utf8CharLength(b: Buffer, i: number): number {
  const c = b[i]!;
  const n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
  return i + n <= b.length ? n : 1;
}

/** Number of UTF-8 characters in `b`, counting no further than `limit`. */
function countChars(b: Buffer, limit: number): number {
  let n = 0;
  for (let i = 0; i < b.length && n < limit; i += utf8CharLength(b, i)) n++;
  return n;
}

function partialText(value: Buffer, typeOid: number): Buffer {
  let v = value;
  if (typeOid === OID.bpchar) {
    // char(n) pads with spaces; the padding is not part of the value.
    let end = v.length;
    while (end > 0 && v[end - 1] === 0x20) end--;
    v = v.subarray(0, end);
  }
  const at = v.indexOf(0x40 /* @ */);
  if (at > 0 && at === v.lastIndexOf(0x40) && at < v.length - 1 && !v.includes(0x20)) {
    const first = v.subarray(0, utf8CharLength(v, 0));
    return Buffer.concat([first, STARS, v.subarray(at)]);
  }
  if (countChars(v, 4) < 4) return STARS;
  return Buffer.concat([v.subarray(0, utf8CharLength(v, 0)), STARS]);
}

function partial(shape: Shape, value: Buffer, typeOid: number): Buffer | null {
  switch (shape) {
    case 'text':
      return partialText(value, typeOid);
    default:
      // JSON documents and arrays have no meaningful "first character": redact them.
      return redacted(shape);
  }
}

/**
 * The masked form of one DataRow value. `value` null is SQL NULL; the result null is SQL NULL.
 * `format` is the column's result format (0 text, 1 binary), `typeOid` its type from RowDescription,
 * `key` the session's mask key (used by `hash`). Returned buffers may be shared: do not modify them.
 * Throws TypeError for an unknown strategy or a short key (the caller fails closed).
 */
export function maskValue(strategy: MaskStrategy, value: Buffer | null, format: 0 | 1, typeOid: number, key: Buffer): Buffer | null {
  switch (strategy) {
    case 'null':
      return null;
    case 'redact':
      return value === null ? null : redacted(shapeOf(format, typeOid));
    case 'hash':
      return value === null ? null : hashed(shapeOf(format, typeOid), value, key);
    case 'partial':
      return value === null ? null : partial(shapeOf(format, typeOid), value, typeOid);
    default:
      throw new TypeError(`unknown mask strategy ${JSON.stringify(strategy as string)}`);
  }
}
