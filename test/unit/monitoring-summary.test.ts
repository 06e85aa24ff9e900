import { describe, expect, it } from 'vitest';
import type { Sample } from '../../src/monitoring/metricsReader.js';
import { counterDeltas, series, summarize } from '../../src/monitoring/summary.js';

const T0 = 1795403505712; // 2026-11-23T03:11:45.712Z

type Db = Record<string, number>;

const ZERO_DB: Db = {
  backends: 0,
  xact_commit: 0,
  xact_rollback: 0,
  blks_read: 0,
  blks_hit: 0,
  tup_returned: 0,
  tup_fetched: 0,
  tup_inserted: 0,
  tup_updated: 0,
  tup_deleted: 0,
  temp_files: 0,
  temp_bytes: 0,
  deadlocks: 0,
  conflicts: 0,
  size_bytes: 0,
};

function connections(total: number, waiting = 0, longest = 0) {
  return {
    total,
    by_state: {
      active: total,
      idle: 0,
      'idle in transaction': 0,
      'idle in transaction (aborted)': 0,
      'fastpath function call': 0,
      disabled: 0,
    },
    waiting,
    longest_transaction_seconds: longest,
    longest_query_seconds: 0,
  };
}

function locks(granted: number) {
  return { by_mode: { AccessShareLock: granted, RowExclusiveLock: 0 }, granted, waiting: 0 };
}

/** An up sample at T0 + offsetMs with the given per-database counters (missing ones are 0). */
function up(offsetMs: number, databases: Record<string, Partial<Db>>, extra: Record<string, unknown> = {}): Sample {
  return {
    ts: new Date(T0 + offsetMs).toISOString(),
    ts_ms: T0 + offsetMs,
    instance: 'db_x',
    up: true,
    database: 'app',
    server: { up: true, version: '15.8', uptime_seconds: 100, max_connections: 100 },
    databases: Object.fromEntries(Object.entries(databases).map(([n, d]) => [n, { ...ZERO_DB, ...d }])),
    connections: connections(1),
    locks: locks(0),
    schemas: { public: { tables: 1, views: 0 } },
    ...extra,
  };
}

function down(offsetMs: number): Sample {
  return { ts: new Date(T0 + offsetMs).toISOString(), ts_ms: T0 + offsetMs, instance: 'db_x', up: false, error: 'connection refused' };
}

const ZERO_DELTAS = {
  xact_commit: 0,
  xact_rollback: 0,
  blks_read: 0,
  blks_hit: 0,
  tup_returned: 0,
  tup_fetched: 0,
  tup_inserted: 0,
  tup_updated: 0,
  tup_deleted: 0,
  temp_bytes: 0,
  deadlocks: 0,
};

describe('counterDeltas', () => {
  it('returns the increase of every counter', () => {
    const first = up(0, {
      app: { xact_commit: 10, xact_rollback: 1, blks_read: 5, blks_hit: 50, tup_returned: 100, tup_fetched: 20, tup_inserted: 3, tup_updated: 2, tup_deleted: 1, temp_bytes: 0, deadlocks: 0 },
    });
    const last = up(10_000, {
      app: { xact_commit: 25, xact_rollback: 3, blks_read: 9, blks_hit: 80, tup_returned: 400, tup_fetched: 70, tup_inserted: 13, tup_updated: 7, tup_deleted: 2, temp_bytes: 4096, deadlocks: 1 },
    });
    expect(counterDeltas(first, last)).toEqual({
      xact_commit: 15,
      xact_rollback: 2,
      blks_read: 4,
      blks_hit: 30,
      tup_returned: 300,
      tup_fetched: 50,
      tup_inserted: 10,
      tup_updated: 5,
      tup_deleted: 1,
      temp_bytes: 4096,
      deadlocks: 1,
    });
  });

  it('sums over databases', () => {
    const first = up(0, { app: { xact_commit: 10, blks_hit: 100 }, postgres: { xact_commit: 1000, blks_hit: 7 } });
    const last = up(5000, { app: { xact_commit: 14, blks_hit: 150 }, postgres: { xact_commit: 1006, blks_hit: 17 } });
    const d = counterDeltas(first, last);
    expect(d.xact_commit).toBe(10);
    expect(d.blks_hit).toBe(60);
    expect(d.xact_rollback).toBe(0);
  });

  it('counts the whole value of a database that appeared during the window', () => {
    const first = up(0, { app: { xact_commit: 10 } });
    const last = up(5000, { app: { xact_commit: 12 }, newdb: { xact_commit: 7, tup_inserted: 30 } });
    const d = counterDeltas(first, last);
    expect(d.xact_commit).toBe(2 + 7);
    expect(d.tup_inserted).toBe(30);
  });

  it('ignores a database that disappeared during the window', () => {
    const first = up(0, { app: { xact_commit: 10 }, dropped: { xact_commit: 500 } });
    const last = up(5000, { app: { xact_commit: 12 } });
    expect(counterDeltas(first, last).xact_commit).toBe(2);
  });

  it('counts the new value of a counter that went down (a reset)', () => {
    const first = up(0, { app: { xact_commit: 1000, blks_read: 300, deadlocks: 4 } });
    const last = up(5000, { app: { xact_commit: 40, blks_read: 300, deadlocks: 1 } });
    const d = counterDeltas(first, last);
    expect(d.xact_commit).toBe(40);
    expect(d.blks_read).toBe(0); // unchanged, not a reset
    expect(d.deadlocks).toBe(1);
  });

  it('counts a reset in one database and an increase in another', () => {
    const first = up(0, { app: { xact_commit: 1000 }, postgres: { xact_commit: 50 } });
    const last = up(5000, { app: { xact_commit: 3 }, postgres: { xact_commit: 60 } });
    expect(counterDeltas(first, last).xact_commit).toBe(3 + 10);
  });

  it('treats a missing counter as 0', () => {
    const first: Sample = { ts: 'a', ts_ms: T0, instance: 'db_x', up: true, databases: { app: { xact_commit: 5 } } };
    const last: Sample = { ts: 'b', ts_ms: T0 + 1000, instance: 'db_x', up: true, databases: { app: { xact_commit: 8, blks_hit: 4 } } };
    expect(counterDeltas(first, last)).toEqual({ ...ZERO_DELTAS, xact_commit: 3, blks_hit: 4 });
  });

  it('returns zeros for samples without databases', () => {
    expect(counterDeltas(down(0), down(1000))).toEqual(ZERO_DELTAS);
  });

  it('returns zeros between identical samples', () => {
    const s = up(0, { app: { xact_commit: 10, blks_hit: 3 } });
    expect(counterDeltas(s, s)).toEqual(ZERO_DELTAS);
  });

  it('does not report gauges or non-counters', () => {
    const d = counterDeltas(up(0, { app: { size_bytes: 1, backends: 1 } }), up(1000, { app: { size_bytes: 99, backends: 5 } }));
    expect(Object.keys(d).sort()).toEqual(Object.keys(ZERO_DELTAS).sort());
  });
});

describe('summarize', () => {
  const first = up(0, {
    app: { xact_commit: 100, xact_rollback: 10, blks_read: 50, blks_hit: 450, tup_returned: 1000, tup_fetched: 500, tup_inserted: 10, tup_updated: 5, tup_deleted: 1, size_bytes: 1000 },
    postgres: { xact_commit: 20, size_bytes: 7000 },
  });
  // Real samples carry every counter (the agent's query selects them all).
  const middle = up(5_000, {
    app: { xact_commit: 120, xact_rollback: 12, blks_read: 55, blks_hit: 500, tup_returned: 1300, tup_fetched: 600, tup_inserted: 25, tup_updated: 10, tup_deleted: 5, temp_bytes: 4096, deadlocks: 1, size_bytes: 1100 },
    postgres: { xact_commit: 25, size_bytes: 7000 },
  });
  const last = up(
    10_000,
    {
      app: {
        xact_commit: 150,
        xact_rollback: 15,
        blks_read: 60,
        blks_hit: 540,
        tup_returned: 1600,
        tup_fetched: 700,
        tup_inserted: 40,
        tup_updated: 15,
        tup_deleted: 11,
        temp_bytes: 8192,
        deadlocks: 2,
        size_bytes: 2048,
      },
      postgres: { xact_commit: 30, size_bytes: 7300 },
    },
    { connections: connections(4, 1, 2.5), locks: locks(3) },
  );

  it('sees a counter reset in the middle of the window (a server restart)', () => {
    const a = up(0, { app: { xact_commit: 1000 } });
    const restarted = up(5000, { app: { xact_commit: 100 } });
    const b = up(10_000, { app: { xact_commit: 1500 } });
    // 100 after the reset, then 1400 more: 1500 in 10 s (first/last alone would say 500).
    expect(summarize([a, restarted, b], 10).commitsPerSecond).toBe(150);
  });

  it('computes rates over the window from the first and last good samples', () => {
    const s = summarize([first, middle, last], 600);
    expect(s.windowSeconds).toBe(600);
    expect(s.samples).toBe(3);
    expect(s.failedSamples).toBe(0);
    expect(s.availability).toBe(1);
    expect(s.from).toBe(first.ts);
    expect(s.to).toBe(last.ts);
    // 10 s between first and last; commits 50 + 10 (postgres), rollbacks 5.
    expect(s.transactionsPerSecond).toBe(6.5);
    expect(s.commitsPerSecond).toBe(6);
    expect(s.rollbacksPerSecond).toBe(0.5);
    // returned +600, fetched +200.
    expect(s.rowsReadPerSecond).toBe(80);
    // inserted +30, updated +10, deleted +10.
    expect(s.rowsWrittenPerSecond).toBe(5);
    // hits +90, reads +10.
    expect(s.cacheHitRatio).toBe(0.9);
    expect(s.deadlocks).toBe(2);
    expect(s.tempBytes).toBe(8192);
  });

  it('reports the latest connections, locks and database sizes', () => {
    const s = summarize([first, middle, last], 600);
    expect(s.latest).toEqual({
      connections: connections(4, 1, 2.5),
      locks: locks(3),
      databaseSizes: { app: 2048, postgres: 7300 },
    });
  });

  it('rounds rates to three decimals and the cache hit ratio to four', () => {
    const a = up(0, { app: { xact_commit: 0, blks_hit: 0, blks_read: 0 } });
    const b = up(3000, { app: { xact_commit: 1, blks_hit: 2, blks_read: 1 } });
    const s = summarize([a, b], 3);
    expect(s.transactionsPerSecond).toBe(0.333);
    expect(s.commitsPerSecond).toBe(0.333);
    expect(s.cacheHitRatio).toBe(0.6667);
  });

  it('counts failed samples and availability, computing rates from the good ones', () => {
    const s = summarize([down(-5000), first, down(2500), middle, last], 600);
    expect(s.samples).toBe(5);
    expect(s.failedSamples).toBe(2);
    expect(s.availability).toBe(0.6);
    expect(s.from).toBe(down(-5000).ts);
    expect(s.to).toBe(last.ts);
    // The window of the rates is still first..last (10 s), not the first failed sample.
    expect(s.transactionsPerSecond).toBe(6.5);
    expect(s.cacheHitRatio).toBe(0.9);
  });

  it('rounds availability to four decimals', () => {
    const s = summarize([first, down(2000), last], 60);
    expect(s.availability).toBe(0.6667);
  });

  it('takes latest from the last good sample when the window ends with a failure', () => {
    const s = summarize([first, last, down(15_000)], 60);
    expect(s.to).toBe(down(15_000).ts);
    expect(s.latest?.connections).toEqual(connections(4, 1, 2.5));
    expect(s.latest?.databaseSizes).toEqual({ app: 2048, postgres: 7300 });
    expect(s.transactionsPerSecond).toBe(6.5);
  });

  it('handles a counter reset inside the window', () => {
    const before = up(0, { app: { xact_commit: 5000, blks_hit: 900, blks_read: 100 } });
    const after = up(10_000, { app: { xact_commit: 20, blks_hit: 30, blks_read: 10 } });
    const s = summarize([before, down(5000), after], 60);
    expect(s.transactionsPerSecond).toBe(2);
    expect(s.cacheHitRatio).toBe(0.75);
  });

  it('has a null cache hit ratio when no block was touched', () => {
    const a = up(0, { app: { xact_commit: 1, blks_hit: 10, blks_read: 10 } });
    const b = up(1000, { app: { xact_commit: 2, blks_hit: 10, blks_read: 10 } });
    const s = summarize([a, b], 60);
    expect(s.transactionsPerSecond).toBe(1);
    expect(s.cacheHitRatio).toBeNull();
    expect(s.deadlocks).toBe(0);
    expect(s.tempBytes).toBe(0);
  });

  it('is all nulls for no samples', () => {
    expect(summarize([], 300)).toEqual({
      windowSeconds: 300,
      from: null,
      to: null,
      samples: 0,
      failedSamples: 0,
      availability: null,
      transactionsPerSecond: null,
      commitsPerSecond: null,
      rollbacksPerSecond: null,
      rowsReadPerSecond: null,
      rowsWrittenPerSecond: null,
      cacheHitRatio: null,
      deadlocks: null,
      tempBytes: null,
      latest: null,
    });
  });

  const RATE_FIELDS = [
    'transactionsPerSecond',
    'commitsPerSecond',
    'rollbacksPerSecond',
    'rowsReadPerSecond',
    'rowsWrittenPerSecond',
    'cacheHitRatio',
    'deadlocks',
    'tempBytes',
  ] as const;

  it('has null rates with a single good sample, but reports it as latest', () => {
    const s = summarize([last], 60);
    for (const f of RATE_FIELDS) expect(s[f], f).toBeNull();
    expect(s.samples).toBe(1);
    expect(s.availability).toBe(1);
    expect(s.latest?.databaseSizes).toEqual({ app: 2048, postgres: 7300 });
  });

  it('has null rates with one good sample among failed ones', () => {
    const s = summarize([down(0), first, down(20_000)], 60);
    for (const f of RATE_FIELDS) expect(s[f], f).toBeNull();
    expect(s.availability).toBe(0.3333);
    expect(s.failedSamples).toBe(2);
    expect(s.latest).not.toBeNull();
  });

  it('has null rates and no latest when every sample failed', () => {
    const s = summarize([down(0), down(5000), down(10_000)], 60);
    for (const f of RATE_FIELDS) expect(s[f], f).toBeNull();
    expect(s.availability).toBe(0);
    expect(s.failedSamples).toBe(3);
    expect(s.latest).toBeNull();
    expect(s.from).toBe(down(0).ts);
    expect(s.to).toBe(down(10_000).ts);
  });

  it('has null rates when the good samples share one timestamp', () => {
    const s = summarize([up(0, { app: { xact_commit: 1 } }), up(0, { app: { xact_commit: 5 } })], 60);
    for (const f of RATE_FIELDS) expect(s[f], f).toBeNull();
    expect(s.samples).toBe(2);
  });

  it('reports size 0 for a database without size_bytes and null connections/locks when absent', () => {
    const bare: Sample = { ts: 'x', ts_ms: T0, instance: 'db_x', up: true, databases: { app: { xact_commit: 1 } } };
    const s = summarize([bare], 60);
    expect(s.latest).toEqual({ connections: null, locks: null, databaseSizes: { app: 0 } });
  });
});

describe('series', () => {
  it('computes per-sample rates between consecutive up samples', () => {
    const points = series([
      up(0, { app: { xact_commit: 100, blks_hit: 100, blks_read: 0 } }, { connections: connections(2, 0, 1.5) }),
      up(2000, { app: { xact_commit: 110, xact_rollback: 2, blks_hit: 190, blks_read: 10 } }, { connections: connections(3, 1, 0.25) }),
      up(6000, { app: { xact_commit: 113, xact_rollback: 2, blks_hit: 190, blks_read: 10 } }),
    ]);
    expect(points).toHaveLength(3);
    expect(points[0]).toEqual({
      ts: new Date(T0).toISOString(),
      up: true,
      transactionsPerSecond: null,
      connections: 2,
      waiting: 0,
      cacheHitRatio: null,
      longestTransactionSeconds: 1.5,
    });
    expect(points[1]).toEqual({
      ts: new Date(T0 + 2000).toISOString(),
      up: true,
      transactionsPerSecond: 6, // (10 + 2) / 2 s
      connections: 3,
      waiting: 1,
      cacheHitRatio: 0.9, // 90 / 100
      longestTransactionSeconds: 0.25,
    });
    expect(points[2]?.transactionsPerSecond).toBe(0.75); // 3 / 4 s
    expect(points[2]?.cacheHitRatio).toBeNull(); // no block touched
  });

  it('sums databases and handles a reset between samples', () => {
    const points = series([
      up(0, { app: { xact_commit: 500 }, postgres: { xact_commit: 10 } }),
      up(1000, { app: { xact_commit: 4 }, postgres: { xact_commit: 12 } }),
    ]);
    expect(points[1]?.transactionsPerSecond).toBe(6);
  });

  it('rounds the rate to two decimals', () => {
    const points = series([up(0, { app: { xact_commit: 0 } }), up(3000, { app: { xact_commit: 1 } })]);
    expect(points[1]?.transactionsPerSecond).toBe(0.33);
  });

  it('gives no rate across an outage (a down sample between two good ones)', () => {
    const points = series([up(0, { app: { xact_commit: 0 } }), down(1000), up(2000, { app: { xact_commit: 10 } })]);
    expect(points.map((p) => p.transactionsPerSecond)).toEqual([null, null, null]);
  });

  it('has only nulls for a down sample', () => {
    const points = series([up(0, { app: { xact_commit: 1 } }), down(1000)]);
    expect(points[1]).toEqual({
      ts: new Date(T0 + 1000).toISOString(),
      up: false,
      transactionsPerSecond: null,
      connections: null,
      waiting: null,
      cacheHitRatio: null,
      longestTransactionSeconds: null,
    });
  });

  it('has no rate for samples that do not move forward in time', () => {
    const points = series([up(1000, { app: { xact_commit: 1 } }), up(1000, { app: { xact_commit: 5 } }), up(500, { app: { xact_commit: 9 } })]);
    expect(points.map((p) => p.transactionsPerSecond)).toEqual([null, null, null]);
  });

  it('returns [] for no samples', () => {
    expect(series([])).toEqual([]);
  });

  it('keeps one point per sample, in order', () => {
    const input = [down(0), up(1000, { app: {} }), down(2000), up(3000, { app: {} })];
    expect(series(input).map((p) => [p.ts, p.up])).toEqual(input.map((s) => [s.ts, s.up]));
  });

  it('has null connection figures when the sample has no connections', () => {
    const bare: Sample = { ts: 'x', ts_ms: T0, instance: 'db_x', up: true };
    expect(series([bare])[0]).toMatchObject({ connections: null, waiting: null, longestTransactionSeconds: null });
  });
});
