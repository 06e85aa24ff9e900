import type Dockerode from 'dockerode';
import { DbaasError } from '../errors.js';
import { demuxBuffer, engineError, statusOf } from './dockerWire.js';
import { LABELS } from './labels.js';

/**
 * One-off containers of an image that dbaas runs for itself (reading an image's settings
 * catalog, initialising a template data directory): made, run to their exit, read, and always
 * removed, whatever happened. They have no network unless asked and never publish a port.
 */

export const PURPOSE_LABEL = 'dbaas.purpose';

export interface ThrowawayRun {
  /** Exactly the image to run: its id (`sha256:...`), see resolveImageId. */
  imageId: string;
  /** What the run is for, in the label and in error messages ("read the settings of x"). */
  purpose: string;
  label: string;
  entrypoint: string[];
  user?: string;
  env?: string[];
  binds?: string[];
  /** Its memory limit; 256 MiB by default. */
  memory?: number;
  timeoutMs: number;
}

/** The image's id without `sha256:`; a missing image is IMAGE_NOT_AVAILABLE. */
export async function resolveImageId(docker: Dockerode, image: string): Promise<string> {
  let info: Dockerode.ImageInspectInfo;
  try {
    info = await docker.getImage(image).inspect();
  } catch (err) {
    if (statusOf(err) === 404) {
      throw new DbaasError('IMAGE_NOT_AVAILABLE', `image ${image} is not on this host`, { image });
    }
    throw engineError(err, `inspect image ${image}`);
  }
  const id = info.Id.replace(/^sha256:/, '');
  // The id names files and folders: accept only what an image id looks like.
  if (!/^[a-f0-9]{12,128}$/.test(id)) throw new DbaasError('OPERATION_FAILED', `image ${image} has an unexpected id "${info.Id}"`);
  return id;
}

/** The image's own entrypoint (e.g. ["docker-entrypoint.sh"]), empty when it has none. */
export async function imageEntrypoint(docker: Dockerode, imageId: string): Promise<string[]> {
  try {
    const info = await docker.getImage(`sha256:${imageId}`).inspect();
    const entry = info.Config?.Entrypoint as string[] | string | null | undefined;
    return Array.isArray(entry) ? entry : entry ? [entry] : [];
  } catch (err) {
    throw engineError(err, `inspect image ${imageId}`);
  }
}

/** Runs the container to its exit; its stdout when it exits 0, OPERATION_FAILED otherwise. */
export async function runThrowaway(docker: Dockerode, run: ThrowawayRun): Promise<string> {
  let container: Dockerode.Container;
  try {
    container = await docker.createContainer({
      Image: `sha256:${run.imageId}`,
      User: run.user ?? '',
      Entrypoint: run.entrypoint,
      Cmd: [],
      Env: run.env ?? [],
      Labels: { [LABELS.managed]: 'true', [PURPOSE_LABEL]: run.label },
      HostConfig: {
        NetworkMode: 'none',
        Binds: run.binds ?? [],
        Memory: run.memory ?? 256 * 1024 * 1024,
        MemorySwap: run.memory ?? 256 * 1024 * 1024,
        PidsLimit: 128,
      },
    });
  } catch (err) {
    throw engineError(err, `create a container to ${run.purpose}`);
  }
  try {
    const exit = await waitWithTimeout(container, run);
    if (exit !== 0) throw await failure(container, `${run.purpose} failed (exit code ${exit})`);
    try {
      const raw = (await container.logs({ stdout: true, stderr: false, follow: false })) as unknown as Buffer;
      return demuxBuffer(raw);
    } catch (err) {
      throw engineError(err, run.purpose);
    }
  } finally {
    // Always gone afterwards (a 404 means it is gone already).
    await container.remove({ force: true, v: true }).catch(() => undefined);
  }
}

/** Starts the container and waits for its exit code, at most `timeoutMs`. */
async function waitWithTimeout(container: Dockerode.Container, run: ThrowawayRun): Promise<number> {
  try {
    await container.start();
  } catch (err) {
    throw engineError(err, `start the container to ${run.purpose}`);
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void failure(container, `${run.purpose} took longer than ${run.timeoutMs / 1000} s`).then(reject, reject);
    }, run.timeoutMs);
  });
  try {
    const result = (await Promise.race([container.wait(), timeout])) as { StatusCode: number };
    return result.StatusCode;
  } catch (err) {
    throw engineError(err, `wait for the container to ${run.purpose}`);
  } finally {
    clearTimeout(timer);
  }
}

/** An OPERATION_FAILED carrying the container's last lines of output. */
export async function failure(container: Dockerode.Container, message: string): Promise<DbaasError> {
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
