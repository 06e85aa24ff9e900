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
    instanceDeleted: z.boolean().meta({ description: 'Whether the instance is gone (the backup stays restorable)' }),
    type: z.enum(['physical', 'logical']),
    label: z.string().nullable(),
    trigger: z.enum(['manual', 'schedule', 'safety']),
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
  })
  .meta({ id: 'ArchiveStatus' });
export type ArchiveStatus = z.output<typeof ArchiveStatusSchema>;

export const InstanceBackupStatusSchema = z
  .object({
    archive: ArchiveStatusSchema,
    backups: z.number().int(),
    lastBackup: BackupViewSchema.nullable(),
    /** The earliest moment a point-in-time restore can reach: the end of the oldest physical backup. */
    restorableFrom: z.string().nullable(),
  })
  .meta({ id: 'InstanceBackupStatus' });
export type InstanceBackupStatus = z.output<typeof InstanceBackupStatusSchema>;

const pointInTime = z
  .string()
  .refine((t) => Number.isFinite(Date.parse(t)), 'must be a time, e.g. 2026-11-24T15:30:00Z')
  .transform((t) => new Date(Date.parse(t)).toISOString());

export const RestoreSchema = z
  .object({
    as: z.string().meta({ description: 'The name of the new instance' }),
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
  .meta({ id: 'Restore' });
export type RestoreInput = z.output<typeof RestoreSchema>;
