import { DbaasError } from '../../errors.js';
import type { ColumnInfo } from '../catalog.js';
import { Params, quoteIdent } from '../sqlText.js';
import {
  fieldName,
  type Condition,
  type Field,
  type FilterCondition,
  type NodeQuery,
  type OrderTerm,
  type SelectItem,
} from './grammar.js';
import type { ForeignKey, RestFunction, RestSchema, RestTable } from './schema.js';

/**
 * Builds one SQL statement per request, PostgREST's way: the rows, their embedded resources and
 * the JSON body all come out of PostgreSQL (`json_agg`), so the API forwards text and never
 * decodes a row. Every name is checked against the schema cache and quoted; every value a
 * request sends is a bound parameter; integers (array indexes, limits) are checked as such.
 */

/** What a statement reads from: a table, the rows a write returned, or a function's result. */
export interface Source {
  /** SQL after FROM, without the alias. */
  from: string;
  /** The columns a request may name. */
  columns: ColumnInfo[];
  /** The table whose relationships embed (none for a function returning OUT columns). */
  table?: RestTable;
  /** How errors name it: `public.items`, or a function's name. */
  label: string;
  kind: 'table' | 'function';
}

export function tableSource(table: RestTable): Source {
  return { from: qualified(table), columns: table.columns, table, label: `${table.schema}.${table.name}`, kind: 'table' };
}

export function qualified(table: { schema: string; name: string }): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}

/** PostgreSQL's spellings of type names that are not catalog names (a quoted "integer" does not exist). */
const TYPE_ALIASES: Record<string, string> = {
  integer: 'int4', int: 'int4', smallint: 'int2', bigint: 'int8', real: 'float4', 'double precision': 'float8',
  boolean: 'bool', decimal: 'numeric', 'character varying': 'varchar', character: 'bpchar', char: 'bpchar',
  'timestamp with time zone': 'timestamptz', 'timestamp without time zone': 'timestamp',
};

/** `::type` for a cast a request asked for: the name quoted, so it can only ever name a type. */
export function castSql(cast: string): string {
  const lowered = cast.trim().toLowerCase();
  const array = lowered.endsWith('[]');
  const base = array ? lowered.slice(0, -2).trim() : lowered;
  return `::${quoteIdent(TYPE_ALIASES[base] ?? base)}${array ? '[]' : ''}`;
}

export function columnNotFound(source: Source, name: string): DbaasError {
  return new DbaasError('COLUMN_NOT_FOUND', `${source.kind} ${source.label} has no column "${name}"`, {
    table: source.label,
    column: name,
    pgrst: '42703',
  });
}

export function sourceColumn(source: Source, name: string): ColumnInfo {
  const column = source.columns.find((c) => c.name === name);
  if (!column) throw columnNotFound(source, name);
  return column;
}

// ---- relationships ------------------------------------------------------------------------------

export type Relationship =
  /** The parent holds the key: the embedded row is one (or none). */
  | { kind: 'many-to-one'; target: RestTable; fk: ForeignKey }
  /** The target holds the key: many rows, or one when its key columns are unique. */
  | { kind: 'one-to-many'; target: RestTable; fk: ForeignKey; toOne: boolean }
  | { kind: 'many-to-many'; target: RestTable; junction: RestTable; toParent: ForeignKey; toTarget: ForeignKey };

function describe(rel: Relationship): Record<string, string> {
  if (rel.kind === 'many-to-many') {
    return { cardinality: 'many-to-many', relationship: `${rel.junction.name} using ${rel.toParent.name} and ${rel.toTarget.name}`, embedding: rel.target.name };
  }
  return { cardinality: rel.kind === 'many-to-one' ? 'many-to-one' : rel.toOne ? 'one-to-one' : 'one-to-many', relationship: `${rel.fk.name}`, embedding: rel.target.name };
}

function sameColumns(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((c) => b.includes(c));
}

/** The relationship `parent` -> `target` names, narrowed by a `!hint`; PGRST200 / PGRST201 otherwise. */
export function findRelationship(schema: RestSchema, parent: RestTable, target: string, hint?: string): Relationship {
  const candidates: Relationship[] = [];
  const table = schema.tables.get(target);
  if (table) {
    for (const fk of schema.foreignKeys) {
      if (fk.from === parent && fk.to === table) candidates.push({ kind: 'many-to-one', target: table, fk });
      if (fk.to === parent && fk.from === table) {
        const toOne = table.uniqueKeys.some((k) => sameColumns(k, fk.fromColumns));
        candidates.push({ kind: 'one-to-many', target: table, fk, toOne });
      }
    }
    for (const toParent of schema.foreignKeys) {
      if (toParent.to !== parent || toParent.from === parent) continue;
      for (const toTarget of schema.foreignKeys) {
        if (toTarget === toParent || toTarget.from !== toParent.from || toTarget.to !== table) continue;
        candidates.push({ kind: 'many-to-many', target: table, junction: toParent.from, toParent, toTarget });
      }
    }
  } else {
    // Embedding by a foreign key's name or its column: `select=*,author_id(*)`.
    for (const fk of schema.foreignKeys) {
      if (fk.from === parent && (fk.name === target || (fk.fromColumns.length === 1 && fk.fromColumns[0] === target))) {
        candidates.push({ kind: 'many-to-one', target: fk.to, fk });
      }
    }
  }
  const matches = hint === undefined ? candidates : candidates.filter((rel) => hintMatches(rel, hint));
  if (matches.length === 1) return matches[0] as Relationship;
  if (matches.length === 0) {
    throw new DbaasError('MALFORMED_REQUEST', `Could not find a relationship between '${parent.name}' and '${target}' in the schema cache`, {
      pgrst: 'PGRST200',
      status: 400,
      detail: `Searched for a foreign key relationship between '${parent.name}' and '${target}'${hint ? ` using the hint '${hint}'` : ''} in the schema '${schema.name}', but no matches were found.`,
      hint: null,
    });
  }
  throw new DbaasError('MALFORMED_REQUEST', `Could not embed because more than one relationship was found for '${parent.name}' and '${target}'`, {
    pgrst: 'PGRST201',
    status: 300,
    detail: matches.map(describe),
    hint: `Try changing '${target}' to one of the following: ${matches.map((m) => `'${target}!${m.kind === 'many-to-many' ? m.junction.name : m.fk.name}'`).join(', ')}. Find the desired relationship in the 'details' key.`,
  });
}

function hintMatches(rel: Relationship, hint: string): boolean {
  if (rel.kind === 'many-to-many') {
    return rel.junction.name === hint || rel.toParent.name === hint || rel.toTarget.name === hint;
  }
  const { fk } = rel;
  return fk.name === hint || (fk.fromColumns.length === 1 && fk.fromColumns[0] === hint) || (fk.toColumns.length === 1 && fk.toColumns[0] === hint);
}

function isToOne(rel: Relationship): boolean {
  return rel.kind === 'many-to-one' || (rel.kind === 'one-to-many' && rel.toOne);
}

/** The condition tying an embedded row (alias `child`) to its parent row (alias `parent`). */
function joinCondition(rel: Relationship, parent: string, child: string, builder: Builder): string {
  const pairs = (a: string, aCols: string[], b: string, bCols: string[]) =>
    aCols.map((c, i) => `${quoteIdent(a)}.${quoteIdent(c)} = ${quoteIdent(b)}.${quoteIdent(bCols[i] as string)}`).join(' AND ');
  if (rel.kind === 'many-to-one') return pairs(child, rel.fk.toColumns, parent, rel.fk.fromColumns);
  if (rel.kind === 'one-to-many') return pairs(child, rel.fk.fromColumns, parent, rel.fk.toColumns);
  const j = builder.alias('j');
  return (
    `EXISTS (SELECT 1 FROM ${qualified(rel.junction)} AS ${quoteIdent(j)} WHERE ` +
    `${pairs(j, rel.toParent.fromColumns, parent, rel.toParent.toColumns)} AND ${pairs(j, rel.toTarget.fromColumns, child, rel.toTarget.toColumns)})`
  );
}

// ---- the builder ---------------------------------------------------------------------------------

export interface NodeSql {
  /** The select list. */
  list: string;
  /** Conditions of this node, the EXISTS of its !inner embeds included. */
  where: string[];
  order: string;
  limit: string;
  /** How many values the page (LIMIT, OFFSET) binds: the last ones bound. */
  pageParams: number;
}

export class Builder {
  readonly params: Params;
  /** t0 is the root's alias: every other one starts at 1. */
  private next = 1;

  constructor(
    readonly schema: RestSchema,
    readonly nodes: Map<string, NodeQuery>,
    params?: Params,
  ) {
    this.params = params ?? new Params();
  }

  alias(prefix = 't'): string {
    return `${prefix}${this.next++}`;
  }

  private node(path: string): NodeQuery {
    return this.nodes.get(path) ?? { conditions: [], order: [] };
  }

  /** `"t0"."data"->'a'->>'b'`. */
  field(source: Source, alias: string, field: Field): string {
    const column = sourceColumn(source, field.column);
    let sql = `${quoteIdent(alias)}.${quoteIdent(column.name)}`;
    for (const step of field.path) {
      sql += step.arrow + (step.index !== undefined ? String(step.index) : `${this.params.add(step.key)}::text`);
    }
    return sql;
  }

  /** The SQL of one node: select list, conditions, order and page. `path` keys its filters. */
  build(source: Source, alias: string, items: SelectItem[], path: string, options: { page?: boolean } = {}): NodeSql {
    const query = this.node(path);
    const list: string[] = [];
    const where: string[] = [];
    const embeds = new Map<string, () => string>();
    for (const item of items) {
      if (item.kind === 'star') {
        list.push(`${quoteIdent(alias)}.*`);
      } else if (item.kind === 'column') {
        const cast = item.cast ? castSql(item.cast) : '';
        const expr = this.field(source, alias, item.field);
        list.push(`${cast ? `(${expr})${cast}` : expr} AS ${quoteIdent(item.alias ?? fieldName(item.field))}`);
      } else {
        const embedded = this.embed(source, alias, item, path);
        list.push(...embedded.list);
        if (item.inner) where.push(embedded.exists());
        embeds.set(item.alias ?? item.target, embedded.exists);
      }
    }
    for (const condition of query.conditions) where.push(this.condition(source, alias, condition, embeds));
    const order = this.order(source, alias, query.order);
    const before = this.params.values.length;
    const page =
      options.page === false
        ? ''
        : (query.limit !== undefined ? ` LIMIT ${this.params.add(query.limit)}` : '') +
          (query.offset !== undefined && query.offset > 0 ? ` OFFSET ${this.params.add(query.offset)}` : '');
    return {
      list: list.length ? list.join(', ') : `${quoteIdent(alias)}.*`,
      where,
      order,
      limit: page,
      pageParams: this.params.values.length - before,
    };
  }

  private embed(
    parentSource: Source,
    parentAlias: string,
    item: Extract<SelectItem, { kind: 'embed' }>,
    parentPath: string,
  ): { list: string[]; exists: () => string } {
    if (!parentSource.table) {
      throw new DbaasError('MALFORMED_REQUEST', `Could not find a relationship between '${parentSource.label}' and '${item.target}' in the schema cache`, {
        pgrst: 'PGRST200',
        status: 400,
      });
    }
    const rel = findRelationship(this.schema, parentSource.table, item.target, item.hint);
    const name = item.alias ?? item.target;
    const path = parentPath ? `${parentPath}.${name}` : name;
    const alias = this.alias();
    const source = tableSource(rel.target);
    const join = joinCondition(rel, parentAlias, alias, this);
    const node = this.build(source, alias, item.select, path);
    const where = [join, ...node.where].join(' AND ');
    const from = `${qualified(rel.target)} AS ${quoteIdent(alias)}`;
    const exists = () => `EXISTS (SELECT 1 FROM ${from} WHERE ${where})`;
    const row = this.alias('e');
    // The one embedded row of a to-one relationship, as a derived table.
    const oneRow = `(SELECT ${node.list} FROM ${from} WHERE ${where} LIMIT 1) AS ${quoteIdent(row)}`;
    if (item.spread) {
      if (!isToOne(rel)) {
        throw new DbaasError('MALFORMED_REQUEST', `A spread operation on '${item.target}' is only possible on a to-one relationship`, { pgrst: 'PGRST119', status: 400 });
      }
      // Each column of the embedded row becomes a column of the parent.
      const columns = spreadColumns(source, item.select);
      return { list: columns.map((c) => `(SELECT ${quoteIdent(row)}.${quoteIdent(c)} FROM ${oneRow}) AS ${quoteIdent(c)}`), exists };
    }
    if (isToOne(rel)) {
      return { list: [`(SELECT row_to_json(${quoteIdent(row)}) FROM ${oneRow}) AS ${quoteIdent(name)}`], exists };
    }
    return {
      list: [
        `(SELECT coalesce(json_agg(${quoteIdent(row)}), '[]') FROM (SELECT ${node.list} FROM ${from} WHERE ${where}${node.order}${node.limit}) AS ${quoteIdent(row)}) AS ${quoteIdent(name)}`,
      ],
      exists,
    };
  }

  condition(source: Source, alias: string, condition: Condition, embeds: Map<string, () => string> = new Map()): string {
    if (condition.kind === 'logic') {
      const joined = condition.children.map((c) => this.condition(source, alias, c, embeds)).join(condition.op === 'or' ? ' OR ' : ' AND ');
      return `${condition.negate ? 'NOT ' : ''}(${joined})`;
    }
    // `embedded=is.null` / `not.is.null`: whether the parent has embedded rows (PostgREST 11).
    const embedded = embeds.get(condition.field.column);
    if (embedded && condition.op === 'is' && condition.value === null && condition.field.path.length === 0 && !source.columns.some((c) => c.name === condition.field.column)) {
      return condition.negate ? embedded() : `NOT ${embedded()}`;
    }
    const sql = this.filter(source, alias, condition);
    return condition.negate ? `NOT (${sql})` : sql;
  }

  private filter(source: Source, alias: string, f: FilterCondition): string {
    const left = this.field(source, alias, f.field);
    const value = f.value;
    const p = (v: unknown) => this.params.add(v);
    const wildcards = (v: string) => v.replace(/\*/g, '%');
    if (f.quantifier) {
      const list = (value as string[]).map((v) => (f.op === 'like' || f.op === 'ilike' ? wildcards(v) : v));
      const q = f.quantifier === 'any' ? 'ANY' : 'ALL';
      const text = ['like', 'ilike', 'match', 'imatch'].includes(f.op);
      return `${text ? `(${left})::text` : left} ${SQL_OPERATOR[f.op]} ${q}(${p(list)})`;
    }
    switch (f.op) {
      case 'in':
        return `${left} = ANY(${p(value)})`;
      case 'is':
        return `${left} IS ${value === null ? 'NULL' : value === 'unknown' ? 'UNKNOWN' : value ? 'TRUE' : 'FALSE'}`;
      case 'isdistinct':
        return `${left} IS DISTINCT FROM ${p(value)}`;
      case 'like':
      case 'ilike':
        return `(${left})::text ${SQL_OPERATOR[f.op]} ${p(wildcards(String(value)))}`;
      case 'match':
      case 'imatch':
        return `(${left})::text ${SQL_OPERATOR[f.op]} ${p(value)}`;
      case 'fts':
      case 'plfts':
      case 'phfts':
      case 'wfts': {
        const language = f.language !== undefined ? `${p(f.language)}::regconfig, ` : '';
        const column = f.field.path.length === 0 ? sourceColumn(source, f.field.column) : undefined;
        const vector = column?.udtName === 'tsvector' ? left : `to_tsvector(${language}(${left})::text)`;
        return `${vector} @@ ${FTS_FUNCTION[f.op]}(${language}${p(value)})`;
      }
      default:
        return `${left} ${SQL_OPERATOR[f.op]} ${p(value)}`;
    }
  }

  order(source: Source, alias: string, terms: OrderTerm[]): string {
    if (terms.length === 0) return '';
    const sql = terms.map(
      (t) => `${this.field(source, alias, t.field)} ${t.descending ? 'DESC' : 'ASC'}${t.nulls ? ` NULLS ${t.nulls.toUpperCase()}` : ''}`,
    );
    return ` ORDER BY ${sql.join(', ')}`;
  }
}

const SQL_OPERATOR: Record<string, string> = {
  eq: '=', neq: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=', like: 'LIKE', ilike: 'ILIKE', match: '~', imatch: '~*',
  cs: '@>', cd: '<@', ov: '&&', sl: '<<', sr: '>>', nxr: '&<', nxl: '&>', adj: '-|-',
};
const FTS_FUNCTION: Record<string, string> = { fts: 'to_tsquery', plfts: 'plainto_tsquery', phfts: 'phraseto_tsquery', wfts: 'websearch_to_tsquery' };

/** The output names of a spread embed's items. */
function spreadColumns(source: Source, items: SelectItem[]): string[] {
  const names: string[] = [];
  for (const item of items) {
    if (item.kind === 'star') names.push(...source.columns.map((c) => c.name));
    else if (item.kind === 'column') names.push(item.alias ?? fieldName(item.field));
    else throw new DbaasError('MALFORMED_REQUEST', 'a spread embed takes columns only', { pgrst: 'PGRST100', status: 400 });
  }
  return names;
}

export function whereSql(conditions: string[]): string {
  return conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';
}

/** How the JSON body is made from the rows of `_pgrst_t` (or from `rowJson`, each row's JSON already made). */
export function bodySql(stripNulls: boolean, rowJson?: string): string {
  const row = rowJson ?? '_pgrst_t';
  return stripNulls
    ? `coalesce(json_agg(json_strip_nulls(${rowJson ?? 'row_to_json(_pgrst_t)'})), '[]')::text`
    : `coalesce(json_agg(${row}), '[]')::text`;
}

/**
 * The overloads of `name` that arguments by these names can call: every required parameter given,
 * every name a parameter. An unnamed parameter cannot be given by name.
 */
function fitting(schema: RestSchema, name: string, argNames: string[]): RestFunction[] {
  const overloads = schema.functions.get(name) ?? [];
  const given = new Set(argNames);
  return overloads.filter(
    (fn) =>
      fn.args.every((a) => a.optional || (a.name !== '' && given.has(a.name))) &&
      argNames.every((n) => n !== '' && fn.args.some((a) => a.name === n)),
  );
}

/** Whether some overload of `name` takes arguments by these names. */
export function fitsByName(schema: RestSchema, name: string, argNames: string[]): boolean {
  return fitting(schema, name, argNames).length > 0;
}

/** The function of a call: the overload whose parameters take exactly the arguments given. */
export function pickFunction(schema: RestSchema, name: string, argNames: string[]): RestFunction {
  const fits = fitting(schema, name, argNames);
  if (fits.length === 1) return fits[0] as RestFunction;
  const signature = `${schema.name}.${name}(${[...argNames].sort().join(', ')})`;
  if (fits.length === 0) {
    throw new DbaasError('TABLE_NOT_FOUND', `Could not find the function ${signature} in the schema cache`, {
      pgrst: 'PGRST202',
      status: 404,
      detail: `Searched for the function ${signature}${argNames.length ? ' with parameters ' + argNames.join(', ') : ' without parameters'}, but no matches were found in the schema cache.`,
      hint: null,
    });
  }
  throw new DbaasError('SQL_ERROR', `Could not choose the best candidate function between: ${fits.map((f) => `${schema.name}.${f.name}(${f.args.map((a) => `${a.name} => ${a.type}`).join(', ')})`).join(', ')}`, {
    pgrst: 'PGRST203',
    status: 300,
  });
}

// ---- keyset pages -------------------------------------------------------------------------------

/**
 * The order of a keyset page (`after=`): the request's own, then the primary key's columns it
 * lacks, so that every row has one place. Each column must be NOT NULL (a NULL has no place in a
 * row comparison) and named plainly, without a JSON path.
 */
export function keysetOrder(source: Source, order: OrderTerm[], primaryKey: string[]): OrderTerm[] {
  if (primaryKey.length === 0) {
    throw new DbaasError('MALFORMED_REQUEST', `keyset paging (after=) needs a primary key, and ${source.label} has none`, { pgrst: 'PGRST100', status: 400 });
  }
  for (const term of order) {
    const column = sourceColumn(source, term.field.column);
    if (term.field.path.length || column.nullable) {
      throw new DbaasError('MALFORMED_REQUEST', `keyset paging (after=) orders by NOT NULL columns only; "${column.name}"${term.field.path.length ? ' with a JSON path' : ' may be NULL'}`, {
        pgrst: 'PGRST100',
        status: 400,
      });
    }
  }
  const named = new Set(order.map((t) => t.field.column));
  return [...order.map((t) => ({ ...t, nulls: undefined })), ...primaryKey.filter((c) => !named.has(c)).map((column) => ({ field: { column, path: [] }, descending: false }))];
}

/** The key of a row in a keyset order, as text (exact for every type, bigint and numeric included). */
export function keyExpression(alias: string, order: OrderTerm[]): string {
  return `json_build_array(${order.map((t) => `${quoteIdent(alias)}.${quoteIdent(t.field.column)}::text`).join(', ')})`;
}

/** A cursor: the key of the last row of a page, opaque to clients (base64url of its JSON). */
export function encodeCursor(key: string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string, size: number): string[] {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  if (!Array.isArray(key) || key.length !== size || !key.every((v) => typeof v === 'string')) {
    throw new DbaasError('MALFORMED_REQUEST', 'after: not a cursor of this query (take it from the answer to the page before, with the same order)', {
      pgrst: 'PGRST100',
      status: 400,
    });
  }
  return key as string[];
}

/**
 * The rows after `key` in `order`: one row comparison when every term runs the same way (an index
 * on those columns serves it), else the expanded OR of equal prefixes.
 */
export function keysetCondition(builder: Builder, alias: string, order: OrderTerm[], key: string[]): string {
  const column = (t: OrderTerm) => `${quoteIdent(alias)}.${quoteIdent(t.field.column)}`;
  const values = key.map((v) => builder.params.add(v));
  if (order.every((t) => t.descending === order[0]?.descending)) {
    return `(${order.map(column).join(', ')}) ${order[0]?.descending ? '<' : '>'} (${values.join(', ')})`;
  }
  const branches = order.map((t, i) => {
    const equal = order.slice(0, i).map((p, j) => `${column(p)} = ${values[j]}`);
    return `(${[...equal, `${column(t)} ${t.descending ? '<' : '>'} ${values[i]}`].join(' AND ')})`;
  });
  return `(${branches.join(' OR ')})`;
}
