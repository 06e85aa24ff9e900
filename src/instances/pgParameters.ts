/**
 * Which PostgreSQL settings an instance's users may set, and whether a value is one the server
 * will take: names from an allowlist, values checked against the server's own `pg_settings`.
 *
 * Why: an instance's users are on the other side of a trust boundary. A setting is applied by
 * the server's OS user before any role exists, so `archive_command`, a preload library or a moved
 * `hba_file` is code execution or a takeover of the instance, not a tuning knob. Users get the
 * tuning knobs that managed services offer (RDS parameter groups, Cloud SQL flags); what runs
 * commands, loads code, names files, or what dbaas itself relies on stays dbaas's. Values are
 * checked here, with the server's types, units and bounds, so that a bad value is a 422 naming the
 * setting instead of a server that does not come back after a restart.
 */
import type { FieldIssue } from '../errors.js';

/** One row of `pg_settings`, as src/runtime/pgSettingsCatalog.ts reads it from the server binary. */
export interface PgSettingInfo {
  name: string;
  vartype: 'bool' | 'integer' | 'real' | 'string' | 'enum';
  unit: string | null;
  minVal: string | null;
  maxVal: string | null;
  enumVals: string[] | null;
  /** pg_settings.context: postmaster, sighup, user, superuser, backend, superuser-backend, internal. */
  context: string;
}

export const SETTING_GROUPS = [
  'memory',
  'connections',
  'planner',
  'parallelism',
  'jit',
  'wal and checkpoints',
  'background writer',
  'autovacuum and vacuum',
  'logging',
  'statistics',
  'timeouts',
  'locks and transactions',
  'statement defaults',
  'locale and formatting',
] as const;
export type SettingGroup = (typeof SETTING_GROUPS)[number];

/**
 * The settings users may set, each with its group (docs/pg-settings.md lists them the same way).
 * Includes every setting dbaas derives from the limits except listen_addresses, so users can
 * override those. Names are lowercase, as PostgreSQL matches them without regard to case.
 */
export const USER_SETTINGS: Readonly<Record<string, SettingGroup>> = {
  // memory
  shared_buffers: 'memory',
  effective_cache_size: 'memory',
  work_mem: 'memory',
  maintenance_work_mem: 'memory',
  autovacuum_work_mem: 'memory',
  hash_mem_multiplier: 'memory',
  temp_buffers: 'memory',
  logical_decoding_work_mem: 'memory',
  gin_pending_list_limit: 'memory',
  temp_file_limit: 'memory',
  // connections
  max_connections: 'connections',
  authentication_timeout: 'connections',
  tcp_keepalives_idle: 'connections',
  tcp_keepalives_interval: 'connections',
  tcp_keepalives_count: 'connections',
  tcp_user_timeout: 'connections',
  client_connection_check_interval: 'connections',
  // planner
  seq_page_cost: 'planner',
  random_page_cost: 'planner',
  cpu_tuple_cost: 'planner',
  cpu_index_tuple_cost: 'planner',
  cpu_operator_cost: 'planner',
  effective_io_concurrency: 'planner',
  maintenance_io_concurrency: 'planner',
  default_statistics_target: 'planner',
  constraint_exclusion: 'planner',
  cursor_tuple_fraction: 'planner',
  from_collapse_limit: 'planner',
  join_collapse_limit: 'planner',
  plan_cache_mode: 'planner',
  recursive_worktable_factor: 'planner',
  geqo: 'planner',
  geqo_threshold: 'planner',
  geqo_effort: 'planner',
  geqo_pool_size: 'planner',
  geqo_generations: 'planner',
  geqo_selection_bias: 'planner',
  geqo_seed: 'planner',
  enable_async_append: 'planner',
  enable_bitmapscan: 'planner',
  enable_gathermerge: 'planner',
  enable_hashagg: 'planner',
  enable_hashjoin: 'planner',
  enable_incremental_sort: 'planner',
  enable_indexonlyscan: 'planner',
  enable_indexscan: 'planner',
  enable_material: 'planner',
  enable_memoize: 'planner',
  enable_mergejoin: 'planner',
  enable_nestloop: 'planner',
  enable_parallel_append: 'planner',
  enable_parallel_hash: 'planner',
  enable_partition_pruning: 'planner',
  enable_partitionwise_aggregate: 'planner',
  enable_partitionwise_join: 'planner',
  enable_seqscan: 'planner',
  enable_sort: 'planner',
  enable_tidscan: 'planner',
  // parallelism
  max_worker_processes: 'parallelism',
  max_parallel_workers: 'parallelism',
  max_parallel_workers_per_gather: 'parallelism',
  max_parallel_maintenance_workers: 'parallelism',
  parallel_leader_participation: 'parallelism',
  parallel_setup_cost: 'parallelism',
  parallel_tuple_cost: 'parallelism',
  min_parallel_table_scan_size: 'parallelism',
  min_parallel_index_scan_size: 'parallelism',
  // jit
  jit: 'jit',
  jit_above_cost: 'jit',
  jit_inline_above_cost: 'jit',
  jit_optimize_above_cost: 'jit',
  jit_expressions: 'jit',
  jit_tuple_deforming: 'jit',
  // wal and checkpoints
  wal_buffers: 'wal and checkpoints',
  wal_compression: 'wal and checkpoints',
  wal_writer_delay: 'wal and checkpoints',
  wal_writer_flush_after: 'wal and checkpoints',
  commit_delay: 'wal and checkpoints',
  commit_siblings: 'wal and checkpoints',
  synchronous_commit: 'wal and checkpoints',
  checkpoint_timeout: 'wal and checkpoints',
  checkpoint_completion_target: 'wal and checkpoints',
  checkpoint_flush_after: 'wal and checkpoints',
  checkpoint_warning: 'wal and checkpoints',
  max_wal_size: 'wal and checkpoints',
  min_wal_size: 'wal and checkpoints',
  // background writer
  bgwriter_delay: 'background writer',
  bgwriter_lru_maxpages: 'background writer',
  bgwriter_lru_multiplier: 'background writer',
  bgwriter_flush_after: 'background writer',
  backend_flush_after: 'background writer',
  // autovacuum and vacuum
  autovacuum: 'autovacuum and vacuum',
  autovacuum_max_workers: 'autovacuum and vacuum',
  autovacuum_naptime: 'autovacuum and vacuum',
  autovacuum_vacuum_threshold: 'autovacuum and vacuum',
  autovacuum_vacuum_insert_threshold: 'autovacuum and vacuum',
  autovacuum_analyze_threshold: 'autovacuum and vacuum',
  autovacuum_vacuum_scale_factor: 'autovacuum and vacuum',
  autovacuum_vacuum_insert_scale_factor: 'autovacuum and vacuum',
  autovacuum_analyze_scale_factor: 'autovacuum and vacuum',
  autovacuum_freeze_max_age: 'autovacuum and vacuum',
  autovacuum_multixact_freeze_max_age: 'autovacuum and vacuum',
  autovacuum_vacuum_cost_delay: 'autovacuum and vacuum',
  autovacuum_vacuum_cost_limit: 'autovacuum and vacuum',
  vacuum_cost_delay: 'autovacuum and vacuum',
  vacuum_cost_limit: 'autovacuum and vacuum',
  vacuum_cost_page_hit: 'autovacuum and vacuum',
  vacuum_cost_page_miss: 'autovacuum and vacuum',
  vacuum_cost_page_dirty: 'autovacuum and vacuum',
  vacuum_freeze_min_age: 'autovacuum and vacuum',
  vacuum_freeze_table_age: 'autovacuum and vacuum',
  vacuum_multixact_freeze_min_age: 'autovacuum and vacuum',
  vacuum_multixact_freeze_table_age: 'autovacuum and vacuum',
  vacuum_failsafe_age: 'autovacuum and vacuum',
  vacuum_multixact_failsafe_age: 'autovacuum and vacuum',
  // logging (what and when; where the log goes is dbaas's)
  log_min_duration_statement: 'logging',
  log_min_duration_sample: 'logging',
  log_statement_sample_rate: 'logging',
  log_transaction_sample_rate: 'logging',
  log_statement: 'logging',
  log_duration: 'logging',
  log_lock_waits: 'logging',
  log_connections: 'logging',
  log_disconnections: 'logging',
  log_checkpoints: 'logging',
  log_autovacuum_min_duration: 'logging',
  log_temp_files: 'logging',
  log_min_messages: 'logging',
  log_min_error_statement: 'logging',
  log_error_verbosity: 'logging',
  log_line_prefix: 'logging',
  log_parameter_max_length: 'logging',
  log_parameter_max_length_on_error: 'logging',
  log_startup_progress_interval: 'logging',
  log_timezone: 'logging',
  log_statement_stats: 'logging',
  log_parser_stats: 'logging',
  log_planner_stats: 'logging',
  log_executor_stats: 'logging',
  // statistics
  track_io_timing: 'statistics',
  track_wal_io_timing: 'statistics',
  track_functions: 'statistics',
  track_activity_query_size: 'statistics',
  track_commit_timestamp: 'statistics',
  compute_query_id: 'statistics',
  stats_fetch_consistency: 'statistics',
  // timeouts
  statement_timeout: 'timeouts',
  lock_timeout: 'timeouts',
  idle_in_transaction_session_timeout: 'timeouts',
  // locks and transactions
  deadlock_timeout: 'locks and transactions',
  max_locks_per_transaction: 'locks and transactions',
  max_pred_locks_per_transaction: 'locks and transactions',
  max_pred_locks_per_relation: 'locks and transactions',
  max_pred_locks_per_page: 'locks and transactions',
  max_prepared_transactions: 'locks and transactions',
  // statement defaults
  default_transaction_isolation: 'statement defaults',
  default_transaction_deferrable: 'statement defaults',
  default_toast_compression: 'statement defaults',
  check_function_bodies: 'statement defaults',
  gin_fuzzy_search_limit: 'statement defaults',
  // locale and formatting
  timezone: 'locale and formatting',
  lc_messages: 'locale and formatting',
  lc_monetary: 'locale and formatting',
  lc_numeric: 'locale and formatting',
  lc_time: 'locale and formatting',
  default_text_search_config: 'locale and formatting',
  extra_float_digits: 'locale and formatting',
  bytea_output: 'locale and formatting',
  xmlbinary: 'locale and formatting',
  xmloption: 'locale and formatting',
};

/**
 * Notable settings that are dbaas's alone, with the reason a user is given. Anything else that is
 * not in USER_SETTINGS is refused too, with a shorter message; this table is for the names people
 * ask for, and for those a hostile user would try first.
 */
export const DBAAS_SETTINGS: Readonly<Record<string, string>> = {
  // run commands
  archive_command: "runs shell commands as the server's OS user",
  restore_command: "runs shell commands as the server's OS user",
  archive_cleanup_command: "runs shell commands as the server's OS user",
  recovery_end_command: "runs shell commands as the server's OS user",
  ssl_passphrase_command: "runs shell commands as the server's OS user",
  // load code
  archive_library: 'loads a shared library into the server',
  shared_preload_libraries: 'loads shared libraries into the server',
  session_preload_libraries: 'loads shared libraries into every session',
  local_preload_libraries: 'loads shared libraries into every session',
  jit_provider: 'loads a shared library into the server',
  dynamic_library_path: 'decides where the server loads code from',
  extension_destdir: 'decides where the server loads extensions from',
  // files and paths
  data_directory: "names the server's files, which dbaas lays out",
  config_file: "names the server's files, which dbaas lays out",
  hba_file: 'names the file that decides who may log in',
  ident_file: 'names the file that maps OS users to roles',
  external_pid_file: 'writes a file where it names',
  log_directory: "dbaas reads the server's log from its standard error",
  log_filename: "dbaas reads the server's log from its standard error",
  logging_collector: "dbaas reads the server's log from its standard error",
  log_destination: "dbaas reads the server's log from its standard error",
  log_file_mode: "dbaas reads the server's log from its standard error",
  jit_dump_bitcode: 'writes files into the data directory',
  // network, sockets, TLS, authentication
  listen_addresses: 'dbaas publishes the server on the instance port and reaches it there',
  port: 'dbaas publishes the server on the instance port and reaches it there',
  unix_socket_directories: "dbaas's own connections inside the container use the socket",
  unix_socket_group: "dbaas's own connections inside the container use the socket",
  unix_socket_permissions: "dbaas's own connections inside the container use the socket",
  bonjour: 'advertises the server on the network',
  bonjour_name: 'advertises the server on the network',
  ssl: 'TLS (certificates, keys, protocols) is configured by dbaas',
  ssl_cert_file: 'names a file: TLS certificates and keys are dbaas\'s',
  ssl_key_file: 'names a file: TLS certificates and keys are dbaas\'s',
  ssl_ca_file: 'names a file: TLS certificates and keys are dbaas\'s',
  ssl_crl_file: 'names a file: TLS certificates and keys are dbaas\'s',
  ssl_crl_dir: 'names a directory: TLS certificates and keys are dbaas\'s',
  ssl_dh_params_file: 'names a file: TLS certificates and keys are dbaas\'s',
  ssl_ciphers: 'TLS (certificates, keys, protocols) is configured by dbaas',
  ssl_ecdh_curve: 'TLS (certificates, keys, protocols) is configured by dbaas',
  ssl_prefer_server_ciphers: 'TLS (certificates, keys, protocols) is configured by dbaas',
  ssl_min_protocol_version: 'TLS (certificates, keys, protocols) is configured by dbaas',
  ssl_max_protocol_version: 'TLS (certificates, keys, protocols) is configured by dbaas',
  ssl_passphrase_command_supports_reload: 'TLS (certificates, keys, protocols) is configured by dbaas',
  password_encryption: 'authentication is configured by dbaas (SCRAM for every role)',
  krb_server_keyfile: 'authentication is configured by dbaas; names a key file',
  krb_caseins_users: 'authentication is configured by dbaas',
  db_user_namespace: 'authentication is configured by dbaas (changes what a role name means)',
  superuser_reserved_connections: 'keeps connections free for dbaas when the instance is full',
  // WAL archiving, backups, replication
  archive_mode: "dbaas's continuous WAL archiving depends on it",
  archive_timeout: "dbaas's WAL archiving sets it; a small value fills the backup repository with WAL files",
  wal_level: "dbaas's backups and point-in-time recovery depend on it",
  max_wal_senders: "dbaas's base backups depend on it",
  max_replication_slots: "dbaas's backups and replication depend on it",
  wal_keep_size: 'WAL retention is managed by dbaas (a large value fills the disk)',
  max_slot_wal_keep_size: 'WAL retention is managed by dbaas',
  synchronous_standby_names: 'naming a standby that does not exist makes every commit wait forever',
  primary_conninfo: 'replication is configured by dbaas; holds a connection string',
  primary_slot_name: 'replication is configured by dbaas',
  hot_standby: 'replication and recovery are configured by dbaas',
  promote_trigger_file: 'names a file that promotes a standby',
  recovery_target: 'point-in-time recovery is run by dbaas',
  recovery_target_time: 'point-in-time recovery is run by dbaas',
  recovery_target_xid: 'point-in-time recovery is run by dbaas',
  recovery_target_lsn: 'point-in-time recovery is run by dbaas',
  recovery_target_name: 'point-in-time recovery is run by dbaas',
  recovery_target_action: 'point-in-time recovery is run by dbaas',
  recovery_target_inclusive: 'point-in-time recovery is run by dbaas',
  recovery_target_timeline: 'point-in-time recovery is run by dbaas',
  fsync: 'turning it off risks a corrupt data directory after a crash (and corrupt backups)',
  full_page_writes: 'turning it off risks a corrupt data directory after a crash (and corrupt backups)',
  data_sync_retry: 'crash safety of the data directory',
  cluster_name: 'dbaas names the server process',
  // memory and shared memory: dbaas sizes the container for them
  shared_memory_type: "dbaas sizes the container's shared memory for it",
  dynamic_shared_memory_type: "dbaas sizes the container's shared memory for it",
  huge_pages: "dbaas sizes the container's memory; 'on' stops the server where the host has no huge pages",
  huge_page_size: "dbaas sizes the container's memory",
  min_dynamic_shared_memory: "dbaas sizes the container's shared memory",
  // what dbaas's own sessions rely on
  search_path: "dbaas's superuser sessions resolve names with it (a schema of yours first would run your functions as superuser)",
  default_transaction_read_only: "dbaas's own sessions write (roles, grants, backups' bookkeeping)",
  standard_conforming_strings: 'dbaas quotes SQL literals assuming it is on',
  datestyle: "dbaas's data API reads dates and timestamps in the ISO style",
  intervalstyle: "dbaas's data API reads intervals in the default style",
  track_activities: "the monitoring agent's activity metrics depend on it",
  track_counts: "the monitoring agent's database metrics (and autovacuum) depend on it",
  client_min_messages: "the monitoring agent's session must answer with its JSON line only, without notices",
  idle_session_timeout: 'the monitoring agent keeps one session open between samples',
  // privileges and safety
  session_replication_role: 'replica disables triggers and foreign-key checks',
  lo_compat_privileges: 'lets every role read and write every large object',
  allow_system_table_mods: 'lets the system catalogs be changed by hand',
  zero_damaged_pages: 'destroys data in damaged pages instead of reporting them',
  ignore_checksum_failure: 'hides data corruption',
  ignore_invalid_pages: 'hides data corruption during recovery',
  ignore_system_indexes: 'a developer option that can corrupt the system catalogs',
};

/**
 * Lower bounds dbaas adds to the server's own, where a smaller value stops the server from
 * starting (and so fails the restart after the change was already recorded).
 */
const DBAAS_MINIMUMS: Readonly<Record<string, { min: string; why: string }>> = {
  max_connections: {
    min: '10',
    why: 'dbaas keeps 3 connections for its superuser (the server refuses to start unless max_connections is larger) and its monitoring agent uses up to 3',
  },
  min_wal_size: { min: '32MB', why: 'the server does not start unless it is at least twice the 16MB WAL segment' },
  max_wal_size: { min: '32MB', why: 'the server does not start unless it is at least twice the 16MB WAL segment' },
};

/** Whether users may set this setting (PostgreSQL matches names without regard to case). */
export function isUserSetting(name: string): boolean {
  const key = name.toLowerCase();
  return Object.hasOwn(USER_SETTINGS, key) && !Object.hasOwn(DBAAS_SETTINGS, key);
}

/**
 * Keeps only the settings users may set. For rendering: records written before the allowlist
 * existed may hold anything. Apply it to the user's overrides only, never to dbaas's own derived
 * settings (which set listen_addresses, for one).
 */
export function dropReservedSettings(settings: Record<string, string>): { kept: Record<string, string>; dropped: string[] } {
  const kept: Record<string, string> = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(settings)) {
    if (isUserSetting(name)) kept[name] = value;
    else dropped.push(name);
  }
  return { kept, dropped };
}

/**
 * One issue per setting that may not be set, or whose value the server would not take: unknown or
 * reserved names, values of the wrong type, unknown units, values outside the server's bounds,
 * enum values it does not list, and shared_buffers at or above the instance's memory.
 */
export function checkPgSettings(
  input: Record<string, string>,
  catalog: Map<string, PgSettingInfo> | PgSettingInfo[],
  options: { memoryBytes: number },
): FieldIssue[] {
  const byName = new Map<string, PgSettingInfo>();
  for (const info of catalog instanceof Map ? catalog.values() : catalog) byName.set(info.name.toLowerCase(), info);
  const issues: FieldIssue[] = [];
  for (const [name, value] of Object.entries(input)) {
    const message = checkOne(name, value, byName, options);
    if (message) issues.push({ field: `pgSettings.${name}`, message });
  }
  return issues;
}

function checkOne(name: string, value: string, catalog: Map<string, PgSettingInfo>, options: { memoryBytes: number }): string | null {
  const key = name.toLowerCase();
  const reserved = Object.hasOwn(DBAAS_SETTINGS, key) ? DBAAS_SETTINGS[key] : undefined;
  if (reserved) return `reserved to dbaas: ${reserved}`;
  const info = catalog.get(key);
  if (!info) {
    const near = suggest(key, [...catalog.keys()].filter(isUserSetting));
    return `unknown setting${near ? `; did you mean ${near}?` : ''}`;
  }
  if (!isUserSetting(key) || info.context === 'internal') {
    return 'not a setting users may set (docs/pg-settings.md lists those that are)';
  }
  const problem = checkValue(info, value);
  if (problem) return problem;
  return checkDbaasLimits(key, info, value, options);
}

// ---------------------------------------------------------------------------------------------
// Values, the way the server parses them (guc.c: parse_bool, parse_int, parse_real,
// convert_to_base_unit, config_enum_lookup_by_name).

function checkValue(info: PgSettingInfo, value: string): string | null {
  switch (info.vartype) {
    case 'bool':
      return parseBool(value) === null ? `"${value}" is not a boolean (on, off, true, false, yes, no, 1, 0)` : null;
    case 'enum':
      return checkEnum(info, value);
    case 'string':
      if (value.length > 256) return 'must be at most 256 characters';
      if (/[\x00-\x1f\x7f]/.test(value)) return 'must be one line without control characters';
      return null; // the server checks the rest (a time zone, a locale) when it starts
    case 'integer':
    case 'real': {
      const parsed = parseNumber(info, value);
      if (typeof parsed === 'string') return parsed;
      return checkRange(info, value, parsed);
    }
  }
}

/** PostgreSQL's parse_bool: on/off/true/false/yes/no/1/0 and unique prefixes, any case. */
export function parseBool(value: string): boolean | null {
  const v = value.toLowerCase();
  if (v === '') return null;
  const prefixOf = (word: string, minLength = 1) => v.length >= minLength && word.startsWith(v);
  if (prefixOf('true') || prefixOf('yes')) return true;
  if (prefixOf('false') || prefixOf('no')) return false;
  if (prefixOf('on', 2)) return true; // "o" alone could be either
  if (prefixOf('off', 2)) return false;
  if (v === '1') return true;
  if (v === '0') return false;
  return null;
}

/**
 * Values the server takes but does not list in pg_settings.enumvals (guc.c marks them hidden):
 * the boolean spellings of enums that have on and off, and old message-level names.
 */
const HIDDEN_ENUM_VALUES: Readonly<Record<string, readonly string[]>> = {
  client_min_messages: ['debug', 'info'],
  log_min_messages: ['debug'],
  log_min_error_statement: ['debug'],
};

/** Enum values match without regard to case (exactly, not by prefix). */
function checkEnum(info: PgSettingInfo, value: string): string | null {
  const values = info.enumVals ?? [];
  const v = value.toLowerCase();
  const lower = values.map((x) => x.toLowerCase());
  if (lower.includes(v)) return null;
  if (lower.includes('on') && lower.includes('off') && ['true', 'false', 'yes', 'no', '1', '0'].includes(v)) return null;
  if (HIDDEN_ENUM_VALUES[info.name.toLowerCase()]?.includes(v)) return null;
  const shown = values.filter((x) => x !== '').join(', ');
  return `"${value}" is not one of ${shown}`;
}

/** A setting's base unit: bytes or microseconds per unit of the stored value. */
interface BaseUnit {
  kind: 'memory' | 'time';
  size: number;
}

const MEMORY_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['TB', 1024 ** 4],
  ['GB', 1024 ** 3],
  ['MB', 1024 ** 2],
  ['kB', 1024],
  ['B', 1],
];
const TIME_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['d', 86_400_000_000],
  ['h', 3_600_000_000],
  ['min', 60_000_000],
  ['s', 1_000_000],
  ['ms', 1_000],
  ['us', 1],
];

/** pg_settings.unit: `8kB` (blocks), `kB`, `MB`, `B`, `ms`, `s`, `min`; null when unitless. */
function baseUnitOf(unit: string | null): BaseUnit | null | undefined {
  if (unit === null || unit === '') return null;
  const memory = /^(\d*)(B|kB|MB|GB|TB)$/.exec(unit);
  if (memory) {
    const bytes = MEMORY_UNITS.find(([name]) => name === memory[2])?.[1] ?? 0;
    return { kind: 'memory', size: (memory[1] ? Number(memory[1]) : 1) * bytes };
  }
  const time = TIME_UNITS.find(([name]) => name === unit);
  return time ? { kind: 'time', size: time[1] } : undefined;
}

const MEMORY_HINT = 'valid units for this setting are B, kB, MB, GB and TB';
const TIME_HINT = 'valid units for this setting are us, ms, s, min, h and d';
const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

/**
 * guc.c's parse_int and parse_real: a number (integers also in hex and octal, as strtol reads
 * them), optional whitespace, an optional unit of the setting's kind, converted to the setting's
 * base unit. A fractional value with a unit is first rounded to a whole number of the next
 * smaller unit ("1.5MB"), and an integer setting is then rounded half to even as C's rint does.
 * Returns the value in the base unit, or a message.
 */
function parseNumber(info: PgSettingInfo, value: string): number | string {
  const base = baseUnitOf(info.unit);
  if (base === undefined) return `dbaas does not know the unit "${info.unit}" of this setting`;
  const isInteger = info.vartype === 'integer';
  const number = isInteger ? readCInteger(value) : readCDouble(value, 0);
  const noun = isInteger ? 'an integer' : 'a number';
  if (number === null || Number.isNaN(number.value)) return `"${value}" is not ${noun}${base ? ` with an optional unit (${base.kind === 'memory' ? 'kB, MB, GB...' : 'ms, s, min...'})` : ''}`;
  let result = number.value;
  const rest = value.slice(skipSpace(value, number.end));
  if (rest !== '') {
    if (!base) return `"${value}" is not ${noun}: this setting takes no unit`;
    const converted = convertToBaseUnit(result, rest, base);
    if (converted === null) return `"${value}": ${base.kind === 'memory' ? MEMORY_HINT : TIME_HINT}`;
    result = converted;
  }
  if (isInteger) {
    result = rint(result);
    if (result < INT_MIN || result > INT_MAX) return `"${value}" is out of range${rangeText(info)}`; // beyond int
  }
  return result;
}

/** convert_to_base_unit: the unit is case-sensitive, at most 3 characters, then only whitespace. */
function convertToBaseUnit(value: number, text: string, base: BaseUnit): number | null {
  const match = /^(\S{1,3})\s*$/.exec(text);
  if (!match) return null;
  const table = base.kind === 'memory' ? MEMORY_UNITS : TIME_UNITS;
  const index = table.findIndex(([name]) => name === match[1]);
  const entry = table[index];
  if (!entry) return null;
  const multiplier = entry[1] / base.size;
  let converted = value * multiplier;
  const next = table[index + 1];
  if (next) {
    const nextMultiplier = next[1] / base.size;
    converted = rint(converted / nextMultiplier) * nextMultiplier;
  }
  return converted;
}

/** C's rint in the default rounding mode: to the nearest integer, halves to even. */
function rint(x: number): number {
  if (!Number.isFinite(x)) return x;
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

interface CNumber {
  value: number;
  end: number;
}

const C_SPACE = /[ \t\n\v\f\r]/;

function skipSpace(text: string, i: number): number {
  while (i < text.length && C_SPACE.test(text[i] as string)) i++;
  return i;
}

/**
 * parse_int's reading: strtol with base 0 (decimal, 0x hex, 0 octal); if it stops at ".", "e" or
 * "E", or overflows, the text is read again with strtod.
 */
function readCInteger(text: string): CNumber | null {
  let i = skipSpace(text, 0);
  let sign = 1;
  if (text[i] === '+' || text[i] === '-') {
    if (text[i] === '-') sign = -1;
    i++;
  }
  let radix = 10;
  if (text[i] === '0' && (text[i + 1] === 'x' || text[i + 1] === 'X') && /[0-9a-f]/i.test(text[i + 2] ?? '')) {
    radix = 16;
    i += 2;
  } else if (text[i] === '0') {
    radix = 8;
  }
  const start = i;
  let value = 0;
  while (i < text.length) {
    const digit = parseInt(text[i] as string, radix);
    if (Number.isNaN(digit)) break;
    value = value * radix + digit;
    i++;
  }
  const overflow = value > 2 ** 63;
  const stop = i > start ? i : 0; // no digits: strtol points at the start of the text
  const next = text[stop];
  if (next === '.' || next === 'e' || next === 'E' || overflow) return readCDouble(text, 0);
  if (i === start) return null;
  return { value: sign * value, end: i };
}

/** strtod: decimal with optional exponent, hex (0x...[.hex][p exp]), inf, infinity, nan. */
function readCDouble(text: string, from: number): CNumber | null {
  let i = skipSpace(text, from);
  const signStart = i;
  if (text[i] === '+' || text[i] === '-') i++;
  const sign = text[signStart] === '-' ? -1 : 1;
  const word = /^(infinity|inf|nan)/i.exec(text.slice(i));
  if (word?.[1]) {
    const isNan = word[1].toLowerCase() === 'nan';
    return { value: isNan ? NaN : sign * Infinity, end: i + word[1].length };
  }
  if (text[i] === '0' && (text[i + 1] === 'x' || text[i + 1] === 'X')) {
    const hex = /^([0-9a-f]*)(?:\.([0-9a-f]*))?/i.exec(text.slice(i + 2));
    const whole = hex?.[1] ?? '';
    const fraction = hex?.[2] ?? '';
    if (whole !== '' || fraction !== '') {
      let end = i + 2 + (hex?.[0].length ?? 0);
      let mantissa = parseInt(whole || '0', 16);
      for (let k = 0; k < fraction.length; k++) mantissa += parseInt(fraction[k] as string, 16) / 16 ** (k + 1);
      const exponent = /^[pP]([+-]?\d+)/.exec(text.slice(end));
      let value = mantissa;
      if (exponent?.[1]) {
        value = mantissa * 2 ** Number(exponent[1]);
        end += exponent[0].length;
      }
      return finite(sign * value, end, mantissa !== 0);
    }
    // "0x" without hex digits: strtod reads the "0".
    return { value: 0, end: i + 1 };
  }
  const decimal = /^(\d*)(?:\.(\d*))?/.exec(text.slice(i));
  const digits = (decimal?.[1] ?? '') + (decimal?.[2] ?? '');
  if (digits === '') return null;
  let end = i + (decimal?.[0].length ?? 0);
  const exponent = /^[eE][+-]?\d+/.exec(text.slice(end));
  if (exponent) end += exponent[0].length;
  return finite(Number(text.slice(signStart, end)), end, /[1-9]/.test(digits));
}

/** strtod's ERANGE: an overflow, or an underflow to zero or into the subnormals, is no number. */
function finite(value: number, end: number, nonZero: boolean): CNumber | null {
  if (!Number.isFinite(value)) return null;
  if (nonZero && Math.abs(value) < 2.2250738585072014e-308) return null;
  return { value, end };
}

function checkRange(info: PgSettingInfo, text: string, value: number): string | null {
  const min = info.minVal === null ? -Infinity : Number(info.minVal);
  const max = info.maxVal === null ? Infinity : Number(info.maxVal);
  // Real bounds come printed with 6 significant digits (%g), so they can be a hair off the
  // server's; only the largest (1.79769e+308, "no limit") matters, and nothing real comes near it.
  if (value >= min && value <= max) return null;
  return `"${text}" is out of range${rangeText(info)}`;
}

function rangeText(info: PgSettingInfo): string {
  if (info.minVal === null || info.maxVal === null) return '';
  const base = baseUnitOf(info.unit) ?? null;
  const min = Number(info.minVal);
  const max = Number(info.maxVal);
  const readableMin = readable(min, base);
  const readableMax = readable(max, base);
  const exact = !readableMin.startsWith('about') && !readableMax.startsWith('about');
  const raw = base && !exact ? ` (${info.minVal} to ${info.maxVal} in units of ${info.unit})` : '';
  return `: must be between ${readableMin} and ${readableMax}${raw}`;
}

/**
 * A bound as a person reads it: in the largest unit that divides it evenly while that stays
 * short (128kB, 8MB, 30s), else "about" the rounded value in the largest unit it reaches
 * ("about 8TB" for 8TB less one 8kB block).
 */
function readable(value: number, base: BaseUnit | null): string {
  if (!base || value <= 0 || !Number.isFinite(value)) return String(value);
  const table = base.kind === 'memory' ? MEMORY_UNITS : TIME_UNITS;
  const amount = value * base.size; // bytes or microseconds
  for (const [name, size] of table) {
    if (amount >= size && amount % size === 0 && amount / size < 100_000) return `${amount / size}${name}`;
  }
  for (const [name, size] of table) {
    if (amount >= size) return `about ${Number((amount / size).toFixed(1))}${name}`;
  }
  return `${value}${baseUnitName(base)}`;
}

function baseUnitName(base: BaseUnit): string {
  const table = base.kind === 'memory' ? MEMORY_UNITS : TIME_UNITS;
  const exact = table.find(([, size]) => size === base.size);
  return exact ? exact[0] : `×${base.size}B`;
}

// ---------------------------------------------------------------------------------------------
// dbaas's own limits on top of the server's.

function checkDbaasLimits(key: string, info: PgSettingInfo, value: string, options: { memoryBytes: number }): string | null {
  if (info.vartype !== 'integer' && info.vartype !== 'real') return null;
  const base = baseUnitOf(info.unit) ?? null;
  const parsed = parseNumber(info, value);
  if (typeof parsed === 'string') return null; // not a number: checkValue has said so already
  const minimum = DBAAS_MINIMUMS[key];
  if (minimum) {
    const floor = parseNumber(info, minimum.min);
    if (typeof floor === 'number' && parsed < floor) return `must be at least ${minimum.min}: ${minimum.why}`;
  }
  if (key === 'shared_buffers' && base?.kind === 'memory' && options.memoryBytes > 0) {
    const bytes = parsed * base.size;
    if (bytes >= options.memoryBytes) {
      return `${readable(parsed, base)} is not below the instance's memory limit of ${readable(options.memoryBytes, { kind: 'memory', size: 1 })}: shared_buffers must leave room for connections (about 25 % of memory is usual)`;
    }
  }
  return null;
}

/** The closest allowed name within a small edit distance, for "did you mean". */
function suggest(name: string, candidates: string[]): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
