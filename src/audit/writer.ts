// Ordered, non-blocking appends to a sink. The proxy's hot path only pushes bytes into a queue; one
// write at a time drains it in order. A failed write keeps its bytes (and everything queued after
// them) for the next attempt, so no record is lost because another write failed; the error is
// surfaced through `error`, `onError` and a rejecting flush().

const RETRY_MS = 1_000;
/** A busy log is written at most this often (a drain for flush()/close() writes at once)... */
const BATCH_MS = 5;
/** ...or as soon as this much waits. */
const BATCH_BYTES = 256 * 1024;

export interface Sink {
  /** Writes a prefix of `data`, resolving with how many bytes were written. */
  write(data: Uint8Array): Promise<number>;
  /**
   * Optional synchronous write (a regular file's page cache): used instead of write() when present.
   * One system call per drained batch is far cheaper on the proxy's hot path than a promise and a
   * thread-pool round trip per batch.
   */
  writeSync?(data: Uint8Array): number;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export class OrderedWriter {
  // Lines wait as strings and become bytes once per batch: one conversion per system call.
  private queue: (string | Uint8Array)[] = [];
  private draining: Promise<void> | null = null;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  /** String length or bytes queued (an estimate of the batch size). */
  private queued = 0;
  /** performance.now() of the last drain. */
  private lastWrite = -Infinity;
  private lastError: Error | null = null;

  /** True while produce() runs: what it pushes is written by the drain that called it. */
  private producing = false;

  /**
   * @param produce called at the start of every drain, to push what its owner kept for later (the
   *   audit log seals its records in batches): see wake().
   */
  constructor(
    private readonly sink: Sink,
    private readonly describe: (err: unknown) => Error,
    private readonly onError?: (err: Error) => void,
    private readonly produce?: () => void,
  ) {}

  /** The last write error, cleared once a later write succeeds. */
  get error(): Error | null {
    return this.lastError;
  }

  /** Bytes queued and not yet written. */
  get pendingBytes(): number {
    return this.queue.reduce((n, b) => n + (typeof b === 'string' ? Buffer.byteLength(b, 'utf8') : b.length), 0);
  }

  push(data: string | Uint8Array): void {
    this.queue.push(data);
    this.queued += data.length;
    if (!this.producing) this.wake();
  }

  /** Schedules a drain, as push() does: for an owner whose produce() has something to push. */
  wake(): void {
    if (this.draining) return;
    // Enough for one large write: do not wait for the batch timer.
    if (this.queued >= BATCH_BYTES && this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      this.scheduled = false;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      this.timer = null;
      void this.drain().catch(() => undefined);
    };
    // While writes fail, retry once a second instead of on every append (flush() always retries
    // at once). A quiet log writes at the end of this tick; a busy one (written less than BATCH_MS
    // ago) gathers what comes within BATCH_MS into one write: one system call per batch, not per
    // statement, on the proxy's hot path.
    const since = performance.now() - this.lastWrite;
    if (this.lastError) setTimeout(go, RETRY_MS).unref();
    else if (since >= BATCH_MS || this.queued >= BATCH_BYTES) setImmediate(go);
    else this.timer = setTimeout(go, BATCH_MS - since);
  }

  /** Writes everything queued so far; rejects with the write error when bytes remain unwritten. */
  async flush(): Promise<void> {
    await this.drain();
    if (this.queue.length > 0) throw this.lastError ?? new Error('audit log: unwritten records remain');
  }

  /** flush() and then fsync. */
  async sync(): Promise<void> {
    await this.flush();
    try {
      await this.sink.sync();
    } catch (err) {
      throw this.fail(err);
    }
  }

  async close(): Promise<void> {
    await this.sync();
    await this.sink.close();
  }

  /** Lets the owner push what it kept back (see the constructor), once per batch. */
  private collect(): void {
    if (!this.produce) return;
    this.producing = true;
    try {
      this.produce();
    } finally {
      this.producing = false;
    }
  }

  /** One drain at a time; a call while one runs waits for it and then drains what came since. */
  private drain(): Promise<void> {
    if (this.draining) {
      return this.draining.then(() => (this.queue.length > 0 && !this.draining ? this.drain() : undefined));
    }
    if (this.sink.writeSync) {
      try {
        this.writeAllSync(this.sink.writeSync.bind(this.sink));
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    const run = this.writeAll().finally(() => {
      this.draining = null;
    });
    this.draining = run;
    return run;
  }

  private async writeAll(): Promise<void> {
    for (this.collect(); this.queue.length > 0; this.collect()) {
      const { batch, taken } = this.nextBatch();
      let written = 0;
      try {
        while (written < batch.length) written += progress(await this.sink.write(batch.subarray(written)));
      } catch (err) {
        throw this.keepUnwritten(batch, taken, written, err);
      }
      this.written(taken);
    }
  }

  /** writeAll with a synchronous sink: same batching, same keeping of unwritten bytes on failure. */
  private writeAllSync(write: (data: Uint8Array) => number): void {
    for (this.collect(); this.queue.length > 0; this.collect()) {
      const { batch, taken } = this.nextBatch();
      let written = 0;
      try {
        while (written < batch.length) written += progress(write(batch.subarray(written)));
      } catch (err) {
        throw this.keepUnwritten(batch, taken, written, err);
      }
      this.written(taken);
    }
  }

  /** Everything queued, as one buffer (one system call), and how many queue entries it covers. */
  private nextBatch(): { batch: Uint8Array; taken: number } {
    const taken = this.queue.length;
    if (this.queue.every((x) => typeof x === 'string')) return { batch: Buffer.from(this.queue.join(''), 'utf8'), taken };
    return { batch: Buffer.concat(this.queue.map((x) => (typeof x === 'string' ? Buffer.from(x, 'utf8') : x))), taken };
  }

  private written(taken: number): void {
    this.queue.splice(0, taken);
    this.queued = this.queue.reduce((n, x) => n + x.length, 0);
    this.lastWrite = performance.now();
    this.lastError = null;
  }

  /** Keeps the unwritten tail at the front, ahead of anything appended meanwhile; returns the error to throw. */
  private keepUnwritten(batch: Uint8Array, taken: number, written: number, err: unknown): Error {
    const rest = batch.subarray(written);
    this.queue.splice(0, taken, ...(rest.length > 0 ? [rest] : []));
    this.queued = this.queue.reduce((n, x) => n + x.length, 0);
    return this.fail(err);
  }

  private fail(err: unknown): Error {
    const e = this.describe(err);
    // Report when writing starts failing or fails differently, not on every retry.
    if (this.lastError?.message !== e.message) this.onError?.(e);
    this.lastError = e;
    return e;
  }
}

/** A write that reports no progress would loop forever: treat it as a failure. */
function progress(n: number): number {
  if (n <= 0) throw new Error('write made no progress');
  return n;
}
