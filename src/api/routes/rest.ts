import type { Request, Response } from 'express';
import { z } from 'zod';
import type { RestRequest } from '../../database/rest/service.js';
import { RowSchema, type DataService } from '../../database/service.js';
import type { RawBodyRequest } from '../app.js';
import { VERSION } from '../../config/version.js';
import { InstanceRefParams, route, type RouteDef } from '../routeTable.js';

const TableParams = InstanceRefParams.extend({
  table: z.string().min(1).max(200).meta({ description: 'A table or view of the schema (public, or the Accept-Profile / Content-Profile header)', example: 'todos' }),
});
const FunctionParams = InstanceRefParams.extend({
  fn: z.string().min(1).max(200).meta({ description: 'A function of the schema', example: 'add_them' }),
});

const BASE = '/database/{ref}/rest/v1';

const RowsSchema = z.array(RowSchema).meta({
  id: 'PostgrestRows',
  description: 'Rows as PostgreSQL renders them in JSON; one object with Accept: application/vnd.pgrst.object+json, CSV with text/csv',
});
const ResultSchema = z.unknown().meta({ id: 'PostgrestResult', description: 'A value, an object or rows, as the function returns' });

const DESCRIPTION =
  'PostgREST\'s protocol, for @supabase/postgrest-js and @supabase/supabase-js (createClient("<api>/database/<instance>", token)): ' +
  'select with renames, casts, JSON paths and embedded resources; every PostgREST operator with not., any/all and or/and; ' +
  'order, limit, offset, Range; Prefer return/count/resolution/missing/tx/max-affected; Accept application/vnd.pgrst.object+json and text/csv. ' +
  'Errors have PostgREST\'s body: code, message, details, hint.';

/** The request as the PostgREST service reads it: method, resource, raw query, the headers of the protocol, the body. */
function restRequest(req: Request, resource: RestRequest['resource']): RestRequest {
  const read = req.method === 'GET' || req.method === 'HEAD';
  const profile = req.get(read ? 'Accept-Profile' : 'Content-Profile');
  return {
    method: req.method as RestRequest['method'],
    resource,
    // The query as parsed, not a validated copy: a key named __proto__ must reach the parser and be refused.
    query: req.query as RestRequest['query'],
    headers: { accept: req.get('Accept'), prefer: req.headers.prefer, range: req.get('Range'), profile: profile || undefined },
    body: req.body,
    rawBody: (req as RawBodyRequest).rawBody?.toString('utf8'),
  };
}

function send(res: Response, answer: { status: number; headers: Record<string, string>; body?: string }): undefined {
  res.status(answer.status);
  const next = answer.headers['Next-Cursor'];
  if (next !== undefined) {
    // The next keyset page as a link (RFC 8288): this request's URL with the new cursor.
    const url = new URL(res.req.originalUrl, 'http://dbaas');
    url.searchParams.set('after', next);
    res.setHeader('Link', `<${url.pathname}${url.search}>; rel="next"`);
  }
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  // Written as it is: express's send would hash the body for an ETag (PostgREST sends none).
  if (answer.body === undefined) {
    res.end();
  } else {
    res.setHeader('Content-Length', Buffer.byteLength(answer.body));
    res.end(res.req.method === 'HEAD' ? undefined : answer.body);
  }
  return undefined;
}

/**
 * The PostgREST-compatible endpoint, one route per method and resource kind so that each declares
 * its permission like every other route: reads need data:read, writes and POST /rpc data:write.
 */
export function restRoutes(data: DataService): RouteDef[] {
  const common = { scope: 'instance' as const, tag: 'postgrest', errors: ['INSTANCE_NOT_FOUND' as const, 'INSTANCE_NOT_RUNNING' as const, 'TABLE_NOT_FOUND' as const] };
  const tableRoute = (method: 'get' | 'post' | 'patch' | 'put' | 'delete', operationId: string, summary: string) =>
    route({
      ...common,
      method,
      path: `${BASE}/{table}`,
      operationId,
      permission: method === 'get' ? 'data:read' : 'data:write',
      summary,
      description: DESCRIPTION,
      params: TableParams,
      success: {
        status: method === 'post' ? 201 : 200,
        description: 'PostgREST\'s answer with Content-Range; writes answer rows with Prefer: return=representation, else 201/204 without a body',
        schema: RowsSchema,
      },
      handler: async ({ params, req, res }) =>
        send(res, await data.rest.handle(params.ref, restRequest(req, { kind: 'table', name: params.table }))),
    });
  const rpcRoute = (method: 'get' | 'post', operationId: string, summary: string) =>
    route({
      ...common,
      method,
      path: `${BASE}/rpc/{fn}`,
      operationId,
      permission: method === 'get' ? 'data:read' : 'data:write',
      summary,
      description: DESCRIPTION,
      params: FunctionParams,
      success: { status: 200, description: 'The function\'s result as JSON: a value, an object, or rows (filtered like a table); 204 for void', schema: ResultSchema },
      handler: async ({ params, req, res }) =>
        send(res, await data.rest.handle(params.ref, restRequest(req, { kind: 'rpc', name: params.fn }))),
    });
  return [
    route({
      ...common,
      method: 'get',
      path: BASE,
      operationId: 'getPostgrestDescription',
      permission: 'data:read',
      summary: 'The OpenAPI (Swagger 2.0) description of the schema\'s tables, views and functions, as PostgREST serves it',
      description: 'What postgrest-js getOpenApiSpec() reads. The schema is public or the one Accept-Profile names.',
      params: InstanceRefParams,
      success: { status: 200, description: 'A Swagger 2.0 document', contentType: 'application/openapi+json' },
      handler: async ({ params, req, res }) =>
        send(
          res,
          await data.rest.describe(params.ref, req.get('Accept-Profile') || undefined, {
            basePath: `/database/${params.ref}/rest/v1`,
            version: VERSION,
          }),
        ),
    }),
    rpcRoute('get', 'callPostgrestFunctionReadOnly', 'Call a function with arguments in the query (read-only transaction)'),
    rpcRoute('post', 'callPostgrestFunction', 'Call a function with arguments in a JSON object'),
    tableRoute('get', 'listPostgrestRows', 'Read rows (HEAD for the headers alone)'),
    tableRoute('post', 'insertPostgrestRows', 'Insert rows (bulk; upsert with Prefer: resolution)'),
    tableRoute('patch', 'updatePostgrestRows', 'Update the filtered rows'),
    tableRoute('put', 'upsertPostgrestRow', 'Insert or replace one row named by its whole primary key'),
    tableRoute('delete', 'deletePostgrestRows', 'Delete the filtered rows'),
  ];
}
