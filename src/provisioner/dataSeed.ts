import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { DataTemplateRequest } from '../runtime/dataTemplate.js';
import { SERVER_DATA_PATH, SERVER_ENV, SERVER_INIT_DIR, SERVER_PASSWORD_FILE } from './serverContract.js';

const run = promisify(execFile);

/**
 * What the image's template data directory is made with: the server's own environment, and an
 * init script that leaves the superuser without a password, so that a copy of the template
 * accepts no TCP login at all until the instance's own password is set (the one-off password
 * the entrypoint requires is random and thrown away with its work folder).
 */
export function dataTemplateRequest(cacheDir: string, timeoutMs: number): DataTemplateRequest {
  return {
    cacheDir,
    dataPath: SERVER_DATA_PATH,
    env: { ...SERVER_ENV },
    files: {
      [SERVER_PASSWORD_FILE]: { content: `${randomBytes(32).toString('hex')}\n`, mode: 0o600 },
      [`${SERVER_INIT_DIR}/00-dbaas-template.sql`]: {
        content:
          '-- dbaas template data directory: no role may log in with a password until an instance sets its own.\n' +
          'ALTER ROLE postgres PASSWORD NULL;\n',
        mode: 0o644,
      },
    },
    timeoutMs,
  };
}

/**
 * Spare copies of a template, made ahead so that a create only renames one into place: copying
 * the template's thousand small files costs about half a second on these disks (each file
 * creation waits for the file system's journal), a rename nothing. They live beside the
 * instances (`instances/.spare-data/<image id>/`, a name the doctor never takes for an instance
 * folder) so that the rename never crosses file systems. A copy in progress has a `.tmp-` name
 * and is renamed when complete, so only whole copies are ever taken.
 */
const SPARES_ROOT = '.spare-data';
const SPARE = 'spare-';
const IN_PROGRESS = '.tmp-';
/** A copy older than this is left over from a process that died; it is removed. */
const STALE_MS = 10 * 60_000;

export function sparesDirFor(instancesDir: string, template: string): string {
  return join(instancesDir, SPARES_ROOT, basename(dirname(template)));
}

export type Seeding = 'spare' | 'copy';

/**
 * Fills an instance's empty data folder from the template: a spare copy renamed into place when
 * there is one, else a copy made now (owners and modes kept: the server's user owns its files;
 * sparse, since the template's first WAL segment is mostly zeros). On failure the folder is
 * emptied again, so the caller can fall back to letting the entrypoint initialise it.
 */
export async function seedDataDir(template: string, dataDir: string, spares: string): Promise<Seeding> {
  if (readdirSync(dataDir).length > 0) throw new Error(`${dataDir} is not empty`);
  for (const name of listSpares(spares)) {
    try {
      await rename(join(spares, name), dataDir); // replaces the empty folder
      return 'spare';
    } catch {
      // Taken by a concurrent create, or not renamable here: try the next one, then copy.
    }
  }
  try {
    await run('cp', ['-a', '--sparse=always', `${template}/.`, `${dataDir}/`]);
    return 'copy';
  } catch (err) {
    for (const entry of readdirSync(dataDir)) rmSync(join(dataDir, entry), { recursive: true, force: true });
    throw new Error(`copying the template data directory failed: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`);
  }
}

/**
 * Starts making spare copies until `want` exist or are being made, in a detached process that
 * outlives a short CLI command (it is a `cp` and a `mv`; nothing of dbaas waits for it).
 */
export function replenishSpares(template: string, spares: string, want = 1): void {
  try {
    mkdirSync(spares, { recursive: true, mode: 0o700 });
    const now = Date.now();
    let pending = 0;
    for (const name of readdirSync(spares)) {
      if (!name.startsWith(IN_PROGRESS)) continue;
      const path = join(spares, name);
      if (now - statSync(path).mtimeMs > STALE_MS) rmSync(path, { recursive: true, force: true });
      else pending++;
    }
    for (let missing = want - listSpares(spares).length - pending; missing > 0; missing--) {
      const id = randomBytes(6).toString('hex');
      const child = spawn(
        'sh',
        ['-c', 'cp -a --sparse=always "$1" "$2" && mv "$2" "$3" || rm -rf "$2"', 'spare', template, join(spares, `${IN_PROGRESS}${id}`), join(spares, `${SPARE}${id}`)],
        { detached: true, stdio: 'ignore' },
      );
      child.on('error', () => undefined);
      child.unref();
    }
  } catch {
    // Spares only save time; without them a create copies the template itself.
  }
}

/**
 * Whether a spare copy is being made anywhere under an instances folder (a detached `cp` after a
 * create): what must end before the folder is removed, or before a timed run starts.
 */
export function spareCopiesInProgress(instancesDir: string): boolean {
  const root = join(instancesDir, SPARES_ROOT);
  if (!existsSync(root)) return false;
  return readdirSync(root).some((image) => {
    const dir = join(root, image);
    return existsSync(dir) && readdirSync(dir).some((n) => n.startsWith(IN_PROGRESS));
  });
}

function listSpares(spares: string): string[] {
  return existsSync(spares) ? readdirSync(spares).filter((n) => n.startsWith(SPARE)) : [];
}
