import type { Response } from 'express';
import { actorOf, auditSteps, type AuditLog } from '../../auth/audit.js';
import type { Principal } from '../../auth/principal.js';
import type { Logger } from '../../log/logger.js';
import type { ProgressFn } from '../../instances/progress.js';
import { OperationSchema, type OperationStore } from '../../operations/store.js';
import { FinalizeResultSchema, UpgradeInputSchema, type UpgradeService } from '../../upgrades/service.js';
import { accessOf } from '../access.js';
import { InstanceRefParams, route, type RouteDef } from '../routeTable.js';

const accepted = (description: string) => ({ status: 202, description: `${description}; poll GET /operations/{id}`, schema: OperationSchema });

/**
 * Starts `work` as an operation whose steps, and its end, go into the audit trail under the
 * request's id and actor (the request itself is logged when it answers 202, before they happen).
 */
function auditedOperation<T>(
  ctx: { operations: OperationStore; audit: AuditLog; logger: Logger; res: Response; principal: Principal },
  kind: string,
  action: string,
  record: { id: string; project: string },
  work: (progress: ProgressFn) => Promise<T>,
) {
  const access = accessOf(ctx.res);
  const actor = actorOf(ctx.principal.kind === 'anonymous' ? undefined : ctx.principal);
  const steps = auditSteps(ctx.audit, { requestId: access.requestId, actor, client: access.client, action, target: record.id, project: record.project }, (message) =>
    ctx.logger.error(message),
  );
  return ctx.operations.start(kind, record.id, async (progress) => {
    try {
      const result = await work(steps.progress(progress));
      await steps.end(null);
      return result;
    } catch (err) {
      await steps.end(err as { code?: string });
      throw err;
    }
  });
}

/**
 * Major upgrades: the upgrade and its rollback take minutes and answer 202 with an operation
 * (after the checks, so that a refusal is a 409 at once); a finalize answers when done.
 */
export function upgradeRoutes(upgrades: UpgradeService, operations: OperationStore, audit: AuditLog, logger: Logger): RouteDef[] {
  const tag = 'instances';
  const ctx = { operations, audit, logger };
  return [
    route({
      method: 'post',
      path: '/instances/{ref}/upgrade',
      operationId: 'upgradeInstance',
      permission: 'instances:update',
      scope: 'instance',
      idempotent: true,
      tag,
      summary: 'Upgrade an instance to a newer PostgreSQL major version (pg_upgrade --link, or dump and restore)',
      description:
        'Checks first while the old server runs (prepared transactions, extensions the new image ships, disk, settings overrides) and refuses with every reason (UPGRADE_REFUSED). ' +
        'Then a verified safety backup, the downtime (stop, build the new cluster beside the old one, swap, start on the new image), ANALYZE and a first base backup on the new version. ' +
        "The old data is kept for a rollback until POST .../upgrade/finalize or 7 days. The operation's result reports the downtime.",
      params: InstanceRefParams,
      body: UpgradeInputSchema,
      success: accepted('The upgrade started'),
      errors: ['INSTANCE_NOT_FOUND', 'INSTANCE_NOT_RUNNING', 'VALIDATION_FAILED', 'UPGRADE_REFUSED', 'INVALID_STATE', 'IMAGE_NOT_AVAILABLE'],
      handler: async ({ params, body, res, principal }) => {
        const record = await upgrades.preflight(params.ref, body);
        return auditedOperation({ ...ctx, res, principal }, 'upgrade', 'upgradeInstance', record, (progress) => upgrades.upgrade(record.id, body, { progress }));
      },
    }),
    route({
      method: 'post',
      path: '/instances/{ref}/upgrade/rollback',
      operationId: 'rollbackInstanceUpgrade',
      permission: 'instances:update',
      scope: 'instance',
      idempotent: true,
      tag,
      summary: 'Return an upgraded (or interrupted) instance to its old version and its old data',
      description:
        'Uses the kept old cluster when no server ran on files it shares; after --method link and a start of the new server, recovers the safety backup ' +
        "and the old server's last WAL instead. Writes made on the new version are lost.",
      params: InstanceRefParams,
      success: accepted('The rollback started'),
      errors: ['INSTANCE_NOT_FOUND', 'NO_UPGRADE', 'INVALID_STATE'],
      handler: async ({ params, res, principal }) => {
        const record = await upgrades.withUpgrade(params.ref);
        return auditedOperation({ ...ctx, res, principal }, 'upgrade-rollback', 'rollbackInstanceUpgrade', record, (progress) => upgrades.rollback(record.id, { progress }));
      },
    }),
    route({
      method: 'post',
      path: '/instances/{ref}/upgrade/finalize',
      operationId: 'finalizeInstanceUpgrade',
      permission: 'instances:update',
      scope: 'instance',
      tag,
      summary: 'Remove the old data an upgrade kept (no rollback afterwards)',
      params: InstanceRefParams,
      success: { status: 200, description: 'What was removed', schema: FinalizeResultSchema },
      errors: ['INSTANCE_NOT_FOUND', 'NO_UPGRADE', 'INVALID_STATE'],
      handler: ({ params }) => upgrades.finalize(params.ref),
    }),
  ];
}
