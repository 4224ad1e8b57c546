// Opens an authenticated session on the real database: TCP (or TLS per `sslmode`), the proxy's own
// StartupMessage, whatever authentication the server asks for, then ParameterStatus/BackendKeyData
// until ReadyForQuery. The proxy's data path takes over the socket from there.
//
// The upstream URL carries the real credentials. No error message here contains the password or
// the URL; errors name the host, port, database and user, which are not secret.
//
// sslmode (libpq's names):
//   disable, allow   plain TCP (`allow` does not retry with TLS: it behaves as `disable`)
//   prefer (default) SSLRequest; TLS without certificate checks when the server agrees, else plain.
//                    This is libpq's default, so a URL behaves as it does for psql; it protects
//                    against passive eavesdropping only. Use verify-full for remote databases.
//   require          TLS or fail; no certificate check unless `sslrootcert` is given (then as verify-ca)
//   verify-ca        TLS, certificate chain checked against `sslrootcert` (or the system CAs)
//   verify-full      verify-ca plus the host name
// `sslrootcert=system` means the system CAs.

import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import {
  BackendParser,
  decodeErrorFields,
  decodeParameterStatus,
  passwordMessage,
  saslInitialResponse,
  sslRequest,
  startupMessage,
  type BackendFrame,
} from './protocol.js';
import { md5PasswordResponse } from './md5.js';
import { parseRequireAuth, refusedMethod, type AuthMethod } from './auth-policy.js';
import { SCRAM_SHA_256, ScramClient, ScramError } from './scram.js';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

/** A parsed upstream URL. `password` is secret: never log this object. */
export interface UpstreamTarget {
  /** Host name or IP, or a directory holding a Unix socket (starts with `/`). */
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  sslmode: SslMode;
  /** Path of the CA bundle, or 'system'. */
  sslrootcert: string | undefined;
  applicationName: string | undefined;
  connectTimeoutMs: number | undefined;
  /** `require_auth`: the only methods the server may ask for (src/pg/auth-policy.ts); absent = the default rule. */
  requireAuth?: AuthMethod[];
}

export interface Upstream {
  /** Paused, with no listeners of ours left: attach handlers, then call `socket.resume()`. */
  socket: net.Socket | tls.TLSSocket;
  /** For CancelRequest. With protocol 3.0 the secret is 4 bytes. */
  backendKey: { pid: number; secret: Buffer };
  /** ParameterStatus values the server reported (server_version, client_encoding, …). */
  parameters: Map<string, string>;
  /** Bytes received after ReadyForQuery (normally empty): feed them to the parser first. */
  leftover: Buffer;
  /** Whether the session runs over TLS. */
  tls: boolean;
}

export interface ConnectOptions {
  /** application_name sent upstream; the URL's `application_name` wins over the default 'tollgate'. */
  applicationName?: string;
  /**
   * The session's search_path, sent as a startup parameter (default `public`). A startup value
   * overrides `ALTER ROLE/DATABASE … SET search_path` and is what RESET / SET … TO DEFAULT return
   * to, so the gateway knows the path its name resolution must use.
   */
  searchPath?: string;
  /** Whole handshake deadline (TCP, TLS, auth, startup). Default: URL connect_timeout, else 10 s. */
  timeoutMs?: number;
}

export type UpstreamErrorCode =
  | 'ERR_UPSTREAM_URL'
  | 'ERR_UPSTREAM_CONNECT'
  | 'ERR_UPSTREAM_TLS'
  | 'ERR_UPSTREAM_AUTH'
  | 'ERR_UPSTREAM_REFUSED'
  | 'ERR_UPSTREAM_PROTOCOL'
  | 'ERR_UPSTREAM_TIMEOUT';

export class UpstreamError extends Error {
  readonly code: UpstreamErrorCode;
  /** The server's SQLSTATE when the server itself refused. */
  readonly sqlstate: string | undefined;
  constructor(code: UpstreamErrorCode, message: string, sqlstate?: string) {
    super(message);
    this.name = 'UpstreamError';
    this.code = code;
    this.sqlstate = sqlstate;
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;
// Handshake messages are small; a server that announces more is broken or hostile.
const MAX_HANDSHAKE_MESSAGE = 1 << 20;
const MAX_PARAMETERS = 1000;
const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
const EMPTY_HOST = 'tollgate-empty-host.invalid';
const URL_PARAMS = new Set(['sslmode', 'sslrootcert', 'application_name', 'connect_timeout', 'host', 'port', 'require_auth']);

// ---------------------------------------------------------------------------------------------
// URL

function urlError(msg: string): UpstreamError {
  return new UpstreamError('ERR_UPSTREAM_URL', `upstream URL: ${msg}`);
}

function decodePart(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw urlError(`bad percent-encoding in the ${what}`);
  }
}

function parsePort(s: string): number {
  if (!/^[0-9]{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) throw urlError('port must be 1-65535');
  return Number(s);
}

/** Parses `postgres[ql]://user:password@host:port/dbname?sslmode=…`. Unknown parameters are refused. */
export function parseUpstreamUrl(url: string): UpstreamTarget {
  let u: URL;
  try {
    // WHATWG URL refuses an empty host after user info (`postgres://u@/db?host=/run/pg`), which
    // libpq accepts: stand in a placeholder and read it back as "no host".
    u = new URL(url.replace(/^(postgres(?:ql)?:\/\/(?:[^/?#@]*@)?)(?=[/?#]|$)/, `$1${EMPTY_HOST}`));
  } catch {
    throw urlError('not a valid URL (expected postgres://user:password@host:port/dbname)');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw urlError(`scheme must be postgres:// or postgresql://, got ${u.protocol}//`);
  }
  if (u.hash) throw urlError('a #fragment is not allowed');
  for (const key of u.searchParams.keys()) {
    if (!URL_PARAMS.has(key)) throw urlError(`unsupported parameter '${key}' (supported: ${[...URL_PARAMS].join(', ')})`);
  }
  const param = (k: string): string | undefined => {
    const all = u.searchParams.getAll(k);
    if (all.length > 1) throw urlError(`parameter '${k}' given twice`);
    return all[0];
  };

  let host = u.hostname === EMPTY_HOST ? '' : u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  host = decodePart(host, 'host');
  const hostParam = param('host');
  if (hostParam !== undefined) {
    if (host) throw urlError('give the host either in the authority or as ?host=, not both');
    host = hostParam;
  }
  if (!host) host = 'localhost';
  if (host.includes(',')) throw urlError('multiple hosts are not supported');

  const portParam = param('port');
  if (portParam !== undefined && u.port) throw urlError('give the port either in the authority or as ?port=, not both');
  const port = parsePort(portParam ?? (u.port || '5432'));

  const user = decodePart(u.username, 'user name');
  if (!user) throw urlError('a user name is required');
  const password = u.password ? decodePart(u.password, 'password') : undefined;
  const path = u.pathname.replace(/^\//, '');
  if (path.includes('/')) throw urlError('the path must be a single database name');
  const database = path ? decodePart(path, 'database name') : user;

  const sslmodeText = param('sslmode') ?? 'prefer';
  if (!(SSL_MODES as readonly string[]).includes(sslmodeText)) {
    throw urlError(`sslmode must be one of ${SSL_MODES.join(', ')}`);
  }
  const timeoutText = param('connect_timeout');
  let connectTimeoutMs: number | undefined;
  if (timeoutText !== undefined) {
    if (!/^[0-9]{1,6}$/.test(timeoutText)) throw urlError('connect_timeout must be whole seconds');
    // libpq: 0 means wait forever; we never wait forever, so 0 falls back to the default.
    connectTimeoutMs = Number(timeoutText) > 0 ? Math.max(2, Number(timeoutText)) * 1000 : undefined;
  }
  for (const [what, v] of [['user name', user], ['password', password ?? ''], ['database name', database]] as const) {
    if (v.includes('\0')) throw urlError(`the ${what} contains a NUL byte`);
  }
  const requireAuthText = param('require_auth');
  const requireAuth = requireAuthText === undefined ? undefined : parseRequireAuth(requireAuthText);
  if (typeof requireAuth === 'string') throw urlError(requireAuth);
  return {
    ...(requireAuth ? { requireAuth } : {}),
    host,
    port,
    user,
    password,
    database,
    sslmode: sslmodeText as SslMode,
    sslrootcert: param('sslrootcert'),
    applicationName: param('application_name'),
    connectTimeoutMs,
  };
}

/** `user@host:port/db`, for error messages: never includes the password. */
export function describeTarget(t: UpstreamTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `${t.user}@${host}:${t.port}/${t.database}`;
}

// ---------------------------------------------------------------------------------------------
// Reading a socket during the handshake: bytes in, awaited one message at a time. Messages are cut
// by the data path's own framer (BackendParser), with a handshake-sized length limit checked before
// any body is buffered.

class HandshakeReader {
  /** Bytes before framing starts (the one-byte answer to SSLRequest). */
  private raw: Buffer = Buffer.alloc(0);
  private parser: BackendParser | null = null;
  private frames: BackendFrame[] = [];
  private waiter: (() => void) | null = null;
  private failure: Error | null = null;
  private readonly onData = (chunk: Buffer): void => {
    if (!this.parser) this.raw = this.raw.length === 0 ? chunk : Buffer.concat([this.raw, chunk]);
    else this.feed(chunk);
    this.wake();
  };
  private readonly onError = (err: Error): void => {
    this.failure ??= new UpstreamError('ERR_UPSTREAM_CONNECT', `${this.where}: ${err.message}`);
    this.wake();
  };
  private readonly onClose = (): void => {
    this.failure ??= new UpstreamError('ERR_UPSTREAM_PROTOCOL', `${this.where}: the server closed the connection during the handshake`);
    this.wake();
  };

  constructor(
    readonly socket: net.Socket,
    private readonly where: string,
  ) {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private feed(chunk: Buffer): void {
    try {
      this.parser!.parse(chunk, (f) => this.frames.push(f));
    } catch (err) {
      this.failure ??= new UpstreamError('ERR_UPSTREAM_PROTOCOL', `${this.where}: server sent a message of absurd length (${(err as Error).message})`);
      this.socket.pause();
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private async until(ready: () => boolean): Promise<void> {
    while (!ready()) {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** One untyped byte (the answer to SSLRequest), before any message. */
  async byte(): Promise<number> {
    await this.until(() => this.raw.length > 0);
    const b = this.raw[0]!;
    this.raw = this.raw.subarray(1);
    return b;
  }

  async frame(): Promise<BackendFrame> {
    if (!this.parser) {
      this.parser = new BackendParser({ maxMessageLength: MAX_HANDSHAKE_MESSAGE });
      const early = this.raw;
      this.raw = Buffer.alloc(0);
      if (early.length) this.feed(early);
    }
    await this.until(() => this.frames.length > 0 || this.failure !== null);
    if (this.frames.length === 0) throw this.failure!;
    return this.frames.shift()!;
  }

  /** Bytes received but not consumed. */
  get pending(): number {
    return this.raw.length + this.frames.length + (this.parser?.buffered ?? 0);
  }

  /**
   * Stops reading; returns the bytes received but not consumed. The socket is paused unless it is
   * about to be handed to TLS (which then reads it itself).
   */
  detach(pause = true): Buffer {
    if (pause) this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
    const rest = [this.raw, ...this.frames.map((f) => f.raw)];
    if (this.parser) rest.push(this.parser.takeBuffered());
    this.frames = [];
    return Buffer.concat(rest);
  }
}

// ---------------------------------------------------------------------------------------------
// Transport: TCP, SSLRequest, TLS

/** libpq: `require` with a root certificate given verifies the chain like verify-ca. */
function verifiesChain(t: UpstreamTarget): boolean {
  return t.sslmode === 'verify-ca' || t.sslmode === 'verify-full' || (t.sslmode === 'require' && t.sslrootcert !== undefined);
}

function tlsOptions(t: UpstreamTarget): tls.ConnectionOptions {
  let ca: Buffer | undefined;
  if (t.sslrootcert && t.sslrootcert !== 'system') {
    try {
      ca = readFileSync(t.sslrootcert);
    } catch (err) {
      throw new UpstreamError('ERR_UPSTREAM_TLS', `cannot read sslrootcert ${t.sslrootcert}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  const verifyChain = verifiesChain(t);
  const opts: tls.ConnectionOptions = { rejectUnauthorized: verifyChain, host: t.host, ca };
  if (!net.isIP(t.host)) opts.servername = t.host; // SNI takes names only
  if (verifyChain && t.sslmode !== 'verify-full') opts.checkServerIdentity = () => undefined;
  return opts;
}

function connectTcp(t: UpstreamTarget): net.Socket {
  const socket = t.host.startsWith('/')
    ? net.connect({ path: `${t.host.replace(/\/$/, '')}/.s.PGSQL.${t.port}` })
    : net.connect({ host: t.host, port: t.port });
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 30_000);
  return socket;
}

function startTls(socket: net.Socket, t: UpstreamTarget, where: string): Promise<tls.TLSSocket> {
  const opts = tlsOptions(t);
  return new Promise((resolve, reject) => {
    const s = tls.connect({ ...opts, socket });
    const onError = (err: Error): void => {
      s.destroy();
      reject(new UpstreamError('ERR_UPSTREAM_TLS', `${where}: TLS handshake failed: ${err.message}`));
    };
    s.once('error', onError);
    s.once('secureConnect', () => {
      s.off('error', onError);
      resolve(s);
    });
  });
}

/**
 * A connected transport to the server, before any startup packet: plain or TLS as `sslmode` says.
 * `track` receives every socket opened so the caller can destroy it on timeout.
 */
export async function openTransport(
  t: UpstreamTarget,
  track: (s: net.Socket) => void,
): Promise<{ reader: HandshakeReader; tls: boolean }> {
  const where = `upstream ${describeTarget(t)}`;
  const tcp = connectTcp(t);
  track(tcp);
  const unix = t.host.startsWith('/');
  if (t.sslmode === 'disable' || t.sslmode === 'allow' || (unix && t.sslmode === 'prefer')) {
    return { reader: new HandshakeReader(tcp, where), tls: false };
  }
  if (unix) throw new UpstreamError('ERR_UPSTREAM_TLS', `${where}: sslmode=${t.sslmode} is not possible over a Unix socket`);
  const raw = new HandshakeReader(tcp, where);
  tcp.write(sslRequest());
  const answer = await raw.byte();
  // Bytes after the answer and before our TLS handshake would be injected by a man in the middle
  // (CVE-2021-23222): refuse them.
  if (raw.pending !== 0) {
    throw new UpstreamError('ERR_UPSTREAM_PROTOCOL', `${where}: server sent unexpected data after its SSL answer`);
  }
  if (answer === 0x4e /* N */) {
    if (t.sslmode !== 'prefer') {
      throw new UpstreamError('ERR_UPSTREAM_TLS', `${where}: sslmode=${t.sslmode} but the server does not support SSL (it answered 'N')`);
    }
    return { reader: raw, tls: false };
  }
  if (answer !== 0x53 /* S */) {
    throw new UpstreamError('ERR_UPSTREAM_PROTOCOL', `${where}: unexpected answer to SSLRequest (byte ${answer})`);
  }
  raw.detach(false);
  const secure = await startTls(tcp, t, where);
  track(secure);
  secure.setNoDelay(true);
  return { reader: new HandshakeReader(secure, where), tls: true };
}

/** Runs `work` with a deadline; on timeout every tracked socket is destroyed. */
export async function withDeadline<T>(
  timeoutMs: number,
  what: string,
  work: (track: (s: net.Socket) => void) => Promise<T>,
): Promise<T> {
  const sockets: net.Socket[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UpstreamError('ERR_UPSTREAM_TIMEOUT', `${what}: timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work((s) => sockets.push(s)), timeout]);
  } catch (err) {
    for (const s of sockets) s.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Startup and authentication

const AUTH_NAMES: Record<number, string> = {
  2: 'Kerberos V5',
  6: 'SCM credentials',
  7: 'GSSAPI',
  8: 'GSSAPI',
  9: 'SSPI',
};

function serverRefusal(body: Buffer, where: string, during: string): UpstreamError {
  let fields: Map<string, string>;
  try {
    fields = decodeErrorFields(body);
  } catch {
    return new UpstreamError('ERR_UPSTREAM_PROTOCOL', `${where}: malformed ErrorResponse ${during}`);
  }
  const sqlstate = fields.get('C');
  const message = fields.get('M') ?? 'no message';
  const auth = sqlstate === '28P01' || sqlstate === '28000';
  return new UpstreamError(
    auth ? 'ERR_UPSTREAM_AUTH' : 'ERR_UPSTREAM_REFUSED',
    `${where}: server refused ${during}: ${message}${sqlstate ? ` (SQLSTATE ${sqlstate})` : ''}`,
    sqlstate,
  );
}

function cstring(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

function needPassword(t: UpstreamTarget, where: string, method: string): string {
  if (t.password === undefined) {
    throw new UpstreamError('ERR_UPSTREAM_AUTH', `${where}: the server asks for a password (${method}) but the upstream URL has none`);
  }
  return t.password;
}

function saslMechanisms(body: Buffer): string[] {
  const list: string[] = [];
  let off = 4;
  for (;;) {
    const end = body.indexOf(0, off);
    if (end < 0) throw new Error('unterminated mechanism list');
    if (end === off) break;
    list.push(body.toString('utf8', off, end));
    off = end + 1;
  }
  return list;
}

/** Answers authentication requests until AuthenticationOk. */
async function authenticate(reader: HandshakeReader, t: UpstreamTarget, where: string, secure: boolean): Promise<void> {
  const socket = reader.socket;
  // Before any answer that reveals the password (or a hash that unlocks the account): is the asker
  // surely the server? src/pg/auth-policy.ts says when.
  const transport = { host: t.host, verified: secure && verifiesChain(t), ...(t.requireAuth ? { requireAuth: t.requireAuth } : {}) };
  const mayAnswer = (method: AuthMethod): void => {
    const why = refusedMethod(transport, method);
    if (why) throw new UpstreamError('ERR_UPSTREAM_AUTH', `${where}: ${why}`);
  };
  let scram: ScramClient | null = null;
  let scramDone = false;
  for (;;) {
    const f = await reader.frame();
    if (f.code === 0x45 /* E */) throw serverRefusal(f.body, where, 'the connection');
    if (f.code !== 0x52 /* R */ || f.body.length < 4) {
      throw new UpstreamError('ERR_UPSTREAM_PROTOCOL', `${where}: unexpected message '${String.fromCharCode(f.code)}' during authentication`);
    }
    const kind = f.body.readInt32BE(0);
    try {
      switch (kind) {
        case 0: // AuthenticationOk
          // A server that skips SCRAM's final step has not proved it knows the password.
          if (scram && !scramDone) {
            throw new UpstreamError('ERR_UPSTREAM_AUTH', `${where}: server ended SCRAM authentication without proving it knows the password`);
          }
          return;
        case 3: {
          if (scram) throw new Error('cleartext request during SCRAM');
          mayAnswer('password');
          const pw = needPassword(t, where, 'cleartext');
          socket.write(passwordMessage(cstring(pw)));
          break;
        }
        case 5: {
          if (scram) throw new Error('MD5 request during SCRAM');
          mayAnswer('md5');
          if (f.body.length !== 8) throw new Error('bad MD5 salt');
          const pw = needPassword(t, where, 'md5');
          socket.write(passwordMessage(cstring(md5PasswordResponse(t.user, pw, f.body.subarray(4, 8)))));
          break;
        }
        case 10: {
          if (scram) throw new Error('second SASL request');
          const mechanisms = saslMechanisms(f.body);
          if (!mechanisms.includes(SCRAM_SHA_256)) {
            throw new UpstreamError('ERR_UPSTREAM_AUTH', `${where}: server offers SASL mechanisms ${mechanisms.join(', ') || '(none)'}; only ${SCRAM_SHA_256} is supported`);
          }
          mayAnswer('scram-sha-256');
          scram = new ScramClient(t.user, needPassword(t, where, SCRAM_SHA_256));
          socket.write(saslInitialResponse(SCRAM_SHA_256, scram.clientFirst()));
          break;
        }
        case 11: // AuthenticationSASLContinue
          if (!scram) throw new Error('SASLContinue without SASL');
          socket.write(passwordMessage(await scram.handleServerFirstAsync(f.body.subarray(4))));
          break;
        case 12: // AuthenticationSASLFinal
          if (!scram || scramDone) throw new Error('unexpected SASLFinal');
          scram.verifyServerFinal(f.body.subarray(4));
          scramDone = true;
          break;
        default:
          throw new UpstreamError('ERR_UPSTREAM_AUTH', `${where}: server asks for unsupported authentication ${AUTH_NAMES[kind] ?? `type ${kind}`}`);
      }
    } catch (err) {
      if (err instanceof UpstreamError) throw err;
      if (err instanceof ScramError) throw new UpstreamError('ERR_UPSTREAM_AUTH', `${where}: SCRAM authentication failed: ${err.message}`);
      throw new UpstreamError('ERR_UPSTREAM_PROTOCOL', `${where}: protocol violation during authentication: ${(err as Error).message}`);
    }
  }
}

/** The proxy's own startup parameters: nothing from the client is ever passed through. */
export function startupParameters(t: UpstreamTarget, opts: ConnectOptions = {}): Record<string, string> {
  return {
    user: t.user,
    database: t.database,
    client_encoding: 'UTF8',
    // The gateway parses strings as the server does only with standard_conforming_strings on
    // (`'a\'` ends at the quote). A database or role default of off must not change that.
    standard_conforming_strings: 'on',
    application_name: t.applicationName ?? opts.applicationName ?? 'tollgate',
    // The gateway resolves unqualified names with this path: pin it, never inherit "$user" or a
    // role/database default the policy knows nothing of.
    search_path: opts.searchPath ?? 'public',
  };
}

/** Opens an authenticated upstream session, ready for queries. Rejects with UpstreamError. */
export async function connectUpstream(url: string, opts: ConnectOptions = {}): Promise<Upstream> {
  const t = parseUpstreamUrl(url);
  const where = `upstream ${describeTarget(t)}`;
  const timeoutMs = opts.timeoutMs ?? t.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  return withDeadline(timeoutMs, where, async (track) => {
    const { reader, tls: secure } = await openTransport(t, track);
    reader.socket.write(startupMessage(startupParameters(t, opts)));
    await authenticate(reader, t, where, secure);

    const parameters = new Map<string, string>();
    let backendKey: Upstream['backendKey'] | null = null;
    for (;;) {
      const f = await reader.frame();
      switch (f.code) {
        case 0x53 /* S */: {
          if (parameters.size >= MAX_PARAMETERS) {
            throw new UpstreamError('ERR_UPSTREAM_PROTOCOL', `${where}: server sent more than ${MAX_PARAMETERS} parameters`);
          }
          const { name, value } = decodeParameterStatus(f.body);
          parameters.set(name, value);
          break;
        }
        case 0x4b /* K */:
          if (f.body.length < 8) throw new UpstreamError('ERR_UPSTREAM_PROTOCOL', `${where}: BackendKeyData too short`);
          backendKey = { pid: f.body.readInt32BE(0), secret: Buffer.from(f.body.subarray(4)) };
          break;
        case 0x4e /* N */:
          break; // a notice during startup carries nothing we need
        case 0x45 /* E */:
          throw serverRefusal(f.body, where, 'the session');
        case 0x5a /* Z */: {
          if (!backendKey) throw new UpstreamError('ERR_UPSTREAM_PROTOCOL', `${where}: no BackendKeyData before ReadyForQuery`);
          // The data path parses UTF8; a server that would not take it must not be used.
          const enc = parameters.get('client_encoding');
          if (enc !== undefined && enc.toUpperCase() !== 'UTF8') {
            throw new UpstreamError('ERR_UPSTREAM_PROTOCOL', `${where}: server reports client_encoding ${enc}, expected UTF8`);
          }
          const scs = parameters.get('standard_conforming_strings');
          if (scs !== undefined && scs !== 'on') {
            throw new UpstreamError('ERR_UPSTREAM_PROTOCOL', `${where}: server reports standard_conforming_strings ${scs}, expected on`);
          }
          const leftover = reader.detach();
          return { socket: reader.socket, backendKey, parameters, leftover, tls: secure };
        }
        default:
          throw new UpstreamError('ERR_UPSTREAM_PROTOCOL', `${where}: unexpected message '${String.fromCharCode(f.code)}' during startup`);
      }
    }
  });
}

export type { HandshakeReader };
