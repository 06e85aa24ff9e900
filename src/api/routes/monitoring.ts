import { sees } from '../../auth/principal.js';
import { z } from 'zod';
import {
  AgentLogsSchema,
  AgentStatusSchema,
  LatestSampleSchema,
  MAX_SAMPLES,
  MetricsRangeSchema,
  MetricsSummarySchema,
  type MonitoringService,
} from '../../monitoring/service.js';
import { parseDurationMs, parseRange } from '../../monitoring/timeRange.js';
import { InstanceRefParams, route, type RouteDef } from '../routeTable.js';
import { LogsQuery } from './instances.js';

const MetricsQuery = z.object({
  since: z.string().optional().meta({ description: 'ISO time, epoch ms, or a duration ago (15m)', example: '15m' }),
  until: z.string().optional().meta({ description: 'ISO time, epoch ms, or a duration ago' }),
  limit: z.coerce.number().int().min(1).max(MAX_SAMPLES).default(1000).meta({ description: `At most this many (newest), up to ${MAX_SAMPLES}` }),
});

const SummaryQuery = z.object({
  window: z
    .string()
    .default('5m')
    .refine((w) => {
      const ms = parseDurationMs(w);
      return ms !== undefined && ms >= 1000 && ms <= 7 * 86_400_000;
    }, 'must be a duration from 1s to 7d, like 5m')
    .meta({ description: 'How far back the rates look', example: '5m' }),
});

/** The monitoring routes of DESIGN.md. */
export function monitoringRoutes(monitoring: MonitoringService): RouteDef[] {
  const tag = 'monitoring';
  return [
    route({
      method: 'get',
      path: '/monitoring/{ref}/metrics',
      operationId: 'getMetrics',
      permission: 'metrics:read',
      scope: 'instance',
      tag,
      summary: 'Samples in a time range, across rotated files, oldest first (the newest `limit` of them)',
      params: InstanceRefParams,
      query: MetricsQuery,
      success: {
        status: 200,
        description: 'Samples; corrupt lines in the files are skipped and counted',
        schema: MetricsRangeSchema,
      },
      errors: ['INSTANCE_NOT_FOUND'],
      handler: ({ params, query }) => {
        const { sinceMs, untilMs } = parseRange(query.since, query.until);
        return monitoring.metrics(params.ref, { sinceMs, untilMs, limit: query.limit });
      },
    }),
    route({
      method: 'get',
      path: '/monitoring/{ref}/metrics/latest',
      operationId: 'getLatestSample',
      permission: 'metrics:read',
      scope: 'instance',
      tag,
      summary: 'The newest sample (read from the end of the file), its age and whether it is current',
      params: InstanceRefParams,
      success: {
        status: 200,
        description: 'The newest sample; current is false when it is stale or the server or agent is not running',
        schema: LatestSampleSchema,
      },
      errors: ['INSTANCE_NOT_FOUND', 'ENGINE_UNAVAILABLE'],
      handler: ({ params }) => monitoring.latest(params.ref),
    }),
    route({
      method: 'get',
      path: '/monitoring/{ref}/summary',
      operationId: 'getMetricsSummary',
      permission: 'metrics:read',
      scope: 'instance',
      tag,
      summary: 'Rates over a window (transactions/s, rows/s, cache hit ratio, deadlocks) and container CPU and memory',
      params: InstanceRefParams,
      query: SummaryQuery,
      success: {
        status: 200,
        description: 'Rates from counter deltas; null where the window holds fewer than two good samples',
        schema: MetricsSummarySchema,
      },
      errors: ['INSTANCE_NOT_FOUND', 'ENGINE_UNAVAILABLE'],
      handler: ({ params, query }) => monitoring.summary(params.ref, parseDurationMs(query.window) as number),
    }),
    route({
      method: 'get',
      path: '/monitoring/{ref}/agent',
      operationId: 'getAgentStatus',
      permission: 'metrics:read',
      scope: 'instance',
      tag,
      summary: "The monitoring agent's state: running, last sample age, samples written, last error",
      params: InstanceRefParams,
      success: { status: 200, description: 'Agent status', schema: AgentStatusSchema },
      errors: ['INSTANCE_NOT_FOUND', 'ENGINE_UNAVAILABLE'],
      handler: ({ params }) => monitoring.agentStatus(params.ref),
    }),
    route({
      method: 'post',
      path: '/monitoring/{ref}/agent/restart',
      operationId: 'restartAgent',
      permission: 'instances:update',
      scope: 'instance',
      tag,
      summary: 'Restart the monitoring agent',
      params: InstanceRefParams,
      success: { status: 200, description: 'Agent status after the restart', schema: AgentStatusSchema },
      errors: ['INSTANCE_NOT_FOUND', 'INSTANCE_NOT_RUNNING', 'INVALID_STATE', 'ENGINE_UNAVAILABLE'],
      handler: ({ params }) => monitoring.restartAgent(params.ref),
    }),
    route({
      method: 'get',
      path: '/monitoring/{ref}/agent/logs',
      operationId: 'getAgentLogs',
      permission: 'metrics:read',
      scope: 'instance',
      tag,
      summary: "The agent's own log (start, rotations, failed samples)",
      params: InstanceRefParams,
      query: LogsQuery,
      success: {
        status: 200,
        description: 'Log lines, oldest first',
        schema: AgentLogsSchema,
      },
      errors: ['INSTANCE_NOT_FOUND', 'ENGINE_UNAVAILABLE'],
      handler: async ({ params, query }) => ({ instance: params.ref, lines: await monitoring.agentLogs(params.ref, query.tail) }),
    }),
    route({
      method: 'get',
      path: '/metrics',
      operationId: 'getPrometheusMetrics',
      permission: 'metrics:read',
      scope: 'none',
      tag,
      summary: 'Every instance in Prometheus text format',
      success: {
        status: 200,
        description: 'Prometheus text exposition (version 0.0.4)',
        schema: z.string(),
        contentType: 'text/plain; version=0.0.4',
      },
      errors: ['ENGINE_UNAVAILABLE'],
      handler: async ({ res, principal }) => {
        const { contentType, text } = await monitoring.prometheus((record) => sees(principal, record.project));
        res.type(contentType).send(text);
        return undefined;
      },
    }),
  ];
}
