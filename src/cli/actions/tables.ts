import type { z } from 'zod';
import type { TableInfo, TableList, TableSummary } from '../../database/catalog.js';
import { CreateTableSchema } from '../../database/ddl.js';
import { DbaasError } from '../../errors.js';
import { formatSize } from '../../instances/size.js';
import { parseInput } from '../../validate.js';
import type { CommonOptions } from '../context.js';
import { confirm, readFileArg } from '../input.js';
import { printFields, printJson, printTable, toCsv } from '../output.js';
import { formatOf, parseJson, withData, type Format, type OutputOptions } from './data.js';

/** What `dbaas tables list|describe|create|drop` do (their flags and help: commands/tables.ts). */

export async function list(ref: string, opts: OutputOptions & { schema?: string }): Promise<void> {
  await withData(opts, async (data) => {
    const format = formatOf(opts);
    printTables(format, await data.listTables(ref, opts.schema));
  });
}

export async function types(ref: string, opts: CommonOptions & { schema?: string }): Promise<void> {
  await withData(opts, async (data) => {
    const schemas = opts.schema ? opts.schema.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
    process.stdout.write(await data.types(ref, schemas));
  });
}

export async function describe(ref: string, table: string, opts: CommonOptions): Promise<void> {
  await withData(opts, async (data) => {
    const info = await data.describeTable(ref, table);
    if (opts.json) printJson(info);
    else printTableInfo(info);
  });
}

export async function create(ref: string, table: string | undefined, opts: CreateTableOptions): Promise<void> {
  await withData(opts, async (data) => {
    const def = tableDefinition(table, opts);
    const info = await data.createTable(ref, def);
    if (opts.json) return printJson(info);
    process.stderr.write(`created ${info.schema}.${info.name}\n`);
    printTableInfo(info);
  });
}

export async function drop(ref: string, table: string, opts: CommonOptions & { cascade?: boolean; yes?: boolean }): Promise<void> {
  await withData(opts, async (data) => {
    await data.describeTable(ref, table); // an unknown table fails before the question
    if (!opts.yes) await confirm(table, 'drop', 'with all its rows');
    const result = await data.dropTable(ref, table, { confirm: true, cascade: Boolean(opts.cascade) });
    if (opts.json) printJson(result);
    else process.stdout.write(`dropped ${result.dropped}\n`);
  });
}

// ---- the table definition of `tables create` ------------------------------------------------

interface CreateTableOptions extends CommonOptions {
  column?: string[];
  file?: string;
  schema?: string;
  ifNotExists?: boolean;
}

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

// ---- output ---------------------------------------------------------------------------------

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
  if (format === 'json') return printJson({ tables } satisfies TableList);
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
