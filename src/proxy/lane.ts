// The connection's two small I/O helpers: a lane of messages handled one at a time, and a run of
// output bytes collected without copying.

/** One direction's queue: items in arrival order, `busy` while a handler's promise runs. */
export class Lane<T> {
  items: T[] = [];
  head = 0;
  busy = false;
  /** Bound once: the parsers call it for every message. */
  readonly push = (item: T): void => {
    this.items.push(item);
  };

  get empty(): boolean {
    return this.head >= this.items.length;
  }
}

/**
 * Bytes waiting to be written, collected without copying: a message that directly follows the
 * previous one in memory (the next frame of the same input chunk) only extends the current run, so
 * forwarded traffic leaves as whole slices of the chunks it arrived in.
 */
export class OutputRun {
  private parts: Buffer[] = [];
  private run: ArrayBufferLike | null = null;
  private start = 0;
  private end = 0;

  push(buf: Buffer): void {
    if (this.run === buf.buffer && this.end === buf.byteOffset) {
      this.end += buf.length;
      return;
    }
    this.seal();
    this.run = buf.buffer;
    this.start = buf.byteOffset;
    this.end = buf.byteOffset + buf.length;
  }

  /** Everything collected as one buffer (null when nothing is waiting); empties the run. */
  take(): Buffer | null {
    this.seal();
    if (this.parts.length === 0) return null;
    const data = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts = [];
    return data;
  }

  private seal(): void {
    if (this.run === null) return;
    this.parts.push(Buffer.from(this.run, this.start, this.end - this.start));
    this.run = null;
  }
}
