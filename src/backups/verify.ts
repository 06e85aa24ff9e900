import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { asDbaasError } from '../errors.js';
import { imageFor } from '../config/settings.js';
import type { Manager } from '../instances/manager.js';
import { AGE_IN_CONTAINER, decryptSmall, ENCRYPTED_SUFFIX, KEY_IN_CONTAINER, keyFor, lendKey } from './encryption.js';
import { hashFile } from './fileSink.js';
import type { Verification } from './manifest.js';
import { COUNT_SQL, recoverInto } from './recover.js';
import type { BackupLocation, BackupRepository } from './repository.js';
import { rolesToRestore } from './roles.js';
import { BACKUP_TOOL_TIMEOUT_MS, BASE_TAR, DUMP_FILE, PG_MANIFEST, ROLES_FILE } from './take.js';
import { missingSegments, replayPath, segmentNumber, WAL_SEGMENT_SIZE } from './wal.js';

/**
 * Verification of a backup. Always: every file against the manifest's size and sha256; for a
 * base backup, pg_verifybackup (PostgreSQL's own check of every file against pg_basebackup's
 * manifest, and of the WAL the backup holds) and the continuity of the archive after it; for a
 * dump, pg_restore's reading of its table of contents. With `restore`: the backup is restored
 * into a throw-away container (a base backup recovered to its consistent point, a dump restored
 * into a fresh cluster), the server started, and the rows per table counted, and compared with
 * the manifest's counts where it has them (a logical backup's, taken in the dump's snapshot).
 */

export interface VerifyOptions {
  restore?: boolean;
}

interface VerifyDeps {
  manager: Manager;
  repository: BackupRepository;
}

const BACKUP_MOUNT = '/dbaas-backup';

/** The files of the backup against its manifest; the problems found, in words. */
export async function checkFiles(location: BackupLocation): Promise<string[]> {
  const problems: string[] = [];
  for (const file of location.manifest.files) {
    const path = join(location.dir, file.name);
    if (!existsSync(path)) {
      problems.push(`${file.name} is missing`);
      continue;
    }
    const actual = await hashFile(path);
    if (actual.size !== file.size) problems.push(`${file.name} has ${actual.size} bytes, the manifest says ${file.size}`);
    else if (actual.sha256 !== file.sha256) problems.push(`${file.name} does not match its sha256 (damaged or changed since the backup)`);
  }
  return problems;
}

/** Segments missing from the archive after a base backup: where point-in-time restores from it would stop. */
function checkArchive(repository: BackupRepository, location: BackupLocation): string[] {
  const wal = location.manifest.wal;
  if (!wal) return [];
  const segments = replayPath(repository.walDir(location.manifest.instance.id), wal, WAL_SEGMENT_SIZE).segments;
  const last = segments.at(-1);
  if (!last || segmentNumber(last.name, WAL_SEGMENT_SIZE) <= segmentNumber(wal.endSegment, WAL_SEGMENT_SIZE)) return [];
  const missing = missingSegments(new Set(segments.map((s) => s.name)), wal.endSegment, last.name, WAL_SEGMENT_SIZE);
  return missing.map((name) => `WAL segment ${name} is missing from the archive: point-in-time restores from this backup stop before it`);
}

/** Runs a check in a throw-away container of the backup's image with the backup mounted read-only. */
async function inContainer(deps: VerifyDeps, location: BackupLocation, purpose: string, script: string, args: string[] = []): Promise<string> {
  const owner = statSync(location.dir);
  const lent = location.manifest.encrypted ? lendKey(keyFor(deps.manager.settings, location.manifest.id), owner.uid, owner.gid) : null;
  try {
    return await deps.manager.engine.runJob(imageFor(deps.manager.settings, location.manifest.instance.version), {
      purpose,
      label: 'verify',
      argv: ['bash', '-c', `set -euo pipefail\n${PLAIN}\n${script}`, 'verify', ...args],
      mounts: [{ host: location.dir, container: BACKUP_MOUNT, readOnly: true }, ...(lent?.mounts ?? [])],
      memory: 512 * 1024 * 1024,
      timeoutMs: BACKUP_TOOL_TIMEOUT_MS,
    });
  } finally {
    lent?.cleanup();
  }
}

/** `plain <file>`: a backup file's bytes, decrypted with the lent key when it is stored encrypted. */
const PLAIN = `plain() { if [ -f "$1${ENCRYPTED_SUFFIX}" ]; then ${AGE_IN_CONTAINER} -d -i ${KEY_IN_CONTAINER} "$1${ENCRYPTED_SUFFIX}"; else cat "$1"; fi; }`;

const PG_VERIFYBACKUP = `mkdir -p /tmp/v && chown postgres /tmp/v && chmod 700 /tmp/v
plain ${BACKUP_MOUNT}/${BASE_TAR} | runuser -u postgres -- tar -xf - -C /tmp/v
# pg_basebackup -D wrote its manifest beside the tar; pg_verifybackup reads it in the folder.
if [ -f ${BACKUP_MOUNT}/${PG_MANIFEST} ]; then runuser -u postgres -- tee /tmp/v/backup_manifest < ${BACKUP_MOUNT}/${PG_MANIFEST} >/dev/null; fi
runuser -u postgres -- "$(dirname "$(command -v postgres)")/pg_verifybackup" /tmp/v`;

const PG_RESTORE_LIST = `plain ${BACKUP_MOUNT}/${DUMP_FILE} | pg_restore -l >/dev/null`;

/** A dump restored into a fresh cluster: its roles (as a restore creates them), the database, the dump, the counts. */
const RESTORE_DUMP = `BIN=$(dirname "$(command -v postgres)")
as_pg() { runuser -u postgres -- "$@"; }
mkdir -p /tmp/pg && chown postgres /tmp/pg
as_pg "$BIN/initdb" -D /tmp/pg -U postgres --auth=peer >/dev/null
as_pg "$BIN/pg_ctl" -D /tmp/pg -o "-c listen_addresses=" -w start >/dev/null
printf '%s\\n' "$1" > /tmp/roles.sql; chmod 644 /tmp/roles.sql
as_pg psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE ROLE \\"$3\\" LOGIN" -f /tmp/roles.sql >/dev/null
as_pg psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE \\"$2\\"" >/dev/null
plain ${BACKUP_MOUNT}/${DUMP_FILE} | as_pg pg_restore --exit-on-error --single-transaction -d "$2"
as_pg psql -X -At -F $'\\t' -v ON_ERROR_STOP=1 -d "$2" -c "$4" | sed 's/^/dbaas-rows\\t/'
as_pg "$BIN/pg_ctl" -D /tmp/pg -m fast -w stop >/dev/null`;

function countsFrom(output: string): Record<string, number> {
  return Object.fromEntries(
    output
      .split('\n')
      .filter((line) => line.startsWith('dbaas-rows\t'))
      .map((line) => line.split('\t'))
      .map(([, table, n]) => [table ?? '', Number(n)]),
  );
}

/** The differences between the manifest's row counts and the restored ones, in words. */
export function compareCounts(expected: Record<string, number>, actual: Record<string, number>): string[] {
  const problems: string[] = [];
  for (const [table, n] of Object.entries(expected)) {
    if (!(table in actual)) problems.push(`table ${table} is missing after the restore`);
    else if (actual[table] !== n) problems.push(`table ${table} has ${actual[table]} rows after the restore, the manifest says ${n}`);
  }
  for (const table of Object.keys(actual)) if (!(table in expected)) problems.push(`table ${table} is not in the manifest`);
  return problems;
}

export async function verifyBackup(deps: VerifyDeps, location: BackupLocation, options: VerifyOptions): Promise<Verification> {
  const m = location.manifest;
  const problems = await checkFiles(location);
  const attempt = async (what: string, work: () => Promise<unknown>) => {
    try {
      await work();
    } catch (err) {
      problems.push(`${what}: ${asDbaasError(err).message}`);
    }
  };
  // Tools run on files whose bytes are already known to be wrong would only repeat the finding.
  const filesOk = problems.length === 0;
  if (m.type === 'physical') {
    problems.push(...checkArchive(deps.repository, location));
    if (filesOk) await attempt('pg_verifybackup', () => inContainer(deps, location, `verify ${m.id} with pg_verifybackup`, PG_VERIFYBACKUP));
    if (filesOk && options.restore) {
      await attempt('restore', async () => {
        const report = await recoverInto(deps.manager.engine, {
          image: imageFor(deps.manager.settings, m.instance.version),
          backupDir: location.dir,
          target: { kind: 'immediate' },
          endIsTarget: false,
          countDatabase: m.instance.database,
          key: m.encrypted ? keyFor(deps.manager.settings, m.id) : null,
          timeoutMs: BACKUP_TOOL_TIMEOUT_MS,
          purpose: `restore ${m.id} to check it`,
        });
        if (!report.rowCounts) problems.push(`the restored server did not answer for database ${m.instance.database}`);
      });
    }
  } else {
    if (filesOk) await attempt('pg_restore --list', () => inContainer(deps, location, `read the table of contents of ${m.id}`, PG_RESTORE_LIST));
    if (filesOk && options.restore) {
      await attempt('restore', async () => {
        const rolesFile = join(location.dir, m.encrypted ? `${ROLES_FILE}${ENCRYPTED_SUFFIX}` : ROLES_FILE);
        const rolesSql = m.encrypted ? decryptSmall(keyFor(deps.manager.settings, m.id), rolesFile) : readFileSync(rolesFile, 'utf8');
        const roles = rolesToRestore(rolesSql, m.instance.username);
        const output = await inContainer(deps, location, `restore ${m.id} to check it`, RESTORE_DUMP, [roles, m.instance.database, m.instance.username, COUNT_SQL]);
        problems.push(...compareCounts(m.rowCounts ?? {}, countsFrom(output)));
      });
    }
  }
  return { at: new Date().toISOString(), ok: problems.length === 0, restored: Boolean(options.restore), problems };
}
