import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { DbaasError } from '../errors.js';
import type { PgSettingInfo } from '../instances/pgParameters.js';
import { resolveImageId, runThrowaway } from './throwaway.js';

/**
 * The real `pg_settings` of the PostgreSQL server in an image: names, types, units and bounds,
 * as the server binary itself defines them, so that user settings are checked against the
 * version that will run them. Read once per image id from a throwaway container and cached as
 * JSON in `<cacheDir>/<image id>.json`.
 */

const SettingInfoSchema = z
  .object({
    name: z.string().min(1),
    vartype: z.enum(['bool', 'integer', 'real', 'string', 'enum']),
    unit: z.string().nullable(),
    minVal: z.string().nullable(),
    maxVal: z.string().nullable(),
    enumVals: z.array(z.string()).nullable(),
    context: z.string().min(1),
  })
  .strict();

/** The cache file and the container's output have the same format: a non-empty array of settings. */
const CatalogSchema = z.array(SettingInfoSchema).min(1);

const PURPOSE = 'settings-catalog';
const TIMEOUT_MS = 60_000;

/**
 * Runs as the image's `postgres` user without network: a temporary cluster, a socket-only server,
 * one query, a fast stop. Only the query's JSON goes to stdout; everything else is on stderr.
 */
const SCRIPT = `set -euo pipefail
initdb -D /tmp/c -A trust -U postgres --no-sync >/dev/null
pg_ctl -D /tmp/c -o "-c listen_addresses='' -k /tmp" -w start >/dev/null
psql -X -v ON_ERROR_STOP=1 -h /tmp -U postgres -d postgres -Atc "select json_agg(json_build_object('name',name,'vartype',vartype,'unit',unit,'minVal',min_val,'maxVal',max_val,'enumVals',enumvals,'context',context) order by name) from pg_settings"
pg_ctl -D /tmp/c -m fast -w stop >/dev/null`;

/** One extraction per cache file at a time within this process (concurrent callers share it). */
const inFlight = new Map<string, Promise<PgSettingInfo[]>>();

export async function readSettingsCatalog(docker: Dockerode, image: string, cacheDir: string): Promise<PgSettingInfo[]> {
  const imageId = await resolveImageId(docker, image);
  const file = join(cacheDir, `${imageId}.json`);
  const cached = await readCache(file);
  if (cached) return cached;
  let pending = inFlight.get(file);
  if (!pending) {
    pending = extractAndCache(docker, image, imageId, file).finally(() => inFlight.delete(file));
    inFlight.set(file, pending);
  }
  return pending;
}

/** The cached catalog, or null when there is none or it is unreadable (it is then rewritten). */
async function readCache(file: string): Promise<PgSettingInfo[] | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const parsed = CatalogSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null; // not JSON
  }
}

async function extractAndCache(docker: Dockerode, image: string, imageId: string, file: string): Promise<PgSettingInfo[]> {
  const catalog = await extract(docker, image, imageId);
  try {
    await mkdir(join(file, '..'), { recursive: true });
    await writeFileAtomic(file, JSON.stringify(catalog) + '\n', { mode: 0o644 });
  } catch (err) {
    throw new DbaasError('OPERATION_FAILED', `cannot write the settings catalog cache ${file}: ${(err as Error).message}`, undefined, {
      cause: err,
    });
  }
  return catalog;
}

async function extract(docker: Dockerode, image: string, imageId: string): Promise<PgSettingInfo[]> {
  const purpose = `read the settings of ${image}`;
  const stdout = (
    await runThrowaway(docker, { imageId, purpose, label: PURPOSE, user: 'postgres', entrypoint: ['bash', '-c', SCRIPT], timeoutMs: TIMEOUT_MS })
  ).trim();
  let parsed: ReturnType<typeof CatalogSchema.safeParse>;
  try {
    parsed = CatalogSchema.safeParse(JSON.parse(stdout));
  } catch {
    throw new DbaasError('OPERATION_FAILED', `the settings of ${image} are not JSON`);
  }
  if (!parsed.success) throw new DbaasError('OPERATION_FAILED', `the settings of ${image} have an unexpected shape: ${parsed.error.message}`);
  return parsed.data;
}
