import { ServerTls } from './serverTls.js';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Settings } from '../config/settings.js';
import { VERSION } from '../config/version.js';
import { asDbaasError, DbaasError, notFound } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { readAgentState } from '../monitoring/agentState.js';
import { AGENT_SERVICE, containerNameFor, POSTGRES_SERVICE, type InstanceFiles } from '../provisioner/provisioner.js';
import { homeNetwork } from '../runtime/labels.js';
import type { LoginTarget } from '../runtime/readiness.js';
import type { ServiceState } from '../runtime/workload.js';
import { parseInput } from '../validate.js';
import { archiveCurrentSegment } from '../backups/archiveFlush.js';
import { giveArchiveToServer } from '../backups/archiveOwner.js';
import { InstanceAccess } from './access.js';
import { definedOnly, InstanceCreation, type DataSource } from './createInstance.js';
import { nowIso, type InstanceDeps } from './deps.js';
import { checkHealth, type Health } from './health.js';
import { checkSettings, ensureImage } from './imageCheck.js';
import { imageFor } from '../config/settings.js';
import { withOperation } from './operations.js';
import { stepWithProgress, type ProgressEvent, type ProgressFn } from './progress.js';
import { Reconciler } from './reconciler.js';
import { recoveriesOf } from './recoveries.js';
import {
  updateInstanceSchema,
  type ConnectionInfo,
  type CreatedInstance,
  type DeletedInstance,
  type InstanceRecord,
  type InstanceStats,
  type InstanceView,
  type UpdateInstanceInput,
} from './schema.js';
import { waitForServer } from './serverReady.js';
import { mayBeOomKilled, mergeStatus, ownerAlive, type ObservedContainer } from './status.js';
import { connectionInfo, toView } from './view.js';

export type { CreatedInstance, ProgressEvent, ProgressFn };

/** What an image refresh did: the image ids the server ran before and runs now. */
export interface ImageRefresh {
  image: string;
  from: string | null;
  to: string;
  refreshed: boolean;
}

/** What the manager tells in-process listeners (the data API's pools) about an instance. */
export interface ManagerEvents {
  /** The server stopped, restarted or was deleted: connections to it are gone. */
  serverChanged: [id: string];
}

/**
 * The instances of one dbaas home, as the API and the CLI see them: a facade of short methods.
 * The work is done by modules of one job each: the create saga (createInstance.ts), applying the
 * compose file (reconciler.ts), readiness (serverReady.ts), dbaas's own access (access.ts),
 * one operation at a time per instance (operations.ts).
 */
export class Manager {
  readonly events = new EventEmitter<ManagerEvents>();
  readonly settings: Settings;
  readonly logger: Logger;
  readonly engine: InstanceDeps['engine'];
  private readonly deps: InstanceDeps;
  private readonly access: InstanceAccess;
  private readonly reconciler: Reconciler;
  private readonly creation: InstanceCreation;
  /** The server's TLS certificate and pg_hba.conf (written before every start). */
  readonly tls: ServerTls;

  constructor(deps: InstanceDeps) {
    this.deps = deps;
    this.settings = deps.settings;
    this.logger = deps.logger;
    this.engine = deps.engine;
    this.access = new InstanceAccess(deps);
    this.reconciler = new Reconciler(deps);
    this.tls = new ServerTls(deps);
    this.creation = new InstanceCreation(deps, this.access, this.tls);
  }

  // ---- reading -------------------------------------------------------------------------------

  private find(ref: string): Promise<InstanceRecord> {
    return this.deps.registry.find(ref);
  }

  /** The stored record of an instance (secrets sealed), for services built on the manager. */
  record(ref: string): Promise<InstanceRecord> {
    return this.find(ref);
  }

  records(): Promise<InstanceRecord[]> {
    return this.deps.registry.list();
  }

  files(record: Pick<InstanceRecord, 'id'>): InstanceFiles {
    return this.deps.provisioner.files(record.id);
  }

  /**
   * The view of an instance from the engine's listing of its containers. `inspect` asks the engine
   * once more about the server (one instance's view: restarts and OOM kill for `recoveries`).
   */
  private async observe(record: InstanceRecord, containers: ServiceState[], inspect = false): Promise<InstanceView> {
    const main = containers.find((c) => c.service === POSTGRES_SERVICE);
    let observed: ObservedContainer | null = main ? { state: main.phase } : null;
    let full: ServiceState | null = null;
    // A listing cannot tell an OOM kill from another SIGKILL; only then ask once more.
    if (main && (inspect || mayBeOomKilled(main.statusText))) {
      full = await this.engine.state(main.name);
      observed = { state: main.phase, oomKilled: full?.oomKilled ?? false };
    }
    const agent = await readAgentState(this.files(record).agentStatePath);
    return toView(this.settings, record, {
      status: mergeStatus(record.status, observed, ownerAlive(record.owner)),
      // The server first, then its sidecars, whatever order the engine listed them in.
      containers: containers
        .map((c) => ({ service: c.service ?? 'unknown', name: c.name, state: c.phase }))
        .sort((a, b) => Number(b.service === POSTGRES_SERVICE) - Number(a.service === POSTGRES_SERVICE) || a.service.localeCompare(b.service)),
      pendingRestart: this.reconciler.pendingRestart(record, containers),
      recoveries: recoveriesOf(agent, full),
      tls: this.tls.state(record),
    });
  }

  /** Every instance with its observed state, from one engine call for all of them. */
  async list(): Promise<InstanceView[]> {
    const [records, containers] = await Promise.all([this.deps.registry.list(), this.engine.list()]);
    const byInstance = new Map<string, ServiceState[]>();
    for (const c of containers) {
      if (c.instance) byInstance.set(c.instance, [...(byInstance.get(c.instance) ?? []), c]);
    }
    return Promise.all(records.map((r) => this.observe(r, byInstance.get(r.id) ?? [])));
  }

  async get(ref: string): Promise<InstanceView> {
    const record = await this.find(ref);
    return this.observe(record, await this.engine.list(record.id), true);
  }

  async connection(ref: string, options: { showPassword?: boolean } = {}): Promise<ConnectionInfo> {
    const record = await this.find(ref);
    const password = options.showPassword ? this.deps.secrets.open(record.password) : undefined;
    if (options.showPassword) this.logger.info('password disclosed on request', { instance: record.id });
    return connectionInfo(this.settings, record, password);
  }

  async logs(ref: string, tail: number): Promise<string[]> {
    return this.engine.logs(containerNameFor(await this.find(ref)), tail);
  }

  async followLogs(ref: string, tail: number): Promise<Readable> {
    return this.engine.followLogs(containerNameFor(await this.find(ref)), tail);
  }

  async stats(ref: string): Promise<InstanceStats> {
    const record = await this.find(ref);
    const name = containerNameFor(record);
    if (!(await this.engine.state(name))?.running) {
      throw new DbaasError('INSTANCE_NOT_RUNNING', `instance ${record.name} is not running`, { instance: record.id });
    }
    return { instance: record.id, name: record.name, ...(await this.engine.stats(name)) };
  }

  /** The state of each dependency: engine, registry, disk of the home (see health.ts). */
  health(): Promise<Health> {
    const { engine, registry, settings } = this.deps;
    return checkHealth({ engine, registry, home: settings.home, minFreeBytes: settings.diskMinFreeBytes, version: VERSION });
  }

  // ---- dbaas's own access (the data API's pools use these) -----------------------------------

  serverRunning(record: InstanceRecord): Promise<boolean> {
    return this.access.serverRunning(record);
  }

  serverAddress(record: InstanceRecord): Promise<{ host: string; port: number } | null> {
    return this.access.serverAddress(record);
  }

  apiLogin(record: InstanceRecord): Promise<{ user: string; password: string }> {
    return this.access.apiLogin(record);
  }

  repairAccess(record: InstanceRecord): Promise<void> {
    return this.access.repair(record);
  }

  /** The superuser's login into the maintenance database (backups take their snapshot with it). */
  superuserTarget(record: InstanceRecord): LoginTarget {
    return this.access.superuserTarget(record);
  }

  /** Changes an instance's record under the registry's lock (backup schedules keep their state there). */
  updateRecord<T>(id: string, change: (record: InstanceRecord) => T): Promise<T> {
    return this.deps.registry.update((doc) => {
      const rec = doc.instances.find((r) => r.id === id || r.name === id);
      if (!rec) throw notFound(id);
      return change(rec);
    });
  }

  /** Runs `work` holding the instance's operation claim (one operation at a time per instance). */
  withOperation<T>(ref: string, name: string, work: (record: InstanceRecord) => Promise<T>): Promise<T> {
    return withOperation(this.deps.registry, ref, name, work);
  }

  /** The image of a major version, on the host (pulled when the pull policy allows), or IMAGE_NOT_AVAILABLE. */
  async imageForVersion(version: number): Promise<string> {
    const image = imageFor(this.settings, version);
    await ensureImage(this.deps, image, version);
    return image;
  }

  /** Refuses settings overrides that `image`'s server would not take (an upgrade checks its target). */
  checkSettingsOn(image: string, settings: Record<string, string>, memory: number): Promise<void> {
    return checkSettings(this.deps, image, settings, memory);
  }

  /**
   * Moves an instance to another major version and image (an upgrade or its rollback, which
   * hold the operation claim and swap the data folder themselves): the record and the compose
   * file change together; the next start makes the containers from the new file.
   */
  async switchVersion(id: string, version: number, image: string): Promise<InstanceRecord> {
    return this.deps.registry.update((doc) => {
      const rec = doc.instances.find((r) => r.id === id);
      if (!rec) throw notFound(id);
      rec.version = version;
      rec.image = image;
      rec.updatedAt = nowIso();
      this.deps.provisioner.renderCompose(rec);
      return { ...rec };
    });
  }

  /** Starts the sidecars that do not run (the monitoring watchdog uses it). */
  startSidecars(record: InstanceRecord): Promise<string[]> {
    return this.reconciler.startSidecars(record);
  }

  // ---- operations ----------------------------------------------------------------------------

  /** Creates an instance; aborting `signal` (Ctrl-C in the CLI) stops it and undoes what it made. */
  async create(raw: unknown, progress?: ProgressFn, signal?: AbortSignal, source?: DataSource): Promise<CreatedInstance> {
    const { record, password } = await this.creation.run(raw, progress, signal, source);
    const view = await this.get(record.id);
    return { ...view, password, connectionString: connectionInfo(this.settings, record, password).connectionString };
  }

  private assertSettled(record: InstanceRecord, action: string): void {
    if (record.status === 'provisioning' && !ownerAlive(record.owner)) {
      throw new DbaasError(
        'INVALID_STATE',
        `the create of ${record.name} was interrupted; remove it with "dbaas delete ${record.name}"`,
        { status: 'failed' },
      );
    }
    // An upgrade a killed process left: its data folder may be half-swapped; only a rollback knows.
    if (record.upgrade?.phase === 'upgrading' && !(record.operation && ownerAlive(record.operation))) {
      throw new DbaasError('INVALID_STATE', `an upgrade of ${record.name} to PostgreSQL ${record.upgrade.to.version} was interrupted; roll it back first with "dbaas upgrade ${record.name} --rollback"`, {
        upgrade: 'upgrading',
      });
    }
    if (record.status === 'provisioning' || record.status === 'deleting') {
      throw new DbaasError('INVALID_STATE', `cannot ${action} ${record.name} while it is ${record.status}`, {
        status: record.status,
      });
    }
  }

  private async setStored(id: string, change: Partial<Pick<InstanceRecord, 'status' | 'lastError'>>): Promise<void> {
    await this.deps.registry.update((doc) => {
      const rec = doc.instances.find((r) => r.id === id);
      if (rec) Object.assign(rec, change, { updatedAt: nowIso() });
    });
  }

  async start(ref: string, progress?: ProgressFn): Promise<InstanceView> {
    const record = await this.find(ref);
    this.assertSettled(record, 'start');
    await withOperation(this.deps.registry, record.id, 'start', (current) => this.startHeld(current, progress));
    return this.get(record.id);
  }

  /**
   * What every start needs first: the files of the current layout (an instance of an older dbaas
   * gets them now), and the server's certificate and pg_hba.conf (issued again when near its end
   * or when its addresses changed).
   */
  private async prepareStart(record: InstanceRecord, progress?: ProgressFn): Promise<void> {
    this.reconciler.ensureLayout(record);
    await stepWithProgress(progress, 'tls', "check the server's TLS certificate and pg_hba.conf", () => this.tls.ensure(record));
  }

  /**
   * A new certificate for the server from the installation's CA, read by the running server on a
   * reload: no restart, no connection dropped.
   */
  async rotateTls(ref: string, progress?: ProgressFn): Promise<{ instance: string; notAfter: string; serial: string; reloaded: boolean }> {
    const record = await this.find(ref);
    this.assertSettled(record, 'rotate the certificate of');
    return withOperation(this.deps.registry, record.id, 'tls-rotate', async (current) => {
      const result = await stepWithProgress(progress, 'issue', 'issue a new certificate from the local CA', () => this.tls.ensure(current, { rotate: true }));
      const running = await this.access.serverRunning(current);
      if (running) await stepWithProgress(progress, 'reload', 'reload the server (it reads the new certificate)', () => this.tls.reload(current));
      this.logger.info('server certificate rotated', { instance: current.id, notAfter: result.notAfter });
      return { instance: current.name, notAfter: result.notAfter, serial: result.serial, reloaded: running };
    });
  }

  private async startAndWait(record: InstanceRecord, progress?: ProgressFn): Promise<void> {
    this.events.emit('serverChanged', record.id);
    try {
      await stepWithProgress(progress, 'start', 'start the container', () => this.engine.start(containerNameFor(record)));
      await stepWithProgress(progress, 'ready', 'wait until the server accepts a login', () =>
        waitForServer(this.deps, record, this.access.superuserTarget(record)),
      );
      await stepWithProgress(progress, 'access', "check dbaas's own roles and grants", async () => {
        await this.access.ensure(record);
        await giveArchiveToServer(this.deps, record);
      });
      await stepWithProgress(progress, 'agent', 'start the monitoring agent', () => this.reconciler.startSidecars(record));
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
    await withOperation(this.deps.registry, record.id, 'stop', async (current) => {
      await stepWithProgress(progress, 'stop', 'stop the container (fast shutdown)', () => this.reconciler.stopAll(current));
      await this.setStored(current.id, { status: 'stopped', lastError: null });
    });
    this.events.emit('serverChanged', record.id);
    this.logger.info('instance stopped', { instance: record.id });
    return this.get(record.id);
  }

  async restart(ref: string, progress?: ProgressFn): Promise<InstanceView> {
    const record = await this.find(ref);
    this.assertSettled(record, 'restart');
    await withOperation(this.deps.registry, record.id, 'restart', (current) => this.restartHeld(current, progress));
    return this.get(record.id);
  }

  /** Stops an instance whose operation claim the caller holds (a restore in place swaps its data then). */
  async stopHeld(record: InstanceRecord, progress?: ProgressFn): Promise<void> {
    await stepWithProgress(progress, 'stop', 'stop the containers', () => this.reconciler.stopAll(record));
    await this.setStored(record.id, { status: 'stopped' });
    this.events.emit('serverChanged', record.id);
  }

  /** Starts an instance whose operation claim the caller holds, and waits until it accepts logins. */
  async startHeld(record: InstanceRecord, progress?: ProgressFn): Promise<void> {
    await this.prepareStart(record, progress);
    await this.reconciler.reconcile(record, progress);
    await this.startAndWait(record, progress);
  }

  /** A restart of an instance whose operation claim the caller holds. */
  private async restartHeld(record: InstanceRecord, progress?: ProgressFn): Promise<void> {
    await this.prepareStart(record, progress);
    await this.reconciler.reconcile(record, progress);
    await stepWithProgress(progress, 'stop', 'stop the containers', () => this.reconciler.stopAll(record));
    await this.startAndWait(record, progress);
  }

  async delete(ref: string, options: { keepData?: boolean; purgeBackups?: boolean } = {}, progress?: ProgressFn): Promise<DeletedInstance> {
    const record = await this.find(ref);
    if (record.status === 'provisioning' && ownerAlive(record.owner)) {
      throw new DbaasError('INVALID_STATE', `cannot delete ${record.name} while it is being created`, { status: record.status });
    }
    const files = this.deps.provisioner.files(record.id);
    await withOperation(this.deps.registry, record.id, 'delete', async (current) => {
      // The kept archive gets the last segment too, so a restore of the deleted instance reaches its end.
      if (!options.purgeBackups) await this.archiveBeforeDelete(current, progress);
      await this.setStored(current.id, { status: 'deleting' });
      this.events.emit('serverChanged', current.id);
      await stepWithProgress(progress, 'containers', 'remove the containers', async () => {
        const strays = await this.engine.list(current.id);
        const names = new Set([...current.containers.map((c) => c.name), containerNameFor(current), ...strays.map((c) => c.name)]);
        for (const name of names) await this.engine.remove(name);
      });
      await stepWithProgress(progress, 'files', `remove the files${options.keepData ? ', keeping data/' : ''}${options.purgeBackups ? ' and the backups' : ', keeping the backups'}`, () =>
        this.deps.provisioner.remove(current.id, options),
      );
      const left = await stepWithProgress(progress, 'record', 'remove the registry record', () =>
        this.deps.registry.update((doc) => {
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

  private async archiveBeforeDelete(record: InstanceRecord, progress?: ProgressFn): Promise<void> {
    if (!(await this.access.serverRunning(record).catch(() => false))) return;
    await stepWithProgress(progress, 'archive', 'archive the last WAL segment (its backups and archive are kept)', async () => {
      const walDir = this.deps.provisioner.backups.walDir(record.id);
      const result = await archiveCurrentSegment(this.engine, record, walDir, 30_000).catch((err: unknown) => ({ error: asDbaasError(err).message }));
      if ('error' in result || !result.archived) {
        this.logger.warn('the last WAL segment did not reach the archive before the delete', { instance: record.id, ...result });
      }
    });
  }

  /**
   * Moves an instance onto the image its tag names now (a rebuild for a new minor release,
   * `dbaas image build --version N --force`): its containers made from an older image are
   * recreated from the same compose file and, when it ran, started again (a restart: minor
   * releases share the data format). Nothing happens when they run the current image already.
   */
  async refreshImage(ref: string, progress?: ProgressFn): Promise<InstanceView & { imageRefresh: ImageRefresh }> {
    const record = await this.find(ref);
    this.assertSettled(record, 'refresh the image of');
    const imageRefresh = await withOperation(this.deps.registry, record.id, 'image-refresh', async (current) => {
      const image = await this.engine.imageInfo(current.image);
      if (!image) {
        throw new DbaasError('IMAGE_NOT_AVAILABLE', `image ${current.image} is not on this host; build it with "dbaas image build --version ${current.version}"`, { image: current.image });
      }
      const server = await this.engine.state(containerNameFor(current));
      const from = server?.imageId ?? null;
      if (from === image.id) return { image: current.image, from, to: image.id, refreshed: false };
      const wasRunning = Boolean(server?.running);
      await this.prepareStart(current, progress);
      if (wasRunning) await stepWithProgress(progress, 'stop', 'stop the containers', () => this.reconciler.stopAll(current));
      this.events.emit('serverChanged', current.id);
      await this.reconciler.reconcile(current, progress, undefined, true);
      if (wasRunning) await this.startAndWait(current, progress);
      this.logger.info('instance moved to the rebuilt image', { instance: current.id, image: current.image, from, to: image.id });
      return { image: current.image, from, to: image.id, refreshed: true };
    });
    return { ...(await this.get(record.id)), imageRefresh };
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
    await withOperation(this.deps.registry, record.id, 'update', async (current) => {
      // New overrides, or a new memory limit that stored ones (shared_buffers) must still fit.
      const settings = input.pgSettings ?? current.pgSettings;
      if (Object.keys(settings).length > 0 && (input.pgSettings !== undefined || input.memory !== undefined)) {
        await stepWithProgress(progress, 'settings', "check the settings against the server's pg_settings", () =>
          checkSettings(this.deps, current.image, settings, input.memory ?? current.memory),
        );
      }
      this.reconciler.ensureLayout(current);
      await this.applyUpdate(current, input, progress);
      if (input.allowCidrs !== undefined) {
        // pg_hba.conf is read on a reload: the new networks apply at once, without a restart.
        const updated = await this.find(current.id);
        await stepWithProgress(progress, 'hba', 'write pg_hba.conf with the allowed networks', () => this.tls.ensure(updated));
        if (!options.restart && (await this.access.serverRunning(updated))) {
          await stepWithProgress(progress, 'reload', 'reload the server (it reads pg_hba.conf)', () => this.tls.reload(updated));
        }
      }
      if (options.restart) {
        await this.restartHeld(await this.find(current.id), progress);
      } else if (input.monitoring !== undefined) {
        // The agent takes its settings from the compose file: replace it now, the server runs on
        // (unless the server itself waits for a restart: the agent is replaced with it then).
        const updated = await this.find(current.id);
        const server = await this.engine.state(containerNameFor(updated));
        const serverSpec = this.reconciler.specs(updated).find((s) => s.service === POSTGRES_SERVICE);
        if (server && server.configHash === serverSpec?.configHash) {
          await this.reconciler.reconcile(updated, progress, [AGENT_SERVICE]);
          if (server.running) await this.reconciler.startSidecars(updated);
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
      const updated = await this.deps.registry.update((doc) => {
        const rec = doc.instances.find((r) => r.id === record.id);
        if (!rec) throw notFound(record.id);
        if (input.memory !== undefined) rec.memory = input.memory;
        if (input.cpus !== undefined) rec.cpus = input.cpus;
        if (input.pgSettings !== undefined) rec.pgSettings = input.pgSettings;
        if (input.monitoring !== undefined) rec.monitoring = { ...rec.monitoring, ...definedOnly(input.monitoring) };
        if (input.allowCidrs !== undefined) rec.allowCidrs = input.allowCidrs;
        rec.updatedAt = nowIso();
        // Rendered before the registry is written: a template failure leaves both unchanged.
        this.deps.provisioner.renderCompose(rec);
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
