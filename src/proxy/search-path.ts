// What the proxy believes the session's search path is, and when it must read it again. Pure: the
// connection feeds it the decisions it allowed and the transaction status the upstream reports,
// and asks it which path to decide under and whether to look the path up first.
//
// The upstream session is opened with the proxy's own `search_path` startup parameter (the pinned
// path, default public), so "$user" and role/database defaults never apply and RESET / DISCARD ALL
// / SET … TO DEFAULT return to the path decisions assume. Once anything may have set it (SET/RESET
// search_path, set_config, a user function, DO: `touched`), every statement that can move it
// (transaction control but BEGIN/SAVEPOINT/RELEASE, ROLLBACK TO, AND CHAIN, RESET, DISCARD, DDL,
// calls) and every transaction end make it `stale`: the connection then waits for what is in
// flight and reads `current_schemas(false)` before the next decision or Bind. A message of several
// statements where one may move the path before the next is decided under every schema the
// session has used. The server re-plans a prepared statement under the path current at its use,
// so one decided under another path is refused (preparedElsewhere).

import type { Decision, StatementDecision } from '../policy/types.js';
import { analyze } from '../sql/analyze.js';
import type { Access } from '../sql/types.js';
import { deniedRefusal, type Refusal } from '../pg/errors.js';

export class SearchPath {
  /** The path as last read from the upstream (initially the pinned one). Passed to the engine as is. */
  current: string[];
  /** The path the upstream session was opened with: its default (RESET, DISCARD ALL return to it). */
  readonly pinned: readonly string[];
  /** Every schema any path of this session named: a rollback may bring any of them back. */
  private readonly used = new Set<string>();
  /** Something may have set the path since the session began. */
  private touched = false;
  /** …and something may have moved it since it was last read. */
  private stale = false;

  constructor(pinned: readonly string[] = ['public']) {
    this.pinned = [...pinned];
    this.current = [...pinned];
    for (const x of pinned) this.used.add(x);
  }

  /** The `search_path` startup parameter that pins the upstream session's default. */
  get startupValue(): string {
    return this.pinned.map(quoteIdent).join(', ');
  }

  /** The path must be read from the upstream before the next decision. */
  get needsLookup(): boolean {
    return this.touched && this.stale;
  }

  /** The current path as a comparable key. */
  key(): string {
    return pathKey(this.current);
  }

  /** The upstream answered `current_schemas(false)`. */
  looked(schemas: string[]): void {
    this.current = schemas;
    for (const x of schemas) this.used.add(x);
    this.stale = false;
  }

  /** An allowed statement was forwarded: it may have set or moved the path. */
  noteStatement(s: StatementDecision | undefined): void {
    if (!s) return;
    if (setsPath(s)) this.touched = true;
    if (this.touched && mayMovePath(s)) this.stale = true;
  }

  /**
   * ReadyForQuery: a transaction ended, and a rollback or SET LOCAL may have reverted the path.
   * (ROLLBACK TO and AND CHAIN keep the status: mayMovePath marks them. BEGIN must not trigger a
   * lookup: it would be the transaction's first query.)
   */
  transactionStatus(before: 'I' | 'T' | 'E', after: 'I' | 'T' | 'E'): void {
    if (this.touched && after === 'I' && before !== 'I') this.stale = true;
  }

  /**
   * Remembers every schema a SET search_path / set_config of this message names. Only the path a
   * message ends with is read back from the server; a ROLLBACK TO may later restore one set in
   * between, and unqualified names must then be decided under it too.
   */
  noteNamed(sql: string, st: readonly StatementDecision[]): void {
    if (!st.some((s) => s.accesses.some((a) => (a.kind === 'set' || a.kind === 'reset') && a.object === 'search_path'))) return;
    for (const a of analyze(sql, { searchPath: [...this.current] })) {
      if (Array.isArray(a.searchPathChange)) for (const x of a.searchPathChange) this.used.add(x);
    }
  }

  /** pathKey of the path statement `i` of a message was decided under, null when an earlier one may have moved it. */
  at(statements: readonly StatementDecision[], i: number): string | null {
    for (let j = 0; j < i; j++) if (mayMovePath(statements[j]!)) return null;
    return pathKey(this.current);
  }

  /**
   * For a message of several statements decided under `current`: the analysis follows SET
   * search_path inside it, but not what a transaction end, ROLLBACK TO, RESET or a function may
   * bring back. Returns null when the decision stands, a path to decide again under (every schema
   * the session has used, and the session default), or a reason to deny the whole message.
   */
  widenFor(d: Decision): null | string[] | { deny: string } {
    const st = d.statements;
    if (st.length < 2) return null;
    let moves = false;
    for (let i = 0; i < st.length - 1; i++) {
      if (!mayMovePath(st[i]!)) continue;
      moves = true;
      if (resetsAll(st[i]!) && st.slice(0, i).some(setsPath)) {
        return { deny: 'this message sets the search path and then resets it (RESET ALL, DISCARD, SET … FROM CURRENT) before more statements; send them as separate messages' };
      }
      if (st[i]!.accesses.some(mayRunSql)) {
        return { deny: 'a function or DO block in this message may change the search path before the statements after it; send them as separate messages' };
      }
    }
    if (!moves) return null;
    const others = [...this.used].filter((x) => !this.current.includes(x));
    if (others.length === 0) return null;
    const all = [...this.current, ...others].filter((x) => x !== 'pg_catalog');
    if (this.current.includes('pg_catalog') || this.used.has('pg_catalog')) all.push('pg_catalog');
    return all;
  }
}

/**
 * A prepared statement is re-planned by the server under the search path of its use: one decided
 * under another path (or an unknown one) is refused (it would resolve names the policy never saw).
 */
export function preparedElsewhere(name: string, decidedUnder: string | null | undefined, now: string | null): Refusal | null {
  if (decidedUnder !== undefined && decidedUnder !== null && decidedUnder === now) return null;
  const r = deniedRefusal(null, `prepared statement "${name}" was prepared under another search_path`);
  r.detail = `${r.detail}; PostgreSQL re-plans a prepared statement under the current search_path, which the gateway did not decide it under: prepare it again`;
  return r;
}

/** A DO block or a call that may run SQL of its own (a user function, a dangerous built-in): it may SET anything. */
export function mayRunSql(a: Access): boolean {
  return a.kind === 'do' || (a.kind === 'call' && (a.exact === true || !a.object?.startsWith('pg_catalog.')));
}

/** The statement sets the search path itself (or may: a function can call set_config). */
export function setsPath(s: StatementDecision): boolean {
  return s.accesses.some((a) => ((a.kind === 'set' || a.kind === 'reset') && a.object !== undefined && PATH_SETTINGS.has(a.object)) || mayRunSql(a));
}

/** Settings that change what the search path names: the path itself, and the role "$user" expands to. */
const PATH_SETTINGS = new Set(['search_path', 'role', 'session_authorization']);

/**
 * The statement may move the session's search path once it was ever changed: transaction control
 * (ROLLBACK, ROLLBACK TO, COMMIT of a SET LOCAL, AND CHAIN), RESET ALL / DISCARD, SET … FROM
 * CURRENT, DDL (a created or renamed schema changes what the path names), calls.
 */
export function mayMovePath(s: StatementDecision): boolean {
  if (setsPath(s)) return true;
  if ((s.kind === 'transaction' || s.accesses.some((a) => a.kind === 'transaction')) && !keepsPath(s.sql)) return true;
  return s.accesses.some((a) => a.kind === 'reset' || a.kind === 'create' || a.kind === 'alter' || a.kind === 'drop');
}

/**
 * Transaction statements that never move the search path: BEGIN, START TRANSACTION, SAVEPOINT,
 * RELEASE, SET TRANSACTION. (A lookup of the path between BEGIN and SET TRANSACTION would be the
 * transaction's first query and break it.) Anything else, or any doubt, counts as moving it.
 */
export function keepsPath(sql: string): boolean {
  const text = sql.replace(/^(?:\s+|--[^\n]*(?:\n|$)|\/\*[^*]*\*+(?:[^/*][^*]*\*+)*\/)*/, '');
  return /^(?:begin|start\s+transaction|savepoint|release|set\s+transaction)\b/i.test(text) && !/\band\s+chain\b/i.test(text);
}

/** RESET ALL, DISCARD ALL or SET search_path FROM CURRENT: the analysis cannot follow where they lead. */
function resetsAll(s: StatementDecision): boolean {
  return s.accesses.some(
    (a) => (a.kind === 'reset' && a.object === 'all') || (a.kind === 'set' && a.object === 'search_path' && /\bfrom\s+current\b/i.test(s.sql)),
  );
}

/** A search path as a comparable key. */
export function pathKey(path: readonly string[]): string {
  return JSON.stringify(path);
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
