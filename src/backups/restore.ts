import { DEFAULT_PROJECT } from '../auth/project.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { asDbaasError, DbaasError } from '../errors.js';
import type { CreatedInstance, Manager } from '../instances/manager.js';
import { stepWithProgress, type ProgressFn } from '../instances/progress.js';
import type { InstanceRecord } from '../instances/schema.js';
import type { Logger } from '../log/logger.js';
import { containerNameFor } from '../provisioner/provisioner.js';
import type { StreamResult } from '../runtime/workload.js';
import { archiveCurrentSegment } from './archiveFlush.js';
import { backupKey, decryptSmall, ENCRYPTED_SUFFIX, keyFor, type BackupKey } from './encryption.js';
import { BACKUP_ID, type InstanceIdentity } from './manifest.js';
import { describeTarget, recoverInto, seedArchiveHistory, type RecoveryReport, type RecoveryTarget } from './recover.js';
import type { BackupLocation, BackupRepository } from './repository.js';
import { rolesToRestore } from './roles.js';
import type { RestoreInput } from './schema.js';
import type { BackupService } from './service.js';
import { BACKUP_TOOL_TIMEOUT_MS, DUMP_FILE, ROLES_FILE } from './take.js';
import { checkFiles } from './verify.js';
import { archivedSegments, latestTimeline, missingSegments, onTimelinePath, parseLsn, replayPath, segmentNumber, timelineHistory, WAL_SEGMENT_SIZE } from './wal.js';

/**
 * A restore into a new instance, in two halves: the plan (which backup, whether the archive
 * reaches the target; everything that can refuse, refused before anything is made) and the run
 * (an instance created with the recovered data folder, through the create saga, so that a
 * failure at any step leaves nothing behind).
 */

export interface RestoreDeps {
  manager: Manager;
  repository: BackupRepository;
  logger: Logger;
  service: BackupService;
}

export interface RestorePlan {
  identity: InstanceIdentity;
  backup: BackupLocation;
  target: RecoveryTarget;
  walDir: string;
  /** When the newest archived segment was written; null without any. */
  archiveEndsAt: string | null;
  /** A time target with no commit after it in the archive ends at the archive's end. */
  endIsTarget: boolean;
  /** The timeline to follow: the newest, or a backup's own when it lies off the newest's path. */
  timeline: 'latest' | number;
}


function unreachable(message: string, details?: Record<string, unknown>): DbaasError {
  return new DbaasError('RESTORE_TARGET_UNREACHABLE', message, details);
}

/** The archive of a running source brought up to now before a restore of "now"; refused when archiving fails. */
async function flushArchive(deps: RestoreDeps, record: InstanceRecord, timeoutMs = 60_000): Promise<void> {
  const { segment, archived } = await archiveCurrentSegment(deps.manager.engine, record, deps.repository.walDir(record.id), timeoutMs);
  if (archived) return;
  const status = await deps.service.archiveStatus(record);
  throw unreachable(
    `the archive of ${record.name} did not receive WAL segment ${segment} within ${timeoutMs / 1000} s: archiving is failing` +
      (status.lastFailedWal ? ` (last failure: ${status.lastFailedWal} at ${status.lastFailedAt})` : '') +
      '; restore to an earlier time with --to-time, or fix the repository',
    { segment, archive: status },
  );
}

function targetOf(input: RestoreInput): RecoveryTarget {
  if (input.toTime) return { kind: 'time', time: input.toTime };
  if (input.toLsn) return { kind: 'lsn', lsn: input.toLsn.toUpperCase() };
  return { kind: 'latest' };
}

/** Chooses the backup and checks the archive; refuses with a reason before anything is made. */
export async function planRestore(deps: RestoreDeps, source: string, input: RestoreInput): Promise<RestorePlan> {
  const { repository } = deps;
  const explicit = input.backup ?? (BACKUP_ID.test(source) ? source : undefined);
  const chosen = explicit ? repository.find(explicit) : null;
  const identity = chosen
    ? (repository.identity(chosen.area) ?? { ...chosen.manifest.instance, project: DEFAULT_PROJECT, createdAt: chosen.manifest.startedAt, deletedAt: null })
    : await deps.service.identity(source);
  const target = targetOf(input);
  const walDir = repository.walDir(identity.id);

  if (chosen?.manifest.type === 'logical') {
    if (target.kind !== 'latest') throw unreachable(`${chosen.manifest.id} is a logical backup: it restores the moment it was taken, not a point in time`);
    await assertIntact(chosen);
    if (chosen.manifest.encrypted) keyFor(deps.manager.settings, chosen.manifest.id);
    return { identity, backup: chosen, target, walDir, archiveEndsAt: null, endIsTarget: false, timeline: 'latest' };
  }

  if (target.kind === 'time' && Date.parse(target.time) > Date.now()) throw unreachable(`${target.time} is in the future`);

  // A live source is asked to archive what it has, when the target may lie past the archive's end.
  const live = await deps.manager.record(identity.id).catch(() => null);
  if (live && (await deps.manager.serverRunning(live))) {
    const ends = archivedSegments(walDir).at(-1)?.mtimeMs ?? 0;
    if (target.kind !== 'time' || Date.parse(target.time) > ends) await flushArchive(deps, live);
  }

  // Restores follow the newest timeline; a base backup of a branch an in-place restore left
  // behind is not on its path (PostgreSQL refuses it: "not a child of this server's history").
  const newest = latestTimeline(walDir);
  const newestHistory = timelineHistory(walDir, newest);
  const onPath = (b: BackupLocation) => {
    const wal = b.manifest.wal;
    return wal !== null && onTimelinePath(newestHistory, newest, wal.timeline, parseLsn(wal.endLsn));
  };
  const physical = repository.backupsIn(repository.areaOf(identity.id)).filter((b) => b.manifest.type === 'physical' && b.manifest.wal);
  const fits = (b: BackupLocation): boolean => {
    const wal = b.manifest.wal;
    if (!wal) return false;
    if (target.kind === 'time') return Date.parse(b.manifest.finishedAt) <= Date.parse(target.time);
    if (target.kind === 'lsn') return parseLsn(wal.endLsn) <= parseLsn(target.lsn);
    return true;
  };
  const backup = chosen ?? physical.filter((b) => onPath(b) && fits(b)).at(-1);
  if (!backup) {
    const oldest = physical[0];
    throw unreachable(
      physical.length === 0
        ? `${identity.name} has no physical backup to start a restore from; take one with "dbaas backup create ${identity.name}"`
        : `no physical backup of ${identity.name} ends before the target; the oldest ends at ${oldest?.manifest.finishedAt}`,
      { instance: identity.id },
    );
  }
  if (!fits(backup)) throw unreachable(`${backup.manifest.id} ends after the target (at ${backup.manifest.finishedAt}); a restore cannot stop before a backup's end`);

  // A backup named by hand off that path replays its own timeline (the state before an in-place restore).
  const path = backup.manifest.wal ? replayPath(walDir, backup.manifest.wal, WAL_SEGMENT_SIZE) : { timeline: newest, newest: true, segments: archivedSegments(walDir) };
  const segments = path.segments;
  const last = segments.at(-1);
  const archiveEndsAt = last ? new Date(last.mtimeMs).toISOString() : null;
  if (target.kind === 'time' && (!last || last.mtimeMs < Date.parse(target.time))) {
    throw unreachable(
      `the archive of ${identity.name} reaches only to ${archiveEndsAt ?? 'the backup'}, before ${target.time}; restore --latest, or to an earlier time`,
      { archiveEndsAt },
    );
  }
  if (target.kind === 'lsn' && last && parseLsn(target.lsn) >= (segmentNumber(last.name, WAL_SEGMENT_SIZE) + 1n) * BigInt(WAL_SEGMENT_SIZE)) {
    throw unreachable(`the archive of ${identity.name} ends at segment ${last.name}, before ${target.lsn}; restore --latest, or to an earlier position`);
  }
  // WAL the replay needs after the backup's own: a gap there would end the replay early, silently.
  const wal = backup.manifest.wal;
  if (wal && last && segmentNumber(last.name, WAL_SEGMENT_SIZE) > segmentNumber(wal.endSegment, WAL_SEGMENT_SIZE)) {
    const missing = missingSegments(new Set(segments.map((s) => s.name)), wal.endSegment, last.name, WAL_SEGMENT_SIZE);
    if (missing.length > 0) {
      throw new DbaasError('BACKUP_CORRUPT', `the WAL archive of ${identity.name} lacks segment(s) ${missing.join(', ')}: a replay from ${backup.manifest.id} would stop there`, {
        missing,
      });
    }
  }
  await assertIntact(backup);
  if (backup.manifest.encrypted || segments.some((s) => s.file.endsWith(ENCRYPTED_SUFFIX))) keyFor(deps.manager.settings, `${backup.manifest.id} or its archive`);
  return { identity, backup, target, walDir, archiveEndsAt, endIsTarget: target.kind === 'time', timeline: path.newest ? 'latest' : path.timeline };
}

/** A backup whose files do not match its manifest is never restored (a restore reads every byte anyway). */
async function assertIntact(backup: BackupLocation): Promise<void> {
  const problems = await checkFiles(backup);
  if (problems.length > 0) {
    throw new DbaasError('BACKUP_CORRUPT', `backup ${backup.manifest.id} is damaged: ${problems.join('; ')}`, { backup: backup.manifest.id, problems });
  }
}

/** Recovers a plan's base backup and archived WAL into an instance's data folder (new, or beside its data/). */
function recoverPlan(manager: Manager, plan: RestorePlan, record: InstanceRecord, dataDir: string, purpose: string): Promise<RecoveryReport> {
  return recoverInto(manager.engine, {
    image: record.image,
    dataDir,
    backupDir: plan.backup.dir,
    archiveDir: plan.walDir,
    target: plan.target,
    timeline: plan.timeline,
    key: backupKey(manager.settings),
    endIsTarget: plan.endIsTarget,
    timeoutMs: BACKUP_TOOL_TIMEOUT_MS,
    purpose,
  });
}

/** Runs a plan: a new instance from the recovered folder (physical) or from a dump (logical). */
export async function runRestore(
  deps: RestoreDeps,
  plan: RestorePlan,
  input: RestoreInput,
  options: { progress?: ProgressFn; signal?: AbortSignal },
): Promise<CreatedInstance> {
  const { manager, repository } = deps;
  const create = {
    name: input.as as string,
    // A restore or a clone lands in the project of what it restores.
    project: plan.identity.project,
    // The backup's own version: one taken before a major upgrade restores on its old version.
    version: plan.backup.manifest.instance.version,
    database: plan.identity.database,
    username: plan.identity.username,
    ...(input.memory !== undefined ? { memory: input.memory } : {}),
    ...(input.cpus !== undefined ? { cpus: input.cpus } : {}),
    ...(input.port !== undefined ? { port: input.port } : {}),
  };
  const backup = plan.backup;
  if (backup.manifest.type === 'physical') {
    return manager.create(create, options.progress, options.signal, {
      message: `recover ${backup.manifest.id} and replay the archived WAL (target: ${describeTarget(plan.target)})`,
      fill: async (record, files) => {
        const report = await recoverPlan(manager, plan, record, files.dataDir, `recover ${backup.manifest.id} into ${record.name}`);
        seedArchiveHistory(files.dataDir, repository.walDir(record.id));
        deps.logger.info('backup recovered', { instance: record.id, backup: backup.manifest.id, lastTransactionAt: report.lastTransactionAt });
      },
    });
  }
  const created = await manager.create(create, options.progress, options.signal);
  try {
    await stepWithProgress(options.progress, 'restore', `restore the roles and the dump of ${backup.manifest.id}`, async () => {
      const record = await manager.record(created.id);
      await restoreLogical(manager, record, backup);
    });
    return created;
  } catch (err) {
    await manager.delete(created.id, { purgeBackups: true }).catch(() => undefined);
    const error = asDbaasError(err);
    throw new DbaasError('OPERATION_FAILED', `restoring ${backup.manifest.id} failed (the new instance was removed): ${error.message}`, error.details, { cause: err });
  }
}

/** An encrypted file decrypted into a temporary 0700 folder; BACKUP_CORRUPT with age's reason when it cannot be. */
async function decryptToTemporary(key: BackupKey, path: string, backupId: string): Promise<{ path: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'dbaas-restore-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const out = join(dir, 'plain');
  try {
    await promisify(execFile)(key.ageBinary, ['-d', '-i', key.identityFile, '-o', out, path]);
    return { path: out, cleanup };
  } catch (err) {
    cleanup();
    throw new DbaasError('BACKUP_CORRUPT', `cannot decrypt ${backupId}: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`);
  }
}

/** Feeds a logical backup to a new instance's server: its roles first, then the dump, in one transaction. */
export async function restoreLogical(manager: Manager, record: InstanceRecord, backup: BackupLocation): Promise<void> {
  const container = containerNameFor(record);
  const key = backup.manifest.encrypted ? keyFor(manager.settings, backup.manifest.id) : null;
  const file = (base: string) => join(backup.dir, key ? `${base}${ENCRYPTED_SUFFIX}` : base);
  const rolesSql = key ? decryptSmall(key, file(ROLES_FILE)) : readFileSync(file(ROLES_FILE), 'utf8');
  const roles = rolesToRestore(rolesSql, record.username);
  const rolesRun = await manager.engine.stream(container, {
    argv: ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-f', '-'],
    user: 'postgres',
    stdin: Readable.from([roles]),
    timeoutMs: 10 * 60_000,
  });
  if (rolesRun.exitCode !== 0) throw new DbaasError('OPERATION_FAILED', `restoring the roles failed: ${rolesRun.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  // An encrypted dump is decrypted on the host first, into a 0700 folder removed afterwards: a
  // decryption piped into pg_restore while it ran once left pg_restore an empty input (read 0
  // bytes) without a word from age; decrypted first, a failure is age's own and comes first.
  const plain = key ? await decryptToTemporary(key, file(DUMP_FILE), backup.manifest.id) : null;
  let dumpRun: StreamResult;
  try {
    dumpRun = await manager.engine.stream(container, {
      argv: ['pg_restore', '--exit-on-error', '--single-transaction', '-d', record.database],
      user: 'postgres',
      stdin: createReadStream(plain?.path ?? file(DUMP_FILE)),
      timeoutMs: BACKUP_TOOL_TIMEOUT_MS,
    });
  } finally {
    plain?.cleanup();
  }
  if (dumpRun.exitCode !== 0) throw new DbaasError('OPERATION_FAILED', `pg_restore failed: ${dumpRun.stderr.trim().split('\n').slice(-5).join(' | ')}`);
}

/**
 * A restore in place: the instance's own data replaced by a recovered copy. In order, holding
 * the instance's operation claim: a safety backup of the current state (a base backup, listed
 * with trigger "safety"); the recovery into a folder beside data/ while the instance still
 * serves; then the only downtime: stop, swap the folders, start. A failure before the swap
 * leaves the instance untouched and running; a failure after it puts the old folder back and
 * starts the instance on it. The replaced folder is removed once the new data runs.
 */
export async function restoreInPlace(
  deps: RestoreDeps,
  plan: RestorePlan,
  options: { progress?: ProgressFn; signal?: AbortSignal },
): Promise<{ safetyBackup: string }> {
  const { manager, repository, service, logger } = deps;
  if (plan.backup.manifest.type !== 'physical') {
    throw new DbaasError('VALIDATION_FAILED', `${plan.backup.manifest.id} is a logical backup; restore it into a new instance (an in-place restore starts from a base backup)`, {
      field: 'inPlace',
    });
  }
  return manager.withOperation(plan.identity.id, 'restore', async (record) => {
    if (plan.backup.manifest.instance.version !== record.version) {
      throw new DbaasError(
        'VALIDATION_FAILED',
        `${plan.backup.manifest.id} is a PostgreSQL ${plan.backup.manifest.instance.version} backup and ${record.name} runs ${record.version}: restore it into a new instance (--as), or roll the upgrade back`,
        { field: 'inPlace' },
      );
    }
    if (!(await manager.serverRunning(record))) {
      throw new DbaasError('INSTANCE_NOT_RUNNING', `${record.name} must run for its safety backup; start it first`, { instance: record.id });
    }
    const safety = await service.takeHeld(record, 'physical', `safety backup before the in-place restore (target: ${describeTarget(plan.target)})`, 'safety', options);
    const files = manager.files(record);
    const { restoringDataDir: staging, replacedDataDir: previous } = files;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { mode: 0o700 });
    try {
      await stepWithProgress(options.progress, 'recover', `recover ${plan.backup.manifest.id} beside the running instance (target: ${describeTarget(plan.target)})`, () =>
        recoverPlan(manager, plan, record, staging, `recover ${plan.backup.manifest.id} for ${record.name}`),
      );
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      throw err;
    }
    await manager.stopHeld(record, options.progress);
    try {
      rmSync(previous, { recursive: true, force: true });
      renameSync(files.dataDir, previous);
      renameSync(staging, files.dataDir);
      seedArchiveHistory(files.dataDir, repository.walDir(record.id));
      await manager.startHeld(record, options.progress);
    } catch (err) {
      const error = asDbaasError(err);
      logger.error('in-place restore failed after the swap; putting the old data back', { instance: record.id, error: error.message });
      await manager.stopHeld(record).catch(() => undefined);
      if (existsSync(previous)) {
        rmSync(files.dataDir, { recursive: true, force: true });
        renameSync(previous, files.dataDir);
      }
      await manager.startHeld(record).catch((e: unknown) => logger.error('could not start the instance on its old data', { instance: record.id, error: asDbaasError(e).message }));
      throw new DbaasError('OPERATION_FAILED', `the in-place restore of ${record.name} failed and was rolled back: ${error.message}`, { safetyBackup: safety.id });
    }
    rmSync(previous, { recursive: true, force: true });
    rmSync(staging, { recursive: true, force: true });
    logger.info('restored in place', { instance: record.id, backup: plan.backup.manifest.id, target: describeTarget(plan.target), safetyBackup: safety.id });
    return { safetyBackup: safety.id };
  });
}
