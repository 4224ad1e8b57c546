// The PostgreSQL v3 wire protocol as pure, incremental parsers and writers, both directions.
// No I/O here: the connection feeds chunks in and writes what the writers return.
//
// Both parsers check a message's declared length against a maximum BEFORE allocating anything, and
// every emitted message keeps its raw bytes (a subarray of the input chunk when the message lies
// inside one chunk) so allowed traffic is forwarded without copying.

import { ProtocolError } from './errors.js';

/** PostgreSQL's own cap for a data message (PQ_LARGE_MESSAGE_LIMIT is 1 GiB - 1). */
export const MAX_MESSAGE_LENGTH = 0x3fffffff;
/** Startup packets are tiny; PostgreSQL caps them at 10 000 bytes (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_LENGTH = 10_000;
/** A password or SASL message during authentication (PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH). */
export const MAX_AUTH_MESSAGE_LENGTH = 65_535;
/** Every message that carries no SQL and no data (PostgreSQL's PQ_SMALL_MESSAGE_LIMIT). */
export const MAX_SMALL_MESSAGE_LENGTH = 10_000;
/**
 * Default cap for a message carrying SQL text (Query, Parse) or call arguments (FunctionCall).
 * Lower than PostgreSQL's 1 GiB because the proxy analyses every statement synchronously: a
 * 32 MiB statement held the event loop (every session) for seconds. Bind and CopyData carry
 * values, not SQL, and keep MAX_MESSAGE_LENGTH.
 */
export const DEFAULT_MAX_STATEMENT_LENGTH = 16 << 20;

export const PROTOCOL_3_0 = 196608; // 3 << 16
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;

// ---------------------------------------------------------------------------------------------
// Frontend (client → server) messages

export type FrontendMessage =
  | { type: 'startup'; raw: Buffer; protocol: number; params: Map<string, string> }
  | { type: 'sslRequest'; raw: Buffer }
  | { type: 'gssEncRequest'; raw: Buffer }
  | { type: 'cancelRequest'; raw: Buffer; pid: number; secret: Buffer }
  | { type: 'query'; raw: Buffer; sql: string }
  | { type: 'parse'; raw: Buffer; name: string; sql: string; paramTypes: number[] }
  | { type: 'bind'; raw: Buffer; portal: string; statement: string; resultFormats: number[] }
  | { type: 'describe'; raw: Buffer; target: 'S' | 'P'; name: string }
  | { type: 'execute'; raw: Buffer; portal: string; maxRows: number }
  | { type: 'close'; raw: Buffer; target: 'S' | 'P'; name: string }
  | { type: 'sync'; raw: Buffer }
  | { type: 'flush'; raw: Buffer }
  | { type: 'terminate'; raw: Buffer }
  | { type: 'functionCall'; raw: Buffer }
  | { type: 'copyData'; raw: Buffer }
  | { type: 'copyDone'; raw: Buffer }
  | { type: 'copyFail'; raw: Buffer; message: string }
  /** 'p': PasswordMessage / SASLInitialResponse / SASLResponse — meaning depends on the auth step. */
  | { type: 'password'; raw: Buffer; body: Buffer };

/** A reader over one message body that throws ProtocolError instead of reading past the end. */
class BodyReader {
  private pos = 0;
  constructor(private readonly buf: Buffer, private readonly what: string) {}
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  byte(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  bytes(n: number): Buffer {
    if (n < 0) throw new ProtocolError(`${this.what}: negative length ${n}`);
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new ProtocolError(`${this.what}: unterminated string`);
    const v = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return v;
  }
  rest(): Buffer {
    const v = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return v;
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  end(): void {
    if (this.pos !== this.buf.length) throw new ProtocolError(`${this.what}: ${this.buf.length - this.pos} trailing bytes`);
  }
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new ProtocolError(`${this.what}: truncated`);
  }
}

/**
 * Joins chunks and cuts complete frames. `headerLen` is 5 for typed messages (code + int32 length)
 * and 4 for startup-phase packets (int32 length only). Lengths include themselves, never the code.
 */
class Framer {
  /** The start of a message that did not fit its chunk: its pieces, joined once it is complete. */
  private parts: Buffer[] = [];
  private partsLen = 0;
  /** Total length of the pending message (header included), once its header is known. */
  private partTotal = -1;

  /**
   * Calls `onFrame(raw)` for each complete frame in `chunk` plus buffered bytes. `check` sees each
   * frame's type byte (-1 for an untyped packet) and declared length as soon as its header is
   * complete, before its body is buffered, and throws to refuse it.
   */
  feed(chunk: Buffer, headerLen: () => 4 | 5, check: LengthCheck, onFrame: (raw: Buffer) => void): void {
    let off = 0;
    if (this.partsLen > 0) {
      // Finish the pending message with only the bytes it needs; the rest of the chunk is then
      // cut in place (copying whole chunks would double the traffic on large results).
      off = this.continuePending(chunk, headerLen, check, onFrame);
      if (off < 0) return;
    }
    while (off < chunk.length) {
      const h = headerLen();
      if (chunk.length - off < h) break;
      const total = frameTotal(chunk, off, h, check);
      if (chunk.length - off < total) break;
      const raw = chunk.subarray(off, off + total);
      off += total;
      onFrame(raw);
    }
    if (off < chunk.length) {
      // Copy the tail so the chunk it came from can be freed while we wait for the rest.
      const tail = Buffer.from(chunk.subarray(off));
      this.parts = [tail];
      this.partsLen = tail.length;
      this.partTotal = -1;
      const h = headerLen();
      if (tail.length >= h) this.partTotal = frameTotal(tail, 0, h, check);
    }
  }

  /** Returns the offset in `chunk` after the completed message, or -1 when it is still incomplete. */
  private continuePending(chunk: Buffer, headerLen: () => 4 | 5, check: LengthCheck, onFrame: (raw: Buffer) => void): number {
    let off = 0;
    const h = headerLen();
    if (this.partTotal < 0) {
      const take = Math.min(h - this.partsLen, chunk.length);
      this.parts.push(Buffer.from(chunk.subarray(0, take)));
      this.partsLen += take;
      off = take;
      if (this.partsLen < h) return -1;
      this.partTotal = frameTotal(Buffer.concat(this.parts, this.partsLen), 0, h, check);
    }
    const need = this.partTotal - this.partsLen;
    if (chunk.length - off < need) {
      // The rest of the chunk belongs to this message: keep it as it is (no copy). The pieces are
      // joined once, when the message is complete, so an N-byte message costs O(N).
      if (off < chunk.length) this.parts.push(chunk.subarray(off));
      this.partsLen += chunk.length - off;
      return -1;
    }
    this.parts.push(chunk.subarray(off, off + need));
    const raw = Buffer.concat(this.parts, this.partTotal);
    this.parts = [];
    this.partsLen = 0;
    this.partTotal = -1;
    onFrame(raw);
    return off + need;
  }

  get buffered(): number {
    return this.partsLen;
  }

  /** The bytes of an incomplete message, handed back (the framer starts afresh). */
  takeBuffered(): Buffer {
    const rest = Buffer.concat(this.parts, this.partsLen);
    this.parts = [];
    this.partsLen = 0;
    this.partTotal = -1;
    return rest;
  }
}

/** Refuses (throws ProtocolError) a frame by its type byte (-1: untyped) and declared length. */
type LengthCheck = (code: number, len: number) => void;

/** A frame's total size (header included) from its length field, checked before anything is allocated. */
function frameTotal(buf: Buffer, off: number, headerLen: 4 | 5, check: LengthCheck): number {
  const len = buf.readInt32BE(off + headerLen - 4);
  if (len < 4) throw new ProtocolError(`message length ${len} is below the minimum of 4`);
  check(headerLen === 5 ? buf[off]! : -1, len);
  return headerLen - 4 + len;
}

function checkMax(len: number, max: number): void {
  if (len > max) throw new ProtocolError(`message length ${len} exceeds the maximum of ${max}`);
}

export interface ParserLimits {
  /** Hard cap for any typed message (default MAX_MESSAGE_LENGTH); Bind and CopyData may reach it. */
  maxMessageLength?: number;
  maxStartupLength?: number;
  /** Query, Parse, FunctionCall (default DEFAULT_MAX_STATEMENT_LENGTH, never above maxMessageLength). */
  maxStatementLength?: number;
}

/** Frontend message names by type byte, for errors that say which message was refused. */
const FRONTEND_NAMES: Record<string, string> = {
  Q: 'Query',
  P: 'Parse',
  B: 'Bind',
  D: 'Describe',
  E: 'Execute',
  C: 'Close',
  S: 'Sync',
  H: 'Flush',
  X: 'Terminate',
  F: 'FunctionCall',
  d: 'CopyData',
  c: 'CopyDone',
  f: 'CopyFail',
  p: 'password/SASL response',
};

function unknownType(code: number): ProtocolError {
  return new ProtocolError(`unknown frontend message type 0x${code.toString(16).padStart(2, '0')}`);
}

/**
 * Client → server. Starts in the startup phase (untyped packets); after a StartupMessage it reads
 * typed messages. SSLRequest/GSSENCRequest keep it in the startup phase (the server answers 'N' and
 * the client then sends its StartupMessage).
 *
 * Message lengths are limited per type and phase, as PostgreSQL does, and checked at the header
 * (before the body is buffered): until `authenticated()` is called, a password/SASL message may
 * have MAX_AUTH_MESSAGE_LENGTH bytes and anything else MAX_SMALL_MESSAGE_LENGTH, so an
 * unauthenticated client can make the proxy hold at most 64 KiB. Afterwards Query, Parse and
 * FunctionCall may reach the statement limit, Bind and CopyData the message limit, and every other
 * message MAX_SMALL_MESSAGE_LENGTH. (A client that pipelines a large Query behind its last SASL
 * message, before AuthenticationOk, is refused: no real client does.)
 */
export class FrontendParser {
  private readonly framer = new Framer();
  private phase: 'startup' | 'auth' | 'ready' = 'startup';
  private readonly maxMessage: number;
  private readonly maxStartup: number;
  private maxStatement: number;

  constructor(limits: ParserLimits = {}) {
    this.maxMessage = limits.maxMessageLength ?? MAX_MESSAGE_LENGTH;
    this.maxStartup = limits.maxStartupLength ?? MAX_STARTUP_LENGTH;
    this.maxStatement = Math.min(limits.maxStatementLength ?? DEFAULT_MAX_STATEMENT_LENGTH, this.maxMessage);
  }

  get inStartup(): boolean {
    return this.phase === 'startup';
  }

  /** Bytes held back waiting for the rest of a message. */
  get buffered(): number {
    return this.framer.buffered;
  }

  /**
   * The client has authenticated: large messages are allowed from now on. `maxStatementLength`
   * replaces the statement limit given to the constructor (the proxy's configured value).
   */
  authenticated(maxStatementLength?: number): void {
    this.phase = 'ready';
    if (maxStatementLength !== undefined) {
      if (!Number.isInteger(maxStatementLength) || maxStatementLength < 4) {
        throw new TypeError(`maxStatementLength must be an integer of at least 4, not ${maxStatementLength}`);
      }
      this.maxStatement = Math.min(maxStatementLength, this.maxMessage);
    }
  }

  /** Throws ProtocolError on malformed input; the connection must then be closed. */
  parse(chunk: Buffer, onMessage: (msg: FrontendMessage) => void): void {
    this.framer.feed(
      chunk,
      () => (this.phase === 'startup' ? 4 : 5),
      (code, len) => this.checkLength(code, len),
      (raw) => {
        const msg = this.phase === 'startup' ? decodeStartupPacket(raw) : decodeFrontendMessage(raw);
        if (msg.type === 'startup') this.phase = 'auth';
        onMessage(msg);
      },
    );
  }

  private checkLength(code: number, len: number): void {
    if (code < 0) return checkMax(len, this.maxStartup);
    checkMax(len, this.maxMessage);
    const c = String.fromCharCode(code);
    const name = FRONTEND_NAMES[c];
    if (name === undefined) throw unknownType(code);
    let max: number;
    let why: string;
    if (this.phase === 'auth') {
      max = c === 'p' ? MAX_AUTH_MESSAGE_LENGTH : MAX_SMALL_MESSAGE_LENGTH;
      why = 'before authentication completes';
    } else if (c === 'Q' || c === 'P' || c === 'F') {
      max = this.maxStatement;
      why = 'for a statement';
    } else if (c === 'B' || c === 'd') {
      return; // values, not SQL: the message limit above applies
    } else {
      max = MAX_SMALL_MESSAGE_LENGTH;
      why = 'for this message type';
    }
    if (len > max) throw new ProtocolError(`${name} message length ${len} exceeds the maximum of ${max} ${why}`);
  }
}

function decodeStartupPacket(raw: Buffer): FrontendMessage {
  if (raw.length < 8) throw new ProtocolError(`startup packet of ${raw.length} bytes is too short`);
  const code = raw.readInt32BE(4);
  if (code === SSL_REQUEST_CODE) {
    if (raw.length !== 8) throw new ProtocolError('SSLRequest has a wrong length');
    return { type: 'sslRequest', raw };
  }
  if (code === GSSENC_REQUEST_CODE) {
    if (raw.length !== 8) throw new ProtocolError('GSSENCRequest has a wrong length');
    return { type: 'gssEncRequest', raw };
  }
  if (code === CANCEL_REQUEST_CODE) {
    // 3.0 uses a 4-byte secret; 3.2 allows up to 256 bytes.
    if (raw.length < 16 || raw.length > 12 + 256) throw new ProtocolError('CancelRequest has a wrong length');
    return { type: 'cancelRequest', raw, pid: raw.readInt32BE(8), secret: Buffer.from(raw.subarray(12)) };
  }
  const major = code >>> 16;
  if (major !== 3) throw new ProtocolError(`unsupported frontend protocol ${major}.${code & 0xffff}`);
  const r = new BodyReader(raw.subarray(8), 'StartupMessage');
  const params = new Map<string, string>();
  for (;;) {
    const name = r.cstring();
    if (name === '') break;
    if (params.has(name)) throw new ProtocolError(`StartupMessage repeats parameter "${name}"`);
    params.set(name, r.cstring());
  }
  r.end();
  return { type: 'startup', raw, protocol: code, params };
}

function decodeFrontendMessage(raw: Buffer): FrontendMessage {
  const code = String.fromCharCode(raw[0]!);
  const body = raw.subarray(5);
  switch (code) {
    case 'Q': {
      const r = new BodyReader(body, 'Query');
      const sql = r.cstring();
      r.end();
      return { type: 'query', raw, sql };
    }
    case 'P': {
      const r = new BodyReader(body, 'Parse');
      const name = r.cstring();
      const sql = r.cstring();
      const n = r.int16();
      if (n < 0) throw new ProtocolError('Parse: negative parameter count');
      const paramTypes: number[] = [];
      for (let i = 0; i < n; i++) paramTypes.push(r.uint32());
      r.end();
      return { type: 'parse', raw, name, sql, paramTypes };
    }
    case 'B': {
      const r = new BodyReader(body, 'Bind');
      const portal = r.cstring();
      const statement = r.cstring();
      const nf = r.int16();
      if (nf < 0) throw new ProtocolError('Bind: negative format count');
      for (let i = 0; i < nf; i++) checkFormat(r.int16(), 'Bind');
      const np = r.int16();
      if (np < 0) throw new ProtocolError('Bind: negative parameter count');
      for (let i = 0; i < np; i++) {
        const len = r.int32();
        if (len === -1) continue;
        r.bytes(len);
      }
      const nr = r.int16();
      if (nr < 0) throw new ProtocolError('Bind: negative result format count');
      const resultFormats: number[] = [];
      for (let i = 0; i < nr; i++) resultFormats.push(checkFormat(r.int16(), 'Bind'));
      r.end();
      return { type: 'bind', raw, portal, statement, resultFormats };
    }
    case 'D':
    case 'C': {
      const what = code === 'D' ? 'Describe' : 'Close';
      const r = new BodyReader(body, what);
      const t = String.fromCharCode(r.byte());
      if (t !== 'S' && t !== 'P') throw new ProtocolError(`${what}: unknown target '${t}'`);
      const name = r.cstring();
      r.end();
      return code === 'D' ? { type: 'describe', raw, target: t, name } : { type: 'close', raw, target: t, name };
    }
    case 'E': {
      const r = new BodyReader(body, 'Execute');
      const portal = r.cstring();
      const maxRows = r.int32();
      r.end();
      return { type: 'execute', raw, portal, maxRows };
    }
    case 'S':
      expectEmpty(body, 'Sync');
      return { type: 'sync', raw };
    case 'H':
      expectEmpty(body, 'Flush');
      return { type: 'flush', raw };
    case 'X':
      expectEmpty(body, 'Terminate');
      return { type: 'terminate', raw };
    case 'F':
      return { type: 'functionCall', raw };
    case 'd':
      return { type: 'copyData', raw };
    case 'c':
      expectEmpty(body, 'CopyDone');
      return { type: 'copyDone', raw };
    case 'f': {
      const r = new BodyReader(body, 'CopyFail');
      const message = r.cstring();
      r.end();
      return { type: 'copyFail', raw, message };
    }
    case 'p':
      return { type: 'password', raw, body };
    default:
      throw unknownType(raw[0]!);
  }
}

function checkFormat(f: number, what: string): number {
  if (f !== 0 && f !== 1) throw new ProtocolError(`${what}: unknown format code ${f}`);
  return f;
}

function expectEmpty(body: Buffer, what: string): void {
  if (body.length !== 0) throw new ProtocolError(`${what}: unexpected ${body.length}-byte body`);
}

// ---------------------------------------------------------------------------------------------
// Backend (server → client) messages: framed cheaply; decoded only when asked.

/** One backend message: its type byte, its raw bytes (header included) and its body. */
export interface BackendFrame {
  code: number;
  raw: Buffer;
  body: Buffer;
}

/**
 * Server → client framing. The proxy looks into only a few message types, so decoding is left to
 * the `decode*` functions below, called on demand.
 */
export class BackendParser {
  private readonly framer = new Framer();
  private readonly maxMessage: number;

  constructor(limits: ParserLimits = {}) {
    this.maxMessage = limits.maxMessageLength ?? MAX_MESSAGE_LENGTH;
  }

  get buffered(): number {
    return this.framer.buffered;
  }

  /** The bytes of an incomplete frame, handed back to whoever reads the stream next. */
  takeBuffered(): Buffer {
    return this.framer.takeBuffered();
  }

  parse(chunk: Buffer, onFrame: (frame: BackendFrame) => void): void {
    this.framer.feed(
      chunk,
      () => 5,
      (_code, len) => checkMax(len, this.maxMessage),
      (raw) => onFrame({ code: raw[0]!, raw, body: raw.subarray(5) }),
    );
  }
}

/** Backend message type bytes the proxy acts on. */
export const B = {
  Authentication: 0x52, // R
  BackendKeyData: 0x4b, // K
  BindComplete: 0x32, // 2
  CloseComplete: 0x33, // 3
  CommandComplete: 0x43, // C
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  CopyBothResponse: 0x57, // W
  DataRow: 0x44, // D
  EmptyQueryResponse: 0x49, // I
  ErrorResponse: 0x45, // E
  FunctionCallResponse: 0x56, // V
  NegotiateProtocolVersion: 0x76, // v
  NoData: 0x6e, // n
  NoticeResponse: 0x4e, // N
  NotificationResponse: 0x41, // A
  ParameterDescription: 0x74, // t
  ParameterStatus: 0x53, // S
  ParseComplete: 0x31, // 1
  PortalSuspended: 0x73, // s
  ReadyForQuery: 0x5a, // Z
  RowDescription: 0x54, // T
} as const;

export interface FieldDescription {
  name: string;
  tableOid: number;
  attnum: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  format: number;
}

export function decodeRowDescription(body: Buffer): FieldDescription[] {
  const r = new BodyReader(body, 'RowDescription');
  const n = r.int16();
  if (n < 0) throw new ProtocolError('RowDescription: negative field count');
  const fields: FieldDescription[] = [];
  for (let i = 0; i < n; i++) {
    fields.push({
      name: r.cstring(),
      tableOid: r.uint32(),
      attnum: r.int16(),
      typeOid: r.uint32(),
      typeSize: r.int16(),
      typeModifier: r.int32(),
      format: r.int16(),
    });
  }
  r.end();
  return fields;
}

/** The column values of a DataRow; null for SQL NULL. Values are subarrays (no copy). */
export function decodeDataRow(body: Buffer): (Buffer | null)[] {
  const r = new BodyReader(body, 'DataRow');
  const n = r.int16();
  if (n < 0) throw new ProtocolError('DataRow: negative column count');
  const values: (Buffer | null)[] = [];
  for (let i = 0; i < n; i++) {
    const len = r.int32();
    values.push(len === -1 ? null : r.bytes(len));
  }
  r.end();
  return values;
}

/** ErrorResponse / NoticeResponse fields by their one-letter code (S, V, C, M, D, H, …). */
export function decodeErrorFields(body: Buffer): Map<string, string> {
  const r = new BodyReader(body, 'ErrorResponse');
  const fields = new Map<string, string>();
  for (;;) {
    const t = r.byte();
    if (t === 0) break;
    fields.set(String.fromCharCode(t), r.cstring());
  }
  return fields;
}

/** 'I' idle, 'T' in a transaction block, 'E' in a failed transaction block. */
export function decodeReadyForQuery(body: Buffer): 'I' | 'T' | 'E' {
  if (body.length !== 1) throw new ProtocolError('ReadyForQuery: wrong length');
  const s = String.fromCharCode(body[0]!);
  if (s !== 'I' && s !== 'T' && s !== 'E') throw new ProtocolError(`ReadyForQuery: unknown status '${s}'`);
  return s;
}

/** The command tag, e.g. `SELECT 5`, `INSERT 0 1`. */
export function decodeCommandComplete(body: Buffer): string {
  const r = new BodyReader(body, 'CommandComplete');
  return r.cstring();
}

/** Rows affected/returned according to a command tag; undefined when the tag carries no count. */
export function rowsFromTag(tag: string): number | undefined {
  const m = /(?:^|\s)(\d+)$/.exec(tag);
  if (!m) return undefined;
  if (/^(SELECT|INSERT|UPDATE|DELETE|MERGE|FETCH|MOVE|COPY)\b/.test(tag)) return Number(m[1]);
  return undefined;
}

export function decodeParameterStatus(body: Buffer): { name: string; value: string } {
  const r = new BodyReader(body, 'ParameterStatus');
  const name = r.cstring();
  const value = r.cstring();
  return { name, value };
}

/** CopyIn/Out/BothResponse: overall format and per-column formats. */

// ---------------------------------------------------------------------------------------------
// Writers. A tiny builder reserves the 5-byte header and fills it at the end.

export class MessageWriter {
  private parts: Buffer[] = [];
  private size = 0;

  byte(v: number): this {
    return this.push(Buffer.from([v & 0xff]));
  }
  int16(v: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeInt16BE(v);
    return this.push(b);
  }
  int32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(v);
    return this.push(b);
  }
  uint32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(v >>> 0);
    return this.push(b);
  }
  cstring(s: string): this {
    const b = Buffer.from(s, 'utf8');
    if (b.includes(0)) throw new TypeError('a protocol string may not contain a NUL byte');
    this.push(b);
    return this.push(Buffer.from([0]));
  }
  bytes(b: Buffer): this {
    return this.push(b);
  }
  /** A typed message: code, int32 length (including itself), body. */
  flush(code: string): Buffer {
    const head = Buffer.allocUnsafe(5);
    head[0] = code.charCodeAt(0);
    head.writeInt32BE(this.size + 4, 1);
    return Buffer.concat([head, ...this.parts], 5 + this.size);
  }
  /** An untyped packet (startup phase): int32 length then body. */
  flushUntyped(): Buffer {
    const head = Buffer.allocUnsafe(4);
    head.writeInt32BE(this.size + 4, 0);
    return Buffer.concat([head, ...this.parts], 4 + this.size);
  }
  private push(b: Buffer): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
}

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'INFO' | 'LOG' | 'DEBUG';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

function noticeLike(code: 'E' | 'N', f: ErrorFields): Buffer {
  const w = new MessageWriter();
  // Keep strings NUL-free whatever their origin (a NUL would end the field early).
  const clean = (s: string): string => s.replace(/\0/g, '');
  w.byte(0x53).cstring(f.severity); // S
  w.byte(0x56).cstring(f.severity); // V (non-localized)
  w.byte(0x43).cstring(f.code); // C
  w.byte(0x4d).cstring(clean(f.message)); // M
  if (f.detail) w.byte(0x44).cstring(clean(f.detail)); // D
  if (f.hint) w.byte(0x48).cstring(clean(f.hint)); // H
  w.byte(0);
  return w.flush(code);
}

/** An ErrorResponse ('E') or NoticeResponse ('N') from raw fields (one-letter code → text). */
export function fieldsMessage(code: 'E' | 'N', fields: Map<string, string>): Buffer {
  const w = new MessageWriter();
  for (const [k, v] of fields) w.byte(k.charCodeAt(0)).cstring(v.replace(/\0/g, ''));
  return w.byte(0).flush(code);
}

export function errorResponse(f: ErrorFields): Buffer {
  return noticeLike('E', f);
}

export function readyForQuery(status: 'I' | 'T' | 'E'): Buffer {
  return new MessageWriter().byte(status.charCodeAt(0)).flush('Z');
}

export function authenticationOk(): Buffer {
  return new MessageWriter().int32(0).flush('R');
}

export function authenticationSASL(mechanisms: string[]): Buffer {
  const w = new MessageWriter().int32(10);
  for (const m of mechanisms) w.cstring(m);
  return w.byte(0).flush('R');
}

export function authenticationSASLContinue(data: Buffer): Buffer {
  return new MessageWriter().int32(11).bytes(data).flush('R');
}

export function authenticationSASLFinal(data: Buffer): Buffer {
  return new MessageWriter().int32(12).bytes(data).flush('R');
}

export function parameterStatus(name: string, value: string): Buffer {
  return new MessageWriter().cstring(name).cstring(value).flush('S');
}

export function backendKeyData(pid: number, secret: Buffer): Buffer {
  return new MessageWriter().int32(pid).bytes(secret).flush('K');
}

export function negotiateProtocolVersion(newestMinor: number, unrecognized: string[]): Buffer {
  const w = new MessageWriter().int32(newestMinor).int32(unrecognized.length);
  for (const o of unrecognized) w.cstring(o);
  return w.flush('v');
}

export function dataRow(values: (Buffer | null)[]): Buffer {
  let size = 2;
  for (const v of values) size += 4 + (v ? v.length : 0);
  const out = Buffer.allocUnsafe(5 + size);
  out[0] = 0x44;
  out.writeInt32BE(4 + size, 1);
  out.writeInt16BE(values.length, 5);
  let off = 7;
  for (const v of values) {
    if (v === null) {
      out.writeInt32BE(-1, off);
      off += 4;
    } else {
      out.writeInt32BE(v.length, off);
      v.copy(out, off + 4);
      off += 4 + v.length;
    }
  }
  return out;
}

// Frontend writers: used by tests and by the proxy when it adds a message of its own upstream.

export function startupMessage(params: Record<string, string>, protocol = PROTOCOL_3_0): Buffer {
  const w = new MessageWriter().int32(protocol);
  for (const [k, v] of Object.entries(params)) w.cstring(k).cstring(v);
  return w.byte(0).flushUntyped();
}

export function sslRequest(): Buffer {
  return new MessageWriter().int32(SSL_REQUEST_CODE).flushUntyped();
}

export function gssEncRequest(): Buffer {
  return new MessageWriter().int32(GSSENC_REQUEST_CODE).flushUntyped();
}

export function cancelRequest(pid: number, secret: Buffer): Buffer {
  return new MessageWriter().int32(CANCEL_REQUEST_CODE).int32(pid).bytes(secret).flushUntyped();
}

export function query(sql: string): Buffer {
  return new MessageWriter().cstring(sql).flush('Q');
}

export function parse(name: string, sql: string, paramTypes: number[] = []): Buffer {
  const w = new MessageWriter().cstring(name).cstring(sql).int16(paramTypes.length);
  for (const t of paramTypes) w.uint32(t);
  return w.flush('P');
}

export function bind(portal: string, statement: string, params: (Buffer | null)[] = [], resultFormats: number[] = []): Buffer {
  const w = new MessageWriter().cstring(portal).cstring(statement).int16(0).int16(params.length);
  for (const p of params) {
    if (p === null) w.int32(-1);
    else w.int32(p.length).bytes(p);
  }
  w.int16(resultFormats.length);
  for (const f of resultFormats) w.int16(f);
  return w.flush('B');
}

export function describe(target: 'S' | 'P', name: string): Buffer {
  return new MessageWriter().byte(target.charCodeAt(0)).cstring(name).flush('D');
}

export function execute(portal: string, maxRows = 0): Buffer {
  return new MessageWriter().cstring(portal).int32(maxRows).flush('E');
}

export function close(target: 'S' | 'P', name: string): Buffer {
  return new MessageWriter().byte(target.charCodeAt(0)).cstring(name).flush('C');
}

export function sync(): Buffer {
  return new MessageWriter().flush('S');
}

export function terminate(): Buffer {
  return new MessageWriter().flush('X');
}

export function passwordMessage(body: Buffer): Buffer {
  return new MessageWriter().bytes(body).flush('p');
}

/** SASLInitialResponse body: mechanism, int32 length, data. */
export function decodeSASLInitialResponse(body: Buffer): { mechanism: string; data: Buffer } {
  const r = new BodyReader(body, 'SASLInitialResponse');
  const mechanism = r.cstring();
  const len = r.int32();
  const data = len === -1 ? Buffer.alloc(0) : r.bytes(len);
  r.end();
  return { mechanism, data };
}

export function saslInitialResponse(mechanism: string, data: Buffer): Buffer {
  return new MessageWriter().cstring(mechanism).int32(data.length).bytes(data).flush('p');
}
