import { readFileSync, statSync } from 'node:fs';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { POSTGRES_SERVICE } from '../provisioner/provisioner.js';
import { loadContainerSpecs, type ContainerSpec } from '../runtime/composeSpec.js';
import type { ServiceState } from '../runtime/workload.js';
import type { InstanceDeps } from './deps.js';
import { stepWithProgress, type ProgressFn } from './progress.js';
import type { InstanceRecord } from './schema.js';

const HashCacheSchema = z.object({ key: z.string(), hashes: z.record(z.string(), z.string()) });

function hashesOf(specs: ContainerSpec[]): Record<string, string> {
  return Object.fromEntries(specs.map((spec) => [spec.service, spec.configHash]));
}

/**
 * Keeps what runs equal to what an instance's compose file says: its services exist and were
 * made from the file as it is now (the config hash), its sidecars run, and files of an older
 * layout are brought up to date. The compose file is the truth; this is how it is applied.
 */
export class Reconciler {
  private readonly specCache = new Map<string, { key: string; specs: ContainerSpec[] }>();

  constructor(private readonly deps: Pick<InstanceDeps, 'engine' | 'provisioner' | 'secrets' | 'settings' | 'logger'>) {}

  /**
   * The service specs of an instance's compose file. Listing computes pendingRestart for every
   * instance from them, so they are kept while the compose file (and old env files) are unchanged.
   */
  specs(record: Pick<InstanceRecord, 'id'>): ContainerSpec[] {
    return this.specsFor(record, this.filesKey(record));
  }

  /** The specs for the compose file whose stat is `key`: cached, else parsed (and hashes saved). */
  private specsFor(record: Pick<InstanceRecord, 'id'>, key: string): ContainerSpec[] {
    const hit = this.specCache.get(record.id);
    if (hit?.key === key) return hit.specs;
    const specs = loadContainerSpecs(this.deps.provisioner.files(record.id).composePath);
    this.specCache.set(record.id, { key, specs });
    this.saveHashes(record, key, specs);
    return specs;
  }

  /** Whether the server runs from an older version of the compose file (settings await a restart). */
  pendingRestart(record: InstanceRecord, containers: ServiceState[]): boolean {
    const main = containers.find((c) => c.service === POSTGRES_SERVICE);
    if (!main) return false;
    try {
      const hash = this.configHashes(record)[POSTGRES_SERVICE];
      return hash !== undefined && main.configHash !== hash;
    } catch {
      return false;
    }
  }

  /** The stat of the compose file (and old env files): what the caches below are valid for. */
  private filesKey(record: Pick<InstanceRecord, 'id'>): string {
    const files = this.deps.provisioner.files(record.id);
    return [files.composePath, ...files.legacyEnvFiles]
      .map((path) => {
        const s = statSync(path, { throwIfNoEntry: false });
        return s ? `${s.ino}:${s.size}:${s.mtimeMs}` : '-';
      })
      .join('|');
  }

  /**
   * Each service's config hash. A listing needs only these, and a CLI process has no warm cache:
   * parsing every compose file cost about 6.5 ms an instance (2 s for `dbaas list` of 100), so
   * the hashes are also kept on disk beside the compose file, valid for the stat they were made
   * from (a derived cache: deleting it costs one parse).
   */
  private configHashes(record: Pick<InstanceRecord, 'id'>): Record<string, string> {
    const key = this.filesKey(record);
    if (this.specCache.get(record.id)?.key !== key) {
      try {
        const saved = HashCacheSchema.parse(JSON.parse(readFileSync(this.deps.provisioner.files(record.id).configHashesPath, 'utf8')));
        if (saved.key === key) return saved.hashes;
      } catch {
        // Missing or unreadable: parse the compose file.
      }
    }
    return hashesOf(this.specsFor(record, key));
  }

  private saveHashes(record: Pick<InstanceRecord, 'id'>, key: string, specs: ContainerSpec[]): void {
    try {
      writeFileAtomic.sync(this.deps.provisioner.files(record.id).configHashesPath, JSON.stringify({ key, hashes: hashesOf(specs) }) + '\n', { mode: 0o644 });
    } catch {
      // Only a cache.
    }
  }

  /**
   * Brings an instance made by an older dbaas to the current layout of its files: secrets in
   * files instead of the containers' environment, the installation's network instead of the
   * server's namespace. Rewrites the compose file, so its services are recreated on the next start.
   */
  ensureLayout(record: InstanceRecord): void {
    const { provisioner, secrets, logger } = this.deps;
    if (provisioner.recoverDataSwap(record.id)) logger.warn('put the data back that an interrupted in-place restore had moved aside', { instance: record.id });
    if (provisioner.hasCurrentLayout(record.id)) return;
    // The compose file first: until the secret files exist the layout is not current, so a
    // crash between the two steps is finished by the next start (the other order left a compose
    // file naming env files that were already gone).
    provisioner.renderCompose(record);
    provisioner.writeSecrets(record, {
      adminPassword: secrets.open(record.adminPassword),
      monitorPassword: secrets.open(record.monitorPassword),
    });
    logger.info('moved the instance to the current file layout', { instance: record.id });
  }

  /**
   * Makes sure each service exists as the compose file describes it: absent ones are created,
   * ones made from an older file are replaced (the data lives in the bind-mounted folder).
   * Services depend on nothing of each other's containers (they meet on the installation's
   * network), so each is replaced only when its own part of the file changed. `only` limits the
   * work to some services. `refreshImages` also replaces a service made from an older image of
   * its tag (a rebuild for a new minor release moved the tag; the file did not change).
   */
  async reconcile(record: InstanceRecord, progress?: ProgressFn, only?: string[], refreshImages = false): Promise<void> {
    const { engine, settings } = this.deps;
    for (const spec of this.specs(record)) {
      if (only && !only.includes(spec.service)) continue;
      const info = await engine.state(spec.name);
      const stale = refreshImages && info !== null && info.imageId !== (await engine.imageInfo(spec.options.Image as string))?.id;
      if (info !== null && info.configHash === spec.configHash && !stale) continue;
      const what = spec.service === POSTGRES_SERVICE ? 'the container' : `the ${spec.service} container`;
      const why = stale ? `recreate ${what} from the rebuilt image ${spec.options.Image as string}` : info ? `recreate ${what} from the compose file` : `create the missing ${spec.service} container`;
      await stepWithProgress(progress, 'container', why, async () => {
        if (info) {
          await engine.stop(spec.name, settings.stopTimeoutSec);
          await engine.remove(spec.name);
        }
        await engine.create(spec);
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
      if ((await this.deps.engine.state(spec.name))?.running) continue;
      await this.deps.engine.start(spec.name);
      started.push(spec.service);
    }
    return started;
  }

  /** Stops every service of the instance, sidecars first. */
  async stopAll(record: InstanceRecord): Promise<void> {
    for (const spec of [...this.specs(record)].reverse()) await this.deps.engine.stop(spec.name, this.deps.settings.stopTimeoutSec);
  }
}
