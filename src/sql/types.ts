// The vocabulary shared by the SQL analysis, the policy engine and the proxy.

/** Statement kinds, as DESIGN.md names them. */
export const KINDS = [
  'select', 'insert', 'update', 'delete', 'merge', 'truncate', 'copy_from', 'copy_to',
  'create', 'alter', 'drop', 'grant', 'revoke', 'comment', 'call', 'do', 'prepare', 'execute',
  'deallocate', 'set', 'reset', 'show', 'explain', 'transaction', 'lock', 'listen', 'notify',
  'vacuum', 'analyze', 'other',
] as const;
export type Kind = (typeof KINDS)[number];

/** Named groups a policy rule may use in `kinds`. */
export const GROUPS = {
  read: ['select', 'show', 'explain'],
  write: ['insert', 'update', 'delete', 'merge', 'truncate', 'copy_from'],
  ddl: ['create', 'alter', 'drop', 'grant', 'revoke', 'comment'],
  any: KINDS,
} as const satisfies Record<string, readonly Kind[]>;
export type Group = keyof typeof GROUPS;

/**
 * One thing a statement does to one object. `object` is `schema.name` as PostgreSQL resolves it
 * (folded, pg_catalog first, then the search path); absent when the access has no object
 * (`SELECT 1`, `SHOW x`). `exact` marks a dangerous access that only a rule naming its kind and
 * object literally (no group, no glob) may allow.
 */
export interface Access {
  kind: Kind;
  object?: string;
  exact?: boolean;
}

/**
 * Where one result column's value comes from: `schema.table.column`, or `schema.table.*` when the
 * whole row flows into it (`SELECT u FROM users u`, `row_to_json(u)`). An unqualified column that
 * could belong to several tables in scope lists each candidate (over-masking is safe, leaking is not).
 */
export interface OutputColumn {
  name: string;
  sources: string[];
  /**
   * (Added by sql, F19.) On a `*` output (unknown number of columns): true when it stands for base
   * tables' own columns as plain column references (`SELECT *`, `t.*`, `TABLE t`, `COPY t TO` over
   * tables, also through sub-selects and CTEs): RowDescription names each by table OID and attribute
   * number, so the proxy masks them by catalog. false for any other `*` (a function in FROM, a set
   * operation, `(expr).*`, a NATURAL join): its columns come with table OID 0 and only the lineage
   * can mask them. The analysis sets it on every `*`; when absent, a `*` whose sources are all
   * `schema.table.*` counts as table columns (the contract before F19).
   */
  tableColumns?: boolean;
}

export interface StatementAnalysis {
  /** The statement's own text (one statement of a possibly multi-statement message). */
  sql: string;
  /** The top-level kind (what the statement is, before looking through wrappers). */
  kind: Kind;
  /** Everything it really does, wrappers looked through. Empty only when `error` is set. */
  accesses: Access[];
  /** Lineage of the result columns in order; null when the statement returns no rows or it is unknown. */
  outputs: OutputColumn[] | null;
  /** Set when the statement cannot be understood: the statement must be denied with this reason. */
  error?: string;
  /**
   * True when a literal's value influenced the accesses (e.g. `SET client_encoding = '…'`): such a
   * statement's decision must not be reused for the same shape with other literals.
   */
  literalSensitive: boolean;
  /**
   * (Added by sql.) Set on PREPARE and DECLARE … CURSOR: the named prepared statement or cursor and
   * what it will run later (its accesses and output lineage), so a caller can remember it and decide
   * a later EXECUTE / FETCH by what was analysed here.
   */
  defines?: NamedDefinition;
  /**
   * (Added by sql.) Set on EXECUTE and FETCH/MOVE (also when wrapped, e.g. EXPLAIN ANALYZE EXECUTE,
   * CREATE TABLE … AS EXECUTE): the prepared statement or cursor it runs. Its accesses/outputs are in
   * the matching `defines` seen earlier on the session; unknown name → deny.
   */
  uses?: { namespace: 'prepared' | 'cursor'; name: string };
  /**
   * (Added by sql.) Set when the statement changes the search path (SET / RESET search_path,
   * set_config('search_path', …)): the path later statements resolve with, or 'reset' for the
   * session's default. analyze() already applies it to the later statements of the same text; a
   * caller keeping session state passes it as `searchPath` for later messages (SET LOCAL and
   * rollbacks revert it at transaction end: when unsure of the current path, deny).
   */
  searchPathChange?: string[] | 'reset';
  /**
   * (Added by sql.) Sources (`schema.table.column`, `schema.table.*`) whose values the statement
   * stores somewhere else: INSERT … SELECT, UPDATE … SET, MERGE, ON CONFLICT DO UPDATE, SELECT … INTO,
   * CREATE TABLE … AS, CREATE [MATERIALIZED] VIEW; or whose name it changes (RENAME, SET SCHEMA) or
   * copies into a generated column (ALTER TABLE). A masked column here would be readable unmasked
   * through the copy (or the view, or the new name) afterwards: the policy should not allow it.
   */
  derived?: string[];
}

/** (Added by sql.) A prepared statement or cursor defined by PREPARE / DECLARE. */
export interface NamedDefinition {
  namespace: 'prepared' | 'cursor';
  name: string;
  accesses: Access[];
  outputs: OutputColumn[] | null;
}
