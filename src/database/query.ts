import { DbaasError } from '../errors.js';
import type { ColumnInfo, TableInfo } from './catalog.js';
import {
  parseField,
  parseFilterExpression,
  parseList,
  parseLogic,
  parseOrder as parseOrderTerms,
  type Condition,
  type NodeQuery,
  type OrderTerm,
  type SelectItem,
} from './rest/grammar.js';
import type { RestSchema } from './rest/schema.js';
import { Builder, decodeCursor, keyExpression, keysetCondition, keysetOrder, whereSql, type Source } from './rest/sql.js';
import { Params, qualifiedName, quoteIdent } from './sqlText.js';

export { Params, qualifiedName, quoteIdent };
export type { OrderTerm };

/**
 * The row routes' side of the one query builder (rest/sql.ts builds the SQL of both them and the
 * PostgREST-compatible endpoint): their filters and order in PostgREST's grammar (rest/grammar.ts),
 * their plain column lists, and the statements whose rows node-postgres decodes (the endpoint has
 * PostgreSQL build its JSON instead). Every name is checked against the catalog and quoted, every
 * value bound.
 */

/** A filter of the row routes: one condition of PostgREST's grammar (`col=op.value`, or an or/and tree). */
export type Filter = Condition;

function invalid(message: string, field?: string): DbaasError {
  return new DbaasError('VALIDATION_FAILED', message, { issues: [{ field: field ?? '', message }] });
}

/** The grammar's parse errors, as the row routes have always answered them: 422 naming the field. */
function asValidation<T>(field: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof DbaasError && err.code === 'MALFORMED_REQUEST') throw invalid(`${field}: ${err.message}`, field);
    throw err;
  }
}

/** `(a,b,"c,d")`: PostgREST's list, double quotes around values that hold commas or parentheses. */
export function parseInList(text: string, column = ''): string[] {
  return asValidation(column, () => parseList(text, column || 'in'));
}

/** `eq.5`, `not.in.(1,2)`, `is.null`, `fts(english).cat`: one filter on `column` (which may be a JSON path). */
export function parseFilter(column: string, expression: string): Filter {
  return asValidation(column, () => parseFilterExpression(parseField(column), expression, column));
}

/** `or=(a.eq.1,b.gt.2)`, `and=(...)`, `not.or=(...)`: a tree of conditions. */
export function parseLogicFilter(key: 'or' | 'and' | 'not.or' | 'not.and', text: string): Filter {
  const negate = key.startsWith('not.');
  return asValidation(key, () => parseLogic(negate ? (key.slice(4) as 'or' | 'and') : (key as 'or' | 'and'), negate, text));
}

/** `col.desc.nullslast,other`: order terms. */
export function parseOrder(text: string): OrderTerm[] {
  return asValidation('order', () => parseOrderTerms(text));
}

export function parseSelect(text: string | undefined, field = 'select'): string[] | '*' {
  if (text === undefined || text.trim() === '' || text.trim() === '*') return '*';
  const columns = text.split(',').map((c) => c.trim()).filter((c) => c !== '');
  if (columns.length === 0) throw invalid(`${field}: name at least one column, or *`, field);
  return columns;
}

export function columnOf(table: TableInfo, name: string): ColumnInfo {
  const column = table.columns.find((c) => c.name === name);
  if (!column) {
    throw new DbaasError('COLUMN_NOT_FOUND', `table ${table.schema}.${table.name} has no column "${name}"`, {
      table: `${table.schema}.${table.name}`,
      column: name,
    });
  }
  return column;
}

/** The row routes' table as the shared builder reads it: its columns, no relationships to embed. */
function sourceOf(table: TableInfo): Source {
  return { from: qualifiedName(table), columns: table.columns, label: `${table.schema}.${table.name}`, kind: 'table' };
}

function itemsOf(select: string[] | '*'): SelectItem[] {
  return select === '*' ? [{ kind: 'star' }] : select.map((column) => ({ kind: 'column', field: { column, path: [] } }));
}

/** A builder for one table's statement, its root node holding the filters, order and page. */
function builderFor(table: TableInfo, root: NodeQuery, params?: Params): Builder {
  const schema: RestSchema = { name: table.schema, tables: new Map(), foreignKeys: [], functions: new Map(), enums: new Map() };
  return new Builder(schema, new Map([['', root]]), params);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const NUMERIC_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$|^[+-]?(Infinity|NaN)$/i;

/**
 * A JSON value made ready to bind for a column, or INVALID_VALUE naming the column when its
 * type cannot take it. json/jsonb get their JSON text (node-postgres would send a JS array as
 * a PostgreSQL array), bytea its bytes from base64; PostgreSQL checks the rest.
 */
export function toParam(table: TableInfo, column: ColumnInfo, value: unknown): unknown {
  const wrong = (expected: string) =>
    new DbaasError('INVALID_VALUE', `column "${column.name}" (${column.type}) takes ${expected}, got ${JSON.stringify(value)?.slice(0, 80)}`, {
      table: `${table.schema}.${table.name}`,
      column: column.name,
      type: column.type,
    });
  if (value === null) return null;
  if (column.udtName === 'json' || column.udtName === 'jsonb') return JSON.stringify(value);
  if (column.udtName === 'bytea') {
    if (typeof value !== 'string' || !BASE64.test(value) || value.length % 4 !== 0) throw wrong('base64 text');
    return Buffer.from(value, 'base64');
  }
  if (column.category === 'A') {
    if (!Array.isArray(value)) throw wrong('an array');
    if (column.elementType === 'bytea') {
      // Each element base64 like a bytea column's value; node-postgres writes Buffers as \x hex.
      const decode = (v: unknown): unknown => {
        if (Array.isArray(v)) return v.map(decode);
        if (v === null) return null;
        if (typeof v !== 'string' || !BASE64.test(v) || v.length % 4 !== 0) throw wrong('an array of base64 text');
        return Buffer.from(v, 'base64');
      };
      return decode(value);
    }
    return value;
  }
  if (typeof value === 'object') throw wrong('a scalar');
  switch (column.category) {
    case 'N':
      if (typeof value === 'number' || (typeof value === 'string' && NUMERIC_TEXT.test(value.trim()))) return value;
      throw wrong('a number');
    case 'B':
      if (typeof value === 'boolean') return value;
      throw wrong('true or false');
    default:
      return value;
  }
}

export interface SelectQuery {
  filters: Filter[];
  select: string[] | '*';
  order: OrderTerm[];
  limit: number;
  offset: number;
  /** A keyset page: '' for the first, else the cursor the page before answered. */
  after?: string;
}

/** The column that carries each row's keyset key (removed from the rows before they are answered). */
export const CURSOR_COLUMN = '__dbaas_cursor';

export function buildSelect(table: TableInfo, q: SelectQuery): { text: string; values: unknown[] } {
  const source = sourceOf(table);
  const order = q.after === undefined ? q.order : asValidation('after', () => keysetOrder(source, q.order, table.primaryKey));
  if (q.after !== undefined && q.offset > 0) throw invalid('after: a keyset page takes no offset', 'after');
  const builder = builderFor(table, { conditions: q.filters, order, limit: q.limit, offset: q.offset });
  const node = builder.build(source, 't0', itemsOf(q.select), '');
  let list = node.list;
  if (q.after !== undefined) {
    list += `, ${keyExpression('t0', order)} AS ${quoteIdent(CURSOR_COLUMN)}`;
    if (q.after !== '') {
      const key = asValidation('after', () => decodeCursor(q.after as string, order.length));
      node.where.push(keysetCondition(builder, 't0', order, key));
    }
  }
  return { text: `SELECT ${list} FROM ${qualifiedName(table)} AS "t0"${whereSql(node.where)}${node.order}${node.limit}`, values: builder.params.values };
}

export function buildCount(table: TableInfo, filters: Filter[]): { text: string; values: unknown[] } {
  const builder = builderFor(table, { conditions: filters, order: [] });
  const node = builder.build(sourceOf(table), 't0', [], '', { page: false });
  return { text: `SELECT count(*) AS count FROM ${qualifiedName(table)} AS "t0"${whereSql(node.where)}`, values: builder.params.values };
}

/**
 * ` RETURNING <list>` of the written rows (alias t0), or nothing for null. The write statements'
 * builders hold an empty root: their filters are built apart, with `condition`.
 */
function returning(builder: Builder, table: TableInfo, select: string[] | '*' | null): string {
  if (select === null) return '';
  return ` RETURNING ${builder.build(sourceOf(table), 't0', itemsOf(select), '', { page: false }).list}`;
}

function writableColumn(table: TableInfo, name: string): ColumnInfo {
  const column = columnOf(table, name);
  if (column.generated) {
    throw new DbaasError('INVALID_VALUE', `column "${name}" is generated and cannot be written`, { column: name });
  }
  return column;
}

export function assertRowObject(row: unknown, index?: number): asserts row is Record<string, unknown> {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) {
    throw invalid(`${index === undefined ? 'the body' : `row ${index}`} must be a JSON object of column: value`, index === undefined ? 'body' : `body.${index}`);
  }
  if (Object.keys(row).length === 0) throw invalid(`${index === undefined ? 'the body' : `row ${index}`} names no column`, 'body');
}

/**
 * One INSERT for one or many rows. Columns are the union of the rows' keys; a row without one of
 * them gets DEFAULT. With `onConflict`, rows that collide on those columns update the others
 * (an upsert), or are skipped when there is nothing else to update.
 */
export function buildInsert(
  table: TableInfo,
  rows: Array<Record<string, unknown>>,
  options: { onConflict?: string[]; returning: string[] | '*' | null },
): { text: string; values: unknown[] } {
  const builder = builderFor(table, { conditions: [], order: [] });
  const params = builder.params;
  const names: string[] = [];
  for (const row of rows) for (const key of Object.keys(row)) if (!names.includes(key)) names.push(key);
  const columns = names.map((n) => writableColumn(table, n));
  const tuples = rows.map(
    (row) => `(${columns.map((c) => (Object.hasOwn(row, c.name) ? params.add(toParam(table, c, row[c.name])) : 'DEFAULT')).join(', ')})`,
  );
  let text = `INSERT INTO ${qualifiedName(table)} AS "t0" (${columns.map((c) => quoteIdent(c.name)).join(', ')}) VALUES ${tuples.join(', ')}`;
  if (options.onConflict && options.onConflict.length > 0) {
    const target = options.onConflict.map((n) => quoteIdent(columnOf(table, n).name));
    const updates = columns.filter((c) => !options.onConflict?.includes(c.name));
    text += ` ON CONFLICT (${target.join(', ')}) `;
    text += updates.length
      ? `DO UPDATE SET ${updates.map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`).join(', ')}`
      : 'DO NOTHING';
  }
  return { text: text + returning(builder, table, options.returning), values: params.values };
}

export function buildUpdate(
  table: TableInfo,
  changes: Record<string, unknown>,
  filters: Filter[],
  select: string[] | '*' | null,
): { text: string; values: unknown[] } {
  const builder = builderFor(table, { conditions: [], order: [] });
  const sets = Object.entries(changes).map(([name, value]) => {
    const column = writableColumn(table, name);
    return `${quoteIdent(column.name)} = ${builder.params.add(toParam(table, column, value))}`;
  });
  const where = filters.map((c) => builder.condition(sourceOf(table), 't0', c));
  return {
    text: `UPDATE ${qualifiedName(table)} AS "t0" SET ${sets.join(', ')}${whereSql(where)}${returning(builder, table, select)}`,
    values: builder.params.values,
  };
}

export function buildDelete(table: TableInfo, filters: Filter[], select: string[] | '*' | null): { text: string; values: unknown[] } {
  const builder = builderFor(table, { conditions: [], order: [] });
  const where = filters.map((c) => builder.condition(sourceOf(table), 't0', c));
  return { text: `DELETE FROM ${qualifiedName(table)} AS "t0"${whereSql(where)}${returning(builder, table, select)}`, values: builder.params.values };
}

/** Filters that select one row by its primary key; `key` is the values in key order, comma-separated. */
export function primaryKeyFilters(table: TableInfo, key: string): Filter[] {
  if (table.primaryKey.length === 0) {
    throw new DbaasError('NO_PRIMARY_KEY', `table ${table.schema}.${table.name} has no primary key; use filters`, {
      table: `${table.schema}.${table.name}`,
    });
  }
  const values = table.primaryKey.length === 1 ? [key] : key.split(',');
  if (values.length !== table.primaryKey.length) {
    throw invalid(
      `the primary key of ${table.schema}.${table.name} is (${table.primaryKey.join(', ')}): give ${table.primaryKey.length} values separated by commas`,
      'pk',
    );
  }
  return table.primaryKey.map((column, i) => ({ kind: 'filter', field: { column, path: [] }, op: 'eq', negate: false, value: values[i] as string }));
}
