import { statfsSync } from 'node:fs';
import { DbaasError } from '../errors.js';
import type { Manager } from '../instances/manager.js';
import type { InstanceRecord } from '../instances/schema.js';
import { containerNameFor } from '../provisioner/provisioner.js';
import type { UpgradeMethod } from './state.js';

/**
 * What an upgrade checks while the old server still runs, before anything is changed: every
 * reason to refuse is collected and reported together (UPGRADE_REFUSED, details.problems), so a
 * user fixes them in one go. pg_upgrade's own checks (types, reg* columns, the catalog) run in
 * the job of --method link, on the stopped cluster, before it links anything; these are the
 * checks both methods share, and the facts the job needs (the old cluster's locale and checksums).
 */

export interface ClusterFacts {
  encoding: string;
  collate: string;
  ctype: string;
  checksums: boolean;
  /** Every database's size together, in bytes. */
  sizeBytes: number;
  /** Extensions installed, per database. */
  extensions: Record<string, string[]>;
  preparedTransactions: number;
}

/** Headroom a new cluster needs besides its data: its catalog, WAL, and the job's logs. */
const BASE_NEED_BYTES = 256 * 1024 * 1024;

/** A value as one libpq connection-string word: a database named "a=b" is not read as a setting. */
function conninfoDb(name: string): string {
  return `dbname='${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

async function psql(manager: Manager, record: InstanceRecord, database: string, sql: string): Promise<string[]> {
  const result = await manager.engine.execute(containerNameFor(record), {
    argv: ['psql', '-X', '-At', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-d', conninfoDb(database), '-c', sql],
    user: 'postgres',
    timeoutMs: 60_000,
  });
  if (result.exitCode !== 0) throw new DbaasError('OPERATION_FAILED', `reading the cluster's facts failed: ${result.output.trim()}`);
  return result.output.split('\n').filter((line) => line !== '');
}

/** The databases a server accepts connections to (template0 does not). */
function databasesOf(manager: Manager, record: InstanceRecord): Promise<string[]> {
  return psql(manager, record, 'postgres', 'SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1');
}

/** The facts of the running old cluster (as its superuser, over its local socket). */
export async function clusterFacts(manager: Manager, record: InstanceRecord): Promise<ClusterFacts> {
  const [locale, checksums, prepared, size, databases] = await Promise.all([
    psql(manager, record, 'postgres', "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = 'template0'"),
    psql(manager, record, 'postgres', 'SHOW data_checksums'),
    psql(manager, record, 'postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
    psql(manager, record, 'postgres', 'SELECT sum(pg_database_size(oid))::bigint FROM pg_database'),
    databasesOf(manager, record),
  ]);
  const [encoding = 'UTF8', collate = 'C.UTF-8', ctype = 'C.UTF-8'] = (locale[0] ?? '').split('\t');
  const extensions: Record<string, string[]> = {};
  for (const db of databases) extensions[db] = await psql(manager, record, db, "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1");
  return {
    encoding,
    collate,
    ctype,
    checksums: checksums[0] === 'on',
    sizeBytes: Number(size[0] ?? 0),
    extensions,
    preparedTransactions: Number(prepared[0] ?? 0),
  };
}

export interface ExtensionUpdate {
  database: string;
  extension: string;
  installed: string;
  available: string;
}

/**
 * Extensions whose installed version is older than the one the new server ships: pg_upgrade and
 * a dump carry the installed version, and `ALTER EXTENSION ... UPDATE` is the owner's decision
 * (an update can change what its functions do), so they are reported, not run.
 */
export async function extensionUpdates(manager: Manager, record: InstanceRecord): Promise<ExtensionUpdate[]> {
  const out: ExtensionUpdate[] = [];
  for (const database of await databasesOf(manager, record)) {
    const rows = await psql(
      manager,
      record,
      database,
      'SELECT name, installed_version, default_version FROM pg_available_extensions WHERE installed_version IS NOT NULL AND installed_version <> default_version ORDER BY 1',
    );
    for (const row of rows) {
      const [extension = '', installed = '', available = ''] = row.split('\t');
      out.push({ database, extension, installed, available });
    }
  }
  return out;
}

/** The extensions the target image ships (its .control files). */
export async function availableExtensions(manager: Manager, image: string, version: number): Promise<Set<string>> {
  const out = await manager.engine.runJob(image, {
    purpose: `list the extensions of ${image}`,
    label: 'upgrade-check',
    argv: ['bash', '-c', `ls /usr/share/postgresql/${version}/extension/ | sed -n 's/\\.control$//p'`],
    mounts: [],
    timeoutMs: 60_000,
  });
  return new Set(out.split('\n').filter((line) => line !== ''));
}

/** Bytes free for the instance's folder (its file system). */
export function freeBytes(path: string): number {
  const stats = statfsSync(path);
  return stats.bavail * stats.bsize;
}

/** The reasons to refuse, in words; empty when the upgrade may go on. */
export function upgradeProblems(facts: ClusterFacts, available: Set<string>, free: number, method: UpgradeMethod, target: number): string[] {
  const problems: string[] = [];
  if (facts.preparedTransactions > 0) {
    problems.push(`${facts.preparedTransactions} prepared transaction(s) are open: COMMIT PREPARED or ROLLBACK PREPARED them first (pg_upgrade cannot carry them)`);
  }
  for (const [db, names] of Object.entries(facts.extensions)) {
    const missing = names.filter((name) => !available.has(name));
    if (missing.length > 0) problems.push(`database ${db} uses extension(s) ${missing.join(', ')}, which the PostgreSQL ${target} image does not ship`);
  }
  // --method link writes a new catalog and links the data files; dump writes everything again.
  const need = BASE_NEED_BYTES + (method === 'dump' ? Math.ceil(facts.sizeBytes * 1.2) : Math.ceil(facts.sizeBytes * 0.05));
  if (free < need) {
    problems.push(`the disk has ${mib(free)} free and --method ${method} needs about ${mib(need)} (the databases hold ${mib(facts.sizeBytes)})`);
  }
  return problems;
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MiB`;
}
