import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import express, { type Express } from 'express';
import swaggerUi from 'swagger-ui-express';
import { z } from 'zod';
import { VERSION } from '../config/version.js';
import { DbaasError } from '../errors.js';
import type { Manager } from '../instances/manager.js';
import type { Logger } from '../log/logger.js';
import { errorHandler } from './errors.js';
import { buildOpenApi } from './openapi.js';
import { buildRouter, route, type RouteDef } from './routeTable.js';
import { instanceRoutes } from './routes/instances.js';
import { monitoringRoutes } from './routes/monitoring.js';
import { databaseRoutes } from './routes/database.js';
import type { MonitoringService } from '../monitoring/service.js';
import type { DataService } from '../database/service.js';

/** What the routes call: the instance manager, the monitoring service, the data API. */
export interface ApiServices {
  manager: Manager;
  monitoring: MonitoringService;
  data: DataService;
}

const require = createRequire(import.meta.url);
const REDOC_BUNDLE = join(dirname(require.resolve('redoc/package.json')), 'bundles', 'redoc.standalone.js');

const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    version: z.string(),
    engine: z.object({ reachable: z.boolean(), version: z.string().optional(), error: z.string().optional() }),
  })
  .meta({ id: 'Health' });

function systemRoutes(manager: Manager): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/health',
      tag: 'system',
      summary: 'Whether the API and the Docker engine answer',
      success: {
        status: 200,
        description: 'Healthy; the same body comes with status 503 when the Docker engine does not answer',
        schema: HealthSchema,
      },
      errors: [],
      handler: async ({ res }) => {
        const health = await manager.health();
        res.status(health.status === 'ok' ? 200 : 503).json({ ...health, version: VERSION });
        return undefined;
      },
    }),
  ];
}

const REDOC_PAGE = `<!DOCTYPE html>
<html><head><title>dbaas API - ReDoc</title><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/openapi.json"></redoc><script src="/redoc/redoc.standalone.js"></script></body></html>`;

/** The express app: JSON routes, the generated OpenAPI document, Swagger UI and ReDoc. */
export function createApp({ manager, monitoring, data }: ApiServices, logger: Logger): Express {
  const routes = [
    ...systemRoutes(manager),
    ...instanceRoutes(manager),
    ...databaseRoutes(data),
    ...monitoringRoutes(monitoring),
  ];
  const openapi = buildOpenApi(routes, { version: VERSION });
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(express.json({ limit: manager.settings.bodyLimit, strict: false }));
  app.use((req, res, next) => {
    const started = Date.now();
    res.on('finish', () =>
      logger.debug('request', { method: req.method, path: req.path, status: res.statusCode, ms: Date.now() - started }),
    );
    next();
  });

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
  app.use(buildRouter(routes));
  app.use((req, _res, next) => {
    next(new DbaasError('ROUTE_NOT_FOUND', `no route ${req.method} ${req.path}`));
  });
  app.use(errorHandler(logger));
  return app;
}
