import type Dockerode from 'dockerode';
import { CONFIG_HASH_LABEL } from './composeSpec.js';
import { LABELS } from './labels.js';
import type { ResourceStats, RunPhase, ServiceState } from './workload.js';

/**
 * What the Docker engine answers, mapped once into dbaas's own types (ServiceState,
 * ResourceStats), so that no module outside src/runtime reads a field of the engine's API.
 */

const PHASES = new Set<RunPhase>(['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead']);

function phaseOf(state: string | undefined): RunPhase {
  const s = (state ?? '').toLowerCase() as RunPhase;
  return PHASES.has(s) ? s : 'unknown';
}

function fromLabels(labels: Record<string, string> | undefined) {
  return {
    instance: labels?.[LABELS.instance] ?? null,
    service: labels?.[LABELS.service] ?? null,
    configHash: labels?.[CONFIG_HASH_LABEL] ?? null,
  };
}

/** A row of `docker ps -a`: what a listing tells (no OOM flag, no restart count). */
export function fromListRow(row: Dockerode.ContainerInfo): ServiceState {
  const phase = phaseOf(row.State);
  return {
    id: row.Id,
    name: (row.Names[0] ?? '').replace(/^\//, ''),
    ...fromLabels(row.Labels),
    phase,
    running: phase === 'running' || phase === 'paused',
    restarting: phase === 'restarting',
    oomKilled: null,
    exitCode: phase === 'exited' ? Number(/^Exited \((-?\d+)\)/.exec(row.Status)?.[1] ?? Number.NaN) : null,
    startedAt: null,
    restartCount: null,
    statusText: row.Status,
    addresses: [],
    imageId: row.ImageID || null,
  };
}

/** `docker inspect` of a container: the whole state. */
export function fromInspect(info: Dockerode.ContainerInspectInfo): ServiceState {
  const s = info.State;
  const started = s.StartedAt && !s.StartedAt.startsWith('0001-') ? s.StartedAt : null;
  return {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    ...fromLabels(info.Config.Labels),
    phase: phaseOf(s.Status),
    running: s.Running,
    restarting: s.Restarting,
    oomKilled: s.OOMKilled,
    exitCode: s.Running ? null : s.ExitCode,
    startedAt: started,
    restartCount: info.RestartCount,
    statusText: s.Status,
    addresses: Object.values(info.NetworkSettings?.Networks ?? {})
      .map((n) => n.IPAddress)
      .filter((a): a is string => Boolean(a)),
    imageId: info.Image || null,
  };
}

/** CPU % the way `docker stats` computes it; memory without the page cache (cgroup v1 and v2). */
export function fromStats(s: Dockerode.ContainerStats): ResourceStats {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const systemDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const onlineCpus = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 1;
  const cpuPercent = systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * onlineCpus * 100 : 0;
  const memStats = (s.memory_stats.stats ?? {}) as Record<string, number>;
  const cache = memStats.total_inactive_file ?? memStats.inactive_file ?? memStats.cache ?? 0;
  const memoryUsed = Math.max(0, (s.memory_stats.usage ?? 0) - cache);
  const memoryLimit = s.memory_stats.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const net of Object.values(s.networks ?? {})) {
    rx += net.rx_bytes;
    tx += net.tx_bytes;
  }
  return {
    cpuPercent: Math.round(cpuPercent * 100) / 100,
    cpuSecondsTotal: s.cpu_stats.cpu_usage.total_usage / 1e9,
    memoryUsed,
    memoryLimit,
    memoryPercent: memoryLimit > 0 ? Math.round((memoryUsed / memoryLimit) * 10000) / 100 : 0,
    pids: (s as unknown as { pids_stats?: { current?: number } }).pids_stats?.current ?? 0,
    networkRxBytes: rx,
    networkTxBytes: tx,
    readAt: s.read,
  };
}
