import { z } from 'zod';
import type { QueryResult, Statement } from '../../database/service.js';
import { parseInput } from '../../validate.js';
import { readFileArg } from '../input.js';
import { printJson, printRows } from '../output.js';
import { formatOf, note, parseJson, withData, type OutputOptions } from './data.js';

/** What `dbaas query` and `dbaas transaction` do (their flags and help: commands/sql.ts). */

interface SqlOptions extends OutputOptions {
  readOnly?: boolean;
  timeout?: number;
}

export async function query(ref: string, sql: string, opts: SqlOptions & { param?: string[] }): Promise<void> {
  await withData(opts, async (data) => {
    const format = formatOf(opts);
    const text = sql === '-' ? readFileArg('-', 'SQL from') : sql;
    const result = await data.query(ref, { sql: text, params: opts.param ?? [], readOnly: Boolean(opts.readOnly), timeoutMs: opts.timeout });
    if (format === 'json') return printJson(result);
    if (result.fields.length) printRows(format, result.rows, result.fields.map((f) => f.name));
    note(format, tag(result) + (result.truncated ? ` (truncated: the server returns at most ${result.rows.length} rows)` : ''));
  });
}

const StatementFileSchema = z.object({ sql: z.string().min(1), params: z.array(z.unknown()).optional() }).strict();
const TransactionFileSchema = z
  .object({
    statements: z.array(StatementFileSchema).min(1, 'give at least one statement'),
    readOnly: z.boolean().optional(),
    timeoutMs: z.number().int().min(1).optional(),
  })
  .strict();

export async function transaction(ref: string, opts: SqlOptions & { file: string }): Promise<void> {
  await withData(opts, async (data) => {
    const format = formatOf(opts);
    const doc = parseJson(readFileArg(opts.file, 'statements file'), `statements file ${opts.file}`);
    const input = parseInput(TransactionFileSchema, Array.isArray(doc) ? { statements: doc } : doc);
    const done = await data.transaction(ref, {
      statements: input.statements as Statement[],
      readOnly: opts.readOnly || input.readOnly,
      timeoutMs: opts.timeout ?? input.timeoutMs,
    });
    if (format === 'json') return printJson(done);
    const { results } = done;
    const last = results[results.length - 1];
    if (last?.fields.length) printRows(format, last.rows, last.fields.map((f) => f.name));
    results.forEach((r, i) => note(format, `${results.length > 1 ? `${i + 1}: ` : ''}${tag(r)}${r.truncated ? ' (truncated)' : ''}`));
  });
}

/** The command tag psql prints: "SELECT 3", "CREATE TABLE". */
function tag(result: Pick<QueryResult, 'command' | 'rowCount'>): string {
  return result.rowCount === null ? result.command : `${result.command} ${result.rowCount}`;
}
