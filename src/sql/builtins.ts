// Hand-made classification of PostgreSQL's built-in functions, on top of the generated list of what
// exists in pg_catalog (catalog.generated.json, from a real server's pg_proc by scripts/gen-catalog.mjs).
//
// Every pg_catalog function falls in exactly one class:
//   dangerous  → { kind: 'call', object: 'pg_catalog.f', exact: true }: only a rule naming it may allow it.
//                File access, large objects, dblink, backend signalling, configuration changes,
//                replication/backup/WAL control, binary-upgrade hooks, and functions that run SQL given
//                as text or read a table, cursor, schema or database named by an argument.
//   effect     → { kind: 'call', object: 'pg_catalog.f' }: changes state outside the read (sequences,
//                advisory locks, NOTIFY, transaction ids, statistics resets, sleeping, snapshots…).
//                EVERY volatile built-in not listed in HARMLESS_VOLATILE lands here (fail closed: a
//                volatile function added by a new PostgreSQL version is an access until someone
//                reviews it).
//   pure       → no access: immutable and stable functions, and the reviewed harmless volatile ones,
//                are part of the read that uses them.
// Functions not in the generated catalog at all (newer server, extension) are never pure: they resolve
// through the search path and become `call` accesses.
//
// Deliberate choices: pg_get_*def / pg_get_expr / pg_get_userbyid and the other catalog-by-OID
// readers, has_*_privilege, to_reg*, pg_*_size, current_setting and version() are pure — they read
// catalog definitions or metadata that pg_catalog relations already expose, and psql's \d family and
// pg_dump need them. currval / pg_sequence_last_value (a sequence named by an argument) are effects.
// table_to_xml & co., cursor_to_xml, query_to_xml, ts_stat, ts_rewrite, currtid* read a table, cursor
// or query given as an argument — something the walk cannot see — so they are dangerous.
import catalog from './catalog.generated.json' with { type: 'json' };

export type BuiltinClass = 'pure' | 'effect' | 'dangerous';

/** Dangerous by exact name, in pg_catalog or (for extension functions) in any schema. */
const DANGEROUS_NAMES = new Set([
  // server file system
  'pg_read_file', 'pg_read_file_old', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file',
  'pg_ls_logdir', 'pg_ls_waldir', 'pg_ls_tmpdir', 'pg_ls_archive_statusdir', 'pg_ls_logicalmapdir',
  'pg_ls_logicalsnapdir', 'pg_ls_replslotdir', 'pg_current_logfile', 'pg_hba_file_rules',
  'pg_ident_file_mappings', 'pg_show_all_file_settings',
  // other sessions' query text (what pg_stat_activity.query shows; pg_stat_statements' function is
  // an extension's, in whatever schema it was installed)
  'pg_stat_get_activity', 'pg_stat_get_backend_activity', 'pg_stat_statements',
  // adminpack (installs into pg_catalog)
  'pg_file_write', 'pg_file_rename', 'pg_file_unlink', 'pg_file_sync', 'pg_logdir_ls',
  // large objects (server-side file import/export and direct object access)
  'loread', 'lowrite',
  // backend signalling and server control
  'pg_terminate_backend', 'pg_cancel_backend', 'pg_reload_conf', 'pg_rotate_logfile',
  'pg_rotate_logfile_old', 'pg_promote', 'pg_log_backend_memory_contexts', 'pg_wal_replay_pause',
  'pg_wal_replay_resume', 'pg_switch_wal', 'pg_create_restore_point', 'pg_backup_start',
  'pg_backup_stop', 'pg_start_backup', 'pg_stop_backup', 'pg_import_system_collations',
  'pg_stop_making_pinned_objects', 'pg_nextoid',
  // configuration changes (set_config('role', …) switches role like SET ROLE)
  'set_config',
  // replication: reading decoded changes reads every table's data
  'pg_create_physical_replication_slot', 'pg_create_logical_replication_slot',
  'pg_drop_replication_slot', 'pg_copy_physical_replication_slot', 'pg_copy_logical_replication_slot',
  'pg_replication_slot_advance', 'pg_logical_slot_get_changes', 'pg_logical_slot_get_binary_changes',
  'pg_logical_slot_peek_changes', 'pg_logical_slot_peek_binary_changes', 'pg_logical_emit_message',
  'pg_sync_replication_slots',
  // run SQL given as text, or read a table/cursor/schema/database named by an argument
  'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'cursor_to_xml',
  'cursor_to_xmlschema', 'table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema',
  'schema_to_xml', 'schema_to_xmlschema', 'schema_to_xml_and_xmlschema', 'database_to_xml',
  'database_to_xmlschema', 'database_to_xml_and_xmlschema', 'ts_stat', 'ts_rewrite', 'currtid',
  'currtid2',
  // extensions commonly present: other databases, arbitrary SQL
  'dblink', 'dblink_exec', 'dblink_connect', 'dblink_connect_u', 'dblink_open', 'dblink_fetch',
  'dblink_send_query', 'dblink_get_result', 'dblink_disconnect', 'dblink_close', 'dblink_build_sql_insert',
  'dblink_build_sql_update', 'dblink_build_sql_delete', 'dblink_cancel_query', 'dblink_get_connections',
  'dblink_error_message', 'dblink_get_notify', 'dblink_is_busy', 'dblink_get_pkey',
]);

/** Dangerous by prefix: families whose every member is dangerous. */
const DANGEROUS_PREFIXES = ['lo_', 'dblink', 'binary_upgrade_', 'pg_replication_origin_'];

/** Side-effecting built-ins that are not volatile (so the volatility rule alone would miss them). */
const EFFECT_NAMES = new Set([
  'txid_current', 'pg_current_xact_id', 'txid_current_snapshot', 'pg_current_snapshot',
]);

/**
 * Volatile built-ins reviewed as harmless reads (no state change beyond the session's own random
 * seed or statistics snapshot). Every other volatile built-in is an `effect` access.
 */
const HARMLESS_VOLATILE = new Set([
  'random', 'setseed', 'clock_timestamp', 'timeofday', 'gen_random_uuid', 'uuidv4', 'uuidv7',
  'random_normal',
  'pg_database_size', 'pg_relation_size', 'pg_table_size', 'pg_indexes_size', 'pg_total_relation_size',
  'pg_tablespace_size', 'pg_is_in_recovery', 'pg_jit_available', 'pg_blocking_pids',
  'pg_safe_snapshot_blocking_pids', 'pg_lock_status', 'pg_notification_queue_usage',
  'pg_stat_clear_snapshot', 'pg_stat_force_next_flush', 'pg_stat_have_stats', 'pg_partition_ancestors',
  'pg_partition_tree', 'pg_prepared_xact', 'pg_is_wal_replay_paused', 'pg_get_wal_replay_pause_state',
  'pg_last_wal_receive_lsn', 'pg_last_wal_replay_lsn', 'pg_last_xact_replay_timestamp',
  'pg_last_committed_xact', 'pg_current_wal_lsn', 'pg_current_wal_insert_lsn', 'pg_current_wal_flush_lsn',
  'pg_control_checkpoint', 'pg_control_init', 'pg_control_recovery', 'pg_control_system',
  'pg_collation_actual_version', 'pg_database_collation_actual_version', 'pg_get_backend_memory_contexts',
  'pg_get_shmem_allocations', 'pg_get_multixact_members', 'pg_get_wal_resource_managers',
  'pg_isolation_test_session_is_blocked', 'pg_xact_commit_timestamp', 'pg_xact_commit_timestamp_origin',
  'current_query', 'txid_status', 'pg_xact_status', 'pg_stat_get_recovery_prefetch',
  'pg_stat_get_xact_blocks_fetched', 'pg_stat_get_xact_blocks_hit', 'pg_stat_get_xact_function_calls',
  'pg_stat_get_xact_function_self_time', 'pg_stat_get_xact_function_total_time',
  'pg_stat_get_xact_numscans', 'pg_stat_get_xact_tuples_deleted', 'pg_stat_get_xact_tuples_fetched',
  'pg_stat_get_xact_tuples_hot_updated', 'pg_stat_get_xact_tuples_inserted',
  'pg_stat_get_xact_tuples_returned', 'pg_stat_get_xact_tuples_updated',
]);

const FUNCTIONS = catalog.functions as Record<string, string>;
const RELATIONS = new Set<string>(catalog.relations);
const OPERATORS = new Set<string>(catalog.operators);

/**
 * Catalog relations whose rows are secrets or copies of table data (SENSITIVE RELATIONS): any access
 * to them is exact, so `read` on `pg_catalog.*` — what psql's \d family and migration tools need —
 * does not reach them; only a rule naming the kind and the relation itself may allow it.
 * Chosen from the generated catalog (PostgreSQL 15):
 *   password hashes            pg_authid.rolpassword, pg_shadow.passwd
 *   FDW credentials            pg_user_mapping.umoptions, pg_user_mappings.umoptions
 *   replication credentials    pg_subscription.subconninfo (pg_dump reads it: its role names it)
 *   large-object contents      pg_largeobject.data
 *   column values (masks leak) pg_statistic.stavalues*, pg_stats.most_common_vals/histogram_bounds,
 *                              pg_statistic_ext_data, pg_stats_ext, pg_stats_ext_exprs
 *   other sessions' SQL        pg_stat_activity.query (literals of everyone's statements)
 *   server configuration files pg_hba_file_rules, pg_file_settings, pg_ident_file_mappings
 * Deliberately NOT here: pg_roles / pg_user / pg_group (passwords shown as ********), pg_settings
 * (current values of this session; psql and pg_dump read it), pg_statistic_ext (definitions, no
 * values), pg_largeobject_metadata (owners and ACLs, pg_dump reads it), pg_foreign_server (postgres_fdw
 * refuses passwords in server options), pg_stat_wal_receiver (its conninfo has the password
 * obfuscated), pg_prepared_statements / pg_cursors (this session's own), pg_db_role_setting
 * (per-role settings, the same class as pg_settings; psql's \drds and pg_dump read it).
 */
const SENSITIVE_CATALOG_RELATIONS = new Set([
  'pg_authid', 'pg_shadow',
  'pg_user_mapping', 'pg_user_mappings',
  'pg_subscription',
  'pg_largeobject',
  'pg_statistic', 'pg_stats', 'pg_statistic_ext_data', 'pg_stats_ext', 'pg_stats_ext_exprs',
  'pg_stat_activity',
  'pg_hba_file_rules', 'pg_file_settings', 'pg_ident_file_mappings',
]);

/** Sensitive relations outside pg_catalog, by qualified name (FDW option values, as above). */
const SENSITIVE_QUALIFIED = new Set([
  'information_schema.user_mapping_options', 'information_schema._pg_user_mappings',
]);

/** Extension views with other sessions' query text, sensitive in whatever schema they were installed. */
const SENSITIVE_ANY_SCHEMA = new Set(['pg_stat_statements']);

/** The sensitive pg_catalog relation names (for tests and documentation). */
export const SENSITIVE_RELATIONS: readonly string[] = [...SENSITIVE_CATALOG_RELATIONS].sort();

/** True when an access to `key` (`schema.name`) must be exact: see SENSITIVE_CATALOG_RELATIONS. */
export function isSensitiveRelation(key: string): boolean {
  if (key.startsWith('pg_catalog.') && SENSITIVE_CATALOG_RELATIONS.has(key.slice('pg_catalog.'.length))) return true;
  if (SENSITIVE_QUALIFIED.has(key)) return true;
  // The last part is the relation (a quoted schema may hold dots: over-matching is the safe side).
  return SENSITIVE_ANY_SCHEMA.has(key.slice(key.lastIndexOf('.') + 1));
}

/** The server version the catalog was generated from. */
export const CATALOG_SERVER_VERSION: string = catalog.serverVersion;

export function isCatalogFunction(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(FUNCTIONS, name);
}

export function isCatalogRelation(name: string): boolean {
  return RELATIONS.has(name);
}

export function isCatalogOperator(name: string): boolean {
  return OPERATORS.has(name);
}

/** True for names that are dangerous wherever they live (extension functions included). */
export function isDangerousName(name: string): boolean {
  if (DANGEROUS_NAMES.has(name)) return true;
  for (const p of DANGEROUS_PREFIXES) if (name.startsWith(p)) return true;
  return false;
}

/** Classifies a pg_catalog function by name; a name not in the catalog is never pure. */
export function classifyBuiltin(name: string): BuiltinClass {
  if (isDangerousName(name)) return 'dangerous';
  if (!isCatalogFunction(name)) return 'effect';
  if (EFFECT_NAMES.has(name)) return 'effect';
  const volatility = FUNCTIONS[name]![0];
  if (volatility === 'v' && !HARMLESS_VOLATILE.has(name)) return 'effect';
  return 'pure';
}
