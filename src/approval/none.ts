// The approver for builds with no one to ask (a push or a schedule has no pull request): every review is
// denied at once, with the reason saying why, so a `review` rule falls back to `deny` and never waits.
import type { Approver, ReviewOutcome, ReviewRequest } from './types.js';

export class NoChannelApprover implements Approver {
  constructor(private readonly reason: string) {}

  async review(_req: ReviewRequest, _signal?: AbortSignal): Promise<ReviewOutcome> {
    return { approved: false, via: 'unavailable', reason: this.reason };
  }
}
