import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { DbaasError } from '../errors.js';
import type { PgSettingInfo } from '../instances/pgParameters.js';
import { demuxBuffer, engineError } from './dockerWire.js';
import { LABELS } from './labels.js';

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

const PURPOSE_LABEL = 'dbaas.purpose';
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

/** The image's id without `sha256:`; a missing image is IMAGE_NOT_AVAILABLE. */
async function resolveImageId(docker: Dockerode, image: string): Promise<string> {
  let info: Dockerode.ImageInspectInfo;
  try {
    info = await docker.getImage(image).inspect();
  } catch (err) {
    if ((err as { statusCode?: number })?.statusCode === 404) {
      throw new DbaasError('IMAGE_NOT_AVAILABLE', `image ${image} is not on this host, so its settings cannot be read`, { image });
    }
    throw engineError(err, `inspect image ${image}`);
  }
  const id = info.Id.replace(/^sha256:/, '');
  // The id names a file: accept only what an image id looks like.
  if (!/^[a-f0-9]{12,128}$/.test(id)) throw new DbaasError('OPERATION_FAILED', `image ${image} has an unexpected id "${info.Id}"`);
  return id;
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
  let container: Dockerode.Container;
  try {
    container = await docker.createContainer({
      Image: `sha256:${imageId}`, // exactly the image the cache file is named after
      User: 'postgres',
      Entrypoint: ['bash', '-c', SCRIPT],
      Cmd: [],
      Labels: { [LABELS.managed]: 'true', [PURPOSE_LABEL]: PURPOSE },
      HostConfig: { NetworkMode: 'none', Memory: 256 * 1024 * 1024, MemorySwap: 256 * 1024 * 1024, PidsLimit: 64 },
    });
  } catch (err) {
    throw engineError(err, `create a container to read the settings of ${image}`);
  }
  try {
    const exit = await waitWithTimeout(container, image);
    if (exit !== 0) throw await failure(container, `reading the settings of ${image} failed (exit code ${exit})`);
    let stdout: string;
    try {
      const raw = (await container.logs({ stdout: true, stderr: false, follow: false })) as unknown as Buffer;
      stdout = demuxBuffer(raw).trim();
    } catch (err) {
      throw engineError(err, `read the settings of ${image}`);
    }
    let parsed: ReturnType<typeof CatalogSchema.safeParse>;
    try {
      parsed = CatalogSchema.safeParse(JSON.parse(stdout));
    } catch {
      throw await failure(container, `the settings of ${image} are not JSON`);
    }
    if (!parsed.success) throw await failure(container, `the settings of ${image} have an unexpected shape: ${parsed.error.message}`);
    return parsed.data;
  } finally {
    // Always gone afterwards, whatever happened above (a 404 means it is gone already).
    await container.remove({ force: true, v: true }).catch(() => undefined);
  }
}

/** Starts the container and waits for its exit code, at most TIMEOUT_MS. */
async function waitWithTimeout(container: Dockerode.Container, image: string): Promise<number> {
  try {
    await container.start();
  } catch (err) {
    throw engineError(err, `start the container that reads the settings of ${image}`);
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void failure(container, `reading the settings of ${image} took longer than ${TIMEOUT_MS / 1000} s`).then(reject, reject);
    }, TIMEOUT_MS);
  });
  try {
    const result = (await Promise.race([container.wait(), timeout])) as { StatusCode: number };
    return result.StatusCode;
  } catch (err) {
    throw engineError(err, `wait for the container that reads the settings of ${image}`);
  } finally {
    clearTimeout(timer);
  }
}

/** An OPERATION_FAILED carrying the container's last lines of output. */
async function failure(container: Dockerode.Container, message: string): Promise<DbaasError> {
  let lines: string[] = [];
  try {
    const raw = (await container.logs({ stdout: true, stderr: true, tail: 20, follow: false })) as unknown as Buffer;
    lines = demuxBuffer(raw)
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => (line.length > 300 ? `${line.slice(0, 300)}...` : line));
  } catch {
    // The logs are a courtesy; the message stands without them.
  }
  const tail = lines.slice(-10);
  return new DbaasError('OPERATION_FAILED', tail.length ? `${message}: ${tail.join(' | ')}` : message, { logs: tail });
}
