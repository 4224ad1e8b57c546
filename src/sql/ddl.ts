// DDL and other utility statements: what kind of change, on which object. Relation-based statements
// name the relation as `schema.table`; objects outside schemas get a typed name (`role:alice`,
// `database:app`, `extension:dblink`) so that a `schema.*` glob never matches them by accident.
// After the object is recorded, the rest of the statement is walked generically so that expressions
// inside it (column defaults, CHECK constraints, USING clauses, policies' quals, rule actions, function
// bodies written in SQL) contribute their own accesses.
import type { Kind, OutputColumn } from './types.js';
import { AnalysisError } from './errors.js';
import type { Walker } from './walk.js';
import { type N, list, stringFields, unwrap, unwrapIf } from './ast.js';
import { functionAccesses } from './names.js';
import { unionSources } from './scope.js';
import { qualify, quoteName, splitQualified } from './qualified.js';

interface DdlSpec {
  kind: Kind | ((b: N) => Kind);
  /** Fields naming the target (excluded from the generic walk, which would read them as reads). */
  target?: string[];
  /** Custom object extraction; default: `relation` if present, else a typed name from NAME_FIELDS. */
  objects?: (b: N, w: Walker) => string[];
  label?: string;
}

const C = 'create' as const;
const A = 'alter' as const;
const D = 'drop' as const;

const grantKind = (b: N): Kind => (b.is_grant ? 'grant' : 'revoke');

const SPECS: Record<string, DdlSpec> = {
  CreateStmt: { kind: C, target: ['relation'], objects: (b, w) => [w.createdKeyOf(b.relation)] },
  CreateForeignTableStmt: { kind: C, target: ['base'], objects: (b, w) => [w.createdKeyOf((b.base as N | undefined)?.relation)] },
  CreateTableAsStmt: { kind: C, target: ['into'], objects: (b, w) => [w.createdKeyOf((b.into as N | undefined)?.rel)] },
  ViewStmt: { kind: C, target: ['view'], objects: (b, w) => [w.createdKeyOf(b.view)] },
  CreateSeqStmt: { kind: C, target: ['sequence'], objects: (b, w) => [w.createdKeyOf(b.sequence)] },
  AlterSeqStmt: { kind: A, target: ['sequence'], objects: (b, w) => w.relKeysOf(b.sequence) },
  IndexStmt: { kind: C, target: ['relation'], objects: (b, w) => w.relKeysOf(b.relation) },
  CreateStatsStmt: { kind: C, target: ['relations'], objects: (b, w) => list(b.relations).flatMap((r) => w.relKeysOf(r)) },
  AlterStatsStmt: { kind: A, label: 'statistics' },
  // A constraint trigger's FROM table is one it is attached to as well (PostgreSQL asks TRIGGER on it).
  CreateTrigStmt: { kind: C, target: ['relation', 'constrrel'], objects: (b, w) => w.relKeysOf(b.relation).concat(b.constrrel ? w.relKeysOf(b.constrrel) : []) },
  CreatePolicyStmt: { kind: C, target: ['table'], objects: (b, w) => w.relKeysOf(b.table) },
  AlterPolicyStmt: { kind: A, target: ['table'], objects: (b, w) => w.relKeysOf(b.table) },
  RuleStmt: { kind: C, target: ['relation'], objects: (b, w) => w.relKeysOf(b.relation) },
  AlterTableStmt: { kind: A, target: ['relation'], objects: (b, w) => w.relKeysOf(b.relation) },
  RefreshMatViewStmt: { kind: A, target: ['relation'], objects: (b, w) => w.relKeysOf(b.relation) },
  ReindexStmt: { kind: A, target: ['relation'], objects: (b, w) => (b.relation ? w.relKeysOf(b.relation) : [`${String(b.kind ?? 'reindex').replace(/^REINDEX_OBJECT_/, '').toLowerCase()}:${quoteName(String(b.name ?? ''))}`]) },
  TruncateStmt: { kind: 'truncate', target: ['relations'], objects: (b, w) => list(b.relations).flatMap((r) => w.relKeysOf(r)) },
  CreateSchemaStmt: { kind: C, objects: (b) => [`schema:${quoteName(String(b.schemaname ?? (b.authrole as N | undefined)?.rolename ?? ''))}`] },
  CreateFunctionStmt: { kind: C, target: ['funcname'], objects: (b, w) => [w.createdNameOf(stringFields(b.funcname))] },
  AlterFunctionStmt: { kind: A, target: ['func'], objects: (b, w) => [w.createdNameOf(stringFields((b.func as N | undefined)?.objname))] },
  DefineStmt: {
    kind: C,
    target: ['defnames'],
    objects: (b, w) => {
      const name = w.createdNameOf(stringFields(b.defnames));
      return [ROUTINE_TYPES.has(String(b.kind)) ? name : `${kindLabel(b.kind)}:${name}`];
    },
  },
  CreateDomainStmt: { kind: C, target: ['domainname'], objects: (b, w) => [`domain:${w.createdNameOf(stringFields(b.domainname))}`] },
  AlterDomainStmt: { kind: A, target: ['typeName'], objects: (b, w) => [`domain:${w.createdNameOf(stringFields(b.typeName))}`] },
  CreateEnumStmt: { kind: C, target: ['typeName'], objects: (b, w) => [`type:${w.createdNameOf(stringFields(b.typeName))}`] },
  AlterEnumStmt: { kind: A, target: ['typeName'], objects: (b, w) => [`type:${w.createdNameOf(stringFields(b.typeName))}`] },
  CreateRangeStmt: { kind: C, target: ['typeName'], objects: (b, w) => [`type:${w.createdNameOf(stringFields(b.typeName))}`] },
  CompositeTypeStmt: { kind: C, target: ['typevar'], objects: (b, w) => [`type:${w.createdKeyOf(b.typevar)}`] },
  AlterTypeStmt: { kind: A, target: ['typeName'], objects: (b, w) => [`type:${w.createdNameOf(stringFields(b.typeName))}`] },
  CreateCastStmt: { kind: C, label: 'cast' },
  CreateConversionStmt: { kind: C, target: ['conversion_name'], objects: (b, w) => [`conversion:${w.createdNameOf(stringFields(b.conversion_name))}`] },
  CreateTransformStmt: { kind: C, label: 'transform' },
  CreateOpClassStmt: { kind: C, target: ['opclassname'], objects: (b, w) => [`operator_class:${w.createdNameOf(stringFields(b.opclassname))}`] },
  CreateOpFamilyStmt: { kind: C, target: ['opfamilyname'], objects: (b, w) => [`operator_family:${w.createdNameOf(stringFields(b.opfamilyname))}`] },
  AlterOpFamilyStmt: { kind: A, target: ['opfamilyname'], objects: (b, w) => [`operator_family:${w.createdNameOf(stringFields(b.opfamilyname))}`] },
  AlterOperatorStmt: { kind: A, label: 'operator' },
  AlterCollationStmt: { kind: A, target: ['collname'], objects: (b, w) => [`collation:${w.createdNameOf(stringFields(b.collname))}`] },
  AlterTSDictionaryStmt: { kind: A, target: ['dictname'], objects: (b, w) => [`text_search_dictionary:${w.createdNameOf(stringFields(b.dictname))}`] },
  AlterTSConfigurationStmt: { kind: A, target: ['cfgname'], objects: (b, w) => [`text_search_configuration:${w.createdNameOf(stringFields(b.cfgname))}`] },
  CreateAmStmt: { kind: C, objects: (b) => [`access_method:${quoteName(String(b.amname ?? ''))}`] },
  CreatePLangStmt: { kind: C, objects: (b) => [`language:${quoteName(String(b.plname ?? ''))}`] },
  CreateExtensionStmt: { kind: C, objects: (b) => [`extension:${quoteName(String(b.extname ?? ''))}`] },
  AlterExtensionStmt: { kind: A, objects: (b) => [`extension:${quoteName(String(b.extname ?? ''))}`] },
  AlterExtensionContentsStmt: { kind: A, objects: (b) => [`extension:${quoteName(String(b.extname ?? ''))}`] },
  CreateFdwStmt: { kind: C, objects: (b) => [`foreign_data_wrapper:${quoteName(String(b.fdwname ?? ''))}`] },
  AlterFdwStmt: { kind: A, objects: (b) => [`foreign_data_wrapper:${quoteName(String(b.fdwname ?? ''))}`] },
  CreateForeignServerStmt: { kind: C, objects: (b) => [`server:${quoteName(String(b.servername ?? ''))}`] },
  AlterForeignServerStmt: { kind: A, objects: (b) => [`server:${quoteName(String(b.servername ?? ''))}`] },
  CreateUserMappingStmt: { kind: C, objects: (b) => [`user_mapping:${quoteName(String(b.servername ?? ''))}`] },
  AlterUserMappingStmt: { kind: A, objects: (b) => [`user_mapping:${quoteName(String(b.servername ?? ''))}`] },
  DropUserMappingStmt: { kind: D, objects: (b) => [`user_mapping:${quoteName(String(b.servername ?? ''))}`] },
  ImportForeignSchemaStmt: { kind: C, objects: (b) => [`schema:${quoteName(String(b.local_schema ?? ''))}`] },
  CreatePublicationStmt: { kind: C, objects: (b) => [`publication:${quoteName(String(b.pubname ?? ''))}`] },
  AlterPublicationStmt: { kind: A, objects: (b) => [`publication:${quoteName(String(b.pubname ?? ''))}`] },
  CreateSubscriptionStmt: { kind: C, objects: (b) => [`subscription:${quoteName(String(b.subname ?? ''))}`] },
  AlterSubscriptionStmt: { kind: A, objects: (b) => [`subscription:${quoteName(String(b.subname ?? ''))}`] },
  DropSubscriptionStmt: { kind: D, objects: (b) => [`subscription:${quoteName(String(b.subname ?? ''))}`] },
  CreateTableSpaceStmt: { kind: C, objects: (b) => [`tablespace:${quoteName(String(b.tablespacename ?? ''))}`] },
  DropTableSpaceStmt: { kind: D, objects: (b) => [`tablespace:${quoteName(String(b.tablespacename ?? ''))}`] },
  AlterTableSpaceOptionsStmt: { kind: A, objects: (b) => [`tablespace:${quoteName(String(b.tablespacename ?? ''))}`] },
  AlterTableMoveAllStmt: { kind: A, objects: (b) => [`tablespace:${quoteName(String(b.orig_tablespacename ?? ''))}`] },
  CreateEventTrigStmt: { kind: C, objects: (b) => [`event_trigger:${quoteName(String(b.trigname ?? ''))}`] },
  AlterEventTrigStmt: { kind: A, objects: (b) => [`event_trigger:${quoteName(String(b.trigname ?? ''))}`] },
  CreateRoleStmt: { kind: C, objects: (b) => [`role:${quoteName(String(b.role ?? ''))}`] },
  AlterRoleStmt: { kind: A, objects: (b) => [`role:${quoteName(roleName(b.role))}`] },
  AlterRoleSetStmt: { kind: A, objects: (b) => [`role:${b.role ? quoteName(roleName(b.role)) : 'all'}`] },
  DropRoleStmt: { kind: D, objects: (b) => list(b.roles).map((r) => `role:${quoteName(roleName(r))}`) },
  CreatedbStmt: { kind: C, objects: (b) => [`database:${quoteName(String(b.dbname ?? ''))}`] },
  AlterDatabaseStmt: { kind: A, objects: (b) => [`database:${quoteName(String(b.dbname ?? ''))}`] },
  AlterDatabaseSetStmt: { kind: A, objects: (b) => [`database:${quoteName(String(b.dbname ?? ''))}`] },
  AlterDatabaseRefreshCollStmt: { kind: A, objects: (b) => [`database:${quoteName(String(b.dbname ?? ''))}`] },
  DropdbStmt: { kind: D, objects: (b) => [`database:${quoteName(String(b.dbname ?? ''))}`] },
  DropOwnedStmt: { kind: D, objects: (b) => list(b.roles).map((r) => `owned_by:${quoteName(roleName(r))}`) },
  ReassignOwnedStmt: { kind: A, objects: (b) => list(b.roles).map((r) => `owned_by:${quoteName(roleName(r))}`) },
  AlterDefaultPrivilegesStmt: { kind: (b) => grantKind((b.action ?? {}) as N), objects: () => ['default_privileges'] },
  GrantRoleStmt: { kind: grantKind, objects: (b) => list(b.granted_roles).map((r) => `role:${quoteName(roleName(r))}`) },
  GrantStmt: { kind: grantKind, target: ['objects'], objects: grantObjects },
  DropStmt: { kind: D, target: ['objects'], objects: dropObjects },
  // Schemas, databases, roles, tablespaces… are renamed by their old name in `subname`.
  RenameStmt: { kind: A, target: ['relation', 'object'], objects: (b, w) => objectOf(b.renameType, b.relation, b.object ?? renamedByName(b), w) },
  AlterObjectSchemaStmt: { kind: A, target: ['relation', 'object'], objects: (b, w) => objectOf(b.objectType, b.relation, b.object, w) },
  AlterOwnerStmt: { kind: A, target: ['relation', 'object'], objects: (b, w) => objectOf(b.objectType, b.relation, b.object, w) },
  AlterObjectDependsStmt: { kind: A, target: ['relation', 'object'], objects: (b, w) => objectOf(b.objectType, b.relation, b.object, w) },
  CommentStmt: { kind: 'comment', target: ['object'], objects: (b, w) => objectOf(b.objtype, undefined, b.object, w) },
  SecLabelStmt: { kind: A, target: ['object'], objects: (b, w) => objectOf(b.objtype, undefined, b.object, w) },
};

export function isDdlStatement(type: string): boolean {
  return Object.prototype.hasOwnProperty.call(SPECS, type);
}

export function ddlAccesses(type: string, b: N, w: Walker): { kind: Kind; outputs: OutputColumn[] | null } {
  const spec = SPECS[type];
  if (!spec) throw new AnalysisError(`unsupported statement ${type}`);
  const kind = typeof spec.kind === 'function' ? spec.kind(b) : spec.kind;
  const objects = spec.objects ? spec.objects(b, w) : [spec.label ?? type];
  if (!objects.length) w.add({ kind });
  for (const o of objects) w.add({ kind, object: o });
  if (type === 'CreateStmt' || type === 'CreateForeignTableStmt') {
    // PARTITION OF / INHERITS changes the parent too: rows written to the parent may land here.
    const base = type === 'CreateStmt' ? b : ((b.base ?? {}) as N);
    for (const p of list(base.inhRelations)) for (const k of w.relKeysOf(p)) w.add({ kind: 'alter', object: k });
  }
  if (type === 'AlterTableStmt') {
    // ATTACH / DETACH PARTITION changes the partition too.
    for (const c of list(b.cmds)) {
      const def = unwrapIf(unwrapIf(c, 'AlterTableCmd').def, 'PartitionCmd');
      if (def.name && typeof def.name === 'object') for (const k of w.relKeysOf(def.name)) w.add({ kind: 'alter', object: k });
    }
  }
  // Objects defined by a function run it later (a trigger on every event, an operator or aggregate
  // where it is used, a cast wherever it applies): creating them needs EXECUTE on it.
  for (const parts of routinesUsed(type, b)) for (const a of functionAccesses(parts, w.searchPath)) w.add(a);
  // A rename or a move gives an object a name in a schema, as creating it would (PostgreSQL asks for
  // CREATE on that schema): the new name is a `create` access too.
  if (type === 'RenameStmt' || type === 'AlterObjectSchemaStmt') for (const o of newNames(b, w)) w.add({ kind: 'create', object: o });
  // A mask names schema.table.column: a rename or a move, or a generated column computed from
  // existing columns, makes their data readable under a name no mask covers. Recorded like a copy.
  if (type === 'RenameStmt' || type === 'AlterObjectSchemaStmt') w.derived.push(...renamedSources(b, w));
  if (type === 'AlterTableStmt') w.derived.push(...generatedSources(b, w));
  if ((type === 'AlterRoleSetStmt' || type === 'AlterDatabaseSetStmt') && b.setstmt) {
    // A per-role / per-database default applies at every later login (the proxy's own upstream
    // sessions included): checked like a SET (`role` exact, client_encoding and
    // standard_conforming_strings refused).
    w.statementOf('VariableSetStmt', b.setstmt as N, null);
  }
  if (type === 'CreateSchemaStmt' && typeof b.schemaname === 'string') {
    // Objects created inside CREATE SCHEMA land in the new schema.
    w.withSearchPath([b.schemaname], () => w.walk(b.schemaElts, null, null));
  }
  const skip = new Set(spec.target ?? []);
  skip.add('inhRelations');
  if ((type === 'CreateTableAsStmt' || type === 'ViewStmt') && b.query) {
    // The new table (or the view, read later with its owner's rights) holds the query's columns.
    const [qt, qb] = unwrap(b.query);
    const outs = qt === 'SelectStmt' ? w.select(qb, null, null) : w.statementOf(qt, qb, null).outputs;
    w.derived.push(...unionSources(outs ?? []));
    skip.add('query');
  }
  if (type === 'CreateSchemaStmt' && typeof b.schemaname === 'string') skip.add('schemaElts');
  for (const k in b) {
    if (skip.has(k)) continue;
    if (type === 'CreateForeignTableStmt' && k === 'base') continue;
    w.walk(b[k], null, null);
  }
  if (type === 'CreateForeignTableStmt') {
    const base = (b.base ?? {}) as N;
    for (const k in base) if (k !== 'relation' && k !== 'inhRelations') w.walk(base[k], null, null);
  }
  return { kind, outputs: null };
}

/**
 * The names a RENAME or SET SCHEMA gives: `schema.new` for relations and routines, `type:schema.new`
 * for other schema objects, `schema:new` for a schema. Parts of tables (columns, constraints,
 * triggers, policies, rules) stay inside their table: none.
 */
function newNames(b: N, w: Walker): string[] {
  const t = String(b.renameType ?? b.objectType ?? '');
  if (TABLE_PART_TYPES.has(t) || t === 'OBJECT_ATTRIBUTE') return [];
  const rename = typeof b.newname === 'string';
  if (t === 'OBJECT_SCHEMA') return rename ? [`schema:${quoteName(b.newname as string)}`] : [];
  if (GLOBAL_TYPES.has(t)) return rename ? [`${kindLabel(t)}:${quoteName(b.newname as string)}`] : [];
  let schemas: string[];
  let name: string;
  if (b.relation) {
    schemas = w.relKeysOf(b.relation).map((k) => splitQualified(k)[0]!);
    name = String((b.relation as N).relname ?? '');
  } else {
    const current = describe(t, b.object, w);
    const label = `${kindLabel(t)}:`;
    const parts = splitQualified(current.startsWith(label) && !ROUTINE_TYPES.has(t) ? current.slice(label.length) : current);
    if (parts.length !== 2) return [];
    schemas = [parts[0]!];
    name = parts[1]!;
  }
  const target = rename ? (b.newname as string) : name;
  if (!rename) {
    if (typeof b.newschema !== 'string') return [];
    schemas = [b.newschema];
  }
  const prefix = RELATION_TYPES.has(t) || ROUTINE_TYPES.has(t) ? '' : `${kindLabel(t)}:`;
  return [...new Set(schemas.map((s) => `${prefix}${qualify(s, target)}`))];
}

/** DefElem options of CREATE OPERATOR / AGGREGATE that name a function. */
const FUNCTION_OPTIONS = new Set(['procedure', 'function', 'restrict', 'join', 'sfunc', 'finalfunc', 'combinefunc',
  'serialfunc', 'deserialfunc', 'msfunc', 'minvfunc', 'mfinalfunc']);

/** The functions (name parts) a CREATE TRIGGER / OPERATOR / AGGREGATE / CAST / CONVERSION is defined with. */
function routinesUsed(type: string, b: N): string[][] {
  if (type === 'CreateTrigStmt' || type === 'CreateEventTrigStmt') return [stringFields(b.funcname)];
  if (type === 'CreateCastStmt' && b.func) return [stringFields((b.func as N).objname)];
  if (type === 'CreateConversionStmt') return [stringFields(b.func_name)];
  if (type !== 'DefineStmt' || (b.kind !== 'OBJECT_OPERATOR' && b.kind !== 'OBJECT_AGGREGATE')) return [];
  const out: string[][] = [];
  for (const d of list(b.definition)) {
    const e = unwrapIf(d, 'DefElem') as N;
    if (!FUNCTION_OPTIONS.has(String(e.defname))) continue;
    const t = unwrapIf(e.arg, 'TypeName') as N;
    const parts = stringFields(t.names);
    if (parts.length) out.push(parts);
  }
  return out;
}

function renamedByName(b: N): N | undefined {
  return !b.relation && typeof b.subname === 'string' ? { String: { sval: b.subname } } : undefined;
}

/**
 * The columns whose name a RENAME or SET SCHEMA changes, as lineage sources: `s.t.col` for a column,
 * `s.t.*` for a relation, and the bare schema name for a schema (an unknown shape, which any mask
 * covers: which tables it holds is not known here).
 */
function renamedSources(b: N, w: Walker): string[] {
  const t = String(b.renameType ?? b.objectType ?? '');
  if (t === 'OBJECT_SCHEMA') return typeof b.subname === 'string' ? [b.subname] : [];
  if (!b.relation) return [];
  const keys = w.relKeysOf(b.relation);
  if (t === 'OBJECT_COLUMN') return typeof b.subname === 'string' ? keys.map((k) => `${k}.${quoteName(b.subname as string)}`) : [];
  return RELATION_TYPES.has(t) ? keys.map((k) => `${k}.*`) : [];
}

/**
 * The existing columns a generated column added or redefined by ALTER TABLE is computed from (it
 * holds their data, already there, under its own name): `s.t.col`, or `s.t.*` for a reference the
 * walk cannot name.
 */
function generatedSources(b: N, w: Walker): string[] {
  const out: string[] = [];
  const keys = w.relKeysOf(b.relation);
  const refs = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(refs);
    if (!node || typeof node !== 'object') return;
    const n = node as N;
    if (n.ColumnRef) {
      const fields = list((n.ColumnRef as N).fields);
      const last = fields[fields.length - 1] as N | undefined;
      const name = last && typeof (last.String as N | undefined)?.sval === 'string' ? ((last.String as N).sval as string) : '*';
      for (const k of keys) out.push(name === '*' ? `${k}.*` : `${k}.${quoteName(name)}`);
      return;
    }
    for (const k in n) refs(n[k]);
  };
  for (const c of list(b.cmds)) {
    const cmd = unwrapIf(c, 'AlterTableCmd');
    const def = cmd.def as N | undefined;
    if (!def) continue;
    const column = unwrapIf(def, 'ColumnDef');
    for (const con of list(column.constraints)) {
      const k = unwrapIf(con, 'Constraint');
      if (k.contype === 'CONSTR_GENERATED') refs(k.raw_expr);
    }
    // ALTER COLUMN … SET EXPRESSION AS (…) (PostgreSQL 17) carries the expression as the def itself.
    if (cmd.subtype === 'AT_SetExpression') refs(def);
  }
  return out;
}

function kindLabel(k: unknown): string {
  return String(k ?? 'object').replace(/^OBJECT_/, '').toLowerCase();
}

function roleName(r: unknown): string {
  const rs = unwrapIf(r, 'RoleSpec');
  if (typeof rs.rolename === 'string') return rs.rolename;
  return String(rs.roletype ?? 'role').replace(/^ROLESPEC_/, '').toLowerCase();
}

const RELATION_TYPES = new Set([
  'OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_SEQUENCE', 'OBJECT_INDEX', 'OBJECT_FOREIGN_TABLE',
]);

/** `schema.name` (relations) or `type:name` for the object of a generic object statement. */
function objectOf(objtype: unknown, relation: N | undefined, object: unknown, w: Walker): string[] {
  const t = String(objtype ?? '');
  if (relation) {
    const keys = w.relKeysOf(relation);
    return RELATION_TYPES.has(t) || TABLE_PART_TYPES.has(t) ? keys : keys.map((k) => `${kindLabel(t)}:${k}`);
  }
  return [describe(t, object, w)];
}

function describe(t: string, object: unknown, w: Walker): string {
  const label = kindLabel(t);
  if (object === undefined || object === null) return label;
  const o = object as N;
  // String (schema, database, role…), List of String (qualified), ObjectWithArgs (functions), TypeName.
  if ('String' in o) return `${label}:${quoteName(String((o.String as N).sval))}`;
  let parts: string[] = [];
  if ('List' in o) parts = stringFields((o.List as N).items);
  else if ('ObjectWithArgs' in o) parts = stringFields((o.ObjectWithArgs as N).objname);
  else if ('TypeName' in o) parts = stringFields((o.TypeName as N).names);
  if (!parts.length) return label;
  if (RELATION_TYPES.has(t)) return tableKey(parts, w);
  // A part of a table (column, constraint, trigger, policy, rule): the change is to the table.
  if (TABLE_PART_TYPES.has(t) && parts.length >= 2) return tableKey(parts.slice(0, -1), w);
  // Routines are named like relations (`schema.name`, as CREATE FUNCTION names them); other objects
  // in schemas get their type as a prefix; objects outside schemas keep their bare name.
  if (GLOBAL_TYPES.has(t)) return `${label}:${qualify(...parts)}`;
  const name = w.createdNameOf(parts);
  return ROUTINE_TYPES.has(t) ? name : `${label}:${name}`;
}

const ROUTINE_TYPES = new Set(['OBJECT_FUNCTION', 'OBJECT_PROCEDURE', 'OBJECT_ROUTINE', 'OBJECT_AGGREGATE']);

const GLOBAL_TYPES = new Set([
  'OBJECT_SCHEMA', 'OBJECT_DATABASE', 'OBJECT_ROLE', 'OBJECT_EXTENSION', 'OBJECT_LANGUAGE', 'OBJECT_TABLESPACE',
  'OBJECT_FOREIGN_SERVER', 'OBJECT_FDW', 'OBJECT_EVENT_TRIGGER', 'OBJECT_PUBLICATION', 'OBJECT_SUBSCRIPTION',
  'OBJECT_ACCESS_METHOD', 'OBJECT_CAST', 'OBJECT_TRANSFORM', 'OBJECT_USER_MAPPING', 'OBJECT_PARAMETER_ACL',
  'OBJECT_LARGEOBJECT',
]);

const TABLE_PART_TYPES = new Set(['OBJECT_COLUMN', 'OBJECT_TABCONSTRAINT', 'OBJECT_TRIGGER', 'OBJECT_POLICY', 'OBJECT_RULE']);

/** `[schema?, table]` → `schema.table` (an unqualified name resolved as a relation). */
function tableKey(parts: string[], w: Walker): string {
  if (parts.length >= 2) return qualify(...parts.slice(-2));
  return w.relKeysOf({ RangeVar: { relname: parts[0], relpersistence: 'p' } })[0]!;
}

function dropObjects(b: N, w: Walker): string[] {
  const t = String(b.removeType ?? '');
  const out: string[] = [];
  for (const o of list(b.objects)) {
    const n = o as N;
    if (RELATION_TYPES.has(t) && 'List' in n) {
      const parts = stringFields((n.List as N).items);
      if (parts.length >= 2) out.push(qualify(...parts.slice(-2)));
      else if (parts.length === 1) out.push(...w.relKeysOf({ RangeVar: { relname: parts[0], relpersistence: 'p' } }));
      continue;
    }
    if ((t === 'OBJECT_TRIGGER' || t === 'OBJECT_POLICY' || t === 'OBJECT_RULE') && 'List' in n) {
      // [schema?, table, name]: the change is to the table.
      const parts = stringFields((n.List as N).items);
      const tbl = parts.slice(0, -1);
      if (tbl.length >= 2) out.push(qualify(...tbl.slice(-2)));
      else if (tbl.length === 1) out.push(...w.relKeysOf({ RangeVar: { relname: tbl[0], relpersistence: 'p' } }));
      continue;
    }
    out.push(describe(t, n, w));
  }
  return out;
}

function grantObjects(b: N, w: Walker): string[] {
  const t = String(b.objtype ?? '');
  const target = String(b.targtype ?? '');
  if (target === 'ACL_TARGET_ALL_IN_SCHEMA') {
    return list(b.objects).map((o) => `${quoteName(String(((o as N).String as N | undefined)?.sval ?? ''))}.*`);
  }
  if (target === 'ACL_TARGET_DEFAULTS') return ['default_privileges'];
  const out: string[] = [];
  for (const o of list(b.objects)) {
    if ('RangeVar' in (o as N)) out.push(...w.relKeysOf(o));
    else out.push(describe(t, o, w));
  }
  return out;
}

