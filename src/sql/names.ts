// Name resolution as PostgreSQL does it, without a live catalog: the parser has already folded
// unquoted identifiers and decoded quoted / U&"" ones, so names here are exact. An unqualified relation
// is pg_catalog's when pg_catalog has it (pg_catalog is searched first), else it may be in any schema
// of the search path: every candidate is reported (the most restrictive decision then applies).
import type { Access } from './types.js';
import { classifyBuiltin, isCatalogFunction, isCatalogOperator, isCatalogRelation, isDangerousName } from './builtins.js';
import { AnalysisError } from './errors.js';
import { qualify } from './qualified.js';

export interface RangeVarLike {
  catalogname?: string;
  schemaname?: string;
  relname?: string;
  relpersistence?: string;
}

/** Candidate `schema.name` keys of a relation that is read or written. */
export function relationKeys(rv: RangeVarLike | undefined, searchPath: string[]): string[] {
  if (!rv) throw new AnalysisError('relation missing');
  const name = rv.relname;
  if (typeof name !== 'string') throw new AnalysisError('relation without a name');
  if (rv.schemaname) return [qualify(rv.schemaname, name)];
  const { before, after } = splitPath(searchPath);
  const keys = before.map((s) => qualify(s, name));
  if (isCatalogRelation(name)) keys.push(qualify('pg_catalog', name));
  else keys.push(...after.map((s) => qualify(s, name)));
  if (!keys.length) throw new AnalysisError('empty search path: cannot resolve relation');
  return keys;
}

/**
 * The search path around pg_catalog: pg_catalog is searched first unless the path names it later,
 * in which case the schemas before it can shadow built-ins (every one of them is then a candidate).
 */
export function splitPath(searchPath: string[]): { before: string[]; after: string[] } {
  const i = searchPath.indexOf('pg_catalog');
  if (i < 0) return { before: [], after: searchPath.slice() };
  return { before: searchPath.slice(0, i), after: searchPath.slice(i + 1) };
}

/** The `schema.name` a CREATE puts a new relation into (temporary → pg_temp, else the first schema). */
export function createdKey(rv: RangeVarLike | undefined, searchPath: string[]): string {
  if (!rv) throw new AnalysisError('created relation missing');
  const name = rv.relname;
  if (typeof name !== 'string') throw new AnalysisError('relation without a name');
  if (rv.schemaname) return qualify(rv.schemaname, name);
  if (rv.relpersistence === 't') return qualify('pg_temp', name);
  const first = searchPath.find((x) => x !== 'pg_catalog');
  if (!first) throw new AnalysisError('empty search path: cannot resolve created relation');
  return qualify(first, name);
}

/** Unqualified or qualified name parts → `schema.name` for a created non-relation object. */
export function createdName(parts: string[], searchPath: string[]): string {
  if (!parts.length) throw new AnalysisError('object name missing');
  if (parts.length >= 2) return qualify(parts[parts.length - 2]!, parts[parts.length - 1]!);
  const first = searchPath.find((x) => x !== 'pg_catalog');
  if (!first) throw new AnalysisError('empty search path: cannot resolve created object');
  return qualify(first, parts[0]!);
}

/**
 * The accesses a function call by name makes: none for a pure built-in, a `call` for side effects,
 * an exact `call` for a dangerous one, and a `call` on every search-path candidate for a function
 * outside pg_catalog. `always` forces an access even for pure built-ins (CALL of a procedure).
 */
export function functionAccesses(parts: string[], searchPath: string[], always = false): Access[] {
  const name = parts[parts.length - 1];
  if (!name) throw new AnalysisError('function call without a name');
  const schema = parts.length >= 2 ? parts[parts.length - 2]! : null;
  if (schema === 'pg_catalog') return builtinAccess(name, always);
  if (schema !== null) return [userCall(schema, name)];
  const { before, after } = splitPath(searchPath);
  const out = before.map((s) => userCall(s, name));
  if (isCatalogFunction(name)) out.push(...builtinAccess(name, always));
  else out.push(...after.map((s) => userCall(s, name)));
  if (!out.length && !isCatalogFunction(name)) throw new AnalysisError(`empty search path: cannot resolve function ${name}`);
  return out;
}

function builtinAccess(name: string, always: boolean): Access[] {
  const cls = classifyBuiltin(name);
  if (cls === 'pure' && !always) return [];
  const a: Access = { kind: 'call', object: qualify('pg_catalog', name) };
  if (cls === 'dangerous') a.exact = true;
  return [a];
}

function userCall(schema: string, name: string): Access {
  return isDangerousName(name) ? { kind: 'call', object: qualify(schema, name), exact: true } : { kind: 'call', object: qualify(schema, name) };
}

/**
 * The accesses an operator by name makes. Built-in operators are part of the read; an operator
 * pg_catalog does not have (or a schema-qualified one elsewhere) runs a user function: a `call`.
 */
export function operatorAccesses(parts: string[], searchPath: string[]): Access[] {
  const name = parts[parts.length - 1];
  if (!name) return [];
  if (parts.length >= 2) {
    const schema = parts[parts.length - 2]!;
    if (schema === 'pg_catalog') return isCatalogOperator(name) ? [] : [{ kind: 'call', object: qualify('pg_catalog', name) }];
    return [{ kind: 'call', object: qualify(schema, name) }];
  }
  const { before, after } = splitPath(searchPath);
  const out: Access[] = before.map((s) => ({ kind: 'call', object: qualify(s, name) }));
  if (!isCatalogOperator(name)) {
    out.push(...after.map((s): Access => ({ kind: 'call', object: qualify(s, name) })));
    if (!out.length) throw new AnalysisError(`empty search path: cannot resolve operator ${name}`);
  }
  return out;
}
