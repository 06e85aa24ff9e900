import { DbaasError, type ErrorCode } from '../errors.js';

/** The fields node-postgres copies from a server error (ErrorResponse). */
export interface PgError extends Error {
  code?: string;
  detail?: string;
  hint?: string;
  position?: string;
  schema?: string;
  table?: string;
  column?: string;
  constraint?: string;
  dataType?: string;
}

/** Connection-level failures: the server went away or is not there. */
const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH']);
const SERVER_GONE = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);

export function isConnectionError(err: unknown): boolean {
  const e = err as PgError & NodeJS.ErrnoException;
  if (e?.code && (CONNECTION_ERRORS.has(e.code) || SERVER_GONE.has(e.code))) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(e?.message ?? '');
}

/** SQLSTATE (or class) to error code: DESIGN.md's mapping, plus the few the data API adds. */
function codeFor(sqlstate: string): ErrorCode {
  switch (sqlstate) {
    case '23505':
      return 'UNIQUE_VIOLATION';
    case '23503':
      return 'FOREIGN_KEY_VIOLATION';
    case '42P01':
      return 'TABLE_NOT_FOUND';
    case '42703':
      return 'COLUMN_NOT_FOUND';
    case '23502':
    case '23514':
      return 'INVALID_VALUE';
    case '57014':
      return 'STATEMENT_TIMEOUT';
    case '40001':
    case '40P01':
      return 'TRANSACTION_CONFLICT';
    case '42501':
    case '25006':
      return 'PERMISSION_DENIED';
    default:
      return sqlstate.startsWith('22') ? 'INVALID_VALUE' : 'SQL_ERROR';
  }
}

/**
 * Turns an error of node-postgres into a DbaasError: the SQLSTATE decides the code (and so the
 * HTTP status), and what the server said about it (detail, hint, column, constraint, position)
 * goes into details. A lost connection is INSTANCE_NOT_RUNNING.
 */
export function fromPgError(err: unknown, instance: string): DbaasError {
  if (err instanceof DbaasError) return err;
  const e = err as PgError;
  if (isConnectionError(err)) {
    return new DbaasError('INSTANCE_NOT_RUNNING', `the connection to instance ${instance} failed: ${e.message}`, { instance });
  }
  // SQLSTATE classes start with a digit or F, H, P, X; Node's own codes (EPERM...) are not SQL errors.
  if (!e?.code || !/^[0-9FHPX][0-9A-Z]{4}$/.test(e.code)) {
    return new DbaasError('INTERNAL', e?.message ?? String(err), undefined, { cause: err });
  }
  const details: Record<string, unknown> = { sqlstate: e.code };
  for (const key of ['detail', 'hint', 'position', 'schema', 'table', 'column', 'constraint', 'dataType'] as const) {
    if (e[key] !== undefined) details[key] = e[key];
  }
  const message = e.code === '57014' ? 'the statement ran past its timeout and was cancelled' : e.message;
  return new DbaasError(codeFor(e.code), message, details, { cause: err });
}
