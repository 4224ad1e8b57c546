// Approvals answered in a terminal (`tollgate demo`, `tollgate serve`): one request at a time is shown
// with its id, kind, object, rule and statement (already literal-free), and the user types y or n.
import { userInfo } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { formatDuration } from './duration.js';
import type { Approver, ReviewOutcome, ReviewRequest } from './types.js';

export interface TerminalApproverOptions {
  input: Readable;
  output: Writable;
  /** Who answers; defaults to the local account name. */
  user?: string;
}

interface Pending {
  req: ReviewRequest;
  resolve: (outcome: ReviewOutcome) => void;
  timer?: NodeJS.Timeout;
  signal?: AbortSignal;
  onAbort?: () => void;
  done: boolean;
}

export class TerminalApprover implements Approver {
  private readonly input: Readable;
  private readonly output: Writable;
  private readonly user: string;
  private readonly decoder = new StringDecoder('utf8');
  private readonly queue: Pending[] = [];
  private current: Pending | null = null;
  private buffer = '';
  private inputClosed = false;
  private readonly onData = (chunk: Buffer | string) => this.receive(chunk);
  private readonly onEnd = () => this.endOfInput();

  constructor(opts: TerminalApproverOptions) {
    this.input = opts.input;
    this.output = opts.output;
    this.user = opts.user ?? localUser();
    this.input.on('data', this.onData);
    this.input.on('end', this.onEnd);
    this.input.on('close', this.onEnd);
  }

  review(req: ReviewRequest, signal?: AbortSignal): Promise<ReviewOutcome> {
    return new Promise<ReviewOutcome>((resolve) => {
      const p: Pending = { req, resolve, done: false };
      if (this.inputClosed) return resolve(denied('terminal input is closed: no one can answer'));
      if (signal?.aborted) return resolve(cancelled());
      // The timeout runs from the moment the request is made, queued or shown.
      p.timer = setTimeout(() => this.settle(p, timedOut(req)), Math.max(0, req.timeoutMs));
      if (signal) {
        p.signal = signal;
        p.onAbort = () => this.settle(p, cancelled());
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.queue.push(p);
      this.showNext();
    });
  }

  async close(): Promise<void> {
    this.input.off('data', this.onData);
    this.input.off('end', this.onEnd);
    this.input.off('close', this.onEnd);
    this.inputClosed = true;
    for (const p of [...(this.current ? [this.current] : []), ...this.queue]) {
      this.settle(p, denied('the terminal approver was closed'));
    }
  }

  private showNext(): void {
    if (this.current || this.queue.length === 0) return;
    const p = this.queue.shift()!;
    this.current = p;
    // Anything typed before this prompt was not an answer to this request.
    this.buffer = '';
    const r = p.req;
    const lines = [
      '',
      `tollgate: approval needed (request ${safe(r.id)})`,
      `  kind:      ${safe(r.kind)}`,
      `  object:    ${r.object ? safe(r.object) : '(none)'}`,
      `  rule:      ${r.rule ? safe(r.rule) : '(none)'}`,
      `  reason:    ${safe(r.reason)}`,
      `  statement: ${safe(r.statement).replace(/\n/g, '\n             ')}`,
      `  answer within ${formatDuration(r.timeoutMs)} or it is denied`,
    ];
    this.output.write(lines.join('\n') + '\napprove? [y/N] ');
  }

  private receive(chunk: Buffer | string): void {
    if (!this.current) return; // nothing asked: typing ahead is not an answer
    this.buffer += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const nl = this.buffer.indexOf('\n');
    if (nl < 0) return;
    const line = this.buffer.slice(0, nl).trim().toLowerCase();
    const p = this.current;
    const at = new Date();
    if (line === 'y' || line === 'yes') {
      this.output.write(`approved request ${safe(p.req.id)}\n`);
      this.settle(p, { approved: true, via: 'terminal', approver: this.user, at, where: 'terminal' });
    } else {
      this.output.write(`denied request ${safe(p.req.id)}\n`);
      this.settle(p, {
        approved: false, via: 'terminal', approver: this.user, at, where: 'terminal',
        reason: 'denied in the terminal',
      });
    }
  }

  private endOfInput(): void {
    if (this.inputClosed) return;
    this.inputClosed = true;
    for (const p of [...(this.current ? [this.current] : []), ...this.queue]) {
      this.settle(p, denied('terminal input closed before an answer'));
    }
  }

  private settle(p: Pending, outcome: ReviewOutcome): void {
    if (p.done) return;
    p.done = true;
    if (p.timer) clearTimeout(p.timer);
    if (p.signal && p.onAbort) p.signal.removeEventListener('abort', p.onAbort);
    const i = this.queue.indexOf(p);
    if (i >= 0) this.queue.splice(i, 1);
    if (this.current === p) {
      this.current = null;
      if (outcome.via === 'timeout') this.output.write(`\nno answer in time: request ${safe(p.req.id)} denied\n`);
      else if (outcome.reason === 'cancelled') this.output.write(`\nrequest ${safe(p.req.id)} cancelled\n`);
    }
    p.resolve(outcome);
    this.showNext();
  }
}

function denied(reason: string): ReviewOutcome {
  return { approved: false, via: 'terminal', reason };
}

function cancelled(): ReviewOutcome {
  return { approved: false, via: 'terminal', reason: 'cancelled' };
}

function timedOut(req: ReviewRequest): ReviewOutcome {
  return { approved: false, via: 'timeout', at: new Date(), reason: `no answer in the terminal within ${formatDuration(req.timeoutMs)}` };
}

function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    // Containers without a passwd entry for the uid: still name someone.
    return process.env.USER ?? process.env.USERNAME ?? 'local user';
  }
}

/** Control and bidi-override characters could rewrite the terminal (quoted identifiers may hold anything). */
export function safe(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '?');
}
