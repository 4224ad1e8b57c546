// Holding a `review` call: the request goes to the same Approver the PostgreSQL path uses, and while
// it waits the client gets progress notifications (when it asked for progress), so an agent sees
// that something is happening instead of timing out blindly. The client's cancellation aborts the
// signal, which withdraws the review (the approver completes its check run as withdrawn).
import type { Approver, ReviewOutcome, ReviewRequest } from '../approval/types.js';

export interface HoldOptions {
  signal: AbortSignal;
  /** Sends one progress notification; absent when the client gave no progress token. */
  progress?: (progress: number, message: string) => Promise<void> | void;
  intervalMs: number;
}

export async function holdForReview(approver: Approver, req: ReviewRequest, o: HoldOptions): Promise<ReviewOutcome> {
  let ticks = 0;
  const say = () => {
    ticks++;
    const waited = Math.round((Date.now() - req.requestedAt.getTime()) / 1000);
    void Promise.resolve(o.progress?.(ticks, `tollgate: waiting for a reviewer to approve request ${req.id} (${waited}s so far)`)).catch(() => {});
  };
  const timer = o.progress ? setInterval(say, o.intervalMs) : null;
  if (o.progress) say();
  try {
    if (o.signal.aborted) return { approved: false, via: 'unavailable', reason: 'the client cancelled the request' };
    const outcome = await approver.review(req, o.signal);
    if (o.signal.aborted) return { ...outcome, approved: false, reason: 'the client cancelled the request' };
    return outcome;
  } catch (err) {
    // Approver.review never rejects by contract; if one does, deny.
    return { approved: false, via: 'unavailable', reason: `the approval channel failed: ${(err as Error)?.message ?? String(err)}` };
  } finally {
    if (timer) clearInterval(timer);
  }
}
