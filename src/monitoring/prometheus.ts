import type { Sample } from './metricsReader.js';

/**
 * The Prometheus text exposition of every instance, built with prom-client (which handles names,
 * label escaping, HELP and TYPE). Counters of PostgreSQL are exposed as counters (`_total`), the
 * rest as gauges. A stale sample exports only `dbaas_instance_up 0` and its age: old numbers are
 * never presented as current. The crash-recovery count is not a figure of the present but a
 * history the agent keeps: it is exported whatever the sample's age.
 */

export interface InstanceMetrics {
  id: string;
  name: string;
  sample: Sample | null;
  /** Whether the sample is recent enough to stand for the present. */
  current: boolean;
  ageSeconds: number | null;
  container: { cpuSecondsTotal: number; memoryUsed: number; memoryLimit: number } | null;
  /** From the agent's state file; absent when no agent has counted yet. */
  recoveries?: { total: number; lastAt: string | null };
  /** From the backup repository (src/backups): the newest backup and archived WAL segment. */
  backups?: { archiveGaps: number; lastBackupAt: number | null; lastBackupSizeBytes: number | null; lastArchivedAt: number | null };
}

interface DatabaseStats {
  backends?: number;
  size_bytes?: number;
  [counter: string]: number | undefined;
}

const DATABASE_COUNTERS: Array<[string, string]> = [
  ['xact_commit', 'Transactions committed'],
  ['xact_rollback', 'Transactions rolled back'],
  ['blks_read', 'Disk blocks read'],
  ['blks_hit', 'Disk blocks found in the buffer cache'],
  ['tup_returned', 'Rows returned by scans'],
  ['tup_fetched', 'Rows fetched by index scans'],
  ['tup_inserted', 'Rows inserted'],
  ['tup_updated', 'Rows updated'],
  ['tup_deleted', 'Rows deleted'],
  ['temp_files', 'Temporary files created'],
  ['temp_bytes', 'Bytes written to temporary files'],
  ['deadlocks', 'Deadlocks detected'],
  ['conflicts', 'Queries cancelled by recovery conflicts'],
];

export async function renderPrometheus(instances: InstanceMetrics[]): Promise<{ contentType: string; text: string }> {
  // Loaded for a scrape only: every CLI command builds the monitoring service, few render metrics.
  const { Counter, Gauge, Registry } = await import('prom-client');
  const registry = new Registry();
  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames: ['instance', 'name', ...labelNames], registers: [registry] });
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames: ['instance', 'name', ...labelNames], registers: [registry] });

  const up = gauge('dbaas_instance_up', 'Whether the latest current sample found the server up (1) or not (0)');
  const age = gauge('dbaas_agent_last_sample_age_seconds', 'Age of the newest sample the agent wrote');
  const uptime = gauge('dbaas_pg_uptime_seconds', 'Seconds since the server started');
  const maxConnections = gauge('dbaas_pg_max_connections', 'The max_connections setting');
  const connections = gauge('dbaas_pg_connections', 'Client connections by state', ['state']);
  const waiting = gauge('dbaas_pg_connections_waiting', 'Client connections waiting for a lock');
  const longestXact = gauge('dbaas_pg_longest_transaction_seconds', 'Age of the oldest open transaction');
  const longestQuery = gauge('dbaas_pg_longest_query_seconds', 'Run time of the longest running query');
  const locks = gauge('dbaas_pg_locks', 'Locks held or awaited, by mode', ['mode']);
  const locksWaiting = gauge('dbaas_pg_locks_waiting', 'Locks not granted yet');
  const backends = gauge('dbaas_pg_database_backends', 'Backends connected to the database', ['database']);
  const size = gauge('dbaas_pg_database_size_bytes', 'Size of the database', ['database']);
  const tables = gauge('dbaas_pg_schema_tables', 'Tables per schema of the application database', ['schema']);
  const views = gauge('dbaas_pg_schema_views', 'Views per schema of the application database', ['schema']);
  const dbCounters = new Map(
    DATABASE_COUNTERS.map(([key, help]) => [key, counter(`dbaas_pg_${key}_total`, help, ['database'])]),
  );
  const cpu = counter('dbaas_container_cpu_seconds_total', 'CPU time used by the server container');
  const memUsed = gauge('dbaas_container_memory_used_bytes', 'Memory used by the server container, without page cache');
  const memLimit = gauge('dbaas_container_memory_limit_bytes', 'Memory limit of the server container');
  const crashRecoveries = counter('dbaas_instance_crash_recoveries_total', 'Starts of the server with crash recovery (a backend or the postmaster killed, e.g. by the OOM killer)');
  const backupAt = gauge('dbaas_backup_last_success_timestamp_seconds', 'When the newest complete backup finished, in seconds since the epoch');
  const backupSize = gauge('dbaas_backup_last_size_bytes', 'Size of the newest complete backup');
  const archivedAt = gauge('dbaas_wal_archive_last_success_timestamp_seconds', 'When the newest WAL segment reached the archive, in seconds since the epoch');
  const archiveGaps = counter('dbaas_wal_archive_gaps_total', 'WAL segments given up while the archive could not be written (restores cannot cross them)');
  const archiveFailures = counter('dbaas_wal_archive_failures_total', 'Failed attempts to archive a WAL segment since the server started (pg_stat_archiver)');
  const lastCrash = gauge('dbaas_instance_last_crash_recovery_timestamp_seconds', 'When the last crash recovery began, in seconds since the epoch');

  for (const inst of instances) {
    const l = { instance: inst.id, name: inst.name };
    if (inst.ageSeconds !== null) age.set(l, inst.ageSeconds);
    if (inst.recoveries) {
      crashRecoveries.inc(l, inst.recoveries.total);
      const at = inst.recoveries.lastAt === null ? NaN : Date.parse(inst.recoveries.lastAt);
      if (Number.isFinite(at)) lastCrash.set(l, at / 1000);
    }
    const b = inst.backups;
    if (b?.lastBackupAt != null) backupAt.set(l, b.lastBackupAt);
    if (b?.lastBackupSizeBytes != null) backupSize.set(l, b.lastBackupSizeBytes);
    if (b?.lastArchivedAt != null) archivedAt.set(l, b.lastArchivedAt);
    if (b) archiveGaps.inc(l, b.archiveGaps);
    if (inst.container) {
      cpu.inc(l, inst.container.cpuSecondsTotal);
      memUsed.set(l, inst.container.memoryUsed);
      memLimit.set(l, inst.container.memoryLimit);
    }
    const s = inst.sample;
    if (!s || !inst.current || !s.up) {
      up.set(l, 0);
      continue;
    }
    up.set(l, 1);
    const server = (s.server ?? {}) as { uptime_seconds?: number; max_connections?: number };
    if (server.uptime_seconds !== undefined) uptime.set(l, server.uptime_seconds);
    if (server.max_connections !== undefined) maxConnections.set(l, server.max_connections);
    const conn = (s.connections ?? {}) as {
      by_state?: Record<string, number>;
      waiting?: number;
      longest_transaction_seconds?: number;
      longest_query_seconds?: number;
    };
    for (const [state, n] of Object.entries(conn.by_state ?? {})) connections.set({ ...l, state }, n);
    if (conn.waiting !== undefined) waiting.set(l, conn.waiting);
    if (conn.longest_transaction_seconds !== undefined) longestXact.set(l, conn.longest_transaction_seconds);
    if (conn.longest_query_seconds !== undefined) longestQuery.set(l, conn.longest_query_seconds);
    const lk = (s.locks ?? {}) as { by_mode?: Record<string, number>; waiting?: number };
    for (const [mode, n] of Object.entries(lk.by_mode ?? {})) locks.set({ ...l, mode }, n);
    if (lk.waiting !== undefined) locksWaiting.set(l, lk.waiting);
    for (const [database, stats] of Object.entries((s.databases ?? {}) as Record<string, DatabaseStats>)) {
      const dl = { ...l, database };
      if (stats.backends !== undefined) backends.set(dl, stats.backends);
      if (stats.size_bytes !== undefined) size.set(dl, stats.size_bytes);
      for (const [key, metric] of dbCounters) {
        const value = stats[key];
        if (value !== undefined) metric.inc(dl, value);
      }
    }
    const archiver = (s.archiver ?? {}) as { failed_count?: number };
    if (archiver.failed_count !== undefined) archiveFailures.inc(l, archiver.failed_count);
    for (const [schema, counts] of Object.entries((s.schemas ?? {}) as Record<string, { tables?: number; views?: number }>)) {
      tables.set({ ...l, schema }, counts.tables ?? 0);
      views.set({ ...l, schema }, counts.views ?? 0);
    }
  }
  return { contentType: registry.contentType, text: await registry.metrics() };
}
