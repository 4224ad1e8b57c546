// The approver interface: the proxy asks, an implementation (terminal, GitHub) answers.

export interface ReviewRequest {
  /** Unique id a reviewer quotes in their answer. */
  id: string;
  sessionId: string;
  /** The statement with literals replaced by placeholders: never the raw text. */
  statement: string;
  kind: string;
  object?: string;
  rule: string | null;
  reason: string;
  /** The job's OIDC claims (repository, workflow, run_id, actor, ref, …). */
  identity: Record<string, unknown>;
  requestedAt: Date;
  /** How long to wait before answering `timed_out`. */
  timeoutMs: number;
}

export type ReviewVia = 'terminal' | 'github' | 'timeout' | 'unavailable';

export interface ReviewOutcome {
  approved: boolean;
  via: ReviewVia;
  /** Login (or terminal user) who answered. */
  approver?: string;
  at?: Date;
  /** Where the answer was given (check run URL, comment URL, "terminal"). */
  where?: string;
  /** Why it was denied or why no one could answer. */
  reason?: string;
}

export interface Approver {
  /** Resolves when answered, timed out (approved: false, via: 'timeout'), or aborted. Never rejects. */
  review(req: ReviewRequest, signal?: AbortSignal): Promise<ReviewOutcome>;
  close?(): Promise<void>;
}
