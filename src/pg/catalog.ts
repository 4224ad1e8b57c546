// Names for the columns of a RowDescription, so masks written as `schema.table.column` apply to what
// a client really receives. RowDescription carries (table OID, attribute number) per column; this
// module turns them into names through its own small upstream session and caches them by table OID.
//
// Partitions and inheritance children: a RowDescription names the partition a value came from
// (`SELECT email FROM users_p1`), so each name also carries the table's ancestors (pg_inherits,
// recursively), and `inheritedMaskNames` lets a mask on any ancestor cover it.
//
// Fail closed: when a column cannot be named (lookup error, timeout, a table OID the catalog
// session cannot see — e.g. a table created in the client's still-open transaction), `resolve`
// REJECTS with CatalogError and the proxy must deny rather than pass the value through.

import type { MaskStrategy } from '../policy/types.js';
import type { NamedDefinition, OutputColumn, StatementAnalysis } from '../sql/types.js';
import { B, BackendParser, decodeDataRow, decodeErrorFields, query } from './protocol.js';
import { connectUpstream, type ConnectOptions, type Upstream } from './upstream.js';
import { qualify, splitQualified } from '../sql/qualified.js';

export interface RelationName {
  schema: string;
  table: string;
}

export interface ColumnName {
  schema: string;
  table: string;
  column: string;
  /**
   * The partitioned tables / inheritance parents of `table`, nearest first (a partition's parent,
   * then its parent…). Absent for a table that is nobody's child.
   */
  ancestors?: readonly RelationName[];
}

export type CatalogErrorCode = 'ERR_CATALOG_LOOKUP' | 'ERR_CATALOG_NOT_FOUND' | 'ERR_CATALOG_CLOSED';

export class CatalogError extends Error {
  readonly code: CatalogErrorCode;
  constructor(code: CatalogErrorCode, message: string) {
    super(message);
    this.name = 'CatalogError';
    this.code = code;
  }
}

export class SimpleQueryError extends Error {
  readonly sqlstate: string | undefined;
  constructor(message: string, sqlstate?: string) {
    super(message);
    this.name = 'SimpleQueryError';
    this.sqlstate = sqlstate;
  }
}

type Row = (string | null)[];

/**
 * A minimal session for the proxy's own queries (text results, one query at a time, in order).
 * Not for client traffic: the data path forwards that byte for byte.
 */
export class SimpleQuerySession {
  private readonly parser = new BackendParser({ maxMessageLength: 64 << 20 });
  private readonly queue: { sql: string; resolve: (rows: Row[]) => void; reject: (err: Error) => void }[] = [];
  private current: { rows: Row[]; error: SimpleQueryError | null } | null = null;
  private dead: Error | null = null;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly upstream: Upstream,
    private readonly timeoutMs: number,
  ) {
    const s = upstream.socket;
    s.on('data', (chunk: Buffer) => this.feed(chunk));
    s.on('error', (err) => this.fail(new SimpleQueryError(`catalog session: ${err.message}`)));
    s.on('close', () => this.fail(new SimpleQueryError('catalog session: the server closed the connection')));
    if (upstream.leftover.length > 0) this.feed(upstream.leftover);
    // A helper session must never be what keeps the process alive (SIGTERM drain, CLI exit).
    s.unref();
    s.resume();
  }

  static async open(url: string, opts: ConnectOptions & { queryTimeoutMs?: number } = {}): Promise<SimpleQuerySession> {
    const up = await connectUpstream(url, { applicationName: 'tollgate-catalog', ...opts });
    return new SimpleQuerySession(up, opts.queryTimeoutMs ?? 10_000);
  }

  get closed(): boolean {
    return this.dead !== null;
  }

  /** Runs one simple query; resolves its rows as text (null for SQL NULL), rejects on any error. */
  query(sql: string): Promise<Row[]> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.queue.push({ sql, resolve, reject });
      if (this.queue.length === 1) this.start();
    });
  }

  close(): void {
    this.fail(new SimpleQueryError('catalog session closed'));
  }

  private start(): void {
    const next = this.queue[0];
    // Idle, a helper session must not keep the process alive; with a query out it must, or a
    // lookup awaited before the proxy listens lets the process exit (code 0) half-way through startup.
    if (!next || this.dead) {
      this.upstream.socket.unref();
      return;
    }
    this.upstream.socket.ref();
    this.current = { rows: [], error: null };
    this.timer = setTimeout(() => this.fail(new SimpleQueryError(`catalog query timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    this.timer.unref();
    this.upstream.socket.write(query(next.sql));
  }

  private feed(chunk: Buffer): void {
    try {
      this.parser.parse(chunk, (f) => this.onFrame(f.code, f.body));
    } catch (err) {
      this.fail(new SimpleQueryError(`catalog session: ${(err as Error).message}`));
    }
  }

  private onFrame(code: number, body: Buffer): void {
    const cur = this.current;
    switch (code) {
      case B.DataRow:
        if (!cur) throw new Error('DataRow outside a query');
        cur.rows.push(decodeDataRow(body).map((v) => (v === null ? null : v.toString('utf8'))));
        return;
      case B.ErrorResponse: {
        if (!cur) throw new Error('ErrorResponse outside a query');
        const fields = decodeErrorFields(body);
        cur.error ??= new SimpleQueryError(`catalog query failed: ${fields.get('M') ?? 'unknown error'}`, fields.get('C'));
        return;
      }
      case B.ReadyForQuery: {
        if (!cur) throw new Error('ReadyForQuery outside a query');
        clearTimeout(this.timer);
        const done = this.queue.shift()!;
        this.current = null;
        if (cur.error) done.reject(cur.error);
        else done.resolve(cur.rows);
        this.start();
        return;
      }
      case B.RowDescription:
      case B.CommandComplete:
      case B.EmptyQueryResponse:
      case B.NoticeResponse:
      case B.ParameterStatus:
      case B.NotificationResponse:
        return;
      default:
        throw new Error(`unexpected message '${String.fromCharCode(code)}'`);
    }
  }

  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    clearTimeout(this.timer);
    this.current = null;
    for (const q of this.queue.splice(0)) q.reject(err);
    this.upstream.socket.destroy();
  }
}

// ---------------------------------------------------------------------------------------------

interface TableEntry {
  schema: string;
  table: string;
  columns: Map<number, ColumnName>;
}

/** Every ancestor of each table (pg_inherits followed upwards), nearest first. */
function ancestorsSql(oids: number[]): string {
  return ancestorsWhere(`i.inhrelid OPERATOR(pg_catalog.=) ANY ('{${oids.join(',')}}'::pg_catalog.oid[])`);
}

/** A string literal (the session has standard_conforming_strings on: only quotes need doubling). */
function literal(s: string): string {
  if (s.includes('\0')) throw new TypeError('a name may not contain a NUL byte');
  return `'${s.replace(/'/g, "''")}'`;
}

/** The ancestors of one table given by name. */
function ancestorsByNameSql(schema: string, table: string): string {
  return ancestorsWhere(
    'i.inhrelid OPERATOR(pg_catalog.=) (SELECT c.oid FROM pg_catalog.pg_class c' +
      ' JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace' +
      ` WHERE n.nspname OPERATOR(pg_catalog.=) ${literal(schema)} AND c.relname OPERATOR(pg_catalog.=) ${literal(table)})`,
  );
}

function ancestorsWhere(where: string): string {
  return (
    'WITH RECURSIVE up(child, parent, depth, seq) AS (' +
    ' SELECT i.inhrelid, i.inhparent, 1, i.inhseqno FROM pg_catalog.pg_inherits i' +
    ` WHERE ${where}` +
    ' UNION ALL' +
    ' SELECT u.child, i.inhparent, u.depth OPERATOR(pg_catalog.+) 1, i.inhseqno FROM up u' +
    ' JOIN pg_catalog.pg_inherits i ON i.inhrelid OPERATOR(pg_catalog.=) u.parent' +
    ') SELECT u.child, n.nspname, c.relname FROM up u' +
    ' JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) u.parent' +
    ' JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace' +
    ' ORDER BY u.child, u.depth, u.seq'
  );
}

const MAX_OID = 0xffffffff;
const BATCH_MAX = 200;

function lookupSql(oids: number[]): string {
  // OIDs are validated integers, so interpolating them is safe; everything is schema-qualified.
  return (
    'SELECT a.attrelid, n.nspname, c.relname, a.attnum, a.attname ' +
    'FROM pg_catalog.pg_attribute a ' +
    'JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid ' +
    'JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace ' +
    `WHERE a.attrelid OPERATOR(pg_catalog.=) ANY ('{${oids.join(',')}}'::pg_catalog.oid[]) AND NOT a.attisdropped`
  );
}

export interface ColumnCatalogOptions extends ConnectOptions {
  queryTimeoutMs?: number;
  /** Opens the lookup session; tests may substitute one. Default: `SimpleQuerySession.open(url)`. */
  open?: () => Promise<Pick<SimpleQuerySession, 'query' | 'close' | 'closed'>>;
}

/**
 * Resolves (table OID, attnum) to names. Lookups arriving in the same tick go out as one query;
 * a table's columns are cached after the first lookup, so repeated calls are a Map hit.
 */
export class ColumnCatalog {
  private readonly tables = new Map<number, TableEntry>();
  private readonly inflight = new Map<number, Promise<TableEntry | undefined>>();
  private pending = new Map<number, { resolve: (e: TableEntry | undefined) => void; reject: (e: Error) => void }>();
  private flushScheduled = false;
  private session: Promise<Pick<SimpleQuerySession, 'query' | 'close' | 'closed'>> | null = null;
  private readonly open: () => Promise<Pick<SimpleQuerySession, 'query' | 'close' | 'closed'>>;
  private closedForGood = false;
  private readonly byName = new Map<string, Promise<readonly RelationName[]>>();

  constructor(url: string, opts: ColumnCatalogOptions = {}) {
    this.open = opts.open ?? (() => SimpleQuerySession.open(url, opts));
  }

  /** The cached name, `null` for a computed column (table OID 0), `undefined` when not cached yet. */
  cached(tableOid: number, attnum: number): ColumnName | null | undefined {
    if (tableOid === 0) return null;
    return this.tables.get(tableOid)?.columns.get(attnum);
  }

  /**
   * The column's name, or null for a computed column (table OID 0). Rejects with CatalogError when
   * the column cannot be named: the caller must deny.
   */
  resolve(tableOid: number, attnum: number): Promise<ColumnName | null> {
    if (tableOid === 0) return Promise.resolve(null);
    if (!Number.isInteger(tableOid) || tableOid < 0 || tableOid > MAX_OID || !Number.isInteger(attnum) || attnum < -32768 || attnum > 32767) {
      return Promise.reject(new TypeError(`ColumnCatalog.resolve: bad table OID ${tableOid} or attnum ${attnum}`));
    }
    const hit = this.tables.get(tableOid)?.columns.get(attnum);
    if (hit) return Promise.resolve(hit);
    // Unknown table, or a column added after the table was cached: (re)load that table once.
    if (this.tables.has(tableOid)) this.tables.delete(tableOid);
    return this.loadTable(tableOid).then((entry) => {
      const col = entry?.columns.get(attnum);
      if (!col) {
        throw new CatalogError(
          'ERR_CATALOG_NOT_FOUND',
          `column ${attnum} of table OID ${tableOid} is not visible in the catalog (dropped, or created in an uncommitted transaction)`,
        );
      }
      return col;
    });
  }

  /**
   * The ancestors (partitioned tables, inheritance parents) of a table given by name, nearest
   * first; empty for a table nobody's child or not found. Rejects when the lookup fails. For names
   * that come without an OID (what a view reads, view-origins.ts).
   */
  ancestorsOf(schema: string, table: string): Promise<readonly RelationName[]> {
    const key = `${schema}\0${table}`;
    let hit = this.byName.get(key);
    if (!hit) {
      hit = (async () => {
        const session = await this.getSession();
        const rows = await session.query(ancestorsByNameSql(schema, table));
        const list: RelationName[] = [];
        for (const [, s, t] of rows) {
          if (s == null || t == null) throw new Error('unexpected NULL in the catalog answer');
          if (!list.some((a) => a.schema === s && a.table === t)) list.push({ schema: s, table: t });
        }
        return list;
      })();
      // A failed lookup is not remembered: the next result asks again (and is refused meanwhile).
      hit.catch(() => this.byName.delete(key));
      this.byName.set(key, hit);
    }
    return hit;
  }

  /** Runs one read-only catalog query on the lookup session (text rows). */
  async query(sql: string): Promise<(string | null)[][]> {
    const session = await this.getSession();
    return session.query(sql);
  }

  /** Forgets every cached name (e.g. after DDL). */
  invalidate(): void {
    this.tables.clear();
    this.byName.clear();
  }

  close(): void {
    this.closedForGood = true;
    const s = this.session;
    this.session = null;
    void s?.then((x) => x.close(), () => undefined);
  }

  private loadTable(oid: number): Promise<TableEntry | undefined> {
    const running = this.inflight.get(oid);
    if (running) return running;
    const p = new Promise<TableEntry | undefined>((resolve, reject) => {
      this.pending.set(oid, { resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
    }).finally(() => this.inflight.delete(oid));
    this.inflight.set(oid, p);
    return p;
  }

  private async getSession(): Promise<Pick<SimpleQuerySession, 'query' | 'close' | 'closed'>> {
    if (this.closedForGood) throw new CatalogError('ERR_CATALOG_CLOSED', 'the column catalog is closed');
    if (this.session) {
      const s = await this.session.catch(() => null);
      if (s && !s.closed) return s;
    }
    // No SET search_path here: the lookup names every relation and operator with its schema, and a
    // session-level SET would leak into the client's session on upstreams that multiplex one backend
    // (PGlite in `tollgate demo`).
    const opening = this.open();
    this.session = opening;
    // A failed open must not be reused: the next lookup tries again.
    opening.catch(() => {
      if (this.session === opening) this.session = null;
    });
    return opening;
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    const oids = [...batch.keys()];
    for (let i = 0; i < oids.length; i += BATCH_MAX) {
      const chunk = oids.slice(i, i + BATCH_MAX);
      try {
        const session = await this.getSession();
        const rows = await session.query(lookupSql(chunk));
        const parents = await session.query(ancestorsSql(chunk));
        const ancestors = new Map<number, RelationName[]>();
        for (const [relid, schema, table] of parents) {
          if (relid == null || schema == null || table == null) throw new Error('unexpected NULL in the catalog answer');
          const list = ancestors.get(Number(relid)) ?? [];
          // Multiple inheritance can reach one ancestor twice: keep its nearest position.
          if (!list.some((a) => a.schema === schema && a.table === table)) list.push({ schema, table });
          ancestors.set(Number(relid), list);
        }
        const found = new Map<number, TableEntry>();
        for (const [relid, schema, table, attnum, column] of rows) {
          if (relid == null || schema == null || table == null || attnum == null || column == null) {
            throw new Error('unexpected NULL in the catalog answer');
          }
          const oid = Number(relid);
          let e = found.get(oid);
          if (!e) found.set(oid, (e = { schema, table, columns: new Map() }));
          const up = ancestors.get(oid);
          e.columns.set(Number(attnum), up ? { schema, table, column, ancestors: up } : { schema, table, column });
        }
        for (const oid of chunk) {
          const e = found.get(oid);
          if (e && !this.closedForGood) this.tables.set(oid, e);
          batch.get(oid)!.resolve(e);
        }
      } catch (err) {
        const e = err instanceof CatalogError ? err : new CatalogError('ERR_CATALOG_LOOKUP', `column name lookup failed: ${(err as Error).message}`);
        for (const oid of chunk) batch.get(oid)!.reject(e);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

/** Stricter strategies win when several ancestors carry a mask (as mask-plan.ts does for values). */
const STRICTNESS: Record<MaskStrategy, number> = { partial: 0, hash: 1, redact: 2, null: 3 };

export type MaskLookup = (schema: string, table: string, column: string) => { strategy: MaskStrategy } | null;

/**
 * A catalog whose names make masks on partitioned tables and inheritance parents cover their
 * partitions and children: a column of `users_p1` is reported under the name (its own table's or
 * an ancestor's) whose mask is strictest, its own name when none has one. The mask plan then
 * looks that name up as usual. Columns of a partition or child have their parent's names (except
 * a child's own extra columns, which an ancestor's mask cannot name unless its pattern does).
 */
export function inheritedMaskNames<C extends { resolve(tableOid: number, attnum: number): Promise<ColumnName | null> }>(
  catalog: C,
  maskFor: MaskLookup,
): { resolve(tableOid: number, attnum: number): Promise<ColumnName | null> } {
  return {
    async resolve(tableOid, attnum) {
      const name = await catalog.resolve(tableOid, attnum);
      if (!name?.ancestors?.length) return name;
      let best: ColumnName = name;
      let bestMask = maskFor(name.schema, name.table, name.column);
      for (const a of name.ancestors) {
        const m = maskFor(a.schema, a.table, name.column);
        if (m && (!bestMask || STRICTNESS[m.strategy] > STRICTNESS[bestMask.strategy])) {
          best = { ...name, schema: a.schema, table: a.table };
          bestMask = m;
        }
      }
      return best;
    },
  };
}

/**
 * A column of a partitioned table or inheritance parent takes the strictest mask of the same column
 * of its partitions and children (reading the parent hands out their rows). `descendantsOf`
 * answers undefined while the inheritance map is unknown: the lookup then fails (the result is
 * refused, never passed unmasked).
 */
export function descendantMaskNames<C extends { resolve(tableOid: number, attnum: number): Promise<ColumnName | null> }>(
  catalog: C,
  descendantsOf: (schema: string, table: string) => readonly RelationName[] | undefined,
  maskFor: MaskLookup,
): { resolve(tableOid: number, attnum: number): Promise<ColumnName | null> } {
  return {
    async resolve(tableOid, attnum) {
      const name = await catalog.resolve(tableOid, attnum);
      if (!name) return name;
      const below = descendantsOf(name.schema, name.table);
      if (below === undefined) throw new Error('the table inheritance catalog (partitions of masked tables) could not be read from the upstream');
      let best: ColumnName = name;
      let bestMask = maskFor(name.schema, name.table, name.column);
      for (const d of below) {
        const m = maskFor(d.schema, d.table, name.column);
        if (m && (!bestMask || STRICTNESS[m.strategy] > STRICTNESS[bestMask.strategy])) {
          best = { ...name, schema: d.schema, table: d.table };
          bestMask = m;
        }
      }
      return best;
    },
  };
}

interface ViewOriginLike {
  schema: string;
  table: string;
  column: string | null;
}

/**
 * What a view reads, plus the same columns of every ancestor of each table it reads: a view over
 * a partition is then masked by a mask on the partitioned table (the mask plan takes the
 * strictest mask over a view's origins).
 */
export async function addAncestorOrigins<O extends ViewOriginLike>(
  list: O[] | null,
  ancestorsOf: (schema: string, table: string) => Promise<readonly RelationName[]>,
): Promise<O[] | null> {
  if (!list) return list;
  const out = [...list];
  for (const o of list) {
    for (const a of await ancestorsOf(o.schema, o.table)) out.push({ ...o, schema: a.schema, table: a.table });
  }
  return out;
}

/** Every inheritance link in the database: child (schema, table) → its ancestors, nearest first. */
const ALL_ANCESTORS_SQL =
  'WITH RECURSIVE up(child, parent, depth, seq) AS (' +
  ' SELECT i.inhrelid, i.inhparent, 1, i.inhseqno FROM pg_catalog.pg_inherits i' +
  ' UNION ALL' +
  ' SELECT u.child, i.inhparent, u.depth OPERATOR(pg_catalog.+) 1, i.inhseqno FROM up u' +
  ' JOIN pg_catalog.pg_inherits i ON i.inhrelid OPERATOR(pg_catalog.=) u.parent' +
  ') SELECT cn.nspname, cc.relname, pn.nspname, pc.relname FROM up u' +
  ' JOIN pg_catalog.pg_class cc ON cc.oid OPERATOR(pg_catalog.=) u.child' +
  ' JOIN pg_catalog.pg_namespace cn ON cn.oid OPERATOR(pg_catalog.=) cc.relnamespace' +
  ' JOIN pg_catalog.pg_class pc ON pc.oid OPERATOR(pg_catalog.=) u.parent' +
  ' JOIN pg_catalog.pg_namespace pn ON pn.oid OPERATOR(pg_catalog.=) pc.relnamespace' +
  ' ORDER BY u.child, u.depth, u.seq';

/**
 * A synchronous view of the database's partitions and inheritance children, for checks that
 * cannot wait for a lookup (is this object possibly masked, when deciding whether an upstream
 * error text may be shown). Loaded in the background and again after DDL through the proxy; until
 * the first load succeeds `ancestors` answers undefined. A child created by another session after
 * the last load is unknown until the next one: callers needing certainty use ColumnCatalog.
 */
export class InheritanceMap {
  private map: Map<string, RelationName[]> | null = null;
  private reverse: { of: Map<string, RelationName[]>; by: Map<string, RelationName[]> } | null = null;
  private running: Promise<void> | null = null;
  private again = false;

  /**
   * @param onChange called when a load finds other partitions/children than the load before: what
   *   was decided with the old map (the policy engine's cached decisions) must be decided again.
   */
  constructor(
    private readonly query: (sql: string) => Promise<(string | null)[][]>,
    private readonly onChange?: () => void,
  ) {}

  /** The load in progress, if any (a decision that must see a schema change waits for it). */
  get loading(): Promise<void> | null {
    return this.running;
  }

  /** Whether a load has succeeded (until then `ancestors` answers undefined). */
  get loaded(): boolean {
    return this.map !== null;
  }

  /** Loaded, and no table of the database is a partition or inheritance child. */
  get none(): boolean {
    return this.map !== null && this.map.size === 0;
  }

  /** The ancestors of schema.table (empty: none known); undefined before the first load. */
  ancestors(schema: string, table: string): readonly RelationName[] | undefined {
    if (!this.map) return undefined;
    return this.map.get(`${schema}\0${table}`) ?? [];
  }

  /**
   * The partitions and children of schema.table, at any depth (empty: none known); undefined before
   * the first load. Reading a parent reads them: a mask on a partition matters through its parent.
   */
  descendants(schema: string, table: string): readonly RelationName[] | undefined {
    const map = this.map;
    if (!map) return undefined;
    if (this.reverse?.of !== map) {
      const by = new Map<string, RelationName[]>();
      for (const [child, ancestors] of map) {
        const sep = child.indexOf('\0');
        const rel = { schema: child.slice(0, sep), table: child.slice(sep + 1) };
        for (const a of ancestors) {
          const key = `${a.schema}\0${a.table}`;
          const list = by.get(key) ?? [];
          list.push(rel);
          by.set(key, list);
        }
      }
      this.reverse = { of: map, by };
    }
    return this.reverse.by.get(`${schema}\0${table}`) ?? [];
  }

  /**
   * A reload that fails leaves the map unknown, not stale: a reload follows a schema change, so the
   * old answer may be wrong (until a load succeeds, `ancestors` answers undefined and callers deny).
   */
  private forget(): void {
    if (this.map === null) return;
    this.map = null;
    this.onChange?.();
  }

  /** (Re)loads; concurrent calls share one load and a call during a load schedules one more. */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        let rows: (string | null)[][];
        try {
          rows = await this.query(ALL_ANCESTORS_SQL);
        } catch (err) {
          this.forget();
          throw err;
        }
        const map = new Map<string, RelationName[]>();
        for (const [cs, ct, ps, pt] of rows) {
          if (cs == null || ct == null || ps == null || pt == null) {
            this.forget();
            throw new Error('unexpected NULL in the catalog answer');
          }
          const key = `${cs}\0${ct}`;
          const list = map.get(key) ?? [];
          if (!list.some((a) => a.schema === ps && a.table === pt)) list.push({ schema: ps, table: pt });
          map.set(key, list);
        }
        const before = this.map;
        this.map = map;
        if (before !== null && !sameMap(before, map)) this.onChange?.();
      } while (this.again);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }
}

function sameMap(a: Map<string, RelationName[]>, b: Map<string, RelationName[]>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, list] of a) {
    const other = b.get(key);
    if (!other || other.length !== list.length) return false;
    if (list.some((x) => !other.some((y) => y.schema === x.schema && y.table === x.table))) return false;
  }
  return true;
}

/** `schema.table.column` (or `.*`) split as policy/masks.ts splits lineage sources; null otherwise. */
function splitSource(source: string): { schema: string; table: string; column: string } | null {
  const parts = splitQualified(source);
  if (parts.length !== 3 || parts.some((p) => !p)) return null;
  return { schema: parts[0]!, table: parts[1]!, column: parts[2]! };
}

function withAncestorsOf(sources: readonly string[], ancestorsOf: (schema: string, table: string) => readonly RelationName[]): string[] {
  const out = [...sources];
  for (const src of sources) {
    const p = splitSource(src);
    if (!p) continue;
    for (const a of ancestorsOf(p.schema, p.table)) {
      const extra = p.column === '*' ? `${qualify(a.schema, a.table)}.*` : qualify(a.schema, a.table, p.column);
      if (!out.includes(extra)) out.push(extra);
    }
  }
  return out;
}

function outputsWithAncestors(outputs: OutputColumn[] | null, ancestorsOf: (schema: string, table: string) => readonly RelationName[]): OutputColumn[] | null {
  return outputs && outputs.map((o) => ({ ...o, sources: withAncestorsOf(o.sources, ancestorsOf) }));
}

/**
 * The analysis's lineage as the masks must see it: every source column of a partition or
 * inheritance child also names the same column of each ancestor, so a mask on the partitioned
 * table covers `lower(email) FROM users_p1`, a copy of it stored elsewhere (`derived`), and what a
 * PREPARE / DECLARE will return. New objects; the input is not changed.
 */
export function withAncestorSources(
  analyses: StatementAnalysis[],
  ancestorsOf: (schema: string, table: string) => readonly RelationName[],
): StatementAnalysis[] {
  return analyses.map((a) => {
    const out: StatementAnalysis = { ...a, outputs: outputsWithAncestors(a.outputs, ancestorsOf) };
    if (a.derived) out.derived = withAncestorsOf(a.derived, ancestorsOf);
    if (a.defines) {
      const d: NamedDefinition = { ...a.defines, outputs: outputsWithAncestors(a.defines.outputs, ancestorsOf) };
      out.defines = d;
    }
    return out;
  });
}
