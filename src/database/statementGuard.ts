import type { parseSync } from 'libpg-query';
import { DbaasError } from '../errors.js';

/**
 * Decides, with PostgreSQL's own grammar (libpg-query), whether SQL a user sent may run where the
 * data API runs it. Inside `/transaction` and a read-only `/query` dbaas owns the transaction: a
 * statement that ends it (COMMIT, ROLLBACK, PREPARE TRANSACTION...), opens another, or changes
 * its read-only mode would let the rest of the request run outside what the caller was promised
 * (all or nothing, read-only). Such statements are refused before anything runs. Regular
 * expressions cannot do this: comments, quoting and dollar-quoting hide keywords from them.
 */

/** Settings that change what kind of transaction this is, or who runs it. */
const TRANSACTION_SETTINGS = new Set([
  'transaction_read_only',
  'default_transaction_read_only',
  'transaction_isolation',
  'default_transaction_isolation',
  'transaction_deferrable',
  'default_transaction_deferrable',
  'session_authorization',
  'role',
  // SET TRANSACTION ... and SET SESSION CHARACTERISTICS AS TRANSACTION ... parse to these names.
  'transaction',
  'session characteristics',
]);

export interface StatementContext {
  /** Runs inside a transaction dbaas opened (every statement of /transaction). */
  inTransaction: boolean;
  /** The caller asked for read-only. */
  readOnly: boolean;
}

let loading: Promise<typeof parseSync> | undefined;

/**
 * The parser is WebAssembly, imported and loaded once on first use (a few ms, and its
 * protobuf runtime): commands that never check SQL (dbaas list) never load it.
 */
function parser(): Promise<typeof parseSync> {
  loading ??= import('libpg-query').then(async (lib) => {
    await lib.loadModule();
    return lib.parseSync;
  });
  return loading;
}

interface ParsedStatement {
  stmt?: Record<string, { kind?: string; name?: string } | undefined>;
}

function refused(message: string, details: Record<string, unknown>): DbaasError {
  return new DbaasError('STATEMENT_NOT_ALLOWED', message, details);
}

/** Why a parsed statement may not run in this context, or null when it may. */
export function refusalOf(node: ParsedStatement['stmt'], context: StatementContext): string | null {
  if (!node) return null;
  const [type, body] = Object.entries(node)[0] ?? [];
  const guarded = context.inTransaction || context.readOnly;
  if (!guarded) return null;
  const where = context.inTransaction ? 'inside a transaction that dbaas runs' : 'in a read-only query';
  if (type === 'TransactionStmt') {
    const kind = String(body?.kind ?? '').replace(/^TRANS_STMT_/, '').replace(/_/g, ' ');
    return `transaction control (${kind}) is not allowed ${where}: dbaas begins and commits it`;
  }
  if (type === 'VariableSetStmt') {
    if (body?.kind === 'VAR_RESET_ALL') return `RESET ALL is not allowed ${where}`;
    const name = String(body?.name ?? '').toLowerCase();
    if (TRANSACTION_SETTINGS.has(name)) return `changing ${name} is not allowed ${where}`;
  }
  if (type === 'DiscardStmt') return `DISCARD is not allowed ${where}`;
  return null;
}

/**
 * Parses `sql` and throws unless it is exactly one statement that may run in `context`:
 * a syntax error is SQL_ERROR with PostgreSQL's message and position (SQLSTATE 42601), several
 * statements or a refused one are STATEMENT_NOT_ALLOWED. `index` names the statement of a
 * transaction in the message.
 */
export async function checkStatement(sql: string, context: StatementContext, index?: number): Promise<void> {
  const which = index === undefined ? 'the statement' : `statement ${index + 1}`;
  const at = index !== undefined ? { statementIndex: index } : {};
  // The parser calls blank input an error; it is the same as comment-only SQL: no statement.
  if (sql.trim() === '') throw refused(`${which} holds no SQL statement`, at);
  const parse = await parser();
  let statements: ParsedStatement[];
  try {
    statements = (parse(sql) as { stmts: ParsedStatement[] }).stmts;
  } catch (err) {
    const details = (err as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
    const message = details?.message ?? (err as Error).message;
    throw new DbaasError('SQL_ERROR', `${which} is not valid SQL: ${message}`, {
      sqlstate: '42601',
      ...(details?.cursorPosition !== undefined ? { position: String(details.cursorPosition + 1) } : {}),
      ...(index !== undefined ? { statementIndex: index } : {}),
    });
  }
  if (statements.length === 0) throw refused(`${which} holds no SQL statement`, at);
  if (statements.length > 1) {
    throw refused(
      `${which} holds ${statements.length} statements; send one per ${index === undefined ? 'query (use /transaction for several)' : 'entry of statements'}`,
      at,
    );
  }
  const reason = refusalOf(statements[0]?.stmt, context);
  if (reason) throw refused(`${which}: ${reason}`, at);
}
