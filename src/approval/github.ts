// Approvals on the pull request (DESIGN.md "Approvals on the pull request"): a check run on the PR's
// head commit shows what waits; a permitted reviewer answers with a `/tollgate approve|deny <id>`
// comment; the check run is completed with the outcome. Every failure before a valid answer ends in deny.
import type { GithubApprovalConfig } from './config.js';
import { hasWriteAccess, isAnswerableId, parseApprovers, screenComment, type AnswerContext, type ApproverEntry, type IssueComment } from './answers.js';
import { checkRunName, checkRunSummary, code, type Refusal } from './check-run-text.js';
import { GithubApiError, GithubClient, abortableSleep, oneLine, type FetchLike, type RequestOptions, type Sleep } from './github-client.js';
import { formatDuration } from './duration.js';
import type { Approver, ReviewOutcome, ReviewRequest } from './types.js';

export interface GithubApproverDeps {
  fetch?: FetchLike;
  /** Milliseconds since the epoch. */
  now?: () => number;
  sleep?: Sleep;
  /** One line per event; the action turns the check-run line into a notice. Never given secrets. */
  log?: (line: string) => void;
  /** The role's `approvers`: GitHub logins or `org/team`. Empty or absent: anyone with write access. */
  approvers?: string[];
  /** Longest pause between two polls when nothing changes. Default: 4 × pollMs, at most 30 s. */
  maxPollMs?: number;
  /** Wait after a secondary rate limit without retry-after (GitHub: at least a minute). */
  secondaryWaitMs?: number;
}

interface CheckRun {
  id: number;
  html_url?: string;
}

type Conclusion = 'success' | 'failure' | 'timed_out' | 'cancelled';

export class GithubApprover implements Approver {
  private readonly client: GithubClient;
  private readonly owner: string;
  private readonly repo: string;
  private readonly now: () => number;
  private readonly sleep: Sleep;
  private readonly log: (line: string) => void;
  private readonly approvers: ApproverEntry[];
  private readonly approverNames: string[];
  private readonly maxPollMs: number;
  /** Every request id this approver has asked about: an answer to one of them is no mistake on another. */
  private readonly ids = new Set<string>();

  constructor(private readonly config: GithubApprovalConfig, deps: GithubApproverDeps = {}) {
    const [owner, repo, ...rest] = config.repository.split('/');
    if (!owner || !repo || rest.length) throw new TypeError(`github approval: repository "${config.repository}" is not owner/name`);
    if (!Number.isInteger(config.pullNumber) || config.pullNumber <= 0) {
      throw new TypeError(`github approval: pullNumber ${config.pullNumber} is not a pull request number`);
    }
    if (!config.token) throw new TypeError('github approval: no token');
    if (!config.actor) throw new TypeError("github approval: no actor (the job's actor may never approve, so it must be known)");
    if (!config.headSha) throw new TypeError('github approval: no head commit SHA for the check run');
    if (!(config.pollMs > 0)) throw new TypeError(`github approval: pollMs ${config.pollMs} must be positive`);
    this.owner = owner;
    this.repo = repo;
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? abortableSleep;
    this.log = deps.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.approverNames = (deps.approvers ?? []).map((a) => a.trim().replace(/^@/, ''));
    this.approvers = parseApprovers(this.approverNames);
    this.maxPollMs = deps.maxPollMs ?? Math.max(config.pollMs, Math.min(config.pollMs * 4, 30_000));
    this.client = new GithubClient({
      apiUrl: config.apiUrl, token: config.token, fetch: deps.fetch, now: this.now, sleep: this.sleep,
      log: this.log, secondaryWaitMs: deps.secondaryWaitMs,
    });
  }

  async review(req: ReviewRequest, signal?: AbortSignal): Promise<ReviewOutcome> {
    try {
      return await this.run(req, signal);
    } catch (err) {
      // Unexpected: still an answer, and still a denial.
      const reason = `approval failed: ${oneLine((err as Error).message)}`;
      this.log(`tollgate: request ${req.id}: ${reason}; denied`);
      return { approved: false, via: 'unavailable', reason };
    }
  }

  private async run(req: ReviewRequest, signal?: AbortSignal): Promise<ReviewOutcome> {
    if (!isAnswerableId(req.id)) {
      return { approved: false, via: 'unavailable', reason: `request id "${oneLine(req.id).slice(0, 140)}" cannot be quoted in an answer` };
    }
    this.ids.add(req.id);
    const deadline = this.now() + Math.max(0, req.timeoutMs);
    const requestedAt = req.requestedAt.getTime();
    const refusals: Refusal[] = [];
    const summary = (outcome?: string) => checkRunSummary({
      req, actor: this.config.actor, repository: this.config.repository, runUrl: this.config.runUrl,
      approvers: this.approverNames, deadline: new Date(deadline), refusals, outcome,
    });
    if (signal?.aborted) return { approved: false, via: 'github', reason: 'cancelled before the check run was created' };

    let run: CheckRun;
    try {
      const body: Record<string, unknown> = {
        name: checkRunName(req),
        head_sha: this.config.headSha,
        status: 'in_progress',
        external_id: req.id,
        output: { title: `Waiting for approval (request ${req.id})`, summary: summary() },
      };
      if (this.config.runUrl) body.details_url = this.config.runUrl;
      // Not aborted midway: a check run created but never known to us would stay "in progress" forever.
      const res = await this.client.request<CheckRun>('POST', this.path('check-runs'), { body, deadline, waitSignal: signal });
      if (typeof res.data?.id !== 'number') throw new GithubApiError('ERR_GITHUB_BAD_RESPONSE', 'the created check run has no id');
      run = res.data;
    } catch (err) {
      if (signal?.aborted) return { approved: false, via: 'github', reason: 'cancelled' };
      const denied = err instanceof GithubApiError && (err.status === 403 || err.status === 404);
      const reason = `could not open the approval check run on the pull request (${oneLine((err as Error).message)})`
        + (denied ? '; the job needs `permissions: checks: write`' : '');
      this.log(`tollgate: request ${req.id}: ${reason}; denied`);
      return { approved: false, via: 'unavailable', reason };
    }
    const runUrl = run.html_url ?? `${this.config.repository} check run ${run.id}`;
    this.log(`tollgate: approval needed for request ${req.id}: ${runUrl} (answer on pull request #${this.config.pullNumber} with "/tollgate approve ${req.id}" or "/tollgate deny ${req.id}")`);

    const seen = new Set<number>();
    const retryLogged = new Set<number>();
    const permissions = new Map<string, Promise<Verdict>>();
    let interval = this.config.pollMs;
    let lastFailure = '';
    for (;;) {
      if (signal?.aborted) {
        await this.complete(run, 'cancelled', 'Cancelled: denied', summary('**Outcome:** cancelled before an answer; the statement was denied.'));
        return { approved: false, via: 'github', where: runUrl, reason: 'cancelled' };
      }
      let comments: IssueComment[] | null = null;
      try {
        comments = await this.client.paginate<IssueComment>(
          this.path(`issues/${this.config.pullNumber}/comments`),
          { since: isoSeconds(requestedAt), per_page: 100 },
          { deadline, signal },
        );
        lastFailure = '';
      } catch (err) {
        const msg = oneLine((err as Error).message);
        if (msg !== lastFailure && !signal?.aborted) this.log(`tollgate: request ${req.id}: could not read the pull request's comments (${msg}); will retry`);
        lastFailure = msg;
      }

      let changed = false;
      const newRefusals: Refusal[] = [];
      const accepted: { verdict: 'approve' | 'deny'; login: string; comment: IssueComment }[] = [];
      const answerCtx = { requestId: req.id, otherIds: this.ids, actor: this.config.actor, requestedAt, deadline };
      for (const c of (comments ?? []).sort((a, b) => a.id - b.id)) {
        if (seen.has(c.id)) continue;
        const j = await this.judge(c, answerCtx, permissions, signal);
        if (j.kind === 'retry') {
          // Could not tell now (network, 5xx, rate limit): look at this comment again next poll.
          if (!signal?.aborted && !retryLogged.has(c.id)) {
            this.log(`tollgate: request ${req.id}: could not yet verify the answer in ${oneLine(c.html_url)} (${j.reason}); will retry`);
          }
          retryLogged.add(c.id);
          continue;
        }
        seen.add(c.id);
        changed = true;
        if (j.kind === 'refuse') {
          newRefusals.push({ login: j.login, reason: j.reason, url: c.html_url });
          this.log(`tollgate: request ${req.id}: refused answer by ${oneLine(j.login)} (${oneLine(c.html_url)}): ${oneLine(j.reason)}`);
        } else if (j.kind === 'accept') {
          accepted.push({ verdict: j.verdict, login: j.login, comment: c });
        }
      }
      refusals.push(...newRefusals);

      // Several valid answers in one look: a denial wins, else the first approval.
      const decided = accepted.find((a) => a.verdict === 'deny') ?? accepted[0];
      if (decided) {
        const at = new Date(Date.parse(decided.comment.created_at));
        const where = decided.comment.html_url;
        const who = `${code(decided.login)} at ${at.toISOString()} ([comment](${where}))`;
        if (decided.verdict === 'approve') {
          this.log(`tollgate: request ${req.id} approved by ${decided.login} (${oneLine(where)})`);
          await this.complete(run, 'success', `Approved by ${decided.login}`, summary(`**Outcome:** approved by ${who}.`));
          return { approved: true, via: 'github', approver: decided.login, at, where };
        }
        this.log(`tollgate: request ${req.id} denied by ${decided.login} (${oneLine(where)})`);
        await this.complete(run, 'failure', `Denied by ${decided.login}`, summary(`**Outcome:** denied by ${who}.`));
        return { approved: false, via: 'github', approver: decided.login, at, where, reason: `denied by ${decided.login}` };
      }
      if (newRefusals.length) {
        await this.update(run, { output: { title: `Waiting for approval (request ${req.id})`, summary: summary() } }, { deadline, signal });
      }

      if (this.now() >= deadline) {
        const waited = formatDuration(req.timeoutMs);
        this.log(`tollgate: request ${req.id}: no permitted answer within ${waited}; denied`);
        await this.complete(run, 'timed_out', `No answer within ${waited}: denied`,
          summary(`**Outcome:** no permitted answer within ${waited}; the statement was denied.`));
        return { approved: false, via: 'timeout', at: new Date(this.now()), where: runUrl, reason: `no permitted answer within ${waited}` };
      }
      // Back off while nothing happens; look again soon after any new comment.
      interval = changed ? this.config.pollMs : Math.min(this.maxPollMs, Math.ceil(interval * 1.5));
      await this.sleep(Math.max(0, Math.min(interval, deadline - this.now())), signal);
    }
  }

  /** One comment: not an answer, a refused answer, an accepted one, or "cannot tell yet". */
  private async judge(
    c: IssueComment, ctx: AnswerContext, permissions: Map<string, Promise<Verdict>>, signal?: AbortSignal,
  ): Promise<Judged> {
    const s = screenComment(c, ctx);
    if (s.kind === 'ignore') return s;
    if (s.kind === 'refuse') return { kind: 'refuse', login: c.user?.login ?? '(unknown)', reason: s.reason };
    const key = s.login.toLowerCase();
    let pending = permissions.get(key);
    if (!pending) {
      pending = this.mayAnswer(s.login, ctx.deadline, signal);
      permissions.set(key, pending);
    }
    const verdict = await pending;
    if (verdict.transient) {
      permissions.delete(key);
      return { kind: 'retry', reason: verdict.reason ?? 'unknown' };
    }
    if (!verdict.ok) return { kind: 'refuse', login: s.login, reason: verdict.reason ?? 'refused' };
    return { kind: 'accept', verdict: s.verdict, login: s.login };
  }

  /** Write permission, then the approvers list (a login, or active membership of an org/team). */
  private async mayAnswer(login: string, deadline: number, signal?: AbortSignal): Promise<Verdict> {
    try {
      const perm = await this.getOrNull<{ permission?: unknown; role_name?: unknown }>(
        this.path(`collaborators/${encodeURIComponent(login)}/permission`), deadline, signal);
      if (!perm || !hasWriteAccess(perm)) {
        const has = perm && typeof perm.role_name === 'string' ? perm.role_name : perm && typeof perm.permission === 'string' ? perm.permission : 'none';
        return { ok: false, reason: `no write permission on ${this.config.repository} (has ${oneLine(has)})` };
      }
      if (this.approvers.length === 0) return { ok: true };
      if (this.approvers.some((a) => a.kind === 'login' && a.login.toLowerCase() === login.toLowerCase())) return { ok: true };
      const problems: string[] = [];
      for (const a of this.approvers) {
        if (a.kind !== 'team') continue;
        try {
          const m = await this.getOrNull<{ state?: unknown }>(
            `orgs/${encodeURIComponent(a.org)}/teams/${encodeURIComponent(a.team)}/memberships/${encodeURIComponent(login)}`,
            deadline, signal);
          if (m?.state === 'active') return { ok: true };
        } catch (err) {
          if (err instanceof GithubApiError && err.transient) throw err;
          // e.g. 403: the job's GITHUB_TOKEN cannot read org teams; the team cannot vouch for anyone.
          problems.push(`could not read ${a.org}/${a.team} membership (${oneLine((err as Error).message)})`);
        }
      }
      const extra = problems.length ? `; ${problems.join('; ')}` : '';
      return { ok: false, reason: `not in this role's approvers (${this.approverNames.join(', ')})${extra}` };
    } catch (err) {
      const transient = err instanceof GithubApiError && (err.transient || err.code === 'ERR_GITHUB_ABORTED');
      return { ok: false, transient, reason: `could not verify permission: ${oneLine((err as Error).message)}` };
    }
  }

  /** A 404 means "no such membership/collaborator": null. */
  private async getOrNull<T>(path: string, deadline: number, signal?: AbortSignal): Promise<T | null> {
    try {
      return (await this.client.request<T>('GET', path, { deadline, signal })).data;
    } catch (err) {
      if (err instanceof GithubApiError && err.code === 'ERR_GITHUB_HTTP' && err.status === 404) return null;
      throw err;
    }
  }

  private async complete(run: CheckRun, conclusion: Conclusion, title: string, summary: string): Promise<void> {
    // The final update goes out even when the review was aborted (it records the outcome), but waits
    // for a rate limit at most 10 s.
    await this.update(run, {
      status: 'completed', conclusion, completed_at: new Date(this.now()).toISOString(), output: { title, summary },
    }, { deadline: this.now() + 10_000 });
  }

  /** Failing to update the check run never changes a decision: it is logged. */
  private async update(run: CheckRun, body: Record<string, unknown>, opts: RequestOptions): Promise<void> {
    try {
      await this.client.request('PATCH', this.path(`check-runs/${run.id}`), { ...opts, body });
    } catch (err) {
      this.log(`tollgate: could not update check run ${run.id} (${oneLine((err as Error).message)})`);
    }
  }

  private path(rest: string): string {
    return `repos/${encodeURIComponent(this.owner)}/${encodeURIComponent(this.repo)}/${rest}`;
  }
}

type Judged =
  | { kind: 'ignore' }
  | { kind: 'retry'; reason: string }
  | { kind: 'refuse'; login: string; reason: string }
  | { kind: 'accept'; verdict: 'approve' | 'deny'; login: string };

interface Verdict {
  ok: boolean;
  reason?: string;
  /** The answer could not be verified now: try again later rather than refuse. */
  transient?: boolean;
}

function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
