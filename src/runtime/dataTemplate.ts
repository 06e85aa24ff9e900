import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { DbaasError } from '../errors.js';
import { lockPath } from '../fileLock.js';
import { imageEntrypoint, resolveImageId, runThrowaway } from './throwaway.js';

/**
 * A data directory initialised once per image, which new instances start from instead of
 * running initdb and the image's temporary-server dance on every create (most of the time a
 * bare `docker run` of the image takes).
 *
 * The template is made by the image's own entrypoint, with the same environment an instance's
 * server gets, in a container without network: it runs initdb and the init scripts given (which
 * remove the superuser's password: a template must not let anyone log in over TCP), starts the
 * real server, and is stopped cleanly as soon as that server answers on TCP. The result is kept
 * under `<cacheDir>/<image id>/data` (a new image id gets a new template). It is made in a work
 * folder and renamed into place, so a crash never leaves a half-made template; creations are
 * serialised per image within the process and across the processes of a home.
 */

export interface DataTemplateRequest {
  cacheDir: string;
  /** Where the image keeps its data directory (the server's PGDATA). */
  dataPath: string;
  /** The server's environment (no secrets: secrets are files). */
  env: Record<string, string>;
  /**
   * Files to mount read-only, by path in the container, with their mode: init scripts (read by
   * the server's user: 0644), the password file (read by root only: 0600).
   */
  files: Record<string, { content: string; mode: number }>;
  timeoutMs: number;
}

const LABEL = 'data-template';

/**
 * Runs the image's entrypoint with `postgres` in the background, waits until the real server
 * answers on TCP (the entrypoint's temporary server listens on its socket only, so a TCP answer
 * means initialisation is over), then stops it with SIGINT (a fast, clean shutdown). `$@` is
 * the image's entrypoint.
 */
const SCRIPT = `set -uo pipefail
"$@" postgres &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  if pg_isready -h 127.0.0.1 -p 5432 -q; then
    kill -INT "$pid"
    wait "$pid"
    exit $?
  fi
  sleep 0.05
done
wait "$pid"
echo "the server exited before it was ready (exit code $?)" >&2
exit 1`;

const inFlight = new Map<string, Promise<string>>();

/** The path of the image's template data directory, made now when there is none. */
export async function ensureDataTemplate(docker: Dockerode, image: string, request: DataTemplateRequest): Promise<string> {
  const imageId = await resolveImageId(docker, image);
  const dir = join(request.cacheDir, imageId);
  const data = join(dir, 'data');
  if (existsSync(join(data, 'PG_VERSION'))) return data;
  let pending = inFlight.get(dir);
  if (!pending) {
    pending = makeLocked(docker, image, imageId, dir, request).finally(() => inFlight.delete(dir));
    inFlight.set(dir, pending);
  }
  return pending;
}

async function makeLocked(docker: Dockerode, image: string, imageId: string, dir: string, request: DataTemplateRequest): Promise<string> {
  await mkdir(request.cacheDir, { recursive: true, mode: 0o700 });
  const release = await lockPath(dir);
  try {
    // Another process may have made it while this one waited for the lock.
    if (existsSync(join(dir, 'data', 'PG_VERSION'))) return join(dir, 'data');
    return await make(docker, image, imageId, dir, request);
  } finally {
    await release().catch(() => undefined);
  }
}

async function make(docker: Dockerode, image: string, imageId: string, dir: string, request: DataTemplateRequest): Promise<string> {
  const work = join(request.cacheDir, `.work-${imageId.slice(0, 12)}-${randomBytes(4).toString('hex')}`);
  try {
    const data = join(work, 'data');
    await mkdir(data, { recursive: true, mode: 0o700 });
    await chmod(work, 0o755); // the server's user reads the init scripts in it
    const binds = [`${data}:${request.dataPath}`];
    let n = 0;
    for (const [target, { content, mode }] of Object.entries(request.files)) {
      const source = join(work, `file-${n++}`);
      await writeFile(source, content, { mode });
      await chmod(source, mode);
      binds.push(`${source}:${target}:ro`);
    }
    const entrypoint = await imageEntrypoint(docker, imageId);
    await runThrowaway(docker, {
      imageId,
      purpose: `initialise a template data directory for ${image}`,
      label: LABEL,
      entrypoint: ['bash', '-c', SCRIPT, 'data-template', ...entrypoint],
      env: Object.entries(request.env).map(([k, v]) => `${k}=${v}`),
      binds,
      timeoutMs: request.timeoutMs,
    });
    if (!existsSync(join(data, 'PG_VERSION')) || existsSync(join(data, 'postmaster.pid'))) {
      throw new DbaasError('OPERATION_FAILED', `the template data directory for ${image} was not shut down cleanly`);
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await rm(join(dir, 'data'), { recursive: true, force: true });
    await rename(data, join(dir, 'data'));
    return join(dir, 'data');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
