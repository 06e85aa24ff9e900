import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
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
 * Fills an instance's empty data folder with a copy of the template, owners and modes kept
 * (the server's user owns its files). Sparse: the template's first WAL segment is mostly zeros,
 * and writing them took most of the copy's time. On failure the folder is emptied again, so
 * the caller can fall back to letting the entrypoint initialise it.
 */
export async function seedDataDir(template: string, dataDir: string): Promise<void> {
  if (readdirSync(dataDir).length > 0) throw new Error(`${dataDir} is not empty`);
  try {
    await run('cp', ['-a', '--sparse=always', `${template}/.`, `${dataDir}/`]);
  } catch (err) {
    for (const entry of readdirSync(dataDir)) rmSync(join(dataDir, entry), { recursive: true, force: true });
    throw new Error(`copying the template data directory failed: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`);
  }
}
