import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQueryString } from 'node:querystring';
import type { Logger } from '../log/logger.js';
import { parseInput } from '../validate.js';
import type { RouteGuard } from './access.js';
import { sendError } from './errors.js';
import type { Preamble } from './gates.js';
import type { RestHttpRequest, RestServe } from './routes/rest.js';
import type { RouteDef } from './routeTable.js';

/**
 * The data lane: the PostgREST endpoint's table and function requests, served on node's own
 * request and response without express.
 *
 * Why: with everything else cut from the endpoint's path, express itself was the largest cost
 * left. On this machine (2 cores), one route answering one row from a prepared statement served
 * 9 100-10 000 requests/s at concurrency 32 behind express 5 (an app with one app.use handler:
 * 10 000) and 15 400-18 000 as a plain node:http handler, same query, same client, same run;
 * express, its router, parseurl and on-finished were 1.3 s of the endpoint's 8.1 s of CPU in a
 * profile of bench/rows. docs/data-api-profile.md has the numbers.
 *
 * What it keeps: every request meets the same steps as on the express app, from the same code:
 * the app's preamble (the audit trail, then the gates: network allowlist, failed-authentication
 * limit, browser guards, the JSON body and its depth), the route's
 * permission and project from its RouteDef in the route table (AccessGuard.admit), the route's
 * own params schema, and the error answer of sendError. A request the lane is not sure of (another
 * path form, a path that does not decode, a method the route table lacks) goes to express,
 * which answers it as before.
 */

/** A request the lane serves: the route it is (for its permission and schemas) and what serves it. */
export interface LaneRoute {
  def: RouteDef;
  serve: RestServe;
  /** The path parameter after `ref`: `table` or `fn`. */
  nameParam: string;
}

export interface DataLaneDeps {
  /** By method and path kind: GET/HEAD/POST/PATCH/PUT/DELETE of a table, GET/HEAD/POST of a function. */
  table: Partial<Record<string, LaneRoute>>;
  rpc: Partial<Record<string, LaneRoute>>;
  guard: RouteGuard;
  /** The express app's own first steps (audit trail, gates, JSON body). */
  preamble: Preamble;
  logger: Logger;
}

/** `/database/{ref}/rest/v1/{table}` and `/database/{ref}/rest/v1/rpc/{fn}`: segments without `%`-escapes are taken as they are. */
const TABLE_PATH = /^\/database\/([^/?%]+)\/rest\/v1\/([^/?%]+)$/;
const RPC_PATH = /^\/database\/([^/?%]+)\/rest\/v1\/rpc\/([^/?%]+)$/;

/**
 * The lane's request handler: true when it took the request (and answers it), false when express
 * should.
 */
export function dataLane(deps: DataLaneDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  for (const route of [...Object.values(deps.table), ...Object.values(deps.rpc)]) {
    // The lane runs admission, the params schema and the handler; anything more a route declared
    // would be skipped here, so such a route cannot be put in the lane.
    const def = route?.def;
    if (def && (def.query || def.body || def.idempotent || def.escalate)) {
      throw new Error(`route ${def.method.toUpperCase()} ${def.path} declares more than the data lane runs`);
    }
  }
  return (req, res) => {
    const url = req.url ?? '';
    if (!url.startsWith('/database/')) return false;
    const mark = url.indexOf('?');
    const path = mark < 0 ? url : url.slice(0, mark);
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? '');
    let match = RPC_PATH.exec(path);
    let route = match ? deps.rpc[method] : undefined;
    if (!match) {
      match = TABLE_PATH.exec(path);
      route = match ? deps.table[method] : undefined;
    }
    if (!match || !route) return false;
    const params = { ref: match[1] as string, [route.nameParam]: match[2] as string };
    const laneReq = req as RestHttpRequest;
    laneReq.query = parseQueryString(mark < 0 ? '' : url.slice(mark + 1));
    serveInLane(deps, route, params, path, laneReq, res).catch((err: Error) => {
      // Only a failure to answer lands here (serveInLane answers every other): end the connection, keep the server.
      deps.logger.error('cannot answer a request', { path, error: err.message });
      res.destroy();
    });
    return true;
  };
}

async function serveInLane(
  deps: DataLaneDeps,
  route: LaneRoute,
  params: Record<string, string>,
  path: string,
  req: RestHttpRequest,
  res: ServerResponse,
): Promise<void> {
  try {
    const refusal = await deps.preamble(req, res);
    if (refusal) throw refusal;
    await deps.guard.admit(route.def, req, res, { params, path });
    const parsed = route.def.params ? (parseInput(route.def.params, params) as Record<string, string>) : params;
    await route.serve(parsed.ref as string, parsed[route.nameParam] as string, req, res);
  } catch (err) {
    sendError(err, req, path, res, deps.logger);
  }
}
