import type { AuditLog } from '../auth/audit.js';
import type { IdempotencyStore } from '../auth/idempotency.js';
import type { TokenStore } from '../auth/tokens.js';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { AccessGuard } from './access.js';
import { dataLane, type LaneRoute } from './dataLane.js';
import { middlewareGate, preambleMiddleware, requestPreamble, type Gate } from './gates.js';
import { authFailureGate, networkGate } from './networkGuard.js';
import { projectResolver } from './projects.js';
import { accessRoutes } from './routes/access.js';
import type { BackupService } from '../backups/service.js';
import type { OperationStore } from '../operations/store.js';
import { backupRoutes } from './routes/backups.js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import express, { type Express } from 'express';
import { z } from 'zod';
import swaggerUi from 'swagger-ui-express';
import { VERSION } from '../config/version.js';
import { DbaasError } from '../errors.js';
import { DoctorReportSchema, type Doctor } from '../instances/doctor.js';
import { HealthSchema } from '../instances/health.js';
import type { Manager } from '../instances/manager.js';
import type { Logger } from '../log/logger.js';
import { errorHandler } from './errors.js';
import { depthGate, LOOPBACK_HOSTS, requestGate } from './requestGuard.js';
import { buildOpenApi } from './openapi.js';
import { buildRouter, route, type RouteDef } from './routeTable.js';
import { instanceRoutes } from './routes/instances.js';
import { monitoringRoutes } from './routes/monitoring.js';
import { databaseRoutes } from './routes/database.js';
import { restRoutes, restServers } from './routes/rest.js';
import type { MonitoringService } from '../monitoring/service.js';
import type { UpgradeService } from '../upgrades/service.js';
import { upgradeRoutes } from './routes/upgrades.js';
import type { DataService } from '../database/service.js';

/** A request whose JSON body's bytes the body parser kept. */
type RawBodyRequest = IncomingMessage & { rawBody?: Buffer };

/** What the routes call: the instance manager, the monitoring service, the data API, the doctor. */
export interface ApiServices {
  manager: Manager;
  backups: BackupService;
  upgrades: UpgradeService;
  operations: OperationStore;
  monitoring: MonitoringService;
  data: DataService;
  doctor: Doctor;
  tokens: TokenStore;
  audit: AuditLog;
  idempotency: IdempotencyStore;
}

const PurgeSchema = z
  .object({
    purge: z
      .array(z.string().regex(/^db_[a-z0-9]{6,16}$/, 'must be an instance id (db_...)'))
      .max(100)
      .optional()
      .meta({ description: 'Ids of folders without a record whose files, data included, may be removed' }),
  })
  .strict()
  .meta({ id: 'DoctorFix' });

const require = createRequire(import.meta.url);
const REDOC_BUNDLE = join(dirname(require.resolve('redoc/package.json')), 'bundles', 'redoc.standalone.js');

function systemRoutes(manager: Manager, doctor: Doctor): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/doctor',
      operationId: 'examineInstallation',
      permission: 'system:admin',
      scope: 'none',
      tag: 'system',
      summary: 'What is out of place: the registry compared with the engine and the disk (changes nothing)',
      description:
        'Finds creates whose process died, containers of this installation that no record owns, instances that should run ' +
        'but do not, agents down beside running servers, and instance folders without a record.',
      success: { status: 200, description: 'The findings; an empty list when all is well', schema: DoctorReportSchema },
      errors: ['ENGINE_UNAVAILABLE', 'REGISTRY_CORRUPT'],
      handler: () => doctor.run(),
    }),
    route({
      method: 'post',
      path: '/doctor/fix',
      operationId: 'repairInstallation',
      permission: 'system:admin',
      scope: 'none',
      tag: 'system',
      summary: 'Repair what is safe to repair (never deletes a data folder unless purge names it)',
      body: PurgeSchema,
      success: { status: 200, description: 'The findings, each with fixed (and error when its repair failed)', schema: DoctorReportSchema },
      errors: ['ENGINE_UNAVAILABLE', 'REGISTRY_CORRUPT'],
      handler: ({ body }) => doctor.run({ fix: true, purge: body.purge }),
    }),
    route({
      method: 'get',
      path: '/health',
      operationId: 'getHealth',
      permission: 'public',
      scope: 'none',
      tag: 'system',
      summary: 'Whether the API and the Docker engine answer',
      success: {
        status: 200,
        description: 'Healthy; the same body comes with status 503 when a check fails (engine, registry, disk)',
        schema: HealthSchema,
      },
      errors: [],
      handler: async ({ res }) => {
        const health = await manager.health();
        res.status(health.status === 'ok' ? 200 : 503).json(health);
        return undefined;
      },
    }),
  ];
}

/** An address that listens on every interface names no host of its own. */
function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '';
}

const REDOC_PAGE = `<!DOCTYPE html>
<html><head><title>dbaas API - ReDoc</title><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/openapi.json"></redoc><script src="/redoc/redoc.standalone.js"></script></body></html>`;

/**
 * Every route the API serves, in the order of the document. Building them calls no service, so
 * tests iterate this list (and the OpenAPI document made from it) without an engine.
 */
export function apiRoutes({ manager, monitoring, data, doctor, backups, upgrades, operations, tokens, audit }: ApiServices): RouteDef[] {
  return [
    ...systemRoutes(manager, doctor),
    ...accessRoutes(tokens, audit),
    ...instanceRoutes(manager, backups),
    ...upgradeRoutes(upgrades, operations, audit, manager.logger),
    ...backupRoutes(backups, operations),
    ...databaseRoutes(data),
    ...restRoutes(data),
    ...monitoringRoutes(monitoring),
  ];
}

/**
 * The API as served: the data lane (dataLane.ts) for the PostgREST endpoint's tables and
 * functions, the express app for everything else. `handle` is the server's request listener;
 * `listen` makes a plain HTTP server with it.
 */
export interface Api {
  handle: RequestListener;
  /** The lane alone: true when it took the request. */
  lane: (req: IncomingMessage, res: ServerResponse) => boolean;
  express: Express;
  listen(port: number, host: string, onListening?: () => void): Server;
}

/** The data plane's routes that the lane serves, by method, from the route table (their permissions stay declared there). */
function laneRoutes(routes: RouteDef[], data: ApiServices['data']): { table: Record<string, LaneRoute>; rpc: Record<string, LaneRoute> } {
  const serve = restServers(data);
  const pick = (path: string, nameParam: string, serveIt: LaneRoute['serve']) =>
    Object.fromEntries(routes.filter((def) => def.path === path).map((def) => [def.method.toUpperCase(), { def, serve: serveIt, nameParam }]));
  return {
    table: pick('/database/{ref}/rest/v1/{table}', 'table', serve.table),
    rpc: pick('/database/{ref}/rest/v1/rpc/{fn}', 'fn', serve.rpc),
  };
}

/** The API: the generated OpenAPI document, Swagger UI and ReDoc, every route, the data lane in front. */
export function createApp(services: ApiServices, logger: Logger): Api {
  const { manager } = services;
  const routes = apiRoutes(services);
  const openapi = buildOpenApi(routes, { version: VERSION });
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  const settings = manager.settings;
  // Order matters: the audit trail sees every request; a network outside the allowlist is refused
  // before any token is read; an address that keeps failing to authenticate is refused before it
  // can try another token; the browser guards come before the body is read, its depth after.
  const gates: Gate[] = [
    networkGate(settings.allowedNetworks),
    authFailureGate(settings.authFailureLimit, settings.authFailureWindowSec),
    requestGate({
      allowedHosts: [...LOOPBACK_HOSTS, ...(isWildcard(settings.apiHost) ? [] : [settings.apiHost]), ...settings.apiAllowedHosts],
      allowedOrigins: settings.apiAllowedOrigins,
    }),
    middlewareGate(
      express.json({
        limit: settings.bodyLimit,
        strict: false,
        // The bytes as sent, kept beside the parsed body: the PostgREST endpoint binds them as the
        // one JSON parameter of its INSERT instead of serialising the parsed rows again.
        verify: (req, _res, buf, encoding) => {
          if (/^utf-?8$/i.test(encoding)) (req as RawBodyRequest).rawBody = buf;
        },
      }),
    ),
    depthGate,
  ];
  // The express app and the data lane start every request with these same steps.
  const preamble = requestPreamble(services.audit, logger, gates);
  app.use(preambleMiddleware(preamble));

  app.get('/', (_req, res) => {
    res.json({ name: 'dbaas', version: VERSION, docs: '/docs', redoc: '/redoc', openapi: '/openapi.json' });
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(openapi, { customSiteTitle: 'dbaas API' }));
  app.get('/redoc', (_req, res) => {
    res.type('html').send(REDOC_PAGE);
  });
  app.get('/redoc/redoc.standalone.js', (_req, res) => {
    res.sendFile(REDOC_BUNDLE);
  });
  const guard = new AccessGuard({
    tokens: services.tokens,
    idempotency: services.idempotency,
    projectOf: projectResolver(services.backups, services.operations),
  });
  // The data plane first: express tries routes in order, and those are most of the traffic. No
  // two routes match one path, so the order changes nothing else.
  const dataPlane = (def: RouteDef) => def.path.startsWith('/database/');
  app.use(buildRouter([...routes.filter(dataPlane), ...routes.filter((def) => !dataPlane(def))], guard));
  app.use((req, _res, next) => {
    next(new DbaasError('ROUTE_NOT_FOUND', `no route ${req.method} ${req.path}`));
  });
  app.use(errorHandler(logger));
  const lane = dataLane({ ...laneRoutes(routes, services.data), guard, preamble, logger });
  const handle: RequestListener = (req: IncomingMessage, res: ServerResponse) => {
    if (!lane(req, res)) app(req, res);
  };
  return {
    handle,
    lane,
    express: app,
    listen: (port, host, onListening) => createServer(handle).listen(port, host, onListening),
  };
}
