/**
 * What an instance's server container is given, by the contract of the official `postgres`
 * images: where its data lives, where it reads the superuser's password and its init scripts,
 * and the environment its entrypoint initialises an empty data directory with. One definition
 * for the compose file and for the template data directory (dataTemplate.ts), so that an
 * instance started from the template is the one the entrypoint would have made.
 */
export const SERVER_DATA_PATH = '/var/lib/postgresql/data';
export const SERVER_PASSWORD_FILE = '/run/secrets/postgres-password';
export const SERVER_INIT_DIR = '/docker-entrypoint-initdb.d';

export const SERVER_ENV: Readonly<Record<string, string>> = {
  POSTGRES_USER: 'postgres',
  POSTGRES_PASSWORD_FILE: SERVER_PASSWORD_FILE,
  POSTGRES_DB: 'postgres',
  // Local logins by OS user only; every TCP login by SCRAM password.
  POSTGRES_INITDB_ARGS: '--auth-local=peer --auth-host=scram-sha-256',
  PGDATA: SERVER_DATA_PATH,
};

/**
 * Where the server's container sees its instance's backup area (its folder of the repository):
 * its archive_command writes the WAL archive there, and pg_basebackup and pg_dump write backups
 * there directly, so that gigabytes never pass through the engine's API.
 */
export const SERVER_BACKUP_AREA = '/var/lib/dbaas/backups';
/** ...and its WAL archive, the area's `wal/`. */
export const SERVER_ARCHIVE_PATH = `${SERVER_BACKUP_AREA}/wal`;

/**
 * Where the server's container sees the instance's `server/` folder (mounted read-only, as a
 * folder so that a renewed certificate renamed into place is seen at once): its TLS certificate
 * and key, and the pg_hba.conf dbaas renders. All three are dbaas's settings, never the user's.
 */
export const SERVER_TLS_DIR = '/etc/dbaas/server';

export function serverTlsSettings(): Record<string, string> {
  return {
    ssl: 'on',
    ssl_cert_file: `${SERVER_TLS_DIR}/server.crt`,
    ssl_key_file: `${SERVER_TLS_DIR}/server.key`,
    hba_file: `${SERVER_TLS_DIR}/pg_hba.conf`,
  };
}

/** Segments the archive command gave up on, one line each ("<segment> <time>"), in the data folder. */
export const ARCHIVE_GAPS_FILE = 'dbaas_archive_gaps';

/**
 * Continuous archiving, dbaas's own settings (users cannot set these: see pgParameters.ts). The
 * command copies a finished segment under a temporary name, flushes it to disk, and renames it,
 * so the archive never holds half a segment; a segment that is there already counts as archived
 * only when it is the same file (a server that crashed after archiving asks again). A failure
 * returns non-zero: PostgreSQL keeps the segment in pg_wal, retries, and goes on serving.
 *
 * While the archive cannot be written, pg_wal grows; past `maxPendingMb` the command gives the
 * segment up (returns 0, so PostgreSQL may recycle it) and writes it into the gaps file, rather
 * than let pg_wal fill the data disk and stop the server. Availability wins over the archive's
 * continuity there: restores across a gap are refused (the missing segment is named), and a new
 * base backup makes later moments restorable again.
 */
export function walArchiveSettings(timeoutSec: number, maxPendingMb: number, encryption: { age: string; recipient: string } | null = null): Record<string, string> {
  const a = SERVER_ARCHIVE_PATH;
  // Encrypted (to the backup key's public key): `<segment>.age`; one that is there was renamed
  // whole into place, so it stands (an encryption is never the same bytes twice to compare).
  const copy = encryption
    ? `if [ -f ${a}/%f.age ]; then true; else ${encryption.age} -r ${encryption.recipient} -o ${a}/%f.age.part %p && sync ${a}/%f.age.part && mv ${a}/%f.age.part ${a}/%f.age; fi`
    : `if [ -f ${a}/%f ]; then cmp -s %p ${a}/%f; else cp %p ${a}/%f.part && sync ${a}/%f.part && mv ${a}/%f.part ${a}/%f; fi`;
  // No "$" anywhere: docker-compose would read it as a variable of its own. du prints pg_wal
  // only when it holds at least the threshold; "%%" is a literal "%" to PostgreSQL.
  const giveUp =
    `{ du -s --threshold=${maxPendingMb}M pg_wal | grep -q pg_wal && printf '%%s ' %f >> ${ARCHIVE_GAPS_FILE} && ` +
    `date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ >> ${ARCHIVE_GAPS_FILE}; }`;
  return {
    archive_mode: 'on',
    archive_timeout: `${timeoutSec}s`,
    archive_command: `{ ${copy}; } || ${giveUp}`,
  };
}
