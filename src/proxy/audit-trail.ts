// The connection's audit records: one per statement (with its decision, masks, rows and outcome),
// plus connect/auth events. Statement records are built after the statement's bytes are on their
// way (`drain`, called when the connection flushes), so the client does not wait for them. A log
// that cannot be written stops the data path (`onFailure`: fail closed).

import { performance } from 'node:perf_hooks';
import type { AuditEntry } from '../audit/types.js';
import { memoize } from '../cache.js';
import type { MaskPlan } from '../pg/mask-plan.js';
import type { StatementDecision } from '../policy/types.js';
import type { ConnectionDeps } from './deps.js';

/** One statement's record in progress, from its decision to its outcome. */
export interface Req {
  time: string;
  start: number;
  sql: string;
  decision: StatementDecision | undefined;
  approval?: AuditEntry['approval'];
  masked?: MaskPlan['masked'];
  rows?: number;
  /** The search path it was decided under (pathKey), null when unsure; kept with a PREPARE it defines. */
  path?: string | null;
}

export interface StatementExtra {
  decision?: AuditEntry['decision'];
  reason?: string;
  approval?: AuditEntry['approval'];
  masked?: MaskPlan['masked'];
  rows?: number;
  sqlstate?: string;
}

type TrailDeps = Pick<ConnectionDeps, 'audit' | 'config' | 'redact' | 'redactShape' | 'logger'>;

export class AuditTrail {
  private pending: (() => AuditEntry)[] = [];
  /** deps.redact and deps.redactShape, remembered: statements repeat (see redacted()). */
  private readonly redactText = memoize((sql: string) => redactOr(() => this.deps.redact(sql)), 1000);
  private readonly redactShape = memoize((shape: string) => redactOr(() => this.deps.redactShape!(shape)), 1000);

  constructor(
    private readonly deps: TrailDeps,
    private readonly onFailure: () => void,
  ) {}

  /**
   * The statement as the audit log and reviewers see it: literals and comments removed. A statement
   * decided from the engine's shape cache brings its normalised text: redacted once per shape.
   */
  redacted(sql: string, shape?: string): string {
    return shape !== undefined && this.deps.redactShape ? this.redactShape(shape) : this.redactText(sql);
  }

  event(type: 'connect' | 'auth', decision: AuditEntry['decision'], reason: string): void {
    this.append({ ...this.base(type), decision, reason });
  }

  /** A record with no decision of the engine's (a refusal of the session's, an unknown name). */
  simple(sql: string, decision: AuditEntry['decision'], rule: string | null, reason: string): void {
    this.append({ ...this.base('sql'), statement: this.redacted(sql), decision, rule, reason });
  }

  /** A statement's record, built at the next drain(). */
  statement(sql: string, s: StatementDecision | undefined, time: string, start: number, extra: StatementExtra): void {
    const durationMs = Math.round((performance.now() - start) * 1000) / 1000;
    this.pending.push(() => this.statementEntry(sql, s, time, durationMs, extra));
  }

  /** Hands the statement records collected so far to the log. */
  drain(): void {
    if (this.pending.length === 0) return;
    const list = this.pending;
    this.pending = [];
    const later = this.deps.audit.appendLater;
    for (const build of list) {
      if (!later) this.append(build());
      else {
        try {
          later.call(this.deps.audit, build);
        } catch (err) {
          this.failed(err);
        }
      }
    }
  }

  private base(type: AuditEntry['type'], time = new Date().toISOString()): Pick<AuditEntry, 'time' | 'session' | 'identity' | 'role' | 'type'> {
    return { time, session: this.deps.config.session.id, identity: this.deps.config.claims, role: this.deps.config.role, type };
  }

  private append(e: AuditEntry): void {
    try {
      this.deps.audit.append(e);
    } catch (err) {
      this.failed(err);
    }
  }

  private failed(err: unknown): void {
    this.deps.logger.warn(`tollgate: audit log write failed: ${(err as Error).message}`);
    this.onFailure();
  }

  private statementEntry(sql: string, s: StatementDecision | undefined, time: string, durationMs: number, extra: StatementExtra): AuditEntry {
    // One literal in a fixed shape (no spread of base()): this runs once per statement.
    const e: AuditEntry = {
      time,
      session: this.deps.config.session.id,
      identity: this.deps.config.claims,
      role: this.deps.config.role,
      type: 'sql',
      statement: this.redacted(sql, s?.shape),
      accesses: s?.accesses ?? [],
      decision: extra.decision ?? s?.decision ?? 'error',
      rule: s?.rule ?? null,
      reason: extra.reason ?? s?.reason ?? '',
      durationMs,
    };
    if (extra.approval) e.approval = extra.approval;
    if (extra.masked?.length) e.masked = extra.masked;
    if (extra.rows !== undefined) e.rows = extra.rows;
    if (extra.sqlstate) e.sqlstate = extra.sqlstate;
    return e;
  }
}

/** A redaction's result, or a fixed text when it fails (the log keeps the record either way). */
function redactOr(redact: () => string): string {
  try {
    return redact();
  } catch {
    return '(statement could not be redacted)';
  }
}
