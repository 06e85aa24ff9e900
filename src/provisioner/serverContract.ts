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

/** Where the server's container sees its instance's WAL archive (the repository's `wal/`). */
export const SERVER_ARCHIVE_PATH = '/var/lib/dbaas/wal-archive';

/**
 * Continuous archiving, dbaas's own settings (users cannot set these: see pgParameters.ts). The
 * command copies a finished segment under a temporary name, flushes it to disk, and renames it,
 * so the archive never holds half a segment; a segment that is there already counts as archived
 * only when it is the same file (a server that crashed after archiving asks again). A failure
 * returns non-zero: PostgreSQL keeps the segment in pg_wal, retries, and goes on serving.
 */
export function walArchiveSettings(timeoutSec: number): Record<string, string> {
  const a = SERVER_ARCHIVE_PATH;
  return {
    archive_mode: 'on',
    archive_timeout: `${timeoutSec}s`,
    archive_command: `if [ -f ${a}/%f ]; then cmp -s %p ${a}/%f; else cp %p ${a}/%f.part && sync ${a}/%f.part && mv ${a}/%f.part ${a}/%f; fi`,
  };
}
