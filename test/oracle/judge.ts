// One statement through the oracle: tollgate's accesses → a fresh role with exactly those privileges →
// the statement run as that role in a transaction (or savepoint) that is rolled back → the statement
// run for real as the session's own user, so later statements find what it created.
import type pg from 'pg';
import { analyze } from '../../src/sql/analyze.js';
import { parseSearchPath } from '../../src/sql/settings.js';
import type { Access, StatementAnalysis } from '../../src/sql/types.js';
import { planGrants, type GrantPlan } from './grants.js';
import { classify, type PgError, type Verdict } from './classify.js';

export interface Judged {
  sql: string;
  verdict: Verdict;
  /** Parts PostgreSQL checked as an owner, not as the role: views without security_invoker, SECURITY DEFINER routines. */
  definerViews: number;
  definerFns: number;
  /** Column defaults (sequences, functions) of written tables that had to be granted. */
  defaults: number;
  /** Names the analysis resolved in the search path that the session's temporary relations shadow. */
  tempShadow: number;
  accesses: Access[];
}

/** Statement kinds the oracle never runs as the role (they would end or corrupt its transaction). */
function notRunnable(a: StatementAnalysis): string | null {
  if (a.kind === 'transaction') return 'transaction control';
  if (a.accesses.some((x) => x.kind === 'other' && x.object === 'prepared_transaction')) return 'two-phase commit';
  return null;
}

export interface JudgeOptions {
  /** Run the statement for real afterwards (default true). */
  runForReal?: boolean;
  /** Per-statement time limit for the role's run, in ms. */
  timeoutMs?: number;
  /** Judge as the role (default true); false: only run for real (a set-up), keeping track of PREPARE. */
  asRole?: boolean;
}

/** Where the time goes (ms), for tuning. */
export const timing = { wrap: 0, role: 0, end: 0, real: 0, path: 0, classify: 0 };

export class Judge {
  searchPath: string[] = ['public'];
  private pathStale = false;
  private prepared = new Map<string, { accesses: Access[]; path: string }>();

  constructor(private client: pg.Client) {}

  /** Judges every statement of `text` in order (as PostgreSQL's parser splits it). */
  async judgeText(text: string, opts: JudgeOptions = {}): Promise<Judged[]> {
    const out: Judged[] = [];
    // Analysed one at a time: a statement's search path change applies to the next.
    const analyses = analyze(text, { searchPath: this.searchPath });
    if (analyses.length <= 1) {
      if (analyses[0]) out.push(await this.judgeOne(analyses[0], opts));
      return out;
    }
    for (const a of analyses) {
      const [one] = analyze(a.sql, { searchPath: this.searchPath });
      if (one) out.push(await this.judgeOne(one, opts));
    }
    return out;
  }

  async judgeOne(an: StatementAnalysis, opts: JudgeOptions = {}): Promise<Judged> {
    const sql = an.sql;
    let accesses = an.accesses;
    const prep = an.uses?.namespace === 'prepared' ? this.prepared.get(an.uses.name) : undefined;
    if (prep) accesses = accesses.concat(prep.accesses);
    // The proxy refuses to EXECUTE under another search path than the PREPARE's (the server would
    // re-plan it against other tables): the oracle does not judge what the proxy never forwards.
    const replanned = prep !== undefined && prep.path !== this.searchPath.join(',');
    const plan = planGrants(accesses, an.kind);
    // Names resolve through the search path: USAGE on its schemas lets the role look names up (a
    // schema without it is skipped silently, which would turn refusals into "does not exist").
    for (const s of this.searchPath) if (!plan.usage.includes(s) && s !== 'pg_catalog' && s !== 'pg_temp') plan.usage.push(s);
    const base = { sql, accesses, definerViews: 0, definerFns: 0, defaults: 0, tempShadow: 0 };
    let verdict: Verdict | null = null;
    const skip = sql === '' ? 'text the server would read differently (a NUL byte)' : notRunnable(an);
    const status = this.client.getTransactionStatus();
    let roleErr: PgError | null = null;
    let roleRan = false;
    if (opts.asRole === false) verdict = { outcome: 'cannot', kind: 'set-up' };
    else if (replanned) verdict = { outcome: 'cannot', kind: 'EXECUTE under another search_path than its PREPARE (the proxy refuses it)' };
    else if (skip) verdict = { outcome: 'cannot', kind: skip };
    else if (status === 'E') verdict = { outcome: 'cannot', kind: "the file's transaction had already failed" };
    else {
      const inBlock = status === 'T';
      const r = await this.asRole(sql, plan, inBlock, opts.timeoutMs ?? 20_000);
      if (r.wrapError) verdict = { outcome: 'cannot', kind: r.wrapError };
      else {
        roleRan = true;
        roleErr = r.error;
        Object.assign(base, r.notes);
        if (!r.error && an.defines?.namespace === 'prepared') await this.quiet(`DEALLOCATE ${quoteIdent(an.defines.name)}`);
      }
    }
    let suErr: PgError | null = null;
    if (opts.runForReal !== false) {
      let t = performance.now();
      suErr = await this.run(sql);
      timing.real += performance.now() - t;
      if (!suErr && an.defines?.namespace === 'prepared') this.prepared.set(an.defines.name, { accesses: an.defines.accesses, path: this.searchPath.join(',') });
      if (!suErr && an.kind === 'deallocate') {
        const obj = an.accesses.find((a) => a.kind === 'deallocate')?.object;
        if (obj) this.prepared.delete(obj);
        else this.prepared.clear();
      }
      if (suErr || an.searchPathChange || an.kind === 'transaction' || an.kind === 'reset' || an.kind === 'call') this.pathStale = true;
      t = performance.now();
      await this.refreshPath();
      timing.path += performance.now() - t;
    }
    const t2 = performance.now();
    if (roleRan) {
      try {
        verdict = await classify(this.client, { an, accesses, plan, roleErr, suErr, ranForReal: opts.runForReal !== false });
      } catch (err) {
        // Never hidden: a statement the oracle failed to classify is counted under its own kind.
        verdict = { outcome: 'cannot', kind: 'the oracle failed to classify the refusal', message: `${(err as Error).message}; refusal: ${roleErr?.message ?? ''}` };
      }
    }
    timing.classify += performance.now() - t2;
    return { ...base, verdict: verdict! };
  }

  private async asRole(sql: string, plan: GrantPlan, inBlock: boolean, timeoutMs: number): Promise<{ error: PgError | null; wrapError?: string; notes?: Partial<Judged> }> {
    const json = JSON.stringify(plan);
    let tag = 'oracle';
    while (json.includes(`$${tag}$`)) tag += 'x';
    const open = inBlock ? 'SAVEPOINT oracle_sp' : 'BEGIN READ WRITE';
    const wrap = `${open}; SET LOCAL ROLE postgres; SET LOCAL statement_timeout = ${timeoutMs}; ` +
      `SELECT oracle_h.prepare($${tag}$${json}$${tag}$::jsonb) AS notes; SET LOCAL ROLE oracle_r`;
    let notes: Partial<Judged> = {};
    let t = performance.now();
    try {
      const res = (await this.client.query(wrap)) as unknown as pg.QueryResult[];
      const row = res.find((x) => x.command === 'SELECT')?.rows[0] as { notes: Partial<Judged> } | undefined;
      notes = row?.notes ?? {};
    } catch (err) {
      await this.end(inBlock);
      const e = err as PgError;
      if (e.code === '42501' && /set role/.test(e.message)) return { error: null, wrapError: "the file's session authorization is another role" };
      return { error: null, wrapError: `the oracle could not grant: ${e.message}` };
    }
    timing.wrap += performance.now() - t;
    t = performance.now();
    const error = await this.run(sql);
    timing.role += performance.now() - t;
    t = performance.now();
    await this.end(inBlock);
    timing.end += performance.now() - t;
    return { error, notes };
  }

  private async end(inBlock: boolean): Promise<void> {
    if (inBlock) await this.quiet('ROLLBACK TO SAVEPOINT oracle_sp; RELEASE SAVEPOINT oracle_sp');
    else await this.quiet('ROLLBACK');
    // A statement that ended the transaction itself must not leave the session elsewhere.
    if (!inBlock && this.client.getTransactionStatus() !== 'I') await this.quiet('ROLLBACK');
  }

  private async run(sql: string): Promise<PgError | null> {
    try {
      await this.client.query(sql);
      return null;
    } catch (err) {
      const e = err as PgError;
      return { code: e.code ?? 'XX000', message: e.message ?? String(err), where: e.where };
    }
  }

  private async quiet(sql: string): Promise<void> {
    try {
      await this.client.query(sql);
    } catch {
      // best effort
    }
  }

  /** Reads the session's search path (after a set-up that may have changed it). */
  async refreshSearchPath(): Promise<void> {
    this.pathStale = true;
    await this.refreshPath();
  }

  private async refreshPath(): Promise<void> {
    if (!this.pathStale || this.client.getTransactionStatus() === 'E') return;
    try {
      const r = await this.client.query('SELECT current_setting($1) AS p, current_user AS u', ['search_path']);
      const row = r.rows[0] as { p: string; u: string };
      const path = parseSearchPath(row.p).map((s) => (s === '$user' ? row.u : s));
      this.searchPath = path;
      this.pathStale = false;
    } catch {
      // keep the last known path
    }
  }
}

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}
