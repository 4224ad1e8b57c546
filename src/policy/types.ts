import type { Access, Kind, NamedDefinition } from '../sql/types.js';

export type Action = 'allow' | 'deny' | 'review';
export type MaskStrategy = 'redact' | 'hash' | 'partial' | 'null';

/** A masked output column of a statement, by position in the result. */
export interface MaskedOutput {
  index: number;
  name: string;
  strategy: MaskStrategy;
  /** The policy column pattern that matched, e.g. `public.users.email` or `*.ssn`. */
  column: string;
}

export interface StatementDecision {
  sql: string;
  kind: Kind;
  decision: Action;
  /** Where the deciding rule stands, e.g. `roles.ci-readonly.postgres.rules[2]`; null when no rule matched. */
  rule: string | null;
  reason: string;
  accesses: Access[];
  /** Output columns the masks cover (from the statement's lineage); the proxy also masks by catalog. */
  masked: MaskedOutput[];
  /**
   * (Added for reports.) `*` outputs of base tables' columns that masks may cover: the proxy masks
   * those by catalog, not by these entries; `tollgate check` shows them so an offline answer never
   * reads as "no masks".
   */
  starMasked?: MaskedOutput[];
  /** The access that decided (the most restrictive one), when there is one. */
  decidingAccess?: Access;
  /**
   * (Added by policy.) The prepared statement or cursor this statement defines (PREPARE, DECLARE),
   * from the analysis: a caller that tracks its session remembers it once the statement ran.
   */
  defines?: NamedDefinition;
  /**
   * (Added by the engine's shape cache.) PostgreSQL's normalised text of this statement (constants
   * as $n), which every statement decided from the same cache entry shares: the audit log redacts
   * it once per shape instead of normalising each statement again.
   */
  shape?: string;
  /**
   * Sources whose values the statement stores elsewhere or passes to a side effect (the analysis's
   * `derived`), when none of them is masked by name: a caller with a catalog denies those that are
   * views, materialized views or partitioned tables over masked data.
   */
  derived?: string[];
  /** (Added by policy.) The prepared statement or cursor this statement runs (EXECUTE, FETCH). */
  uses?: { namespace: 'prepared' | 'cursor'; name: string };
}

export interface Decision {
  /** The whole message's decision: deny if any statement is denied, else review if any, else allow. */
  decision: Action;
  statements: StatementDecision[];
}
