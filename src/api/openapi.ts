import { OpenAPIRegistry, OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ErrorBodySchema, HTTP_STATUS } from './errors.js';
import { toOpenApi30 } from './openapi30.js';
import type { RouteDef } from './routeTable.js';
import type { ErrorCode } from '../errors.js';

const STATUS_TEXT: Record<number, string> = {
  400: 'Malformed request',
  401: 'No valid token (WWW-Authenticate: Bearer)',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict with the current state',
  413: 'Body too large',
  415: 'The body is not JSON',
  421: 'The server does not answer to this Host',
  422: 'Invalid input; the message names the field',
  429: 'Too many failed authentications from this address (Retry-After)',
  500: 'The operation failed',
  503: 'The Docker engine or the instance is down',
  504: 'Timed out',
};

const IdempotencyHeaders = z.object({
  'Idempotency-Key': z.string().max(255).optional().meta({
    description: 'Sent again with the same body within 24 hours, the request answers what the first answered without doing the work twice',
  }),
});

/** The OpenAPI 3 document, generated from the route declarations and their zod schemas. */
export function buildOpenApi(routes: RouteDef[], info: { version: string; serverUrl?: string }) {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API token from `dbaas token create` (or POST /tokens): `Authorization: Bearer dbaas_tok_...`',
  });
  // Named components come from `.meta({ id })` on the schemas themselves (zod v4 metadata).
  for (const def of routes) {
    const errorStatuses = new Set(def.errors.map((code) => HTTP_STATUS[code]));
    if (def.params || def.query || def.body) errorStatuses.add(HTTP_STATUS.VALIDATION_FAILED);
    if (def.body) errorStatuses.add(HTTP_STATUS.MALFORMED_REQUEST);
    // Every route sits behind the request guard (requestGuard.ts).
    const guardCodes: ErrorCode[] = [
      'HOST_NOT_ALLOWED',
      'ORIGIN_NOT_ALLOWED',
      'NETWORK_NOT_ALLOWED',
      ...(def.method === 'get' ? [] : (['UNSUPPORTED_MEDIA_TYPE'] as ErrorCode[])),
      ...(def.permission === 'public' ? [] : (['UNAUTHORIZED', 'FORBIDDEN', 'RATE_LIMITED'] as ErrorCode[])),
      ...(def.idempotent ? (['IN_PROGRESS', 'IDEMPOTENCY_KEY_REUSED'] as ErrorCode[]) : []),
    ];
    for (const code of guardCodes) errorStatuses.add(HTTP_STATUS[code]);
    const responses: Record<string, { description: string; content?: Record<string, { schema: z.ZodType }> }> = {
      [def.success.status]: {
        description: def.success.description,
        ...(def.success.schema
          ? { content: { [def.success.contentType ?? 'application/json']: { schema: def.success.schema } } }
          : {}),
      },
    };
    for (const status of [...errorStatuses].sort()) {
      const codes = [...def.errors, ...guardCodes].filter((c) => HTTP_STATUS[c] === status);
      responses[status] = {
        description: `${STATUS_TEXT[status] ?? 'Error'}${codes.length ? ` (${codes.join(', ')})` : ''}`,
        content: { 'application/json': { schema: ErrorBodySchema } },
      };
    }
    const needs =
      def.permission === 'public'
        ? 'Needs no token.'
        : `Needs the permission \`${def.permission}\`${def.escalate ? ` (and \`${def.escalate.permission}\` ${def.escalate.description})` : ''}.`;
    registry.registerPath({
      method: def.method,
      path: def.path,
      operationId: def.operationId,
      tags: [def.tag],
      summary: def.summary,
      description: [def.description, needs].filter(Boolean).join('\n\n'),
      security: def.permission === 'public' ? [] : [{ bearerAuth: [] }],
      'x-permission': def.permission,
      ...(def.escalate ? { 'x-permission-escalation': { permission: def.escalate.permission, when: def.escalate.description } } : {}),
      request: {
        ...(def.idempotent ? { headers: IdempotencyHeaders } : {}),
        ...(def.params ? { params: def.params as z.ZodObject } : {}),
        ...(def.query ? { query: def.query as z.ZodObject } : {}),
        ...(def.body ? { body: { required: true, content: { 'application/json': { schema: def.body } } } } : {}),
      },
      responses,
    });
  }
  const document = new OpenApiGeneratorV3(registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: {
      title: 'dbaas',
      version: info.version,
      description:
        'Self-hosted PostgreSQL Database-as-a-Service: provision instances in Docker, manage their lifecycle, ' +
        'and get postgresql:// connection strings. Instances are addressed by id or by name.',
    },
    // Without a URL of its own the document names the server that serves it (a relative URL).
    servers: [info.serverUrl ? { url: info.serverUrl } : { url: '/', description: 'The dbaas server that serves this document' }],
  });
  return toOpenApi30(document);
}
