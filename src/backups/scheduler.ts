import { hostname } from 'node:os';
import { asDbaasError, DbaasError } from '../errors.js';
import type { Manager } from '../instances/manager.js';
import type { InstanceRecord } from '../instances/schema.js';
import { ownerAlive } from '../instances/status.js';
import type { Logger } from '../log/logger.js';
import { applyRetention } from './retention.js';
import type { BackupSchedule, ScheduleRun } from './schema.js';
import type { BackupService } from './service.js';

/**
 * Scheduled backups, run by `dbaas serve`. Every tick it finds, for each instance with a
 * schedule, the newest moment the cron expression (UTC) names that is not after now; when no
 * run was made for that moment, it claims it in the registry, under the registry's lock, and
 * runs it: the backup, then retention, then verification as the schedule asks. A claim names
 * its process, so a second server sees it and leaves the job alone; a claim of a process that
 * died does not hold it. A moment that passed while no server ran (or while one was busy) is
 * made up at the next tick, once, and reported as made up: never silently skipped.
 */

const WEEK_MS = 7 * 24 * 3600_000;

/** Parses a five-field cron expression; VALIDATION_FAILED with the parser's reason otherwise. */
export async function parseCron(text: string): Promise<(now: Date) => Date> {
  const { CronExpressionParser } = await import('cron-parser');
  const fields = text.trim().split(/\s+/);
  if (fields.length !== 5) {
    throw new DbaasError('VALIDATION_FAILED', `cron: expected five fields (minute hour day month weekday), got ${fields.length}`, { field: 'cron' });
  }
  try {
    CronExpressionParser.parse(text, { tz: 'UTC' });
  } catch (err) {
    throw new DbaasError('VALIDATION_FAILED', `cron: ${(err as Error).message}`, { field: 'cron' });
  }
  // The newest moment at or before `now` (the parser's prev() is strictly before its start).
  return (now) => CronExpressionParser.parse(text, { tz: 'UTC', currentDate: new Date(now.getTime() + 1) }).prev().toDate();
}

/** The moment a schedule owes a run for now, or null when its last run (or its setting) covers it. */
export function dueMoment(schedule: BackupSchedule, latestMoment: Date): Date | null {
  if (latestMoment.getTime() < Date.parse(schedule.setAt)) return null;
  if (schedule.lastRun && Date.parse(schedule.lastRun.dueAt) >= latestMoment.getTime()) return null;
  return latestMoment;
}

export class BackupScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly manager: Manager,
    private readonly backups: BackupService,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    const loop = () => {
      this.running = this.tick()
        .catch((err: unknown) => this.logger.error('backup scheduler round failed', { error: asDbaasError(err).message }))
        .finally(() => {
          if (this.timer !== null) this.timer = setTimeout(loop, this.intervalMs);
        });
    };
    this.timer = setTimeout(loop, 0);
  }

  /** Stops ticking and waits for a job that runs. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One round: every due job, one after the other; the ids of the instances it ran a job for. */
  async tick(now = new Date()): Promise<string[]> {
    const ran: string[] = [];
    for (const record of await this.manager.records()) {
      const schedule = record.backupSchedule;
      if (!schedule || record.status === 'provisioning' || record.status === 'deleting') continue;
      const due = dueMoment(schedule, (await parseCron(schedule.cron))(now));
      if (!due) continue;
      const claimed = await this.claim(record.id, due);
      if (!claimed) continue;
      ran.push(record.id);
      await this.run(claimed, due, now);
    }
    return ran;
  }

  /** Claims the job of one moment for this process; null when another holds it or it ran. */
  private claim(id: string, due: Date): Promise<InstanceRecord | null> {
    const dueAt = due.toISOString();
    return this.manager.updateRecord(id, (rec) => {
      const s = rec.backupSchedule;
      if (!s) return null;
      if (s.lastRun && Date.parse(s.lastRun.dueAt) >= due.getTime()) return null;
      if (s.claim && s.claim.dueAt === dueAt && ownerAlive(s.claim)) return null;
      s.claim = { dueAt, pid: process.pid, host: hostname(), at: new Date().toISOString() };
      return structuredClone(rec);
    });
  }

  private async run(record: InstanceRecord, due: Date, now: Date): Promise<void> {
    const schedule = record.backupSchedule as BackupSchedule;
    const startedAt = new Date().toISOString();
    // Later than two ticks after its moment: the scheduler was not running (or was busy) then.
    const madeUp = now.getTime() - due.getTime() > 2 * this.intervalMs;
    if (madeUp) this.logger.warn('making up a missed scheduled backup', { instance: record.id, dueAt: due.toISOString() });
    const result: ScheduleRun = {
      dueAt: due.toISOString(),
      startedAt,
      finishedAt: startedAt,
      ok: false,
      backup: null,
      error: null,
      madeUp,
      removedBackups: [],
      removedWalSegments: 0,
      verified: null,
    };
    let lastVerifiedAt = schedule.lastVerifiedAt;
    try {
      const backup = await this.backups.create(record.id, { type: schedule.type, label: `scheduled ${schedule.cron}` }, { trigger: 'schedule' });
      result.backup = backup.id;
      const retention = applyRetention(this.backups.repository, record.id, schedule);
      result.removedBackups = retention.removedBackups;
      result.removedWalSegments = retention.removedWalSegments;
      const verifyNow = schedule.verify === 'each' || (schedule.verify === 'weekly' && (!lastVerifiedAt || Date.now() - Date.parse(lastVerifiedAt) >= WEEK_MS));
      if (verifyNow) {
        const verified = await this.backups.verify(backup.id, { restore: true });
        result.verified = verified.verification?.ok ?? false;
        lastVerifiedAt = verified.verification?.at ?? lastVerifiedAt;
        if (!result.verified) result.error = `verification failed: ${verified.verification?.problems.join('; ')}`;
      }
      result.ok = result.error === null;
    } catch (err) {
      result.error = asDbaasError(err).message;
    }
    result.finishedAt = new Date().toISOString();
    if (result.ok) this.logger.info('scheduled backup done', { instance: record.id, ...result });
    else this.logger.error('scheduled backup failed', { instance: record.id, ...result });
    await this.manager
      .updateRecord(record.id, (rec) => {
        if (!rec.backupSchedule) return;
        rec.backupSchedule.lastRun = result;
        if (lastVerifiedAt) rec.backupSchedule.lastVerifiedAt = lastVerifiedAt;
        delete rec.backupSchedule.claim;
      })
      .catch((err: unknown) => this.logger.error('could not record a scheduled backup', { instance: record.id, error: asDbaasError(err).message }));
  }
}
