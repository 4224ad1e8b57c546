// The state store: the gateway's own PostgreSQL (sessions, audit chains, signed heads, single-use
// tokens, refusals). Every replica talks to the same one, so any replica serves any session. Queries
// have a short timeout: a store that hangs must turn into a refusal (fail closed), not a stuck client.
import pg from 'pg';
import { LATEST_VERSION, MIGRATIONS } from './migrations.js';

export class StoreError extends Error {
  override readonly name = 'StoreError';
}

export interface StoreOptions {
  /** Per-query timeout, ms (default 5000). */
  queryTimeoutMs?: number;
  /** Pool size (default 10). */
  max?: number;
}

export type Client = pg.PoolClient;

/** Lock id for `migrate` (any constant shared by every replica). */
const MIGRATE_LOCK = 7_242_011;

export class Store {
  readonly pool: pg.Pool;
  private ended = false;

  constructor(readonly url: string, opts: StoreOptions = {}) {
    const timeout = opts.queryTimeoutMs ?? 5_000;
    this.pool = new pg.Pool({
      connectionString: url,
      max: opts.max ?? 10,
      connectionTimeoutMillis: timeout,
      query_timeout: timeout,
      idleTimeoutMillis: 30_000,
      application_name: 'tollgate-gateway',
    });
    // An idle client losing its server must not crash the process; the next query reports it.
    this.pool.on('error', () => {});
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw wrap(err);
    }
  }

  /** Runs `fn` in one transaction; rolls back when it throws. */
  async tx<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    let client: Client;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw wrap(err);
    }
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err instanceof StoreError || !isDbError(err) ? err : wrap(err);
    } finally {
      client.release();
    }
  }

  /** True when the store answers (readiness). */
  async ping(): Promise<boolean> {
    try {
      await this.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  /** The schema version applied, 0 for an empty database. */
  async schemaVersion(): Promise<number> {
    // Two queries: PostgreSQL resolves a missing table while parsing, whichever branch would run.
    const t = await this.query<{ t: string | null }>("SELECT to_regclass('tollgate.schema_migrations')::text AS t");
    if (!t.rows[0]?.t) return 0;
    const r = await this.query<{ v: number | null }>('SELECT coalesce(max(version), 0) AS v FROM tollgate.schema_migrations');
    return Number(r.rows[0]?.v ?? 0);
  }

  /** Applies the steps not applied yet; returns their versions (empty when up to date). Idempotent. */
  async migrate(): Promise<number[]> {
    let client: Client;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw wrap(err);
    }
    const applied: number[] = [];
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATE_LOCK]);
      await client.query('CREATE SCHEMA IF NOT EXISTS tollgate');
      await client.query(
        'CREATE TABLE IF NOT EXISTS tollgate.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
      );
      const done = new Set((await client.query<{ version: number }>('SELECT version FROM tollgate.schema_migrations')).rows.map((r) => r.version));
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO tollgate.schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw new StoreError(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
        }
        applied.push(m.version);
      }
    } catch (err) {
      throw err instanceof StoreError ? err : wrap(err);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATE_LOCK]).catch(() => {});
      client.release();
    }
    return applied;
  }

  /** Throws unless the schema is at least what this build needs (`gateway migrate` first). */
  async checkSchema(): Promise<void> {
    const v = await this.schemaVersion();
    if (v < LATEST_VERSION) {
      throw new StoreError(`the state store's schema is at version ${v}, this gateway needs ${LATEST_VERSION}: run \`tollgate gateway migrate --config F\` first`);
    }
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.pool.end().catch(() => {});
  }
}

function isDbError(err: unknown): boolean {
  return err instanceof Error && ('code' in err || /timeout|terminat|connect|ECONN|EPIPE/i.test(err.message));
}

/** A driver error as a StoreError whose message never carries the URL (it holds a password). */
function wrap(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as { code?: string; message?: string };
  const why = e.code && /^[0-9A-Z]{5}$/.test(e.code) ? `${e.message} (SQLSTATE ${e.code})` : (e.code ?? e.message ?? String(err));
  return new StoreError(`the state store failed: ${why}`, { cause: err });
}
