import { AGE_IN_CONTAINER, ENCRYPTED_SUFFIX } from './encryption.js';
import { join } from 'node:path';
import pg from 'pg';
import { DbaasError } from '../errors.js';
import type { LoginTarget } from '../runtime/readiness.js';
import type { InstanceEngine, StreamResult } from '../runtime/workload.js';
import { hashFile, hashWhileWritten, syncPath } from './fileSink.js';
import type { BackupFile, WalRange } from './manifest.js';
import { parseLsn, segmentBefore, segmentOf } from './wal.js';

/**
 * Taking a backup of a running server with PostgreSQL's own tools, run inside the server's
 * container as its OS user over the local socket (peer authentication: no password, no new
 * login, nothing the application role can take away), their output streamed into the backup's
 * files through a hash. Nothing here decides whether the result is listed: the caller commits
 * the part folder only when every step succeeded.
 */

export interface TakeContext {
  engine: InstanceEngine;
  /** The server's container. */
  container: string;
  /** The superuser's login over TCP, for the snapshot of a logical backup. */
  superuser: LoginTarget;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Encrypt to this age recipient (the backup key's public key) inside the container. */
  recipient?: string;
}

/** How long a backup tool, a recovery or a verification may run before it is given up. */
export const BACKUP_TOOL_TIMEOUT_MS = 6 * 3600_000;

export const BASE_TAR = 'base.tar';
/** An encrypted base backup: the tar with pg_basebackup's manifest inside, through age. */
export const BASE_TAR_ENCRYPTED = `${BASE_TAR}${ENCRYPTED_SUFFIX}`;
/** pg_basebackup's own manifest, beside the tar (a checksum of every file in it, the WAL range). */
export const PG_MANIFEST = 'backup_manifest';
export const DUMP_FILE = 'database.pgdump';
export const ROLES_FILE = 'roles.sql';

function failed(what: string, result: StreamResult): DbaasError {
  const lines = result.stderr.trim().split('\n').slice(-8).join('\n');
  return new DbaasError('BACKUP_FAILED', `${what} failed (exit code ${result.exitCode})${lines ? `:\n${lines}` : ''}`, { exitCode: result.exitCode });
}

/**
 * Runs a tool inside the server's container that writes its files itself into the backup's part
 * folder (the backup area is mounted there) and flushes them, as `pg_basebackup -D` and
 * `pg_dump -f` do: the bytes never cross the engine's API. dbaas hashes the first (large) file
 * while it is written, following it as it grows, so the hash costs no time after the tool ends;
 * the others are hashed when it has ended. (A pipe through tee into sha256sum inside the
 * container cost 1.5 times the tool's own time on a gigabyte.)
 */
async function toolWrites(ctx: TakeContext, part: PartFolder, names: string[], tool: string[], what: string): Promise<{ files: BackupFile[]; stderr: string }> {
  const running = ctx.engine.stream(ctx.container, {
    argv: tool,
    user: 'postgres',
    timeoutMs: ctx.timeoutMs,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  const [first, ...rest] = names.map((name) => join(part.onHost, name));
  const following = hashWhileWritten(first as string, running);
  const [ran, hashed] = await Promise.allSettled([running, following]);
  if (ran.status === 'rejected') throw ran.reason;
  if (ran.value.exitCode !== 0) throw failed(what, ran.value);
  if (hashed.status === 'rejected') throw hashed.reason;
  const files: BackupFile[] = [{ name: names[0] as string, ...hashed.value }];
  for (const [i, path] of rest.entries()) files.push({ name: names[i + 1] as string, ...(await hashFile(path)) });
  // The tools flush their files; a flush here costs nothing then, and holds when one did not.
  for (const name of names) syncPath(join(part.onHost, name));
  return { files, stderr: ran.value.stderr };
}

/** A tool whose stdout goes through age into `file` (in the container): `tool | age -r R -o file`. */
function encrypted(ctx: TakeContext, file: string, tool: string[]): string[] {
  return ['bash', '-c', `set -euo pipefail; out="$1"; shift; "$@" | ${AGE_IN_CONTAINER} -r ${ctx.recipient} -o "$out"`, 'backup', file, ...tool];
}

/** A backup's part folder, as dbaas sees it and as the server's container sees it. */
export interface PartFolder {
  onHost: string;
  inServer: string;
}

/** The server's version and WAL segment size, asked over the local socket. */
async function serverFacts(ctx: TakeContext): Promise<{ version: string; segmentSize: number }> {
  const result = await ctx.engine.execute(ctx.container, {
    argv: ['psql', '-X', '-At', '-d', 'postgres', '-c', "SELECT current_setting('server_version'), current_setting('wal_segment_size')"],
    user: 'postgres',
    timeoutMs: 30_000,
  });
  const [version, size] = result.output.trim().split('|');
  if (result.exitCode !== 0 || !version || !size) throw new DbaasError('BACKUP_FAILED', `could not ask the server its version: ${result.output.trim()}`);
  return { version, segmentSize: parsePgSize(size) };
}

/** '16MB' -> bytes, as SHOW prints memory-like settings. */
export function parsePgSize(text: string): number {
  const m = /^(\d+)\s*(B|kB|MB|GB)?$/.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const unit = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[(m[2] ?? 'B') as 'B'];
  return Number(m[1]) * unit;
}

/** The WAL range pg_basebackup reports with -v ("write-ahead log start point: 0/2000028 on timeline 1"). */
export function walRangeFromLog(stderr: string, segmentSize: number): WalRange {
  const start = /write-ahead log start point: ([0-9A-F]+\/[0-9A-F]+) on timeline (\d+)/.exec(stderr);
  const end = /write-ahead log end point: ([0-9A-F]+\/[0-9A-F]+)/.exec(stderr);
  if (!start?.[1] || !start[2] || !end?.[1]) throw new DbaasError('BACKUP_FAILED', 'pg_basebackup did not report its WAL range');
  const timeline = Number(start[2]);
  return {
    timeline,
    startLsn: start[1],
    endLsn: end[1],
    startSegment: segmentOf(timeline, parseLsn(start[1]), segmentSize),
    endSegment: segmentBefore(timeline, parseLsn(end[1]), segmentSize),
  };
}

/**
 * A base backup: one tar of the whole cluster with pg_basebackup's own manifest inside (a
 * checksum of every file, the WAL range), and the WAL that makes it consistent (-X fetch), so it
 * restores even without the archive. A fast checkpoint starts it at once. The manifest's
 * checksums are PostgreSQL's default CRC32C: they find damage in a file (pg_verifybackup), and
 * the tar's own sha256, which dbaas computes as it arrives, finds any change to it; SHA-256 in
 * the server as well cost its CPU a second pass over every byte.
 */
export async function takePhysical(ctx: TakeContext, part: PartFolder, label: string): Promise<{ files: BackupFile[]; wal: WalRange; serverVersion: string }> {
  const facts = await serverFacts(ctx);
  const { files, stderr } = ctx.recipient
    ? await toolWrites(
        ctx,
        part,
        [BASE_TAR_ENCRYPTED],
        encrypted(ctx, `${part.inServer}/${BASE_TAR_ENCRYPTED}`, ['pg_basebackup', '-D', '-', '-F', 't', '-X', 'fetch', '-c', 'fast', '-v', '-l', label]),
        'pg_basebackup | age',
      )
    : await toolWrites(
        ctx,
        part,
        [BASE_TAR, PG_MANIFEST],
        ['pg_basebackup', '-D', part.inServer, '-F', 't', '-X', 'fetch', '-c', 'fast', '-v', '-l', label],
        'pg_basebackup',
      );
  syncPath(part.onHost);
  return { files, wal: walRangeFromLog(stderr, facts.segmentSize), serverVersion: facts.version };
}

/** The tables of the application database and their rows, counted in the transaction's snapshot. */
async function countRows(client: pg.Client): Promise<Record<string, number>> {
  const tables = await client.query<{ name: string; ident: string }>(
    `SELECT n.nspname || '.' || c.relname AS name, format('%I.%I', n.nspname, c.relname) AS ident
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      ORDER BY 1`,
  );
  const counts: Record<string, number> = {};
  for (const t of tables.rows) {
    // The identifier comes from the catalog, quoted by format('%I').
    const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.ident}`);
    counts[t.name] = Number(rows[0]?.n ?? 0);
  }
  return counts;
}

/**
 * A logical backup: pg_dump's custom format of the application database, and the roles
 * (pg_dumpall --roles-only). The dump runs in a snapshot exported by a transaction that counts
 * every table's rows in that same snapshot, so the counts are exactly what the dump holds.
 */
export async function takeLogical(
  ctx: TakeContext,
  part: PartFolder,
  database: string,
): Promise<{ files: BackupFile[]; rowCounts: Record<string, number>; serverVersion: string }> {
  const client = new pg.Client({ ...ctx.superuser, database, connectionTimeoutMillis: 10_000, application_name: 'dbaas-backup' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await client.query<{ id: string; version: string }>("SELECT pg_export_snapshot() AS id, current_setting('server_version') AS version")).rows[0];
    if (!snapshot) throw new DbaasError('BACKUP_FAILED', 'the server exported no snapshot');
    const rowCounts = await countRows(client);
    const dumpTool = ['pg_dump', '-F', 'c', '--snapshot', snapshot.id, '-d', database];
    const rolesTool = ['pg_dumpall', '--roles-only'];
    const [dumpFile, rolesFile] = ctx.recipient ? [DUMP_FILE + ENCRYPTED_SUFFIX, ROLES_FILE + ENCRYPTED_SUFFIX] : [DUMP_FILE, ROLES_FILE];
    const into = (name: string) => `${part.inServer}/${name}`;
    const dump = await toolWrites(ctx, part, [dumpFile], ctx.recipient ? encrypted(ctx, into(dumpFile), dumpTool) : [...dumpTool, '-f', into(dumpFile)], 'pg_dump');
    const roles = await toolWrites(ctx, part, [rolesFile], ctx.recipient ? encrypted(ctx, into(rolesFile), rolesTool) : [...rolesTool, '-f', into(rolesFile)], 'pg_dumpall --roles-only');
    await client.query('COMMIT');
    syncPath(part.onHost);
    return { files: [...dump.files, ...roles.files], rowCounts, serverVersion: snapshot.version };
  } catch (err) {
    if (err instanceof DbaasError) throw err;
    throw new DbaasError('BACKUP_FAILED', `logical backup failed: ${(err as Error).message}`, undefined, { cause: err });
  } finally {
    await client.end().catch(() => undefined);
  }
}
