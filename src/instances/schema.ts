import { BackupScheduleSchema, InstanceBackupStatusSchema } from '../backups/schema.js';
import { UpgradeStateSchema } from '../upgrades/state.js';
import { z } from 'zod';
import { SUPPORTED_VERSIONS } from '../config/settings.js';
import type { ResourceStats } from '../runtime/workload.js';
import { RecoveriesSchema } from './recoveries.js';
import { DEFAULT_PROJECT, ProjectNameSchema } from '../auth/project.js';
import { formatSize, MIN_MEMORY, parseSize } from './size.js';

/**
 * The instance model: the schemas that validate input (REST bodies and CLI flags go through the
 * same ones), the stored record, the public view, and the other answers the manager gives
 * (created, deleted, logs, stats). The OpenAPI document and the CLI's --json use these.
 */

export { MIN_MEMORY };

export const InstanceNameSchema = z
  .string()
  .min(3, 'must be 3 to 40 characters')
  .max(40, 'must be 3 to 40 characters')
  .regex(
    /^[a-z]([a-z0-9-]*[a-z0-9])?$/,
    'must be a lowercase DNS label: a-z, 0-9 and "-", starting with a letter, not ending with "-"',
  )
  .meta({ description: 'Unique name, a lowercase DNS label of 3-40 characters', example: 'orders' });

const RESERVED_ROLES = new Set(['postgres', 'dbaas_monitor', 'dbaas_api', 'public', 'none', 'current_user', 'session_user']);
const RESERVED_DATABASES = new Set(['postgres', 'template0', 'template1']);

/** A PostgreSQL identifier we create (role, database): plain lowercase so it never needs quoting. */
const identifier = (what: string, reserved: Set<string>) =>
  z
    .string()
    .min(1)
    .max(63, 'must be at most 63 characters')
    .regex(/^[a-z_][a-z0-9_]*$/, `must be a plain lowercase ${what} name: a-z, 0-9, "_", not starting with a digit`)
    .refine((v) => !v.startsWith('pg_'), { message: 'names starting with "pg_" are reserved by PostgreSQL' })
    .refine((v) => !reserved.has(v), { message: 'is reserved' })
    .refine((v) => !v.startsWith('dbaas_'), { message: 'names starting with "dbaas_" are reserved by dbaas' });

export const DatabaseNameSchema = identifier('database', RESERVED_DATABASES).meta({ example: 'app' });
export const UsernameSchema = identifier('role', RESERVED_ROLES).meta({ example: 'app' });

/** Characters that survive env files, psql variables and URLs without escaping ambiguity. */
export const PasswordSchema = z
  .string()
  .min(8, 'must be at least 8 characters')
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9\-_.~+!@%^*=:,?]+$/, 'may use letters, digits and - _ . ~ + ! @ % ^ * = : , ? only');

// Numbers are JSON numbers: `true` is not 1 and " 25600 " is not a port (the CLI converts its
// flags with one parser, src/cli/numbers.ts, before they reach these schemas).
export const VersionSchema = z
  .number()
  .int()
  .refine((v) => (SUPPORTED_VERSIONS as readonly number[]).includes(v), {
    message: `unknown version; supported major versions: ${SUPPORTED_VERSIONS.join(', ')}`,
  })
  .meta({ description: 'PostgreSQL major version', example: 15 });

/** Memory is checked against the host's memory by `memorySchema`, which needs the settings. */
export function memorySchema(hostMemory: number) {
  return z
    .union([z.string(), z.number()])
    .transform((value, ctx) => {
      const bytes = parseSize(value);
      if (bytes === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a size; use e.g. 512m or 1g` });
        return z.NEVER;
      }
      if (bytes < MIN_MEMORY) {
        ctx.addIssue({ code: 'custom', message: `must be at least 128m (got ${formatSize(bytes)})` });
        return z.NEVER;
      }
      if (bytes > hostMemory) {
        ctx.addIssue({ code: 'custom', message: `must be at most ${formatSize(hostMemory)}, the host's memory (got ${formatSize(bytes)})` });
        return z.NEVER;
      }
      return bytes;
    })
    .meta({ description: `Memory limit: bytes or a size like 512m, 1g (128m .. ${formatSize(hostMemory)}, the host's memory)`, example: '512m' });
}

export const ShmSizeSchema = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const bytes = parseSize(value);
    if (bytes === undefined || bytes < 1024 * 1024) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a size of at least 1m` });
      return z.NEVER;
    }
    return bytes;
  })
  .meta({ description: 'Size of /dev/shm: bytes or a size like 128m', example: '128m' });

/** CPUs are checked against the host's cores by `cpusSchema`, which needs the settings. */
export function cpusSchema(hostCpus: number) {
  return z
    .number()
    .min(0.1, 'must be at least 0.1')
    .max(hostCpus, `must be at most ${hostCpus} (the host's cores)`)
    .meta({ description: `CPUs (0.1 .. ${hostCpus})`, example: 1 });
}

export const PortSchema = z
  .number()
  .int('must be an integer')
  .min(1024, 'must be between 1024 and 65535')
  .max(65535, 'must be between 1024 and 65535')
  .meta({ description: 'Host port; auto-assigned from the configured range when absent', example: 5433 });

/** Client networks an instance's pg_hba accepts TLS logins from (`--allow-cidr`); none: any. */
export const AllowCidrsSchema = z
  .array(z.union([z.cidrv4(), z.cidrv6()]))
  .max(50)
  .meta({
    description: 'Client networks (CIDR) that may log in over TLS; empty: any. This host and dbaas itself always may',
    example: ['10.0.0.0/8'],
  });

/** PostgreSQL settings the user overrides (`-c name=value`). */
export const PgSettingsSchema = z
  .record(
    z.string().regex(/^[a-z][a-z0-9_.]*$/, 'setting names are lowercase words like work_mem'),
    z
      .union([z.string(), z.number(), z.boolean()])
      .transform((v) => String(v))
      .refine((v) => v.length > 0 && v.length <= 256 && !/[\r\n\0]/.test(v), {
        message: 'must be 1-256 characters on one line',
      }),
  )
  .meta({ description: 'PostgreSQL settings that override the derived ones', example: { work_mem: '8MB' } });

/**
 * How the monitoring agent samples and keeps its file. Every field is optional: a create fills the
 * missing ones from DEFAULT_MONITORING, an update changes only those it names.
 */
export const MonitoringSettingsSchema = z
  .object({
    intervalSec: z.number().int().min(1).max(3600).optional().meta({ description: 'Seconds between samples (default 10)' }),
    maxFileBytes: z
      .union([z.string(), z.number()])
      .transform((value, ctx) => {
        const bytes = parseSize(value);
        if (bytes === undefined || bytes < 4096) {
          ctx.addIssue({ code: 'custom', message: `"${value}" is not a size of at least 4k` });
          return z.NEVER;
        }
        return bytes;
      })
      .optional()
      .meta({ description: 'metrics.ndjson rotates at this size: bytes or e.g. 10m (default 10m)' }),
    keepFiles: z.number().int().min(1).max(20).optional().meta({ description: 'Rotated files kept (default 3)' }),
  })
  .strict()
  .meta({ id: 'MonitoringSettings' });
export interface MonitoringSettings {
  intervalSec: number;
  maxFileBytes: number;
  keepFiles: number;
}
export const DEFAULT_MONITORING: MonitoringSettings = { intervalSec: 10, maxFileBytes: 10 * 1024 * 1024, keepFiles: 3 };

export const STATUSES = [
  'provisioning',
  'running',
  'stopped',
  'failed',
  'deleting',
  'restarting',
  'oomkilled',
  'missing',
  'paused',
] as const;
export type InstanceStatus = (typeof STATUSES)[number];
export const STORED_STATUSES = ['provisioning', 'running', 'stopped', 'failed', 'deleting'] as const;
export type StoredStatus = (typeof STORED_STATUSES)[number];

/** What the limits of an instance are checked against: the host's cores and memory. */
export interface HostLimits {
  hostCpus: number;
  hostMemory: number;
}

export function createInstanceSchema({ hostCpus, hostMemory }: HostLimits) {
  return z
    .object({
      name: InstanceNameSchema,
      project: ProjectNameSchema.optional(),
      version: VersionSchema.optional(),
      memory: memorySchema(hostMemory).optional(),
      cpus: cpusSchema(hostCpus).optional(),
      shmSize: ShmSizeSchema.optional(),
      port: PortSchema.optional(),
      bindAddress: z.ipv4().optional().meta({ description: 'IPv4 address the port is published on (default from DBAAS_BIND_ADDRESS)' }),
      allowCidrs: AllowCidrsSchema.optional(),
      database: DatabaseNameSchema.optional(),
      username: UsernameSchema.optional(),
      password: PasswordSchema.optional().meta({ description: 'Application password; generated when absent' }),
      pgSettings: PgSettingsSchema.optional(),
      monitoring: MonitoringSettingsSchema.optional(),
      initSql: z
        .string()
        .max(1024 * 1024)
        .optional()
        .meta({
          description:
            'SQL run once after the server is ready, as the application role in its database, in one transaction; ' +
            'a failure fails the create',
        }),
    })
    .strict()
    .meta({ id: 'CreateInstance' });
}
export type CreateInstanceInput = z.output<ReturnType<typeof createInstanceSchema>>;

export function updateInstanceSchema({ hostCpus, hostMemory }: HostLimits) {
  return z
    .object({
      memory: memorySchema(hostMemory).optional(),
      cpus: cpusSchema(hostCpus).optional(),
      pgSettings: PgSettingsSchema.optional(),
      monitoring: MonitoringSettingsSchema.optional(),
      allowCidrs: AllowCidrsSchema.optional().meta({ description: 'Replaces the allowed client networks; applied at once (a reload)' }),
    })
    .strict()
    .refine(
      (v) => v.memory !== undefined || v.cpus !== undefined || v.pgSettings !== undefined || v.monitoring !== undefined || v.allowCidrs !== undefined,
      { message: 'give at least one of memory, cpus, pgSettings, monitoring, allowCidrs' },
    )
    .meta({ id: 'UpdateInstance' });
}
export type UpdateInstanceInput = z.output<ReturnType<typeof updateInstanceSchema>>;

export const ContainerRefSchema = z.object({
  service: z.string(),
  name: z.string(),
});

/** What the registry stores. Secrets are sealed (AES-256-GCM) strings, never plain text. */
export const InstanceRecordSchema = z.object({
  id: z.string().regex(/^db_[a-z0-9]{6,16}$/),
  name: InstanceNameSchema,
  /** Instances made before projects existed belong to the default project. */
  project: ProjectNameSchema.default(DEFAULT_PROJECT),
  version: z.number().int(),
  image: z.string(),
  memory: z.number().int().positive(),
  cpus: z.number().positive(),
  shmSize: z.number().int().positive(),
  pidsLimit: z.number().int().positive(),
  port: z.number().int(),
  bindAddress: z.string(),
  /** Networks its pg_hba accepts TLS logins from; empty: any (see templates/pg_hba.conf.njk). */
  allowCidrs: z.array(z.string()).default([]),
  database: z.string(),
  username: z.string(),
  password: z.string(),
  adminPassword: z.string(),
  monitorPassword: z.string(),
  /** The data API's own login (dbaas_api); records made before it existed get one on first use. */
  apiPassword: z.string().optional(),
  pgSettings: z.record(z.string(), z.string()),
  monitoring: z
    .object({ intervalSec: z.number().int(), maxFileBytes: z.number().int(), keepFiles: z.number().int() })
    .default(DEFAULT_MONITORING),
  status: z.enum(STORED_STATUSES),
  containers: z.array(ContainerRefSchema),
  createdAt: z.string(),
  updatedAt: z.string(),
  lastError: z.string().nullable(),
  /** The process running a create; a provisioning record whose process is gone was abandoned. */
  owner: z.object({ pid: z.number().int(), host: z.string() }).optional(),
  /** The last repair dbaas made on its own (doctor.ts): when, what and why. */
  lastRepair: z.object({ at: z.string(), kind: z.string(), detail: z.string() }).optional(),
  /** The operation running on the instance now, and its process (see operations.ts). */
  operation: z.object({ name: z.string(), pid: z.number().int(), host: z.string(), startedAt: z.string() }).optional(),
  /** Scheduled backups and their retention, run by `dbaas serve` (src/backups/scheduler.ts). */
  backupSchedule: BackupScheduleSchema.optional(),
  /** A major upgrade under way, or done with the old data kept for a rollback (src/upgrades/). */
  upgrade: UpgradeStateSchema.optional(),
});
export type InstanceRecord = z.output<typeof InstanceRecordSchema>;

/** The public view of an instance: no secrets, observed status, derived settings. */
export const InstanceViewSchema = z
  .object({
    id: z.string().meta({ example: 'db_k3j9x2qa' }),
    name: z.string(),
    project: z.string().meta({ description: 'The project it belongs to', example: 'default' }),
    version: z.number().int(),
    image: z.string(),
    memory: z.number().int().meta({ description: 'Memory limit in bytes' }),
    memoryHuman: z.string().meta({ example: '512m' }),
    cpus: z.number(),
    shmSize: z.number().int(),
    pidsLimit: z.number().int(),
    port: z.number().int(),
    bindAddress: z.string(),
    allowCidrs: z.array(z.string()).meta({ description: 'Client networks that may log in over TLS; empty: any' }),
    tls: z
      .object({ notAfter: z.string().nullable(), fingerprintSha256: z.string().nullable() })
      .meta({ description: "The server's TLS certificate (issued by the installation's CA): its end and fingerprint" }),
    host: z.string().meta({ description: 'Host name used in the connection string' }),
    database: z.string(),
    username: z.string(),
    status: z.enum(STATUSES).meta({ description: "Observed state (the engine's) merged with the stored one" }),
    storedStatus: z.enum(STORED_STATUSES),
    pendingRestart: z
      .boolean()
      .meta({ description: 'The compose file changed (e.g. settings derived from a new memory limit) since the container was made' }),
    pgSettings: z.record(z.string(), z.string()).meta({ description: 'Effective PostgreSQL settings (derived plus overrides)' }),
    monitoring: z.object({ intervalSec: z.number(), maxFileBytes: z.number(), keepFiles: z.number() }),
    containers: z.array(ContainerRefSchema.extend({ state: z.string().nullable() })),
    connectionString: z.string().meta({ description: 'postgresql:// URL without the password' }),
    createdAt: z.string(),
    updatedAt: z.string(),
    lastError: z.string().nullable(),
    lastRepair: z
      .object({ at: z.string(), kind: z.string(), detail: z.string() })
      .nullable()
      .meta({ description: 'The last repair dbaas made on its own (dbaas doctor, dbaas serve): when, what, why' }),
    recoveries: RecoveriesSchema,
    upgrade: UpgradeStateSchema.nullable().meta({ description: 'A major upgrade under way, or done with the old data kept until it is finalized or rolled back' }),
    backups: InstanceBackupStatusSchema.optional().meta({ description: 'Its WAL archive and backups (one instance\'s view only)' }),
  })
  .meta({ id: 'Instance' });
export type InstanceView = z.output<typeof InstanceViewSchema>;

/** An instance after `image-refresh`, with the image ids its server ran before and runs now. */
export const RefreshedInstanceSchema = InstanceViewSchema.extend({
  imageRefresh: z.object({
    image: z.string(),
    from: z.string().nullable().meta({ description: 'The image id the server ran (null: no container)' }),
    to: z.string().meta({ description: 'The image id its tag names now' }),
    refreshed: z.boolean().meta({ description: 'false when it ran that image already (nothing was done)' }),
  }),
}).meta({ id: 'RefreshedInstance' });

export const CreatedInstanceSchema = InstanceViewSchema.extend({
  password: z.string().meta({ description: 'Shown once, here, and later only on explicit request' }),
  connectionString: z.string().meta({ description: 'postgresql:// URL with the password' }),
}).meta({ id: 'CreatedInstance' });
export type CreatedInstance = z.output<typeof CreatedInstanceSchema>;

export const InstanceListSchema = z.object({ instances: z.array(InstanceViewSchema) }).meta({ id: 'InstanceList' });
export type InstanceList = z.output<typeof InstanceListSchema>;

/** What a delete answers: the instance it removed, and where its data stays when it was kept. */
export const DeletedInstanceSchema = z
  .object({ id: z.string(), name: z.string(), keptData: z.string().nullable() })
  .meta({ id: 'DeletedInstance' });
export type DeletedInstance = z.output<typeof DeletedInstanceSchema>;

/** Log lines of one of an instance's containers, oldest first; `instance` is the ref as asked. */
export const LogLinesSchema = z.object({ instance: z.string(), lines: z.array(z.string()) });
export type LogLines = z.output<typeof LogLinesSchema>;
export const InstanceLogsSchema = LogLinesSchema.meta({ id: 'InstanceLogs' });

/** How an answer about one instance names it: by its id (`instance`) and its name. */
export const InstanceNamesShape = { instance: z.string(), name: z.string() };

/** CPU, memory, processes and network of a container, as the engine reports them (ResourceStats). */
export const ResourceStatsSchema = z.object({
  cpuPercent: z.number().meta({ description: 'CPU use in percent of one core (as docker stats)' }),
  cpuSecondsTotal: z.number().meta({ description: 'CPU time used since the container started, in seconds (a counter)' }),
  memoryUsed: z.number().meta({ description: 'Bytes used, without the page cache' }),
  memoryLimit: z.number(),
  memoryPercent: z.number(),
  pids: z.number(),
  networkRxBytes: z.number(),
  networkTxBytes: z.number(),
  readAt: z.string(),
});
// The engine's type and this schema are one shape: a field added to either alone (the
// undocumented cpuSecondsTotal of issue 8) fails to compile here.
type SameShape<A, B> = [A, B] extends [B, A] ? true : false;
true satisfies SameShape<ResourceStats, z.output<typeof ResourceStatsSchema>>;

/** The server container's stats, as GET /instances/{id}/stats and `dbaas stats --json` answer them. */
export const InstanceStatsSchema = z
  .object({ ...InstanceNamesShape, ...ResourceStatsSchema.shape })
  .meta({ id: 'ContainerStats' });
export type InstanceStats = z.output<typeof InstanceStatsSchema>;

export const ConnectionInfoSchema = z
  .object({
    host: z.string(),
    port: z.number().int(),
    database: z.string(),
    username: z.string(),
    password: z.string().optional(),
    sslRootCert: z.string().meta({ description: "The CA certificate file on the dbaas host that verifies the server (`dbaas ca` prints it; copy it to a client)" }),
    connectionString: z.string().meta({ description: 'postgresql:// URL with sslmode=verify-full and sslrootcert' }),
    psql: z.string().meta({ description: 'A psql command line' }),
  })
  .meta({ id: 'ConnectionInfo' });
export type ConnectionInfo = z.output<typeof ConnectionInfoSchema>;
