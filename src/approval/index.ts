// The approval channels, and the one place that picks a channel from the proxy's configuration.
import type { Readable, Writable } from 'node:stream';
import type { ApprovalConfig } from './config.js';
import { GithubApprover, type GithubApproverDeps } from './github.js';
import { NoChannelApprover } from './none.js';
import { TerminalApprover } from './terminal.js';
import type { Approver } from './types.js';

export { GithubApprover, type GithubApproverDeps } from './github.js';
export { NoChannelApprover } from './none.js';
export { TerminalApprover, type TerminalApproverOptions } from './terminal.js';
export type { Approver, ReviewOutcome, ReviewRequest, ReviewVia } from './types.js';

export interface CreateApproverOptions {
  /** Terminal channel: where questions are read and asked (default stdin / stdout). */
  input?: Readable;
  output?: Writable;
  /** GitHub channel: the role's `approvers` (logins or org/team), the log line sink, test seams. */
  approvers?: string[];
  /** GitHub channel: values never to show on a check run (scrubbed like the audit log). */
  secrets?: readonly string[];
  log?: (line: string) => void;
  fetch?: GithubApproverDeps['fetch'];
}

export function createApprover(config: ApprovalConfig, opts: CreateApproverOptions = {}): Approver {
  switch (config.kind) {
    case 'terminal':
      return new TerminalApprover({ input: opts.input ?? process.stdin, output: opts.output ?? process.stdout });
    case 'github':
      return new GithubApprover(config, { approvers: opts.approvers, log: opts.log, fetch: opts.fetch, secrets: opts.secrets });
    case 'none':
      return new NoChannelApprover(config.reason);
    default: {
      const unknown: never = config;
      throw new TypeError(`approval: unknown channel ${JSON.stringify((unknown as { kind?: unknown }).kind)}`);
    }
  }
}
