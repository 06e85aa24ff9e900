import { chmodSync, chownSync, existsSync, statSync } from 'node:fs';
import type { InstanceDeps } from '../instances/deps.js';
import type { InstanceRecord } from '../instances/schema.js';
import { containerNameFor } from '../provisioner/provisioner.js';
import { SERVER_ARCHIVE_PATH, SERVER_BACKUP_AREA } from '../provisioner/serverContract.js';

/**
 * Gives the instance's backup area and its WAL archive folder to the server's OS user, whose
 * archive_command, pg_basebackup and pg_dump write into them. That user is whoever owns the data
 * folder once the server runs (the image's entrypoint makes it so), so this runs after a start:
 * a chown here when dbaas may, else a chown inside the server's container, as its root, when
 * dbaas runs without the right to.
 */
export async function giveArchiveToServer(deps: Pick<InstanceDeps, 'engine' | 'provisioner' | 'logger'>, record: InstanceRecord): Promise<void> {
  const { provisioner, engine, logger } = deps;
  const wal = provisioner.backups.walDir(record.id);
  if (!existsSync(wal)) provisioner.ensureBackupArea(record);
  const data = statSync(provisioner.files(record.id).dataDir);
  const folders = [provisioner.backups.areaOf(record.id), wal];
  const owned = (path: string) => {
    const st = statSync(path);
    return st.uid === data.uid && st.gid === data.gid && (st.mode & 0o777) === 0o700;
  };
  if (folders.every(owned)) return;
  try {
    for (const path of folders) {
      chownSync(path, data.uid, data.gid);
      chmodSync(path, 0o700);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    const result = await engine.execute(containerNameFor(record), {
      argv: ['sh', '-c', `chown "$(stat -c %u:%g "$PGDATA")" ${SERVER_BACKUP_AREA} ${SERVER_ARCHIVE_PATH} && chmod 700 ${SERVER_BACKUP_AREA} ${SERVER_ARCHIVE_PATH}`],
      user: 'root',
      timeoutMs: 30_000,
    });
    if (result.exitCode !== 0) logger.warn('could not give the WAL archive folder to the server', { instance: record.id, output: result.output.trim() });
  }
}

