// The policy engine for one role: SQL text in, Decision out, with a decision cache in front.
//
// Cache, two levels, both per search path:
//  1. exact text → decision (a client repeating the same statement);
//  2. shape → decision, where the shape is PostgreSQL's own normalisation of the statement
//     (constants replaced by $n, from the real scanner/parser; never a hand-written lexer, which
//     could disagree with the server and let an attack hit a cached allow). A statement whose
//     accesses depend on a literal (`literalSensitive`) is never cached by shape, nor is a message
//     of several statements (its per-statement texts cannot be rebuilt from a shape).
// Decisions handed out are frozen and shared: callers must not mutate them.
import { isNormalizationOf } from '../sql/parser.js';
import type { StatementAnalysis } from '../sql/types.js';
import { LruMap } from '../cache.js';
import type { Policy, Role } from './compile.js';
import { decideAnalyses, needsSession, type DefinitionLookup } from './decide.js';
import { maskForColumn, type MaskMatch } from './masks.js';
import { getRole } from './roles.js';
import type { Decision, StatementDecision } from './types.js';

/** What the engine needs from the SQL analysis (src/sql), injectable for tests. */
export interface Analyzer {
  analyze(sql: string, options: { searchPath?: string[] }): StatementAnalysis[];
  /** PostgreSQL's normalised form of the text, or null when it cannot be computed. */
  shapeKey(sql: string): string | null;
}

export interface EngineOptions {
  analyzer: Analyzer;
  /** Entries per cache level (default 10,000). */
  cacheSize?: number;
}

export interface DecideContext {
  /** The session's search path; the analysis's default (public) when absent. */
  searchPath?: readonly string[];
  /**
   * The session's prepared statements and cursors (what earlier allowed PREPARE / DECLARE
   * statements defined: StatementDecision.defines). When given, EXECUTE / FETCH of a name it does
   * not know is denied, and a known one is decided with the accesses and columns it runs.
   */
  definitions?: DefinitionLookup;
}

export interface CacheStats {
  exactHits: number;
  shapeHits: number;
  misses: number;
  exactSize: number;
  shapeSize: number;
}

/**
 * How to recover a single statement's own text from the message text on a shape hit (the
 * analysis gives each statement's text trimmed and without the terminating semicolon). The text
 * is only reported; the decision comes from the shape.
 */
type TextOf = 'same' | 'trim' | 'strip';

const TEXT_OF: Record<TextOf, (sql: string) => string> = {
  same: (sql) => sql,
  trim: (sql) => sql.trim(),
  strip: (sql) => sql.replace(/[\s;]+$/, '').trim(),
};

function textOfFor(message: string, statement: string): TextOf | null {
  for (const t of ['same', 'trim', 'strip'] as const) if (TEXT_OF[t](message) === statement) return t;
  return null;
}

interface ExactEntry {
  analyses: StatementAnalysis[];
  /** The decision without session definitions. */
  decision: Decision;
  /** Runs a prepared statement or cursor the message does not define itself. */
  needsSession: boolean;
}

interface ShapeEntry {
  analysis: StatementAnalysis;
  decision: Decision['decision'];
  statement: StatementDecision;
  textOf: TextOf;
  needsSession: boolean;
}

/**
 * The shape of a statement cut from a message by `textOf` (trimming, dropping final semicolons:
 * nothing a constant can contain): the same cut of the message's shape, kept only when PostgreSQL's
 * normalisation check agrees that it is the statement's text with constants replaced by $n.
 */
function statementShape(statement: string, messageShape: string, textOf: TextOf): string | undefined {
  const shape = TEXT_OF[textOf](messageShape);
  return isNormalizationOf(statement, shape) ? shape : undefined;
}

function freezeDecision(d: Decision): Decision {
  for (const s of d.statements) {
    for (const a of s.accesses) Object.freeze(a);
    Object.freeze(s.accesses);
    for (const m of s.masked) Object.freeze(m);
    Object.freeze(s.masked);
    if (s.starMasked) for (const m of s.starMasked) Object.freeze(m);
    if (s.starMasked) Object.freeze(s.starMasked);
    if (s.decidingAccess) Object.freeze(s.decidingAccess);
    Object.freeze(s);
  }
  Object.freeze(d.statements);
  return Object.freeze(d);
}

export class PolicyEngine {
  readonly policy: Policy;
  readonly role: Role;
  private readonly analyzer: Analyzer;
  private readonly exact: LruMap<string, ExactEntry>;
  private readonly shapes: LruMap<string, ShapeEntry>;
  private readonly stats = { exactHits: 0, shapeHits: 0, misses: 0 };
  private lastPath: string[] | null = null;
  private lastPathKey = '';

  constructor(policy: Policy, role: string, options: EngineOptions) {
    this.policy = policy;
    this.role = getRole(policy, role);
    this.analyzer = options.analyzer;
    const size = options.cacheSize ?? 10_000;
    this.exact = new LruMap(size);
    this.shapes = new LruMap(size);
  }

  /** Decides a message (one or more statements) as a whole. Never throws: failures deny. */
  decide(sql: string, ctx: DecideContext = {}): Decision {
    const lookup = ctx.definitions;
    // The search path changes what names resolve to: it is part of every key. JSON cannot contain
    // a raw NUL, and a server rejects SQL text with one, so the key is unambiguous. No search
    // path (the analysis's default) and an empty one are different keys.
    const pathKey = ctx.searchPath ? this.pathKeyOf(ctx.searchPath) : '-';
    const exactKey = `${pathKey}\u0000${sql}`;
    const cached = this.exact.get(exactKey);
    if (cached) {
      this.stats.exactHits++;
      return lookup && cached.needsSession ? freezeDecision(decideAnalyses(this.role, cached.analyses, lookup)) : cached.decision;
    }

    let shape: string | null = null;
    try {
      shape = this.analyzer.shapeKey(sql);
    } catch {
      shape = null; // unparsable: the analysis below denies it
    }
    const shapeKey = shape === null ? null : `${pathKey}\u0000${shape}`;
    if (shapeKey !== null) {
      const entry = this.shapes.get(shapeKey);
      if (entry) {
        this.stats.shapeHits++;
        // The entry's statement is frozen all the way down already: only the new objects need it.
        // Not remembered by exact text: texts that differ only in literals would fill that level.
        const statement = Object.freeze({ ...entry.statement, sql: TEXT_OF[entry.textOf](sql) });
        const decision = Object.freeze({ decision: entry.decision, statements: Object.freeze([statement]) as StatementDecision[] });
        if (!(lookup && entry.needsSession)) return decision;
        return freezeDecision(decideAnalyses(this.role, [{ ...entry.analysis, sql: statement.sql }], lookup));
      }
    }

    this.stats.misses++;
    let analyses: StatementAnalysis[];
    try {
      analyses = this.analyzer.analyze(sql, ctx.searchPath ? { searchPath: [...ctx.searchPath] } : {});
    } catch (err) {
      // Not cached: an internal failure should not stick.
      return freezeDecision({
        decision: 'deny',
        statements: [
          {
            sql,
            kind: 'other',
            decision: 'deny',
            rule: null,
            reason: `the statement could not be analysed: ${(err as Error)?.message ?? String(err)}`,
            accesses: [],
            masked: [],
          },
        ],
      });
    }

    const decision = freezeDecision(decideAnalyses(this.role, analyses));
    const session = needsSession(analyses);
    this.exact.set(exactKey, { analyses, decision, needsSession: session });
    if (shapeKey !== null && analyses.length === 1 && !analyses[0]!.literalSensitive) {
      const textOf = textOfFor(sql, analyses[0]!.sql);
      if (textOf) {
        const statement = decision.statements[0]!;
        const stmtShape = statementShape(statement.sql, shape!, textOf);
        this.shapes.set(shapeKey, {
          analysis: analyses[0]!,
          decision: decision.decision,
          statement: stmtShape === undefined ? statement : Object.freeze({ ...statement, shape: stmtShape }),
          textOf,
          needsSession: session,
        });
      }
    }
    return lookup && session ? freezeDecision(decideAnalyses(this.role, analyses, lookup)) : decision;
  }

  /**
   * JSON of the search path, remembered for the last path seen: a session decides every statement
   * under the same path. Compared by content (a caller may reuse and change its array).
   */
  private pathKeyOf(path: readonly string[]): string {
    const last = this.lastPath;
    if (last && last.length === path.length && last.every((x, i) => x === path[i])) return this.lastPathKey;
    this.lastPath = [...path];
    this.lastPathKey = JSON.stringify(path);
    return this.lastPathKey;
  }

  /** Decides already analysed statements (no cache). */
  decideAnalyses(analyses: readonly StatementAnalysis[], definitions?: DefinitionLookup): Decision {
    return decideAnalyses(this.role, analyses, definitions);
  }

  /** The mask covering schema.table.column for this role, or null (the proxy's catalog path). */
  maskForColumn(schema: string, table: string, column: string): MaskMatch | null {
    return maskForColumn(this.role, schema, table, column);
  }

  cacheStats(): CacheStats {
    return { ...this.stats, exactSize: this.exact.size, shapeSize: this.shapes.size };
  }

  clearCache(): void {
    this.exact.clear();
    this.shapes.clear();
  }
}
