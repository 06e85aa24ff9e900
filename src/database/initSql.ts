import pg from 'pg';
import { DbaasError } from '../errors.js';
import type { LoginTarget } from '../runtime/readiness.js';

/**
 * Runs the SQL a user gave at create, once, as the application role over TCP. It runs as that
 * role for real (not as a superuser behind SET ROLE, which SQL could undo), and as one simple-query
 * message, which PostgreSQL executes as a single implicit transaction: all of it or none.
 */
export async function runInitSql(target: LoginTarget, sql: string, timeoutMs: number): Promise<void> {
  const client = new pg.Client({ ...target, connectionTimeoutMillis: 5000, statement_timeout: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query(sql);
  } catch (err) {
    const e = err as { message: string; code?: string; position?: string };
    throw new DbaasError(
      'INIT_SQL_FAILED',
      `the init SQL failed: ${e.message}${e.code ? ` (SQLSTATE ${e.code}${e.position ? `, at character ${e.position}` : ''})` : ''}`,
      { step: 'init-sql', ...(e.code ? { sqlstate: e.code } : {}) },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}
