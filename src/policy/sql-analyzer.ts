// Wires the engine to the real SQL analysis (PostgreSQL's parser as WebAssembly).
import { analyze } from '../sql/analyze.js';
import { initSql } from '../sql/parser.js';
import { shapeKey } from '../sql/shape.js';
import type { Policy } from './compile.js';
import { PolicyEngine, type Analyzer, type EngineOptions } from './engine.js';

export const sqlAnalyzer: Analyzer = {
  analyze: (sql, options) => analyze(sql, options),
  shapeKey: (sql) => shapeKey(sql),
};

/** Loads the parser (once) and returns an engine for `role` that uses it. */
export async function createEngine(
  policy: Policy,
  role: string,
  options: Partial<EngineOptions> = {},
): Promise<PolicyEngine> {
  await initSql();
  return new PolicyEngine(policy, role, { analyzer: sqlAnalyzer, ...options });
}
