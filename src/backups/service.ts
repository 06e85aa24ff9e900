import { DEFAULT_PROJECT } from '../auth/project.js';
import { chownSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DbaasError, notFound } from '../errors.js';
import type { CreatedInstance, Manager } from '../instances/manager.js';
import { stepWithProgress, type ProgressFn } from '../instances/progress.js';
import type { InstanceRecord, InstanceView } from '../instances/schema.js';
import type { Logger } from '../log/logger.js';
import { MetricsReader } from '../monitoring/metricsReader.js';
import { containerNameFor, type Provisioner } from '../provisioner/provisioner.js';
import { ARCHIVE_GAPS_FILE, SERVER_BACKUP_AREA } from '../provisioner/serverContract.js';
import { parseInput } from '../validate.js';
import { giveArchiveToServer } from './archiveOwner.js';
import { backupKey, type BackupKey } from './encryption.js';
import type { BackupFile, BackupManifest, InstanceIdentity, WalRange } from './manifest.js';
import { newBackupId, type BackupLocation, type BackupRepository } from './repository.js';
import { describeTarget, recoverInto, seedArchiveHistory } from './recover.js';
import { planRestore, restoreInPlace, runRestore, type RestorePlan } from './restore.js';
import {
  CreateBackupSchema,
  BackupScheduleInputSchema,
  RestoreSchema,
  type ArchiveStatus,
  type BackupSchedule,
  type RestoreInput,
  type BackupView,
  type InstanceBackupStatus,
} from './schema.js';
import { parseCron } from './scheduler.js';
import { BACKUP_TOOL_TIMEOUT_MS, takeLogical, takePhysical } from './take.js';
import { verifyBackup, type VerifyOptions } from './verify.js';
import { archivedSegments, latestTimeline, onTimelinePath, parseLsn, timelineHistory } from './wal.js';

/** A part folder untouched this long belongs to a backup whose process is gone. */
const STALE_PART_MS = 60 * 60_000;

/** What /metrics needs of an instance's backups, read from the repository. */
export interface BackupFacts {
  archiveGaps: number;
  lastBackupAt: number | null;
  lastBackupSizeBytes: number | null;
  lastArchivedAt: number | null;
}

export type Trigger = BackupManifest['trigger'];

/**
 * Backups, restores and the WAL archive of every instance (DESIGN.md, "Backups and recovery"):
 * a facade over the repository (repository.ts), the tools that take backups (take.ts), recovery
 * into a new instance (restore.ts, recover.ts) and verification (verify.ts).
 */
export class BackupService {
  readonly repository: BackupRepository;

  constructor(
    private readonly manager: Manager,
    private readonly provisioner: Provisioner,
    private readonly logger: Logger,
  ) {
    this.repository = provisioner.backups;
  }

  /** The backup key when backups are encrypted (read on first use: a bad key file fails what needs it). */
  private get key(): BackupKey | null {
    return backupKey(this.manager.settings);
  }

  // ---- reading -------------------------------------------------------------------------------

  view(location: BackupLocation): BackupView {
    const m = location.manifest;
    const identity = this.repository.identity(location.area);
    return {
      id: m.id,
      instance: m.instance.id,
      name: m.instance.name,
      project: identity?.project ?? DEFAULT_PROJECT,
      instanceDeleted: identity?.deletedAt != null,
      type: m.type,
      label: m.label,
      trigger: m.trigger,
      version: m.instance.version,
      serverVersion: m.serverVersion,
      startedAt: m.startedAt,
      finishedAt: m.finishedAt,
      durationSeconds: Math.round((Date.parse(m.finishedAt) - Date.parse(m.startedAt)) / 100) / 10,
      sizeBytes: m.files.reduce((sum, f) => sum + f.size, 0),
      files: m.files,
      wal: m.wal,
      rowCounts: m.rowCounts,
      verification: m.verification,
      encrypted: m.encrypted,
      path: location.dir,
    };
  }

  /**
   * The instance an id or a name means, existing or deleted (its identity kept beside its
   * backups). A name of a live instance means that one; else the newest deleted one of it.
   */
  async identity(ref: string): Promise<InstanceIdentity> {
    const live = await this.manager.record(ref).catch(() => null);
    if (live) {
      const { id, name, project, version, image, database, username, createdAt } = live;
      return { id, name, project, version, image, database, username, createdAt, deletedAt: null };
    }
    const known = this.repository
      .areas()
      .map((area) => this.repository.identity(area))
      .filter((i): i is InstanceIdentity => i !== null && (i.id === ref || i.name === ref))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    if (!known[0]) throw notFound(ref);
    return known[0];
  }

  async list(ref?: string): Promise<BackupView[]> {
    if (ref === undefined) return this.repository.all().map((l) => this.view(l));
    const identity = await this.identity(ref);
    return this.repository.backupsIn(this.repository.areaOf(identity.id)).map((l) => this.view(l));
  }

  show(backupId: string): BackupView {
    return this.view(this.repository.find(backupId));
  }

  /**
   * Deletes a backup. The last backup of a deleted instance takes its area with it: the WAL
   * archive left alone restores nothing, and nothing else would ever remove it.
   */
  delete(backupId: string): BackupView {
    const location = this.repository.find(backupId);
    const view = this.view(location);
    this.repository.remove(location);
    this.logger.info('backup deleted', { backup: backupId, instance: location.manifest.instance.id });
    if (view.instanceDeleted && this.repository.holdsOnlyArchive(location.area)) {
      this.repository.purge(location.manifest.instance.id);
      // The deleted instance's own folder held nothing else (its backups were all that stayed).
      const folder = dirname(location.area);
      if (location.area === join(this.manager.files({ id: location.manifest.instance.id }).dir, 'backups') && existsSync(folder) && readdirSync(folder).length === 0) {
        rmSync(folder, { recursive: true, force: true });
      }
      this.logger.info('removed the archive of a deleted instance with its last backup', { instance: location.manifest.instance.id });
    }
    return view;
  }

  /** The archive of one instance: its segments on disk, and the server's own counters from the agent. */
  async archiveStatus(record: InstanceRecord): Promise<ArchiveStatus> {
    const walDir = this.repository.walDir(record.id);
    const segments = archivedSegments(walDir);
    const last = segments.at(-1);
    const sample = (await new MetricsReader(this.manager.files(record).metricsPath).latest()).sample;
    const archiver = (sample?.up ? sample.archiver : undefined) as
      | { failed_count?: number; last_failed_wal?: string | null; last_failed_at?: string | null }
      | undefined;
    return {
      // Archiving is on whatever else of the layout is older (TLS came later).
      enabled: this.provisioner.archivesWal(record.id),
      path: walDir,
      segments: segments.length,
      bytes: segments.reduce((sum, s) => sum + s.size, 0),
      lastArchivedWal: last?.name ?? null,
      lastArchivedAt: last ? new Date(last.mtimeMs).toISOString() : null,
      ageSeconds: last ? Math.max(0, Math.round((Date.now() - last.mtimeMs) / 100) / 10) : null,
      failedCount: archiver?.failed_count ?? null,
      lastFailedWal: archiver?.last_failed_wal ?? null,
      lastFailedAt: archiver?.last_failed_at ?? null,
      gaps: this.archiveGaps(record),
    };
  }

  /** The segments the instance's archive command gave up on (its data folder's gaps file). */
  archiveGaps(record: Pick<InstanceRecord, 'id'>): ArchiveStatus['gaps'] {
    const path = join(this.manager.files(record).dataDir, ARCHIVE_GAPS_FILE);
    const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => /^[0-9A-F]{24} /.test(l)) : [];
    const [lastWal, lastAt] = lines.at(-1)?.split(' ') ?? [];
    return { count: lines.length, lastWal: lastWal ?? null, lastAt: lastAt ?? null };
  }

  async status(ref: string): Promise<InstanceBackupStatus> {
    const record = await this.manager.record(ref);
    const backups = this.repository.backupsIn(this.repository.areaOf(record.id));
    const physical = backups.filter((b) => b.manifest.type === 'physical');
    const last = backups.at(-1);
    return {
      archive: await this.archiveStatus(record),
      schedule: record.backupSchedule ?? null,
      backups: backups.length,
      lastBackup: last ? this.view(last) : null,
      restorableFrom: physical[0]?.manifest.finishedAt ?? null,
    };
  }

  /** The figures /metrics exports per instance. */
  facts(record: Pick<InstanceRecord, 'id'>): BackupFacts {
    const last = this.repository.backupsIn(this.repository.areaOf(record.id)).at(-1);
    const segment = archivedSegments(this.repository.walDir(record.id)).at(-1);
    return {
      archiveGaps: this.archiveGaps(record).count,
      lastBackupAt: last ? Date.parse(last.manifest.finishedAt) / 1000 : null,
      lastBackupSizeBytes: last ? last.manifest.files.reduce((sum, f) => sum + f.size, 0) : null,
      lastArchivedAt: segment ? segment.mtimeMs / 1000 : null,
    };
  }

  // ---- schedules ---------------------------------------------------------------------------

  /** Sets (replaces) an instance's backup schedule; its first run is the next moment the cron names. */
  async setSchedule(ref: string, raw: unknown): Promise<BackupSchedule> {
    const input = parseInput(BackupScheduleInputSchema, raw);
    await parseCron(input.cron);
    const record = await this.manager.record(ref);
    const schedule: BackupSchedule = { ...input, setAt: new Date().toISOString() };
    await this.manager.updateRecord(record.id, (rec) => {
      rec.backupSchedule = schedule;
    });
    this.logger.info('backup schedule set', { instance: record.id, cron: input.cron, type: input.type });
    return schedule;
  }

  async schedule(ref: string): Promise<BackupSchedule | null> {
    return (await this.manager.record(ref)).backupSchedule ?? null;
  }

  async clearSchedule(ref: string): Promise<void> {
    const record = await this.manager.record(ref);
    await this.manager.updateRecord(record.id, (rec) => {
      delete rec.backupSchedule;
    });
    this.logger.info('backup schedule removed', { instance: record.id });
  }

  // ---- operations ----------------------------------------------------------------------------

  /**
   * Takes a backup of a running instance, holding its operation claim (no stop or delete under
   * it). The files are written into a part folder and listed only once complete and flushed; a
   * failure (or a kill) leaves nothing listed, and the part folder is removed.
   */
  /** The instance, when it can be backed up now (it exists and its server runs). */
  async assertBackupable(ref: string): Promise<InstanceRecord> {
    const record = await this.manager.record(ref);
    if (!(await this.manager.serverRunning(record))) {
      throw new DbaasError('INSTANCE_NOT_RUNNING', `instance ${record.name} is not running; start it to back it up`, { instance: record.id });
    }
    if (!this.provisioner.archivesWal(record.id)) {
      throw new DbaasError('INVALID_STATE', `${record.name} was made before backups existed; restart it once ("dbaas restart ${record.name}") to give it its archive and backup area`, {
        instance: record.id,
      });
    }
    return record;
  }

  async create(
    ref: string,
    raw: unknown,
    options: { progress?: ProgressFn; signal?: AbortSignal; trigger?: Trigger } = {},
  ): Promise<BackupView> {
    const input = parseInput(CreateBackupSchema, raw ?? {});
    const record = await this.manager.record(ref);
    return this.manager.withOperation(record.id, 'backup', async (current) => {
      await this.assertBackupable(current.id);
      return this.takeHeld(current, input.type, input.label ?? null, options.trigger ?? 'manual', options);
    });
  }

  /** A backup of an instance whose operation claim the caller holds. */
  async takeHeld(
    record: InstanceRecord,
    type: 'physical' | 'logical',
    label: string | null,
    trigger: Trigger,
    options: { progress?: ProgressFn; signal?: AbortSignal } = {},
  ): Promise<BackupView> {
    const id = newBackupId();
    let part: string | null = null;
    const startedAt = new Date().toISOString();
    const context = {
      engine: this.manager.engine,
      container: containerNameFor(record),
      superuser: this.manager.superuserTarget(record),
      timeoutMs: BACKUP_TOOL_TIMEOUT_MS,
      ...(this.key ? { recipient: this.key.recipient } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    this.logger.info('backup started', { instance: record.id, backup: id, type });
    try {
      const area = this.provisioner.ensureBackupArea(record);
      await giveArchiveToServer({ engine: this.manager.engine, provisioner: this.provisioner, logger: this.logger }, record);
      this.repository.removeStaleParts(area, STALE_PART_MS);
      const into = this.repository.partDir(record.id, id);
      part = into;
      // The server's tools write into it: it is theirs, as the area around it is.
      const owner = statSync(area);
      chownSync(into, owner.uid, owner.gid);
      const folder = { onHost: into, inServer: `${SERVER_BACKUP_AREA}/${basename(into)}` };
      const taken: { files: BackupFile[]; serverVersion: string; wal: WalRange | null; rowCounts: Record<string, number> | null } = await stepWithProgress(
        options.progress,
        'backup',
        type === 'physical' ? 'take a base backup (pg_basebackup)' : 'dump the database and its roles (pg_dump)',
        () =>
          type === 'physical'
            ? takePhysical(context, folder, `dbaas ${id}${label ? ` ${label}` : ''}`).then((t) => ({ ...t, rowCounts: null }))
            : takeLogical(context, folder, record.database).then((t) => ({ ...t, wal: null })),
        options.signal,
      );
      const manifest: BackupManifest = {
        format: 1,
        id,
        type,
        label,
        trigger,
        instance: { id: record.id, name: record.name, version: record.version, image: record.image, database: record.database, username: record.username },
        serverVersion: taken.serverVersion,
        startedAt,
        finishedAt: new Date().toISOString(),
        files: taken.files,
        wal: taken.wal,
        rowCounts: taken.rowCounts,
        verification: null,
        encrypted: this.key !== null,
      };
      const location = await stepWithProgress(options.progress, 'commit', 'write the manifest and list the backup', () =>
        this.repository.commit(into, manifest),
      );
      this.logger.info('backup finished', { instance: record.id, backup: id, type, bytes: this.view(location).sizeBytes });
      return this.view(location);
    } catch (err) {
      if (part) this.repository.discardPart(part);
      this.logger.error('backup failed', { instance: record.id, backup: id, error: (err as Error).message });
      if (err instanceof DbaasError) throw err;
      throw new DbaasError('BACKUP_FAILED', `backup of ${record.name} failed: ${(err as Error).message}`, undefined, { cause: err });
    }
  }

  /**
   * Makes a new instance from a backup (and the archive after it): `source` is a backup id or an
   * instance (live or deleted), the target a time, a WAL position or the newest state.
   */
  async restore(source: string, raw: unknown, options: { progress?: ProgressFn; signal?: AbortSignal } = {}): Promise<RestoredInstance | RestoredInPlace> {
    const prepared = await this.prepareRestore(source, raw, options.progress);
    return prepared.input.inPlace ? this.runPreparedInPlace(prepared, options) : this.runPrepared(prepared, options);
  }

  /**
   * The first half of a restore: validates, chooses the backup and checks that the archive
   * reaches the target. Everything that can refuse refuses here, before anything is made (the
   * API answers these errors itself and runs only the second half as an operation).
   */
  async prepareRestore(source: string, raw: unknown, progress?: ProgressFn): Promise<PreparedRestore> {
    const input = parseInput(RestoreSchema, raw);
    const plan = await stepWithProgress(progress, 'plan', 'choose the backup and check that the archive reaches the target', () =>
      planRestore(this.restoreDeps(), source, input),
    );
    return { input, plan };
  }

  /**
   * Replaces an instance's data with a restore of its own backups (after a safety backup of its
   * current state); see restoreInPlace. The answer is the instance, with the safety backup's id.
   */
  async runPreparedInPlace(prepared: PreparedRestore, options: { progress?: ProgressFn; signal?: AbortSignal } = {}): Promise<RestoredInPlace> {
    const live = await this.manager.record(prepared.plan.identity.id).catch(() => null);
    if (!live) {
      throw new DbaasError('INVALID_STATE', `${prepared.plan.identity.name} no longer exists; restore its backups into a new instance (--as)`, { instance: prepared.plan.identity.id });
    }
    const { safetyBackup } = await restoreInPlace(this.restoreDeps(), prepared.plan, options);
    return { ...(await this.manager.get(live.id)), restore: { ...planView(prepared.plan), safetyBackup } };
  }

  async runPrepared(prepared: PreparedRestore, options: { progress?: ProgressFn; signal?: AbortSignal } = {}): Promise<RestoredInstance> {
    const created = await runRestore(this.restoreDeps(), prepared.plan, prepared.input, options);
    return { ...created, restore: planView(prepared.plan) };
  }

  /** A new instance with the newest state of a running one: a restore of its latest archived WAL. */
  async clone(ref: string, newName: string, options: { progress?: ProgressFn; signal?: AbortSignal } = {}): Promise<RestoredInstance> {
    if (!this.hasUsableBaseBackup((await this.identity(ref)).id)) {
      await this.create(ref, { type: 'physical', label: 'for a clone' }, options);
    }
    return this.runPrepared(await this.prepareRestore(ref, { as: newName, latest: true }, options.progress), options);
  }

  /** Whether an instance has a base backup a restore of its newest state can start from. */
  hasUsableBaseBackup(instanceId: string): boolean {
    const walDir = this.repository.walDir(instanceId);
    const newest = latestTimeline(walDir);
    const history = timelineHistory(walDir, newest);
    return this.repository
      .backupsIn(this.repository.areaOf(instanceId))
      .some((b) => b.manifest.type === 'physical' && b.manifest.wal !== null && onTimelinePath(history, newest, b.manifest.wal.timeline, parseLsn(b.manifest.wal.endLsn)));
  }

  async verify(backupId: string, options: VerifyOptions & { progress?: ProgressFn } = {}): Promise<BackupView> {
    const location = this.repository.find(backupId);
    const verification = await verifyBackup(this.restoreDeps(), location, options);
    const manifest = { ...location.manifest, verification };
    this.repository.update(location, manifest);
    this.logger.info('backup verified', { backup: backupId, ok: verification.ok, restored: verification.restored, problems: verification.problems });
    return this.view({ ...location, manifest });
  }

  /**
   * Recovers a base backup of an instance, and its archive to the archive's end, into a folder
   * with `image` (an upgrade's rollback recovers its safety backup with the old version's image);
   * `walTailDir` gives segments the archive never received. The folder is then an ordinary
   * cluster on a new timeline, whose history file goes into the archive.
   */
  async recoverToEnd(backupId: string, request: { image: string; dataDir: string; walTailDir?: string; purpose: string }): Promise<void> {
    const location = this.repository.find(backupId);
    const walDir = this.repository.walDir(location.manifest.instance.id);
    await recoverInto(this.manager.engine, {
      image: request.image,
      dataDir: request.dataDir,
      backupDir: location.dir,
      archiveDir: walDir,
      ...(request.walTailDir ? { walTailDir: request.walTailDir } : {}),
      key: this.key,
      target: { kind: 'latest' },
      endIsTarget: false,
      timeoutMs: BACKUP_TOOL_TIMEOUT_MS,
      purpose: request.purpose,
    });
    seedArchiveHistory(request.dataDir, walDir);
  }

  private restoreDeps() {
    return { manager: this.manager, repository: this.repository, logger: this.logger, service: this };
  }
}

export interface PreparedRestore {
  input: RestoreInput;
  plan: RestorePlan;
}

export type RestoredInstance = CreatedInstance & { restore: RestorePlanView };
export type RestoredInPlace = InstanceView & { restore: RestorePlanView & { safetyBackup: string } };

export interface RestorePlanView {
  backup: string;
  target: string;
  archiveEndsAt: string | null;
}

function planView(plan: RestorePlan): RestorePlanView {
  return { backup: plan.backup.manifest.id, target: describeTarget(plan.target), archiveEndsAt: plan.archiveEndsAt };
}
