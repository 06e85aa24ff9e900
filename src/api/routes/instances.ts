import { auditProject } from '../access.js';
import { z } from 'zod';
import type { BackupService } from '../../backups/service.js';
import type { Manager } from '../../instances/manager.js';
import {
  ConnectionInfoSchema,
  CreatedInstanceSchema,
  createInstanceSchema,
  DeletedInstanceSchema,
  InstanceListSchema,
  InstanceLogsSchema,
  InstanceStatsSchema,
  InstanceViewSchema,
  RefreshedInstanceSchema,
  updateInstanceSchema,
} from '../../instances/schema.js';
import { projectForCreate, sees } from '../../auth/principal.js';
import { InstanceRefParams, queryFlag, route, type RouteDef } from '../routeTable.js';

export const RotatedCertificateSchema = z
  .object({
    instance: z.string(),
    notAfter: z.string(),
    serial: z.string(),
    reloaded: z.boolean().meta({ description: 'Whether a running server read it now (a stopped one reads it at its start)' }),
  })
  .meta({ id: 'RotatedCertificate' });

export const LogsQuery = z.object({
  tail: z.coerce.number().int().min(1).max(10_000).default(100).meta({ description: 'Number of lines from the end' }),
});

/** The instance routes of DESIGN.md; each validates, calls the manager, returns JSON. */
export function instanceRoutes(manager: Manager, backups: BackupService): RouteDef[] {
  const limits = manager.settings;
  const tag = 'instances';
  return [
    route({
      method: 'post',
      path: '/instances',
      operationId: 'createInstance',
      permission: 'instances:create',
      scope: 'none',
      idempotent: true,
      tag,
      summary: 'Create an instance',
      description:
        'Validates, reserves a port, renders the compose file and init scripts, creates and starts the container, ' +
        'waits until the server accepts a login, and returns the instance with its password (shown once).',
      body: createInstanceSchema(limits),
      success: { status: 201, description: 'Created and accepting connections', schema: CreatedInstanceSchema },
      errors: ['NAME_TAKEN', 'PORT_IN_USE', 'PORT_RANGE_EXHAUSTED', 'IMAGE_NOT_AVAILABLE', 'ENGINE_UNAVAILABLE', 'PROVISIONING_FAILED', 'READINESS_TIMEOUT'],
      handler: ({ body, principal, res }) => {
        const project = projectForCreate(principal, body.project);
        auditProject(res, project);
        return manager.create({ ...body, project });
      },
    }),
    route({
      method: 'get',
      path: '/instances',
      operationId: 'listInstances',
      permission: 'instances:read',
      scope: 'none',
      tag,
      summary: 'List instances with their observed status',
      success: { status: 200, description: 'All instances', schema: InstanceListSchema },
      errors: ['ENGINE_UNAVAILABLE'],
      handler: async ({ principal }) => ({ instances: (await manager.list()).filter((i) => sees(principal, i.project)) }),
    }),
    route({
      method: 'get',
      path: '/instances/{ref}',
      operationId: 'getInstance',
      permission: 'instances:read',
      scope: 'instance',
      tag,
      summary: 'Show one instance, with the state of its WAL archive and backups',
      params: InstanceRefParams,
      success: { status: 200, description: 'The instance', schema: InstanceViewSchema },
      errors: ['INSTANCE_NOT_FOUND', 'ENGINE_UNAVAILABLE'],
      handler: async ({ params }) => ({ ...(await manager.get(params.ref)), backups: await backups.status(params.ref) }),
    }),
    route({
      method: 'patch',
      path: '/instances/{ref}',
      operationId: 'updateInstance',
      permission: 'instances:update',
      scope: 'instance',
      tag,
      summary: 'Resize an instance live (memory, CPUs) or change its PostgreSQL settings',
      description:
        'Memory and CPU limits change at once (docker update). Settings derived from memory and pgSettings ' +
        'take effect at the next restart (pendingRestart), or now with ?restart=true. pgSettings replaces the overrides.',
      params: InstanceRefParams,
      query: z.object({ restart: queryFlag.meta({ description: 'Restart now to apply every setting' }) }),
      body: updateInstanceSchema(limits),
      success: { status: 200, description: 'The updated instance', schema: InstanceViewSchema },
      errors: ['INSTANCE_NOT_FOUND', 'INVALID_STATE', 'ENGINE_UNAVAILABLE', 'OPERATION_FAILED'],
      handler: ({ params, query, body }) => manager.update(params.ref, body, { restart: query.restart }),
    }),
    route({
      method: 'delete',
      path: '/instances/{ref}',
      operationId: 'deleteInstance',
      permission: 'instances:delete',
      scope: 'instance',
      tag,
      summary: 'Delete an instance: its container, files and record',
      params: InstanceRefParams,
      description: "The instance's backups and WAL archive are kept (restorable, listed by GET /backups) unless purgeBackups.",
      query: z.object({
        keepData: queryFlag.meta({ description: 'Keep instances/<id>/data on disk' }),
        purgeBackups: queryFlag.meta({ description: "Remove the instance's backups and WAL archive too" }),
      }),
      success: { status: 200, description: 'Deleted', schema: DeletedInstanceSchema },
      errors: ['INSTANCE_NOT_FOUND', 'INVALID_STATE', 'ENGINE_UNAVAILABLE'],
      handler: ({ params, query }) => manager.delete(params.ref, { keepData: query.keepData, purgeBackups: query.purgeBackups }),
    }),
    ...(['start', 'stop', 'restart'] as const).map((action) =>
      route({
        method: 'post',
        path: `/instances/{ref}/${action}`,
        operationId: `${action}Instance`,
        permission: 'instances:update',
        scope: 'instance',
        tag,
        summary: `${action[0]?.toUpperCase()}${action.slice(1)} an instance`,
        params: InstanceRefParams,
        success: { status: 200, description: 'The instance after the action', schema: InstanceViewSchema },
        errors: ['INSTANCE_NOT_FOUND', 'INVALID_STATE', 'ENGINE_UNAVAILABLE', 'READINESS_TIMEOUT', 'OPERATION_FAILED'],
        handler: ({ params }) => manager[action](params.ref),
      }),
    ),
    route({
      method: 'post',
      path: '/instances/{ref}/tls/rotate',
      operationId: 'rotateInstanceCertificate',
      permission: 'instances:update',
      scope: 'instance',
      tag,
      summary: "Issue a new server certificate from the installation's CA; the running server reads it on a reload",
      params: InstanceRefParams,
      success: { status: 200, description: 'The new certificate', schema: RotatedCertificateSchema },
      errors: ['INSTANCE_NOT_FOUND', 'INVALID_STATE', 'OPERATION_FAILED'],
      handler: ({ params }) => manager.rotateTls(params.ref),
    }),
    route({
      method: 'post',
      path: '/instances/{ref}/image-refresh',
      operationId: 'refreshInstanceImage',
      permission: 'instances:update',
      scope: 'instance',
      tag,
      summary: 'Move an instance onto the image its tag names now (a rebuild for a new minor release): recreate and restart its containers',
      description: 'Nothing happens when its containers run that image already (imageRefresh.refreshed is false). A stopped instance gets new containers and stays stopped.',
      params: InstanceRefParams,
      success: { status: 200, description: 'The instance, with the image ids before and after', schema: RefreshedInstanceSchema },
      errors: ['INSTANCE_NOT_FOUND', 'INVALID_STATE', 'IMAGE_NOT_AVAILABLE', 'ENGINE_UNAVAILABLE', 'READINESS_TIMEOUT'],
      handler: ({ params }) => manager.refreshImage(params.ref),
    }),
    route({
      method: 'get',
      path: '/instances/{ref}/logs',
      operationId: 'getInstanceLogs',
      permission: 'instances:read',
      scope: 'instance',
      tag,
      summary: "The last lines of the server's log",
      params: InstanceRefParams,
      query: LogsQuery,
      success: {
        status: 200,
        description: 'Log lines, oldest first',
        schema: InstanceLogsSchema,
      },
      errors: ['INSTANCE_NOT_FOUND', 'ENGINE_UNAVAILABLE'],
      handler: async ({ params, query }) => ({ instance: params.ref, lines: await manager.logs(params.ref, query.tail) }),
    }),
    route({
      method: 'get',
      path: '/instances/{ref}/logs/stream',
      operationId: 'streamInstanceLogs',
      permission: 'instances:read',
      scope: 'instance',
      tag,
      summary: "Follow the server's log: the last lines, then new ones as they come (text, one line each)",
      description: 'The answer stays open until the client closes it, or for `seconds` at most (`dbaas logs --follow` of a remote CLI).',
      params: InstanceRefParams,
      query: LogsQuery.extend({
        seconds: z.coerce.number().int().min(1).max(86_400).optional().meta({ description: 'End the answer after this many seconds' }),
      }),
      success: { status: 200, description: 'Log lines as they are written', schema: z.string(), contentType: 'text/plain; charset=utf-8' },
      errors: ['INSTANCE_NOT_FOUND', 'ENGINE_UNAVAILABLE'],
      handler: async ({ params, query, req, res }) => {
        const stream = await manager.followLogs(params.ref, query.tail);
        res.status(200).type('text/plain; charset=utf-8');
        const timer = query.seconds ? setTimeout(() => stream.destroy(), query.seconds * 1000) : null;
        const end = () => {
          if (timer) clearTimeout(timer);
          stream.destroy();
          res.end();
        };
        stream.on('close', end);
        stream.on('error', end);
        req.on('close', end);
        stream.pipe(res, { end: false });
        return undefined;
      },
    }),
    route({
      method: 'get',
      path: '/instances/{ref}/stats',
      operationId: 'getInstanceStats',
      permission: 'instances:read',
      scope: 'instance',
      tag,
      summary: 'CPU and memory of the container, from the engine',
      params: InstanceRefParams,
      success: { status: 200, description: 'A stats sample', schema: InstanceStatsSchema },
      errors: ['INSTANCE_NOT_FOUND', 'INSTANCE_NOT_RUNNING', 'ENGINE_UNAVAILABLE'],
      handler: ({ params }) => manager.stats(params.ref),
    }),
    route({
      method: 'get',
      path: '/instances/{ref}/connection',
      operationId: 'getInstanceConnection',
      permission: 'instances:read',
      scope: 'instance',
      tag,
      summary: 'Connection details; the password only with showPassword=true',
      params: InstanceRefParams,
      query: z.object({ showPassword: queryFlag.meta({ description: 'Include the password' }) }),
      escalate: { permission: 'instances:secrets', when: (query) => query.showPassword, description: 'with showPassword' },
      success: { status: 200, description: 'How to connect', schema: ConnectionInfoSchema },
      errors: ['INSTANCE_NOT_FOUND'],
      handler: ({ params, query }) => manager.connection(params.ref, { showPassword: query.showPassword }),
    }),
  ];
}
