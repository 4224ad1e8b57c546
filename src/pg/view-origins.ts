// Which table columns a view reads. A RowDescription names a view's own OID and column for
// `SELECT * FROM some_view`, so a mask on the table behind it would not match by name: the proxy
// asks the upstream's catalog what the view (and the views it reads, recursively) depends on.
// PostgreSQL records which columns a view's query uses, not which output column each one feeds,
// so a view that reads any masked column has all its result columns masked (over-masking is safe).

import { SimpleQuerySession } from './catalog.js';

/** A column a view reads; `column` null when it reads the whole row (`t.*` as one value). */
export interface ViewOrigin {
  schema: string;
  table: string;
  column: string | null;
}

export interface ViewOriginsLike {
  /** The columns the relation reads when it is a view or materialized view; null for a table. */
  origins(relationOid: number): Promise<ViewOrigin[] | null>;
  /**
   * The columns a relation named `schema.name` hands out (COPY has no RowDescription to carry an
   * OID): a view's or materialized view's origins as above; a table's own columns under its own
   * name and under every table it inherits from (a partition of a masked table is masked). Null
   * when there is no such relation (the statement then fails on the server).
   */
  readsByName?(schema: string, name: string): Promise<ViewOrigin[] | null>;
  /**
   * Whether using `schema.name` runs code the proxy cannot see into: a trigger or rule of a table
   * (or of its partitions and children), a function a view (or the views it reads) calls outside
   * pg_catalog. What such code reads, and
   * quotes in its errors and notices, has no lineage the proxy knows.
   */
  runsHiddenCode?(schema: string, name: string): Promise<{ onRead: boolean; onWrite: boolean }>;
}

const MAX_OID = 4294967295;

export class ViewOrigins implements ViewOriginsLike {
  private session: Promise<SimpleQuerySession> | null = null;
  private readonly cache = new Map<number, Promise<ViewOrigin[] | null>>();

  constructor(private readonly url: string) {}

  origins(relationOid: number): Promise<ViewOrigin[] | null> {
    if (!Number.isInteger(relationOid) || relationOid <= 0 || relationOid > MAX_OID) {
      return Promise.reject(new TypeError(`bad relation OID ${relationOid}`));
    }
    let hit = this.cache.get(relationOid);
    if (!hit) {
      hit = this.lookup(relationOid);
      // A failed lookup is not remembered: the next result asks again (and is refused meanwhile).
      hit.catch(() => this.cache.delete(relationOid));
      this.cache.set(relationOid, hit);
    }
    return hit;
  }

  async readsByName(schema: string, name: string): Promise<ViewOrigin[] | null> {
    const s = await this.getSession();
    const rel = await s.query(
      `SELECT c.oid, c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${quoteLiteral(schema)} AND c.relname = ${quoteLiteral(name)}`,
    );
    if (!rel.length) return null;
    const oid = Number(rel[0]![0]);
    if (!Number.isInteger(oid) || oid <= 0) throw new Error(`relation ${schema}.${name} has no valid OID`);
    const view = await this.origins(oid);
    if (view) return view;
    // A table: its columns under its own name and the names of the tables it inherits from.
    const rows = await s.query(`
      WITH RECURSIVE anc(rel) AS (
        SELECT ${oid}::pg_catalog.oid
        UNION
        SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN anc ON i.inhrelid = anc.rel
      )
      SELECT n.nspname, c.relname, a.attname
        FROM anc
        JOIN pg_catalog.pg_class c ON c.oid = anc.rel
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_attribute a ON a.attrelid = anc.rel AND a.attnum > 0 AND NOT a.attisdropped`);
    return rows.map((r) => ({ schema: r[0] ?? '', table: r[1] ?? '', column: r[2] ?? null }));
  }

  async runsHiddenCode(schema: string, name: string): Promise<{ onRead: boolean; onWrite: boolean }> {
    const s = await this.getSession();
    const rows = await s.query(`
      WITH RECURSIVE rel AS (
        SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ${quoteLiteral(schema)} AND c.relname = ${quoteLiteral(name)}
      ), uses(rel) AS (
        SELECT oid FROM rel
        UNION
        SELECT x.rel FROM uses u, LATERAL (
          SELECT d.refobjid AS rel FROM pg_catalog.pg_rewrite r
            JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
           WHERE r.ev_class = u.rel AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> r.ev_class
          UNION ALL
          SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = u.rel
        ) x
      )
      SELECT EXISTS (SELECT 1 FROM uses u
                       JOIN pg_catalog.pg_rewrite r ON r.ev_class = u.rel
                       JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
                       JOIN pg_catalog.pg_proc p ON d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.oid = d.refobjid
                      WHERE p.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace),
             EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t JOIN uses u ON t.tgrelid = u.rel WHERE NOT t.tgisinternal)
          OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r JOIN uses u ON r.ev_class = u.rel WHERE r.rulename <> '_RETURN')`);
    // Anything but a clear 'f' (no answer, NULL) counts as hidden code.
    return { onRead: rows[0]?.[0] !== 'f', onWrite: rows[0]?.[1] !== 'f' };
  }

  /** Forgets everything (after DDL). */
  invalidate(): void {
    this.cache.clear();
  }

  close(): void {
    const s = this.session;
    this.session = null;
    void s?.then((x) => x.close(), () => undefined);
  }

  private async getSession(): Promise<SimpleQuerySession> {
    if (this.session) {
      const s = await this.session.catch(() => null);
      if (s && !s.closed) return s;
    }
    // The path is pinned at startup, not by SET: a session-level SET would leak into the client's
    // session on upstreams that multiplex one backend (PGlite in `tollgate demo`).
    const opening = SimpleQuerySession.open(this.url, { searchPath: 'pg_catalog, pg_temp', applicationName: 'tollgate-catalog' });
    this.session = opening;
    return opening;
  }

  private async lookup(oid: number): Promise<ViewOrigin[] | null> {
    const s = await this.getSession();
    const kind = await s.query(`SELECT relkind FROM pg_catalog.pg_class WHERE oid = ${oid}`);
    const relkind = kind[0]?.[0];
    if (relkind === undefined || relkind === null) throw new Error(`relation OID ${oid} is not in the catalog`);
    if (relkind !== 'v' && relkind !== 'm') return null;
    // Every relation column the view's rewrite rule uses, following views through views.
    const rows = await s.query(`
      WITH RECURSIVE uses(rel, sub) AS (
        SELECT d.refobjid, d.refobjsubid
          FROM pg_catalog.pg_rewrite r
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
         WHERE r.ev_class = ${oid} AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> r.ev_class
        UNION
        SELECT d.refobjid, d.refobjsubid
          FROM uses u
          JOIN pg_catalog.pg_rewrite r ON r.ev_class = u.rel
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
         WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> r.ev_class
      )
      SELECT n.nspname, c.relname, CASE WHEN u.sub > 0 THEN a.attname END
        FROM uses u
        JOIN pg_catalog.pg_class c ON c.oid = u.rel
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = u.rel AND a.attnum = u.sub
       WHERE c.relkind IN ('r', 'p', 'f', 'm', 'v')`);
    return rows.map((r) => ({ schema: r[0] ?? '', table: r[1] ?? '', column: r[2] ?? null }));
  }
}

/** A string literal for a session with standard_conforming_strings on (the proxy pins it). */
function quoteLiteral(v: string): string {
  if (v.includes('\u0000')) throw new TypeError('a name with a NUL byte');
  return `'${v.replace(/'/g, "''")}'`;
}
