// How the proxy asks for approvals: which channel, and what the GitHub channel needs. Part of the
// daemon's configuration (daemon/config.ts), owned here because only the approval channels read it.

export interface GithubApprovalConfig {
  kind: 'github';
  apiUrl: string;
  token: string;
  /** owner/name */
  repository: string;
  pullNumber: number;
  headSha: string;
  /** The job's actor: never allowed to approve their own job's request. */
  actor: string;
  /** The verified token's `actor_id`: the actor is refused by account id, not by login. */
  actorId?: number;
  /** GITHUB_TRIGGERING_ACTOR (a re-run's actor): refused too. */
  triggeringActor?: string;
  pollMs: number;
  /** Links shown on the check run (run URL etc.). */
  runUrl?: string;
}

export type ApprovalConfig =
  | { kind: 'terminal' }
  | GithubApprovalConfig
  /** No channel (e.g. a push build): review falls back to deny with `reason`. */
  | { kind: 'none'; reason: string };
