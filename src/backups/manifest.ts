import { z } from 'zod';

/**
 * The files dbaas writes into a backup repository, as zod schemas: every read goes through them,
 * so a hand-edited or half-written file is refused with its path instead of misleading a restore.
 */

export const BACKUP_ID = /^bk_[0-9]{14}[a-z0-9]{4}$/;

export const BackupIdSchema = z.string().regex(BACKUP_ID, 'a backup id looks like bk_20261124153000abcd');

/** Who an instance was: kept beside its backups, so they stay restorable after it is deleted. */
export const InstanceIdentitySchema = z.object({
  id: z.string().regex(/^db_[a-z0-9]+$/),
  name: z.string().min(1),
  version: z.number().int(),
  image: z.string().min(1),
  database: z.string().min(1),
  username: z.string().min(1),
  /** Its project (identities written before projects existed: default). */
  project: z.string().default('default'),
  createdAt: z.string(),
  /** When the instance was deleted (its backups kept); null while it exists. */
  deletedAt: z.string().nullable().default(null),
});
export type InstanceIdentity = z.infer<typeof InstanceIdentitySchema>;

export const BackupFileSchema = z.object({
  name: z.string().regex(/^[a-z0-9_.-]+$/),
  size: z.number().int().min(0),
  sha256: z.string().regex(/^[a-f0-9]{64}$/),
});
export type BackupFile = z.infer<typeof BackupFileSchema>;

export const WalRangeSchema = z.object({
  timeline: z.number().int().min(1),
  startLsn: z.string().regex(/^[0-9A-F]+\/[0-9A-F]+$/),
  endLsn: z.string().regex(/^[0-9A-F]+\/[0-9A-F]+$/),
  /** The WAL segment files the backup needs to be consistent (first and last). */
  startSegment: z.string().regex(/^[0-9A-F]{24}$/),
  endSegment: z.string().regex(/^[0-9A-F]{24}$/),
});
export type WalRange = z.infer<typeof WalRangeSchema>;

export const VerificationSchema = z.object({
  at: z.string(),
  ok: z.boolean(),
  /** Whether the check restored the backup and compared it, or only read its files. */
  restored: z.boolean(),
  problems: z.array(z.string()),
});
export type Verification = z.infer<typeof VerificationSchema>;

export const BackupManifestSchema = z.object({
  format: z.literal(1),
  id: BackupIdSchema,
  type: z.enum(['physical', 'logical']),
  label: z.string().nullable(),
  /** What asked for it: a user, a schedule, a restore in place or an upgrade (the safety backup), or an upgrade's first base backup on the new version. */
  trigger: z.enum(['manual', 'schedule', 'safety', 'upgrade']),
  instance: InstanceIdentitySchema.omit({ deletedAt: true, createdAt: true, project: true }),
  serverVersion: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  files: z.array(BackupFileSchema).min(1),
  /** Physical backups: the WAL a restore needs first. */
  wal: WalRangeSchema.nullable(),
  /** Logical backups: rows per table ("schema.table"), counted in the dump's own snapshot. */
  rowCounts: z.record(z.string(), z.number().int().min(0)).nullable(),
  verification: VerificationSchema.nullable().default(null),
  /** Its files are encrypted with age to the backup key's public key (their names end with .age). */
  encrypted: z.boolean().default(false),
});
export type BackupManifest = z.infer<typeof BackupManifestSchema>;
