import { chownSync, copyFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { AGE_IN_CONTAINER, ENCRYPTED_SUFFIX, KEY_IN_CONTAINER, lendKey, type BackupKey } from './encryption.js';
import { join } from 'node:path';
import { DbaasError } from '../errors.js';
import { ARCHIVE_GAPS_FILE, SERVER_DATA_PATH } from '../provisioner/serverContract.js';
import type { InstanceEngine } from '../runtime/workload.js';
import { BASE_TAR } from './take.js';

/**
 * Recovery of a base backup into an empty data folder, in a one-off container of the instance's
 * image without network: unpack the tar as the server's user, start the server in recovery with
 * a restore_command reading the source's WAL archive (mounted read-only) and the target, wait
 * until it has promoted, stop it cleanly. The folder is then an ordinary cluster that a new
 * instance starts from. Archiving is off while it recovers: the source's archive is never
 * written, and the new instance archives into its own from its first start. It runs without hot
 * standby: no connection is needed before the promotion, and a standby's rule that its
 * max_connections (and other limits) be at least the source's then does not apply.
 *
 * PostgreSQL 13+ refuses to promote short of a target it never reached (FATAL "recovery ended
 * before configured recovery target was reached"). When nothing was committed between the end
 * of the archive and the target, that end is the state at the target: the caller knows it (the
 * archive closed a segment after the target) and allows the script to recover to the end then.
 */

/** `immediate`: as soon as the backup is consistent (a verification restores only the backup itself). */
export type RecoveryTarget = { kind: 'latest' } | { kind: 'immediate' } | { kind: 'time'; time: string } | { kind: 'lsn'; lsn: string };

const BACKUP_MOUNT = '/dbaas-backup';
const ARCHIVE_MOUNT = '/dbaas-source-wal';
/** WAL the archive never received (the segment an old server ended in), read after the archive's. */
const WAL_TAIL_MOUNT = '/dbaas-wal-tail';

/**
 * Rows per table of a database in one statement (each count runs through query_to_xml), as
 * "schema.table count" lines: what a verification compares with a logical backup's manifest.
 */
export const COUNT_SQL = `SELECT n.nspname || '.' || c.relname,
  (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  ORDER BY 1`;

/** Reads a segment from the mounted archive: decrypted with the lent key when it is encrypted. */
const RESTORE_COMMAND = `if [ -f ${ARCHIVE_MOUNT}/%f${ENCRYPTED_SUFFIX} ]; then ${AGE_IN_CONTAINER} -d -i ${KEY_IN_CONTAINER} -o %p ${ARCHIVE_MOUNT}/%f${ENCRYPTED_SUFFIX}; else cp ${ARCHIVE_MOUNT}/%f %p; fi`;

const SCRIPT = `set -euo pipefail
D=${SERVER_DATA_PATH}
BIN=$(dirname "$(command -v postgres)")
fallback=$1; count_db=$2; count_sql=$3; shift 3
as_pg() { runuser -u postgres -- "$@"; }
recover() {
  find "$D" -mindepth 1 -delete
  chown postgres:postgres "$D"; chmod 700 "$D"
  # Read by root (the backup's files are dbaas's, mode 0600), unpacked by the server's user.
  if [ -f ${BACKUP_MOUNT}/${BASE_TAR}${ENCRYPTED_SUFFIX} ]; then
    as_pg ${AGE_IN_CONTAINER} -d -i ${KEY_IN_CONTAINER} ${BACKUP_MOUNT}/${BASE_TAR}${ENCRYPTED_SUFFIX} | as_pg tar -xf - -C "$D"
  else
    as_pg tar -xf - -C "$D" < ${BACKUP_MOUNT}/${BASE_TAR}
  fi
  # Segments the archive lacks go into pg_wal, where recovery looks once restore_command has none.
  if [ -d ${WAL_TAIL_MOUNT} ]; then
    for f in ${WAL_TAIL_MOUNT}/*; do
      n=$(basename "$f")
      [[ $n =~ ^[0-9A-F]{24}$ ]] && [ ! -e "$D/pg_wal/$n" ] && as_pg cp "$f" "$D/pg_wal/$n"
    done
  fi
  as_pg touch "$D/recovery.signal"
  : > /tmp/recovery.log; chmod 666 /tmp/recovery.log
  as_pg "$BIN/postgres" -D "$D" -c listen_addresses= -c archive_mode=off -c hot_standby=off \\
    -c "restore_command=${RESTORE_COMMAND}" -c recovery_target_action=promote "$@" >>/tmp/recovery.log 2>&1 &
  pid=$!
  until [ "$(as_pg psql -X -At -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid" || true; return 1; fi
    sleep 0.2
  done
  if [ -n "$count_db" ]; then
    as_pg psql -X -At -F $'\\t' -v ON_ERROR_STOP=1 -d "$count_db" -c "$count_sql" | sed 's/^/dbaas-rows\\t/'
    echo dbaas-counted
  fi
  as_pg "$BIN/pg_ctl" -D "$D" stop -m fast -w >/dev/null
  wait "$pid" || true
  # The source's record of segments its archive command gave up on is not the new cluster's.
  rm -f "$D/${ARCHIVE_GAPS_FILE}"
}
if ! recover "$@"; then
  if [ "$fallback" = yes ] && grep -q 'recovery ended before configured recovery target was reached' /tmp/recovery.log; then
    echo "dbaas: no commit after the target in the archive; recovering to its end" >>/tmp/recovery.log
    recover || { tail -n 15 /tmp/recovery.log >&2; exit 3; }
  else
    tail -n 15 /tmp/recovery.log >&2; exit 3
  fi
fi
grep -E 'last completed transaction was at log time|redo done at|recovery stopping' /tmp/recovery.log || true`;

/** A target in words: "latest", "time 2026-...", "lsn 0/3000060", "immediate". */
export function describeTarget(target: RecoveryTarget): string {
  return target.kind === 'time' ? `time ${target.time}` : target.kind === 'lsn' ? `lsn ${target.lsn}` : target.kind;
}

/** The recovery settings for a target, as server arguments. */
export function targetArguments(target: RecoveryTarget): string[] {
  switch (target.kind) {
    case 'latest':
      return [];
    case 'immediate':
      return ['-c', 'recovery_target=immediate'];
    case 'time':
      // PostgreSQL's own notation ("2026-11-24 15:30:00.123+00"): the setting refuses ISO 8601's T and Z.
      return ['-c', `recovery_target_time=${target.time.replace('T', ' ').replace(/Z$/, '+00')}`];
    case 'lsn':
      return ['-c', `recovery_target_lsn=${target.lsn}`];
  }
}

export interface RecoveryReport {
  /** The time of the last transaction replayed, as PostgreSQL logged it; null when none was. */
  lastTransactionAt: string | null;
  /** Rows per table of the counted database, when one was asked for. */
  rowCounts: Record<string, number> | null;
  log: string[];
}

/** From the recovery log: "last completed transaction was at log time 2026-11-24 15:46:59.06717+00". */
export function parseRecoveryLog(output: string): RecoveryReport {
  const lines = output.split('\n').filter((line) => line.trim() !== '');
  const counted = lines.filter((line) => line.startsWith('dbaas-rows\t')).map((line) => line.split('\t'));
  const rowCounts = lines.includes('dbaas-counted') ? Object.fromEntries(counted.map(([, table, n]) => [table ?? '', Number(n)])) : null;
  const times = [...output.matchAll(/last completed transaction was at log time ([0-9-]+ [0-9:.]+(?:[+-][0-9:]+)?)/g)];
  const last = times.at(-1)?.[1];
  return {
    lastTransactionAt: last ? new Date(last.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')).toISOString() : null,
    rowCounts,
    log: lines.filter((line) => !line.startsWith('dbaas-rows\t') && line !== 'dbaas-counted'),
  };
}

export async function recoverInto(
  engine: InstanceEngine,
  request: {
    image: string;
    /** The folder to recover into; without one, the container's own volume (thrown away with it). */
    dataDir?: string;
    backupDir: string;
    /** The WAL archive to replay from; without one, only the backup's own WAL. */
    archiveDir?: string;
    /** A pg_wal folder whose segments continue the archive (a stopped server's last, unarchived one). */
    walTailDir?: string;
    /** A database whose rows per table are counted once the server has promoted. */
    countDatabase?: string;
    /** The backup key, lent to the container for encrypted backups and segments. */
    key?: BackupKey | null;
    target: RecoveryTarget;
    /** The timeline to follow (recovery_target_timeline): the newest by default. */
    timeline?: 'latest' | number;
    /** Whether a target the archive ends before may be taken as the archive's end (see above). */
    endIsTarget: boolean;
    timeoutMs: number;
    purpose: string;
  },
): Promise<RecoveryReport> {
  let output: string;
  // The server's user in the container reads the lent key: the backup folder's owner is that user.
  const owner = statSync(request.backupDir);
  const lent = request.key ? lendKey(request.key, owner.uid, owner.gid) : null;
  try {
    output = await engine.runJob(request.image, {
      purpose: request.purpose,
      label: 'restore',
      argv: ['bash', '-c', SCRIPT, 'recover', request.endIsTarget ? 'yes' : 'no', request.countDatabase ?? '', COUNT_SQL, ...targetArguments(request.target), '-c', `recovery_target_timeline=${request.timeline ?? 'latest'}`],
      mounts: [
        ...(request.dataDir ? [{ host: request.dataDir, container: SERVER_DATA_PATH }] : []),
        { host: request.backupDir, container: BACKUP_MOUNT, readOnly: true },
        ...(request.archiveDir ? [{ host: request.archiveDir, container: ARCHIVE_MOUNT, readOnly: true }] : []),
        ...(request.walTailDir ? [{ host: request.walTailDir, container: WAL_TAIL_MOUNT, readOnly: true }] : []),
        ...(lent?.mounts ?? []),
      ],
      memory: 512 * 1024 * 1024,
      timeoutMs: request.timeoutMs,
    });
  } catch (err) {
    const error = err as DbaasError;
    throw new DbaasError('OPERATION_FAILED', `recovering the backup failed: ${error.message}`, error.details, { cause: err });
  } finally {
    lent?.cleanup();
  }
  return parseRecoveryLog(output);
}

/**
 * Copies the timeline history files of the recovered cluster into the new instance's archive:
 * the server archived nothing while it recovered, and a later restore of the new instance
 * follows its timeline through these files.
 */
export function seedArchiveHistory(dataDir: string, walDir: string): void {
  const pgWal = join(dataDir, 'pg_wal');
  if (!existsSync(pgWal)) return;
  for (const name of readdirSync(pgWal).filter((n) => n.endsWith('.history'))) {
    const from = join(pgWal, name);
    const to = join(walDir, name);
    if (existsSync(to)) continue;
    copyFileSync(from, to);
    // The server's user reads them in a later restore, as it reads the segments it archived.
    const owner = statSync(from);
    chownSync(to, owner.uid, owner.gid);
  }
}
