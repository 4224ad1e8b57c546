// The policy module's public surface (re-exports only).
export type { Action, Decision, MaskedOutput, MaskStrategy, StatementDecision } from './types.js';
export type { ClaimMatch, HttpRule, HttpUpstream, Mask, Policy, PostgresRule, Role } from './compile.js';
export { PolicyError, type PolicyErrorCode, type PolicyProblem } from './errors.js';
export { loadPolicy, parsePolicy } from './load.js';
export { getRole, matchRoles, roleMatches, selectRole, type Claims } from './roles.js';
export { maskForColumn, maskedOutputs, type MaskedOutputs, type MaskMatch } from './masks.js';
export { decideAccess, decideAnalyses, decideStatement, HARMLESS_SETTINGS, needsSession, ruleCovers, type DefinitionLookup } from './decide.js';
export { PolicyEngine, type Analyzer, type CacheStats, type DecideContext, type EngineOptions } from './engine.js';
export { createEngine, sqlAnalyzer } from './sql-analyzer.js';
export { compileGlob, globProblem, type Glob } from './glob.js';
export { parseDuration } from './duration.js';
