import { z } from 'zod';
import type { Sample } from './metricsReader.js';

/**
 * Rates over a window, from the counters of its first and last good samples. PostgreSQL's
 * counters are cumulative; a counter that went down was reset (the server restarted or stats were
 * reset), and then its value since the reset is the best estimate of the window's share.
 */

interface DatabaseCounters {
  xact_commit?: number;
  xact_rollback?: number;
  blks_read?: number;
  blks_hit?: number;
  tup_returned?: number;
  tup_fetched?: number;
  tup_inserted?: number;
  tup_updated?: number;
  tup_deleted?: number;
  temp_bytes?: number;
  deadlocks?: number;
  size_bytes?: number;
}

const COUNTERS = [
  'xact_commit',
  'xact_rollback',
  'blks_read',
  'blks_hit',
  'tup_returned',
  'tup_fetched',
  'tup_inserted',
  'tup_updated',
  'tup_deleted',
  'temp_bytes',
  'deadlocks',
] as const;
type Counter = (typeof COUNTERS)[number];

function databasesOf(sample: Sample): Record<string, DatabaseCounters> {
  return (sample.databases as Record<string, DatabaseCounters> | undefined) ?? {};
}

/** Sum over databases of each counter's increase from `first` to `last`, resets handled. */
export function counterDeltas(first: Sample, last: Sample): Record<Counter, number> {
  const before = databasesOf(first);
  const after = databasesOf(last);
  const totals = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<Counter, number>;
  for (const [name, now] of Object.entries(after)) {
    const then = before[name] ?? {};
    for (const c of COUNTERS) {
      const a = now[c] ?? 0;
      const b = then[c] ?? 0;
      totals[c] += a >= b ? a - b : a;
    }
  }
  return totals;
}

const NullableNumber = z.number().nullable();

/** What summarize computes over a window (GET /monitoring/{id}/summary adds the instance and its container). */
export const SummarySchema = z.object({
  windowSeconds: z.number(),
  from: z.string().nullable(),
  to: z.string().nullable(),
  samples: z.number(),
  failedSamples: z.number(),
  /** Share of samples in the window that found the server up. */
  availability: NullableNumber,
  transactionsPerSecond: NullableNumber,
  commitsPerSecond: NullableNumber,
  rollbacksPerSecond: NullableNumber,
  rowsReadPerSecond: NullableNumber,
  rowsWrittenPerSecond: NullableNumber,
  cacheHitRatio: NullableNumber,
  deadlocks: NullableNumber,
  tempBytes: NullableNumber,
  latest: z
    .object({
      connections: z
        .record(z.string(), z.unknown())
        .nullable()
        .meta({ description: "The newest good sample's connections (by_state, waiting, longest_transaction_seconds, longest_query_seconds)" }),
      locks: z.record(z.string(), z.unknown()).nullable().meta({ description: "The newest good sample's locks (by_mode, granted, waiting)" }),
      databaseSizes: z.record(z.string(), z.number()).meta({ description: 'Bytes per database' }),
    })
    .nullable()
    .meta({ description: 'From the newest good sample of the window; null when the window holds none' }),
});
export type Summary = z.output<typeof SummarySchema>;

/** A part of a sample the agent writes as an object, or null when it is absent. */
function objectOrNull(value: unknown): Record<string, unknown> | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

export function summarize(samples: Sample[], windowSeconds: number): Summary {
  const good = samples.filter((s) => s.up);
  const first = good[0];
  const last = good[good.length - 1];
  const base: Summary = {
    windowSeconds,
    from: samples[0]?.ts ?? null,
    to: samples[samples.length - 1]?.ts ?? null,
    samples: samples.length,
    failedSamples: samples.length - good.length,
    availability: samples.length ? round(good.length / samples.length, 4) : null,
    transactionsPerSecond: null,
    commitsPerSecond: null,
    rollbacksPerSecond: null,
    rowsReadPerSecond: null,
    rowsWrittenPerSecond: null,
    cacheHitRatio: null,
    deadlocks: null,
    tempBytes: null,
    latest: last
      ? {
          connections: objectOrNull(last.connections),
          locks: objectOrNull(last.locks),
          databaseSizes: Object.fromEntries(Object.entries(databasesOf(last)).map(([n, d]) => [n, d.size_bytes ?? 0])),
        }
      : null,
  };
  if (!first || !last || first === last) return base;
  const seconds = (last.ts_ms - first.ts_ms) / 1000;
  if (seconds <= 0) return base;
  // Summed pair by pair, so that a reset anywhere in the window is seen where it happened.
  const d = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<Counter, number>;
  for (let i = 1; i < good.length; i++) {
    const pair = counterDeltas(good[i - 1] as Sample, good[i] as Sample);
    for (const c of COUNTERS) d[c] += pair[c];
  }
  const blocks = d.blks_hit + d.blks_read;
  return {
    ...base,
    transactionsPerSecond: round((d.xact_commit + d.xact_rollback) / seconds),
    commitsPerSecond: round(d.xact_commit / seconds),
    rollbacksPerSecond: round(d.xact_rollback / seconds),
    rowsReadPerSecond: round((d.tup_returned + d.tup_fetched) / seconds),
    rowsWrittenPerSecond: round((d.tup_inserted + d.tup_updated + d.tup_deleted) / seconds),
    cacheHitRatio: blocks > 0 ? round(d.blks_hit / blocks, 4) : null,
    deadlocks: d.deadlocks,
    tempBytes: d.temp_bytes,
  };
}

export interface SeriesPoint {
  ts: string;
  up: boolean;
  transactionsPerSecond: number | null;
  connections: number | null;
  waiting: number | null;
  cacheHitRatio: number | null;
  longestTransactionSeconds: number | null;
}

/** Per-sample series for charts and tables: rates between each sample and the one before it. */
export function series(samples: Sample[]): SeriesPoint[] {
  let previous: Sample | undefined;
  return samples.map((s) => {
    const conn = s.connections as { total?: number; waiting?: number; longest_transaction_seconds?: number } | undefined;
    let tps: number | null = null;
    let hit: number | null = null;
    // Only between two consecutive good samples: no rate is averaged over an outage.
    if (s.up && previous?.up && s.ts_ms > previous.ts_ms) {
      const d = counterDeltas(previous, s);
      tps = round((d.xact_commit + d.xact_rollback) / ((s.ts_ms - previous.ts_ms) / 1000), 2);
      hit = d.blks_hit + d.blks_read > 0 ? round(d.blks_hit / (d.blks_hit + d.blks_read), 4) : null;
    }
    previous = s;
    return {
      ts: s.ts,
      up: s.up,
      transactionsPerSecond: tps,
      connections: s.up ? (conn?.total ?? null) : null,
      waiting: s.up ? (conn?.waiting ?? null) : null,
      cacheHitRatio: hit,
      longestTransactionSeconds: s.up ? (conn?.longest_transaction_seconds ?? null) : null,
    };
  });
}
