import { DbaasError } from '../errors.js';
import type { ColumnInfo, TableInfo } from './catalog.js';

/**
 * Builds the SQL of row requests, PostgREST style: `col=op.value` filters, `select=`, `order=`,
 * limit and offset, inserts (bulk, upsert), updates and deletes. Pure: it takes the table as
 * the catalog described it, checks every name against it, quotes every identifier, and binds
 * every value as a parameter. Nothing a request sends is ever spliced into SQL text.
 */

export const FILTER_OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'in', 'is'] as const;
export type FilterOp = (typeof FILTER_OPS)[number];

export interface Filter {
  column: string;
  op: FilterOp;
  negate: boolean;
  /** A string for comparisons and patterns, a list for `in`, null/true/false/'unknown' for `is`. */
  value: string | string[] | null | boolean | 'unknown';
}

export interface OrderTerm {
  column: string;
  descending: boolean;
  nulls?: 'first' | 'last';
}

const COMPARISON: Record<'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte', string> = {
  eq: '=',
  neq: '<>',
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
};

function invalid(message: string, field?: string): DbaasError {
  return new DbaasError('VALIDATION_FAILED', message, { issues: [{ field: field ?? '', message }] });
}

/** `(a,b,"c,d")`: PostgREST's list, double quotes around values that hold commas or parentheses. */
export function parseInList(text: string, column = ''): string[] {
  if (!text.startsWith('(') || !text.endsWith(')')) {
    throw invalid(`${column ? `${column}: ` : ''}in. takes a list like in.(1,2,3), got "${text}"`, column);
  }
  const body = text.slice(1, -1);
  const values: string[] = [];
  let current = '';
  let quoted = false;
  let wasQuoted = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] as string;
    if (quoted) {
      if (ch === '\\' && i + 1 < body.length) current += body[++i];
      else if (ch === '"') quoted = false;
      else current += ch;
    } else if (ch === '"') {
      quoted = true;
      wasQuoted = true;
      current = ''; // blanks before an opening quote are not part of the value
    } else if (ch === ',') {
      values.push(wasQuoted ? current : current.trim());
      current = '';
      wasQuoted = false;
    } else {
      current += ch;
    }
  }
  if (quoted) throw invalid(`${column ? `${column}: ` : ''}unterminated quote in "${text}"`, column);
  if (body.length > 0) values.push(wasQuoted ? current : current.trim());
  return values;
}

/** `eq.5`, `not.in.(1,2)`, `is.null`: one filter on `column`. */
export function parseFilter(column: string, expression: string): Filter {
  let rest = expression;
  let negate = false;
  if (rest.startsWith('not.')) {
    negate = true;
    rest = rest.slice(4);
  }
  const dot = rest.indexOf('.');
  const op = (dot < 0 ? rest : rest.slice(0, dot)) as FilterOp;
  if (dot < 0 || !(FILTER_OPS as readonly string[]).includes(op)) {
    throw invalid(`${column}: "${expression}" is not a filter; use op.value with op one of ${FILTER_OPS.join(', ')} (optionally not.)`, column);
  }
  const raw = rest.slice(dot + 1);
  if (op === 'in') return { column, op, negate, value: parseInList(raw, column) };
  if (op === 'is') {
    const map: Record<string, Filter['value']> = { null: null, true: true, false: false, unknown: 'unknown' };
    if (!(raw.toLowerCase() in map)) throw invalid(`${column}: is. takes null, true, false or unknown`, column);
    return { column, op, negate, value: map[raw.toLowerCase()] as Filter['value'] };
  }
  return { column, op, negate, value: raw };
}

/** `col.desc.nullslast,other`: order terms. */
export function parseOrder(text: string): OrderTerm[] {
  return text.split(',').map((part) => {
    const pieces = part.trim().split('.');
    const column = pieces.shift() ?? '';
    if (!column) throw invalid(`order: empty column in "${text}"`, 'order');
    const term: OrderTerm = { column, descending: false };
    for (const p of pieces) {
      if (p === 'asc') term.descending = false;
      else if (p === 'desc') term.descending = true;
      else if (p === 'nullsfirst') term.nulls = 'first';
      else if (p === 'nullslast') term.nulls = 'last';
      else throw invalid(`order: "${p}" is not asc, desc, nullsfirst or nullslast`, 'order');
    }
    return term;
  });
}

export function parseSelect(text: string | undefined, field = 'select'): string[] | '*' {
  if (text === undefined || text.trim() === '' || text.trim() === '*') return '*';
  const columns = text.split(',').map((c) => c.trim()).filter((c) => c !== '');
  if (columns.length === 0) throw invalid(`${field}: name at least one column, or *`, field);
  return columns;
}

/** A double-quoted identifier; quotes inside are doubled, so no name can end the quoting. */
export function quoteIdent(name: string): string {
  if (name.includes('\u0000')) throw invalid('identifiers cannot contain NUL');
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualifiedName(table: Pick<TableInfo, 'schema' | 'name'>): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}

/** Collects bound values and hands out their placeholders. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
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

/** The WHERE clause of the filters (AND-ed), or '' with none. */
export function whereClause(table: TableInfo, filters: Filter[], params: Params): string {
  if (filters.length === 0) return '';
  const conditions = filters.map((f) => {
    const column = columnOf(table, f.column);
    const ident = quoteIdent(column.name);
    let condition: string;
    switch (f.op) {
      case 'in':
        condition = `${ident} = ANY(${params.add(f.value)})`;
        break;
      case 'is':
        condition = `${ident} IS ${f.value === null ? 'NULL' : f.value === 'unknown' ? 'UNKNOWN' : f.value ? 'TRUE' : 'FALSE'}`;
        break;
      case 'like':
      case 'ilike':
        // PostgREST lets URLs use * for %, which needs no escaping.
        condition = `${ident}::text ${f.op === 'like' ? 'LIKE' : 'ILIKE'} ${params.add(String(f.value).replace(/\*/g, '%'))}`;
        break;
      default:
        condition = `${ident} ${COMPARISON[f.op]} ${params.add(f.value)}`;
    }
    return f.negate ? `NOT (${condition})` : condition;
  });
  return ` WHERE ${conditions.join(' AND ')}`;
}

export function selectList(table: TableInfo, select: string[] | '*'): string {
  if (select === '*') return '*';
  return select.map((name) => quoteIdent(columnOf(table, name).name)).join(', ');
}

export function orderClause(table: TableInfo, order: OrderTerm[]): string {
  if (order.length === 0) return '';
  const terms = order.map((t) => {
    const ident = quoteIdent(columnOf(table, t.column).name);
    return `${ident} ${t.descending ? 'DESC' : 'ASC'}${t.nulls ? ` NULLS ${t.nulls.toUpperCase()}` : ''}`;
  });
  return ` ORDER BY ${terms.join(', ')}`;
}

export function returningClause(table: TableInfo, returning: string[] | '*' | null): string {
  return returning === null ? '' : ` RETURNING ${selectList(table, returning)}`;
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
}

export function buildSelect(table: TableInfo, q: SelectQuery): { text: string; values: unknown[] } {
  const params = new Params();
  const where = whereClause(table, q.filters, params);
  const text =
    `SELECT ${selectList(table, q.select)} FROM ${qualifiedName(table)}${where}${orderClause(table, q.order)}` +
    ` LIMIT ${params.add(q.limit)} OFFSET ${params.add(q.offset)}`;
  return { text, values: params.values };
}

export function buildCount(table: TableInfo, filters: Filter[]): { text: string; values: unknown[] } {
  const params = new Params();
  return { text: `SELECT count(*) AS count FROM ${qualifiedName(table)}${whereClause(table, filters, params)}`, values: params.values };
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
  const params = new Params();
  const names: string[] = [];
  for (const row of rows) for (const key of Object.keys(row)) if (!names.includes(key)) names.push(key);
  const columns = names.map((n) => writableColumn(table, n));
  const tuples = rows.map(
    (row) => `(${columns.map((c) => (Object.hasOwn(row, c.name) ? params.add(toParam(table, c, row[c.name])) : 'DEFAULT')).join(', ')})`,
  );
  let text = `INSERT INTO ${qualifiedName(table)} (${columns.map((c) => quoteIdent(c.name)).join(', ')}) VALUES ${tuples.join(', ')}`;
  if (options.onConflict && options.onConflict.length > 0) {
    const target = options.onConflict.map((n) => quoteIdent(columnOf(table, n).name));
    const updates = columns.filter((c) => !options.onConflict?.includes(c.name));
    text += ` ON CONFLICT (${target.join(', ')}) `;
    text += updates.length
      ? `DO UPDATE SET ${updates.map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`).join(', ')}`
      : 'DO NOTHING';
  }
  return { text: text + returningClause(table, options.returning), values: params.values };
}

export function buildUpdate(
  table: TableInfo,
  changes: Record<string, unknown>,
  filters: Filter[],
  returning: string[] | '*' | null,
): { text: string; values: unknown[] } {
  const params = new Params();
  const sets = Object.entries(changes).map(([name, value]) => {
    const column = writableColumn(table, name);
    return `${quoteIdent(column.name)} = ${params.add(toParam(table, column, value))}`;
  });
  const where = whereClause(table, filters, params);
  return { text: `UPDATE ${qualifiedName(table)} SET ${sets.join(', ')}${where}${returningClause(table, returning)}`, values: params.values };
}

export function buildDelete(table: TableInfo, filters: Filter[], returning: string[] | '*' | null): { text: string; values: unknown[] } {
  const params = new Params();
  const where = whereClause(table, filters, params);
  return { text: `DELETE FROM ${qualifiedName(table)}${where}${returningClause(table, returning)}`, values: params.values };
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
  return table.primaryKey.map((column, i) => ({ column, op: 'eq' as const, negate: false, value: values[i] as string }));
}
