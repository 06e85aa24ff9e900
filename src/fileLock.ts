import { DbaasError } from './errors.js';

/**
 * An inter-process lock on a path (proper-lockfile: a `<path>.lock` folder), shared by every
 * process of a dbaas home: the registry's writers and the engine's network creation use it.
 * Returns the release; a failure to lock is OPERATION_FAILED naming the path.
 */
export async function lockPath(path: string): Promise<() => Promise<void>> {
  // Loaded on the first lock: commands that only read (dbaas list) never need it.
  const { default: lockfile } = await import('proper-lockfile');
  try {
    return await lockfile.lock(path, {
      // A holder that died leaves a lock whose mtime stops being refreshed; after 10 s it is stale.
      stale: 10_000,
      update: 2_000,
      retries: { retries: 200, factor: 1.2, minTimeout: 10, maxTimeout: 250, randomize: true },
      realpath: false,
    });
  } catch (err) {
    throw new DbaasError('OPERATION_FAILED', `cannot lock ${path}: ${(err as Error).message}`);
  }
}
