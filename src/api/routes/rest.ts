import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { RestRequest } from '../../database/rest/service.js';
import { RowSchema, type DataService } from '../../database/service.js';
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

/**
 * What the endpoint reads of a request: node's message with its query and JSON body parsed (the
 * express app's request is one; so is the data lane's, api/dataLane.ts).
 */
export type RestHttpRequest = IncomingMessage & {
  query: Record<string, unknown>;
  body?: unknown;
  /** The JSON body's bytes as sent (kept by the body parser). */
  rawBody?: Buffer;
};

/** One header's value; a repeated one counts by its first. */
function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The request as the PostgREST service reads it: method, resource, raw query, the headers of the protocol, the body. */
function restRequest(req: RestHttpRequest, resource: RestRequest['resource']): RestRequest {
  const read = req.method === 'GET' || req.method === 'HEAD';
  const profile = header(req, read ? 'accept-profile' : 'content-profile');
  return {
    method: req.method as RestRequest['method'],
    resource,
    // The query as parsed, not a validated copy: a key named __proto__ must reach the parser and be refused.
    query: req.query as RestRequest['query'],
    headers: { accept: header(req, 'accept'), prefer: header(req, 'prefer'), range: header(req, 'range'), profile: profile || undefined },
    body: req.body,
    rawBody: req.rawBody?.toString('utf8'),
  };
}

function send(req: IncomingMessage, res: ServerResponse, answer: { status: number; headers: Record<string, string>; body?: string }): undefined {
  res.statusCode = answer.status;
  const next = answer.headers['Next-Cursor'];
  if (next !== undefined) {
    // The next keyset page as a link (RFC 8288): this request's URL with the new cursor.
    const url = new URL(req.url ?? '/', 'http://dbaas');
    url.searchParams.set('after', next);
    res.setHeader('Link', `<${url.pathname}${url.search}>; rel="next"`);
  }
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  // Written as it is: express's send would hash the body for an ETag (PostgREST sends none).
  if (answer.body === undefined) {
    res.end();
  } else {
    res.setHeader('Content-Length', Buffer.byteLength(answer.body));
    res.end(req.method === 'HEAD' ? undefined : answer.body);
  }
  return undefined;
}

/** Serves one request for a table or a function of the endpoint, once it is admitted. */
export type RestServe = (ref: string, name: string, req: RestHttpRequest, res: ServerResponse) => Promise<undefined>;

/** The table and function requests of the endpoint: the routes below and the data lane call these. */
export function restServers(data: DataService): { table: RestServe; rpc: RestServe } {
  return {
    table: async (ref, name, req, res) => send(req, res, await data.rest.handle(ref, restRequest(req, { kind: 'table', name }))),
    rpc: async (ref, name, req, res) => send(req, res, await data.rest.handle(ref, restRequest(req, { kind: 'rpc', name }))),
  };
}

/**
 * The PostgREST-compatible endpoint, one route per method and resource kind so that each declares
 * its permission like every other route: reads need data:read, writes and POST /rpc data:write.
 */
export function restRoutes(data: DataService): RouteDef[] {
  const serve = restServers(data);
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
      handler: ({ params, req, res }) => serve.table(params.ref, params.table, req as RestHttpRequest, res),
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
      handler: ({ params, req, res }) => serve.rpc(params.ref, params.fn, req as RestHttpRequest, res),
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
          req,
          res,
          await data.rest.describe(params.ref, header(req, 'accept-profile') || undefined, {
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
