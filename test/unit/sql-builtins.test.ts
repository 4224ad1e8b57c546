import { describe, expect, it } from 'vitest';
import catalog from '../../src/sql/catalog.generated.json' with { type: 'json' };
import { classifyBuiltin, isCatalogFunction, isCatalogRelation } from '../../src/sql/builtins.js';

describe('generated catalog', () => {
  it('records the server it came from and holds pg_catalog', () => {
    expect(catalog.serverVersion).toMatch(/^\d+\.\d+/);
    expect(catalog.serverVersionNum).toBeGreaterThanOrEqual(150000);
    expect(isCatalogRelation('pg_class')).toBe(true);
    expect(isCatalogRelation('pg_settings')).toBe(true);
    expect(isCatalogRelation('users')).toBe(false);
    expect(isCatalogFunction('lower')).toBe(true);
    expect(isCatalogFunction('dblink')).toBe(false);
    expect(Object.keys(catalog.functions).length).toBeGreaterThan(2000);
  });
});

describe('classification', () => {
  it('pure built-ins', () => {
    for (const f of ['lower', 'count', 'now', 'btrim', 'random', 'clock_timestamp', 'gen_random_uuid', 'pg_get_viewdef', 'current_setting', 'format_type', 'pg_relation_size', 'jsonb_build_object']) {
      expect([f, classifyBuiltin(f)]).toEqual([f, 'pure']);
    }
  });
  it('side-effecting built-ins', () => {
    for (const f of ['nextval', 'setval', 'currval', 'pg_advisory_lock', 'pg_advisory_xact_lock', 'pg_try_advisory_lock', 'pg_notify', 'txid_current', 'pg_current_xact_id', 'pg_sleep', 'pg_stat_reset', 'pg_export_snapshot']) {
      expect([f, classifyBuiltin(f)]).toEqual([f, 'effect']);
    }
  });
  it('dangerous built-ins', () => {
    for (const f of [
      'pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file', 'lo_import', 'lo_export', 'lo_get', 'lo_unlink',
      'pg_terminate_backend', 'pg_cancel_backend', 'pg_reload_conf', 'pg_rotate_logfile', 'pg_promote', 'set_config',
      'query_to_xml', 'query_to_xmlschema', 'table_to_xml', 'table_to_xml_and_xmlschema', 'cursor_to_xml', 'database_to_xml',
      'schema_to_xml', 'ts_stat', 'currtid2', 'dblink', 'dblink_exec', 'pg_file_write', 'pg_logical_slot_get_changes',
      'binary_upgrade_create_empty_extension', 'pg_replication_origin_create', 'pg_backup_start', 'pg_switch_wal',
    ]) {
      expect([f, classifyBuiltin(f)]).toEqual([f, 'dangerous']);
    }
  });
  it('every volatile built-in is at least an effect unless reviewed as harmless', () => {
    const functions = catalog.functions as Record<string, string>;
    const pureVolatile = Object.keys(functions).filter((f) => functions[f]!.startsWith('v') && classifyBuiltin(f) === 'pure');
    // The reviewed list (HARMLESS_VOLATILE in builtins.ts); a new volatile built-in must not slip in.
    expect(pureVolatile.sort()).toEqual([
      'clock_timestamp', 'current_query', 'gen_random_uuid', 'pg_blocking_pids', 'pg_collation_actual_version',
      'pg_control_checkpoint', 'pg_control_init', 'pg_control_recovery', 'pg_control_system', 'pg_current_wal_flush_lsn',
      'pg_current_wal_insert_lsn', 'pg_current_wal_lsn', 'pg_database_collation_actual_version', 'pg_database_size',
      'pg_get_backend_memory_contexts', 'pg_get_multixact_members', 'pg_get_shmem_allocations', 'pg_get_wal_replay_pause_state',
      'pg_get_wal_resource_managers', 'pg_indexes_size', 'pg_is_in_recovery', 'pg_is_wal_replay_paused',
      'pg_isolation_test_session_is_blocked', 'pg_jit_available', 'pg_last_committed_xact', 'pg_last_wal_receive_lsn',
      'pg_last_wal_replay_lsn', 'pg_last_xact_replay_timestamp', 'pg_lock_status', 'pg_notification_queue_usage',
      'pg_partition_ancestors', 'pg_partition_tree', 'pg_prepared_xact', 'pg_relation_size', 'pg_safe_snapshot_blocking_pids',
      'pg_stat_clear_snapshot', 'pg_stat_force_next_flush', 'pg_stat_get_recovery_prefetch', 'pg_stat_get_xact_blocks_fetched',
      'pg_stat_get_xact_blocks_hit', 'pg_stat_get_xact_function_calls', 'pg_stat_get_xact_function_self_time',
      'pg_stat_get_xact_function_total_time', 'pg_stat_get_xact_numscans', 'pg_stat_get_xact_tuples_deleted',
      'pg_stat_get_xact_tuples_fetched', 'pg_stat_get_xact_tuples_hot_updated', 'pg_stat_get_xact_tuples_inserted',
      'pg_stat_get_xact_tuples_returned', 'pg_stat_get_xact_tuples_updated', 'pg_stat_have_stats', 'pg_table_size',
      'pg_tablespace_size', 'pg_total_relation_size', 'pg_xact_commit_timestamp', 'pg_xact_commit_timestamp_origin',
      'pg_xact_status', 'random', 'setseed', 'timeofday', 'txid_status',
    ]);
  });
  it('a name missing from the catalog is never pure', () => {
    expect(classifyBuiltin('no_such_function_here')).toBe('effect');
  });
});
