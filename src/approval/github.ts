// Approvals on the pull request (DESIGN.md "Approvals on the pull request"): a check run on the PR's
// head commit shows what waits; a permitted reviewer answers with a `/tollgate approve|deny <id>`
// comment; the check run is completed with the outcome. Every failure before a valid answer ends in deny.
import type { GithubApprovalConfig } from './config.js';
import { fromComment, fromReview, hasWriteAccess, isAnswerableId, parseApprovers, screenAnswer, type AnswerContext, type AnswerSource, type ApproverEntry, type IssueComment, type PullReview } from './answers.js';
import { resolvePrincipals, type Principals } from './accounts.js';
import { checkRunName, checkRunSummary, code, showableStatement, type Refusal } from './check-run-text.js';
import { compileScrubber } from '../audit/redact.js';
import { confirmUnedited } from './edits.js';
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
  /** Values never to show on a check run (the session secret, the upstream password, …): scrubbed like the audit log. */
  secrets?: readonly string[];
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
  /** Who may never answer and who the listed approvers are, by account id: resolved at session start. */
  private principalsPromise: Promise<Principals> | null = null;
  /** The audit log's scrubber: secrets (the token included) and anything shaped like a JWT. */
  private readonly scrub: (text: string) => string;

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
    this.scrub = compileScrubber([config.token, ...(deps.secrets ?? [])]);
    this.approverNames = (deps.approvers ?? []).map((a) => a.trim().replace(/^@/, ''));
    this.approvers = parseApprovers(this.approverNames);
    this.maxPollMs = deps.maxPollMs ?? Math.max(config.pollMs, Math.min(config.pollMs * 4, 30_000));
    this.client = new GithubClient({
      apiUrl: config.apiUrl, token: config.token, fetch: deps.fetch, now: this.now, sleep: this.sleep,
      log: this.log, secondaryWaitMs: deps.secondaryWaitMs,
    });
    // At session start: a login that changes owner later must not inherit anything.
    void this.principals().catch(() => { /* reported by the first review that needs them */ });
  }

  /**
   * Resolves once the accounts that may never answer and the approvers' ids are known (they are
   * looked up when the approver is made, i.e. when the session starts); rejects when they cannot be.
   */
  async ready(): Promise<void> {
    await this.principals();
  }

  /** Resolved once; a failure is forgotten so the next review tries again (this one is denied). */
  private principals(signal?: AbortSignal): Promise<Principals> {
    this.principalsPromise ??= resolvePrincipals(this.client, {
      repoPath: this.path('').replace(/\/$/, ''), pullNumber: this.config.pullNumber, actor: this.config.actor,
      ...(this.config.actorId !== undefined ? { actorId: this.config.actorId } : {}),
      ...(this.config.triggeringActor ? { triggeringActor: this.config.triggeringActor } : {}),
      approvers: this.approvers,
    }, this.now() + 60_000, signal).catch((err: unknown) => {
      this.principalsPromise = null;
      throw err;
    });
    return this.principalsPromise;
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
    // Moves forward when the review starts over (the check run was rewritten by someone else).
    let requestedAt = req.requestedAt.getTime();
    /** Answers are listed from the first request time on, also after a restart (a vanished denial must show). */
    const listedSince = requestedAt;
    const refusals: Refusal[] = [];
    const summary = (outcome?: string) => checkRunSummary({
      req, actor: this.config.actor, repository: this.config.repository, runUrl: this.config.runUrl,
      approvers: this.approverNames, deadline: new Date(deadline), refusals, outcome, scrub: this.scrub,
    });
    const shown = showableStatement(req.statement, this.scrub);
    if (signal?.aborted) return { approved: false, via: 'github', reason: 'cancelled before the check run was created' };

    let principals: Principals;
    try {
      principals = await this.principals(signal);
    } catch (err) {
      const reason = `could not resolve who may answer (the job's actor, the pull request's author, the approvers) to GitHub account ids (${oneLine((err as Error).message)})`;
      this.log(`tollgate: request ${req.id}: ${reason}; denied`);
      return { approved: false, via: 'unavailable', reason };
    }
    for (const login of principals.unknownApprovers) {
      this.log(`tollgate: request ${req.id}: approver ${oneLine(login)} has no GitHub account; they cannot answer`);
    }

    const waitingTitle = `Waiting for approval (request ${req.id})`;
    let run: CheckRun;
    try {
      const body: Record<string, unknown> = {
        name: checkRunName(req),
        head_sha: this.config.headSha,
        external_id: req.id,
        ...(shown.ok
          ? { status: 'in_progress', output: { title: waitingTitle, summary: summary() } }
          // Not approvable here: the reviewer still sees the request, and why it was denied at once.
          : { status: 'completed', conclusion: 'failure', completed_at: new Date(this.now()).toISOString(), output: { title: 'Cannot be approved here: denied', summary: summary() } }),
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
    if (!shown.ok) {
      const reason = `not approvable from the check run: ${shown.why}`;
      this.log(`tollgate: request ${req.id}: ${reason} (${runUrl}); denied`);
      return { approved: false, via: 'github', where: runUrl, reason };
    }
    /** What the check run says, as we last wrote it: checked before an approval is taken. */
    let written = { title: waitingTitle, summary: summary() };
    this.log(`tollgate: approval needed for request ${req.id}: ${runUrl} (answer on pull request #${this.config.pullNumber} with "/tollgate approve ${req.id}" or "/tollgate deny ${req.id}")`);

    const seen = new Set<string>();
    const retryLogged = new Set<string>();
    /** Denials by any human (screened, permission perhaps not yet known): one that vanishes ends the review. */
    const denials = new Map<string, { login: string; url: string; body: string }>();
    const permissions = new Map<number, Promise<Verdict>>();
    let interval = this.config.pollMs;
    let lastFailure = '';
    for (;;) {
      if (signal?.aborted) {
        await this.complete(run, 'cancelled', 'Cancelled: denied', summary('**Outcome:** cancelled before an answer; the statement was denied.'));
        return { approved: false, via: 'github', where: runUrl, reason: 'cancelled' };
      }
      let answers: AnswerSource[] | null = null;
      try {
        const comments = await this.client.paginate<IssueComment>(
          this.path(`issues/${this.config.pullNumber}/comments`),
          { since: isoSeconds(listedSince), per_page: 100 },
          { deadline, signal },
        );
        // An approving review is an answer too (a reviewer can use GitHub's own Approve dialog).
        const reviews = await this.client.paginate<PullReview>(
          this.path(`pulls/${this.config.pullNumber}/reviews`), { per_page: 100 }, { deadline, signal });
        answers = [...comments.map(fromComment), ...reviews.map(fromReview)];
        lastFailure = '';
      } catch (err) {
        const msg = oneLine((err as Error).message);
        if (msg !== lastFailure && !signal?.aborted) this.log(`tollgate: request ${req.id}: could not read the pull request's comments and reviews (${msg}); will retry`);
        lastFailure = msg;
      }

      let changed = false;
      const newRefusals: Refusal[] = [];
      const accepted: { verdict: 'approve' | 'deny'; login: string; comment: AnswerSource }[] = [];
      const answerCtx: AnswerContext = { requestId: req.id, otherIds: this.ids, refusedIds: principals.refused, requestedAt, deadline };
      for (const c of (answers ?? []).sort((a, b) => a.id - b.id)) {
        const key = `${c.source}:${c.id}`;
        const sc = screenAnswer(c, answerCtx);
        if (sc.kind === 'candidate' && sc.verdict === 'deny' && !denials.has(key)) denials.set(key, { login: sc.login, url: c.url, body: c.body ?? '' });
        if (seen.has(key)) continue;
        const j = await this.judge(c, answerCtx, principals, permissions, signal);
        if (j.kind === 'retry') {
          // Could not tell now (network, 5xx, rate limit): look at this comment again next poll.
          if (!signal?.aborted && !retryLogged.has(key)) {
            this.log(`tollgate: request ${req.id}: could not yet verify the answer in ${oneLine(c.url)} (${j.reason}); will retry`);
          }
          retryLogged.add(key);
          continue;
        }
        seen.add(key);
        changed = true;
        if (j.kind === 'refuse') {
          newRefusals.push({ login: j.login, reason: j.reason, url: c.url });
          this.log(`tollgate: request ${req.id}: refused answer by ${oneLine(j.login)} (${oneLine(c.url)}): ${oneLine(j.reason)}`);
        } else if (j.kind === 'accept') {
          accepted.push({ verdict: j.verdict, login: j.login, comment: c });
        }
      }
      refusals.push(...newRefusals);

      if (answers) {
        const now = new Map(answers.map((a) => [`${a.source}:${a.id}`, a]));
        for (const [key, d] of denials) {
          const a = now.get(key);
          if (a && (a.body ?? '') === d.body && a.reviewState !== 'DISMISSED') continue;
          const how = a ? 'edited' : 'deleted';
          this.log(`tollgate: request ${req.id}: a denial by ${oneLine(d.login)} (${oneLine(d.url)}) was ${how}; denied`);
          await this.complete(run, 'failure', `Denied: a denial was ${how}`,
            summary(`**Outcome:** denied: a denial by ${code(d.login)} was ${how} before the review was decided ([answer](${d.url})).`));
          return { approved: false, via: 'github', approver: d.login, where: d.url, reason: `a denial by ${d.login} was ${how} before the review was decided` };
        }
      }

      // Several valid answers in one look: a denial wins, else the first approval.
      let decided: (typeof accepted)[number] | undefined = accepted.find((a) => a.verdict === 'deny') ?? accepted[0];
      if (decided?.verdict === 'approve') {
        // Exactly what its author wrote, once, and still there (GraphQL records edits exactly).
        let state: 'intact' | 'edited' | 'gone' | 'unknown';
        try {
          state = await confirmUnedited(this.client, decided.comment, { deadline, signal });
        } catch (err) {
          state = 'unknown';
          this.log(`tollgate: request ${req.id}: could not yet confirm the answer in ${oneLine(decided.comment.url)} is unedited (${oneLine((err as Error).message)}); will retry`);
        }
        if (state !== 'intact') {
          const key = `${decided.comment.source}:${decided.comment.id}`;
          if (state === 'unknown') seen.delete(key);
          else {
            const reason = state === 'edited' ? `the ${decided.comment.source} was edited: post a new one instead` : `the ${decided.comment.source} was deleted before the decision`;
            refusals.push({ login: decided.login, reason, url: decided.comment.url });
            this.log(`tollgate: request ${req.id}: refused answer by ${oneLine(decided.login)} (${oneLine(decided.comment.url)}): ${reason}`);
            written = { title: waitingTitle, summary: summary() };
            await this.update(run, { output: written }, { deadline, signal });
          }
          // Not taken: on to the timeout check and the next look.
          decided = undefined;
          changed = true;
        }
      }
      if (decided?.verdict === 'approve') {
        // The reviewer approved what the check run showed them: it must still be our text.
        const intact = await this.checkRunIntact(run, written, deadline, signal);
        if (intact !== true) {
          const why = intact === false
            ? 'the check run\'s text was changed by someone other than tollgate; it was restored and the review started over'
            : 'the check run\'s text could not be read back to confirm it is unchanged; the review started over';
          this.log(`tollgate: request ${req.id}: ${why}; the approval by ${oneLine(decided.login)} (${oneLine(decided.comment.url)}) does not count`);
          refusals.push({ login: decided.login, reason: `given while ${why.replace('; it was restored and the review started over', '').replace('; the review started over', '')}: answer again`, url: decided.comment.url });
          requestedAt = this.now();
          written = { title: waitingTitle, summary: summary() };
          await this.update(run, { status: 'in_progress', output: written }, { deadline, signal });
          interval = this.config.pollMs;
          await this.sleep(Math.max(0, Math.min(interval, deadline - this.now())), signal);
          continue;
        }
      }
      if (decided) {
        const at = new Date(Date.parse(decided.comment.createdAt));
        const where = decided.comment.url;
        const who = `${code(decided.login)} at ${at.toISOString()} ([${decided.comment.source}](${where}))`;
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
        written = { title: waitingTitle, summary: summary() };
        await this.update(run, { output: written }, { deadline, signal });
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

  /** One comment or review: not an answer, a refused answer, an accepted one, or "cannot tell yet". */
  private async judge(
    c: AnswerSource, ctx: AnswerContext, principals: Principals, permissions: Map<number, Promise<Verdict>>, signal?: AbortSignal,
  ): Promise<Judged> {
    const s = screenAnswer(c, ctx);
    if (s.kind === 'ignore') return s;
    if (s.kind === 'refuse') return { kind: 'refuse', login: c.user?.login ?? '(unknown)', reason: s.reason };
    let pending = permissions.get(s.userId);
    if (!pending) {
      pending = this.mayAnswer(s.login, s.userId, principals, ctx.deadline, signal);
      permissions.set(s.userId, pending);
    }
    const verdict = await pending;
    if (verdict.transient) {
      permissions.delete(s.userId);
      return { kind: 'retry', reason: verdict.reason ?? 'unknown' };
    }
    if (!verdict.ok) return { kind: 'refuse', login: s.login, reason: verdict.reason ?? 'refused' };
    return { kind: 'accept', verdict: s.verdict, login: s.login };
  }

  /**
   * Write permission, then the approvers list: a listed login's account (by the id it had when the
   * session started), or active membership of a listed org/team.
   */
  private async mayAnswer(login: string, userId: number, principals: Principals, deadline: number, signal?: AbortSignal): Promise<Verdict> {
    try {
      const perm = await this.getOrNull<{ permission?: unknown; role_name?: unknown }>(
        this.path(`collaborators/${encodeURIComponent(login)}/permission`), deadline, signal);
      if (!perm || !hasWriteAccess(perm)) {
        const has = perm && typeof perm.role_name === 'string' ? perm.role_name : perm && typeof perm.permission === 'string' ? perm.permission : 'none';
        return { ok: false, reason: `no write permission on ${this.config.repository} (has ${oneLine(has)})` };
      }
      if (this.approvers.length === 0) return { ok: true };
      if (principals.approverIds.has(userId)) return { ok: true };
      const problems: string[] = [];
      if (this.approvers.some((a) => a.kind === 'login' && a.login.toLowerCase() === login.toLowerCase())) {
        problems.push(`the login ${oneLine(login)} belonged to another account when the session started`);
      }
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

  /**
   * Whether the check run still says what we wrote (true), was rewritten (false: restored here), or
   * could not be read (null). Anyone holding the job's token can rewrite a check run it created.
   */
  private async checkRunIntact(run: CheckRun, written: { title: string; summary: string }, deadline: number, signal?: AbortSignal): Promise<boolean | null> {
    let now: { output?: { title?: unknown; summary?: unknown }; status?: unknown };
    try {
      now = (await this.client.request<typeof now>('GET', this.path(`check-runs/${run.id}`), { deadline, signal })).data;
    } catch {
      return null;
    }
    const same = (a: unknown, b: string) => typeof a === 'string' && a.replace(/\r\n/g, '\n').trimEnd() === b.trimEnd();
    if (same(now?.output?.title, written.title) && same(now?.output?.summary, written.summary) && now?.status !== 'completed') return true;
    return false;
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
