import type { BackupService } from '../backups/service.js';
import type { OperationStore } from '../operations/store.js';
import type { ProjectResolver } from './access.js';

/**
 * Which project a route's target belongs to: an instance (live, or deleted with its backups
 * kept), a backup (its instance's), an operation (its instance's or its backup's). Undefined
 * when the target does not exist; the route then answers its own 404.
 */
export function projectResolver(backups: BackupService, operations: OperationStore): ProjectResolver {
  const ofInstance = async (ref: string) => (await backups.identity(ref).catch(() => null))?.project;
  const ofBackup = async (id: string) => {
    try {
      return backups.show(id).project;
    } catch {
      return undefined;
    }
  };
  const resolve: ProjectResolver = async (scope, ref) => {
    if (scope === 'instance') return ofInstance(ref);
    if (scope === 'backup') return ofBackup(ref);
    let target: string;
    try {
      target = operations.get(ref).target;
    } catch {
      return undefined;
    }
    return target.startsWith('bk_') ? ofBackup(target) : ofInstance(target);
  };
  return resolve;
}
