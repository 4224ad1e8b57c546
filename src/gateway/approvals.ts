// Pending approvals live in the state store, so the replica holding a statement and the replica that
// receives the reviewer's answer need not be the same. The answer commits the decision and a
// NOTIFY in one transaction; every replica LISTENs on one connection and wakes its waiter at once.
// A bounded poll (every second) backs the notification up: a dropped LISTEN connection delays an
// answer by at most that, never loses it.
import pg from 'pg';
import type { GatewayLogger } from './context.js';
import type { Store } from './store.js';

export const CHANNEL = 'tollgate_approvals';

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'timed_out';

export interface ApprovalRow {
  id: string;
  session: string;
  status: ApprovalStatus;
  repository: string;
  pullRequest: number | null;
  headSha: string | null;
  actor: string;
  prAuthor: string | null;
  approvers: string[] | null;
  checkRunId: number | null;
  name: string;
  requestedAt: Date;
  deadline: Date;
  decidedAt: Date | null;
  approver: string | null;
  via: string | null;
  reason: string | null;
  answerUrl: string | null;
}

interface Row {
  id: string;
  session: string;
  status: ApprovalStatus;
  repository: string;
  pull_request: number | null;
  head_sha: string | null;
  actor: string;
  pr_author: string | null;
  approvers: string[] | null;
  check_run_id: string | null;
  name: string;
  requested_at: Date;
  deadline: Date;
  decided_at: Date | null;
  approver: string | null;
  via: string | null;
  reason: string | null;
  answer_url: string | null;
}

const toApproval = (r: Row): ApprovalRow => ({
  id: r.id,
  session: r.session,
  status: r.status,
  repository: r.repository,
  pullRequest: r.pull_request,
  headSha: r.head_sha,
  actor: r.actor,
  prAuthor: r.pr_author,
  approvers: r.approvers,
  checkRunId: r.check_run_id === null ? null : Number(r.check_run_id),
  name: r.name,
  requestedAt: r.requested_at,
  deadline: r.deadline,
  decidedAt: r.decided_at,
  approver: r.approver,
  via: r.via,
  reason: r.reason,
  answerUrl: r.answer_url,
});

export interface NewApproval {
  id: string;
  session: string;
  repository: string;
  pullRequest: number | null;
  headSha: string | null;
  actor: string;
  prAuthor: string | null;
  approvers: readonly string[] | null;
  name: string;
  requestedAt: Date;
  deadline: Date;
}

export async function insertApproval(store: Store, a: NewApproval): Promise<void> {
  await store.query(
    `INSERT INTO tollgate.approvals (id, session, status, repository, pull_request, head_sha, actor, pr_author, approvers, name, requested_at, deadline)
     VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [a.id, a.session, a.repository, a.pullRequest, a.headSha, a.actor, a.prAuthor, a.approvers ? JSON.stringify(a.approvers) : null, a.name, a.requestedAt, a.deadline],
  );
}

export async function setCheckRun(store: Store, id: string, checkRunId: number): Promise<void> {
  await store.query('UPDATE tollgate.approvals SET check_run_id = $2 WHERE id = $1', [id, checkRunId]);
}

export async function getApproval(store: Store, id: string): Promise<ApprovalRow | null> {
  const r = await store.query<Row>('SELECT * FROM tollgate.approvals WHERE id = $1', [id]);
  return r.rows[0] ? toApproval(r.rows[0]) : null;
}

export interface Verdict {
  status: Exclude<ApprovalStatus, 'pending'>;
  approver?: string | null;
  via: string;
  reason?: string | null;
  answerUrl?: string | null;
}

/**
 * Decides a pending approval and notifies every replica, in one transaction. Returns the decided
 * row, or null when it was no longer pending (answered elsewhere first, or timed out): first wins.
 */
export async function decide(store: Store, id: string, v: Verdict, now = new Date()): Promise<ApprovalRow | null> {
  return store.tx(async (c) => {
    const r = await c.query<Row>(
      `UPDATE tollgate.approvals SET status = $2, approver = $3, via = $4, reason = $5, answer_url = $6, decided_at = $7
       WHERE id = $1 AND status = 'pending' RETURNING *`,
      [id, v.status, v.approver ?? null, v.via, v.reason ?? null, v.answerUrl ?? null, now],
    );
    if (!r.rows[0]) return null;
    await c.query('SELECT pg_notify($1, $2)', [CHANNEL, id]);
    return toApproval(r.rows[0]);
  });
}

/** Records a webhook delivery id; false when it was seen before (a replay: drop it). */
export async function firstDelivery(store: Store, id: string, event: string): Promise<boolean> {
  await store.query("DELETE FROM tollgate.webhook_deliveries WHERE received_at < now() - interval '30 days'");
  const r = await store.query('INSERT INTO tollgate.webhook_deliveries (id, event) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [id, event]);
  return r.rowCount === 1;
}

/** One replica's listener: wakes local waiters when any replica decides an approval. */
export class ApprovalHub {
  private client: pg.Client | null = null;
  private readonly waiters = new Map<string, Set<() => void>>();
  private closed = false;
  private reconnect: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly logger: GatewayLogger,
    private readonly pollMs = 1000,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.store.url, application_name: 'tollgate-gateway-listen' });
    client.on('notification', (n) => {
      if (n.channel === CHANNEL && n.payload) this.wake(n.payload);
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      this.client = client;
      // Anything decided while we were not listening: the waiters look again.
      for (const id of this.waiters.keys()) this.wake(id);
    } catch (err) {
      client.end().catch(() => {});
      this.logger.warn(`tollgate gateway: cannot LISTEN for approvals (retrying; answers are polled meanwhile): ${(err as Error).message}`);
      this.scheduleReconnect();
    }
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    client.end().catch(() => {});
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnect) return;
    this.reconnect = setTimeout(() => {
      this.reconnect = null;
      void this.connect();
    }, 1000);
    this.reconnect.unref();
  }

  private wake(id: string): void {
    for (const f of this.waiters.get(id) ?? []) f();
  }

  /**
   * Resolves with the approval once it is no longer pending, or with the pending row at `deadline`
   * or when `signal` aborts. Store errors while waiting are retried (the poll goes on).
   */
  wait(id: string, deadline: Date, signal?: AbortSignal): Promise<ApprovalRow | null> {
    return new Promise((resolve) => {
      let last: ApprovalRow | null = null;
      let done = false;
      let checking = false;
      let again = false;
      const finish = (row: ApprovalRow | null): void => {
        if (done) return;
        done = true;
        clearInterval(poll);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const set = this.waiters.get(id);
        set?.delete(check);
        if (set && set.size === 0) this.waiters.delete(id);
        resolve(row);
      };
      const check = (): void => {
        if (done) return;
        if (checking) {
          again = true;
          return;
        }
        checking = true;
        getApproval(this.store, id)
          .then((row) => {
            last = row;
            if (row && row.status !== 'pending') finish(row);
          })
          .catch(() => {})
          .finally(() => {
            checking = false;
            if (again) {
              again = false;
              check();
            }
          });
      };
      const onAbort = (): void => finish(last);
      if (!this.waiters.has(id)) this.waiters.set(id, new Set());
      this.waiters.get(id)!.add(check);
      const poll = setInterval(check, this.pollMs);
      const timer = setTimeout(() => finish(last), Math.max(0, deadline.getTime() - Date.now()));
      signal?.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }

  get listening(): boolean {
    return this.client !== null;
  }

  get pending(): number {
    return this.waiters.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnect) clearTimeout(this.reconnect);
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
  }
}
