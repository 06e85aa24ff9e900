import { z } from 'zod';
import { BackupFileSchema, BackupIdSchema, VerificationSchema, WalRangeSchema } from './manifest.js';

/** The inputs and answers of the backup routes and commands, validated and documented from here. */

export const CreateBackupSchema = z
  .object({
    type: z.enum(['physical', 'logical']).default('physical').meta({
      description: 'physical: a base backup of the whole server (point-in-time restores start from it); logical: pg_dump of the application database and the roles',
    }),
    label: z.string().trim().min(1).max(200).optional().meta({ description: 'A note of your own, shown in listings' }),
  })
  .strict()
  .meta({ id: 'CreateBackup' });
export type CreateBackupInput = z.output<typeof CreateBackupSchema>;

export const BackupViewSchema = z
  .object({
    id: BackupIdSchema,
    instance: z.string().meta({ description: 'The id of the instance it was taken of' }),
    name: z.string().meta({ description: "The instance's name when it was taken" }),
    project: z.string().meta({ description: "The instance's project" }),
    instanceDeleted: z.boolean().meta({ description: 'Whether the instance is gone (the backup stays restorable)' }),
    type: z.enum(['physical', 'logical']),
    label: z.string().nullable(),
    trigger: z.enum(['manual', 'schedule', 'safety', 'upgrade']),
    version: z.number().int(),
    serverVersion: z.string(),
    startedAt: z.string(),
    finishedAt: z.string(),
    durationSeconds: z.number(),
    sizeBytes: z.number().int(),
    files: z.array(BackupFileSchema),
    wal: WalRangeSchema.nullable(),
    rowCounts: z.record(z.string(), z.number()).nullable(),
    verification: VerificationSchema.nullable(),
    encrypted: z.boolean().meta({ description: 'Encrypted with age to the backup key (DBAAS_BACKUP_KEY_FILE)' }),
    path: z.string().meta({ description: 'The folder holding its files' }),
  })
  .meta({ id: 'Backup' });
export type BackupView = z.output<typeof BackupViewSchema>;

export const BackupListSchema = z.object({ backups: z.array(BackupViewSchema) }).meta({ id: 'BackupList' });

export const ArchiveStatusSchema = z
  .object({
    enabled: z.boolean().meta({ description: "Whether the server runs with dbaas's archiving (after a restart for instances made before it)" }),
    path: z.string(),
    segments: z.number().int(),
    bytes: z.number().int(),
    lastArchivedWal: z.string().nullable(),
    lastArchivedAt: z.string().nullable(),
    ageSeconds: z.number().nullable().meta({ description: 'Seconds since the last segment reached the archive' }),
    failedCount: z.number().int().nullable().meta({ description: "Failed attempts since the server started (pg_stat_archiver); null when it is not sampled" }),
    lastFailedWal: z.string().nullable(),
    lastFailedAt: z.string().nullable(),
    gaps: z
      .object({ count: z.number().int(), lastWal: z.string().nullable(), lastAt: z.string().nullable() })
      .meta({ description: 'Segments given up while the archive could not be written and pg_wal passed DBAAS_ARCHIVE_MAX_PENDING: restores cannot cross them' }),
  })
  .meta({ id: 'ArchiveStatus' });
export type ArchiveStatus = z.output<typeof ArchiveStatusSchema>;


const pointInTime = z
  .string()
  .refine((t) => Number.isFinite(Date.parse(t)), 'must be a time, e.g. 2026-11-24T15:30:00Z')
  .transform((t) => new Date(Date.parse(t)).toISOString());

export const RestoreSchema = z
  .object({
    as: z.string().optional().meta({ description: 'The name of the new instance (required unless inPlace)' }),
    inPlace: z.boolean().optional().meta({
      description: "Replace the instance's own data instead (after a safety backup of its current state); the instance is down meanwhile",
    }),
    backup: BackupIdSchema.optional().meta({ description: 'Start from this backup (default: the newest one that can reach the target)' }),
    toTime: pointInTime.optional().meta({ description: 'Replay WAL up to this moment (ISO 8601)' }),
    toLsn: z
      .string()
      .regex(/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/, 'must be a WAL position like 0/3000060')
      .optional(),
    latest: z.boolean().optional().meta({ description: 'Replay all archived WAL (the default without a target)' }),
    memory: z.string().optional(),
    cpus: z.number().optional(),
    port: z.number().int().optional(),
  })
  .strict()
  .refine((r) => [r.toTime, r.toLsn, r.latest].filter((v) => v !== undefined && v !== false).length <= 1, {
    message: 'give at most one of toTime, toLsn, latest',
    path: ['toTime'],
  })
  .refine((r) => (r.inPlace ? r.as === undefined : r.as !== undefined), {
    message: 'give the new instance\'s name (as), or inPlace to replace the instance\'s own data',
    path: ['as'],
  })
  .refine((r) => !r.inPlace || (r.memory === undefined && r.cpus === undefined && r.port === undefined), {
    message: 'an in-place restore keeps the instance\'s memory, CPUs and port',
    path: ['inPlace'],
  })
  .meta({ id: 'Restore' });
export type RestoreInput = z.output<typeof RestoreSchema>;

export const VERIFY_POLICIES = ['each', 'weekly', 'never'] as const;

/** A backup schedule as it is set (`dbaas backup schedule`, PUT /instances/{ref}/backup-schedule). */
export const BackupScheduleInputSchema = z
  .object({
    cron: z.string().trim().min(9).max(100).meta({ description: 'Five-field cron expression in UTC, e.g. "0 3 * * *"', example: '0 3 * * *' }),
    type: z.enum(['physical', 'logical']).default('physical'),
    keepLast: z.number().int().min(1).max(10_000).optional().meta({ description: 'Keep the newest N scheduled backups' }),
    keepDays: z.number().int().min(1).max(36_500).optional().meta({ description: 'Keep scheduled backups younger than D days' }),
    verify: z.enum(VERIFY_POLICIES).default('never').meta({ description: 'Verify by a real restore after each backup, once a week, or never' }),
  })
  .strict()
  .meta({ id: 'BackupScheduleInput' });
export type BackupScheduleInput = z.output<typeof BackupScheduleInputSchema>;

export const ScheduleRunSchema = z.object({
  /** The scheduled moment this run was for. */
  dueAt: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  ok: z.boolean(),
  backup: z.string().nullable(),
  error: z.string().nullable(),
  /** Run late, at a start of the scheduler, for a moment that passed while none ran. */
  madeUp: z.boolean(),
  /** What retention removed after it: backup ids, and how many WAL segments. */
  removedBackups: z.array(z.string()),
  removedWalSegments: z.number().int(),
  verified: z.boolean().nullable(),
});
export type ScheduleRun = z.output<typeof ScheduleRunSchema>;

/** The schedule kept in the instance's record, with its claim (one scheduler runs a due job) and last run. */
export const BackupScheduleSchema = BackupScheduleInputSchema.extend({
  setAt: z.string(),
  claim: z.object({ dueAt: z.string(), pid: z.number().int(), host: z.string(), at: z.string() }).optional(),
  lastRun: ScheduleRunSchema.optional(),
  lastVerifiedAt: z.string().optional(),
}).meta({ id: 'BackupSchedule' });
export type BackupSchedule = z.output<typeof BackupScheduleSchema>;

export const InstanceBackupStatusSchema = z
  .object({
    archive: ArchiveStatusSchema,
    schedule: BackupScheduleSchema.nullable(),
    backups: z.number().int(),
    lastBackup: BackupViewSchema.nullable(),
    /** The earliest moment a point-in-time restore can reach: the end of the oldest physical backup. */
    restorableFrom: z.string().nullable(),
  })
  .meta({ id: 'InstanceBackupStatus' });
export type InstanceBackupStatus = z.output<typeof InstanceBackupStatusSchema>;
