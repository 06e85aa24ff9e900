import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { statSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import { imageFor, type RuntimePaths, type Settings } from '../config/settings.js';
import { asDbaasError, DbaasError, notFound, validationError } from '../errors.js';
import { checkPgSettings } from './pgParameters.js';
import type { Logger } from '../log/logger.js';
import {
  AGENT_SERVICE,
  containerNameFor,
  POSTGRES_SERVICE,
  Provisioner,
  type InstanceFiles,
  type PlainSecrets,
} from '../provisioner/provisioner.js';
import { allocatePort, assertHostAddress } from '../provisioner/ports.js';
import type { Registry } from '../registry/registry.js';
import { generatePassword, type SecretBox } from '../registry/secrets.js';
import { loadContainerSpecs, type ContainerSpec } from '../runtime/composeSpec.js';
import type { InstanceEngine, ResourceStats, ServiceState } from '../runtime/workload.js';
import { waitForLogin, type LoginTarget } from '../runtime/readiness.js';
import { runInitSql } from '../database/initSql.js';
import { API_ROLE, ensureAccess } from '../database/controlAccess.js';
import { homeNetwork } from '../runtime/labels.js';
import { withOperation } from './operations.js';
import { checkHealth, type Health } from './health.js';
import { VERSION } from '../config/version.js';
import { parseInput } from '../validate.js';
import { defaultShmSize } from './pgSettings.js';
import {
  createInstanceSchema,
  DEFAULT_MONITORING,
  updateInstanceSchema,
  type UpdateInstanceInput,
  type ConnectionInfo,
  type InstanceRecord,
  type InstanceView,
} from './schema.js';
import { parseSize } from './size.js';
import { mayBeOomKilled, mergeStatus, ownerAlive, type ObservedContainer } from './status.js';
import { connectionInfo, localDialHost, toView } from './view.js';

/** One step of a long operation, for progress on a terminal. */
export interface ProgressEvent {
  step: string;
  phase: 'start' | 'done';
  message: string;
  ms?: number;
}
export type ProgressFn = (event: ProgressEvent) => void;

export type CreatedInstance = InstanceView & { password: string; connectionString: string };

export interface ManagerDeps {
  settings: Settings;
  paths: RuntimePaths;
  logger: Logger;
  registry: Registry;
  engine: InstanceEngine;
  provisioner: Provisioner;
  secrets: SecretBox;
}

function newId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return 'db_' + Array.from(randomBytes(10), (b) => alphabet[b % alphabet.length]).join('');
}

const nowIso = () => new Date().toISOString();

/** The fields of a partial input that were given (a spread must not copy explicit undefineds). */
function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Runs one step, reporting its start and end to the progress callback. */
async function stepWithProgress<T>(
  progress: ProgressFn | undefined,
  name: string,
  message: string,
  run: () => Promise<T> | T,
  signal?: AbortSignal,
): Promise<T> {
  if (signal?.aborted) throw new DbaasError('INTERRUPTED', `interrupted before: ${message}`);
  const started = Date.now();
  progress?.({ step: name, phase: 'start', message });
  const result = await run();
  progress?.({ step: name, phase: 'done', message, ms: Date.now() - started });
  return result;
}

/**
 * The manager orchestrates an instance's life: it validates, reserves in the registry, has the
 * provisioner lay out files, has the engine create what the compose file says, waits for a real
 * login and records the outcome. A failed create undoes every step it made.
 */
/** What the manager tells in-process listeners (the data API's pools) about an instance. */
export interface ManagerEvents {
  /** The server stopped, restarted or was deleted: connections to it are gone. */
  serverChanged: [id: string];
}

export class Manager {
  readonly events = new EventEmitter<ManagerEvents>();
  readonly settings: Settings;
  readonly logger: Logger;
  private readonly registry: Registry;
  readonly engine: InstanceEngine;
  private readonly provisioner: Provisioner;
  private readonly paths: RuntimePaths;
  private readonly secrets: SecretBox;

  constructor(deps: ManagerDeps) {
    this.settings = deps.settings;
    this.logger = deps.logger;
    this.registry = deps.registry;
    this.engine = deps.engine;
    this.provisioner = deps.provisioner;
    this.secrets = deps.secrets;
    this.paths = deps.paths;
  }

  // ---- reading -------------------------------------------------------------------------------

  private async find(ref: string): Promise<InstanceRecord> {
    const record = (await this.registry.list()).find((r) => r.id === ref || r.name === ref);
    if (!record) throw notFound(ref);
    return record;
  }

  /** The stored record of an instance (secrets sealed), for services built on the manager. */
  async record(ref: string): Promise<InstanceRecord> {
    return this.find(ref);
  }

  async records(): Promise<InstanceRecord[]> {
    return this.registry.list();
  }

  /** The application role's password, for dbaas's own connections (never logged, never shown). */
  appPassword(record: InstanceRecord): string {
    return this.secrets.open(record.password);
  }

  files(record: Pick<InstanceRecord, 'id'>): InstanceFiles {
    return this.provisioner.files(record.id);
  }

  /** Whether the container was made from an older version of the compose file. */
  private pendingRestart(record: InstanceRecord, containers: ServiceState[]): boolean {
    const main = containers.find((c) => c.service === POSTGRES_SERVICE);
    if (!main) return false;
    try {
      const spec = this.specs(record).find((s) => s.service === POSTGRES_SERVICE);
      return spec !== undefined && main.configHash !== spec.configHash;
    } catch {
      return false;
    }
  }

  private async observe(record: InstanceRecord, containers: ServiceState[]): Promise<InstanceView> {
    const main = containers.find((c) => c.service === POSTGRES_SERVICE);
    let observed: ObservedContainer | null = main ? { state: main.phase } : null;
    if (main && observed && mayBeOomKilled(main.statusText)) {
      // A listing cannot tell an OOM kill from another SIGKILL; only then ask once more.
      const full = await this.engine.state(main.name);
      observed = { state: main.phase, oomKilled: full?.oomKilled ?? false };
    }
    return toView(this.settings, record, {
      status: mergeStatus(record.status, observed, ownerAlive(record.owner)),
      // The server first, then its sidecars, whatever order the engine listed them in.
      containers: containers
        .map((c) => ({ service: c.service ?? 'unknown', name: c.name, state: c.phase }))
        .sort((a, b) => Number(b.service === POSTGRES_SERVICE) - Number(a.service === POSTGRES_SERVICE) || a.service.localeCompare(b.service)),
      pendingRestart: this.pendingRestart(record, containers),
    });
  }

  /** Every instance with its observed state, from one engine call for all of them. */
  async list(): Promise<InstanceView[]> {
    const [records, containers] = await Promise.all([this.registry.list(), this.engine.list()]);
    const byInstance = new Map<string, ServiceState[]>();
    for (const c of containers) {
      if (c.instance) byInstance.set(c.instance, [...(byInstance.get(c.instance) ?? []), c]);
    }
    return Promise.all(records.map((r) => this.observe(r, byInstance.get(r.id) ?? [])));
  }

  async get(ref: string): Promise<InstanceView> {
    const record = await this.find(ref);
    return this.observe(record, await this.engine.list(record.id));
  }

  async connection(ref: string, options: { showPassword?: boolean } = {}): Promise<ConnectionInfo> {
    const record = await this.find(ref);
    const password = options.showPassword ? this.secrets.open(record.password) : undefined;
    if (options.showPassword) this.logger.info('password disclosed on request', { instance: record.id });
    return connectionInfo(this.settings, record, password);
  }

  async logs(ref: string, tail: number): Promise<string[]> {
    const record = await this.find(ref);
    return this.engine.logs(containerNameFor(record), tail);
  }

  async followLogs(ref: string, tail: number): Promise<Readable> {
    const record = await this.find(ref);
    return this.engine.followLogs(containerNameFor(record), tail);
  }

  async stats(ref: string): Promise<ResourceStats & { instance: string; name: string }> {
    const record = await this.find(ref);
    const name = containerNameFor(record);
    if (!(await this.engine.state(name))?.running) {
      throw new DbaasError('INSTANCE_NOT_RUNNING', `instance ${record.name} is not running`, { instance: record.id });
    }
    return { instance: record.id, name: record.name, ...(await this.engine.stats(name)) };
  }

  /** The state of each dependency: engine, registry, disk of the home (see health.ts). */
  health(): Promise<Health> {
    return checkHealth({ engine: this.engine, registry: this.registry, home: this.settings.home, minFreeBytes: this.settings.diskMinFreeBytes, version: VERSION });
  }

  // ---- create --------------------------------------------------------------------------------

  /** Creates an instance; aborting `signal` (Ctrl-C in the CLI) stops it and undoes what it made. */
  async create(raw: unknown, progress?: ProgressFn, signal?: AbortSignal): Promise<CreatedInstance> {
    const started = Date.now();
    const step = <T>(name: string, message: string, run: () => Promise<T> | T) =>
      stepWithProgress(progress, name, message, run, signal);
    const input = await step('validate', 'validate the request', () =>
      parseInput(createInstanceSchema(this.settings), raw),
    );
    if (input.bindAddress !== undefined) assertHostAddress(input.bindAddress);
    const version = input.version ?? this.settings.defaultVersion;
    const image = imageFor(this.settings, version);
    const memory = input.memory ?? parseSize(this.settings.defaultMemory) ?? 512 * 1024 * 1024;
    const cpus = input.cpus ?? Math.min(this.settings.defaultCpus, this.settings.hostCpus);

    await step('engine', 'check the Docker engine', () => this.engine.ping());
    await step('image', `check image ${image}`, () => this.ensureImage(image, version));
    if (input.pgSettings !== undefined && Object.keys(input.pgSettings).length > 0) {
      const settings = input.pgSettings;
      await step('settings', "check the settings against the server's pg_settings", () => this.checkSettings(image, settings, memory));
    }

    const plain: PlainSecrets = {
      password: input.password ?? generatePassword(),
      adminPassword: generatePassword(32),
      monitorPassword: generatePassword(32),
    };
    const record = await step('reserve', 'reserve the name and a port', () =>
      this.registry.update(async (doc) => {
        if (doc.instances.some((r) => r.name === input.name)) {
          throw new DbaasError('NAME_TAKEN', `an instance named "${input.name}" already exists`, { field: 'name' });
        }
        const bindAddress = input.bindAddress ?? this.settings.bindAddress;
        const port = await allocatePort({
          range: this.settings.portRange,
          taken: new Set(doc.instances.map((r) => r.port)),
          requested: input.port,
          host: bindAddress,
        });
        const now = nowIso();
        const rec: InstanceRecord = {
          id: newId(),
          name: input.name,
          version,
          image,
          memory,
          cpus,
          shmSize: input.shmSize ?? defaultShmSize(memory),
          pidsLimit: this.settings.pidsLimit,
          port,
          bindAddress,
          database: input.database ?? 'app',
          username: input.username ?? 'app',
          password: this.secrets.seal(plain.password),
          adminPassword: this.secrets.seal(plain.adminPassword),
          monitorPassword: this.secrets.seal(plain.monitorPassword),
          apiPassword: this.secrets.seal(generatePassword(32)),
          pgSettings: input.pgSettings ?? {},
          monitoring: { ...DEFAULT_MONITORING, ...definedOnly(input.monitoring) },
          status: 'provisioning',
          containers: [],
          createdAt: now,
          updatedAt: now,
          lastError: null,
          owner: { pid: process.pid, host: hostname() },
        };
        doc.instances.push(rec);
        return rec;
      }),
    );
    this.logger.info('provisioning instance', {
      instance: record.id,
      name: record.name,
      image,
      port: record.port,
      memory,
      cpus,
    });

    const made: string[] = [];
    try {
      const files = await step('files', `write instances/${record.id}/`, () =>
        this.provisioner.prepare(record, plain),
      );
      const specs = loadContainerSpecs(files.composePath);
      await step('container', 'create the container from docker-compose.yml', async () => {
        for (const spec of specs) {
          await this.engine.create(spec);
          made.push(spec.name);
        }
      });
      await step('start', 'start the container', () => this.engine.start(containerNameFor(record)));
      await step('ready', 'wait until the server accepts a login', () =>
        this.waitReady(record, plain.adminPassword, signal),
      );
      await step('access', 'set the passwords and dbaas\'s own roles', () => this.ensureAccess(record, plain.password));
      if (input.initSql !== undefined && input.initSql.trim() !== '') {
        const initSql = input.initSql;
        await step('init-sql', 'run the init SQL as the application role', () =>
          runInitSql(this.loginTarget(record, plain.password), initSql, this.settings.readyTimeoutMs),
        );
      }
      await step('agent', 'start the monitoring agent', () => this.startSidecars(record));
      const finished = await step('record', 'record the instance', () =>
        this.registry.update((doc) => {
          const rec = doc.instances.find((r) => r.id === record.id);
          if (!rec) throw new DbaasError('OPERATION_FAILED', `instance ${record.id} vanished from the registry`);
          rec.status = 'running';
          delete rec.owner;
          rec.containers = specs.map((s) => ({ service: s.service, name: s.name }));
          rec.updatedAt = nowIso();
          return { ...rec };
        }),
      );
      this.logger.info('instance created', { instance: record.id, name: record.name, ms: Date.now() - started });
      const view = await this.get(finished.id);
      const connection = connectionInfo(this.settings, finished, plain.password);
      return { ...view, password: plain.password, connectionString: connection.connectionString };
    } catch (err) {
      const error = asDbaasError(err);
      this.logger.error('create failed; undoing it', { instance: record.id, name: record.name, error: error.message });
      await this.undoCreate(record, made, progress);
      if (error.code === 'INTERNAL' || error.code === 'OPERATION_FAILED') {
        throw new DbaasError('PROVISIONING_FAILED', `creating ${record.name} failed: ${error.message}`, error.details, {
          cause: err,
        });
      }
      throw error;
    }
  }

  /**
   * Refuses PostgreSQL settings that are not the user's to set or that the server would refuse
   * (type, unit, bounds from the image's own pg_settings), as VALIDATION_FAILED naming each.
   */
  private async checkSettings(image: string, settings: Record<string, string>, memory: number): Promise<void> {
    const catalog = await this.engine.settingsCatalog(image, this.paths.settingsCatalogDir);
    const issues = checkPgSettings(settings, catalog, { memoryBytes: memory });
    if (issues.length > 0) throw validationError(issues);
  }

  private async ensureImage(image: string, version: number): Promise<void> {
    if (await this.engine.imageExists(image)) return;
    if (this.settings.pullPolicy === 'never') {
      throw new DbaasError(
        'IMAGE_NOT_AVAILABLE',
        `image ${image} for version ${version} is not on this host (pulling is off: DBAAS_PULL_POLICY=never). ` +
          `Build it with "dbaas image build --version ${version}" or set DBAAS_IMAGE_${version}.`,
        { field: 'version', image },
      );
    }
    try {
      await this.engine.pull(image);
    } catch (err) {
      const reason = asDbaasError(err);
      if (reason.code === 'ENGINE_UNAVAILABLE') throw reason;
      throw new DbaasError(
        'IMAGE_NOT_AVAILABLE',
        `image ${image} for version ${version} is not on this host and cannot be pulled (${reason.message}). ` +
          `Build it with "dbaas image build --version ${version}" or set DBAAS_IMAGE_${version}.`,
        { field: 'version', image },
      );
    }
  }

  /** Removes whatever a failed create made: containers, files, the registry record. */
  private async undoCreate(record: InstanceRecord, containers: string[], progress?: ProgressFn): Promise<void> {
    await stepWithProgress(progress, 'cleanup', 'remove what the failed create made', async () => {
      const problems: string[] = [];
      for (const name of containers) {
        await this.engine.remove(name).catch((e: unknown) => problems.push(asDbaasError(e).message));
      }
      try {
        this.provisioner.remove(record.id);
      } catch (e) {
        problems.push(asDbaasError(e).message);
      }
      await this.registry
        .update((doc) => {
          doc.instances = doc.instances.filter((r) => r.id !== record.id);
        })
        .catch((e: unknown) => problems.push(asDbaasError(e).message));
      if (problems.length) this.logger.error('cleanup after failed create was incomplete', { instance: record.id, problems });
    });
  }

  /**
   * Waits for a login, failing early when the container exits or restarts. A restart counts as a
   * failure even when a later login works: a container that died during its first start (an init
   * script failed) comes back on its restart policy with a half-initialised data folder.
   */
  private async waitReady(record: InstanceRecord, adminPassword: string, signal?: AbortSignal): Promise<number> {
    const name = containerNameFor(record);
    const baseline = (await this.engine.state(name))?.restartCount ?? 0;
    const deadReason = async (): Promise<string | null> => {
      const s = await this.engine.state(name);
      if (!s) return `container ${name} disappeared`;
      const restarted = (s.restartCount ?? 0) > baseline;
      if (s.running && !s.restarting && !restarted) return null;
      const how = s.oomKilled ? 'was killed for lack of memory' : s.running ? 'failed' : `exited with code ${s.exitCode}`;
      return `the server ${how}${restarted ? ' and was restarted' : ''}; ${await this.errorLines(name)}`;
    };
    const ms = await waitForLogin(
      this.superuserTarget(record, adminPassword),
      { timeoutMs: this.settings.readyTimeoutMs, deadReason, signal },
    );
    const reason = await deadReason();
    if (reason) throw new DbaasError('PROVISIONING_FAILED', reason, { step: 'wait-ready' });
    return ms;
  }

  private loginTarget(record: InstanceRecord, password: string): LoginTarget {
    return { host: localDialHost(record.bindAddress), port: record.port, user: record.username, password, database: record.database };
  }

  /**
   * dbaas's own login for readiness and access repairs: the superuser, into the maintenance
   * database, which the application role can neither enter nor change.
   */
  private superuserTarget(record: InstanceRecord, adminPassword: string): LoginTarget {
    return { host: localDialHost(record.bindAddress), port: record.port, user: 'postgres', password: adminPassword, database: 'postgres' };
  }

  // ---- dbaas's access to its instances -------------------------------------------------------

  /**
   * Re-establishes the roles, passwords and grants dbaas relies on (controlAccess.ts), as the
   * superuser. Run after every start; the data API runs it when its login lost a right.
   * `appPassword` is set only at create: afterwards the password is the application's.
   */
  private async ensureAccess(record: InstanceRecord, appPassword?: string): Promise<void> {
    const apiPassword = await this.apiPassword(record);
    await ensureAccess(this.superuserTarget(record, this.secrets.open(record.adminPassword)), {
      database: record.database,
      appRole: record.username,
      monitorPassword: this.secrets.open(record.monitorPassword),
      apiPassword,
      apiConnections: this.settings.poolMaxPerInstance,
      ...(appPassword !== undefined ? { appPassword } : {}),
    });
  }

  /** The data API's password; a record made before dbaas_api existed gets one now (once). */
  private async apiPassword(record: InstanceRecord): Promise<string> {
    if (record.apiPassword) return this.secrets.open(record.apiPassword);
    const fresh = this.secrets.seal(generatePassword(32));
    const sealed = await this.registry.update((doc) => {
      const rec = doc.instances.find((r) => r.id === record.id);
      if (!rec) throw notFound(record.id);
      rec.apiPassword ??= fresh;
      return rec.apiPassword;
    });
    return this.secrets.open(sealed);
  }

  /** Whether the instance's server container runs now. */
  async serverRunning(record: InstanceRecord): Promise<boolean> {
    return Boolean((await this.engine.state(containerNameFor(record)))?.running);
  }

  /** The data API's login into an instance: dbaas_api, made on the server if it is not yet. */
  async apiLogin(record: InstanceRecord): Promise<{ user: string; password: string }> {
    const current = await this.find(record.id);
    if (!current.apiPassword) await this.ensureAccess(current);
    return { user: API_ROLE, password: await this.apiPassword(await this.find(record.id)) };
  }

  /** Restores dbaas's access after the application role took some of it away. */
  async repairAccess(record: InstanceRecord): Promise<void> {
    this.logger.warn('repairing dbaas access to the instance', { instance: record.id });
    await this.ensureAccess(await this.find(record.id));
  }

  /**
   * Brings an instance made by an older dbaas to the current layout of its files: secrets in
   * files instead of the containers' environment, the shared network instead of the server's
   * namespace. Rewrites the compose file, so its containers are recreated on the next start.
   */
  private ensureLayout(record: InstanceRecord): void {
    if (this.provisioner.hasCurrentLayout(record.id)) return;
    // The compose file first: until the secret files exist the layout is not current, so a
    // crash between the two steps is finished by the next start (the other order left a compose
    // file naming env files that were already gone).
    this.provisioner.renderCompose(record);
    this.provisioner.writeSecrets(record, {
      adminPassword: this.secrets.open(record.adminPassword),
      monitorPassword: this.secrets.open(record.monitorPassword),
    });
    this.logger.info('moved the instance to the current file layout', { instance: record.id });
  }

  /** The error lines of a container's recent log (what explains a failure), else its last lines. */
  private async errorLines(name: string): Promise<string> {
    const lines = await this.engine.logs(name, 300);
    const errors = lines.filter((l) => /\b(ERROR|FATAL|PANIC)\b|error:/.test(l));
    return errors.length
      ? `errors in its log:\n${errors.slice(-10).join('\n')}`
      : `last log lines:\n${lines.slice(-15).join('\n')}`;
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  private readonly specCache = new Map<string, { key: string; specs: ContainerSpec[] }>();

  /**
   * The container specs of an instance's compose file. Listing computes pendingRestart for every
   * instance from them, so they are kept while the compose and env files are unchanged.
   */
  private specs(record: InstanceRecord): ContainerSpec[] {
    const files = this.provisioner.files(record.id);
    const key = [files.composePath, ...files.legacyEnvFiles]
      .map((path) => {
        const s = statSync(path, { throwIfNoEntry: false });
        return s ? `${s.ino}:${s.size}:${s.mtimeMs}` : '-';
      })
      .join('|');
    const hit = this.specCache.get(record.id);
    if (hit?.key === key) return hit.specs;
    const specs = loadContainerSpecs(files.composePath);
    this.specCache.set(record.id, { key, specs });
    return specs;
  }

  private assertSettled(record: InstanceRecord, action: string): void {
    if (record.status === 'provisioning' && !ownerAlive(record.owner)) {
      throw new DbaasError(
        'INVALID_STATE',
        `the create of ${record.name} was interrupted; remove it with "dbaas delete ${record.name}"`,
        { status: 'failed' },
      );
    }
    if (record.status === 'provisioning' || record.status === 'deleting') {
      throw new DbaasError('INVALID_STATE', `cannot ${action} ${record.name} while it is ${record.status}`, {
        status: record.status,
      });
    }
  }

  private async setStored(id: string, change: Partial<Pick<InstanceRecord, 'status' | 'lastError'>>): Promise<void> {
    await this.registry.update((doc) => {
      const rec = doc.instances.find((r) => r.id === id);
      if (rec) Object.assign(rec, change, { updatedAt: nowIso() });
    });
  }

  /**
   * Makes sure each container exists as the compose file describes it: absent ones are created,
   * ones made from an older file are replaced (the data lives in the bind-mounted folder).
   * Services depend on nothing of each other's containers (they meet on the installation's
   * network), so each is replaced only when its own part of the file changed. `only` limits the
   * work to some services.
   */
  private async reconcileContainers(record: InstanceRecord, progress?: ProgressFn, only?: string[]): Promise<void> {
    for (const spec of this.specs(record)) {
      if (only && !only.includes(spec.service)) continue;
      const info = await this.engine.state(spec.name);
      if (info !== null && info.configHash === spec.configHash) continue;
      const what = spec.service === POSTGRES_SERVICE ? 'the container' : `the ${spec.service} container`;
      await stepWithProgress(progress, 'container', info ? `recreate ${what} from the compose file` : `create the missing ${spec.service} container`, async () => {
        if (info) {
          await this.engine.stop(spec.name, this.settings.stopTimeoutSec);
          await this.engine.remove(spec.name);
        }
        await this.engine.create(spec);
      });
    }
  }

  /**
   * Starts the sidecars (the monitoring agent) that do not run. One that runs is left alone: it
   * reaches the server by name and reconnects by itself. Returns the sidecars it started.
   */
  async startSidecars(record: InstanceRecord): Promise<string[]> {
    const started: string[] = [];
    for (const spec of this.specs(record)) {
      if (spec.service === POSTGRES_SERVICE) continue;
      if ((await this.engine.state(spec.name))?.running) continue;
      await this.engine.start(spec.name);
      started.push(spec.service);
    }
    return started;
  }

  async start(ref: string, progress?: ProgressFn): Promise<InstanceView> {
    const record = await this.find(ref);
    this.assertSettled(record, 'start');
    await withOperation(this.registry, record.id, 'start', async (current) => {
      this.ensureLayout(current);
      await this.reconcileContainers(current, progress);
      await this.startAndWait(current, progress);
    });
    return this.get(record.id);
  }

  private async startAndWait(record: InstanceRecord, progress?: ProgressFn): Promise<void> {
    this.events.emit('serverChanged', record.id);
    try {
      await stepWithProgress(progress, 'start', 'start the container', () => this.engine.start(containerNameFor(record)));
      await stepWithProgress(progress, 'ready', 'wait until the server accepts a login', () =>
        this.waitReady(record, this.secrets.open(record.adminPassword)),
      );
      await stepWithProgress(progress, 'access', "check dbaas's own roles and grants", () => this.ensureAccess(record));
      await stepWithProgress(progress, 'agent', 'start the monitoring agent', () => this.startSidecars(record));
      await this.setStored(record.id, { status: 'running', lastError: null });
      this.logger.info('instance started', { instance: record.id });
    } catch (err) {
      const error = asDbaasError(err);
      await this.setStored(record.id, { lastError: error.message });
      throw error;
    }
  }

  async stop(ref: string, progress?: ProgressFn): Promise<InstanceView> {
    const record = await this.find(ref);
    this.assertSettled(record, 'stop');
    await withOperation(this.registry, record.id, 'stop', async (current) => {
      await stepWithProgress(progress, 'stop', 'stop the container (fast shutdown)', async () => {
        for (const spec of [...this.specs(current)].reverse()) await this.engine.stop(spec.name, this.settings.stopTimeoutSec);
      });
      await this.setStored(current.id, { status: 'stopped', lastError: null });
    });
    this.events.emit('serverChanged', record.id);
    this.logger.info('instance stopped', { instance: record.id });
    return this.get(record.id);
  }

  async restart(ref: string, progress?: ProgressFn): Promise<InstanceView> {
    const record = await this.find(ref);
    this.assertSettled(record, 'restart');
    await withOperation(this.registry, record.id, 'restart', (current) => this.restartHeld(current, progress));
    return this.get(record.id);
  }

  /** A restart of an instance whose operation claim the caller holds. */
  private async restartHeld(record: InstanceRecord, progress?: ProgressFn): Promise<void> {
    this.ensureLayout(record);
    await this.reconcileContainers(record, progress);
    await stepWithProgress(progress, 'stop', 'stop the containers', async () => {
      for (const spec of [...this.specs(record)].reverse()) await this.engine.stop(spec.name, this.settings.stopTimeoutSec);
    });
    await this.startAndWait(record, progress);
  }

  async delete(ref: string, options: { keepData?: boolean } = {}, progress?: ProgressFn): Promise<{ id: string; name: string; keptData: string | null }> {
    const record = await this.find(ref);
    if (record.status === 'provisioning' && ownerAlive(record.owner)) {
      throw new DbaasError('INVALID_STATE', `cannot delete ${record.name} while it is being created`, { status: record.status });
    }
    const files = this.provisioner.files(record.id);
    await withOperation(this.registry, record.id, 'delete', async (current) => {
      await this.setStored(current.id, { status: 'deleting' });
      this.events.emit('serverChanged', current.id);
      await stepWithProgress(progress, 'containers', 'remove the containers', async () => {
        const strays = await this.engine.list(current.id);
        const names = new Set([...current.containers.map((c) => c.name), containerNameFor(current), ...strays.map((c) => c.name)]);
        for (const name of names) await this.engine.remove(name);
      });
      await stepWithProgress(progress, 'files', options.keepData ? 'remove the files, keeping data/' : 'remove the files', () =>
        this.provisioner.remove(current.id, options),
      );
      const left = await stepWithProgress(progress, 'record', 'remove the registry record', () =>
        this.registry.update((doc) => {
          doc.instances = doc.instances.filter((r) => r.id !== current.id);
          return doc.instances.length;
        }),
      );
      // The installation's network goes with its last instance (the engine's address pools are few).
      if (left === 0) await this.engine.removeNetworkIfUnused(homeNetwork(this.settings.home)).catch(() => false);
    });
    this.logger.info('instance deleted', { instance: record.id, keepData: Boolean(options.keepData) });
    return { id: record.id, name: record.name, keptData: options.keepData ? files.dataDir : null };
  }

  /**
   * Changes memory and CPUs live (`docker update`), records them and re-renders the compose file.
   * Settings derived from memory (shared_buffers, ...) need a restart: the view's pendingRestart
   * says so until then, and `restart: true` does it at once.
   */
  async update(ref: string, raw: unknown, options: { restart?: boolean } = {}, progress?: ProgressFn): Promise<InstanceView> {
    const input = parseInput(updateInstanceSchema(this.settings), raw);
    const record = await this.find(ref);
    this.assertSettled(record, 'update');
    await withOperation(this.registry, record.id, 'update', async (current) => {
      // New overrides, or a new memory limit that stored ones (shared_buffers) must still fit.
      const settings = input.pgSettings ?? current.pgSettings;
      if (Object.keys(settings).length > 0 && (input.pgSettings !== undefined || input.memory !== undefined)) {
        await stepWithProgress(progress, 'settings', "check the settings against the server's pg_settings", () =>
          this.checkSettings(current.image, settings, input.memory ?? current.memory),
        );
      }
      this.ensureLayout(current);
      await this.applyUpdate(current, input, progress);
      if (options.restart) {
        await this.restartHeld(await this.find(current.id), progress);
      } else if (input.monitoring !== undefined) {
        // The agent takes its settings from the compose file: replace it now, the server runs on
        // (unless the server itself waits for a restart: the agent is replaced with it then).
        const updated = await this.find(current.id);
        const server = await this.engine.state(containerNameFor(updated));
        const serverSpec = this.specs(updated).find((s) => s.service === POSTGRES_SERVICE);
        if (server && server.configHash === serverSpec?.configHash) {
          await this.reconcileContainers(updated, progress, [AGENT_SERVICE]);
          if (server.running) await this.startSidecars(updated);
        }
      }
    });
    return this.get(record.id);
  }

  /** Applies new limits live, then records them and re-renders the compose file (or undoes the limits). */
  private async applyUpdate(record: InstanceRecord, input: UpdateInstanceInput, progress?: ProgressFn): Promise<void> {
    const name = containerNameFor(record);
    const liveChange = input.memory !== undefined || input.cpus !== undefined;
    const exists = liveChange && (await this.engine.state(name)) !== null;
    if (exists) {
      await stepWithProgress(progress, 'limits', 'change the limits of the running container', () =>
        this.engine.updateLimits(name, { memory: input.memory, cpus: input.cpus }),
      );
    }
    try {
      const updated = await this.registry.update((doc) => {
        const rec = doc.instances.find((r) => r.id === record.id);
        if (!rec) throw notFound(record.id);
        if (input.memory !== undefined) rec.memory = input.memory;
        if (input.cpus !== undefined) rec.cpus = input.cpus;
        if (input.pgSettings !== undefined) rec.pgSettings = input.pgSettings;
        if (input.monitoring !== undefined) rec.monitoring = { ...rec.monitoring, ...definedOnly(input.monitoring) };
        rec.updatedAt = nowIso();
        // Rendered before the registry is written: a template failure leaves both unchanged.
        this.provisioner.renderCompose(rec);
        progress?.({ step: 'compose', phase: 'done', message: 're-render docker-compose.yml' });
        return { ...rec };
      });
      this.logger.info('instance updated', { instance: record.id, memory: updated.memory, cpus: updated.cpus });
    } catch (err) {
      if (exists) await this.engine.updateLimits(name, { memory: record.memory, cpus: record.cpus }).catch(() => undefined);
      throw err;
    }
  }
}
