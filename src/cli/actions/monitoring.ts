import asciichart from 'asciichart';
import { DbaasError } from '../../errors.js';
import type { LogLines } from '../../instances/schema.js';
import { formatSize } from '../../instances/size.js';
import type { Sample } from '../../monitoring/metricsReader.js';
import type { LatestSample, MetricsSummary } from '../../monitoring/service.js';
import { series, type SeriesPoint } from '../../monitoring/summary.js';
import { parseDurationMs, parseRange } from '../../monitoring/timeRange.js';
import { withServices, type CommonOptions } from '../context.js';
import { printFields, printJson, printTable } from '../output.js';

/** What `dbaas metrics` and `dbaas agent status|restart|logs` do (their flags and help: commands/monitoring.ts). */

interface MetricsOptions extends CommonOptions {
  since?: string;
  until?: string;
  limit: number;
  latest?: boolean;
  summary?: boolean;
  window: string;
  watch?: boolean;
}

export async function metrics(ref: string, opts: MetricsOptions): Promise<void> {
  await withServices(opts, async ({ monitoring, manager }) => {
    const limit = opts.limit;
    const windowMs = parseDurationMs(opts.window);
    if (windowMs === undefined) throw new DbaasError('USAGE', '--window takes a duration like 5m');
    const once = async () => {
      if (opts.latest) {
        const latest = await monitoring.latest(ref);
        return opts.json ? printJson(latest) : printLatest(latest);
      }
      if (opts.summary) {
        const summary = await monitoring.summary(ref, windowMs);
        return opts.json ? printJson(summary) : printSummary(summary);
      }
      const { sinceMs, untilMs } = parseRange(opts.since, opts.until);
      const result = await monitoring.metrics(ref, { sinceMs, untilMs, limit });
      if (opts.json) return printJson(result);
      if (result.samples.length === 0) {
        process.stdout.write(`${result.name}: no samples since ${opts.since}\n`);
        return;
      }
      printSeries(series(result.samples));
      if (result.corruptLines) process.stdout.write(`(${result.corruptLines} corrupt lines skipped)\n`);
    };
    if (!opts.watch) return once();
    const { monitoring: settings } = await manager.get(ref);
    let stop = false;
    process.once('SIGINT', () => {
      stop = true;
    });
    while (!stop) {
      if (!opts.json && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
      await once();
      await new Promise((r) => setTimeout(r, settings.intervalSec * 1000));
    }
  });
}

export async function agentStatus(ref: string, opts: CommonOptions): Promise<void> {
  await withServices(opts, async ({ monitoring }) => {
    const status = await monitoring.agentStatus(ref);
    if (opts.json) return printJson(status);
    printFields([
      ['agent', `${status.container} (${status.state ?? 'absent'})`],
      ['healthy', status.healthy ? 'yes' : 'no'],
      ['interval', `${status.intervalSec} s`],
      ['last sample', status.lastSampleAt ? `${status.lastSampleAt} (${status.lastSampleAgeSeconds} s ago)` : '-'],
      ['samples written', status.samplesWritten],
      ['failed samples', status.failedSamples],
      ['last error', status.lastError],
      ['file', `${status.file.path} (${formatSize(status.file.bytes)}, ${status.file.rotatedFiles} rotated)`],
    ]);
  });
}

export async function restartAgent(ref: string, opts: CommonOptions): Promise<void> {
  await withServices(opts, async ({ monitoring }) => {
    const status = await monitoring.restartAgent(ref);
    if (opts.json) printJson(status);
    else process.stdout.write(`${status.container}: ${status.state}\n`);
  });
}

export async function agentLogs(ref: string, opts: CommonOptions & { tail: number }): Promise<void> {
  await withServices(opts, async ({ monitoring }) => {
    const lines = await monitoring.agentLogs(ref, opts.tail);
    if (opts.json) printJson({ instance: ref, lines } satisfies LogLines);
    else process.stdout.write(lines.map((l) => l + '\n').join(''));
  });
}

// ---- output ---------------------------------------------------------------------------------

const fmt = (n: number | null | undefined, digits = 2) => (n === null || n === undefined ? '-' : n.toFixed(digits));
const shortTime = (iso: string) => iso.slice(11, 19);

function printSeries(points: SeriesPoint[], rows = 15): void {
  printTable(
    ['TIME', 'UP', 'TPS', 'CONNS', 'WAITING', 'CACHE HIT', 'LONGEST TX s'],
    points.slice(-rows).map((p) => [
      shortTime(p.ts),
      p.up ? 'yes' : 'NO',
      fmt(p.transactionsPerSecond),
      p.connections,
      p.waiting,
      fmt(p.cacheHitRatio, 4),
      fmt(p.longestTransactionSeconds, 1),
    ]),
  );
  const chart = (label: string, values: Array<number | null>) => {
    const data = values.map((v) => v ?? 0);
    if (data.length < 2) return;
    process.stdout.write(`\n${label} (${points[0]?.ts.slice(0, 19)} .. ${points[points.length - 1]?.ts.slice(11, 19)} UTC)\n`);
    process.stdout.write(asciichart.plot(data.slice(-70), { height: 6, format: (x: number) => x.toFixed(1).padStart(8) }) + '\n');
  };
  chart('transactions/s', points.map((p) => p.transactionsPerSecond));
  chart('connections', points.map((p) => p.connections));
}

function printLatest(latest: LatestSample): void {
  const s = latest.sample as (Sample & Record<string, any>) | null; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (!s) {
    process.stdout.write(`${latest.name}: no sample yet\n`);
    return;
  }
  const conn = s.connections ?? {};
  printFields([
    ['instance', `${latest.name} (${latest.instance})`],
    ['sample', `${s.ts} (${latest.ageSeconds} s ago)${latest.current ? '' : '  NOT CURRENT: stale, or the server or agent is stopped'}`],
    ['up', s.up ? 'yes' : `no: ${s.error ?? ''}`],
    ...(s.up
      ? ([
          ['server', `${s.server?.version}, up ${s.server?.uptime_seconds} s, max_connections ${s.server?.max_connections}`],
          ['connections', `${conn.total} (${Object.entries(conn.by_state ?? {}).filter(([, n]) => (n as number) > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}), waiting ${conn.waiting}`],
          ['longest', `transaction ${conn.longest_transaction_seconds} s, query ${conn.longest_query_seconds} s`],
          ['locks', `granted ${s.locks?.granted}, waiting ${s.locks?.waiting}`],
          ...Object.entries(s.databases ?? {}).map(([db, d]: [string, any]) => [ // eslint-disable-line @typescript-eslint/no-explicit-any
            `db ${db}`,
            `${formatSize(d.size_bytes)}, commits ${d.xact_commit}, rollbacks ${d.xact_rollback}, cache hit ${d.cache_hit_ratio ?? '-'}, deadlocks ${d.deadlocks}`,
          ] as [string, string]),
        ] as Array<[string, string]>)
      : []),
  ]);
}

function printSummary(summary: MetricsSummary): void {
  printFields([
    ['instance', `${summary.name} (${summary.instance})`],
    ['window', `${summary.windowSeconds} s, ${summary.samples} samples (${summary.failedSamples} failed)`],
    ['transactions/s', fmt(summary.transactionsPerSecond)],
    ['rows read/s', fmt(summary.rowsReadPerSecond)],
    ['rows written/s', fmt(summary.rowsWrittenPerSecond)],
    ['cache hit ratio', fmt(summary.cacheHitRatio, 4)],
    ['deadlocks', summary.deadlocks],
    ['container cpu', summary.container ? `${summary.container.cpuPercent.toFixed(2)} %` : 'not running'],
    ['container memory', summary.container ? `${formatSize(summary.container.memoryUsed)} of ${formatSize(summary.container.memoryLimit)}` : '-'],
  ]);
}
