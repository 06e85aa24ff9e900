import { describe, expect, it } from 'vitest';
import { HTTP_STATUS } from '../../src/api/errors.js';
import { EXIT_CODE } from '../../src/cli/exit.js';
import { fromPgError, isConnectionError, type PgError } from '../../src/database/sqlstate.js';
import { DbaasError, type ErrorCode } from '../../src/errors.js';

/**
 * Server errors become typed errors by SQLSTATE, and so an HTTP status and a CLI exit code
 * (DESIGN.md: 23505/23503 -> 409, 42P01 -> 404, 22xxx/23502 -> 422, 57014 -> 504).
 */

/** An error shaped like node-postgres's DatabaseError. */
function pgError(code: string, message = `error ${code}`, fields: Partial<PgError> = {}): PgError {
  return Object.assign(new Error(message), { code, ...fields });
}

describe('fromPgError by SQLSTATE', () => {
  it.each([
    ['23505', 'UNIQUE_VIOLATION', 409, 1],
    ['23503', 'FOREIGN_KEY_VIOLATION', 409, 1],
    ['42P01', 'TABLE_NOT_FOUND', 404, 1],
    ['42703', 'COLUMN_NOT_FOUND', 422, 2],
    ['22P02', 'INVALID_VALUE', 422, 2],
    ['22003', 'INVALID_VALUE', 422, 2],
    ['22001', 'INVALID_VALUE', 422, 2],
    ['22007', 'INVALID_VALUE', 422, 2],
    ['22012', 'INVALID_VALUE', 422, 2],
    ['23502', 'INVALID_VALUE', 422, 2],
    ['23514', 'INVALID_VALUE', 422, 2],
    ['57014', 'STATEMENT_TIMEOUT', 504, 1],
    ['40001', 'TRANSACTION_CONFLICT', 409, 1],
    ['40P01', 'TRANSACTION_CONFLICT', 409, 1],
    ['42501', 'PERMISSION_DENIED', 403, 1],
    ['25006', 'PERMISSION_DENIED', 403, 1],
    ['42601', 'SQL_ERROR', 400, 1],
    ['42883', 'SQL_ERROR', 400, 1],
    ['XX000', 'SQL_ERROR', 400, 1],
    ['P0001', 'SQL_ERROR', 400, 1],
  ] as Array<[string, ErrorCode, number, number]>)('%s is %s, HTTP %i, exit %i', (sqlstate, code, status, exit) => {
    const err = fromPgError(pgError(sqlstate), 'db1');
    expect(err).toBeInstanceOf(DbaasError);
    expect(err.code).toBe(code);
    expect(err.details?.sqlstate).toBe(sqlstate);
    expect(HTTP_STATUS[err.code]).toBe(status);
    expect(EXIT_CODE[err.code]).toBe(exit);
  });

  it('DESIGN.md statuses hold', () => {
    const status = (sqlstate: string) => HTTP_STATUS[fromPgError(pgError(sqlstate), 'x').code];
    expect(status('23505')).toBe(409);
    expect(status('23503')).toBe(409);
    expect(status('42P01')).toBe(404);
    expect(status('23502')).toBe(422);
    expect(status('57014')).toBe(504);
    for (const sqlstate of ['22000', '22001', '22003', '22008', '22012', '22023', '2202E', '22P02', '22P05']) expect(status(sqlstate)).toBe(422);
  });

  it('keeps the server message', () => {
    const err = fromPgError(pgError('23505', 'duplicate key value violates unique constraint "t_pkey"'), 'db1');
    expect(err.message).toBe('duplicate key value violates unique constraint "t_pkey"');
  });

  it('says a timeout was cancelled', () => {
    const err = fromPgError(pgError('57014', 'canceling statement due to statement timeout'), 'db1');
    expect(err.message).toMatch(/cancelled/);
    expect(err.message).toMatch(/timeout/);
  });

  it('carries what the server said in details', () => {
    const source = pgError('23505', 'duplicate key', {
      detail: 'Key (id)=(1) already exists.',
      hint: 'try another',
      position: '15',
      schema: 'public',
      table: 'items',
      column: 'id',
      constraint: 'items_pkey',
      dataType: 'integer',
    });
    const err = fromPgError(source, 'db1');
    expect(err.details).toEqual({
      sqlstate: '23505',
      detail: 'Key (id)=(1) already exists.',
      hint: 'try another',
      position: '15',
      schema: 'public',
      table: 'items',
      column: 'id',
      constraint: 'items_pkey',
      dataType: 'integer',
    });
    expect(err.cause).toBe(source);
  });

  it('leaves out the fields the server did not send', () => {
    expect(fromPgError(pgError('23502', 'null value', { column: 'name' }), 'db1').details).toEqual({ sqlstate: '23502', column: 'name' });
  });
});

describe('connection errors', () => {
  it.each([
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }),
    Object.assign(new Error('getaddrinfo ENOTFOUND db'), { code: 'ENOTFOUND' }),
    pgError('57P01', 'terminating connection due to administrator command'),
    pgError('57P03', 'the database system is starting up'),
    pgError('08006', 'connection failure'),
    new Error('Connection terminated unexpectedly'),
    new Error('Connection terminated due to connection timeout'),
    new Error('Client has encountered a connection error and is not queryable'),
  ])('%s is INSTANCE_NOT_RUNNING (503)', (source) => {
    expect(isConnectionError(source)).toBe(true);
    const err = fromPgError(source, 'db1');
    expect(err.code).toBe('INSTANCE_NOT_RUNNING');
    expect(err.details).toEqual({ instance: 'db1' });
    expect(err.message).toContain('db1');
    expect(err.message).toContain(source.message);
    expect(HTTP_STATUS[err.code]).toBe(503);
    expect(EXIT_CODE[err.code]).toBe(1);
  });

  it('ordinary SQL errors are not connection errors', () => {
    expect(isConnectionError(pgError('23505'))).toBe(false);
    expect(isConnectionError(new Error('boom'))).toBe(false);
    expect(isConnectionError(null)).toBe(false);
    expect(isConnectionError(undefined)).toBe(false);
  });
});

describe('other errors', () => {
  it.each([new Error('boom'), new TypeError('x is not a function'), Object.assign(new Error('bad code'), { code: 'ERR_SOMETHING' })])(
    '%s is INTERNAL (500)',
    (source) => {
      const err = fromPgError(source, 'db1');
      expect(err.code).toBe('INTERNAL');
      expect(err.message).toBe(source.message);
      expect(err.cause).toBe(source);
      expect(HTTP_STATUS[err.code]).toBe(500);
    },
  );

  it('a thrown non-Error is INTERNAL with its text', () => {
    expect(fromPgError('just a string', 'db1')).toMatchObject({ code: 'INTERNAL', message: 'just a string' });
    expect(fromPgError(null, 'db1')).toMatchObject({ code: 'INTERNAL', message: 'null' });
  });

  it('a lower-case or short code is not a SQLSTATE', () => {
    expect(fromPgError(pgError('23505x'), 'db1').code).toBe('INTERNAL');
    expect(fromPgError(pgError('2350'), 'db1').code).toBe('INTERNAL');
    expect(fromPgError(pgError('42p01'), 'db1').code).toBe('INTERNAL');
  });

  it('a DbaasError passes through unchanged', () => {
    const original = new DbaasError('COLUMN_NOT_FOUND', 'no column "x"', { column: 'x' });
    expect(fromPgError(original, 'db1')).toBe(original);
    const notRunning = new DbaasError('INSTANCE_NOT_RUNNING', 'stopped');
    expect(fromPgError(notRunning, 'db1')).toBe(notRunning);
  });
});

describe('Node error codes are not SQLSTATEs', () => {
  it('maps EPERM, EBUSY and EBADF to INTERNAL, not SQL_ERROR', () => {
    for (const code of ['EPERM', 'EBUSY', 'EBADF']) {
      const err = Object.assign(new Error(`${code}: failed`), { code });
      expect(fromPgError(err, 'inst').code).toBe('INTERNAL');
    }
  });
});
