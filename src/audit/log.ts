// The append-only, hash-chained audit log. append() is synchronous and cheap (sanitize, hash, queue):
// the proxy's hot path never waits for the disk. flush()/close() wait until every line is written and
// fsynced. Each line is canonicalJson({...entry, seq, prev, hash}) where hash = SHA-256 of the line
// without `hash` and prev = the previous line's hash (GENESIS for the first line).

import { writeSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { canonicalJson, GENESIS, lineHash, sealLine } from './canonical.js';
import { compileScrubber, SanitizeMemo, sanitizeEntry } from './redact.js';
import type { AuditEntry, AuditLine } from './types.js';
import { OrderedWriter } from './writer.js';

export type AuditLogErrorCode = 'ERR_AUDIT_TAIL' | 'ERR_AUDIT_WRITE' | 'ERR_AUDIT_CLOSED' | 'ERR_AUDIT_OPEN';

export class AuditLogError extends Error {
  constructor(
    readonly code: AuditLogErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AuditLogError';
  }
}

export interface AuditLogOptions {
  /** Fills `session` of entries that come without one. */
  session?: string;
  /** Values that must never reach the log (session secret, upstream password, mask key): replaced. */
  secrets?: readonly string[];
  /** Called on every write error (the records stay queued and are retried). */
  onError?: (err: AuditLogError) => void;
}

/** Longest line accepted when reading the tail of an existing log. */
const MAX_TAIL_LINE = 16 * 1024 * 1024;

export class AuditLog {
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly scrub: (text: string) => string;
  private readonly memo: SanitizeMemo;
  private identityCache: { source: unknown; snapshot: [string, unknown][]; clean: AuditEntry['identity'] } | null = null;
  /** Entries passed to appendLater, in order, not yet sealed. */
  private kept: (() => AuditEntry)[] = [];

  private constructor(
    readonly path: string,
    private readonly writer: OrderedWriter,
    private seq: number,
    private prev: string,
    private readonly opts: AuditLogOptions,
  ) {
    this.scrub = compileScrubber(opts.secrets ?? []);
    this.memo = new SanitizeMemo(this.scrub);
  }

  /**
   * Opens (creating with mode 0600) the log at `path`. An existing log is continued: its last line must
   * be complete and intact, else this rejects with ERR_AUDIT_TAIL rather than fork or corrupt the chain.
   */
  static async open(path: string, opts: AuditLogOptions = {}): Promise<AuditLog> {
    const { seq, hash } = await readTail(path);
    let handle: FileHandle;
    try {
      handle = await open(path, 'a', 0o600);
    } catch (err) {
      throw new AuditLogError('ERR_AUDIT_OPEN', `audit log ${path}: cannot open for appending: ${(err as Error).message}`, { cause: err });
    }
    const writer = new OrderedWriter(
      {
        write: async (data) => (await handle.write(data)).bytesWritten,
        // Appends to a local file land in the page cache: a direct write per drained batch.
        writeSync: (data) => writeSync(handle.fd, data),
        sync: () => handle.sync(),
        close: () => handle.close(),
      },
      (err) =>
        err instanceof AuditLogError
          ? err
          : new AuditLogError('ERR_AUDIT_WRITE', `audit log ${path}: write failed, records kept in memory for retry: ${(err as Error).message}`, { cause: err }),
      opts.onError as ((err: Error) => void) | undefined,
      // The records kept by appendLater are sealed when the writer drains (a batch at a time).
      () => log.sealKept(),
    );
    const log = new AuditLog(path, writer, seq, hash, opts);
    return log;
  }

  /** Number of lines in the log (including those still queued). */
  get count(): number {
    this.sealKept();
    return this.seq;
  }

  /** Hash of the last line appended (GENESIS for an empty log): the chain's head, worth publishing. */
  get head(): string {
    this.sealKept();
    return this.prev;
  }

  /** The last write error while records remain unwritten, else null. Fail closed on it. */
  get writeError(): AuditLogError | null {
    return this.writer.error as AuditLogError | null;
  }

  /** Records one entry; returns the line as it will be on disk. Never waits for the disk. */
  append(entry: AuditEntry): AuditLine {
    if (this.closed) throw new AuditLogError('ERR_AUDIT_CLOSED', `audit log ${this.path}: append after close`);
    this.sealKept();
    return this.seal(entry);
  }

  /**
   * Records the entry `build` returns, built and sealed with the next batch written (within a few
   * milliseconds, or at once by flush(), close(), count or head), in the order of the calls. The
   * proxy's hot path uses this: building, hashing and writing a batch of lines in one go costs less
   * than one line at a time between the statements. `build` must capture what it records when called
   * here (times, durations): only the formatting happens later.
   */
  appendLater(build: () => AuditEntry): void {
    if (this.closed) throw new AuditLogError('ERR_AUDIT_CLOSED', `audit log ${this.path}: append after close`);
    this.kept.push(build);
    this.writer.wake();
  }

  private sealKept(): void {
    if (this.kept.length === 0) return;
    const kept = this.kept;
    this.kept = [];
    for (const build of kept) {
      try {
        this.seal(build());
      } catch (err) {
        // Never silently lost: the line says a record could not be built, and why.
        this.seal({
          time: new Date().toISOString(),
          session: '',
          identity: {},
          role: '',
          type: 'session',
          decision: 'error',
          reason: `an audit record could not be built: ${(err as Error)?.message ?? String(err)}`,
        });
      }
    }
  }

  private seal(entry: AuditEntry): AuditLine {
    const clean = sanitizeEntry(
      { ...entry, identity: {}, session: entry.session || this.opts.session || '' },
      this.scrub,
      this.memo,
    );
    clean.identity = this.identityOf(entry.identity);
    // sanitizeEntry returned a fresh object: it becomes the line (no copies on the hot path).
    const line = clean as AuditLine;
    line.seq = this.seq + 1;
    line.prev = this.prev;
    const { hash, text } = sealLine(line as unknown as Record<string, unknown>);
    line.hash = hash;
    this.writer.push(`${text}\n`);
    this.seq = line.seq;
    this.prev = hash;
    return line;
  }

  /**
   * The sanitized identity, computed once per session: the proxy passes the same claims on every line.
   * A shallow snapshot guards against a caller that changes the object in place.
   */
  private identityOf(raw: AuditEntry['identity']): AuditEntry['identity'] {
    if (raw === null || typeof raw !== 'object') return Object.freeze({});
    const cached = this.identityCache;
    if (cached && cached.source === raw && sameEntries(cached.snapshot, raw)) return cached.clean;
    const clean = Object.freeze(sanitizeEntry({ identity: raw } as AuditEntry, this.scrub).identity);
    this.identityCache = { source: raw, snapshot: Object.entries(raw), clean };
    return clean;
  }

  /** Resolves when every line appended so far is written and fsynced; rejects with the write error. */
  flush(): Promise<void> {
    return this.writer.sync();
  }

  /**
   * Flushes, fsyncs and closes. Further appends throw. If the final write fails this rejects and the
   * records stay queued: calling close() again retries.
   */
  close(): Promise<void> {
    this.closed = true;
    // Idempotent once it succeeded; after a failure the next call retries.
    this.closing ??= this.writer.close().catch((err: unknown) => {
      this.closing = null;
      throw err;
    });
    return this.closing;
  }
}

function sameEntries(snapshot: [string, unknown][], obj: Record<string, unknown>): boolean {
  if (Object.keys(obj).length !== snapshot.length) return false;
  for (const [k, v] of snapshot) if (obj[k] !== v) return false;
  return true;
}

/** The seq and hash of the existing log's last line (0 and GENESIS when absent or empty). */
async function readTail(path: string): Promise<{ seq: number; hash: string }> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) return { seq: 0, hash: GENESIS }; // e.g. /dev/null
    size = st.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { seq: 0, hash: GENESIS };
    throw new AuditLogError('ERR_AUDIT_OPEN', `audit log ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (size === 0) return { seq: 0, hash: GENESIS };
  const refuse = (why: string) =>
    new AuditLogError(
      'ERR_AUDIT_TAIL',
      `audit log ${path}: refusing to append: ${why}; run \`tollgate audit verify ${path}\` and move the file aside`,
    );
  const fh = await open(path, 'r');
  try {
    // Read backwards until the newline that ends the line before the last one.
    const last = Buffer.alloc(1);
    await fh.read(last, 0, 1, size - 1);
    if (last[0] !== 0x0a) throw refuse('the last line is incomplete (no final newline)');
    const chunk = 64 * 1024;
    let from = size;
    let tail = Buffer.alloc(0);
    let lineStart = -1;
    while (lineStart < 0) {
      const next = Math.max(0, from - chunk);
      const buf = Buffer.alloc(from - next);
      await fh.read(buf, 0, buf.length, next);
      tail = Buffer.concat([buf, tail]);
      from = next;
      const nl = tail.length >= 2 ? tail.lastIndexOf(0x0a, tail.length - 2) : -1;
      if (nl >= 0) lineStart = nl + 1;
      else if (from === 0) lineStart = 0;
      else if (tail.length > MAX_TAIL_LINE) throw refuse('the last line is longer than 16 MiB');
    }
    const text = tail.subarray(lineStart, tail.length - 1).toString('utf8');
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw refuse('the last line is not valid JSON');
    }
    if (line === null || typeof line !== 'object' || Array.isArray(line)) throw refuse('the last line is not a JSON object');
    const { hash, ...rest } = line;
    if (typeof hash !== 'string' || lineHash(rest) !== hash || canonicalJson(line) !== text) {
      throw refuse('the last line does not match its hash');
    }
    if (!Number.isSafeInteger(line.seq) || (line.seq as number) < 1) throw refuse('the last line has no valid seq');
    return { seq: line.seq as number, hash };
  } finally {
    await fh.close();
  }
}
