import type { Request, Response, Router } from 'express';
import express from 'express';
import { z } from 'zod';
import type { Permission } from '../auth/permissions.js';
import type { Principal } from '../auth/principal.js';
import type { ErrorCode } from '../errors.js';
import { parseInput } from '../validate.js';
import { DbaasError } from '../errors.js';
import type { RouteGuard } from './access.js';

/**
 * A route is declared once, with the zod schemas of its path, query and body. The express router
 * validates requests with those schemas and the OpenAPI document is generated from the same
 * declarations, so the documentation cannot drift from what the server accepts.
 */
export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  req: Request;
  res: Response;
  /** Who is asking: a token, or the host's operator (absent only on public routes). */
  principal: Principal;
}

/**
 * How a route finds the project of what it acts on, so that a token of another project gets the
 * same 404 as for something that does not exist: the instance of `{ref}`, the backup or the
 * operation of `{id}`; `none` for routes without a target (lists filter by the principal, a
 * create checks the project it is given).
 */
export type RouteScope = 'instance' | 'backup' | 'operation' | 'none';

export interface RouteDef<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI style: `/instances/{ref}`. */
  path: string;
  /**
   * The operation's name in the OpenAPI document, unique across the API: a camelCase verb and
   * noun (`createInstance`, `listRows`). Client generators name their methods after it, so it
   * never changes once published.
   */
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  params?: P;
  query?: Q;
  body?: B;
  /** The response; its schema is the producer's own (exported beside the code that builds the body). */
  success: { status: number; description: string; schema?: R; contentType?: string };
  errors: ErrorCode[];
  /** The permission a token needs (src/auth/permissions.ts); 'public' for GET /health alone. */
  permission: Permission | 'public';
  scope: RouteScope;
  /**
   * A second permission that some requests of the route need (the password of
   * GET /instances/{ref}/connection?showPassword): such a request is a read of a secret, audited.
   */
  escalate?: { permission: Permission; when: (query: z.output<Q>, body: z.output<B>) => boolean; description: string };
  /** Takes an Idempotency-Key header (POSTs that create something). */
  idempotent?: boolean;
  /**
   * Returns the JSON to send, typed by the success schema so that the body and its documentation
   * cannot drift; a handler that wrote the response itself returns undefined.
   */
  handler: (ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>) => Promise<z.input<NoInfer<R>> | undefined>;
}

/** Declares a route with its types inferred from its schemas. */
export function route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType, R extends z.ZodType>(
  def: RouteDef<P, Q, B, R>,
): RouteDef {
  return def as unknown as RouteDef;
}

export function toExpressPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

export function buildRouter(routes: RouteDef[], guard: RouteGuard): Router {
  const router = express.Router();
  for (const def of routes) {
    if (!def.permission || !def.scope) throw new Error(`route ${def.method.toUpperCase()} ${def.path} declares no permission or scope`);
    router[def.method](toExpressPath(def.path), async (req, res) => {
      const principal = await guard.admit(def, req, res, { params: req.params, path: req.path });
      const params = def.params ? parseInput(def.params, req.params) : {};
      const query = def.query ? parseInput(def.query, req.query) : {};
      if (def.body && req.body === undefined && req.method !== 'GET') {
        throw new DbaasError('MALFORMED_REQUEST', 'expected a JSON body (Content-Type: application/json)');
      }
      const body = def.body ? parseInput(def.body, req.body) : undefined;
      if (def.escalate?.when(query, body)) guard.escalate(def.escalate.permission, principal, res);
      const run = () => def.handler({ params, query, body, req, res, principal });
      const result = def.idempotent ? await guard.idempotent(def, req, res, principal, run) : await run();
      if (result !== undefined && !res.headersSent) res.status(def.success.status).json(result);
    });
  }
  return router;
}

/** A query flag: `true`, `1`, `yes` or an empty value (`?force`) mean true. */
export const queryFlag = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no', ''])])
  .optional()
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes' || v === '');

export const InstanceRefParams = z.object({
  ref: z.string().min(1).max(64).meta({ description: 'Instance id (db_...) or name', example: 'orders' }),
});
