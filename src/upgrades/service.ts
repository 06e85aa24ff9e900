import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { BackupService } from '../backups/service.js';
import { asDbaasError, DbaasError } from '../errors.js';
import type { Manager } from '../instances/manager.js';
import { stepWithProgress, type ProgressFn } from '../instances/progress.js';
import { VersionSchema, type InstanceRecord } from '../instances/schema.js';
import type { Logger } from '../log/logger.js';
import { containerNameFor } from '../provisioner/provisioner.js';
import { BACKUP_TOOL_TIMEOUT_MS } from '../backups/take.js';
import { parseInput } from '../validate.js';
import { availableExtensions, clusterFacts, extensionUpdates, freeBytes, upgradeProblems, type ClusterFacts } from './checks.js';
import { ensureUpgradeImage } from './image.js';
import { INSTANCE_MOUNT, NEW_DATA_NAME, UPGRADE_SCRIPT } from './script.js';
import { UPGRADE_METHODS, type UpgradeMethod, type UpgradeState } from './state.js';

/**
 * Major upgrades of an instance, and their rollback. In order, holding the instance's operation
 * claim: checks while the old server runs (refusing with every reason, nothing changed); the
 * upgrade image; a safety base backup, verified by a real restore; then the downtime: stop,
 * build the new cluster beside the old one (pg_upgrade --link, or dump and restore), swap the
 * folders, switch the record and compose file to the new image, start. ANALYZE and a first
 * base backup on the new version follow while the instance serves again.
 *
 * The old cluster stays in `data.pg<old>/` until `--finalize` (or `dbaas serve` after the keep
 * period). `--rollback` returns to it: the kept folder itself when the new cluster never shared
 * its files with a running server (--method dump, or link before the new server started), else
 * (link, after) the safety backup recovered with the archive and the old cluster's last WAL.
 * A failure before the swap restarts the old server on untouched data; a failure after it rolls
 * back on its own. Every step is in the registry first, so a killed process leaves an upgrade
 * that `--rollback` finishes.
 */

export const UpgradeInputSchema = z
  .object({
    to: VersionSchema.meta({ description: 'The major version to upgrade to (newer than the current one)', example: 17 }),
    method: z.enum(UPGRADE_METHODS).default('link').meta({
      description: 'link: pg_upgrade --link (minutes of downtime whatever the size; a rollback after it restores the safety backup); dump: pg_dump and pg_restore into a new cluster (downtime grows with the data; the old data stays untouched)',
    }),
  })
  .strict()
  .meta({ id: 'UpgradeInput' });
export type UpgradeInput = z.output<typeof UpgradeInputSchema>;

export const UpgradeResultSchema = z
  .object({
    instance: z.string(),
    name: z.string(),
    from: z.number().int(),
    to: z.number().int(),
    method: z.enum(UPGRADE_METHODS),
    downtimeMs: z.number().int().meta({ description: "From the old server's stop to the new server's first accepted login" }),
    analyzeMs: z.number().int().meta({ description: 'ANALYZE of every database after the start (the instance serves meanwhile)' }),
    totalMs: z.number().int(),
    safetyBackup: z.string().meta({ description: 'The verified base backup taken just before the old server stopped' }),
    baseBackup: z.string().meta({ description: 'The first base backup on the new version (point-in-time restores after the upgrade start from it)' }),
    keptDataDir: z.string().meta({ description: 'Where the old cluster is kept until --finalize or keepUntil' }),
    keepUntil: z.string(),
    extensionUpdates: z
      .array(z.object({ database: z.string(), extension: z.string(), installed: z.string(), available: z.string() }))
      .meta({ description: 'Extensions the new version ships newer than installed: ALTER EXTENSION ... UPDATE in that database, when their owner chooses' }),
  })
  .meta({ id: 'UpgradeResult' });
export type UpgradeResult = z.output<typeof UpgradeResultSchema>;

export const RollbackResultSchema = z
  .object({
    instance: z.string(),
    name: z.string(),
    version: z.number().int(),
    from: z.number().int().meta({ description: 'The version it ran before the rollback' }),
    restoredFrom: z.enum(['kept-data', 'safety-backup']).meta({ description: 'Where the old data came from' }),
    downtimeMs: z.number().int(),
  })
  .meta({ id: 'UpgradeRollback' });
export type RollbackResult = z.output<typeof RollbackResultSchema>;

export const FinalizeResultSchema = z
  .object({ instance: z.string(), name: z.string(), version: z.number().int(), removed: z.string() })
  .meta({ id: 'UpgradeFinalize' });
export type FinalizeResult = z.output<typeof FinalizeResultSchema>;

/** How long the old cluster is kept after an upgrade unless finalized earlier. */
export const KEEP_OLD_DATA_MS = 7 * 24 * 3600_000;

/** The label of an instance's upgrade job containers (a rollback removes what a killed process left). */
function jobLabel(record: Pick<InstanceRecord, 'id'>): string {
  return `upgrade-${record.id}`;
}

function pgVersionOf(dir: string): number | null {
  try {
    return Number(readFileSync(join(dir, 'PG_VERSION'), 'utf8').trim());
  } catch {
    return null;
  }
}

/** pg_upgrade --link renames the old control file so no server starts on it; a rollback puts it back. */
function restoreControlFile(dataDir: string): void {
  const control = join(dataDir, 'global', 'pg_control');
  if (!existsSync(control) && existsSync(`${control}.old`)) renameSync(`${control}.old`, control);
}

/** The instance's upgrade, or NO_UPGRADE (a rollback or finalize of an instance without one). */
function upgradeOf(record: InstanceRecord, action: string): UpgradeState {
  if (!record.upgrade) throw new DbaasError('NO_UPGRADE', `${record.name} has no upgrade to ${action}`, { instance: record.id });
  return record.upgrade;
}

export class UpgradeService {
  constructor(
    private readonly manager: Manager,
    private readonly backups: BackupService,
    private readonly logger: Logger,
  ) {}

  async upgrade(ref: string, raw: unknown, options: { progress?: ProgressFn; signal?: AbortSignal } = {}): Promise<UpgradeResult> {
    const input = parseInput(UpgradeInputSchema, raw);
    const record = await this.manager.record(ref);
    return this.manager.withOperation(record.id, 'upgrade', (current) => this.upgradeHeld(current, input, options));
  }

  /** The checks alone, for the API to refuse at once (409) rather than in an operation. */
  async preflight(ref: string, raw: unknown): Promise<InstanceRecord> {
    const input = parseInput(UpgradeInputSchema, raw);
    const record = await this.manager.record(ref);
    await this.check(record, input);
    return record;
  }

  /** The instance of an upgrade to roll back or finalize; NO_UPGRADE when it has none. */
  async withUpgrade(ref: string): Promise<InstanceRecord> {
    const record = await this.manager.record(ref);
    upgradeOf(record, 'roll back or finalize');
    return record;
  }

  /** The checks, then everything else: see the class comment. */
  private async upgradeHeld(record: InstanceRecord, input: UpgradeInput, options: { progress?: ProgressFn; signal?: AbortSignal }): Promise<UpgradeResult> {
    const { progress, signal } = options;
    const started = Date.now();
    const { facts, toImage } = await stepWithProgress(progress, 'check', `check that ${record.name} can move from PostgreSQL ${record.version} to ${input.to}`, () => this.check(record, input), signal);
    const from = { version: record.version, image: record.image };
    const to = { version: input.to, image: toImage };
    const { tag } = await stepWithProgress(progress, 'image', `prepare the upgrade image (PostgreSQL ${from.version} binaries beside ${to.version})`, () => ensureUpgradeImage(this.manager.engine, from, to), signal);

    const safety = await this.backups.takeHeld(record, 'physical', `safety backup before the upgrade to PostgreSQL ${to.version}`, 'safety', options);
    const verified = await stepWithProgress(progress, 'verify', `verify the safety backup ${safety.id} by restoring it`, () => this.backups.verify(safety.id, { restore: true }), signal);
    if (!verified.verification?.ok) {
      throw new DbaasError('UPGRADE_REFUSED', `the safety backup ${safety.id} did not verify: ${verified.verification?.problems.join('; ')}`, { problems: verified.verification?.problems ?? [] });
    }
    if (signal?.aborted) throw new DbaasError('INTERRUPTED', 'interrupted before the server stopped; nothing was changed');

    let state: UpgradeState = {
      from,
      to,
      method: input.method,
      phase: 'upgrading',
      startedAt: new Date().toISOString(),
      finishedAt: null,
      keptDataDir: `data.pg${from.version}`,
      newServerStarted: false,
      safetyBackup: safety.id,
      newWalStart: null,
      downtimeMs: null,
      keepUntil: null,
    };
    /** Each change of the upgrade's state is in the registry before the step it guards. */
    const save = (change: Partial<UpgradeState>) => {
      state = { ...state, ...change };
      return this.saveState(record.id, state);
    };
    await this.saveState(record.id, state);

    // ---- downtime ----
    const stopped = Date.now();
    await this.manager.stopHeld(record, progress);
    const files = this.manager.files(record);
    let walStart: string;
    try {
      walStart = await stepWithProgress(progress, 'upgrade', input.method === 'link' ? 'pg_upgrade --link into a new cluster beside the old one' : 'dump every database into a new cluster beside the old one (pg_dump | pg_restore)', () => this.runJob(record, tag, input.method, from.version, to.version, facts));
    } catch (err) {
      // Nothing of the old cluster changed: put back what pg_upgrade renamed, and start it again.
      const error = asDbaasError(err);
      rmSync(join(files.dir, NEW_DATA_NAME), { recursive: true, force: true });
      restoreControlFile(files.dataDir);
      await this.clearState(record.id);
      await this.manager.startHeld(record, progress).catch((e: unknown) => this.logger.error('the old server did not start again after a failed upgrade', { instance: record.id, error: asDbaasError(e).message }));
      // pg_upgrade's own check (types it cannot carry, the catalog) runs on the stopped cluster.
      const refused = error.message.includes('pg_upgrade --check refused');
      throw new DbaasError(
        refused ? 'UPGRADE_REFUSED' : 'OPERATION_FAILED',
        `the upgrade of ${record.name} ${refused ? 'was refused by pg_upgrade --check' : 'failed'} before anything was changed; it runs PostgreSQL ${from.version} again: ${error.message}`,
        { ...(error.details ?? {}), ...(refused ? { problems: [error.message] } : {}), safetyBackup: safety.id },
      );
    }

    const kept = join(files.dir, state.keptDataDir);
    let upgraded: InstanceRecord;
    try {
      await stepWithProgress(progress, 'swap', `keep the old cluster in ${state.keptDataDir}/ and put the new one in data/`, async () => {
        rmSync(kept, { recursive: true, force: true });
        renameSync(files.dataDir, kept);
        renameSync(join(files.dir, NEW_DATA_NAME), files.dataDir);
      });
      // Recorded before the start: a server that only began to start may have written to shared
      // files. (Killed before this, the new cluster has neither run nor archived anything.)
      await save({ newWalStart: walStart, newServerStarted: true });
      upgraded = await stepWithProgress(progress, 'switch', `switch the record and docker-compose.yml to ${to.image}`, () => this.manager.switchVersion(record.id, to.version, to.image));
      await this.manager.startHeld(upgraded, progress);
    } catch (err) {
      const error = asDbaasError(err);
      this.logger.error('the upgraded server did not start; rolling back', { instance: record.id, error: error.message });
      const current = await this.manager.record(record.id);
      await this.rollbackHeld(current, progress).catch((e: unknown) => {
        throw new DbaasError('OPERATION_FAILED', `the upgrade of ${record.name} failed (${error.message}) and so did its rollback (${asDbaasError(e).message}); run "dbaas upgrade ${record.name} --rollback" again`, { safetyBackup: safety.id });
      });
      throw new DbaasError('OPERATION_FAILED', `the upgraded server of ${record.name} did not start (${error.message}); it was rolled back to PostgreSQL ${from.version}`, { safetyBackup: safety.id });
    }
    const downtimeMs = Date.now() - stopped;
    // ---- serving again ----

    const analyzeStarted = Date.now();
    await stepWithProgress(progress, 'analyze', 'ANALYZE every database (the planner has no statistics after pg_upgrade)', () => this.analyze(upgraded));
    const analyzeMs = Date.now() - analyzeStarted;
    const updates = await extensionUpdates(this.manager, upgraded).catch(() => []);
    const base = await this.backups.takeHeld(upgraded, 'physical', `first base backup on PostgreSQL ${to.version}`, 'upgrade', options);
    const keepUntil = new Date(Date.now() + KEEP_OLD_DATA_MS).toISOString();
    await save({ phase: 'upgraded', finishedAt: new Date().toISOString(), downtimeMs, keepUntil });
    this.logger.info('instance upgraded', { instance: record.id, from: from.version, to: to.version, method: input.method, downtimeMs });
    return {
      instance: record.id,
      name: record.name,
      from: from.version,
      to: to.version,
      method: input.method,
      downtimeMs,
      analyzeMs,
      totalMs: Date.now() - started,
      safetyBackup: safety.id,
      baseBackup: base.id,
      keptDataDir: state.keptDataDir,
      keepUntil,
      extensionUpdates: updates,
    };
  }

  /** Refuses with every reason at once, or answers the facts the job needs. */
  private async check(record: InstanceRecord, input: UpgradeInput): Promise<{ facts: ClusterFacts; toImage: string }> {
    if (record.upgrade) {
      throw new DbaasError(
        'INVALID_STATE',
        record.upgrade.phase === 'upgraded'
          ? `${record.name} keeps the data of its upgrade from PostgreSQL ${record.upgrade.from.version}: finalize it ("dbaas upgrade ${record.name} --finalize") or roll it back first`
          : `an upgrade of ${record.name} was interrupted: roll it back first ("dbaas upgrade ${record.name} --rollback")`,
        { upgrade: record.upgrade.phase },
      );
    }
    if (input.to <= record.version) {
      throw new DbaasError('VALIDATION_FAILED', `to: ${record.name} runs PostgreSQL ${record.version}; an upgrade goes to a newer major version`, {
        issues: [{ field: 'to', message: `must be newer than ${record.version}` }],
      });
    }
    if (!(await this.manager.serverRunning(record))) {
      throw new DbaasError('INSTANCE_NOT_RUNNING', `${record.name} must run for the checks and the safety backup; start it first`, { instance: record.id });
    }
    const toImage = await this.manager.imageForVersion(input.to);
    const problems: string[] = [];
    try {
      await this.manager.checkSettingsOn(toImage, record.pgSettings, record.memory);
    } catch (err) {
      problems.push(`its settings overrides are not valid on PostgreSQL ${input.to}: ${asDbaasError(err).message}`);
    }
    const [facts, available] = await Promise.all([clusterFacts(this.manager, record), availableExtensions(this.manager, toImage, input.to)]);
    problems.push(...upgradeProblems(facts, available, freeBytes(this.manager.files(record).dir), input.method, input.to));
    if (problems.length > 0) {
      throw new DbaasError('UPGRADE_REFUSED', `${record.name} cannot be upgraded to PostgreSQL ${input.to}: ${problems.join('; ')}`, { problems });
    }
    return { facts, toImage };
  }

  /** The job in the upgrade image; the new cluster's first WAL segment. */
  private async runJob(record: InstanceRecord, image: string, method: UpgradeMethod, from: number, to: number, facts: ClusterFacts): Promise<string> {
    const dir = this.manager.files(record).dir;
    // The server's user in the job walks through the instance's folder to data/ (not list it).
    const mode = statSync(dir).mode & 0o777;
    chmodSync(dir, mode | 0o011);
    try {
      const output = await this.manager.engine.runJob(image, {
        purpose: `upgrade ${record.name} from PostgreSQL ${from} to ${to} (${method})`,
        label: jobLabel(record),
        argv: ['bash', '-c', UPGRADE_SCRIPT, 'upgrade', method, String(from), String(to), facts.encoding, facts.collate, facts.ctype, facts.checksums ? 'on' : 'off'],
        mounts: [{ host: dir, container: INSTANCE_MOUNT }],
        memory: Math.max(1024 * 1024 * 1024, record.memory),
        timeoutMs: BACKUP_TOOL_TIMEOUT_MS,
      });
      const start = /^dbaas-wal-start ([0-9A-F]{24})$/m.exec(output)?.[1];
      if (!output.includes('dbaas-upgraded') || !start) throw new DbaasError('OPERATION_FAILED', `the upgrade job ended without finishing: ${output.trim().split('\n').slice(-3).join(' | ')}`);
      return start;
    } finally {
      chmodSync(dir, mode);
    }
  }

  private async analyze(record: InstanceRecord): Promise<void> {
    const result = await this.manager.engine.execute(containerNameFor(record), {
      argv: ['vacuumdb', '--all', '--analyze-in-stages', '--quiet'],
      user: 'postgres',
      timeoutMs: BACKUP_TOOL_TIMEOUT_MS,
    });
    if (result.exitCode !== 0) throw new DbaasError('OPERATION_FAILED', `ANALYZE after the upgrade failed: ${result.output.trim()}`);
  }

  // ---- rollback and finalize ---------------------------------------------------------------

  async rollback(ref: string, options: { progress?: ProgressFn } = {}): Promise<RollbackResult> {
    const record = await this.manager.record(ref);
    return this.manager.withOperation(record.id, 'upgrade-rollback', (current) => this.rollbackHeld(current, options.progress));
  }

  /**
   * Back to the old version and its data, from wherever the upgrade stopped: before the swap
   * (data/ is still the old cluster), after it (the kept folder), or after a new server ran on
   * linked files (the safety backup, replayed to the old server's last WAL record).
   */
  private async rollbackHeld(record: InstanceRecord, progress?: ProgressFn): Promise<RollbackResult> {
    const state = upgradeOf(record, 'roll back');
    const started = Date.now();
    const files = this.manager.files(record);
    const kept = join(files.dir, state.keptDataDir);
    const upgrading = join(files.dir, NEW_DATA_NAME);
    await this.manager.engine.removeJobs(jobLabel(record));
    await this.manager.stopHeld(record, progress);

    let restoredFrom: RollbackResult['restoredFrom'] = 'kept-data';
    if (pgVersionOf(files.dataDir) === state.from.version) {
      // The swap never happened: data/ is the old cluster, and no server ran on what it links to.
      await stepWithProgress(progress, 'data', 'remove the unfinished new cluster; data/ is still the old one', () => {
        rmSync(upgrading, { recursive: true, force: true });
        restoreControlFile(files.dataDir);
      });
    } else if (state.method === 'link' && state.newServerStarted) {
      if (!state.safetyBackup) throw new DbaasError('OPERATION_FAILED', `the upgrade of ${record.name} has no safety backup to roll back to`);
      restoredFrom = 'safety-backup';
      this.moveNewWalAside(record, state);
      await stepWithProgress(progress, 'recover', `recover the safety backup ${state.safetyBackup} and the old server's WAL to its last record (the linked files were changed by the new server)`, async () => {
        rmSync(files.restoringDataDir, { recursive: true, force: true });
        mkdirSync(files.restoringDataDir, { mode: 0o700 });
        const walTail = join(kept, 'pg_wal');
        await this.backups.recoverToEnd(state.safetyBackup as string, {
          image: state.from.image,
          dataDir: files.restoringDataDir,
          ...(existsSync(walTail) ? { walTailDir: walTail } : {}),
          purpose: `recover ${state.safetyBackup} to roll back the upgrade of ${record.name}`,
        });
      });
      await stepWithProgress(progress, 'data', 'put the recovered old cluster in data/', () => {
        rmSync(files.dataDir, { recursive: true, force: true });
        renameSync(files.restoringDataDir, files.dataDir);
        rmSync(kept, { recursive: true, force: true });
      });
    } else {
      if (pgVersionOf(kept) !== state.from.version) {
        throw new DbaasError('OPERATION_FAILED', `the old cluster of ${record.name} is in neither data/ nor ${state.keptDataDir}/`, { instance: record.id });
      }
      this.moveNewWalAside(record, state);
      await stepWithProgress(progress, 'data', `put the kept old cluster back from ${state.keptDataDir}/`, () => {
        rmSync(files.dataDir, { recursive: true, force: true });
        renameSync(kept, files.dataDir);
        restoreControlFile(files.dataDir);
        rmSync(upgrading, { recursive: true, force: true });
      });
    }
    const back = await stepWithProgress(progress, 'switch', `switch the record and docker-compose.yml back to ${state.from.image}`, () => this.manager.switchVersion(record.id, state.from.version, state.from.image));
    await this.manager.startHeld(back, progress);
    await this.clearState(record.id);
    this.logger.info('upgrade rolled back', { instance: record.id, to: state.from.version, restoredFrom });
    return { instance: record.id, name: record.name, version: state.from.version, from: record.version, restoredFrom, downtimeMs: Date.now() - started };
  }

  /**
   * The new cluster archived its WAL under names that continue the old cluster's: once the old
   * one runs again it writes those names itself. Its segments move into a folder of the archive
   * (kept, and out of the way of the old server's archive command and of restores).
   */
  private moveNewWalAside(record: InstanceRecord, state: UpgradeState): void {
    const start = state.newWalStart;
    if (!start) return;
    const walDir = this.backups.repository.walDir(record.id);
    if (!existsSync(walDir)) return;
    const aside = join(walDir, `rolled-back-pg${state.to.version}-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`);
    for (const name of readdirSync(walDir)) {
      const segment = /^([0-9A-F]{24})(\..+)?$/.exec(name)?.[1];
      if (!segment || segment.slice(0, 8) !== start.slice(0, 8) || segment < start) continue;
      mkdirSync(aside, { recursive: true, mode: 0o700 });
      renameSync(join(walDir, name), join(aside, name));
    }
  }

  async finalize(ref: string, options: { progress?: ProgressFn } = {}): Promise<FinalizeResult> {
    const record = await this.manager.record(ref);
    return this.manager.withOperation(record.id, 'upgrade-finalize', async (current) => {
      const state = upgradeOf(current, 'finalize');
      if (state.phase !== 'upgraded') {
        throw new DbaasError('INVALID_STATE', `the upgrade of ${current.name} did not finish: roll it back ("dbaas upgrade ${current.name} --rollback")`, { upgrade: state.phase });
      }
      await stepWithProgress(options.progress, 'remove', `remove the old cluster ${state.keptDataDir}/ (a rollback is no longer possible)`, () => {
        rmSync(join(this.manager.files(current).dir, state.keptDataDir), { recursive: true, force: true });
      });
      await this.clearState(current.id);
      this.logger.info('upgrade finalized', { instance: current.id, version: current.version });
      return { instance: current.id, name: current.name, version: current.version, removed: state.keptDataDir };
    });
  }

  /** Finalizes the upgrades whose keep period ended (`dbaas serve` calls it); the instances it finalized. */
  async finalizeExpired(now = Date.now()): Promise<string[]> {
    const done: string[] = [];
    for (const record of await this.manager.records()) {
      const until = record.upgrade?.phase === 'upgraded' ? record.upgrade.keepUntil : null;
      if (!until || Date.parse(until) > now) continue;
      try {
        await this.finalize(record.id);
        done.push(record.name);
      } catch (err) {
        this.logger.warn('could not finalize an expired upgrade', { instance: record.id, error: asDbaasError(err).message });
      }
    }
    return done;
  }

  private saveState(id: string, state: UpgradeState): Promise<void> {
    return this.manager.updateRecord(id, (rec) => {
      rec.upgrade = state;
    });
  }

  private clearState(id: string): Promise<void> {
    return this.manager.updateRecord(id, (rec) => {
      delete rec.upgrade;
    });
  }
}
