import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RuntimePaths, Settings } from '../config/settings.js';
import { effectiveSettings } from '../instances/pgSettings.js';
import type { InstanceRecord } from '../instances/schema.js';
import { MONITOR_ROLE } from '../database/controlAccess.js';
import { homeId, homeNetwork, LABELS } from '../runtime/labels.js';
import { AGE_IN_CONTAINER, backupKey } from '../backups/encryption.js';
import { BackupRepository } from '../backups/repository.js';
import {
  SERVER_BACKUP_AREA,
  SERVER_DATA_PATH,
  SERVER_ENV,
  SERVER_INIT_DIR,
  SERVER_PASSWORD_FILE,
  SERVER_TLS_DIR,
  serverTlsSettings,
  walArchiveSettings,
} from './serverContract.js';
import { createRenderer, type TemplateRenderer } from './templates.js';

export { MONITOR_ROLE };
export const POSTGRES_SERVICE = 'postgres';
export const AGENT_SERVICE = 'agent';

/** The agent sidecar's own limits: bash, psql and one query every few seconds need little. */
export const AGENT_LIMITS = { memory: 32 * 1024 * 1024, cpus: 0.1, pidsLimit: 32 };

/** The folders and files of one instance, below `instances/<id>/`. */
export function instanceFiles(instancesDir: string, id: string) {
  const dir = join(instancesDir, id);
  return {
    dir,
    dataDir: join(dir, 'data'),
    /** A restore in place recovers into this folder while the instance still serves from data/. */
    restoringDataDir: join(dir, 'data.restoring'),
    /** ...and keeps the replaced data/ here until the restored one runs. */
    replacedDataDir: join(dir, 'data.before-restore'),
    logsDir: join(dir, 'logs'),
    scriptsDir: join(dir, 'scripts'),
    backupsDir: join(dir, 'backups'),
    composePath: join(dir, 'docker-compose.yml'),
    /** Each service's config hash, for the stat of the compose file it was read from (a cache). */
    configHashesPath: join(dir, '.config-hashes.json'),
    secretsDir: join(dir, 'secrets'),
    /** The superuser's password, read by the image's entrypoint (POSTGRES_PASSWORD_FILE). */
    postgresPasswordPath: join(dir, 'secrets', 'postgres-password'),
    /** The monitoring role's login for the agent's libpq (PGPASSFILE). */
    agentPgpassPath: join(dir, 'secrets', 'agent.pgpass'),
    /** Where secrets were kept before they left the containers' environment (removed on upgrade). */
    legacyEnvFiles: [join(dir, 'secrets.env'), join(dir, 'agent.env')],
    metricsPath: join(dir, 'logs', 'metrics.ndjson'),
    agentStatePath: join(dir, 'logs', 'agent-state.json'),
    /** The server's own files: TLS certificate and key, pg_hba.conf (owned by the server's user). */
    serverDir: join(dir, 'server'),
    serverCertPath: join(dir, 'server', 'server.crt'),
    serverKeyPath: join(dir, 'server', 'server.key'),
    hbaPath: join(dir, 'server', 'pg_hba.conf'),
  };
}
export type InstanceFiles = ReturnType<typeof instanceFiles>;

export function containerNameFor(record: Pick<InstanceRecord, 'id' | 'name'>, service = POSTGRES_SERVICE): string {
  const base = `dbaas-${record.name}-${record.id.slice(3)}`;
  return service === POSTGRES_SERVICE ? base : `${base}-${service}`;
}

export interface PlainSecrets {
  password: string;
  adminPassword: string;
  monitorPassword: string;
}

/** A line of a libpq password file; `:` and `\` in a field are escaped with `\`. */
export function pgpassLine(user: string, password: string): string {
  const esc = (v: string) => v.replace(/[\\:]/g, (c) => `\\${c}`);
  return `*:*:*:${esc(user)}:${esc(password)}\n`;
}

/** Writes a secret file with mode 0600, tightening one that exists with a wider mode. */
function writeSecret(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/**
 * Lays out an instance on disk: its folders, the secret files (0600, in a 0700 folder), the init
 * scripts and the compose file, all rendered from templates/. It writes files only; containers
 * are the runtime's.
 */
export class Provisioner {
  private readonly renderer: TemplateRenderer;
  readonly backups: BackupRepository;

  constructor(
    private readonly paths: RuntimePaths,
    private readonly settings: Settings,
  ) {
    this.renderer = createRenderer(paths.templatesDir);
    this.backups = new BackupRepository(paths.instancesDir, paths.backupRepository);
  }

  files(id: string): InstanceFiles {
    return instanceFiles(this.paths.instancesDir, id);
  }

  /** Makes the folders and writes every file of a new instance. */
  prepare(record: InstanceRecord, secrets: PlainSecrets): InstanceFiles {
    const files = this.files(record.id);
    mkdirSync(files.dir, { recursive: true, mode: 0o700 });
    for (const dir of [files.dataDir, files.logsDir, files.backupsDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
    // The init scripts are read by the container's postgres user and hold no secrets.
    mkdirSync(files.scriptsDir, { recursive: true, mode: 0o755 });
    chmodSync(files.scriptsDir, 0o755);
    this.writeSecrets(record, secrets);
    this.ensureBackupArea(record);

    const context = { ...record, monitorRole: MONITOR_ROLE };
    writeFileSync(join(files.scriptsDir, '01-init-users.sql'), this.renderer.render('init-scripts/01-init-users.sql.njk', context), {
      mode: 0o644,
    });
    this.renderCompose(record);
    return files;
  }

  /**
   * The files the containers read their secrets from: only root in a container can read them
   * (the image's entrypoint reads the superuser's before it drops to the postgres user), and
   * `docker inspect` shows only their paths. Files of the older layout (secrets in env files
   * the containers got as environment) are removed.
   */
  writeSecrets(record: Pick<InstanceRecord, 'id'>, secrets: Pick<PlainSecrets, 'adminPassword' | 'monitorPassword'>): void {
    const files = this.files(record.id);
    mkdirSync(files.secretsDir, { recursive: true, mode: 0o700 });
    chmodSync(files.secretsDir, 0o700);
    writeSecret(files.postgresPasswordPath, `${secrets.adminPassword}\n`);
    writeSecret(files.agentPgpassPath, pgpassLine(MONITOR_ROLE, secrets.monitorPassword));
    for (const path of files.legacyEnvFiles) rmSync(path, { force: true });
  }

  /** The instance's backup area with its WAL archive folder, and who the instance is. */
  ensureBackupArea(record: InstanceRecord): string {
    const { id, name, project, version, image, database, username, createdAt } = record;
    return this.backups.ensureArea({ id, name, project, version, image, database, username, createdAt, deletedAt: null });
  }

  /**
   * Finishes a restore in place that stopped between its two renames (a crash): without data/,
   * the replaced folder goes back, so the instance starts on the data it had.
   */
  recoverDataSwap(id: string): boolean {
    const files = this.files(id);
    if (existsSync(files.dataDir) || !existsSync(files.replacedDataDir)) return false;
    renameSync(files.replacedDataDir, files.dataDir);
    return true;
  }

  /** Whether the instance's server archives its WAL (its compose file mounts the backup area). */
  archivesWal(id: string): boolean {
    const files = this.files(id);
    return existsSync(files.composePath) && readFileSync(files.composePath, 'utf8').includes(`:${SERVER_BACKUP_AREA}"`);
  }

  /** Whether the instance's files are of the current layout (secret files, no env files, WAL archiving, TLS). */
  hasCurrentLayout(id: string): boolean {
    const files = this.files(id);
    if (!existsSync(files.postgresPasswordPath) || !existsSync(files.agentPgpassPath)) return false;
    if (files.legacyEnvFiles.some((p) => existsSync(p))) return false;
    // A compose file of the older layout names env files instead of the mounted secret files.
    const compose = existsSync(files.composePath) ? readFileSync(files.composePath, 'utf8') : '';
    return (
      compose.includes('/run/secrets/postgres-password') &&
      !/^\s*env_file:/m.test(compose) &&
      compose.includes(`:${SERVER_BACKUP_AREA}"`) &&
      // TLS: the server's folder mounted (its files are written before every start, serverTls.ts).
      compose.includes(`:${SERVER_TLS_DIR}:ro"`)
    );
  }

  /** (Re-)renders docker-compose.yml from the record; the file is what the runtime creates. */
  renderCompose(record: InstanceRecord): string {
    const files = this.files(record.id);
    const text = this.renderer.render('docker-compose.yml.njk', this.composeContext(record, files));
    writeFileSync(files.composePath, text, { mode: 0o644 });
    return files.composePath;
  }

  composeContext(record: InstanceRecord, files: InstanceFiles): Record<string, unknown> {
    const key = backupKey(this.settings);
    const labels = (service: string) => ({
      [LABELS.managed]: 'true',
      [LABELS.home]: homeId(this.paths.home),
      [LABELS.instance]: record.id,
      [LABELS.name]: record.name,
      [LABELS.service]: service,
      [LABELS.version]: String(record.version),
    });
    return {
      id: record.id,
      name: record.name,
      composePath: files.composePath,
      image: record.image,
      containerName: containerNameFor(record),
      serverEnv: SERVER_ENV,
      dataPath: SERVER_DATA_PATH,
      initDir: SERVER_INIT_DIR,
      passwordFile: SERVER_PASSWORD_FILE,
      pgSettings: {
        ...effectiveSettings(record.memory, record.cpus, record.pgSettings),
        ...walArchiveSettings(this.settings.archiveTimeoutSec, this.settings.archiveMaxPendingMb, key ? { age: AGE_IN_CONTAINER, recipient: key.recipient } : null),
        ...serverTlsSettings(),
      },
      serverDirPath: SERVER_TLS_DIR,
      ageBinary: key ? key.ageBinary : null,
      ageInContainer: AGE_IN_CONTAINER,
      backupArea: this.areaMount(record.id, files),
      backupAreaPath: SERVER_BACKUP_AREA,
      bindAddress: record.bindAddress,
      port: String(record.port),
      memory: record.memory,
      cpus: record.cpus,
      shmSize: record.shmSize,
      pidsLimit: record.pidsLimit,
      stopTimeoutSec: this.settings.stopTimeoutSec,
      labels: labels(POSTGRES_SERVICE),
      database: record.database,
      network: homeNetwork(this.paths.home),
      monitorRole: MONITOR_ROLE,
      monitoring: record.monitoring,
      monitoringDir: this.paths.monitoringDir,
      agentContainerName: containerNameFor(record, AGENT_SERVICE),
      agent: AGENT_LIMITS,
      agentLabels: labels(AGENT_SERVICE),
    };
  }

  /**
   * The server's pg_hba.conf: its own container and this host in plain text (SCRAM), every
   * other client over TLS only, from the instance's allowed networks (all when it names none).
   */
  renderHba(record: InstanceRecord): string {
    const specific = record.bindAddress !== '0.0.0.0' && !record.bindAddress.startsWith('127.');
    return this.renderer.render('pg_hba.conf.njk', {
      id: record.id,
      name: record.name,
      hostAddress: specific ? record.bindAddress : null,
      allowCidrs: record.allowCidrs,
      tlsNetworks: record.allowCidrs.length > 0 ? record.allowCidrs : ['0.0.0.0/0', '::/0'],
    });
  }

  /** The backup area as the compose file mounts it: relative when it is inside the instance folder. */
  private areaMount(id: string, files: InstanceFiles): string {
    const area = this.backups.areaOf(id);
    return area.startsWith(`${files.dir}/`) ? `./${area.slice(files.dir.length + 1)}` : area;
  }

  /**
   * Removes an instance's folder. Its backups and WAL archive stay (the instance's identity
   * marked deleted, so `backup list` and restores still know it) unless `purgeBackups`, or
   * unless the area holds nothing but its WAL archive (WAL alone restores nothing). With
   * `keepData`, `data/` stays too.
   */
  remove(id: string, options: { keepData?: boolean; purgeBackups?: boolean } = {}): void {
    const files = this.files(id);
    const area = this.backups.areaOf(id);
    if (options.purgeBackups || this.backups.holdsOnlyArchive(area)) {
      this.backups.purge(id);
    } else if (existsSync(area)) {
      const identity = this.backups.identity(area);
      if (identity && identity.deletedAt === null) this.backups.writeIdentity(area, { ...identity, deletedAt: new Date().toISOString() });
    }
    if (!existsSync(files.dir)) return;
    const keep = new Set([...(options.keepData ? [files.dataDir] : []), files.backupsDir].filter((path) => existsSync(path)));
    if (keep.size === 0) {
      rmSync(files.dir, { recursive: true, force: true });
      return;
    }
    for (const entry of readdirSync(files.dir)) {
      const path = join(files.dir, entry);
      if (!keep.has(path)) rmSync(path, { recursive: true, force: true });
    }
  }
}
