import { API_ROLE, ensureAccess } from '../database/controlAccess.js';
import { notFound } from '../errors.js';
import { generatePassword } from '../registry/secrets.js';
import { containerNameFor } from '../provisioner/provisioner.js';
import type { LoginTarget } from '../runtime/readiness.js';
import type { InstanceDeps } from './deps.js';
import type { InstanceRecord } from './schema.js';
import { localDialHost } from './view.js';

/** The port the server listens on inside its container (the compose file publishes it). */
const SERVER_PORT = 5432;

/**
 * dbaas's own ways into its instances (DESIGN.md, trust boundaries): the superuser login used for
 * readiness and repairs, the data API's login (dbaas_api), and the pass that re-establishes the
 * roles, passwords and grants dbaas relies on (src/database/controlAccess.ts). Nothing here
 * depends on what the application role can change.
 */
export class InstanceAccess {
  constructor(private readonly deps: Pick<InstanceDeps, 'settings' | 'registry' | 'secrets' | 'engine' | 'logger'>) {}

  /**
   * The superuser, into the maintenance database, which the application role can neither enter
   * nor change. `adminPassword` is the plain one at create (the record holds it sealed).
   */
  superuserTarget(record: InstanceRecord, adminPassword = this.deps.secrets.open(record.adminPassword)): LoginTarget {
    return { host: localDialHost(record.bindAddress), port: record.port, user: 'postgres', password: adminPassword, database: 'postgres' };
  }

  /** The application role itself (only the create's init SQL runs as it). */
  appTarget(record: InstanceRecord, password: string): LoginTarget {
    return { host: localDialHost(record.bindAddress), port: record.port, user: record.username, password, database: record.database };
  }

  /**
   * Re-establishes the roles, passwords and grants dbaas relies on, as the superuser. Run after
   * every start; the data API runs it when its login lost a right. `appPassword` is set only at
   * create: afterwards the password is the application's.
   */
  async ensure(record: InstanceRecord, appPassword?: string): Promise<void> {
    const { secrets, settings } = this.deps;
    await ensureAccess(this.superuserTarget(record), {
      database: record.database,
      appRole: record.username,
      monitorPassword: secrets.open(record.monitorPassword),
      apiPassword: await this.apiPassword(record),
      apiConnections: settings.poolMaxPerInstance,
      ...(appPassword !== undefined ? { appPassword } : {}),
    });
  }

  /** The data API's password; a record made before dbaas_api existed gets one now (once). */
  private async apiPassword(record: InstanceRecord): Promise<string> {
    const { secrets, registry } = this.deps;
    if (record.apiPassword) return secrets.open(record.apiPassword);
    const fresh = secrets.seal(generatePassword(32));
    const sealed = await registry.update((doc) => {
      const rec = doc.instances.find((r) => r.id === record.id);
      if (!rec) throw notFound(record.id);
      rec.apiPassword ??= fresh;
      return rec.apiPassword;
    });
    return secrets.open(sealed);
  }

  /** The data API's login into an instance: dbaas_api, made on the server if it is not yet. */
  async apiLogin(record: InstanceRecord): Promise<{ user: string; password: string }> {
    const current = await this.deps.registry.find(record.id);
    if (!current.apiPassword) await this.ensure(current);
    return { user: API_ROLE, password: await this.apiPassword(await this.deps.registry.find(record.id)) };
  }

  /** Restores dbaas's access after the application role took some of it away. */
  async repair(record: InstanceRecord): Promise<void> {
    this.deps.logger.warn('repairing dbaas access to the instance', { instance: record.id });
    await this.ensure(await this.deps.registry.find(record.id));
  }

  /** Whether the instance's server runs now. */
  async serverRunning(record: InstanceRecord): Promise<boolean> {
    return Boolean((await this.deps.engine.state(containerNameFor(record)))?.running);
  }

  /**
   * Where dbaas's own pool dials the running server: the container's address on its network and
   * the server's port there, which skips the engine's port proxy (a process that copies every
   * byte, a fifth of a core under load); the published port when the engine names no address.
   * Null when the server does not run.
   */
  async serverAddress(record: InstanceRecord): Promise<{ host: string; port: number } | null> {
    const state = await this.deps.engine.state(containerNameFor(record));
    if (!state?.running) return null;
    const direct = state.addresses[0];
    return direct ? { host: direct, port: SERVER_PORT } : { host: localDialHost(record.bindAddress), port: record.port };
  }
}
