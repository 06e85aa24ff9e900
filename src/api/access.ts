import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { REST_PATH } from '../database/rest/protocol.js';
import type { Request, Response } from 'express';
import { actorOf, type AuditLog } from '../auth/audit.js';
import { fingerprintOf, IdempotencyKeySchema, type IdempotencyStore } from '../auth/idempotency.js';
import type { Permission } from '../auth/permissions.js';
import { ANONYMOUS, can, forbidden, sees, type Principal } from '../auth/principal.js';
import type { TokenStore } from '../auth/tokens.js';
import { backupNotFound } from '../backups/repository.js';
import { asDbaasError, DbaasError, notFound } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { operationNotFound } from '../operations/store.js';
import { HTTP_STATUS } from './errors.js';
import type { RouteDef, RouteScope } from './routeTable.js';

/**
 * Access control of every route, in the order a request meets it: who is asking (a bearer token,
 * 401 otherwise), whether the route's permission is theirs (403 naming it), whether what the
 * route acts on lies in their project (404, the same answer as for something that does not
 * exist), then the route's own validation. The audit trail and idempotency keys hang off the
 * same per-request record.
 */

/** What the audit trail learns about a request as it passes (accessOf(res)). */
export interface RequestAccess {
  requestId: string;
  client: string;
  principal?: Principal;
  action?: string;
  target?: string | null;
  project?: string | null;
  /** A change, or a read of a secret: one line in the audit log. */
  audited: boolean;
  errorCode?: string;
}

/** What admission reads of a request besides its headers: the route's path parameters and the path. */
export interface RouteMatch {
  params: Record<string, unknown>;
  path: string;
}

export interface RouteGuard {
  /** Authenticates and authorizes a request for a route; returns who asks, or throws 401/403/404. */
  admit(def: RouteDef, req: IncomingMessage, res: ServerResponse, match: RouteMatch): Promise<Principal>;
  /** A request that reads a secret: needs `permission` too, and is audited. */
  escalate(permission: Permission, principal: Principal, res: ServerResponse): void;
  /** Runs a route's handler under its Idempotency-Key, when the request sent one. */
  idempotent(def: RouteDef, req: Request, res: Response, principal: Principal, run: () => Promise<unknown>): Promise<unknown>;
}

/** The project of what a scoped route acts on; undefined when it does not exist (its handler says 404). */
export type ProjectResolver = (scope: Exclude<RouteScope, 'none'>, ref: string) => Promise<string | undefined>;

/** The access record of each request in flight, by its response (the express app and the data lane both answer). */
const accessByResponse = new WeakMap<ServerResponse, RequestAccess>();

export function accessOf(res: ServerResponse): RequestAccess {
  const access = accessByResponse.get(res);
  if (!access) throw new Error('a request reached a route without passing the audit trail');
  return access;
}

/** Names the project a route acted in when its scope could not know it beforehand (a create). */
export function auditProject(res: ServerResponse, project: string): void {
  const access = accessByResponse.get(res);
  if (access) access.project = project;
}

/** Records the code of a refusal or a failure for the audit line. */
export function auditError(res: ServerResponse, code: string): void {
  const access = accessByResponse.get(res);
  if (access) access.errorCode = code;
}

/** Request ids: a random prefix per process and a counter (a random draw per request showed in the CPU profile). */
const REQUEST_ID_PREFIX = randomBytes(4).toString('hex');
let requestCount = 0;
function nextRequestId(): string {
  requestCount = (requestCount + 1) % 0x1_0000_0000;
  return `req_${REQUEST_ID_PREFIX}${requestCount.toString(16).padStart(8, '0')}`;
}

/**
 * The first step of every request: gives it an id (X-Request-Id) and, once the answer is sent,
 * appends the audit line of a change or of a secret read.
 */
export function beginAccess(audit: AuditLog, logger: Logger, req: IncomingMessage, res: ServerResponse): RequestAccess {
  const access: RequestAccess = {
    requestId: nextRequestId(),
    client: clientAddress(req),
    audited: false,
  };
  accessByResponse.set(res, access);
  res.setHeader('X-Request-Id', access.requestId);
  res.on('finish', () => {
    if (!access.audited || !access.action) return;
    const status = res.statusCode;
    audit
      .append({
        ts: new Date().toISOString(),
        requestId: access.requestId,
        actor: actorOf(access.principal?.kind === 'anonymous' ? undefined : access.principal),
        client: access.client,
        action: access.action,
        target: access.target ?? null,
        project: access.project ?? null,
        outcome: status === 401 || status === 403 ? 'denied' : status < 400 ? 'success' : 'failure',
        status,
        error: access.errorCode ?? null,
      })
      .catch((err: Error) => logger.error('cannot append to the audit log', { error: err.message }));
  });
  return access;
}

/** The debug line of a request, written when its answer is sent. */
export function logRequest(logger: Logger, req: IncomingMessage, path: string, res: ServerResponse): void {
  const started = Date.now();
  res.on('finish', () => logger.debug('request', { method: req.method, path, status: res.statusCode, ms: Date.now() - started }));
}

/** The peer's address, IPv4-mapped IPv6 written as IPv4 (no proxy header is trusted). */
export function clientAddress(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

const NOT_FOUND: Record<Exclude<RouteScope, 'none'>, (ref: string) => DbaasError> = {
  instance: notFound,
  backup: backupNotFound,
  operation: operationNotFound,
};

export interface AccessGuardDeps {
  tokens: TokenStore;
  idempotency: IdempotencyStore;
  projectOf: ProjectResolver;
  /** How long a request waits for the first one with its Idempotency-Key before answering 409. */
  idempotencyWaitMs?: number;
}

export class AccessGuard implements RouteGuard {
  constructor(private readonly deps: AccessGuardDeps) {}

  async admit(def: RouteDef, req: IncomingMessage, res: ServerResponse, match: RouteMatch): Promise<Principal> {
    const access = accessOf(res);
    access.action = def.operationId;
    const ref = match.params.ref ?? match.params.id;
    access.target = typeof ref === 'string' ? ref : null;
    access.audited = def.method !== 'get';
    if (def.permission === 'public') return ANONYMOUS;
    const principal = await this.authenticate(req, res, match.path);
    access.principal = principal;
    if (!can(principal, def.permission)) throw forbidden(principal, def.permission);
    if (def.scope !== 'none' && typeof ref === 'string') {
      const project = await this.deps.projectOf(def.scope, ref);
      access.project = project ?? null;
      if (project !== undefined && !sees(principal, project)) throw NOT_FOUND[def.scope](ref);
    }
    return principal;
  }

  escalate(permission: Permission, principal: Principal, res: ServerResponse): void {
    accessOf(res).audited = true;
    if (!can(principal, permission)) throw forbidden(principal, permission);
  }

  private async authenticate(req: IncomingMessage, res: ServerResponse, path: string): Promise<Principal> {
    // The PostgREST endpoint also takes the token as Supabase's gateway does: alone in `apikey`.
    const apikey = req.headers.apikey;
    const header = req.headers.authorization ?? (typeof apikey === 'string' && REST_PATH.test(path) ? `Bearer ${apikey}` : undefined);
    const refuse = (message: string, reason: string) => {
      // RFC 6750: a request without credentials gets the scheme only; a bad token, the error too.
      res.setHeader('WWW-Authenticate', header ? 'Bearer realm="dbaas", error="invalid_token"' : 'Bearer realm="dbaas"');
      return new DbaasError('UNAUTHORIZED', message, { reason });
    };
    if (!header) throw refuse('this route needs a token: Authorization: Bearer <token> (dbaas token create)', 'missing');
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) throw refuse('the Authorization header must read "Bearer <token>"', 'malformed');
    const result = await this.deps.tokens.authenticate(match[1]);
    if ('principal' in result) return result.principal;
    const why = { malformed: 'is not a dbaas token', unknown: 'is not known', expired: 'has expired', revoked: 'was revoked' }[result.refused];
    throw refuse(`the token ${why}`, result.refused);
  }

  async idempotent(def: RouteDef, req: Request, res: Response, principal: Principal, run: () => Promise<unknown>): Promise<unknown> {
    const header = req.headers['idempotency-key'];
    if (header === undefined) return run();
    const parsed = IdempotencyKeySchema.safeParse(header);
    if (!parsed.success) {
      throw new DbaasError('VALIDATION_FAILED', 'Idempotency-Key: must be 1-255 printable ASCII characters without spaces', {
        issues: [{ field: 'Idempotency-Key', message: 'must be 1-255 printable ASCII characters without spaces' }],
      });
    }
    const key = parsed.data;
    const caller = principal.kind === 'token' ? principal.tokenId : principal.kind;
    const fingerprint = fingerprintOf(req.method, req.path, req.body);
    const deadline = Date.now() + (this.deps.idempotencyWaitMs ?? 60_000);
    for (;;) {
      const claim = await this.deps.idempotency.claim(caller, key, fingerprint);
      if (claim.kind === 'mismatch') {
        throw new DbaasError('IDEMPOTENCY_KEY_REUSED', `the Idempotency-Key "${key}" was used for a different request in the last 24 hours`, { key });
      }
      if (claim.kind === 'replay') {
        res.setHeader('Idempotent-Replayed', 'true');
        res.status(claim.status).json(claim.body);
        return undefined;
      }
      if (claim.kind === 'running') {
        // The first request is still at work: wait for its answer rather than doing it twice.
        if (Date.now() >= deadline) {
          throw new DbaasError('IN_PROGRESS', `a request with the Idempotency-Key "${key}" is still running; retry later`, { key });
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
        continue;
      }
      try {
        const result = await run();
        await claim.finish(def.success.status, result);
        return result;
      } catch (err) {
        const error = asDbaasError(err);
        const status = HTTP_STATUS[error.code];
        // A refusal is an answer (sent again on a retry); a failure of ours may be retried.
        if (status < 500) await claim.finish(status, { error: error.toJSON() });
        else await claim.release();
        throw err;
      }
    }
  }
}
