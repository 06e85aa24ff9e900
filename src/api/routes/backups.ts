import { projectResolver } from '../projects.js';
import { sees } from '../../auth/principal.js';
import { z } from 'zod';
import { BackupIdSchema } from '../../backups/manifest.js';
import {
  BackupListSchema,
  BackupScheduleInputSchema,
  BackupScheduleSchema,
  BackupViewSchema,
  CreateBackupSchema,
  InstanceBackupStatusSchema,
  RestoreSchema,
} from '../../backups/schema.js';
import type { BackupService } from '../../backups/service.js';
import { OperationListSchema, OperationSchema, type OperationStore } from '../../operations/store.js';
import { InstanceRefParams, queryFlag, route, type RouteDef } from '../routeTable.js';

const BackupParams = z.object({ id: BackupIdSchema.meta({ description: 'Backup id (bk_...)', example: 'bk_20261124153000abcd' }) });
const OperationParams = z.object({ id: z.string().min(1).max(64).meta({ description: 'Operation id (op_...)' }) });

const VerifySchema = z
  .object({ restore: z.boolean().default(false).meta({ description: 'Also restore it into a throw-away container and compare row counts' }) })
  .strict()
  .meta({ id: 'VerifyBackup' });

const CloneSchema = z
  .object({ name: z.string().meta({ description: 'The name of the new instance' }) })
  .strict()
  .meta({ id: 'CloneInstance' });

const accepted = (description: string) => ({ status: 202, description: `${description}; poll GET /operations/{id}`, schema: OperationSchema });

/**
 * Backups, restores and their operations. Reading answers at once; what takes minutes (a backup,
 * a restore, a verification) answers 202 with an operation that GET /operations/{id} follows.
 */
export function backupRoutes(backups: BackupService, operations: OperationStore): RouteDef[] {
  const tag = 'backups';
  const projectOf = projectResolver(backups, operations);
  return [
    route({
      method: 'post',
      path: '/instances/{ref}/backups',
      operationId: 'createBackup',
      permission: 'backups:create',
      scope: 'instance',
      idempotent: true,
      tag,
      summary: 'Take a backup of a running instance (physical base backup or logical dump)',
      description: 'Answers at once with the operation; its result is the backup. A backup that fails or is interrupted is never listed.',
      params: InstanceRefParams,
      body: CreateBackupSchema,
      success: accepted('The backup started'),
      errors: ['INSTANCE_NOT_FOUND', 'INSTANCE_NOT_RUNNING', 'VALIDATION_FAILED'],
      handler: async ({ params, body }) => {
        const record = await backups.assertBackupable(params.ref);
        return operations.start('backup', record.id, (progress) => backups.create(record.id, body, { progress }));
      },
    }),
    route({
      method: 'get',
      path: '/instances/{ref}/backups',
      operationId: 'listInstanceBackups',
      permission: 'backups:read',
      scope: 'instance',
      tag,
      summary: "An instance's backups, oldest first (also of a deleted instance)",
      params: InstanceRefParams,
      success: { status: 200, description: 'Backups', schema: BackupListSchema },
      errors: ['INSTANCE_NOT_FOUND'],
      handler: async ({ params }) => ({ backups: await backups.list(params.ref) }),
    }),
    route({
      method: 'get',
      path: '/instances/{ref}/backup-status',
      operationId: 'getBackupStatus',
      permission: 'backups:read',
      scope: 'instance',
      tag,
      summary: "The WAL archive's state (last segment, its age, failures), the newest backup, the earliest restorable moment",
      params: InstanceRefParams,
      success: { status: 200, description: 'Backup status', schema: InstanceBackupStatusSchema },
      errors: ['INSTANCE_NOT_FOUND'],
      handler: ({ params }) => backups.status(params.ref),
    }),
    route({
      method: 'get',
      path: '/backups',
      operationId: 'listBackups',
      permission: 'backups:read',
      scope: 'none',
      tag,
      summary: 'Every backup in the repository, of existing and deleted instances',
      success: { status: 200, description: 'Backups', schema: BackupListSchema },
      errors: [],
      handler: async ({ principal }) => ({ backups: (await backups.list()).filter((b) => sees(principal, b.project)) }),
    }),
    route({
      method: 'get',
      path: '/backups/{id}',
      operationId: 'getBackup',
      permission: 'backups:read',
      scope: 'backup',
      tag,
      summary: 'One backup with its manifest',
      params: BackupParams,
      success: { status: 200, description: 'The backup', schema: BackupViewSchema },
      errors: ['BACKUP_NOT_FOUND'],
      handler: async ({ params }) => backups.show(params.id),
    }),
    route({
      method: 'delete',
      path: '/backups/{id}',
      operationId: 'deleteBackup',
      permission: 'backups:delete',
      scope: 'backup',
      tag,
      summary: 'Delete a backup',
      params: BackupParams,
      success: { status: 200, description: 'The deleted backup', schema: BackupViewSchema },
      errors: ['BACKUP_NOT_FOUND'],
      handler: async ({ params }) => backups.delete(params.id),
    }),
    route({
      method: 'post',
      path: '/backups/{id}/verify',
      operationId: 'verifyBackup',
      permission: 'backups:create',
      scope: 'backup',
      tag,
      summary: 'Check a backup: checksums, manifest, WAL continuity; with restore, a real restore and row counts',
      params: BackupParams,
      body: VerifySchema,
      success: accepted('The verification started; its result is the backup with its verification'),
      errors: ['BACKUP_NOT_FOUND', 'VALIDATION_FAILED'],
      handler: async ({ params, body }) => {
        backups.show(params.id);
        return operations.start('verify', params.id, () => backups.verify(params.id, { restore: body.restore }));
      },
    }),
    route({
      method: 'post',
      path: '/instances/{ref}/restore',
      operationId: 'restoreInstance',
      permission: 'backups:restore',
      scope: 'instance',
      idempotent: true,
      tag,
      summary: 'Restore an instance (live or deleted) into a new instance, or in place, to a point in time or its newest state',
      description:
        'Starts from the newest base backup that ends before the target (or the one named in backup) and replays the archived WAL. ' +
        'The target is checked before anything is made: a time the archive does not reach is refused (RESTORE_TARGET_UNREACHABLE).',
      params: InstanceRefParams,
      body: RestoreSchema,
      success: accepted('The restore started; its result is the new instance (with its password, shown once)'),
      errors: ['INSTANCE_NOT_FOUND', 'BACKUP_NOT_FOUND', 'VALIDATION_FAILED', 'RESTORE_TARGET_UNREACHABLE', 'BACKUP_CORRUPT'],
      handler: async ({ params, body }) => {
        const prepared = await backups.prepareRestore(params.ref, body);
        const run = prepared.input.inPlace ? backups.runPreparedInPlace.bind(backups) : backups.runPrepared.bind(backups);
        return operations.start('restore', prepared.plan.identity.id, (progress) => run(prepared, { progress }));
      },
    }),
    route({
      method: 'post',
      path: '/backups/{id}/restore',
      operationId: 'restoreBackup',
      permission: 'backups:restore',
      scope: 'backup',
      idempotent: true,
      tag,
      summary: 'Restore a backup into a new instance (a base backup with WAL replay to a target, or a logical dump)',
      params: BackupParams,
      body: RestoreSchema,
      success: accepted('The restore started; its result is the new instance'),
      errors: ['BACKUP_NOT_FOUND', 'VALIDATION_FAILED'],
      handler: async ({ params, body }) => {
        const prepared = await backups.prepareRestore(params.id, { ...body, backup: params.id });
        const run = prepared.input.inPlace ? backups.runPreparedInPlace.bind(backups) : backups.runPrepared.bind(backups);
        return operations.start('restore', params.id, (progress) => run(prepared, { progress }));
      },
    }),
    route({
      method: 'post',
      path: '/instances/{ref}/clone',
      operationId: 'cloneInstance',
      permission: 'backups:restore',
      scope: 'instance',
      idempotent: true,
      tag,
      summary: 'A new instance with the newest state of this one (its newest base backup and all archived WAL)',
      description: 'Without a base backup to start from, the operation takes one of the live server first.',
      params: InstanceRefParams,
      body: CloneSchema,
      success: accepted('The clone started; its result is the new instance'),
      errors: ['INSTANCE_NOT_FOUND', 'VALIDATION_FAILED'],
      handler: async ({ params, body }) => {
        const identity = await backups.identity(params.ref);
        if (backups.hasUsableBaseBackup(identity.id)) {
          const prepared = await backups.prepareRestore(params.ref, { as: body.name, latest: true });
          return operations.start('clone', identity.id, (progress) => backups.runPrepared(prepared, { progress }));
        }
        await backups.assertBackupable(identity.id);
        return operations.start('clone', identity.id, (progress) => backups.clone(identity.id, body.name, { progress }));
      },
    }),
    route({
      method: 'get',
      path: '/instances/{ref}/backup-schedule',
      operationId: 'getBackupSchedule',
      permission: 'backups:read',
      scope: 'instance',
      tag,
      summary: "An instance's backup schedule with its last run, or null",
      params: InstanceRefParams,
      success: { status: 200, description: 'The schedule', schema: z.object({ schedule: BackupScheduleSchema.nullable() }) },
      errors: ['INSTANCE_NOT_FOUND'],
      handler: async ({ params }) => ({ schedule: await backups.schedule(params.ref) }),
    }),
    route({
      method: 'put',
      path: '/instances/{ref}/backup-schedule',
      operationId: 'setBackupSchedule',
      permission: 'backups:create',
      scope: 'instance',
      tag,
      summary: 'Set (replace) the backup schedule: cron (UTC), type, retention, verification',
      description:
        'dbaas serve runs it; a run missed while no server ran is made up at its next start and reported as made up. ' +
        'Retention removes scheduled backups outside keepLast/keepDays, and the archived WAL no kept base backup needs.',
      params: InstanceRefParams,
      body: BackupScheduleInputSchema,
      success: { status: 200, description: 'The schedule', schema: z.object({ schedule: BackupScheduleSchema.nullable() }) },
      errors: ['INSTANCE_NOT_FOUND', 'VALIDATION_FAILED'],
      handler: async ({ params, body }) => ({ schedule: await backups.setSchedule(params.ref, body) }),
    }),
    route({
      method: 'delete',
      path: '/instances/{ref}/backup-schedule',
      operationId: 'deleteBackupSchedule',
      permission: 'backups:create',
      scope: 'instance',
      tag,
      summary: 'Remove the backup schedule (its backups stay)',
      params: InstanceRefParams,
      success: { status: 200, description: 'No schedule any more', schema: z.object({ schedule: BackupScheduleSchema.nullable() }) },
      errors: ['INSTANCE_NOT_FOUND'],
      handler: async ({ params }) => {
        await backups.clearSchedule(params.ref);
        return { schedule: null };
      },
    }),
    route({
      method: 'get',
      path: '/operations',
      operationId: 'listOperations',
      permission: 'backups:read',
      scope: 'none',
      tag: 'operations',
      summary: 'Long operations (backups, restores, verifications), newest first',
      query: z.object({ running: queryFlag.meta({ description: 'Only the ones still running' }) }),
      success: { status: 200, description: 'Operations', schema: OperationListSchema },
      errors: [],
      handler: async ({ query, principal }) => {
        const ops = operations.list().filter((op) => !query.running || op.status === 'running');
        if (principal.project === null) return { operations: ops };
        const projects = await Promise.all(ops.map((op) => projectOf('operation', op.id)));
        return { operations: ops.filter((_op, i) => projects[i] !== undefined && sees(principal, projects[i])) };
      },
    }),
    route({
      method: 'get',
      path: '/operations/{id}',
      operationId: 'getOperation',
      permission: 'backups:read',
      scope: 'operation',
      tag: 'operations',
      summary: 'One operation: its status, steps, and result or error',
      params: OperationParams,
      success: { status: 200, description: 'The operation', schema: OperationSchema },
      errors: ['OPERATION_NOT_FOUND'],
      handler: async ({ params }) => operations.get(params.id),
    }),
  ];
}
