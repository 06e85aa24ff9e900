/**
 * The typed errors of dbaas. Every failure a user can see is one of these codes; the HTTP status
 * (src/api/errors.ts) and the CLI exit code (src/cli/exit.ts) are each mapped from the code in
 * exactly one table, so the two front ends can never disagree about what an error means.
 */
export const ERROR_CODES = [
  'MALFORMED_REQUEST', // body or query could not be parsed at all
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE', // a mutating request whose body is not application/json
  'ORIGIN_NOT_ALLOWED', // a browser request from another site (cross-site request forgery)
  'HOST_NOT_ALLOWED', // a Host header the server was not configured to answer to (DNS rebinding)
  'VALIDATION_FAILED', // parsed, but a field is invalid
  // Access control
  'UNAUTHORIZED', // no token, or one that is unknown, expired or revoked (401 with WWW-Authenticate)
  'FORBIDDEN', // a valid token whose role lacks the route's permission
  'NETWORK_NOT_ALLOWED', // the client's address is outside DBAAS_ALLOWED_NETWORKS
  'RATE_LIMITED', // too many failed authentications from one address
  'TOKEN_NOT_FOUND',
  'IDEMPOTENCY_KEY_REUSED', // an Idempotency-Key sent again with a different request
  'IN_PROGRESS', // the first request with this Idempotency-Key is still running
  'API_UNREACHABLE', // the remote CLI cannot reach its dbaas server (DBAAS_URL, dbaas login)
  'USAGE', // CLI misuse (missing argument, refused without --yes)
  'INSTANCE_NOT_FOUND',
  'ROUTE_NOT_FOUND',
  'NAME_TAKEN',
  'PORT_IN_USE',
  'PORT_RANGE_EXHAUSTED',
  'INVALID_STATE', // e.g. updating an instance that is being deleted
  'IMAGE_NOT_AVAILABLE',
  'ENGINE_UNAVAILABLE',
  'INSTANCE_NOT_RUNNING',
  'PROVISIONING_FAILED',
  'READINESS_TIMEOUT',
  'OPERATION_FAILED',
  'INTERRUPTED', // the user interrupted a long operation (Ctrl-C); what it made was undone
  // Data API (tables, rows, SQL); database errors carry the SQLSTATE in details.sqlstate
  'TABLE_NOT_FOUND',
  'COLUMN_NOT_FOUND',
  'ROW_NOT_FOUND',
  'NO_PRIMARY_KEY',
  'FILTER_REQUIRED', // PATCH/DELETE of rows without a filter and without force
  'CONFIRMATION_REQUIRED', // dropping a table without confirm
  'INVALID_VALUE', // a value the column's type cannot take (SQLSTATE 22xxx, 23502, 23514)
  'UNIQUE_VIOLATION', // 23505
  'FOREIGN_KEY_VIOLATION', // 23503
  'TRANSACTION_CONFLICT', // 40001 serialization failure, 40P01 deadlock
  'PERMISSION_DENIED', // 42501, or a write in a read-only request (25006)
  'STATEMENT_TIMEOUT', // 57014
  'SQL_ERROR', // any other error of SQL the user sent
  'STATEMENT_NOT_ALLOWED', // SQL refused before it ran: transaction control inside /transaction, several statements
  'INIT_SQL_FAILED', // the initSql of a create failed (the create was undone)
  // Backups and restores
  'BACKUP_NOT_FOUND',
  'BACKUP_FAILED', // taking a backup failed; nothing of it is listed
  'BACKUP_CORRUPT', // a backup's files do not match its manifest, or WAL it needs is missing
  'RESTORE_TARGET_UNREACHABLE', // no backup and archived WAL reach the asked point in time
  'OPERATION_NOT_FOUND',
  // Major upgrades
  'UPGRADE_REFUSED', // a check before the upgrade failed (nothing was changed); details.problems lists why
  'NO_UPGRADE', // a rollback or finalize of an instance that has no upgrade to act on
  'REGISTRY_CORRUPT',
  'CONFIG_INVALID',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface FieldIssue {
  field: string;
  message: string;
}

export class DbaasError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DbaasError';
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** An input that failed validation; the message names every offending field. */
export function validationError(issues: FieldIssue[]): DbaasError {
  const message = issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join('; ');
  return new DbaasError('VALIDATION_FAILED', message || 'invalid input', { issues });
}

export function notFound(ref: string): DbaasError {
  return new DbaasError('INSTANCE_NOT_FOUND', `no instance with id or name "${ref}"`, { instance: ref });
}

/** Wraps anything thrown into a DbaasError so callers can rely on a code. */
export function asDbaasError(err: unknown): DbaasError {
  if (err instanceof DbaasError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new DbaasError('INTERNAL', message, undefined, { cause: err });
}
