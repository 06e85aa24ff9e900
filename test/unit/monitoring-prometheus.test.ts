import parsePrometheus from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import type { Sample } from '../../src/monitoring/metricsReader.js';
import { renderPrometheus, type InstanceMetrics } from '../../src/monitoring/prometheus.js';
import { CONNECTION_STATES as STATES, downSample, LOCK_MODES as MODES, T0, upSample } from './fixtures/samples.js';

type Family = ReturnType<typeof parsePrometheus>[number];


const DB_COUNTERS = [
  'xact_commit',
  'xact_rollback',
  'blks_read',
  'blks_hit',
  'tup_returned',
  'tup_fetched',
  'tup_inserted',
  'tup_updated',
  'tup_deleted',
  'temp_files',
  'temp_bytes',
  'deadlocks',
  'conflicts',
] as const;

function dbStats(seed: number, size: number): Record<string, number> {
  return {
    backends: seed,
    ...Object.fromEntries(DB_COUNTERS.map((c, i) => [c, seed * 100 + i])),
    cache_hit_ratio: 0.99,
    size_bytes: size,
  };
}

/** An up sample of `instance` with the given databases and schemas, and busy connections and locks. */
function busySample(instance: string, databases: Record<string, Record<string, number>>, schemas: Record<string, { tables: number; views: number }>): Sample {
  return upSample(T0, {
    instance,
    databases,
    schemas,
    connections: {
      total: 5,
      by_state: Object.fromEntries(STATES.map((s, i) => [s, i])),
      waiting: 2,
      longest_transaction_seconds: 12.345,
      longest_query_seconds: 1.5,
    },
    locks: { by_mode: Object.fromEntries(MODES.map((m, i) => [m, i * 2])), granted: 20, waiting: 3 },
  });
}

const CURRENT: InstanceMetrics = {
  id: 'db_cur',
  name: 'orders',
  sample: busySample('db_cur',
    { app: dbStats(1, 7634279), postgres: dbStats(2, 7500000) },
    { public: { tables: 3, views: 1 }, billing: { tables: 7, views: 2 } },
  ),
  current: true,
  ageSeconds: 4.2,
  container: null,
};

const STALE: InstanceMetrics = {
  id: 'db_stale',
  name: 'stale-one',
  sample: busySample('db_stale', { app: dbStats(3, 100) }, { public: { tables: 1, views: 0 } }),
  current: false,
  ageSeconds: 600,
  container: null,
};

const DOWN: InstanceMetrics = {
  id: 'db_down',
  name: 'down-one',
  sample: downSample(T0, 'db_down'),
  current: true,
  ageSeconds: 2,
  container: { cpuSecondsTotal: 3.25, memoryUsed: 1_000_000, memoryLimit: 536_870_912 },
};

const METERED: InstanceMetrics = {
  id: 'db_met',
  name: 'metered',
  sample: busySample('db_met', { app: dbStats(4, 4096) }, {}),
  current: true,
  ageSeconds: 1,
  container: { cpuSecondsTotal: 123.5, memoryUsed: 52_428_800, memoryLimit: 1_073_741_824 },
};

const NEVER: InstanceMetrics = {
  id: 'db_never',
  name: 'never-sampled',
  sample: null,
  current: false,
  ageSeconds: null,
  container: null,
};

/** A server that went through crash recovery twice; its agent stopped writing samples since. */
const RECOVERED: InstanceMetrics = {
  ...STALE,
  id: 'db_rec',
  name: 'recovered',
  sample: busySample('db_rec', { app: dbStats(6, 100) }, {}),
  recoveries: { total: 2, lastAt: '2026-11-24T13:12:07.381715Z' },
};

/** An instance with backups and a WAL archive whose server failed to archive three times. */
const BACKED_UP: InstanceMetrics = {
  ...METERED,
  id: 'db_bak',
  name: 'backed-up',
  sample: { ...busySample('db_bak', { app: dbStats(4, 4096) }, {}), archiver: { archived_count: 12, failed_count: 3, last_failed_wal: '000000010000000000000007' } },
  backups: { archiveGaps: 2, lastBackupAt: 1_795_000_000.5, lastBackupSizeBytes: 48_234_496, lastArchivedAt: 1_795_000_100.25 },
};

const ALL = [CURRENT, STALE, DOWN, METERED, NEVER, RECOVERED, BACKED_UP];

async function render(instances: InstanceMetrics[]): Promise<{ text: string; families: Family[] }> {
  const { text } = await renderPrometheus(instances);
  return { text, families: parsePrometheus(text) };
}

function family(families: Family[], name: string): Family {
  const f = families.find((x) => x.name === name);
  if (!f) throw new Error(`no family ${name}`);
  return f;
}

/** The metrics of a family that carry all the given labels. */
function points(families: Family[], name: string, labels: Record<string, string>): Array<{ labels: Record<string, string>; value: number }> {
  const f = families.find((x) => x.name === name);
  if (!f) return [];
  return f.metrics
    .filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) }));
}

/** The single value of a metric with exactly these labels. */
function valueOf(families: Family[], name: string, labels: Record<string, string>): number {
  const found = family(families, name).metrics.filter(
    (m) => JSON.stringify(Object.entries(m.labels ?? {}).sort()) === JSON.stringify(Object.entries(labels).sort()),
  );
  expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
  return Number(found[0]?.value);
}

/** Every metric name that has a sample for this instance. */
function namesFor(families: Family[], instance: string): string[] {
  return families
    .filter((f) => f.metrics.some((m) => m.labels?.instance === instance))
    .map((f) => f.name)
    .sort();
}

const cur = { instance: 'db_cur', name: 'orders' };

describe('renderPrometheus', () => {
  it('returns the Prometheus text content type', async () => {
    const { contentType } = await renderPrometheus(ALL);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('writes only HELP, TYPE, sample and blank lines', async () => {
    const { text } = await render(ALL);
    const label = String.raw`[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"`;
    const sampleLine = new RegExp(String.raw`^[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{${label}(?:,${label})*\})? -?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|Inf)$`);
    const help = /^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* \S.*$/;
    const type = /^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge)$/;
    const lines = text.split('\n');
    expect(lines.length).toBeGreaterThan(50);
    for (const l of lines) {
      if (l === '') continue;
      expect(help.test(l) || type.test(l) || sampleLine.test(l), l).toBe(true);
    }
  });

  it('declares each family once with HELP before TYPE before samples', async () => {
    const { text } = await render(ALL);
    const seen = new Set<string>();
    let helpFor: string | null = null;
    let typeFor: string | null = null;
    for (const l of text.split('\n')) {
      const h = /^# HELP (\S+)/.exec(l);
      const t = /^# TYPE (\S+)/.exec(l);
      if (h) {
        expect(seen.has(h[1] as string), h[1]).toBe(false);
        seen.add(h[1] as string);
        helpFor = h[1] as string;
        typeFor = null;
      } else if (t) {
        expect(t[1]).toBe(helpFor);
        typeFor = t[1] as string;
      } else if (l !== '') {
        const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(l)?.[1];
        expect(name).toBe(typeFor);
      }
    }
  });

  it('exposes the expected families with their types', async () => {
    const { families } = await render(ALL);
    const types = Object.fromEntries(families.map((f) => [f.name, f.type]));
    const gauges = [
      'dbaas_instance_up',
      'dbaas_agent_last_sample_age_seconds',
      'dbaas_pg_uptime_seconds',
      'dbaas_pg_max_connections',
      'dbaas_pg_connections',
      'dbaas_pg_connections_waiting',
      'dbaas_pg_longest_transaction_seconds',
      'dbaas_pg_longest_query_seconds',
      'dbaas_pg_locks',
      'dbaas_pg_locks_waiting',
      'dbaas_pg_database_backends',
      'dbaas_pg_database_size_bytes',
      'dbaas_pg_schema_tables',
      'dbaas_pg_schema_views',
      'dbaas_container_memory_used_bytes',
      'dbaas_container_memory_limit_bytes',
      'dbaas_instance_last_crash_recovery_timestamp_seconds',
      'dbaas_backup_last_success_timestamp_seconds',
      'dbaas_backup_last_size_bytes',
      'dbaas_wal_archive_last_success_timestamp_seconds',
    ];
    const counters = [
      ...DB_COUNTERS.map((c) => `dbaas_pg_${c}_total`),
      'dbaas_container_cpu_seconds_total',
      'dbaas_instance_crash_recoveries_total',
      'dbaas_wal_archive_failures_total',
      'dbaas_wal_archive_gaps_total',
    ];
    for (const g of gauges) expect(types[g], g).toBe('GAUGE');
    for (const c of counters) expect(types[c], c).toBe('COUNTER');
    expect(Object.keys(types).sort()).toEqual([...gauges, ...counters].sort());
  });

  it('exports the newest backup, the newest archived segment and the archive failures of an instance that has them', async () => {
    const { families } = await render(ALL);
    const l = { instance: 'db_bak', name: 'backed-up' };
    expect(valueOf(families, 'dbaas_backup_last_success_timestamp_seconds', l)).toBe(1_795_000_000.5);
    expect(valueOf(families, 'dbaas_backup_last_size_bytes', l)).toBe(48_234_496);
    expect(valueOf(families, 'dbaas_wal_archive_last_success_timestamp_seconds', l)).toBe(1_795_000_100.25);
    expect(valueOf(families, 'dbaas_wal_archive_failures_total', l)).toBe(3);
    expect(valueOf(families, 'dbaas_wal_archive_gaps_total', l)).toBe(2);
    // Instances without backups export none of them (no zero that would read as "1970").
    expect(points(families, 'dbaas_backup_last_success_timestamp_seconds', { instance: 'db_met' })).toEqual([]);
    expect(points(families, 'dbaas_wal_archive_failures_total', { instance: 'db_met' })).toEqual([]);
  });

  it('names every counter with _total and types every _total metric as a counter', async () => {
    const { families } = await render(ALL);
    for (const f of families) {
      expect(f.name.endsWith('_total'), f.name).toBe(f.type === 'COUNTER');
      expect(f.help, f.name).not.toBe('');
    }
  });

  it('labels every sample with instance and name', async () => {
    const { families } = await render(ALL);
    const ids = new Map(ALL.map((i) => [i.id, i.name]));
    for (const f of families) {
      for (const m of f.metrics) {
        expect(m.labels?.instance, f.name).toBeDefined();
        expect(m.labels?.name, f.name).toBe(ids.get(m.labels?.instance ?? ''));
      }
    }
  });

  it('reports a current up instance as up with its server figures', async () => {
    const { families } = await render(ALL);
    expect(valueOf(families, 'dbaas_instance_up', cur)).toBe(1);
    expect(valueOf(families, 'dbaas_agent_last_sample_age_seconds', cur)).toBe(4.2);
    expect(valueOf(families, 'dbaas_pg_uptime_seconds', cur)).toBe(705);
    expect(valueOf(families, 'dbaas_pg_max_connections', cur)).toBe(100);
    expect(valueOf(families, 'dbaas_pg_connections_waiting', cur)).toBe(2);
    expect(valueOf(families, 'dbaas_pg_longest_transaction_seconds', cur)).toBe(12.345);
    expect(valueOf(families, 'dbaas_pg_longest_query_seconds', cur)).toBe(1.5);
    expect(valueOf(families, 'dbaas_pg_locks_waiting', cur)).toBe(3);
  });

  it('labels connections by state, zero counts included', async () => {
    const { families } = await render(ALL);
    const got = points(families, 'dbaas_pg_connections', cur);
    expect(got.map((p) => p.labels.state).sort()).toEqual([...STATES].sort());
    STATES.forEach((state, i) => expect(valueOf(families, 'dbaas_pg_connections', { ...cur, state })).toBe(i));
  });

  it('labels locks by mode, zero counts included', async () => {
    const { families } = await render(ALL);
    const got = points(families, 'dbaas_pg_locks', cur);
    expect(got.map((p) => p.labels.mode).sort()).toEqual([...MODES].sort());
    MODES.forEach((mode, i) => expect(valueOf(families, 'dbaas_pg_locks', { ...cur, mode })).toBe(i * 2));
  });

  it('labels database figures and counters by database', async () => {
    const { families } = await render(ALL);
    for (const [database, seed, size] of [
      ['app', 1, 7634279],
      ['postgres', 2, 7500000],
    ] as const) {
      const l = { ...cur, database };
      expect(valueOf(families, 'dbaas_pg_database_backends', l)).toBe(seed);
      expect(valueOf(families, 'dbaas_pg_database_size_bytes', l)).toBe(size);
      DB_COUNTERS.forEach((c, i) => expect(valueOf(families, `dbaas_pg_${c}_total`, l), c).toBe(seed * 100 + i));
    }
    expect(points(families, 'dbaas_pg_xact_commit_total', cur).map((p) => p.labels.database).sort()).toEqual(['app', 'postgres']);
  });

  it('does not export the cache hit ratio of the sample (it is derived from the counters)', async () => {
    const { text } = await render(ALL);
    expect(text).not.toContain('cache_hit_ratio');
  });

  it('labels tables and views by schema', async () => {
    const { families } = await render(ALL);
    expect(valueOf(families, 'dbaas_pg_schema_tables', { ...cur, schema: 'public' })).toBe(3);
    expect(valueOf(families, 'dbaas_pg_schema_views', { ...cur, schema: 'public' })).toBe(1);
    expect(valueOf(families, 'dbaas_pg_schema_tables', { ...cur, schema: 'billing' })).toBe(7);
    expect(valueOf(families, 'dbaas_pg_schema_views', { ...cur, schema: 'billing' })).toBe(2);
  });

  it('exports a counter of 0 as 0', async () => {
    const zero: InstanceMetrics = {
      ...CURRENT,
      id: 'db_zero',
      name: 'zero',
      sample: busySample('db_zero', { app: { ...dbStats(0, 0), deadlocks: 0 } }, {}),
    };
    const { families } = await render([zero]);
    expect(valueOf(families, 'dbaas_pg_deadlocks_total', { instance: 'db_zero', name: 'zero', database: 'app' })).toBe(0);
  });

  it('exports only up 0 and the age for a stale instance, no pg_ metric', async () => {
    const { families } = await render(ALL);
    const stale = { instance: 'db_stale', name: 'stale-one' };
    expect(valueOf(families, 'dbaas_instance_up', stale)).toBe(0);
    expect(valueOf(families, 'dbaas_agent_last_sample_age_seconds', stale)).toBe(600);
    expect(namesFor(families, 'db_stale')).toEqual(['dbaas_agent_last_sample_age_seconds', 'dbaas_instance_up']);
  });

  it('exports only up 0, the age and container metrics for a down instance, no pg_ metric', async () => {
    const { families } = await render(ALL);
    const d = { instance: 'db_down', name: 'down-one' };
    expect(valueOf(families, 'dbaas_instance_up', d)).toBe(0);
    expect(valueOf(families, 'dbaas_agent_last_sample_age_seconds', d)).toBe(2);
    expect(valueOf(families, 'dbaas_container_cpu_seconds_total', d)).toBe(3.25);
    expect(valueOf(families, 'dbaas_container_memory_used_bytes', d)).toBe(1_000_000);
    expect(valueOf(families, 'dbaas_container_memory_limit_bytes', d)).toBe(536_870_912);
    expect(namesFor(families, 'db_down')).toEqual(
      [
        'dbaas_agent_last_sample_age_seconds',
        'dbaas_container_cpu_seconds_total',
        'dbaas_container_memory_limit_bytes',
        'dbaas_container_memory_used_bytes',
        'dbaas_instance_up',
      ].sort(),
    );
  });

  it('exports only up 0 for an instance without any sample', async () => {
    const { families } = await render(ALL);
    expect(valueOf(families, 'dbaas_instance_up', { instance: 'db_never', name: 'never-sampled' })).toBe(0);
    expect(namesFor(families, 'db_never')).toEqual(['dbaas_instance_up']);
  });

  it('exports nothing from pg_ for a stale instance even when its sample was up', async () => {
    const { text } = await render([STALE]);
    expect(text).not.toMatch(/^dbaas_pg_/m);
    expect(text).toMatch(/^dbaas_instance_up\{instance="db_stale",name="stale-one"\} 0$/m);
  });

  it('exports container metrics alongside pg metrics for a current instance', async () => {
    const { families } = await render(ALL);
    const m = { instance: 'db_met', name: 'metered' };
    expect(valueOf(families, 'dbaas_instance_up', m)).toBe(1);
    expect(valueOf(families, 'dbaas_container_cpu_seconds_total', m)).toBe(123.5);
    expect(valueOf(families, 'dbaas_container_memory_used_bytes', m)).toBe(52_428_800);
    expect(valueOf(families, 'dbaas_container_memory_limit_bytes', m)).toBe(1_073_741_824);
    expect(valueOf(families, 'dbaas_pg_xact_commit_total', { ...m, database: 'app' })).toBe(400);
    // No schemas in its sample: no schema metrics for it.
    expect(points(families, 'dbaas_pg_schema_tables', m)).toEqual([]);
  });

  it('exports no container metrics for an instance without container stats', async () => {
    const { families } = await render(ALL);
    for (const name of ['dbaas_container_cpu_seconds_total', 'dbaas_container_memory_used_bytes', 'dbaas_container_memory_limit_bytes']) {
      expect(points(families, name, { instance: 'db_cur' }), name).toEqual([]);
      expect(points(families, name, { instance: 'db_stale' }), name).toEqual([]);
    }
  });

  it('escapes a database name holding a quote, a backslash and a newline', async () => {
    const weird = 'we"ird\\db\nname';
    const inst: InstanceMetrics = {
      ...CURRENT,
      id: 'db_esc',
      name: 'escapes',
      sample: busySample('db_esc', { [weird]: dbStats(5, 999) }, { 'my "schema"': { tables: 1, views: 0 } }),
    };
    const { text, families } = await render([inst]);
    expect(text).toContain(String.raw`database="we\"ird\\db\nname"`);
    expect(text).toContain(String.raw`schema="my \"schema\""`);
    const l = { instance: 'db_esc', name: 'escapes' };
    expect(valueOf(families, 'dbaas_pg_database_size_bytes', { ...l, database: weird })).toBe(999);
    expect(valueOf(families, 'dbaas_pg_xact_commit_total', { ...l, database: weird })).toBe(500);
    expect(valueOf(families, 'dbaas_pg_schema_tables', { ...l, schema: 'my "schema"' })).toBe(1);
  });

  it('exports the crash-recovery count whatever the age of the sample, and the time of the last one', async () => {
    const { families } = await render(ALL);
    const r = { instance: 'db_rec', name: 'recovered' };
    expect(valueOf(families, 'dbaas_instance_up', r)).toBe(0);
    expect(valueOf(families, 'dbaas_instance_crash_recoveries_total', r)).toBe(2);
    expect(valueOf(families, 'dbaas_instance_last_crash_recovery_timestamp_seconds', r)).toBe(Date.UTC(2026, 10, 24, 13, 12, 7, 381) / 1000);
    expect(namesFor(families, 'db_rec')).not.toContain('dbaas_pg_uptime_seconds');
  });

  it('exports a count of 0 without a time, and nothing where no agent has counted', async () => {
    const { families } = await render([{ ...CURRENT, recoveries: { total: 0, lastAt: null } }, NEVER]);
    expect(valueOf(families, 'dbaas_instance_crash_recoveries_total', cur)).toBe(0);
    expect(points(families, 'dbaas_instance_last_crash_recovery_timestamp_seconds', cur)).toEqual([]);
    expect(points(families, 'dbaas_instance_crash_recoveries_total', { instance: 'db_never' })).toEqual([]);
  });

  it('renders an empty instance list as declarations only', async () => {
    const { text, families } = await render([]);
    expect(text).not.toMatch(/^dbaas_/m);
    for (const f of families) expect(f.metrics).toEqual([]);
  });

  it('uses a fresh registry per call (values do not accumulate)', async () => {
    await renderPrometheus([CURRENT, METERED]);
    const { families } = await render([CURRENT, METERED]);
    expect(valueOf(families, 'dbaas_pg_xact_commit_total', { ...cur, database: 'app' })).toBe(100);
    expect(valueOf(families, 'dbaas_container_cpu_seconds_total', { instance: 'db_met', name: 'metered' })).toBe(123.5);
  });

  it('skips figures missing from a sample', async () => {
    const sparse: Sample = { ts: 'x', ts_ms: T0, instance: 'db_sp', up: true, databases: { app: { xact_commit: 9 } } };
    const { families } = await render([{ id: 'db_sp', name: 'sparse', sample: sparse, current: true, ageSeconds: 0, container: null }]);
    expect(namesFor(families, 'db_sp')).toEqual(
      ['dbaas_instance_up', 'dbaas_agent_last_sample_age_seconds', 'dbaas_pg_xact_commit_total'].sort(),
    );
    expect(valueOf(families, 'dbaas_agent_last_sample_age_seconds', { instance: 'db_sp', name: 'sparse' })).toBe(0);
  });
});
