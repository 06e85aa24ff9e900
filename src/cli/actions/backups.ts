import type { ArchiveStatus, BackupSchedule, BackupView, InstanceBackupStatus } from '../../backups/schema.js';
import type { RestoredInPlace, RestoredInstance } from '../../backups/service.js';
import { DbaasError } from '../../errors.js';
import { formatSize } from '../../instances/size.js';
import { withServices, type CommonOptions } from '../context.js';
import { confirm } from '../input.js';
import { formatAge, printFields, printJson, printTable } from '../output.js';
import { createProgress, interruptible } from '../progress.js';

/** What the backup commands do, through the backup service (their flags and help: commands/backups.ts). */

export async function create(ref: string, opts: CommonOptions & { type?: string; label?: string }): Promise<void> {
  await withServices(opts, async ({ backups }) => {
    const view = await interruptible(Boolean(opts.json), 'backup', (progress, signal) =>
      backups.create(ref, { type: opts.type, ...(opts.label !== undefined ? { label: opts.label } : {}) }, { progress: progress.report, signal }),
    );
    if (opts.json) return printJson(view);
    process.stderr.write(`\nbackup ${view.id} of ${view.name}: ${view.type}, ${formatSize(view.sizeBytes)} in ${view.durationSeconds} s\n`);
    process.stdout.write(`${view.id}\n`);
  });
}

export async function list(ref: string | undefined, opts: CommonOptions): Promise<void> {
  await withServices(opts, async ({ backups }) => {
    const views = await backups.list(ref);
    if (opts.json) return printJson({ backups: views });
    if (views.length === 0) {
      process.stdout.write(ref ? `no backups of ${ref}\n` : 'no backups\n');
      return;
    }
    printTable(
      ['id', 'instance', 'type', 'size', 'finished', 'verified', 'label'],
      views.map((v) => [
        v.id,
        `${v.name}${v.instanceDeleted ? ' (deleted)' : ''}`,
        v.type,
        formatSize(v.sizeBytes),
        `${v.finishedAt} (${formatAge(v.finishedAt)})`,
        v.verification ? `${v.verification.ok ? 'ok' : 'FAILED'}${v.verification.restored ? ' (restored)' : ''}` : 'no',
        v.label,
      ]),
    );
  });
}

function printBackup(v: BackupView): void {
  printFields([
    ['id', v.id],
    ['instance', `${v.name} (${v.instance})${v.instanceDeleted ? ', deleted' : ''}`],
    ['type', v.type],
    ['label', v.label],
    ['trigger', v.trigger],
    ['server', `PostgreSQL ${v.serverVersion}`],
    ['started', v.startedAt],
    ['finished', `${v.finishedAt} (${v.durationSeconds} s)`],
    ['size', formatSize(v.sizeBytes)],
    ['files', v.files.map((f) => `${f.name} ${formatSize(f.size)} sha256:${f.sha256.slice(0, 16)}...`).join(', ')],
    ['wal', v.wal ? `timeline ${v.wal.timeline}, ${v.wal.startLsn} .. ${v.wal.endLsn} (${v.wal.startSegment} .. ${v.wal.endSegment})` : null],
    ['rows', v.rowCounts ? Object.entries(v.rowCounts).map(([t, n]) => `${t}=${n}`).join(' ') || '(no tables)' : null],
    ['verified', v.verification ? `${v.verification.at}: ${v.verification.ok ? 'ok' : `FAILED: ${v.verification.problems.join('; ')}`}${v.verification.restored ? ' (restored)' : ''}` : 'never'],
    ['path', v.path],
  ]);
}

export async function show(id: string, opts: CommonOptions): Promise<void> {
  await withServices(opts, async ({ backups }) => {
    const view = await backups.show(id);
    if (opts.json) printJson(view);
    else printBackup(view);
  });
}

export async function verify(id: string, opts: CommonOptions & { restore?: boolean }): Promise<void> {
  await withServices(opts, async ({ backups }) => {
    await backups.show(id);
    const progress = await createProgress(Boolean(opts.json));
    const view = await progress.track(
      (async () => {
        progress.report({ step: 'verify', phase: 'start', message: opts.restore ? 'check the files, restore the backup and count its rows' : 'check the files and the manifest' });
        const started = Date.now();
        const result = await backups.verify(id, { restore: Boolean(opts.restore) });
        progress.report({ step: 'verify', phase: 'done', message: 'verified', ms: Date.now() - started });
        return result;
      })(),
    );
    if (opts.json) printJson(view);
    else printBackup(view);
    if (view.verification && !view.verification.ok) {
      throw new DbaasError('BACKUP_CORRUPT', `backup ${id} failed verification: ${view.verification.problems.join('; ')}`, { problems: view.verification.problems });
    }
  });
}

export async function remove(id: string, opts: CommonOptions & { yes?: boolean }): Promise<void> {
  await withServices(opts, async ({ backups }) => {
    const view = await backups.show(id);
    if (!opts.yes) await confirm(view.id, 'delete backup', `of ${view.name} (${view.type}, ${view.finishedAt})`);
    const deleted = await backups.delete(id);
    if (opts.json) return printJson(deleted);
    process.stdout.write(`deleted backup ${deleted.id}\n`);
  });
}

function printRestored(created: RestoredInstance | RestoredInPlace, json: boolean): void {
  if (json) return printJson(created);
  if (!('password' in created)) {
    process.stderr.write(
      `\n${created.name} restored in place from ${created.restore.backup} (target: ${created.restore.target}); ` +
        `its data before the restore is backup ${created.restore.safetyBackup}.\n`,
    );
    process.stdout.write(`${created.status}\n`);
    return;
  }
  process.stderr.write(`\ninstance ${created.name} (${created.id}) restored from ${created.restore.backup} (target: ${created.restore.target}) on port ${created.port}.\n`);
  process.stderr.write('The password is shown once; `dbaas connect ' + created.name + ' --show-password` shows it again.\n\n');
  process.stdout.write(created.connectionString + '\n');
}

export async function restore(
  source: string,
  opts: CommonOptions & {
    as?: string;
    inPlace?: boolean;
    yes?: boolean;
    toTime?: string;
    toLsn?: string;
    latest?: boolean;
    backup?: string;
    memory?: string;
    cpus?: number;
    port?: number;
  },
): Promise<void> {
  await withServices(opts, async ({ backups }) => {
    const given = { as: opts.as, inPlace: opts.inPlace, toTime: opts.toTime, toLsn: opts.toLsn, latest: opts.latest, backup: opts.backup, memory: opts.memory, cpus: opts.cpus, port: opts.port };
    const input = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
    if (opts.inPlace && !opts.yes) await confirm(source, 'replace the data of', '(a safety backup of its current state is taken first; the instance is down meanwhile)');
    const created = await interruptible(Boolean(opts.json), 'restore', (progress, signal) => backups.restore(source, input, { progress: progress.report, signal }));
    printRestored(created, Boolean(opts.json));
  });
}

export async function clone(ref: string, newName: string, opts: CommonOptions): Promise<void> {
  await withServices(opts, async ({ backups }) => {
    const created = await interruptible(Boolean(opts.json), 'clone', (progress, signal) => backups.clone(ref, newName, { progress: progress.report, signal }));
    printRestored(created, Boolean(opts.json));
  });
}

export async function schedule(
  ref: string,
  opts: CommonOptions & { cron?: string; type?: string; keepLast?: number; keepDays?: number; verify?: string; off?: boolean },
): Promise<void> {
  await withServices(opts, async ({ backups }) => {
    if (opts.off && opts.cron) throw new DbaasError('USAGE', 'give either --cron or --off');
    if (opts.off) await backups.clearSchedule(ref);
    else if (opts.cron) {
      await backups.setSchedule(ref, {
        cron: opts.cron,
        type: opts.type,
        verify: opts.verify,
        ...(opts.keepLast !== undefined ? { keepLast: opts.keepLast } : {}),
        ...(opts.keepDays !== undefined ? { keepDays: opts.keepDays } : {}),
      });
    }
    const current = await backups.schedule(ref);
    if (opts.json) return printJson({ schedule: current });
    if (!current) {
      process.stdout.write(`${ref}: no backup schedule\n`);
      return;
    }
    printFields(scheduleFields(current));
  });
}

function scheduleFields(s: BackupSchedule): Array<[string, string | null]> {
  const run = s.lastRun;
  return [
    ['schedule', `${s.cron} (UTC), ${s.type}`],
    ['retention', [s.keepLast !== undefined ? `newest ${s.keepLast}` : null, s.keepDays !== undefined ? `${s.keepDays} days` : null].filter(Boolean).join(' or ') || 'keep all'],
    ['verify', s.verify],
    [
      'last run',
      run
        ? `${run.finishedAt}: ${run.ok ? `ok, ${run.backup}` : `FAILED: ${run.error}`}${run.madeUp ? ` (made up for ${run.dueAt})` : ''}${run.removedBackups.length || run.removedWalSegments ? `; removed ${run.removedBackups.length} backups, ${run.removedWalSegments} WAL segments` : ''}`
        : 'not yet',
    ],
  ];
}

/** The archive and backup lines of `dbaas info`. */
export function backupFields(status: InstanceBackupStatus): Array<[string, string | null]> {
  const a: ArchiveStatus = status.archive;
  return [
    [
      'wal archive',
      !a.enabled
        ? 'not yet: restart the instance to start archiving'
        : a.lastArchivedWal
          ? `${a.lastArchivedWal}, ${a.ageSeconds} s ago (${a.segments} segments, ${formatSize(a.bytes)})`
          : 'nothing archived yet',
    ],
    ['archive failures', a.failedCount === null ? 'not sampled' : a.failedCount === 0 ? 'none' : `${a.failedCount}; last: ${a.lastFailedWal} at ${a.lastFailedAt}`],
    ...(a.gaps.count > 0
      ? [['archive gaps', `${a.gaps.count} segments given up (last ${a.gaps.lastWal} at ${a.gaps.lastAt}): restores cannot cross them; take a base backup`] as [string, string]]
      : []),
    ['backups', status.lastBackup ? `${status.backups}; newest ${status.lastBackup.id} (${status.lastBackup.type}, ${formatAge(status.lastBackup.finishedAt)})` : 'none'],
    ['restorable from', status.restorableFrom ?? 'no physical backup yet'],
    ...(status.schedule ? scheduleFields(status.schedule) : [['schedule', 'none'] as [string, string]]),
  ];
}
