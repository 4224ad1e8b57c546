// The session's names: protocol prepared statements and portals, and the SQL PREPARE / DECLARE
// definitions a later EXECUTE / FETCH runs. Upstream, SQL PREPARE shares its namespace with
// protocol statements and DECLARE with portals: (re)defining a name in one makes what the proxy
// knew under it in the other no longer apply. What the proxy believes here must follow what the
// server did, so a definition is recorded only once its statement completed, and anything a
// DEALLOCATE / CLOSE / DISCARD names is forgotten as soon as it is decided (if that statement then
// fails, a later use is refused as unknown: fail closed).

import type { MaskPlan } from '../pg/mask-plan.js';
import type { StatementDecision } from '../policy/types.js';
import type { NamedDefinition } from '../sql/types.js';

/** A protocol prepared statement as the proxy knows it (name → what was decided at Parse). */
export interface Stmt {
  name: string;
  sql: string;
  decision: StatementDecision | undefined;
  /** undefined until the upstream described it; null = nothing to mask. */
  plan: MaskPlan | null | undefined;
  planError?: string;
  /** The search path it was decided under (pathKey): the server re-plans it under the current one. */
  path: string;
  /** The generation of the name its decision `uses` (EXECUTE / FETCH) when it was decided. */
  gen?: number;
}

export interface Portal {
  name: string;
  /** For a statement that uses a name: a copy decided again at Bind, masked by the portal's own description. */
  stmt: Stmt;
  formats: number[];
}

/** A prepared statement or cursor name as a decision `uses` it. */
export type NameUse = NonNullable<StatementDecision['uses']>;

export class SessionNames {
  private readonly statements = new Map<string, Stmt>();
  private readonly portals = new Map<string, Portal>();
  /** Prepared statements and cursors defined by allowed PREPARE / DECLARE that ran (for EXECUTE / FETCH). */
  private readonly definitions = new Map<string, NamedDefinition>();
  /** SQL PREPARE'd statements: the path each was decided under (null: unsure → EXECUTE refused). */
  private readonly definitionPaths = new Map<string, string | null>();
  /**
   * Generations: every time what a name may stand for changes (defined, dropped, shadowed by a
   * protocol statement or portal, or everything forgotten), its stamp moves on. A decision made
   * for EXECUTE / FETCH of a name is good only while the name's generation is the one it was made
   * under.
   */
  private stamp = 0;
  private readonly changedAt = new Map<string, number>();

  /** For DecideContext.definitions: what a name used by EXECUTE / FETCH stands for. */
  readonly lookupDefinition = (ns: NamedDefinition['namespace'], name: string): NamedDefinition | undefined =>
    this.definitions.get(`${ns}:${name}`);

  /** The generation of the name `uses` names (0 for a statement that uses none). */
  generation(uses: NameUse | undefined): number {
    return uses ? (this.changedAt.get(`${uses.namespace}:${uses.name}`) ?? 0) : 0;
  }

  private changed(key: string): void {
    this.changedAt.set(key, ++this.stamp);
  }

  statement(name: string): Stmt | undefined {
    return this.statements.get(name);
  }

  portal(name: string): Portal | undefined {
    return this.portals.get(name);
  }

  /** Whether a Parse of `name` would be refused by the server (42P05): a statement of that name exists. */
  statementExists(name: string): boolean {
    return name !== '' && (this.statements.has(name) || this.definitions.has(`prepared:${name}`));
  }

  /** The search path the SQL PREPARE of `name` was decided under; undefined when there is none. */
  preparedPath(name: string): string | null | undefined {
    return this.definitionPaths.get(`prepared:${name}`);
  }

  /** A Parse was forwarded: `stmt` is the name's statement now. Returns what it replaced (the unnamed one). */
  parsed(stmt: Stmt): Stmt | undefined {
    // One namespace upstream: SQL EXECUTE of this name now runs this statement, not a PREPAREd one.
    this.definitions.delete(`prepared:${stmt.name}`);
    this.definitionPaths.delete(`prepared:${stmt.name}`);
    this.changed(`prepared:${stmt.name}`);
    const prev = this.statements.get(stmt.name);
    this.statements.set(stmt.name, stmt);
    return prev;
  }

  /** The server skipped a Parse (an earlier error in its batch): the name keeps what it had. */
  parseSkipped(stmt: Stmt, prev: Stmt | undefined): void {
    if (this.statements.get(stmt.name) !== stmt) return;
    if (prev) this.statements.set(stmt.name, prev);
    else this.statements.delete(stmt.name);
  }

  /** A Bind was forwarded. */
  bound(portal: Portal): void {
    // One namespace upstream: SQL FETCH of this name now reads this portal, not a DECLAREd cursor (F2b).
    this.definitions.delete(`cursor:${portal.name}`);
    this.changed(`cursor:${portal.name}`);
    this.portals.set(portal.name, portal);
  }

  /** A protocol Close was forwarded. */
  closed(target: 'S' | 'P', name: string): void {
    if (target === 'S') this.statements.delete(name);
    else this.portals.delete(name);
  }

  /**
   * An allowed statement is about to run: a PREPARE / DECLARE (re)defines a name, so what the proxy
   * knew under that name (its mask plan) no longer applies; DEALLOCATE, CLOSE and DISCARD ALL drop
   * names upstream, so their definitions must go too, or a protocol statement or portal made later
   * under the same name would be EXECUTEd / FETCHed as the old, harmless definition (F2c).
   */
  forgetShadowed(s: StatementDecision | undefined): void {
    if (!s) return;
    this.forgetDropped(s);
    if (!s.defines) return;
    // Until it completes, the name may stand for the old definition or the new one: a use decided
    // meanwhile is decided again (see ResponseQueue.redefining).
    this.changed(`${s.defines.namespace}:${s.defines.name}`);
    if (s.defines.namespace === 'prepared') this.statements.delete(s.defines.name);
    else this.portals.delete(s.defines.name);
  }

  private forgetDropped(s: StatementDecision): void {
    for (const a of s.accesses) {
      const all = (a.kind === 'deallocate' && a.object === undefined) || (a.kind === 'reset' && a.object === 'all'); // DISCARD ALL (RESET ALL too: forgetting more is safe)
      if (all) {
        this.forgetDefinitions();
        for (const name of [...this.statements.keys()]) if (name !== '') this.statements.delete(name);
        for (const name of [...this.portals.keys()]) if (name !== '') this.portals.delete(name);
      } else if (a.kind === 'deallocate' && a.object !== undefined) {
        // DEALLOCATE drops protocol statements of the name too, CLOSE protocol portals.
        this.statements.delete(a.object);
        this.portals.delete(a.object);
        for (const ns of ['prepared', 'cursor']) {
          this.definitions.delete(`${ns}:${a.object}`);
          this.definitionPaths.delete(`${ns}:${a.object}`);
          this.changed(`${ns}:${a.object}`);
        }
      }
    }
  }

  /** A PREPARE / DECLARE completed on the server: EXECUTE / FETCH of its name run it from now on. */
  remember(s: StatementDecision | undefined, path: string | null | undefined): void {
    if (!s?.defines) return;
    const key = `${s.defines.namespace}:${s.defines.name}`;
    this.definitions.set(key, s.defines);
    this.definitionPaths.set(key, path ?? null);
    this.changed(key);
  }

  /**
   * Everything the session named may have been redefined behind the proxy's back (a function or DO
   * block ran, which can PREPARE, DEALLOCATE and open cursors through dynamic SQL): SQL definitions
   * are forgotten, so EXECUTE / FETCH of them are refused until they are defined again.
   */
  forgetDefinitions(except?: NameUse): void {
    const keep = except ? `${except.namespace}:${except.name}` : null;
    for (const key of [...this.definitions.keys()]) {
      if (key === keep) continue; // the definition the statement runs itself (a FETCH whose cursor calls a function)
      this.definitions.delete(key);
      this.definitionPaths.delete(key);
      this.changed(key);
    }
  }

}
