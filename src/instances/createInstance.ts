import { DEFAULT_PROJECT } from '../auth/project.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { imageFor } from '../config/settings.js';
import { runInitSql } from '../database/initSql.js';
import { asDbaasError, DbaasError } from '../errors.js';
import { containerNameFor, POSTGRES_SERVICE, type InstanceFiles, type PlainSecrets } from '../provisioner/provisioner.js';
import { dataTemplateRequest, replenishSpares, seedDataDir, sparesDirFor } from '../provisioner/dataSeed.js';
import { allocatePort, assertHostAddress } from '../provisioner/ports.js';
import { generatePassword } from '../registry/secrets.js';
import { loadContainerSpecs } from '../runtime/composeSpec.js';
import { parseInput } from '../validate.js';
import type { InstanceAccess } from './access.js';
import { giveArchiveToServer } from '../backups/archiveOwner.js';
import { bootstrapFromTemplate } from './bootstrap.js';
import { nowIso, type InstanceDeps } from './deps.js';
import { checkSettings, ensureImage } from './imageCheck.js';
import { defaultShmSize } from './pgSettings.js';
import { stepWithProgress, type ProgressFn } from './progress.js';
import type { ServerTls } from './serverTls.js';
import { createInstanceSchema, DEFAULT_MONITORING, type CreateInstanceInput, type InstanceRecord } from './schema.js';
import { waitForServer } from './serverReady.js';
import { parseSize } from './size.js';

/**
 * The create of an instance, as a saga: validate; check the engine, the image and the settings;
 * find (or make, once per image) the image's template data directory; reserve the name and a
 * port in the registry (the record, "provisioning", is the reservation); lay out the files, the
 * data folder copied from the template; create and start the services (server and agent) from
 * the compose file; on a copied folder, set the superuser's password and run the init scripts
 * (bootstrap.ts); wait for a real login; set the passwords and dbaas's roles; run the user's
 * init SQL; record "running". Without a template the image's entrypoint initialises the data
 * folder on the first start, as a bare `docker run` would. Each step reports progress. A
 * failure at any step after the reservation (and an abort: Ctrl-C) undoes every step made:
 * services, files, record.
 */

/**
 * Where a new instance's data comes from when it is not a fresh cluster: a restore fills the
 * empty data folder (recovering a backup into it) after the reservation, and the first start
 * then only sets dbaas's passwords: the roles and the database exist already.
 */
export interface DataSource {
  /** The progress line of the fill step. */
  message: string;
  fill(record: InstanceRecord, files: InstanceFiles, signal?: AbortSignal): Promise<void>;
}

export interface CreatedRecord {
  record: InstanceRecord;
  /** The application password in plain text, shown once. */
  password: string;
}

function newId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return 'db_' + Array.from(randomBytes(10), (b) => alphabet[b % alphabet.length]).join('');
}

/** Waits for every promise to settle, then rejects with the first failure (if any). */
async function settleAll(work: Array<Promise<unknown>>): Promise<void> {
  const failed = (await Promise.allSettled(work)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The fields of a partial input that were given (a spread must not copy explicit undefineds). */
export function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export class InstanceCreation {
  constructor(
    private readonly deps: InstanceDeps,
    private readonly access: InstanceAccess,
    private readonly tls: ServerTls,
  ) {}

  async run(raw: unknown, progress?: ProgressFn, signal?: AbortSignal, source?: DataSource): Promise<CreatedRecord> {
    const { settings, engine, logger } = this.deps;
    const started = Date.now();
    const step = <T>(name: string, message: string, work: () => Promise<T> | T) => stepWithProgress(progress, name, message, work, signal);
    const input = await step('validate', 'validate the request', () => parseInput(createInstanceSchema(settings), raw));
    if (input.bindAddress !== undefined) assertHostAddress(input.bindAddress);
    const version = input.version ?? settings.defaultVersion;
    const image = imageFor(settings, version);
    const memory = input.memory ?? parseSize(settings.defaultMemory) ?? 512 * 1024 * 1024;

    await step('engine', 'check the Docker engine', () => engine.ping());
    await step('image', `check image ${image}`, () => ensureImage(this.deps, image, version));
    if (input.pgSettings !== undefined && Object.keys(input.pgSettings).length > 0) {
      const overrides = input.pgSettings;
      await step('settings', "check the settings against the server's pg_settings", () => checkSettings(this.deps, image, overrides, memory));
    }
    const template = settings.dataTemplates && !source
      ? await step('template', `prepare the template data directory of ${image} (made once per image)`, () => this.template(image))
      : null;

    const plain: PlainSecrets = {
      password: input.password ?? generatePassword(),
      adminPassword: generatePassword(32),
      monitorPassword: generatePassword(32),
    };
    const record = await step('reserve', 'reserve the name and a port', () => this.reserve(input, { version, image, memory }, plain));
    logger.info('provisioning instance', { instance: record.id, name: record.name, image, port: record.port, memory, cpus: record.cpus });

    const made: string[] = [];
    try {
      const { finished, seeded } = await this.build(record, input, plain, template, made, step, signal, source);
      logger.info('instance created', { instance: record.id, name: record.name, ms: Date.now() - started, data: seeded ? 'template' : 'initdb' });
      this.replenish(template);
      return { record: finished, password: plain.password };
    } catch (err) {
      const error = asDbaasError(err);
      logger.error('create failed; undoing it', { instance: record.id, name: record.name, error: error.message });
      await this.undo(record, made, progress);
      this.replenish(template);
      if (error.code === 'INTERNAL' || error.code === 'OPERATION_FAILED') {
        throw new DbaasError('PROVISIONING_FAILED', `creating ${record.name} failed: ${error.message}`, error.details, { cause: err });
      }
      throw error;
    }
  }

  /** Writes the record as "provisioning" with a free name and port, under the registry's lock. */
  private reserve(
    input: CreateInstanceInput,
    chosen: { version: number; image: string; memory: number },
    plain: PlainSecrets,
  ): Promise<InstanceRecord> {
    const { settings, registry, secrets } = this.deps;
    return registry.update(async (doc) => {
      if (doc.instances.some((r) => r.name === input.name)) {
        throw new DbaasError('NAME_TAKEN', `an instance named "${input.name}" already exists`, { field: 'name' });
      }
      const bindAddress = input.bindAddress ?? settings.bindAddress;
      const port = await allocatePort({
        range: settings.portRange,
        taken: new Set(doc.instances.map((r) => r.port)),
        requested: input.port,
        host: bindAddress,
      });
      const now = nowIso();
      const rec: InstanceRecord = {
        id: newId(),
        name: input.name,
        project: input.project ?? DEFAULT_PROJECT,
        version: chosen.version,
        image: chosen.image,
        memory: chosen.memory,
        cpus: input.cpus ?? Math.min(settings.defaultCpus, settings.hostCpus),
        shmSize: input.shmSize ?? defaultShmSize(chosen.memory),
        pidsLimit: settings.pidsLimit,
        port,
        bindAddress,
        allowCidrs: input.allowCidrs ?? [],
        database: input.database ?? 'app',
        username: input.username ?? 'app',
        password: secrets.seal(plain.password),
        adminPassword: secrets.seal(plain.adminPassword),
        monitorPassword: secrets.seal(plain.monitorPassword),
        apiPassword: secrets.seal(generatePassword(32)),
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
    });
  }

  /** The steps after the reservation; every service made is pushed to `made` for the undo. */
  private async build(
    record: InstanceRecord,
    input: CreateInstanceInput,
    plain: PlainSecrets,
    template: string | null,
    made: string[],
    step: <T>(name: string, message: string, work: () => Promise<T> | T) => Promise<T>,
    signal?: AbortSignal,
    source?: DataSource,
  ): Promise<{ finished: InstanceRecord; seeded: boolean }> {
    const { engine, provisioner, registry, settings } = this.deps;
    let seeded = false;
    const files = await step('files', `write instances/${record.id}/`, async () => {
      const written = provisioner.prepare(record, plain);
      if (template) seeded = await this.seed(template, written.dataDir, record);
      return written;
    });
    await step('tls', "issue the server's TLS certificate and write who may log in (pg_hba.conf)", () => this.tls.ensure(record));
    if (source) {
      await step('restore', source.message, () => source.fill(record, files, signal));
      seeded = true;
    }
    const specs = loadContainerSpecs(files.composePath);
    await step('container', 'create the containers from docker-compose.yml', () =>
      // Together; the step ends when every create has ended, so the undo sees all that was made.
      settleAll(
        specs.map(async (spec) => {
          await engine.create(spec);
          made.push(spec.name);
        }),
      ),
    );
    await step('start', 'start the server', () => engine.start(containerNameFor(record)));
    // The sidecars (the agent) start while the server gets ready; the agent waits for its login
    // (set in the access step) itself.
    const sidecars = settleAll(specs.filter((spec) => spec.service !== POSTGRES_SERVICE).map((spec) => engine.start(spec.name)));
    try {
      if (seeded) {
        await step('bootstrap', "set the superuser's password and run the init scripts", () =>
          bootstrapFromTemplate(this.deps, record, plain.adminPassword, { initScripts: !source }),
        );
      }
      await step('ready', 'wait until the server accepts a login', () =>
        waitForServer(this.deps, record, this.access.superuserTarget(record, plain.adminPassword), signal),
      );
      await step('access', "set the passwords and dbaas's own roles", async () => {
        await this.access.ensure(record, plain.password);
        await giveArchiveToServer(this.deps, record);
      });
      if (input.initSql !== undefined && input.initSql.trim() !== '') {
        const initSql = input.initSql;
        await step('init-sql', 'run the init SQL as the application role', () =>
          runInitSql(this.access.appTarget(record, plain.password), initSql, settings.readyTimeoutMs),
        );
      }
    } finally {
      // Never left running under an undo; a failed start fails the create below.
      await sidecars.catch(() => undefined);
    }
    await step('agent', 'start the monitoring agent', () => sidecars);
    const finished = await step('record', 'record the instance', () =>
      registry.update((doc) => {
        const rec = doc.instances.find((r) => r.id === record.id);
        if (!rec) throw new DbaasError('OPERATION_FAILED', `instance ${record.id} vanished from the registry`);
        rec.status = 'running';
        delete rec.owner;
        rec.containers = specs.map((s) => ({ service: s.service, name: s.name }));
        rec.updatedAt = nowIso();
        return { ...rec };
      }),
    );
    return { finished, seeded };
  }

  /**
   * Starts making the next spare copy of the template, once the create is over: its thousand
   * file creations would otherwise compete with the new server's start for the disk.
   */
  private replenish(template: string | null): void {
    if (template) replenishSpares(template, sparesDirFor(this.deps.paths.instancesDir, template));
  }

  /** The image's template data directory, or null (then the entrypoint initialises the data). */
  private async template(image: string): Promise<string | null> {
    const { engine, paths, settings, logger } = this.deps;
    try {
      return await engine.dataTemplate(image, dataTemplateRequest(paths.dataTemplatesDir, settings.readyTimeoutMs));
    } catch (err) {
      logger.warn('no template data directory; the server initialises its own', { image, error: asDbaasError(err).message });
      return null;
    }
  }

  /** Fills the new data folder from the template (a spare copy when one is ready); false (an empty folder) when it could not. */
  private async seed(template: string, dataDir: string, record: InstanceRecord): Promise<boolean> {
    const spares = sparesDirFor(this.deps.paths.instancesDir, template);
    try {
      const how = await seedDataDir(template, dataDir, spares);
      this.deps.logger.debug('data folder seeded', { instance: record.id, from: how });
      return true;
    } catch (err) {
      this.deps.logger.warn('could not copy the template data directory; the server initialises its own', {
        instance: record.id,
        error: (err as Error).message,
      });
      return false;
    }
  }

  /** Removes whatever a failed create made: services, files, the registry record. */
  private async undo(record: InstanceRecord, made: string[], progress?: ProgressFn): Promise<void> {
    const { engine, provisioner, registry, logger } = this.deps;
    await stepWithProgress(progress, 'cleanup', 'remove what the failed create made', async () => {
      const problems: string[] = [];
      for (const name of made) await engine.remove(name).catch((e: unknown) => problems.push(asDbaasError(e).message));
      try {
        provisioner.remove(record.id, { purgeBackups: true });
      } catch (e) {
        problems.push(asDbaasError(e).message);
      }
      await registry
        .update((doc) => {
          doc.instances = doc.instances.filter((r) => r.id !== record.id);
        })
        .catch((e: unknown) => problems.push(asDbaasError(e).message));
      if (problems.length) logger.error('cleanup after failed create was incomplete', { instance: record.id, problems });
    });
  }
}
