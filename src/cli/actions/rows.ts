import { DbaasError } from '../../errors.js';
import type { CliServices } from '../../client/remoteServices.js';
import { parseRowsQuery, RESERVED_PARAMS, type RowsQuery } from '../../database/service.js';
import { readFileArg } from '../input.js';
import { columnsOf, printJson, printRows } from '../output.js';
import { formatOf, note, parseJson, withData, type Format, type OutputOptions } from './data.js';

/** What `dbaas rows list|get|insert|update|delete` do (their flags and help: commands/rows.ts). */

interface RowsOptions extends OutputOptions {
  where?: string[];
  select?: string;
  order?: string;
  limit?: number;
  offset?: number;
  after?: string;
  count?: boolean;
  key?: string;
  data?: string;
  onConflict?: string;
  returning?: string;
  force?: boolean;
}

export async function list(ref: string, table: string, opts: RowsOptions): Promise<void> {
  await withData(opts, async (data) => {
    const format = formatOf(opts);
    const q = rowsQuery(data, opts);
    const page = await data.listRows(ref, table, q);
    if (format === 'json') return printJson(page);
    let columns = columnsOf(page.rows);
    if (format === 'csv' && columns.length === 0) {
      // No row to take the header from: the catalog gives it.
      columns = q.select === '*' ? (await data.describeTable(ref, table)).columns.map((c) => c.name) : q.select;
    }
    printRows(format, page.rows, columns);
    const more =
      page.next !== undefined
        ? `; next page: --after ${page.next}`
        : opts.after === undefined && page.count === undefined && page.limit > 0 && page.rows.length === page.limit
          ? `; more may follow (--offset ${page.offset + page.limit})`
          : '';
    note(format, `SELECT ${page.rows.length}${page.count !== undefined ? ` of ${page.count}` : ''}${more}`);
  });
}

export async function get(ref: string, table: string, opts: RowsOptions): Promise<void> {
  await withData(opts, async (data) => {
    const format = formatOf(opts);
    let row: unknown;
    if (keyOrWhere(opts, 'rows get', true) === 'key') {
      row = await data.getRow(ref, table, opts.key as string, rowsQuery(data, { select: opts.select }).select);
    } else {
      const page = await data.listRows(ref, table, rowsQuery(data, { ...opts, limit: 2 }));
      if (page.rows.length === 0) throw new DbaasError('ROW_NOT_FOUND', `no row of ${table} matches ${(opts.where ?? []).join(' and ')}`, { table });
      if (page.rows.length > 1) throw new DbaasError('USAGE', `more than one row of ${table} matches; narrow --where or use dbaas rows list`);
      row = page.rows[0];
    }
    if (format === 'json') return printJson(row);
    printRows(format, [row]);
  });
}

export async function insert(ref: string, table: string, opts: RowsOptions): Promise<void> {
  await withData(opts, async (data) => {
    const format = formatOf(opts);
    const body = readData(opts.data as string);
    const result = await data.insertRows(ref, table, body, rowsQuery(data, opts));
    printWrite(format, 'INSERT', result);
  });
}

export async function update(ref: string, table: string, opts: RowsOptions): Promise<void> {
  await withData(opts, async (data) => {
    const format = formatOf(opts);
    const body = readData(opts.data as string);
    if (keyOrWhere(opts, 'rows update', false) === 'key') {
      const returning = rowsQuery(data, { returning: opts.returning }).returning;
      printKeyedWrite(format, 'UPDATE', await data.updateRow(ref, table, opts.key as string, body, returning), returning === null);
    } else {
      printWrite(format, 'UPDATE', await cliWording('an update without a filter changes every row', data.updateRows(ref, table, body, rowsQuery(data, opts))));
    }
  });
}

export async function remove(ref: string, table: string, opts: RowsOptions): Promise<void> {
  await withData(opts, async (data) => {
    const format = formatOf(opts);
    if (keyOrWhere(opts, 'rows delete', false) === 'key') {
      const returning = rowsQuery(data, { returning: opts.returning }).returning;
      printKeyedWrite(format, 'DELETE', await data.deleteRow(ref, table, opts.key as string, returning), returning === null);
    } else {
      printWrite(format, 'DELETE', await cliWording('a delete without a filter removes every row', data.deleteRows(ref, table, rowsQuery(data, opts))));
    }
  });
}

// ---- from flags to the REST routes' query ----------------------------------------------------

/**
 * The flags as the query object of the REST routes, parsed by the same parseRowsQuery: each
 * `--where col=op.value` is split at its first '=' into a column and a filter.
 */
function rowsQuery(data: CliServices['data'], opts: RowsOptions): RowsQuery {
  const query: Record<string, string | string[] | undefined> = {};
  for (const expression of opts.where ?? []) {
    const eq = expression.indexOf('=');
    const column = eq < 0 ? '' : expression.slice(0, eq).trim();
    if (!column) throw new DbaasError('USAGE', `--where takes column=op.value (e.g. id=eq.5), got "${expression}"`);
    if ((RESERVED_PARAMS as readonly string[]).includes(column)) {
      throw new DbaasError('USAGE', `--where cannot filter on a column named "${column}" (a reserved word of the filter syntax); use dbaas query`);
    }
    const previous = query[column];
    query[column] = previous === undefined ? [expression.slice(eq + 1)] : [...(previous as string[]), expression.slice(eq + 1)];
  }
  Object.assign(query, {
    select: opts.select,
    order: opts.order,
    limit: opts.limit?.toString(),
    offset: opts.offset?.toString(),
    after: opts.after,
    count: opts.count ? 'exact' : undefined,
    on_conflict: opts.onConflict,
    returning: opts.returning,
    force: opts.force ? 'true' : undefined,
  });
  return parseRowsQuery(query, { defaultLimit: data.settings.rowsDefaultLimit, maxLimit: data.settings.rowsMaxLimit });
}

function keyOrWhere(opts: RowsOptions, verb: string, required: boolean): 'key' | 'where' | 'none' {
  if (opts.key !== undefined && opts.where?.length) throw new DbaasError('USAGE', `${verb}: give --key or --where, not both`);
  if (opts.key !== undefined) return 'key';
  if (opts.where?.length) return 'where';
  if (required) throw new DbaasError('USAGE', `${verb}: give --key <primary key> or --where col=op.value`);
  return 'none';
}

/** `--data '{"a":1}'`, `--data @rows.json`, `--data @-` (stdin). */
function readData(value: string): unknown {
  if (value.startsWith('@')) return parseJson(readFileArg(value.slice(1), '--data file'), `--data ${value}`);
  return parseJson(value, '--data');
}

/** The service refuses an unfiltered update or delete in the API's words (force=true); say it in the CLI's. */
async function cliWording<T>(what: string, operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (err) {
    if (err instanceof DbaasError && err.code === 'FILTER_REQUIRED') {
      throw new DbaasError('FILTER_REQUIRED', `${what}: add --where or --key, or --force to mean it`, err.details);
    }
    throw err;
  }
}

// ---- output ---------------------------------------------------------------------------------

/** Writes (insert, update, delete): the rows written unless --returning none, and a tag. */
function printWrite(format: Format, command: string, result: { count: number; rows?: unknown[] }): void {
  if (format === 'json') return printJson(result);
  if (result.rows) printRows(format, result.rows);
  note(format, `${command} ${result.count}`);
}

/** A write by primary key returns the row, or `{count: 1}` with --returning none. */
function printKeyedWrite(format: Format, command: string, result: unknown, returningNone: boolean): void {
  if (format === 'json') return printJson(result);
  if (!returningNone) printRows(format, [result]);
  note(format, `${command} 1`);
}
