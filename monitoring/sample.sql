-- One monitoring sample of a dbaas instance, as one JSON object on one line.
-- Run by monitoring/agent.sh as the read-only role dbaas_monitor (member of pg_monitor):
--   psql -X -At -v instance=<id> -f sample.sql
-- PostgreSQL builds the JSON itself, so the agent needs nothing but psql and bash.
-- The agent's own connection and locks are left out of the figures.
--
-- Crash recoveries are counted across samples, so the agent passes in what it has counted so far
-- (psql variables it sets before every sample, read back from this sample's `server` object):
-- crash_recoveries_total, last_crash_recovery_at and stats_discarded_seen (empty when none).
-- Run by hand, they default to nothing counted yet.
\if :{?crash_recoveries_total}
\else
\set crash_recoveries_total 0
\endif
\if :{?last_crash_recovery_at}
\else
\set last_crash_recovery_at ''
\endif
\if :{?stats_discarded_seen}
\else
\set stats_discarded_seen ''
\endif
WITH
-- A start with crash recovery (a backend killed by the OOM killer makes the postmaster
-- reinitialise; a postmaster that died is restarted by the engine) discards the cumulative
-- statistics and stamps every shared kind with one reset time. A reset by hand
-- (pg_stat_reset_shared, superuser only) stamps one kind, so only a common stamp is a discard.
-- A stamp the agent has not seen yet is one more crash recovery. With nothing seen before (a new
-- instance, a lost state file) only a stamp from this postmaster's life counts: an older one is
-- the first start after initdb, or a recovery counted before.
discard AS (
  SELECT CASE WHEN b.stats_reset = a.stats_reset THEN b.stats_reset END AS at
  FROM pg_stat_bgwriter b, pg_stat_archiver a
),
recovery AS (
  SELECT d.at IS NOT NULL AND d.at IS DISTINCT FROM seen.at
           AND (seen.at IS NOT NULL OR d.at >= pg_postmaster_start_time()) AS new_one,
         d.at AS discarded_at,
         coalesce(d.at, seen.at) AS seen_at
  FROM discard d, (SELECT nullif(:'stats_discarded_seen', '')::timestamptz AS at) seen
),
server AS (
  SELECT json_build_object(
    'up', true,
    'version', current_setting('server_version'),
    'version_num', current_setting('server_version_num')::int,
    'started_at', to_char(pg_postmaster_start_time() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'uptime_seconds', floor(extract(epoch FROM clock_timestamp() - pg_postmaster_start_time()))::bigint,
    'max_connections', current_setting('max_connections')::int,
    'in_recovery', pg_is_in_recovery(),
    'crash_recoveries_total', :'crash_recoveries_total'::bigint + recovery.new_one::int,
    'last_crash_recovery_at', CASE WHEN recovery.new_one
                                   THEN to_char(recovery.discarded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                                   ELSE nullif(:'last_crash_recovery_at', '') END,
    'stats_discarded_at', to_char(recovery.seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
  ) AS v
  FROM recovery
),
databases AS (
  SELECT coalesce(json_object_agg(d.datname, json_build_object(
    'backends', d.numbackends,
    'xact_commit', d.xact_commit,
    'xact_rollback', d.xact_rollback,
    'blks_read', d.blks_read,
    'blks_hit', d.blks_hit,
    'cache_hit_ratio', CASE WHEN d.blks_read + d.blks_hit > 0
                            THEN round(d.blks_hit::numeric / (d.blks_read + d.blks_hit), 4) END,
    'tup_returned', d.tup_returned,
    'tup_fetched', d.tup_fetched,
    'tup_inserted', d.tup_inserted,
    'tup_updated', d.tup_updated,
    'tup_deleted', d.tup_deleted,
    'temp_files', d.temp_files,
    'temp_bytes', d.temp_bytes,
    'deadlocks', d.deadlocks,
    'conflicts', d.conflicts,
    'size_bytes', pg_database_size(d.datid)
  ) ORDER BY d.datname), '{}'::json) AS v
  FROM pg_stat_database d
  WHERE d.datname IS NOT NULL AND d.datname NOT IN ('template0', 'template1')
),
clients AS (
  SELECT * FROM pg_stat_activity
  WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
),
connections AS (
  SELECT json_build_object(
    'total', (SELECT count(*) FROM clients),
    'by_state', (
      SELECT json_object_agg(s.state, coalesce(c.n, 0) ORDER BY s.ord)
      FROM (VALUES (1, 'active'), (2, 'idle'), (3, 'idle in transaction'),
                   (4, 'idle in transaction (aborted)'), (5, 'fastpath function call'), (6, 'disabled'))
           AS s(ord, state)
      LEFT JOIN (SELECT state, count(*) AS n FROM clients GROUP BY state) c USING (state)
    ),
    'waiting', (SELECT count(*) FROM clients WHERE wait_event_type = 'Lock'),
    'longest_transaction_seconds', (
      SELECT coalesce(round(max(extract(epoch FROM clock_timestamp() - xact_start))::numeric, 3), 0)
      FROM clients WHERE xact_start IS NOT NULL),
    'longest_query_seconds', (
      SELECT coalesce(round(max(extract(epoch FROM clock_timestamp() - query_start))::numeric, 3), 0)
      FROM clients WHERE state = 'active')
  ) AS v
),
others_locks AS (
  SELECT * FROM pg_locks WHERE pid IS DISTINCT FROM pg_backend_pid()
),
locks AS (
  SELECT json_build_object(
    'by_mode', (
      SELECT json_object_agg(m.mode, coalesce(l.n, 0) ORDER BY m.ord)
      FROM (VALUES (1, 'AccessShareLock'), (2, 'RowShareLock'), (3, 'RowExclusiveLock'),
                   (4, 'ShareUpdateExclusiveLock'), (5, 'ShareLock'), (6, 'ShareRowExclusiveLock'),
                   (7, 'ExclusiveLock'), (8, 'AccessExclusiveLock')) AS m(ord, mode)
      LEFT JOIN (SELECT mode, count(*) AS n FROM others_locks GROUP BY mode) l USING (mode)
    ),
    'granted', (SELECT count(*) FROM others_locks WHERE granted),
    'waiting', (SELECT count(*) FROM others_locks WHERE NOT granted)
  ) AS v
),
-- Tables and views per schema of the database the agent is connected to (the application's).
-- information_schema.tables hides relations the monitoring role has no privilege on, so this
-- counts from pg_class, which that view is built on, with the same table types.
schemas AS (
  SELECT coalesce(json_object_agg(nspname, json_build_object('tables', tables, 'views', views) ORDER BY nspname), '{}'::json) AS v
  FROM (
    SELECT n.nspname,
           count(*) FILTER (WHERE c.relkind IN ('r', 'p')) AS tables,
           count(*) FILTER (WHERE c.relkind IN ('v', 'm')) AS views
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
      AND n.nspname NOT LIKE 'pg_temp_%'
    GROUP BY n.nspname
  ) x
),
archiver AS (
  -- Continuous archiving into dbaas's repository: what it archived last and what failed.
  SELECT json_build_object(
    'archived_count', archived_count,
    'last_archived_wal', last_archived_wal,
    'last_archived_at', to_char(last_archived_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'failed_count', failed_count,
    'last_failed_wal', last_failed_wal,
    'last_failed_at', to_char(last_failed_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  ) AS v
  FROM pg_stat_archiver
)
SELECT json_build_object(
  'ts', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
  'ts_ms', floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint,
  'instance', :'instance',
  'up', true,
  'database', current_database(),
  'session', json_build_object(
    'user', current_user,
    'application_name', current_setting('application_name'),
    'statement_timeout', current_setting('statement_timeout'),
    'read_only', current_setting('transaction_read_only') = 'on'
  ),
  'server', server.v,
  'databases', databases.v,
  'connections', connections.v,
  'locks', locks.v,
  'schemas', schemas.v,
  'archiver', archiver.v
)
FROM server, databases, connections, locks, schemas, archiver;
