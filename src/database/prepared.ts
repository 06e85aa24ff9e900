import { createHash } from 'node:crypto';
import type pg from 'pg';

/**
 * Named prepared statements for the SQL the data API builds itself. The server parses and plans
 * a statement once per connection instead of once per request, which is most of PostgreSQL's
 * work for a small read. Names come from the text, so one query shape is one statement whatever
 * its values. A connection keeps at most MAX_PER_CONNECTION; past that, statements run unnamed.
 */

const MAX_PER_CONNECTION = 1000;
const names = new Map<string, string>();

function nameOf(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    if (names.size >= 10_000) names.clear();
    name = `dbaas_${createHash('sha1').update(text).digest('base64url').slice(0, 22)}`;
    names.set(text, name);
  }
  return name;
}

/** What node-postgres remembers of the statements a connection has parsed (not part of its typed API). */
interface ParsedStatements {
  parsedStatements: Record<string, string>;
  submittedNamedStatements?: Record<string, string>;
}

function statementsOf(client: pg.ClientBase): ParsedStatements | undefined {
  const connection = (client as unknown as { connection?: ParsedStatements }).connection;
  return connection && typeof connection.parsedStatements === 'object' ? connection : undefined;
}

/**
 * Tells node-postgres that the server forgot the connection's statements (DISCARD ALL, or a
 * DEALLOCATE ALL in SQL a user sent), so that it parses them again instead of binding to nothing.
 */
export function forgetPrepared(client: pg.ClientBase): void {
  const statements = statementsOf(client);
  if (statements) statements.parsedStatements = {};
}

/** The server no longer has the statement, or a table under it changed shape. */
function isStalePlan(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === '26000' || (code === '0A000' && /cached plan/i.test((err as Error).message ?? ''));
}

/**
 * Runs `text` as a named prepared statement. A statement gone stale is dropped and, outside a
 * transaction (which the failure aborted), run once more.
 */
export async function queryPrepared<R extends pg.QueryResultRow>(
  client: pg.ClientBase,
  text: string,
  values: unknown[],
  options: { inTransaction: boolean },
): Promise<pg.QueryResult<R>> {
  const statements = statementsOf(client);
  if (!statements) return client.query<R>(text, values);
  if (stale.has(client)) {
    // A statement went stale inside a transaction that the failure aborted: start over now.
    await client.query('DEALLOCATE ALL');
    forgetPrepared(client);
    stale.delete(client);
  }
  if (Object.keys(statements.parsedStatements).length >= MAX_PER_CONNECTION) return client.query<R>(text, values);
  const name = nameOf(text);
  try {
    return await client.query<R>({ name, text, values });
  } catch (err) {
    if (!isStalePlan(err)) throw err;
    if (options.inTransaction) {
      stale.add(client);
      throw err;
    }
    await client.query('DEALLOCATE ALL');
    forgetPrepared(client);
    return client.query<R>({ name, text, values });
  }
}

/** Connections whose statements must all be dropped before the next one runs. */
const stale = new WeakSet<pg.ClientBase>();
