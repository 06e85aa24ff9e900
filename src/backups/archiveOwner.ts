import { chmodSync, chownSync, existsSync, statSync } from 'node:fs';
import type { InstanceDeps } from '../instances/deps.js';
import type { InstanceRecord } from '../instances/schema.js';
import { containerNameFor } from '../provisioner/provisioner.js';
import { SERVER_ARCHIVE_PATH } from '../provisioner/serverContract.js';

/**
 * Gives the instance's WAL archive folder to the server's OS user, whose archive_command writes
 * into it. That user is whoever owns the data folder once the server runs (the image's entrypoint
 * makes it so), so this runs after a start: a chown here when dbaas may, else a chown inside the
 * server's container, as its root, when dbaas runs without the right to.
 */
export async function giveArchiveToServer(deps: Pick<InstanceDeps, 'engine' | 'provisioner' | 'logger'>, record: InstanceRecord): Promise<void> {
  const { provisioner, engine, logger } = deps;
  const wal = provisioner.backups.walDir(record.id);
  if (!existsSync(wal)) provisioner.ensureBackupArea(record);
  const data = statSync(provisioner.files(record.id).dataDir);
  const current = statSync(wal);
  if (current.uid === data.uid && current.gid === data.gid && (current.mode & 0o777) === 0o700) return;
  try {
    chownSync(wal, data.uid, data.gid);
    chmodSync(wal, 0o700);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    const result = await engine.execute(containerNameFor(record), {
      argv: ['sh', '-c', `chown "$(stat -c %u:%g "$PGDATA")" ${SERVER_ARCHIVE_PATH} && chmod 700 ${SERVER_ARCHIVE_PATH}`],
      user: 'root',
      timeoutMs: 30_000,
    });
    if (result.exitCode !== 0) logger.warn('could not give the WAL archive folder to the server', { instance: record.id, output: result.output.trim() });
  }
}

