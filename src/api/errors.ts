import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler } from 'express';
import { auditError } from './access.js';
import { z } from 'zod';
import { asDbaasError, DbaasError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { REST_PATH, toPgrstError } from '../database/rest/protocol.js';

/** The one place where an error code becomes an HTTP status. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  MALFORMED_REQUEST: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  ORIGIN_NOT_ALLOWED: 403,
  HOST_NOT_ALLOWED: 421,
  VALIDATION_FAILED: 422,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NETWORK_NOT_ALLOWED: 403,
  RATE_LIMITED: 429,
  TOKEN_NOT_FOUND: 404,
  IDEMPOTENCY_KEY_REUSED: 422,
  IN_PROGRESS: 409,
  API_UNREACHABLE: 502,
  USAGE: 400,
  INSTANCE_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  NAME_TAKEN: 409,
  PORT_IN_USE: 409,
  PORT_RANGE_EXHAUSTED: 409,
  INVALID_STATE: 409,
  IMAGE_NOT_AVAILABLE: 422,
  ENGINE_UNAVAILABLE: 503,
  INSTANCE_NOT_RUNNING: 503,
  PROVISIONING_FAILED: 500,
  READINESS_TIMEOUT: 504,
  OPERATION_FAILED: 500,
  INTERRUPTED: 500,
  TABLE_NOT_FOUND: 404,
  COLUMN_NOT_FOUND: 422,
  ROW_NOT_FOUND: 404,
  NO_PRIMARY_KEY: 422,
  FILTER_REQUIRED: 400,
  CONFIRMATION_REQUIRED: 400,
  INVALID_VALUE: 422,
  UNIQUE_VIOLATION: 409,
  FOREIGN_KEY_VIOLATION: 409,
  TRANSACTION_CONFLICT: 409,
  PERMISSION_DENIED: 403,
  STATEMENT_TIMEOUT: 504,
  SQL_ERROR: 400,
  STATEMENT_NOT_ALLOWED: 422,
  INIT_SQL_FAILED: 422,
  BACKUP_NOT_FOUND: 404,
  BACKUP_FAILED: 500,
  BACKUP_CORRUPT: 422,
  RESTORE_TARGET_UNREACHABLE: 422,
  OPERATION_NOT_FOUND: 404,
  UPGRADE_REFUSED: 409,
  NO_UPGRADE: 409,
  REGISTRY_CORRUPT: 500,
  CONFIG_INVALID: 500,
  INTERNAL: 500,
};

export const ErrorBodySchema = z
  .object({
    error: z.object({
      code: z.string().meta({ example: 'VALIDATION_FAILED' }),
      message: z.string().meta({ example: 'memory: must be at least 128m (got 64m)' }),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .meta({ id: 'Error' });

/** Body-parser failures carry a `type`; they become our own codes. */
function fromExpress(err: unknown): DbaasError | undefined {
  const type = (err as { type?: string })?.type;
  if (type === 'entity.parse.failed') {
    return new DbaasError('MALFORMED_REQUEST', `the request body is not valid JSON: ${(err as Error).message}`);
  }
  if (type === 'entity.too.large') {
    const limit = (err as { limit?: number }).limit;
    return new DbaasError('PAYLOAD_TOO_LARGE', `the request body is larger than the limit of ${limit} bytes`, { limit });
  }
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new DbaasError('UNSUPPORTED_MEDIA_TYPE', (err as Error).message);
  }
  if (type) return new DbaasError('MALFORMED_REQUEST', (err as Error).message);
  // Anything else that says it is the client's fault (a path that is not valid percent-encoding,
  // a gzip body that does not inflate) is a 400, never a 500.
  const status = Number((err as { status?: unknown; statusCode?: unknown })?.status ?? (err as { statusCode?: unknown })?.statusCode);
  if (status >= 400 && status < 500 && !(err instanceof DbaasError)) {
    if (status === 413) return new DbaasError('PAYLOAD_TOO_LARGE', (err as Error).message);
    if (status === 415) return new DbaasError('UNSUPPORTED_MEDIA_TYPE', (err as Error).message);
    return new DbaasError('MALFORMED_REQUEST', `the request could not be read: ${(err as Error).message}`);
  }
  return undefined;
}

/**
 * Answers a failed request: the error's status and body (PostgREST's shape on its endpoint,
 * dbaas's everywhere else), its code noted for the audit line, a 5xx logged.
 */
export function sendError(err: unknown, req: IncomingMessage, path: string, res: ServerResponse, logger: Logger): void {
  const error = fromExpress(err) ?? asDbaasError(err);
  const status = HTTP_STATUS[error.code];
  if (res.headersSent) {
    // Too late for an answer of its own (a route that failed while writing): the client sees the connection end.
    logger.error('request failed after its answer began', { method: req.method, path, code: error.code, error: error.message });
    res.destroy();
    return;
  }
  auditError(res, error.code);
  if (error.code === 'RATE_LIMITED') res.setHeader('Retry-After', String(error.details?.retryAfterSec ?? 60));
  if (status >= 500) logger.error('request failed', { method: req.method, path, code: error.code, error: error.message });
  // The PostgREST-compatible endpoint answers in PostgREST's shape, so that its clients read it.
  const answer = REST_PATH.test(path) ? toPgrstError(error, status) : { status, body: { error: error.toJSON() } };
  const text = JSON.stringify(answer.body);
  res.statusCode = answer.status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** sendError as the express app's last handler. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => sendError(err, req, req.path, res, logger);
}
