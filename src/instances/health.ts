import { statfs } from 'node:fs/promises';
import { z } from 'zod';
import { asDbaasError } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import type { InstanceEngine } from '../runtime/workload.js';

/**
 * What `GET /health` reports: each dependency of dbaas with its own state, so that "ok" means
 * the manager can actually work. The engine must answer, the registry must parse (a corrupt one
 * stops every create, update and delete), and the disk of the home must have room for data.
 */

export const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']).meta({ description: 'ok only when every check is ok' }),
    version: z.string(),
    engine: z.object({ reachable: z.boolean(), version: z.string().optional(), error: z.string().optional() }),
    registry: z.object({
      ok: z.boolean(),
      instances: z.number().int().optional().meta({ description: 'Instances it holds' }),
      error: z.string().optional(),
    }),
    disk: z.object({
      ok: z.boolean(),
      path: z.string(),
      freeBytes: z.number().optional(),
      totalBytes: z.number().optional(),
      minFreeBytes: z.number().meta({ description: 'Below this much free space the check fails (DBAAS_DISK_MIN_FREE)' }),
      error: z.string().optional(),
    }),
  })
  .meta({ id: 'Health' });
export type Health = z.output<typeof HealthSchema>;

export async function checkHealth(deps: { engine: Pick<InstanceEngine, 'ping'>; registry: Registry; home: string; minFreeBytes: number; version: string }): Promise<Health> {
  const [engine, registry, disk] = await Promise.all([
    deps.engine.ping().then(
      (v) => ({ reachable: true, version: v.version }),
      (err: unknown) => ({ reachable: false, error: asDbaasError(err).message }),
    ),
    deps.registry.list().then(
      (records) => ({ ok: true, instances: records.length }),
      (err: unknown) => ({ ok: false, error: asDbaasError(err).message }),
    ),
    statfs(deps.home).then(
      (s) => {
        const freeBytes = Number(s.bavail) * Number(s.bsize);
        return { ok: freeBytes >= deps.minFreeBytes, path: deps.home, freeBytes, totalBytes: Number(s.blocks) * Number(s.bsize), minFreeBytes: deps.minFreeBytes };
      },
      (err: unknown) => ({ ok: false, path: deps.home, minFreeBytes: deps.minFreeBytes, error: asDbaasError(err).message }),
    ),
  ]);
  const ok = engine.reachable && registry.ok && disk.ok;
  return { status: ok ? 'ok' : 'degraded', version: deps.version, engine, registry, disk };
}
