// SQL carried by a tool argument, decided as SQL: the same analysis (PostgreSQL's parser), the same
// rules and masks (this role's `postgres` section, through the PolicyEngine) as the PostgreSQL path.
// Nothing is re-implemented here; what this adds is what the MCP path lacks compared with the wire
// protocol: no catalog to find masked columns by table OID, and no session.
//  - A `*` over a table that any mask could cover is denied: the wire path masks those columns by
//    catalog, here a row only carries names, so the columns must be listed.
//  - EXECUTE and FETCH are decided with an empty session (denied): a tool call has no session of
//    its own, and a pooled server connection may still hold what an earlier call prepared.
//  - The masked output names and every output name are handed to the result masker, which refuses a
//    result whose row keys it cannot account for.
import { maskOverSources } from '../policy/masks.js';
import type { PolicyEngine } from '../policy/engine.js';
import type { Decision, MaskStrategy } from '../policy/types.js';
import { analyze } from '../sql/analyze.js';
import type { StatementAnalysis } from '../sql/types.js';

export interface SqlVerdict {
  decision: Decision;
  /** Output column name → strategy, for masking rows by field name. */
  masked: Map<string, MaskStrategy>;
  /** Every named output column (null when some output is an unexpanded `*`). */
  outputs: Set<string> | null;
}

const noDefinitions = () => undefined;

function denyAll(d: Decision, statementIndex: number, reason: string): Decision {
  return {
    decision: 'deny',
    statements: d.statements.map((s, i) => (i === statementIndex ? { ...s, decision: 'deny', rule: null, reason } : s)),
  };
}

export function decideSql(engine: PolicyEngine, sql: string): SqlVerdict {
  let analyses: StatementAnalysis[];
  try {
    analyses = analyze(sql, {});
  } catch (err) {
    analyses = [{ sql, kind: 'other', accesses: [], outputs: null, literalSensitive: false, error: `the statement could not be analysed: ${(err as Error)?.message ?? String(err)}` }];
  }
  if (analyses.length === 0) {
    analyses = [{ sql, kind: 'other', accesses: [], outputs: null, literalSensitive: false, error: 'no SQL statement in the argument' }];
  }
  let decision = engine.decideAnalyses(analyses, noDefinitions);
  const masked = new Map<string, MaskStrategy>();
  let outputs: Set<string> | null = new Set();
  for (const [i, a] of analyses.entries()) {
    for (const out of a.outputs ?? []) {
      if (out.name === '*') {
        const m = maskOverSources(engine.role, out.sources);
        if (m && decision.decision !== 'deny') {
          decision = denyAll(
            decision,
            i,
            `the columns of * carry data a mask may cover (${m.column}), and a tool result names columns only by name: list the columns instead of *`,
          );
        }
        outputs = null;
      } else outputs?.add(out.name);
    }
    for (const m of decision.statements[i]?.masked ?? []) {
      const prev = masked.get(m.name);
      masked.set(m.name, prev === undefined ? m.strategy : stricter(prev, m.strategy));
    }
  }
  return { decision, masked, outputs };
}

const STRICTNESS: Record<MaskStrategy, number> = { partial: 0, hash: 1, redact: 2, null: 3 };
const stricter = (a: MaskStrategy, b: MaskStrategy): MaskStrategy => (STRICTNESS[a] >= STRICTNESS[b] ? a : b);
