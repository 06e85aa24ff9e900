import { AuditLog, rotationOf } from './auth/audit.js';
import { IdempotencyStore } from './auth/idempotency.js';
import { TokenStore } from './auth/tokens.js';
import { BackupService } from './backups/service.js';
import { OperationStore } from './operations/store.js';
import { runtimePaths, type RuntimePaths, type Settings } from './config/settings.js';
import { DataService } from './database/service.js';
import { Doctor } from './instances/doctor.js';
import { Manager } from './instances/manager.js';
import { createLogger, type Logger } from './log/logger.js';
import { MonitoringService } from './monitoring/service.js';
import { Provisioner } from './provisioner/provisioner.js';
import { Registry } from './registry/registry.js';
import { SecretBox } from './registry/secrets.js';
import { DockerEngine } from './runtime/engine.js';
import type { InstanceEngine } from './runtime/workload.js';
import { UpgradeService } from './upgrades/service.js';

/**
 * The one place where dbaas's services are built and wired: `dbaas serve`, every CLI command, the
 * tests and the benchmarks get them from here. Each service takes the narrow dependencies it
 * uses; only this file knows which implementation stands behind each (the Docker engine today,
 * a Swarm engine later).
 */
export interface Services {
  settings: Settings;
  paths: RuntimePaths;
  logger: Logger;
  registry: Registry;
  engine: InstanceEngine;
  secrets: SecretBox;
  provisioner: Provisioner;
  manager: Manager;
  data: DataService;
  monitoring: MonitoringService;
  doctor: Doctor;
  backups: BackupService;
  /** Major upgrades and their rollback (src/upgrades/). */
  upgrades: UpgradeService;
  /** The API's long operations (backups, restores), polled at GET /operations/{id}. */
  operations: OperationStore;
  tokens: TokenStore;
  audit: AuditLog;
  idempotency: IdempotencyStore;
  /** Closes what holds connections (the data API's pools). */
  close(): Promise<void>;
}

export interface ServiceOptions {
  /** The logger to use; by default the provisioning log file only (no console). */
  logger?: Logger;
  /** Another engine behind the seam (tests); by default the Docker engine of the settings. */
  engine?: InstanceEngine;
}

export function createServices(settings: Settings, options: ServiceOptions = {}): Services {
  const paths = runtimePaths(settings);
  const logger = options.logger ?? createLogger({ file: paths.provisioningLog, level: settings.logLevel, consoleLevel: 'silent' });
  const registry = new Registry(paths.registryFile);
  const engine = options.engine ?? new DockerEngine(settings.dockerSocket, settings.home);
  const secrets = settings.masterKey ? SecretBox.fromKey(settings.masterKey) : SecretBox.fromKeyFile(paths.keyFile);
  const provisioner = new Provisioner(paths, settings);
  const manager = new Manager({ settings, paths, logger, registry, engine, provisioner, secrets });
  const data = new DataService(manager);
  const backups = new BackupService(manager, provisioner, logger);
  const monitoring = new MonitoringService(manager, logger, (record) => backups.facts(record));
  const doctor = new Doctor({ registry, engine, paths, logger }, manager);
  const audit = new AuditLog(paths.auditLog, rotationOf(settings));
  const tokens = new TokenStore(paths.tokensFile);
  return {
    settings,
    paths,
    logger,
    registry,
    engine,
    secrets,
    provisioner,
    manager,
    data,
    monitoring,
    doctor,
    backups,
    upgrades: new UpgradeService(manager, backups, logger),
    operations: new OperationStore(paths.operationsDir),
    tokens,
    audit,
    idempotency: new IdempotencyStore(paths.idempotencyDir, secrets),
    close: async () => {
      await data.close();
      await tokens.close();
      await audit.close();
    },
  };
}
