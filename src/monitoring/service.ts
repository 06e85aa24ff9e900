import { z } from 'zod';
import { DbaasError } from '../errors.js';
import { InstanceNamesShape, LogLinesSchema, ResourceStatsSchema, type InstanceRecord } from '../instances/schema.js';
import type { Logger } from '../log/logger.js';
import { AGENT_SERVICE, containerNameFor, POSTGRES_SERVICE, type InstanceFiles } from '../provisioner/provisioner.js';
import type { InstanceEngine, ServiceState } from '../runtime/workload.js';
import type { BackupFacts } from '../backups/service.js';
import { readAgentState, type AgentState } from './agentState.js';
import { MetricsReader, SampleSchema, type Sample } from './metricsReader.js';
import { renderPrometheus, type InstanceMetrics } from './prometheus.js';
import { summarize, SummarySchema } from './summary.js';

export const MAX_SAMPLES = 10_000;

const NullableNumber = z.number().nullable();

/** The monitoring agent's state, as agentStatus reads it from the engine and its state file. */
export const AgentStatusSchema = z
  .object({
    ...InstanceNamesShape,
    container: z.string(),
    state: z.string().nullable(),
    running: z.boolean(),
    healthy: z.boolean().meta({ description: 'Running, sampling on time, last sample good' }),
    intervalSec: z.number(),
    startedAt: z.string().nullable(),
    samplesWritten: NullableNumber.meta({ description: 'Samples written since the agent started' }),
    failedSamples: NullableNumber,
    lastSampleAt: z.string().nullable(),
    lastSampleAgeSeconds: NullableNumber,
    lastOkAt: z.string().nullable(),
    lastError: z.string().nullable(),
    file: z.object({ path: z.string(), bytes: z.number(), rotatedFiles: z.number() }),
  })
  .meta({ id: 'AgentStatus' });
export type AgentStatus = z.output<typeof AgentStatusSchema>;

/** What `metrics` answers: the samples of a range, and how many matched before the limit. */
export const MetricsRangeSchema = z
  .object({
    ...InstanceNamesShape,
    samples: z.array(SampleSchema),
    count: z.number(),
    matched: z.number(),
    truncated: z.boolean(),
    corruptLines: z.number(),
  })
  .meta({ id: 'MetricsRange' });
export type MetricsRange = z.output<typeof MetricsRangeSchema>;

/** What `latest` answers: the newest sample, its age, and whether it describes the present. */
export const LatestSampleSchema = z
  .object({
    ...InstanceNamesShape,
    sample: SampleSchema.nullable(),
    ageSeconds: NullableNumber,
    /** False when the sample is too old, or the server or agent is not running: not the present. */
    current: z.boolean(),
    corruptLines: z.number(),
  })
  .meta({ id: 'LatestSample' });
export type LatestSample = z.output<typeof LatestSampleSchema>;

/** summarize's rates for one instance, with its server container's stats now. */
export const MetricsSummarySchema = z
  .object({
    ...InstanceNamesShape,
    ...SummarySchema.shape,
    container: ResourceStatsSchema.nullable().meta({ description: 'CPU and memory of the server container now; null when it is not running' }),
  })
  .meta({ id: 'MetricsSummary' });
export type MetricsSummary = z.output<typeof MetricsSummarySchema>;

/** The agent's own log, as agentLogs reads it. */
export const AgentLogsSchema = LogLinesSchema.meta({ id: 'AgentLogs' });

/** A sample is current while younger than three intervals (and a little slack). */
export function freshnessLimitSeconds(intervalSec: number): number {
  return 3 * intervalSec + 5;
}

/** Whether `service` is among `containers` (one instance's) and running. */
function serviceRunning(containers: ServiceState[], service: string): boolean {
  return containers.some((c) => c.service === service && c.running);
}

/** Samples are current only while both the server and its agent run. */
const bothRunning = (containers: ServiceState[]) =>
  serviceRunning(containers, POSTGRES_SERVICE) && serviceRunning(containers, AGENT_SERVICE);

const ageOf = (iso: string | null | undefined, now: number): number | null =>
  iso ? Math.max(0, Math.round((now - Date.parse(iso)) / 100) / 10) : null;

/** What monitoring needs of the rest of dbaas: the records, their files, the engine. */
export interface MonitoredInstances {
  readonly engine: InstanceEngine;
  record(ref: string): Promise<InstanceRecord>;
  records(): Promise<InstanceRecord[]>;
  files(record: Pick<InstanceRecord, 'id'>): InstanceFiles;
}

/**
 * Reads what the monitoring agents wrote and looks after the agents: status, restart, logs,
 * and a watchdog that restarts an agent that stopped or stopped sampling while `dbaas serve` runs.
 */
export class MonitoringService {
  constructor(
    private readonly instances: MonitoredInstances,
    private readonly logger: Logger,
    /** The backup figures of an instance for /metrics (from the backup repository). */
    private readonly backupFacts?: (record: InstanceRecord) => BackupFacts,
  ) {}

  private get engine(): InstanceEngine {
    return this.instances.engine;
  }

  private reader(record: InstanceRecord): MetricsReader {
    return new MetricsReader(this.instances.files(record).metricsPath);
  }

  private agentState(record: InstanceRecord): Promise<AgentState | null> {
    return readAgentState(this.instances.files(record).agentStatePath);
  }

  async metrics(ref: string, query: { sinceMs?: number; untilMs?: number; limit: number }): Promise<MetricsRange> {
    const record = await this.instances.record(ref);
    const result = await this.reader(record).range({ ...query, limit: Math.min(query.limit, MAX_SAMPLES) });
    return {
      instance: record.id,
      name: record.name,
      samples: result.samples,
      count: result.samples.length,
      matched: result.matched,
      truncated: result.truncated,
      corruptLines: result.corruptLines,
    };
  }

  async latest(ref: string): Promise<LatestSample> {
    const record = await this.instances.record(ref);
    const [latest, containers] = await Promise.all([
      this.reader(record).latest(),
      this.engine.list(record.id),
    ]);
    return this.toLatest(record, latest.sample, latest.corruptLines, bothRunning(containers));
  }

  private toLatest(record: InstanceRecord, sample: Sample | null, corruptLines: number, bothRunning: boolean): LatestSample {
    const ageSeconds = sample ? ageOf(sample.ts, Date.now()) : null;
    const current =
      sample !== null && bothRunning && ageSeconds !== null && ageSeconds <= freshnessLimitSeconds(record.monitoring.intervalSec);
    return { instance: record.id, name: record.name, sample, ageSeconds, current, corruptLines };
  }

  async summary(ref: string, windowMs: number): Promise<MetricsSummary> {
    const record = await this.instances.record(ref);
    const now = Date.now();
    const { samples } = await this.reader(record).range({ sinceMs: now - windowMs, untilMs: now, limit: MAX_SAMPLES });
    const server = await this.engine.state(containerNameFor(record));
    const container = server?.running ? await this.engine.stats(containerNameFor(record)) : null;
    return { instance: record.id, name: record.name, ...summarize(samples, windowMs / 1000), container };
  }

  async agentStatus(ref: string): Promise<AgentStatus> {
    const record = await this.instances.record(ref);
    const name = containerNameFor(record, AGENT_SERVICE);
    const [info, state, usage] = await Promise.all([
      this.engine.state(name),
      this.agentState(record),
      this.reader(record).usage(),
    ]);
    const now = Date.now();
    const running = Boolean(info?.running);
    // The state file outlives the agent; only trust it for the agent that runs now.
    const live = state && info?.startedAt && Date.parse(state.started_at) >= Date.parse(info.startedAt) - 5000 ? state : null;
    const age = ageOf(live?.last_sample_at, now);
    return {
      instance: record.id,
      name: record.name,
      container: name,
      state: info?.phase ?? null,
      running,
      healthy: running && age !== null && age <= freshnessLimitSeconds(record.monitoring.intervalSec) && live?.last_error === null,
      intervalSec: record.monitoring.intervalSec,
      startedAt: running ? (info?.startedAt ?? null) : null,
      samplesWritten: live?.samples ?? null,
      failedSamples: live?.failures ?? null,
      lastSampleAt: live?.last_sample_at ?? null,
      lastSampleAgeSeconds: age,
      lastOkAt: live?.last_ok_at ?? null,
      lastError: live?.last_error ?? null,
      file: usage,
    };
  }

  async restartAgent(ref: string): Promise<AgentStatus> {
    const record = await this.instances.record(ref);
    const server = await this.engine.state(containerNameFor(record));
    if (!server?.running) {
      throw new DbaasError('INSTANCE_NOT_RUNNING', `instance ${record.name} is not running; start it first`, { instance: record.id });
    }
    const agent = containerNameFor(record, AGENT_SERVICE);
    if (!(await this.engine.state(agent))) {
      throw new DbaasError('INVALID_STATE', `the agent container of ${record.name} is missing; "dbaas start ${record.name}" recreates it`);
    }
    await this.engine.restart(agent, 5);
    this.logger.info('agent restarted on request', { instance: record.id });
    return this.agentStatus(record.id);
  }

  async agentLogs(ref: string, tail: number): Promise<string[]> {
    const record = await this.instances.record(ref);
    return this.engine.logs(containerNameFor(record, AGENT_SERVICE), tail);
  }

  /** Every instance's latest sample and container counters, in Prometheus text format. */
  /** Every instance in Prometheus text format, or those `include` keeps (a token sees its project's). */
  async prometheus(include: (record: InstanceRecord) => boolean = () => true): Promise<{ contentType: string; text: string }> {
    const [records, containers] = await Promise.all([
      this.instances.records().then((all) => all.filter(include)),
      this.engine.list(),
    ]);
    const instances: InstanceMetrics[] = await Promise.all(
      records.map(async (record) => {
        const mine = containers.filter((c) => c.instance === record.id);
        const [latest, agent] = await Promise.all([this.reader(record).latest(), this.agentState(record)]);
        const view = this.toLatest(record, latest.sample, latest.corruptLines, bothRunning(mine));
        const stats = serviceRunning(mine, POSTGRES_SERVICE)
          ? await this.engine.stats(containerNameFor(record), { oneShot: true }).catch(() => null)
          : null;
        return {
          id: record.id,
          name: record.name,
          sample: view.sample,
          current: view.current,
          ageSeconds: view.ageSeconds,
          container: stats ? { cpuSecondsTotal: stats.cpuSecondsTotal, memoryUsed: stats.memoryUsed, memoryLimit: stats.memoryLimit } : null,
          ...(this.backupFacts ? { backups: this.backupFacts(record) } : {}),
          ...(agent?.crash_recoveries_total !== undefined
            ? { recoveries: { total: agent.crash_recoveries_total, lastAt: agent.last_crash_recovery_at ?? null } }
            : {}),
        };
      }),
    );
    return renderPrometheus(instances);
  }

  /**
   * One watchdog round: for every instance whose server and agent both run, restart an agent
   * whose last good sample is too old (stuck: hung, paused, or unable to sample). An agent that
   * does not run at all is the keeper's (doctor's `agent-down`), so the two never race for the
   * same container. At most one restart per instance per `backoffMs`.
   */
  async watchdogRound(lastRestart: Map<string, number>, backoffMs: number): Promise<string[]> {
    const acted: string[] = [];
    const [records, containers] = await Promise.all([
      this.instances.records(),
      this.engine.list(),
    ]);
    for (const record of records) {
      if (record.status !== 'running' || record.operation) continue;
      const mine = containers.filter((c) => c.instance === record.id);
      if (!serviceRunning(mine, POSTGRES_SERVICE) || !serviceRunning(mine, AGENT_SERVICE)) continue;
      const state = await this.agentState(record);
      const okAge = ageOf(state?.last_ok_at ?? state?.started_at, Date.now());
      if (okAge === null || okAge <= freshnessLimitSeconds(record.monitoring.intervalSec) + 10) continue;
      if (Date.now() - (lastRestart.get(record.id) ?? 0) < backoffMs) continue;
      lastRestart.set(record.id, Date.now());
      const reason = `no good sample for ${okAge} s`;
      try {
        await this.engine.restart(containerNameFor(record, AGENT_SERVICE), 5);
        this.logger.warn('watchdog restarted the monitoring agent', { instance: record.id, reason });
        acted.push(record.id);
      } catch (err) {
        this.logger.error('watchdog could not restart the monitoring agent', { instance: record.id, reason, error: (err as Error).message });
      }
    }
    return acted;
  }

  /** Runs watchdog rounds every `intervalMs` until the returned function is called. */
  startWatchdog(intervalMs: number, backoffMs = 60_000): () => void {
    const lastRestart = new Map<string, number>();
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      this.watchdogRound(lastRestart, backoffMs)
        .catch((err: unknown) => this.logger.error('watchdog round failed', { error: (err as Error).message }))
        .finally(() => {
          running = false;
        });
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
