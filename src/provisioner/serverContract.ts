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
