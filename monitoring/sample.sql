-- One monitoring sample of a dbaas instance, as one JSON object on one line.
-- Run by monitoring/agent.sh as the read-only role dbaas_monitor (member of pg_monitor):
--   psql -X -At -v instance=<id> -f sample.sql
-- PostgreSQL builds the JSON itself, so the agent needs nothing but psql and bash.
-- The agent's own connection and locks are left out of the figures.
WITH
server AS (
  SELECT json_build_object(
    'up', true,
    'version', current_setting('server_version'),
    'version_num', current_setting('server_version_num')::int,
    'started_at', to_char(pg_postmaster_start_time() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'uptime_seconds', floor(extract(epoch FROM clock_timestamp() - pg_postmaster_start_time()))::bigint,
    'max_connections', current_setting('max_connections')::int,
    'in_recovery', pg_is_in_recovery()
  ) AS v
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
  'schemas', schemas.v
)
FROM server, databases, connections, locks, schemas;
