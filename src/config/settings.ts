import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { DbaasError } from '../errors.js';
import { MIN_MEMORY, parseSize } from '../instances/size.js';
import { configFileOf, homeOf, registryFileOf } from './home.js';
import { PROJECT_ROOT } from './root.js';

export { PROJECT_ROOT };

export const SUPPORTED_VERSIONS = [12, 13, 14, 15, 16, 17] as const;

const portNumber = z.number().int().min(1).max(65535);

const PortRangeSchema = z
  .object({ start: portNumber, end: portNumber })
  .refine((r) => r.start <= r.end, { message: 'start must not be above end' });

const SettingsShape = {
  /** Where the runtime folders instances/, config/, logs/ live. */
  home: z.string().min(1),
  apiHost: z.string().min(1).default('127.0.0.1'),
  apiPort: portNumber.default(8000),
  /** Host names the API answers to besides loopback ones (DNS rebinding guard), e.g. dbaas.internal. */
  apiAllowedHosts: z.array(z.string().min(1)).default([]),
  /** Browser origins (scheme://host:port) that may call the API besides its own. */
  apiAllowedOrigins: z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'must be scheme://host[:port]')).default([]),
  portRange: PortRangeSchema.default({ start: 5433, end: 5632 }),
  bindAddress: z.ipv4().default('127.0.0.1'),
  /** Host name written into connection strings; defaults to the bind address. */
  connectHost: z.string().min(1).optional(),
  dockerSocket: z.string().min(1).default('/var/run/docker.sock'),
  /** Image per major version; a version that is absent maps to `postgres:<version>`. */
  images: z.record(z.string().regex(/^\d+$/), z.string().min(1)).default({}),
  /** `missing` pulls an absent image at create; `never` only uses images already on the host. */
  pullPolicy: z.enum(['missing', 'never']).default('missing'),
  defaultVersion: z.number().int().default(15),
  defaultMemory: z.string().default('512m'),
  defaultCpus: z.number().positive().default(1),
  pidsLimit: z.number().int().min(32).default(512),
  readyTimeoutMs: z.number().int().min(100).default(120_000),
  stopTimeoutSec: z.number().int().min(1).max(600).default(30),
  /** How often `dbaas serve` checks that every running instance's agent runs and samples. */
  watchdogIntervalSec: z.number().min(0.5).max(3600).default(15),
  /** Base64 or hex of 32 bytes; when absent a key file is created under config/. */
  masterKey: z.string().min(1).optional(),
  logLevel: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  /** Largest accepted JSON request body, in express's notation. */
  bodyLimit: z.string().default('1mb'),
  hostCpus: z.number().positive().default(availableParallelism()),
  /** The most memory one instance may have: the host's (DBAAS_HOST_MEMORY to lower it). */
  hostMemory: z.number().int().positive().default(totalmem()),
  /** /health fails when the disk of the home has less free space than this. */
  diskMinFreeBytes: z.number().int().min(0).default(1024 * 1024 * 1024),
  /** Data API: connections per instance and in all, and what one request may take. */
  poolMaxPerInstance: z.number().int().min(1).max(200).default(10),
  poolMaxTotal: z.number().int().min(1).max(10_000).default(100),
  statementTimeoutMs: z.number().int().min(100).default(5000),
  statementTimeoutMaxMs: z.number().int().min(100).default(60_000),
  rowsDefaultLimit: z.number().int().min(1).default(100),
  rowsMaxLimit: z.number().int().min(1).default(1000),
  queryMaxRows: z.number().int().min(1).default(10_000),
  /**
   * New instances start from a data directory initialised once per image (fast), instead of
   * running initdb on every create; off: every create initialises its own.
   */
  dataTemplates: z.boolean().default(true),
  /** Where they are kept (default config/data-templates); several homes may share one. */
  dataTemplatesDir: z.string().min(1).optional(),
  /** Where the nunjucks templates are read; copy templates/ to customise them. */
  templatesDir: z.string().min(1).optional(),
  /**
   * The backup repository: base backups, logical dumps and the WAL archive of every instance, in
   * `<repository>/<instance id>/`. Absent: each instance's own `instances/<id>/backups/`. Point it
   * at another disk (or an NFS mount) so that backups survive the loss of the instance folder.
   */
  backupRepository: z.string().min(1).optional(),
  /**
   * Seconds after which a WAL segment with committed data is archived even if it is not full
   * (PostgreSQL's archive_timeout): the recovery point objective of an idle-ish instance.
   */
  archiveTimeoutSec: z.number().int().min(10).max(3600).default(60),
  /**
   * How much WAL (MB) may wait in an instance's pg_wal for an archive that cannot be written
   * before the archive command gives segments up (recorded as gaps) so the data disk does not fill.
   */
  archiveMaxPendingMb: z.number().int().min(64).default(2048),
  /**
   * An age identity file (`age-keygen -o key.txt`): when set, base backups, dumps and archived
   * WAL are encrypted to its public key inside the server's container (which never holds the
   * private key); restores and verifications need the file. Separate from the master key.
   */
  backupKeyFile: z.string().min(1).optional(),
  /** The age binary mounted into containers to encrypt and decrypt (a glibc build: Debian's). */
  ageBinary: z.string().min(1).default('/usr/bin/age'),
  /** How often `dbaas serve` looks for scheduled backups that are due. */
  schedulerIntervalSec: z.number().min(0.5).max(3600).default(30),
  /** Client networks that may reach the API at all (checked before the token); empty: any. */
  allowedNetworks: z.array(z.union([z.cidrv4(), z.cidrv6()])).default([]),
  /** Failed authentications one client address may make per window before it gets 429. */
  authFailureLimit: z.number().int().min(1).default(20),
  authFailureWindowSec: z.number().int().min(1).default(900),
  /** The audit log's size at which it is rotated, and how many rotated files are kept. */
  auditMaxFileBytes: z.number().int().min(4096).default(16 * 1024 * 1024),
  auditKeep: z.number().int().min(1).max(1000).default(20),
  /** The API's own certificate and key (PEM files); `dbaas serve --tls auto` issues them from the local CA. */
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
};

export const SettingsSchema = z.object(SettingsShape).superRefine((s, ctx) => {
    const memory = parseSize(s.defaultMemory);
    if (memory === undefined || memory < MIN_MEMORY) {
      ctx.addIssue({ code: 'custom', path: ['defaultMemory'], message: 'must be a size of at least 128m, e.g. 512m' });
    }
    if (!(SUPPORTED_VERSIONS as readonly number[]).includes(s.defaultVersion)) {
      ctx.addIssue({ code: 'custom', path: ['defaultVersion'], message: `must be one of ${SUPPORTED_VERSIONS.join(', ')}` });
    }
    if (s.defaultCpus < 0.1 || s.defaultCpus > s.hostCpus) {
      ctx.addIssue({ code: 'custom', path: ['defaultCpus'], message: `must be between 0.1 and ${s.hostCpus} (the host's cores)` });
    }
  });

export type Settings = z.output<typeof SettingsSchema>;

/** Which setting each DBAAS_ variable feeds, and how its text becomes a value. */
const ENV_VARS: Record<string, { key: keyof Settings; convert: (text: string) => unknown }> = {
  DBAAS_HOME: { key: 'home', convert: (t) => t },
  DBAAS_API_HOST: { key: 'apiHost', convert: (t) => t },
  DBAAS_API_PORT: { key: 'apiPort', convert: toNumber },
  DBAAS_API_ALLOWED_HOSTS: { key: 'apiAllowedHosts', convert: commaList },
  DBAAS_API_ALLOWED_ORIGINS: { key: 'apiAllowedOrigins', convert: commaList },
  DBAAS_PORT_RANGE: { key: 'portRange', convert: parsePortRange },
  DBAAS_BIND_ADDRESS: { key: 'bindAddress', convert: (t) => t },
  DBAAS_CONNECT_HOST: { key: 'connectHost', convert: (t) => t },
  DBAAS_DOCKER_SOCKET: { key: 'dockerSocket', convert: (t) => t },
  DBAAS_PULL_POLICY: { key: 'pullPolicy', convert: (t) => t },
  DBAAS_DEFAULT_VERSION: { key: 'defaultVersion', convert: toNumber },
  DBAAS_DEFAULT_MEMORY: { key: 'defaultMemory', convert: (t) => t },
  DBAAS_DEFAULT_CPUS: { key: 'defaultCpus', convert: toNumber },
  DBAAS_PIDS_LIMIT: { key: 'pidsLimit', convert: toNumber },
  DBAAS_READY_TIMEOUT: { key: 'readyTimeoutMs', convert: (t) => Math.round(toNumber(t) * 1000) },
  DBAAS_STOP_TIMEOUT: { key: 'stopTimeoutSec', convert: toNumber },
  DBAAS_WATCHDOG_INTERVAL: { key: 'watchdogIntervalSec', convert: toNumber },
  DBAAS_MASTER_KEY: { key: 'masterKey', convert: (t) => t },
  DBAAS_LOG_LEVEL: { key: 'logLevel', convert: (t) => t },
  DBAAS_BODY_LIMIT: { key: 'bodyLimit', convert: (t) => t },
  DBAAS_AUDIT_MAX_FILE: { key: 'auditMaxFileBytes', convert: (t) => parseSize(t) ?? Number.NaN },
  DBAAS_AUDIT_KEEP: { key: 'auditKeep', convert: toNumber },
  DBAAS_HOST_MEMORY: { key: 'hostMemory', convert: (t) => parseSize(t) ?? Number.NaN },
  DBAAS_DISK_MIN_FREE: { key: 'diskMinFreeBytes', convert: (t) => parseSize(t) ?? Number.NaN },
  DBAAS_TEMPLATES_DIR: { key: 'templatesDir', convert: (t) => t },
  DBAAS_DATA_TEMPLATES: { key: 'dataTemplates', convert: onOff },
  DBAAS_DATA_TEMPLATES_DIR: { key: 'dataTemplatesDir', convert: (t) => t },
  DBAAS_POOL_MAX: { key: 'poolMaxPerInstance', convert: toNumber },
  DBAAS_POOL_MAX_TOTAL: { key: 'poolMaxTotal', convert: toNumber },
  DBAAS_STATEMENT_TIMEOUT: { key: 'statementTimeoutMs', convert: (t) => Math.round(toNumber(t) * 1000) },
  DBAAS_STATEMENT_TIMEOUT_MAX: { key: 'statementTimeoutMaxMs', convert: (t) => Math.round(toNumber(t) * 1000) },
  DBAAS_ROWS_DEFAULT_LIMIT: { key: 'rowsDefaultLimit', convert: toNumber },
  DBAAS_ROWS_MAX_LIMIT: { key: 'rowsMaxLimit', convert: toNumber },
  DBAAS_QUERY_MAX_ROWS: { key: 'queryMaxRows', convert: toNumber },
  DBAAS_BACKUP_REPOSITORY: { key: 'backupRepository', convert: (t) => t },
  DBAAS_ARCHIVE_TIMEOUT: { key: 'archiveTimeoutSec', convert: toNumber },
  DBAAS_SCHEDULER_INTERVAL: { key: 'schedulerIntervalSec', convert: toNumber },
  DBAAS_BACKUP_KEY_FILE: { key: 'backupKeyFile', convert: (t) => t },
  DBAAS_AGE_BINARY: { key: 'ageBinary', convert: (t) => t },
  DBAAS_ALLOWED_NETWORKS: { key: 'allowedNetworks', convert: commaList },
  DBAAS_AUTH_FAILURE_LIMIT: { key: 'authFailureLimit', convert: toNumber },
  DBAAS_AUTH_FAILURE_WINDOW: { key: 'authFailureWindowSec', convert: toNumber },
  DBAAS_TLS_CERT: { key: 'tlsCert', convert: (t) => t },
  DBAAS_TLS_KEY: { key: 'tlsKey', convert: (t) => t },
  DBAAS_ARCHIVE_MAX_PENDING: { key: 'archiveMaxPendingMb', convert: (t) => Math.floor((parseSize(t) ?? Number.NaN) / (1024 * 1024)) },
};

const IMAGE_VAR = /^DBAAS_IMAGE_(\d+)$/;

function toNumber(text: string): number {
  const n = Number(text);
  return text.trim() === '' ? Number.NaN : n;
}

/** on/off, true/false, 1/0, yes/no; anything else is left as text for zod to refuse. */
function onOff(text: string): unknown {
  const t = text.trim().toLowerCase();
  if (['1', 'true', 'on', 'yes'].includes(t)) return true;
  if (['0', 'false', 'off', 'no'].includes(t)) return false;
  return text;
}

function commaList(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

function parsePortRange(text: string): unknown {
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(text);
  return m ? { start: Number(m[1]), end: Number(m[2]) } : text;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Values that win over env and file (the CLI's flags). */
  overrides?: Partial<Settings>;
}

/**
 * Settings come from defaults, then the config file (`$DBAAS_CONFIG` or
 * `<home>/config/dbaas.yaml`), then DBAAS_* variables. A bad value fails with CONFIG_INVALID naming
 * the variable or the file key it came from.
 */
export function loadSettings(options: LoadOptions = {}): Settings {
  const env = options.env ?? process.env;
  const home = homeOf(env);
  const configFile = configFileOf(env, home);

  const fromFile = readConfigFile(configFile);
  const origin = new Map<string, string>();
  for (const key of Object.keys(fromFile)) origin.set(key, `${configFile}: ${key}`);

  const fromEnv: Record<string, unknown> = {};
  if (fromFile.images !== undefined && (typeof fromFile.images !== 'object' || fromFile.images === null || Array.isArray(fromFile.images))) {
    throw new DbaasError('CONFIG_INVALID', `${configFile}: images must map versions to images, e.g. images: {"15": "postgres:15"}`);
  }
  const images: Record<string, string> = { ...((fromFile.images as Record<string, string> | undefined) ?? {}) };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const spec = ENV_VARS[name];
    if (spec) {
      fromEnv[spec.key] = spec.convert(value);
      origin.set(spec.key, name);
    }
    const image = IMAGE_VAR.exec(name);
    if (image?.[1]) {
      images[image[1]] = value;
      origin.set('images', name);
    }
  }

  const merged = { ...fromFile, ...fromEnv, images, ...options.overrides, home };
  const parsed = SettingsSchema.safeParse(merged);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => {
      const top = String(issue.path[0] ?? '');
      return { field: origin.get(top) ?? issue.path.join('.'), message: issue.message };
    });
    throw new DbaasError(
      'CONFIG_INVALID',
      `invalid configuration: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
      { issues },
    );
  }
  return parsed.data;
}

function readConfigFile(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  let data: unknown;
  try {
    // The YAML parser is loaded only when there is a file to parse: most runs have none, and
    // every CLI command pays for what it loads at start.
    const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
    data = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DbaasError('CONFIG_INVALID', `cannot parse ${file}: ${(err as Error).message}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new DbaasError('CONFIG_INVALID', `${file} must hold a mapping of settings`);
  }
  const known = new Set(Object.keys(SettingsShape));
  const unknownKeys = Object.keys(data).filter((k) => !known.has(k) || k === 'home');
  if (unknownKeys.length > 0) {
    throw new DbaasError('CONFIG_INVALID', `${file}: unknown setting(s) ${unknownKeys.join(', ')}`);
  }
  return data as Record<string, unknown>;
}

/** Paths of the runtime folders, all below the home. */
export function runtimePaths(settings: Settings) {
  const home = settings.home;
  return {
    home,
    instancesDir: join(home, 'instances'),
    registryFile: registryFileOf(home),
    keyFile: join(home, 'config', 'master.key'),
    /** pg_settings of each image's server, cached per image id (see runtime/pgSettingsCatalog.ts). */
    settingsCatalogDir: join(home, 'config', 'pg-settings'),
    /** Template data directories, one per image id (see runtime/dataTemplate.ts). */
    dataTemplatesDir: settings.dataTemplatesDir ? resolve(settings.dataTemplatesDir) : join(home, 'config', 'data-templates'),
    /** The API's long operations, one JSON file each (see operations/store.ts). */
    operationsDir: join(home, 'config', 'operations'),
    /** API tokens: names, roles, projects and the hashes of their secrets (see auth/tokens.ts). */
    tokensFile: join(home, 'config', 'tokens.json'),
    /** Idempotency keys of the API's creating POSTs, one file each, kept 24 hours. */
    idempotencyDir: join(home, 'config', 'idempotency'),
    /** The local certificate authority: TLS for the API and every instance's server. */
    caDir: join(home, 'config', 'ca'),
    /** Every change and every read of a secret, by whom (auth/audit.ts). */
    auditLog: join(home, 'logs', 'audit.ndjson'),
    logDir: join(home, 'logs'),
    provisioningLog: join(home, 'logs', 'provisioning.log'),
    templatesDir: settings.templatesDir ? resolve(settings.templatesDir) : join(PROJECT_ROOT, 'templates'),
    /** The shared backup repository, or null: then each instance keeps its own in instances/<id>/backups/. */
    backupRepository: settings.backupRepository ? resolve(settings.backupRepository) : null,
    scriptsDir: join(PROJECT_ROOT, 'scripts'),
    monitoringDir: join(PROJECT_ROOT, 'monitoring'),
  };
}

export type RuntimePaths = ReturnType<typeof runtimePaths>;

/** The image for a major version: configured, or the official `postgres:<version>`. */
export function imageFor(settings: Settings, version: number): string {
  return settings.images[String(version)] ?? `postgres:${version}`;
}
