import type { Command } from 'commander';
import { z } from 'zod';
import type { TableInfo, TableSummary } from '../../database/catalog.js';
import { CreateTableSchema } from '../../database/ddl.js';
import { DataService, parseRowsQuery, RESERVED_PARAMS, type QueryResult, type RowsQuery, type Statement } from '../../database/service.js';
import { DbaasError } from '../../errors.js';
import type { Manager } from '../../instances/manager.js';
import { formatSize } from '../../instances/size.js';
import { parseInput } from '../../validate.js';
import { withManager, type CommonOptions } from '../context.js';
import { printFields, printJson, printTable } from '../output.js';
import { confirm, readFileArg } from '../input.js';

/**
 * The data API on the command line: `dbaas tables`, `dbaas rows`, `dbaas query`, `dbaas
 * transaction`. Every command goes through DataService, the same code the REST routes call, so
 * filters, validation and error codes are those of the API. Rows print as a table (NULL shows as
 * NULL, objects and arrays as compact JSON), `--json` prints the service's result as one
 * document, `--csv` prints RFC 4180 CSV with a header row (NULL is an empty field, an empty
 * string is "").
 */

interface OutputOptions extends CommonOptions {
  csv?: boolean;
}

type Format = 'table' | 'json' | 'csv';

function formatOf(opts: OutputOptions): Format {
  if (opts.json && opts.csv) throw new DbaasError('USAGE', 'give --json or --csv, not both');
  return opts.json ? 'json' : opts.csv ? 'csv' : 'table';
}

/** Runs a command body with a DataService over the manager, and always closes its pools. */
async function withData(opts: CommonOptions, body: (data: DataService, manager: Manager) => Promise<void>): Promise<void> {
  await withManager(opts, async (manager) => {
    const data = new DataService(manager);
    try {
      await body(data, manager);
    } finally {
      await data.close();
    }
  });
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

// ---- reading input --------------------------------------------------------------------------


function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DbaasError('MALFORMED_REQUEST', `${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** `--data '{"a":1}'`, `--data @rows.json`, `--data @-` (stdin). */
function readData(value: string): unknown {
  if (value.startsWith('@')) return parseJson(readFileArg(value.slice(1), '--data file'), `--data ${value}`);
  return parseJson(value, '--data');
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new DbaasError('USAGE', `${flag} takes a positive whole number, got "${value}"`);
  return n;
}

// ---- output ---------------------------------------------------------------------------------

/** A value as a table cell: NULL as NULL, objects and arrays as compact JSON. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF; NULL is an empty field, '' is "". */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text === '' || /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(columns: string[], rows: Array<Record<string, unknown>>): string {
  const line = (fields: unknown[]) => fields.map(csvField).join(',') + '\r\n';
  return line(columns) + rows.map((row) => line(columns.map((c) => row[c]))).join('');
}

/** The columns of rows, in the order the first row has them (then any others). */
function columnsOf(rows: unknown[]): string[] {
  const names: string[] = [];
  for (const row of rows) for (const key of Object.keys(row as object)) if (!names.includes(key)) names.push(key);
  return names;
}

function printRows(format: 'table' | 'csv', rows: unknown[], columns = columnsOf(rows)): void {
  const records = rows as Array<Record<string, unknown>>;
  if (format === 'csv') {
    if (columns.length) process.stdout.write(toCsv(columns, records));
    return;
  }
  if (columns.length === 0) return;
  printTable(columns, records.map((row) => columns.map((c) => cell(row[c]))));
}

/** A status line for humans, on stderr so that stdout holds only the rows. */
function note(format: Format, line: string): void {
  if (format === 'table') process.stderr.write(line + '\n');
}

function tag(result: Pick<QueryResult, 'command' | 'rowCount'>): string {
  return result.rowCount === null ? result.command : `${result.command} ${result.rowCount}`;
}

// ---- rows query -----------------------------------------------------------------------------

interface RowsOptions extends OutputOptions {
  where?: string[];
  select?: string;
  order?: string;
  limit?: string;
  offset?: string;
  count?: boolean;
  key?: string;
  data?: string;
  onConflict?: string;
  returning?: string;
  force?: boolean;
}

/**
 * The flags as the query object of the REST routes, parsed by the same parseRowsQuery: each
 * `--where col=op.value` is split at its first '=' into a column and a filter.
 */
function rowsQuery(data: DataService, opts: RowsOptions, extra: Record<string, string> = {}): RowsQuery {
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
    limit: opts.limit,
    offset: opts.offset,
    count: opts.count ? 'exact' : undefined,
    on_conflict: opts.onConflict,
    returning: opts.returning,
    force: opts.force ? 'true' : undefined,
    ...extra,
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

// ---- tables ---------------------------------------------------------------------------------

const COLUMN_FLAGS = ['pk', 'notnull', 'unique', 'identity'] as const;

/** `--column id:bigint:pk:identity` into a column definition (validated with the rest by CreateTableSchema). */
function parseColumn(spec: string): Record<string, unknown> {
  const [name, type, ...flags] = spec.split(':');
  if (!name || !type) throw new DbaasError('USAGE', `--column takes name:type[:pk][:notnull][:unique][:identity], got "${spec}"`);
  const column: Record<string, unknown> = { name: name.trim(), type: type.trim() };
  for (const raw of flags) {
    const f = raw.trim().toLowerCase();
    if (!(COLUMN_FLAGS as readonly string[]).includes(f)) {
      throw new DbaasError('USAGE', `--column ${name}: unknown flag "${raw}"; use ${COLUMN_FLAGS.join(', ')} (a --file definition takes defaults too)`);
    }
    if (f === 'pk') column.primaryKey = true;
    if (f === 'notnull') column.nullable = false;
    if (f === 'unique') column.unique = true;
    if (f === 'identity') column.identity = true;
  }
  return column;
}

/** `schema.table` or `table`, with --schema as the other way to name the schema. */
function splitTableName(table: string, schema: string | undefined): { schema?: string; name: string } {
  const dot = table.indexOf('.');
  if (dot < 0) return { schema, name: table };
  const named = table.slice(0, dot);
  if (schema !== undefined && schema !== named) throw new DbaasError('USAGE', `${table} names schema ${named}, --schema says ${schema}`);
  return { schema: named, name: table.slice(dot + 1) };
}

interface CreateTableOptions extends CommonOptions {
  column?: string[];
  file?: string;
  schema?: string;
  ifNotExists?: boolean;
}

function tableDefinition(table: string | undefined, opts: CreateTableOptions): z.output<typeof CreateTableSchema> {
  if (opts.file && opts.column?.length) throw new DbaasError('USAGE', 'give --column flags or --file, not both');
  let doc: Record<string, unknown>;
  if (opts.file) {
    const parsed = parseJson(readFileArg(opts.file, 'table definition'), `table definition ${opts.file}`);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new DbaasError('VALIDATION_FAILED', 'a table definition is a JSON object with name, columns and optionally schema, primaryKey, ifNotExists');
    }
    doc = { ...(parsed as Record<string, unknown>) };
    if (table !== undefined) {
      const named = splitTableName(table, opts.schema);
      for (const [key, value] of Object.entries(named)) {
        if (value === undefined) continue;
        if (doc[key] !== undefined && doc[key] !== value) {
          throw new DbaasError('USAGE', `the command line says ${key} ${value}, ${opts.file} says ${String(doc[key])}`);
        }
        doc[key] = value;
      }
    } else if (opts.schema !== undefined) {
      if (doc.schema !== undefined && doc.schema !== opts.schema) throw new DbaasError('USAGE', `--schema says ${opts.schema}, ${opts.file} says ${String(doc.schema)}`);
      doc.schema = opts.schema;
    }
  } else {
    if (!opts.column?.length) throw new DbaasError('USAGE', 'give the columns: --column name:type[:pk][:notnull][:unique][:identity] (repeatable) or --file def.json');
    if (table === undefined) throw new DbaasError('USAGE', 'name the table: dbaas tables create <instance> <table> --column ...');
    const named = splitTableName(table, opts.schema);
    doc = { ...(named.schema !== undefined ? { schema: named.schema } : {}), name: named.name, columns: opts.column.map(parseColumn) };
  }
  if (opts.ifNotExists) doc.ifNotExists = true;
  return parseInput(CreateTableSchema, doc);
}

function printTableInfo(info: TableInfo): void {
  printFields([
    ['table', `${info.schema}.${info.name} (${info.kind})`],
    ['primary key', info.primaryKey.length ? info.primaryKey.join(', ') : null],
  ]);
  printTable(
    ['COLUMN', 'TYPE', 'NULLABLE', 'DEFAULT', 'KEY'],
    info.columns.map((c) => [
      c.name,
      c.type,
      c.nullable ? 'yes' : 'no',
      c.identity ? 'identity' : c.generated ? `generated: ${c.default ?? ''}` : c.default,
      info.primaryKey.includes(c.name) ? 'pk' : '',
    ]),
  );
  if (info.foreignKeys.length) {
    process.stdout.write('foreign keys:\n');
    for (const fk of info.foreignKeys) {
      process.stdout.write(
        `  ${fk.name}: (${fk.columns.join(', ')}) -> ${fk.references.schema}.${fk.references.table} (${fk.references.columns.join(', ')})` +
          ` on update ${fk.onUpdate}, on delete ${fk.onDelete}\n`,
      );
    }
  }
  if (info.indexes.length) {
    process.stdout.write('indexes:\n');
    for (const ix of info.indexes) process.stdout.write(`  ${ix.name}: ${ix.definition}\n`);
  }
}

function printTables(format: Format, tables: TableSummary[]): void {
  if (format === 'json') return printJson({ tables });
  if (format === 'csv') {
    process.stdout.write(
      toCsv(
        ['schema', 'name', 'kind', 'estimated_rows', 'size_bytes'],
        tables.map((t) => ({ schema: t.schema, name: t.name, kind: t.kind, estimated_rows: t.estimatedRows, size_bytes: t.sizeBytes })),
      ),
    );
    return;
  }
  if (tables.length === 0) {
    process.stdout.write('no tables; create one with `dbaas tables create <instance> <table> --column id:bigint:pk:identity ...`\n');
    return;
  }
  printTable(
    ['SCHEMA', 'NAME', 'KIND', 'EST. ROWS', 'SIZE'],
    tables.map((t) => [t.schema, t.name, t.kind, t.estimatedRows, formatSize(t.sizeBytes)]),
  );
}


// ---- SQL ------------------------------------------------------------------------------------

const StatementFileSchema = z.object({ sql: z.string().min(1), params: z.array(z.unknown()).optional() }).strict();
const TransactionFileSchema = z
  .object({
    statements: z.array(StatementFileSchema).min(1, 'give at least one statement'),
    readOnly: z.boolean().optional(),
    timeoutMs: z.number().int().min(1).optional(),
  })
  .strict();

function printQueryResult(format: Format, result: QueryResult): void {
  if (result.fields.length) printRows(format as 'table' | 'csv', result.rows, result.fields.map((f) => f.name));
  note(format, tag(result) + (result.truncated ? ` (truncated: the server returns at most ${result.rows.length} rows)` : ''));
}

// ---- registration ---------------------------------------------------------------------------

const OUTPUT_HELP = `
Output: a table (NULL shows as NULL, objects and arrays as compact JSON) with a status line
like "SELECT 3" or "INSERT 2" on stderr; --json prints the result as one JSON document,
--csv prints RFC 4180 CSV with a header row (NULL is an empty field, an empty string is "").`;

export function registerDatabaseCommands(program: Command): void {
  // ---- dbaas tables ----
  const tables = program
    .command('tables')
    .description('list, describe, create and drop tables (`dbaas tables <instance>` lists them)')
    .addHelpText(
      'after',
      `
\`dbaas tables <instance>\` is short for \`dbaas tables list <instance>\`; use the long form for an
instance named list, describe, create, drop or help.

Examples:
  dbaas tables orders-db
  dbaas tables describe orders-db public.orders
  dbaas tables create orders-db orders --column id:bigint:pk:identity --column "placed:timestamp with time zone:notnull" --column note:text
  dbaas tables create orders-db --file orders.json        (a CreateTable document; --file - reads stdin)
  dbaas tables drop orders-db orders --yes`,
    );

  tables
    .command('list', { isDefault: true })
    .description('tables and views: schema, name, kind, estimated rows, size (the default: `dbaas tables <instance>`)')
    .argument('<instance>', 'id or name')
    .option('--schema <schema>', 'only this schema')
    .option('--json', 'print JSON')
    .option('--csv', 'print CSV')
    .action(async (ref: string, opts: OutputOptions & { schema?: string }) => {
      await withData(opts, async (data) => {
        const format = formatOf(opts);
        printTables(format, await data.listTables(ref, opts.schema));
      });
    });

  tables
    .command('describe')
    .alias('show')
    .description('columns (type, nullability, default), primary key, foreign keys, indexes')
    .argument('<instance>', 'id or name')
    .argument('<table>', 'table or view: name (schema public) or schema.name')
    .option('--json', 'print JSON')
    .action(async (ref: string, table: string, opts: CommonOptions) => {
      await withData(opts, async (data) => {
        const info = await data.describeTable(ref, table);
        if (opts.json) printJson(info);
        else printTableInfo(info);
      });
    });

  tables
    .command('create')
    .description('create a table from --column flags or a JSON definition')
    .argument('<instance>', 'id or name')
    .argument('[table]', 'name or schema.name (with --file: optional, the file names it)')
    .option('-c, --column <name:type[:pk][:notnull][:unique][:identity]>', 'a column (repeatable); several :pk make a composite key', collect)
    .option('-f, --file <path>', 'a CreateTable JSON document {schema?, name, columns: [{name, type, nullable?, primaryKey?, unique?, identity?, default?, defaultExpression?}], primaryKey?, ifNotExists?} ("-" for stdin)')
    .option('--schema <schema>', 'schema of the table (default public)')
    .option('--if-not-exists', 'do nothing when the table exists')
    .option('--json', 'print JSON')
    .action(async (ref: string, table: string | undefined, opts: CreateTableOptions) => {
      await withData(opts, async (data) => {
        const def = tableDefinition(table, opts);
        const info = await data.createTable(ref, def);
        if (opts.json) return printJson(info);
        process.stderr.write(`created ${info.schema}.${info.name}\n`);
        printTableInfo(info);
      });
    });

  tables
    .command('drop')
    .description('drop a table or view with all its rows (asks for its name unless --yes)')
    .argument('<instance>', 'id or name')
    .argument('<table>', 'name or schema.name')
    .option('--cascade', 'also drop what depends on it (views, foreign keys)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'print JSON')
    .action(async (ref: string, table: string, opts: CommonOptions & { cascade?: boolean; yes?: boolean }) => {
      await withData(opts, async (data) => {
        await data.describeTable(ref, table); // an unknown table fails before the question
        if (!opts.yes) await confirm(table, 'drop', 'with all its rows');
        const result = await data.dropTable(ref, table, { confirm: true, cascade: Boolean(opts.cascade) });
        if (opts.json) printJson(result);
        else process.stdout.write(`dropped ${result.dropped}\n`);
      });
    });

  // ---- dbaas rows ----
  const rows = program
    .command('rows')
    .description('read and write rows without SQL: list, get, insert, update, delete')
    .addHelpText(
      'after',
      `
Filters: --where col=op.value (repeatable, AND-ed), as in the REST API: op is eq, neq, gt, gte, lt,
lte, like, ilike (* or % as wildcards), in.(a,b,"c,d"), is.null|true|false, each optionally
prefixed by not. (e.g. --where status=not.in.(done,failed)). --key is the primary key; for a
composite key its values in key order, comma-separated.
${OUTPUT_HELP}

Examples:
  dbaas rows list db orders --where status=eq.open --where total=gte.100 --order placed.desc --limit 20 --count
  dbaas rows get db orders --key 5
  dbaas rows insert db orders --data '[{"note":"a"},{"note":"b"}]'
  dbaas rows insert db orders --data @rows.json --on-conflict id --returning id
  dbaas rows update db orders --key 5 --data '{"status":"done"}'
  dbaas rows delete db orders --where status=eq.cancelled --returning none
  dbaas rows delete db orders --force                     (every row)`,
    );

  const where = (cmd: Command, what: string) => cmd.option('-w, --where <col=op.value>', `${what} (repeatable)`, collect);
  const output = (cmd: Command) => cmd.option('--json', 'print JSON').option('--csv', 'print CSV');

  output(
    where(
      rows
        .command('list')
        .alias('ls')
        .description('rows that match the filters, ordered and paged (a read-only transaction)')
        .argument('<instance>', 'id or name')
        .argument('<table>', 'name or schema.name'),
      'filter',
    )
      .option('-s, --select <columns>', 'columns to return, comma-separated')
      .option('-o, --order <terms>', 'col[.asc|.desc][.nullsfirst|.nullslast], comma-separated')
      .option('-l, --limit <n>', 'rows to return (capped by the server; default from its settings)')
      .option('--offset <n>', 'rows to skip')
      .option('--count', 'also count every matching row'),
  ).action(async (ref: string, table: string, opts: RowsOptions) => {
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
      const more = page.count === undefined && page.limit > 0 && page.rows.length === page.limit ? `; more may follow (--offset ${page.offset + page.limit})` : '';
      note(format, `SELECT ${page.rows.length}${page.count !== undefined ? ` of ${page.count}` : ''}${more}`);
    });
  });

  output(
    where(
      rows
        .command('get')
        .description('one row: by primary key (--key) or the only row that matches --where')
        .argument('<instance>', 'id or name')
        .argument('<table>', 'name or schema.name')
        .option('-k, --key <pk>', 'primary key value (composite: comma-separated, in key order)'),
      'filter that matches one row',
    ).option('-s, --select <columns>', 'columns to return, comma-separated'),
  ).action(async (ref: string, table: string, opts: RowsOptions) => {
    await withData(opts, async (data) => {
      const format = formatOf(opts);
      let row: unknown;
      if (keyOrWhere(opts, 'rows get', true) === 'key') {
        row = await data.getRow(ref, table, opts.key as string, rowsQuery(data, { select: opts.select }).select);
      } else {
        const page = await data.listRows(ref, table, rowsQuery(data, opts, { limit: '2' }));
        if (page.rows.length === 0) throw new DbaasError('ROW_NOT_FOUND', `no row of ${table} matches ${(opts.where ?? []).join(' and ')}`, { table });
        if (page.rows.length > 1) throw new DbaasError('USAGE', `more than one row of ${table} matches; narrow --where or use dbaas rows list`);
        row = page.rows[0];
      }
      if (format === 'json') return printJson(row);
      printRows(format, [row]);
    });
  });

  output(
    rows
      .command('insert')
      .description('insert one row (a JSON object) or many (an array) in one statement; upsert with --on-conflict')
      .argument('<instance>', 'id or name')
      .argument('<table>', 'name or schema.name')
      .requiredOption('-d, --data <json|@file>', "the row(s): JSON, or @file.json, or @- for stdin")
      .option('--on-conflict <columns>', 'columns of a unique key: colliding rows update the other columns')
      .option('--returning <columns>', 'columns of the written rows to print, * (default) or none'),
  ).action(async (ref: string, table: string, opts: RowsOptions) => {
    await withData(opts, async (data) => {
      const format = formatOf(opts);
      const body = readData(opts.data as string);
      const result = await data.insertRows(ref, table, body, rowsQuery(data, opts));
      printWrite(format, 'INSERT', result);
    });
  });

  output(
    where(
      rows
        .command('update')
        .description('set columns of one row (--key) or of the rows that match --where (--force: every row)')
        .argument('<instance>', 'id or name')
        .argument('<table>', 'name or schema.name')
        .requiredOption('-d, --data <json|@file>', 'the changes, a JSON object of column: value, or @file.json, or @- for stdin')
        .option('-k, --key <pk>', 'primary key value (composite: comma-separated, in key order)'),
      'filter',
    )
      .option('--returning <columns>', 'columns of the updated rows to print, * (default) or none')
      .option('--force', 'allow an update without --where or --key (every row)'),
  ).action(async (ref: string, table: string, opts: RowsOptions) => {
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
  });

  output(
    where(
      rows
        .command('delete')
        .alias('rm')
        .description('delete one row (--key) or the rows that match --where (--force: every row)')
        .argument('<instance>', 'id or name')
        .argument('<table>', 'name or schema.name')
        .option('-k, --key <pk>', 'primary key value (composite: comma-separated, in key order)'),
      'filter',
    )
      .option('--returning <columns>', 'columns of the deleted rows to print, * (default) or none')
      .option('--force', 'allow a delete without --where or --key (every row)'),
  ).action(async (ref: string, table: string, opts: RowsOptions) => {
    await withData(opts, async (data) => {
      const format = formatOf(opts);
      if (keyOrWhere(opts, 'rows delete', false) === 'key') {
        const returning = rowsQuery(data, { returning: opts.returning }).returning;
        printKeyedWrite(format, 'DELETE', await data.deleteRow(ref, table, opts.key as string, returning), returning === null);
      } else {
        printWrite(format, 'DELETE', await cliWording('a delete without a filter removes every row', data.deleteRows(ref, table, rowsQuery(data, opts))));
      }
    });
  });

  // ---- dbaas query ----
  program
    .command('query')
    .description('run one SQL statement with bound parameters, as the application role')
    .argument('<instance>', 'id or name')
    .argument('<sql>', 'one statement, $1, $2... bound to the --param values in order ("-" reads it from stdin)')
    .option('-p, --param <value>', 'a parameter (repeatable), sent as text: PostgreSQL casts it to the type the statement needs', collect)
    .option('--read-only', 'run in a READ ONLY transaction (a write fails with PERMISSION_DENIED)')
    .option('--timeout <ms>', 'statement timeout in ms (capped by the server)')
    .option('--json', 'print the result as JSON: command, rowCount, fields, rows, truncated')
    .option('--csv', 'print the rows as CSV')
    .addHelpText(
      'after',
      `
Parameters are strings: --param 5 binds the text '5', and PostgreSQL converts it to the type of
the placeholder (id = $1 compares as an integer); where the type cannot be inferred, cast it:
SELECT $1::int + 1. At most the server's queryMaxRows rows come back ("truncated" says so).
${OUTPUT_HELP}

Examples:
  dbaas query db "SELECT id, note FROM orders WHERE id > \\$1 ORDER BY id" --param 10
  dbaas query db "UPDATE orders SET status = 'done' WHERE id = \\$1" -p 5           (prints UPDATE 1 on stderr)
  echo "SELECT count(*) FROM orders" | dbaas query db - --csv`,
    )
    .action(async (ref: string, sql: string, opts: OutputOptions & { param?: string[]; readOnly?: boolean; timeout?: string }) => {
      await withData(opts, async (data) => {
        const format = formatOf(opts);
        const text = sql === '-' ? readFileArg('-', 'SQL from') : sql;
        const result = await data.query(ref, {
          sql: text,
          params: opts.param ?? [],
          readOnly: Boolean(opts.readOnly),
          timeoutMs: positiveInt(opts.timeout, '--timeout'),
        });
        if (format === 'json') return printJson(result);
        printQueryResult(format, result);
      });
    });

  // ---- dbaas transaction ----
  program
    .command('transaction')
    .alias('tx')
    .description('run statements from a JSON file in one transaction: all commit or none')
    .argument('<instance>', 'id or name')
    .requiredOption('-f, --file <path>', 'JSON: {"statements": [{"sql", "params"?}], "readOnly"?, "timeoutMs"?} or a plain array of statements ("-" for stdin)')
    .option('--read-only', 'run in a READ ONLY transaction')
    .option('--timeout <ms>', 'statement timeout in ms (capped by the server)')
    .option('--json', 'print every result as JSON: {results: [...]}')
    .option('--csv', 'print the rows of the last statement as CSV')
    .addHelpText(
      'after',
      `
Params in the file keep their JSON types (numbers, booleans, null). A failing statement rolls
everything back; the error names it. Prints the rows of the last statement, and a status line
per statement on stderr.
${OUTPUT_HELP}`,
    )
    .action(async (ref: string, opts: OutputOptions & { file: string; readOnly?: boolean; timeout?: string }) => {
      await withData(opts, async (data) => {
        const format = formatOf(opts);
        const doc = parseJson(readFileArg(opts.file, 'statements file'), `statements file ${opts.file}`);
        const input = parseInput(TransactionFileSchema, Array.isArray(doc) ? { statements: doc } : doc);
        const timeoutMs = positiveInt(opts.timeout, '--timeout') ?? input.timeoutMs;
        const { results } = await data.transaction(ref, {
          statements: input.statements as Statement[],
          readOnly: opts.readOnly || input.readOnly,
          timeoutMs,
        });
        if (format === 'json') return printJson({ results });
        const last = results[results.length - 1];
        if (last?.fields.length) printRows(format, last.rows, last.fields.map((f) => f.name));
        results.forEach((r, i) => note(format, `${results.length > 1 ? `${i + 1}: ` : ''}${tag(r)}${r.truncated ? ' (truncated)' : ''}`));
      });
    });
}
