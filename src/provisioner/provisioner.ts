import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RuntimePaths, Settings } from '../config/settings.js';
import { effectiveSettings } from '../instances/pgSettings.js';
import type { InstanceRecord } from '../instances/schema.js';
import { homeId, LABELS } from '../runtime/labels.js';
import { createRenderer, type TemplateRenderer } from './templates.js';

export const MONITOR_ROLE = 'dbaas_monitor';
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
    logsDir: join(dir, 'logs'),
    scriptsDir: join(dir, 'scripts'),
    backupsDir: join(dir, 'backups'),
    composePath: join(dir, 'docker-compose.yml'),
    secretsPath: join(dir, 'secrets.env'),
    agentEnvPath: join(dir, 'agent.env'),
    metricsPath: join(dir, 'logs', 'metrics.ndjson'),
    agentStatePath: join(dir, 'logs', 'agent-state.json'),
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

/**
 * Lays out an instance on disk: its folders, the secrets env file (0600), the init scripts and the
 * compose file, all rendered from templates/. It writes files only; containers are the runtime's.
 */
export class Provisioner {
  private readonly renderer: TemplateRenderer;

  constructor(
    private readonly paths: RuntimePaths,
    private readonly settings: Settings,
  ) {
    this.renderer = createRenderer(paths.templatesDir);
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

    const env = [
      '# Secrets of this instance, read by dbaas and by docker-compose (env_file). Keep it 0600.',
      `POSTGRES_PASSWORD=${secrets.adminPassword}`,
      `DBAAS_APP_PASSWORD=${secrets.password}`,
      `DBAAS_MONITOR_PASSWORD=${secrets.monitorPassword}`,
      '',
    ].join('\n');
    writeFileSync(files.secretsPath, env, { mode: 0o600 });
    chmodSync(files.secretsPath, 0o600);
    // The agent gets only the monitoring role's password, as libpq's PGPASSWORD.
    const agentEnv = ['# The monitoring agent\'s login (env_file of the agent service). Keep it 0600.', `PGPASSWORD=${secrets.monitorPassword}`, ''];
    writeFileSync(files.agentEnvPath, agentEnv.join('\n'), { mode: 0o600 });
    chmodSync(files.agentEnvPath, 0o600);

    const context = { ...record, monitorRole: MONITOR_ROLE };
    const scripts: Array<[string, string]> = [
      ['01-init-users.sql', 'init-scripts/01-init-users.sql.njk'],
      ['02-monitoring-setup.sql', 'init-scripts/02-monitoring-setup.sql.njk'],
    ];
    for (const [name, template] of scripts) {
      writeFileSync(join(files.scriptsDir, name), this.renderer.render(template, context), { mode: 0o644 });
    }
    this.renderCompose(record);
    return files;
  }

  /** (Re-)renders docker-compose.yml from the record; the file is what the runtime creates. */
  renderCompose(record: InstanceRecord): string {
    const files = this.files(record.id);
    const text = this.renderer.render('docker-compose.yml.njk', this.composeContext(record, files));
    writeFileSync(files.composePath, text, { mode: 0o644 });
    return files.composePath;
  }

  composeContext(record: InstanceRecord, files: InstanceFiles): Record<string, unknown> {
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
      pgSettings: effectiveSettings(record.memory, record.cpus, record.pgSettings),
      bindAddress: record.bindAddress,
      port: String(record.port),
      memory: record.memory,
      cpus: record.cpus,
      shmSize: record.shmSize,
      pidsLimit: record.pidsLimit,
      stopTimeoutSec: this.settings.stopTimeoutSec,
      labels: labels(POSTGRES_SERVICE),
      database: record.database,
      monitorRole: MONITOR_ROLE,
      monitoring: record.monitoring,
      monitoringDir: this.paths.monitoringDir,
      agentContainerName: containerNameFor(record, AGENT_SERVICE),
      agent: AGENT_LIMITS,
      agentLabels: labels(AGENT_SERVICE),
    };
  }

  /** Removes an instance's folder; with keepData, `data/` (and backups) stay where they are. */
  remove(id: string, options: { keepData?: boolean } = {}): void {
    const files = this.files(id);
    if (!existsSync(files.dir)) return;
    if (!options.keepData) {
      rmSync(files.dir, { recursive: true, force: true });
      return;
    }
    for (const path of [files.logsDir, files.scriptsDir, files.composePath, files.secretsPath, files.agentEnvPath]) {
      rmSync(path, { recursive: true, force: true });
    }
  }
}
