import { dropReservedSettings } from './pgParameters.js';
import { toPostgresMemory } from './size.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/**
 * PostgreSQL settings derived from the container's limits, after the usual tuning rules
 * (PGTune, the PostgreSQL wiki): shared_buffers ~25 % of memory, effective_cache_size ~75 %,
 * max_connections scaled with memory, and work_mem sized so that every connection can run a
 * few sorts at once without the sum passing what is left after shared_buffers.
 */
export function deriveSettings(memory: number, cpus: number): Record<string, string> {
  const sharedBuffers = Math.floor(memory * 0.25);
  const effectiveCache = Math.floor(memory * 0.75);
  const maxConnections = clamp(Math.round(memory / MiB / 5), 20, 400);
  const workMem = Math.max(MiB, Math.floor((memory - sharedBuffers) / (maxConnections * 3)));
  const maintenanceWorkMem = clamp(Math.floor(memory / 16), 16 * MiB, 2 * GiB);
  const workers = Math.max(1, Math.floor(cpus));
  return {
    listen_addresses: '*',
    max_connections: String(maxConnections),
    shared_buffers: toPostgresMemory(sharedBuffers),
    effective_cache_size: toPostgresMemory(effectiveCache),
    work_mem: toPostgresMemory(workMem),
    maintenance_work_mem: toPostgresMemory(maintenanceWorkMem),
    max_worker_processes: String(Math.max(8, workers)),
    max_parallel_workers: String(workers),
    max_parallel_workers_per_gather: String(Math.max(0, Math.floor(workers / 2))),
  };
}

/**
 * The settings a server runs with: derived ones, with the user's overrides on top. Overrides
 * that are not the user's to set are dropped here too, whatever the record says: a registry
 * written before the allowlist existed (or edited by hand) cannot hand archive_command or
 * shared_preload_libraries to a server.
 */
export function effectiveSettings(
  memory: number,
  cpus: number,
  overrides: Record<string, string>,
): Record<string, string> {
  return { ...deriveSettings(memory, cpus), ...dropReservedSettings(overrides).kept };
}

/** /dev/shm sized for parallel queries: a quarter of memory, at least Docker's 64m default. */
export function defaultShmSize(memory: number): number {
  return Math.max(64 * MiB, Math.floor(memory / 4 / MiB) * MiB);
}
