import { describe, expect, it } from 'vitest';
import { checkStatement, refusalOf, type StatementContext } from '../../src/database/statementGuard.js';
import { DbaasError } from '../../src/errors.js';

/** Every statement of /transaction. */
const TX: StatementContext = { inTransaction: true, readOnly: false };
/** A read-only /query. */
const RO: StatementContext = { inTransaction: false, readOnly: true };
/** A plain /query: the statement is its own transaction, and may be transaction control. */
const RW: StatementContext = { inTransaction: false, readOnly: false };
/** A read-only /query as the data service runs it (inside BEGIN READ ONLY). */
const RO_TX: StatementContext = { inTransaction: true, readOnly: true };

const CONTEXTS = { TX, RO, RW, RO_TX } as const;
type ContextName = keyof typeof CONTEXTS;

async function outcome(sql: string, context: StatementContext, index?: number): Promise<DbaasError | 'ok'> {
  try {
    await checkStatement(sql, context, index);
    return 'ok';
  } catch (err) {
    if (!(err instanceof DbaasError)) throw err;
    return err;
  }
}

async function refusal(sql: string, context: StatementContext, index?: number): Promise<DbaasError> {
  const result = await outcome(sql, context, index);
  if (result === 'ok') throw new Error(`expected ${JSON.stringify(sql)} to be refused`);
  return result;
}

/** Accepted in every context: nothing here touches the transaction, however it is spelled. */
const ALWAYS_ACCEPTED = [
  'SELECT 1',
  'select 1',
  'SeLeCt 1',
  'SELECT 1;',
  '  SELECT 1  ;  ',
  '/* COMMIT */ SELECT 1',
  'SELECT 1 /* ROLLBACK; BEGIN */',
  '-- COMMIT\nSELECT 1',
  'SELECT 1 -- ; COMMIT',
  "SELECT 'COMMIT'",
  "SELECT 'a;b; COMMIT; SET ROLE postgres'",
  'SELECT $$COMMIT$$',
  'SELECT $tag$ ROLLBACK; SET transaction_read_only = off $tag$',
  'SELECT "commit" FROM (SELECT 1 AS "commit") AS "begin"',
  "SELECT E'\\';COMMIT;--'",
  'SELECT * FROM t WHERE x = $1',
  'INSERT INTO t (a) VALUES (1) RETURNING *',
  'UPDATE t SET a = 2 WHERE a = 1',
  'DELETE FROM t WHERE a = 1',
  'CREATE TABLE t2 (id int PRIMARY KEY)',
  'WITH x AS (SELECT 1) SELECT * FROM x',
  'SHOW transaction_read_only',
  'SET search_path = public',
  'SET LOCAL statement_timeout = 1000',
  "SET application_name = 'commit'",
  'LOCK TABLE t IN SHARE MODE',
  'PREPARE q AS SELECT 1',
  'EXECUTE q',
  'EXPLAIN SELECT 1',
  'CALL p()',
  // PostgreSQL itself refuses COMMIT inside a DO block run within a transaction block (2D000).
  'DO $$BEGIN COMMIT; END$$',
  'DO $$BEGIN PERFORM 1; END$$',
];

/** Refused inside dbaas's transaction and in a read-only query; a plain /query may run them. */
const TRANSACTION_BOUND = [
  // Transaction control, however spelled.
  'BEGIN',
  'begin',
  'BEGIN WORK',
  'BEGIN ISOLATION LEVEL SERIALIZABLE',
  'START TRANSACTION',
  'START TRANSACTION READ WRITE',
  'start transaction read write',
  'COMMIT',
  'commit',
  'COMMIT WORK',
  'COMMIT AND CHAIN',
  'END',
  'end',
  'END TRANSACTION',
  'ROLLBACK',
  'rollback',
  'ROLLBACK AND CHAIN',
  'ABORT',
  'abort',
  'SAVEPOINT a',
  'RELEASE a',
  'RELEASE SAVEPOINT a',
  'ROLLBACK TO a',
  'ROLLBACK TO SAVEPOINT a',
  "PREPARE TRANSACTION 'x'",
  "COMMIT PREPARED 'x'",
  "ROLLBACK PREPARED 'x'",
  '/* hidden */ COMMIT',
  'COMMIT -- and nothing else',
  '  COMMIT  ;',
  // The transaction's mode, now or as a default.
  'SET transaction_read_only = off',
  'SET LOCAL transaction_read_only = off',
  'SET SESSION transaction_read_only = off',
  'set transaction_read_only to off',
  'SET "Transaction_Read_Only" = off',
  'SET transaction_read_only TO DEFAULT',
  'RESET transaction_read_only',
  'SET default_transaction_read_only = off',
  'SET LOCAL default_transaction_read_only = off',
  'RESET default_transaction_read_only',
  "SET transaction_isolation = 'serializable'",
  "SET default_transaction_isolation = 'read committed'",
  'SET transaction_deferrable = on',
  'SET default_transaction_deferrable = on',
  'SET TRANSACTION READ WRITE',
  'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE',
  'set transaction read write',
  'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE',
  'SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED',
  'RESET ALL',
  'reset all',
  // Who runs it.
  'SET ROLE postgres',
  'SET LOCAL ROLE postgres',
  'SET SESSION ROLE NONE',
  'set role postgres',
  'RESET ROLE',
  'SET SESSION AUTHORIZATION postgres',
  'SET SESSION AUTHORIZATION DEFAULT',
  'RESET SESSION AUTHORIZATION',
  // Session resets.
  'DISCARD ALL',
  'DISCARD PLANS',
  'DISCARD TEMP',
  'DISCARD SEQUENCES',
  'discard all',
];

/** Refused everywhere: not exactly one statement. */
const NEVER_ONE_STATEMENT = [
  'SELECT 1; SELECT 2',
  'SELECT 1;SELECT 2;',
  'select 1; commit',
  'COMMIT; BEGIN',
  "SELECT 'x'; SELECT $$y$$",
  'SELECT 1;;SELECT 2',
];

/** No statement: only comments and semicolons. */
const EMPTY = [';', ' ; ; ', '-- only a comment', '/* only a comment */', '/* a */ -- b\n', '-- COMMIT'];
/** No statement: nothing at all, or only white space. */
const BLANK = ['', ' ', '\n\t '];

describe('checkStatement: accepted everywhere', () => {
  for (const [name, context] of Object.entries(CONTEXTS) as Array<[ContextName, StatementContext]>) {
    it.each(ALWAYS_ACCEPTED)(`${name}: accepts %j`, async (sql) => {
      expect(await outcome(sql, context)).toBe('ok');
    });
  }
});

describe('checkStatement: transaction control, the transaction\u2019s mode, its role, session resets', () => {
  for (const name of ['TX', 'RO', 'RO_TX'] as const) {
    it.each(TRANSACTION_BOUND)(`${name}: refuses %j`, async (sql) => {
      const err = await refusal(sql, CONTEXTS[name]);
      expect(err.code).toBe('STATEMENT_NOT_ALLOWED');
      expect(err.message).toMatch(/^the statement: /);
      expect(err.message).toMatch(CONTEXTS[name].inTransaction ? /inside a transaction that dbaas runs/ : /in a read-only query/);
      expect(err.details).toEqual({});
    });
  }

  it.each(TRANSACTION_BOUND)('RW (a plain /query) accepts %j', async (sql) => {
    expect(await outcome(sql, RW)).toBe('ok');
  });
});

describe('checkStatement: not exactly one statement', () => {
  for (const [name, context] of Object.entries(CONTEXTS) as Array<[ContextName, StatementContext]>) {
    it.each(NEVER_ONE_STATEMENT)(`${name}: refuses %j`, async (sql) => {
      const err = await refusal(sql, context);
      expect(err.code).toBe('STATEMENT_NOT_ALLOWED');
      expect(err.message).toMatch(/holds 2 statements; send one per query \(use \/transaction for several\)/);
    });

    it.each(EMPTY)(`${name}: refuses %j, which holds no statement`, async (sql) => {
      const err = await refusal(sql, context);
      expect(err.code).toBe('STATEMENT_NOT_ALLOWED');
      expect(err.message).toBe('the statement holds no SQL statement');
    });
  }

  it('refuses empty and white-space-only SQL like comment-only SQL: STATEMENT_NOT_ALLOWED, not a syntax error', async () => {
    // libpg-query throws "Query cannot be empty" for these (no cursor position) where it returns
    // zero statements for comments; PostgreSQL answers an empty query without an error at all.
    for (const context of Object.values(CONTEXTS)) {
      for (const sql of BLANK) {
        const err = await refusal(sql, context);
        expect({ sql, code: err.code, message: err.message }).toEqual({
          sql,
          code: 'STATEMENT_NOT_ALLOWED',
          message: 'the statement holds no SQL statement',
        });
      }
    }
    const indexed = await refusal('  ', TX, 3);
    expect({ code: indexed.code, message: indexed.message, details: indexed.details }).toEqual({
      code: 'STATEMENT_NOT_ALLOWED',
      message: 'statement 4 holds no SQL statement',
      details: { statementIndex: 3 },
    });
  });

  it('counts every statement', async () => {
    const err = await refusal('SELECT 1; SELECT 2; SELECT 3', RW);
    expect(err.message).toMatch(/holds 3 statements/);
  });
});

describe('checkStatement: messages', () => {
  it.each([
    ['COMMIT', 'transaction control (COMMIT)'],
    ['END', 'transaction control (COMMIT)'],
    ['ABORT', 'transaction control (ROLLBACK)'],
    ['START TRANSACTION READ WRITE', 'transaction control (START)'],
    ['BEGIN', 'transaction control (BEGIN)'],
    ["PREPARE TRANSACTION 'x'", 'transaction control (PREPARE)'],
    ["COMMIT PREPARED 'x'", 'transaction control (COMMIT PREPARED)'],
    ["ROLLBACK PREPARED 'x'", 'transaction control (ROLLBACK PREPARED)'],
    ['SAVEPOINT a', 'transaction control (SAVEPOINT)'],
    ['RELEASE a', 'transaction control (RELEASE)'],
    ['ROLLBACK TO SAVEPOINT a', 'transaction control (ROLLBACK TO)'],
    ['SET LOCAL transaction_read_only = off', 'changing transaction_read_only'],
    ['SET "Transaction_Read_Only" = off', 'changing transaction_read_only'],
    ['SET TRANSACTION READ WRITE', 'changing transaction'],
    ['SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE', 'changing session characteristics'],
    ['SET ROLE postgres', 'changing role'],
    ['SET SESSION AUTHORIZATION postgres', 'changing session_authorization'],
    ['RESET ALL', 'RESET ALL'],
    ['DISCARD ALL', 'DISCARD'],
  ])('%j names what it is: %s', async (sql, what) => {
    const err = await refusal(sql, TX);
    expect(err.message).toContain(what);
  });

  it('says dbaas begins and commits the transaction', async () => {
    expect((await refusal('COMMIT', TX)).message).toBe(
      'the statement: transaction control (COMMIT) is not allowed inside a transaction that dbaas runs: dbaas begins and commits it',
    );
    expect((await refusal('ROLLBACK', RO)).message).toBe(
      'the statement: transaction control (ROLLBACK) is not allowed in a read-only query: dbaas begins and commits it',
    );
  });
});

describe('checkStatement: syntax errors', () => {
  for (const [name, context] of Object.entries(CONTEXTS) as Array<[ContextName, StatementContext]>) {
    it(`${name}: SELEC 1 is a SQL_ERROR at position 1 with SQLSTATE 42601`, async () => {
      const err = await refusal('SELEC 1', context);
      expect(err.code).toBe('SQL_ERROR');
      expect(err.details).toEqual({ sqlstate: '42601', position: '1' });
      expect(err.message).toBe('the statement is not valid SQL: syntax error at or near "SELEC"');
    });
  }

  it('gives a 1-based position, like PostgreSQL', async () => {
    expect((await refusal('SELECT 1 FROM', RW)).details).toEqual({ sqlstate: '42601', position: '14' });
    expect((await refusal('SELECT 1,, 2', RW)).details).toEqual({ sqlstate: '42601', position: '10' });
    const err = await refusal('SELECT (1', TX);
    expect(err.code).toBe('SQL_ERROR');
    expect(err.message).toMatch(/syntax error at end of input/);
  });

  it('reports a syntax error before counting statements', async () => {
    const err = await refusal('SELECT 1; SELEC 2', TX);
    expect(err.code).toBe('SQL_ERROR');
    expect(err.details).toMatchObject({ sqlstate: '42601', position: '11' });
  });

  it('reports an unterminated string or comment as a syntax error', async () => {
    for (const sql of ["SELECT 'COMMIT", 'SELECT $$COMMIT', 'SELECT 1 /* COMMIT']) {
      const err = await refusal(sql, TX);
      expect(err.code).toBe('SQL_ERROR');
      expect(err.details).toMatchObject({ sqlstate: '42601' });
    }
  });
});

describe('checkStatement: the statement index of a transaction', () => {
  it('names the statement (1-based) and gives statementIndex (0-based) for a refusal', async () => {
    const err = await refusal('COMMIT', TX, 2);
    expect(err.code).toBe('STATEMENT_NOT_ALLOWED');
    expect(err.message).toMatch(/^statement 3: transaction control \(COMMIT\)/);
    expect(err.details).toEqual({ statementIndex: 2 });
  });

  it('gives statementIndex 0 for the first statement', async () => {
    const err = await refusal('SET ROLE postgres', TX, 0);
    expect(err.message).toMatch(/^statement 1: /);
    expect(err.details).toEqual({ statementIndex: 0 });
  });

  it('gives statementIndex for several statements in one entry, and an empty one', async () => {
    const several = await refusal('SELECT 1; SELECT 2', TX, 4);
    expect(several.message).toBe('statement 5 holds 2 statements; send one per entry of statements');
    expect(several.details).toEqual({ statementIndex: 4 });
    const empty = await refusal('-- nothing', TX, 1);
    expect(empty.message).toBe('statement 2 holds no SQL statement');
    expect(empty.details).toEqual({ statementIndex: 1 });
  });

  it('gives statementIndex with the position of a syntax error', async () => {
    const err = await refusal('SELEC 1', TX, 1);
    expect(err.code).toBe('SQL_ERROR');
    expect(err.message).toMatch(/^statement 2 is not valid SQL: /);
    expect(err.details).toEqual({ sqlstate: '42601', position: '1', statementIndex: 1 });
  });

  it('accepts an allowed statement whatever the index', async () => {
    expect(await outcome('SELECT 1', TX, 7)).toBe('ok');
  });
});

describe('refusalOf', () => {
  it('lets anything through outside a transaction or read-only context', () => {
    expect(refusalOf({ TransactionStmt: { kind: 'TRANS_STMT_COMMIT' } }, RW)).toBeNull();
    expect(refusalOf({ VariableSetStmt: { kind: 'VAR_RESET_ALL' } }, RW)).toBeNull();
    expect(refusalOf({ DiscardStmt: {} }, RW)).toBeNull();
  });

  it('lets a statement without a node or of another type through', () => {
    expect(refusalOf(undefined, TX)).toBeNull();
    expect(refusalOf({ SelectStmt: {} }, TX)).toBeNull();
    expect(refusalOf({ VariableSetStmt: { kind: 'VAR_SET_VALUE', name: 'search_path' } }, TX)).toBeNull();
  });

  it('refuses the guarded ones with a reason', () => {
    expect(refusalOf({ TransactionStmt: { kind: 'TRANS_STMT_ROLLBACK_TO' } }, RO)).toBe(
      'transaction control (ROLLBACK TO) is not allowed in a read-only query: dbaas begins and commits it',
    );
    expect(refusalOf({ VariableSetStmt: { kind: 'VAR_SET_VALUE', name: 'ROLE' } }, TX)).toBe(
      'changing role is not allowed inside a transaction that dbaas runs',
    );
    expect(refusalOf({ DiscardStmt: {} }, RO_TX)).toBe('DISCARD is not allowed inside a transaction that dbaas runs');
  });
});
