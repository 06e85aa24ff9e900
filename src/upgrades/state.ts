import { z } from 'zod';

/**
 * An instance's major upgrade, kept in its registry record from the moment before its server
 * stops until it is finalized or rolled back: a process killed at any step leaves this behind,
 * and `--rollback` reads from it where the old cluster is and how to get it back.
 */

export const UPGRADE_METHODS = ['link', 'dump'] as const;
export type UpgradeMethod = (typeof UPGRADE_METHODS)[number];

const VersionImageSchema = z.object({ version: z.number().int(), image: z.string() });

export const UpgradeStateSchema = z
  .object({
    from: VersionImageSchema,
    to: VersionImageSchema,
    method: z.enum(UPGRADE_METHODS),
    /** upgrading: under way, or interrupted (roll it back); upgraded: running on the new version, the old data kept. */
    phase: z.enum(['upgrading', 'upgraded']),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    /** Where the old cluster is kept after the swap, in the instance's folder (data.pg13). */
    keptDataDir: z.string().regex(/^data\.pg\d+$/),
    /**
     * Whether a server has been started on the new cluster. With --method link the old cluster
     * shares its files then, and a rollback recovers the safety backup instead of reusing them.
     */
    newServerStarted: z.boolean(),
    /** The verified base backup taken just before the old server stopped. */
    safetyBackup: z.string().nullable(),
    /** The first WAL segment of the new cluster: a rollback moves the archive's new segments aside from there. */
    newWalStart: z.string().nullable(),
    /** From the old server's stop to the new server's first accepted login. */
    downtimeMs: z.number().int().nullable(),
    /** When `dbaas serve` removes the kept old data (a finalize does it at once). */
    keepUntil: z.string().nullable(),
  })
  .meta({ id: 'UpgradeState' });
export type UpgradeState = z.output<typeof UpgradeStateSchema>;
