// Public surface of the SQL analysis.
export { initSql, isSqlReady, parseSql, normalizeSql } from './parser.js';
export { analyze, type AnalyzeOptions } from './analyze.js';
export { shapeKey, redactLiterals } from './shape.js';
export { classifyBuiltin, CATALOG_SERVER_VERSION, type BuiltinClass } from './builtins.js';
export * from './types.js';
