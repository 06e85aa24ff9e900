import type { RuntimePaths, Settings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import type { Provisioner } from '../provisioner/provisioner.js';
import type { Registry } from '../registry/registry.js';
import type { SecretBox } from '../registry/secrets.js';
import type { InstanceEngine } from '../runtime/workload.js';

/** What the instance modules (manager, create, access, reconciliation) are built from (src/services.ts). */
export interface InstanceDeps {
  settings: Settings;
  paths: RuntimePaths;
  logger: Logger;
  registry: Registry;
  engine: InstanceEngine;
  provisioner: Provisioner;
  secrets: SecretBox;
}

export const nowIso = (): string => new Date().toISOString();
