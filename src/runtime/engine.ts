import { PassThrough, type Readable } from 'node:stream';
import Dockerode from 'dockerode';
import { DbaasError } from '../errors.js';
import type { ContainerSpec } from './composeSpec.js';
import type { PgSettingInfo } from '../instances/pgParameters.js';
import { readSettingsCatalog } from './pgSettingsCatalog.js';

/**
 * The Docker engine, through dockerode. Every engine failure becomes a typed error here:
 * an unreachable socket is ENGINE_UNAVAILABLE, an unknown container is `null`, so callers never
 * parse engine messages themselves.
 */

export interface ContainerSummary {
  id: string;
  name: string;
  state: string; // created | running | paused | restarting | removing | exited | dead
  status: string; // "Exited (137) 3 minutes ago"
  labels: Record<string, string>;
}

export interface ContainerStats {
  cpuPercent: number;
  /** CPU time the container used since it started (a counter). */
  cpuSecondsTotal: number;
  memoryUsed: number;
  memoryLimit: number;
  memoryPercent: number;
  pids: number;
  networkRxBytes: number;
  networkTxBytes: number;
  readAt: string;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? Number(err.statusCode) : undefined;
}

/** Maps a dockerode failure to a DbaasError with the engine's own reason. */
export function engineError(err: unknown, action: string): DbaasError {
  if (err instanceof DbaasError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code && UNREACHABLE.has(code)) {
    return new DbaasError('ENGINE_UNAVAILABLE', `the Docker engine does not answer (${code}) while trying to ${action}`);
  }
  const reason = (err as { json?: { message?: string } })?.json?.message ?? (err as Error)?.message ?? String(err);
  return new DbaasError('OPERATION_FAILED', `engine refused to ${action}: ${reason}`, undefined, { cause: err });
}

export class Engine {
  readonly docker: Dockerode;

  constructor(readonly socketPath: string) {
    this.docker = new Dockerode({ socketPath, timeout: 120_000 });
  }

  async ping(): Promise<{ version: string; apiVersion: string }> {
    try {
      const v = await this.docker.version();
      return { version: v.Version, apiVersion: v.ApiVersion };
    } catch (err) {
      throw engineError(err, 'answer a ping');
    }
  }

  async imageExists(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw engineError(err, `inspect image ${image}`);
    }
  }

  /** Pulls an image; resolves when the pull stream ends, rejects with the registry's reason. */
  async pull(image: string): Promise<void> {
    try {
      const stream = await this.docker.pull(image);
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string }>) => {
          const failed = output?.find((o) => o.error);
          if (err) reject(err);
          else if (failed) reject(new Error(failed.error));
          else resolve();
        });
      });
    } catch (err) {
      throw engineError(err, `pull ${image}`);
    }
  }

  /**
   * Makes a bridge network unless it exists (a concurrent create of the same name is fine).
   * Networks outlive engine restarts, so this is needed once per installation, not per start.
   */
  async ensureNetwork(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.docker.getNetwork(name).inspect();
      return;
    } catch (err) {
      if (statusOf(err) !== 404) throw engineError(err, `inspect network ${name}`);
    }
    try {
      await this.docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: labels });
    } catch (err) {
      if (statusOf(err) === 409) return;
      throw engineError(err, `create network ${name}`);
    }
  }

  /** Removes a network that no container uses any more; one still in use or gone is left be. */
  async removeNetworkIfUnused(name: string): Promise<boolean> {
    try {
      const info = (await this.docker.getNetwork(name).inspect()) as { Containers?: Record<string, unknown> };
      if (Object.keys(info.Containers ?? {}).length > 0) return false;
      await this.docker.getNetwork(name).remove();
      return true;
    } catch (err) {
      const status = statusOf(err);
      if (status === 404 || status === 403 || status === 409) return false;
      throw engineError(err, `remove network ${name}`);
    }
  }

  /** The pg_settings of the server in an image (read once per image, cached in cacheDir). */
  settingsCatalog(image: string, cacheDir: string): Promise<PgSettingInfo[]> {
    return readSettingsCatalog(this.docker, image, cacheDir);
  }

  async create(spec: ContainerSpec): Promise<string> {
    const labels = spec.options.Labels ?? {};
    const owner = Object.fromEntries(Object.entries(labels).filter(([key]) => key === 'dbaas.managed' || key === 'dbaas.home'));
    for (const network of spec.networks) await this.ensureNetwork(network, owner);
    try {
      const container = await this.docker.createContainer(spec.options);
      return container.id;
    } catch (err) {
      throw engineError(err, `create container ${spec.name}`);
    }
  }

  async start(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).start();
    } catch (err) {
      if (statusOf(err) === 304) return; // already running
      throw engineError(err, `start ${name}`);
    }
  }

  async stop(name: string, timeoutSec: number): Promise<void> {
    try {
      await this.docker.getContainer(name).stop({ t: timeoutSec });
    } catch (err) {
      const status = statusOf(err);
      if (status === 304 || status === 404) return; // already stopped, or gone
      throw engineError(err, `stop ${name}`);
    }
  }

  async restart(name: string, timeoutSec: number): Promise<void> {
    try {
      await this.docker.getContainer(name).restart({ t: timeoutSec });
    } catch (err) {
      throw engineError(err, `restart ${name}`);
    }
  }

  /** Removes a container and its anonymous volumes; a container that is already gone is fine. */
  async remove(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).remove({ force: true, v: true });
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw engineError(err, `remove ${name}`);
    }
  }

  async inspect(name: string): Promise<Dockerode.ContainerInspectInfo | null> {
    try {
      return await this.docker.getContainer(name).inspect();
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw engineError(err, `inspect ${name}`);
    }
  }

  /** All containers matching the label filters, in one engine call. */
  async list(labelFilters: string[]): Promise<ContainerSummary[]> {
    try {
      const rows = await this.docker.listContainers({ all: true, filters: { label: labelFilters } });
      return rows.map((row) => ({
        id: row.Id,
        name: (row.Names[0] ?? '').replace(/^\//, ''),
        state: row.State,
        status: row.Status,
        labels: row.Labels ?? {},
      }));
    } catch (err) {
      throw engineError(err, 'list containers');
    }
  }

  /** Changes memory and CPU limits of a container in place (`docker update`). */
  async updateLimits(name: string, limits: { memory?: number; cpus?: number }): Promise<void> {
    const body: Record<string, number> = {};
    if (limits.memory !== undefined) {
      body.Memory = limits.memory;
      body.MemorySwap = limits.memory; // no swap, as at create
    }
    if (limits.cpus !== undefined) body.NanoCpus = Math.round(limits.cpus * 1e9);
    try {
      await this.docker.getContainer(name).update(body);
    } catch (err) {
      throw engineError(err, `update the limits of ${name}`);
    }
  }

  /** The last lines of a container's output, stdout and stderr interleaved as written. */
  async logs(name: string, tail: number, timestamps = false): Promise<string[]> {
    try {
      const buffer = (await this.docker
        .getContainer(name)
        .logs({ stdout: true, stderr: true, tail, timestamps, follow: false })) as unknown as Buffer;
      return demuxBuffer(buffer)
        .split('\n')
        .filter((line, i, all) => line !== '' || i < all.length - 1);
    } catch (err) {
      if (statusOf(err) === 404) return [];
      throw engineError(err, `read the logs of ${name}`);
    }
  }

  /** A live stream of a container's output (stdout and stderr merged), for `logs --follow`. */
  async followLogs(name: string, tail: number): Promise<Readable> {
    try {
      const raw = (await this.docker
        .getContainer(name)
        .logs({ stdout: true, stderr: true, tail, follow: true })) as unknown as Readable;
      const out = new PassThrough();
      this.docker.modem.demuxStream(raw, out, out);
      raw.on('end', () => out.end());
      out.on('close', () => raw.destroy());
      return out;
    } catch (err) {
      throw engineError(err, `follow the logs of ${name}`);
    }
  }

  /**
   * One stats sample. The default waits for a second sample (about a second) so that CPU % can be
   * computed; `oneShot` answers at once, for callers that only need counters and memory.
   */
  async stats(name: string, options: { oneShot?: boolean } = {}): Promise<ContainerStats> {
    let s: Dockerode.ContainerStats;
    try {
      const query = options.oneShot ? { stream: false, 'one-shot': true } : { stream: false };
      s = await this.docker.getContainer(name).stats(query as { stream: false });
    } catch (err) {
      throw engineError(err, `read the stats of ${name}`);
    }
    return summarizeStats(s);
  }
}

/** Splits Docker's multiplexed log framing (8-byte headers) back into text. */
export function demuxBuffer(buffer: Buffer): string {
  if (!Buffer.isBuffer(buffer)) return String(buffer);
  const chunks: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const type = buffer[offset];
    const size = buffer.readUInt32BE(offset + 4);
    if (type === undefined || type > 2 || buffer[offset + 1] !== 0) return buffer.toString('utf8'); // not multiplexed (TTY)
    chunks.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** CPU % the way `docker stats` computes it; memory without the page cache (cgroup v1 and v2). */
export function summarizeStats(s: Dockerode.ContainerStats): ContainerStats {
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
