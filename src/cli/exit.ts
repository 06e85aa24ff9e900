import { asDbaasError, type DbaasError, type ErrorCode } from '../errors.js';

/** The one place where an error code becomes a CLI exit code: 2 for usage, 1 for failure. */
export const EXIT_CODE: Record<ErrorCode, 1 | 2> = {
  MALFORMED_REQUEST: 2,
  PAYLOAD_TOO_LARGE: 2,
  UNSUPPORTED_MEDIA_TYPE: 2,
  ORIGIN_NOT_ALLOWED: 1,
  HOST_NOT_ALLOWED: 1,
  VALIDATION_FAILED: 2,
  UNAUTHORIZED: 1,
  FORBIDDEN: 1,
  NETWORK_NOT_ALLOWED: 1,
  RATE_LIMITED: 1,
  TOKEN_NOT_FOUND: 1,
  IDEMPOTENCY_KEY_REUSED: 2,
  IN_PROGRESS: 1,
  API_UNREACHABLE: 1,
  USAGE: 2,
  INSTANCE_NOT_FOUND: 1,
  ROUTE_NOT_FOUND: 1,
  NAME_TAKEN: 1,
  PORT_IN_USE: 1,
  PORT_RANGE_EXHAUSTED: 1,
  INVALID_STATE: 1,
  IMAGE_NOT_AVAILABLE: 1,
  ENGINE_UNAVAILABLE: 1,
  INSTANCE_NOT_RUNNING: 1,
  PROVISIONING_FAILED: 1,
  READINESS_TIMEOUT: 1,
  OPERATION_FAILED: 1,
  INTERRUPTED: 1,
  TABLE_NOT_FOUND: 1,
  COLUMN_NOT_FOUND: 2,
  ROW_NOT_FOUND: 1,
  NO_PRIMARY_KEY: 2,
  FILTER_REQUIRED: 2,
  CONFIRMATION_REQUIRED: 2,
  INVALID_VALUE: 2,
  UNIQUE_VIOLATION: 1,
  FOREIGN_KEY_VIOLATION: 1,
  TRANSACTION_CONFLICT: 1,
  PERMISSION_DENIED: 1,
  STATEMENT_TIMEOUT: 1,
  SQL_ERROR: 1,
  STATEMENT_NOT_ALLOWED: 2,
  INIT_SQL_FAILED: 1,
  BACKUP_NOT_FOUND: 1,
  BACKUP_FAILED: 1,
  BACKUP_CORRUPT: 1,
  RESTORE_TARGET_UNREACHABLE: 1,
  OPERATION_NOT_FOUND: 1,
  UPGRADE_REFUSED: 1,
  NO_UPGRADE: 1,
  REGISTRY_CORRUPT: 1,
  CONFIG_INVALID: 1,
  INTERNAL: 1,
};

let lastCode: ErrorCode | undefined;

/** The code of the last error reported (the audit line of a failed command names it). */
export function lastErrorCode(): ErrorCode | undefined {
  return lastCode;
}

/** Prints an error (as JSON with --json, else a line on stderr) and returns its exit code. */
export function reportError(err: unknown, json: boolean): number {
  const error: DbaasError = asDbaasError(err);
  lastCode = error.code;
  if (json) {
    process.stdout.write(JSON.stringify({ error: error.toJSON() }, null, 2) + '\n');
  } else {
    process.stderr.write(`error: ${error.message} [${error.code}]\n`);
  }
  return EXIT_CODE[error.code];
}
