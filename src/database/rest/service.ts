import type pg from 'pg';
import { queryPrepared } from '../prepared.js';
import { stringify } from 'csv-stringify/sync';
import { DbaasError } from '../../errors.js';
import type { RequestOptions } from '../pools.js';
import { quoteIdent } from '../query.js';
import { parsePrefer, parseRange, parseReadQuery, parseError, type Condition, type NodeQuery, type Preferences, type ReadQuery } from './grammar.js';
import { describeSchema } from './openapi.js';
import { contentRange, negotiate, type Media } from './protocol.js';
import { checkSchemaName, type RestFunction, type RestSchema, type RestTable } from './schema.js';
import {
  bodySql,
  Builder,
  decodeCursor,
  encodeCursor,
  keyExpression,
  keysetCondition,
  keysetOrder,
  fitsByName,
  pickFunction,
  qualified,
  tableSource,
  whereSql,
  type NodeSql,
  type Source,
} from './sql.js';

/** A request to the PostgREST-compatible endpoint, as the HTTP layer hands it over. */
export interface RestRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  resource: { kind: 'table' | 'rpc'; name: string };
  query: Record<string, string | string[] | undefined>;
  headers: { accept?: string; prefer?: string | string[]; range?: string; profile?: string };
  body: unknown;
  /** The body's JSON text as sent, when the HTTP layer kept it: bound as it is, not serialised again. */
  rawBody?: string;
}

export interface RestResponse {
  status: number;
  headers: Record<string, string>;
  /** JSON or CSV text, as PostgreSQL built it; none for HEAD, 204 and return=minimal. */
  body?: string;
}

/** What the endpoint needs of the data service: a session on the instance, its schema, its limits. */
export interface RestBackend {
  session<T>(ref: string, options: RequestOptions & { transaction?: boolean; rollback?: boolean }, work: (client: pg.PoolClient, instanceId: string) => Promise<T>): Promise<T>;
  /** The schema cache; `reloadAfterMs` asks for a load at most that old (after a miss). */
  schema(instanceId: string, client: pg.PoolClient, name: string, reloadAfterMs?: number): Promise<RestSchema>;
  readonly maxRows: number;
}

/** Runs one statement of the request (prepared, named after its text). */
type Run = <R extends pg.QueryResultRow>(text: string, values: unknown[]) => Promise<pg.QueryResult<R>>;

interface Result {
  total: string | null;
  page_count: number;
  body: string | null;
}

/** A page's statement answers its result, the rows themselves for CSV, and a keyset page its last key. */
type PageRow = Result & { csv_rows?: Array<Record<string, unknown>> | null; last_key?: string[] | null };

/** `count=exact`: the rows the filters match, counted in the page's own statement. */
function totalSql(prefer: Preferences, from: string, where: string): string {
  return prefer.count === 'exact' ? `(SELECT count(*) FROM ${from}${where})` : 'NULL::bigint';
}

/** The statement of one page of rows: its total, its size, and its JSON body (or, for CSV, the rows). */
function pageSql(node: NodeSql, from: string, where: string, total: string, media: Media): string {
  return (
    `SELECT ${total} AS total, count(*)::int AS page_count, ${media.kind === 'csv' ? 'NULL' : bodySql(media.stripNulls)} AS body` +
    `${media.kind === 'csv' ? ', json_agg(_pgrst_t) AS csv_rows' : ''}` +
    ` FROM (SELECT ${node.list} FROM ${from}${where}${node.order}${node.limit}) AS _pgrst_t`
  );
}

const READ = new Set(['GET', 'HEAD']);

/** How old a schema may be when a request names something it lacks (see RestSchemaCache.get). */
const MISS_RELOAD_MS = 1000;

function tableOf(schema: RestSchema, name: string): RestTable {
  const table = schema.tables.get(name);
  if (!table) {
    throw new DbaasError('TABLE_NOT_FOUND', `Could not find the table '${schema.name}.${name}' in the schema cache`, {
      pgrst: 'PGRST205',
      status: 404,
      detail: null,
      hint: null,
    });
  }
  return table;
}

/** Rows of a JSON body: an object is one row, an array many. */
function rowsOf(body: unknown): Array<Record<string, unknown>> {
  const rows = Array.isArray(body) ? body : [body];
  for (const row of rows) {
    if (!isObject(row)) {
      throw new DbaasError('MALFORMED_REQUEST', 'the body must be a JSON object or an array of objects', { pgrst: 'PGRST102', status: 400 });
    }
  }
  return rows as Array<Record<string, unknown>>;
}

/** PGRST204 for a column a write names that the table lacks. */
function requireColumns(table: RestTable, names: string[]): void {
  for (const name of names) {
    if (!table.columns.some((c) => c.name === name)) {
      throw new DbaasError('COLUMN_NOT_FOUND', `Could not find the '${name}' column of '${table.name}' in the schema cache`, {
        pgrst: 'PGRST204',
        status: 400,
      });
    }
  }
}

/**
 * PostgREST's protocol over one instance: reads, writes and function calls, each one statement
 * whose result is the body. It knows HTTP only as data (status, headers, text); the express
 * routes in api/routes/rest.ts carry it.
 */
export class RestService {
  constructor(private readonly backend: RestBackend) {}

  async handle(ref: string, req: RestRequest): Promise<RestResponse> {
    const schemaName = req.headers.profile ?? 'public';
    checkSchemaName(schemaName);
    const prefer = parsePrefer(req.headers.prefer);
    const media = negotiate(req.headers.accept);
    const read = READ.has(req.method);
    const transaction = !read && (prefer.tx === 'rollback' || prefer.maxAffected !== undefined || media.kind === 'object');
    const options = { readOnly: read, transaction, rollback: prefer.tx === 'rollback' };
    return this.backend.session(ref, options, async (client, instanceId) => {
      let schema = await this.backend.schema(instanceId, client, schemaName);
      // A name the cached schema lacks may be new: look again in a schema at most a second old.
      const known = (s: RestSchema) => (req.resource.kind === 'rpc' ? s.functions.has(req.resource.name) : s.tables.has(req.resource.name));
      if (!known(schema)) schema = await this.backend.schema(instanceId, client, schemaName, MISS_RELOAD_MS);
      const run: Run = (text, values) => queryPrepared(client, text, values, { inTransaction: transaction });
      if (req.resource.kind === 'rpc') return this.call(run, schema, req, prefer, media);
      const table = tableOf(schema, req.resource.name);
      if (read) return this.read(run, schema, table, req, prefer, media);
      return this.write(run, schema, table, req, prefer, media);
    });
  }

  /** PostgREST's root: the OpenAPI (Swagger 2.0) description of the schema's tables and functions. */
  async describe(ref: string, profile: string | undefined, options: { basePath: string; version: string }): Promise<RestResponse> {
    const schemaName = profile ?? 'public';
    checkSchemaName(schemaName);
    return this.backend.session(ref, { readOnly: true }, async (client, instanceId) => {
      const schema = await this.backend.schema(instanceId, client, schemaName, MISS_RELOAD_MS);
      return {
        status: 200,
        headers: { 'Content-Type': 'application/openapi+json; charset=utf-8' },
        body: JSON.stringify(describeSchema(schema, options)),
      };
    });
  }

  // ---- reads --------------------------------------------------------------------------------

  private page(req: RestRequest, query: ReadQuery): { offset: number; limit: number } {
    const root = query.nodes.get('') ?? { conditions: [], order: [] };
    const range = parseRange(req.headers.range);
    let offset = root.offset ?? range?.offset ?? 0;
    let limit = root.limit ?? range?.limit;
    if (root.offset === undefined && range && root.limit !== undefined) offset = range.offset;
    limit = Math.min(limit ?? this.backend.maxRows, this.backend.maxRows);
    root.offset = offset;
    root.limit = limit;
    return { offset, limit };
  }

  private async read(run: Run, schema: RestSchema, table: RestTable, req: RestRequest, prefer: Preferences, media: Media): Promise<RestResponse> {
    const query = parseReadQuery(req.query);
    const source = tableSource(table);
    const after = query.other.get('after');
    const root = query.nodes.get('') as NodeQuery;
    if (after !== undefined) {
      if (root.offset || parseRange(req.headers.range)?.offset) throw parseError('after: a keyset page takes no offset');
      root.order = keysetOrder(source, root.order, table.primaryKey);
    }
    const { offset, limit } = this.page(req, query);
    const builder = new Builder(schema, query.nodes);
    const node = builder.build(source, 't0', query.select, '');
    const from = `${source.from} AS "t0"`;
    const where = whereSql(node.where);
    const total = totalSql(prefer, from, where);
    let text: string;
    if (after === undefined) {
      text = pageSql(node, from, where, total, media);
    } else {
      // Each row's JSON is made beside its key, so that the key of the last one can be the next cursor.
      const pageWhere = after === '' ? where : whereSql([...node.where, keysetCondition(builder, 't0', root.order, decodeCursor(after, root.order.length))]);
      text =
        `SELECT ${total} AS total, count(*)::int AS page_count, ${bodySql(media.stripNulls, '_pgrst_t.j')} AS body, ${media.kind === 'csv' ? 'json_agg(_pgrst_t.j)' : 'NULL'} AS csv_rows,` +
        ` (array_agg(_pgrst_t.k))[count(*)] AS last_key` +
        ` FROM (SELECT (SELECT row_to_json(_pgrst_r) FROM (SELECT ${node.list}) AS _pgrst_r) AS j, ${keyExpression('t0', root.order)} AS k` +
        ` FROM ${from}${pageWhere}${node.order}${node.limit}) AS _pgrst_t`;
    }
    const row = (await run<PageRow>(text, builder.params.values)).rows[0] as PageRow;
    let totalCount = row.total === null ? null : Number(row.total);
    if (prefer.count === 'planned' || prefer.count === 'estimated') {
      // The same rows without their page: every value but the page's is bound.
      const all = `SELECT ${node.list} FROM ${from}${where}${node.order}`;
      const values = builder.params.values.slice(0, builder.params.values.length - node.pageParams);
      totalCount = await this.plannedCount(run, all, values);
      if (prefer.count === 'estimated' && totalCount < this.backend.maxRows) {
        const exact = await run<{ count: string }>(`SELECT count(*) AS count FROM (${all}) AS _pgrst_all`, values);
        totalCount = Number(exact.rows[0]?.count ?? 0);
      }
    }
    if (totalCount !== null && offset > 0 && offset >= totalCount && totalCount >= 0 && row.page_count === 0) {
      throw new DbaasError('MALFORMED_REQUEST', 'Requested range not satisfiable', {
        pgrst: 'PGRST103',
        status: 416,
        detail: `An offset of ${offset} was requested, but there are only ${totalCount} rows.`,
      });
    }
    const headers: Record<string, string> = { 'Content-Range': contentRange(offset, row.page_count, totalCount) };
    // A full keyset page may have more after it: its last key is the cursor of the next.
    if (after !== undefined && row.last_key && row.page_count === limit) headers['Next-Cursor'] = encodeCursor(row.last_key);
    const partial = totalCount !== null && row.page_count < totalCount;
    const status = partial ? 206 : 200;
    return this.answer(status, headers, media, row, req.method === 'HEAD', row.csv_rows);
  }

  /** The planner's row estimate of a query (count=planned). */
  private async plannedCount(run: Run, text: string, values: unknown[]): Promise<number> {
    const { rows } = await run<{ 'QUERY PLAN': Array<{ Plan: { 'Plan Rows': number } }> }>(`EXPLAIN (FORMAT JSON) ${text}`, values);
    return Number(rows[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'] ?? 0);
  }

  private answer(
    status: number,
    headers: Record<string, string>,
    media: Media,
    row: Result,
    head: boolean,
    csvRows?: Array<Record<string, unknown>> | null,
  ): RestResponse {
    if (media.kind === 'object') {
      if (row.page_count !== 1) {
        throw new DbaasError('MALFORMED_REQUEST', 'Cannot coerce the result to a single JSON object', {
          pgrst: 'PGRST116',
          status: 406,
          detail: `The result contains ${row.page_count} rows`,
        });
      }
      headers['Content-Type'] = 'application/vnd.pgrst.object+json; charset=utf-8';
      // json_agg of one row is "[" + the row + "]".
      return { status, headers, body: head ? undefined : (row.body as string).slice(1, -1).trim() };
    }
    if (media.kind === 'csv') {
      headers['Content-Type'] = 'text/csv; charset=utf-8';
      return { status, headers, body: head ? undefined : toCsv(csvRows ?? []) };
    }
    headers['Content-Type'] = 'application/json; charset=utf-8';
    return { status, headers, body: head ? undefined : (row.body ?? '[]') };
  }

  // ---- writes -------------------------------------------------------------------------------

  private async write(run: Run, schema: RestSchema, table: RestTable, req: RestRequest, prefer: Preferences, media: Media): Promise<RestResponse> {
    const query = parseReadQuery(req.query);
    const builder = new Builder(schema, query.nodes);
    const source = tableSource(table);
    const root = query.nodes.get('') ?? { conditions: [], order: [] };
    // The filters choose the rows to write (PUT checks them instead); the rows written back are not filtered again.
    const conditions = root.conditions;
    root.conditions = [];
    const filterSql = () => conditions.map((c) => builder.condition(source, 't0', c));
    let mutation: string;
    let status: number;
    if (req.method === 'POST' || req.method === 'PUT') {
      const rows = rowsOf(req.body);
      if (req.method === 'PUT') checkPut(table, rows, conditions);
      const columns = this.insertColumns(table, rows, query.other.get('columns'));
      const json = req.rawBody === undefined ? JSON.stringify(rows) : Array.isArray(req.body) ? req.rawBody : `[${req.rawBody}]`;
      mutation = this.insertSql(builder, table, rows, json, columns, {
        missingDefault: prefer.missing === 'default',
        conflict: req.method === 'PUT' ? table.primaryKey : this.conflictTarget(table, query, prefer),
        resolution: req.method === 'PUT' ? 'merge-duplicates' : prefer.resolution,
      });
      status = req.method === 'POST' ? 201 : 200;
    } else if (req.method === 'PATCH') {
      const [changes] = rowsOf(req.body);
      if (Array.isArray(req.body)) throw new DbaasError('MALFORMED_REQUEST', 'PATCH takes one JSON object', { pgrst: 'PGRST102', status: 400 });
      const names = Object.keys(changes as object);
      requireColumns(table, names);
      const filters = filterSql();
      this.requireFilter('UPDATE', filters, prefer);
      if (names.length === 0) return { status: 204, headers: { 'Content-Range': '*/*' } };
      const sets = names.map((n) => `${quoteIdent(n)} = "_pgrst_body".${quoteIdent(n)}`).join(', ');
      mutation =
        `UPDATE ${qualified(table)} AS "t0" SET ${sets} FROM json_populate_record(NULL::${qualified(table)}, ${builder.params.add(req.rawBody ?? JSON.stringify(changes))}::json) AS "_pgrst_body"` +
        `${whereSql(filters)} RETURNING "t0".*`;
      status = 200;
    } else {
      const filters = filterSql();
      this.requireFilter('DELETE', filters, prefer);
      mutation = `DELETE FROM ${qualified(table)} AS "t0"${whereSql(filters)} RETURNING "t0".*`;
      status = 200;
    }
    const wantsBody = prefer.return === 'representation';
    const headersOnly = prefer.return === 'headers-only';
    const resultSource: Source = { ...source, from: '"pgrst_source"' };
    let list = '"t0".*';
    if (wantsBody) {
      list = builder.build(resultSource, 't0', query.select, '').list;
    } else if (headersOnly && table.primaryKey.length) {
      list = table.primaryKey.map((c) => `"t0".${quoteIdent(c)}`).join(', ');
    }
    const body = wantsBody || headersOnly ? bodySql(media.stripNulls) : 'NULL';
    const text =
      `WITH "pgrst_source" AS (${mutation}) SELECT NULL::bigint AS total, count(*)::int AS page_count, ${body} AS body` +
      `${media.kind === 'csv' && wantsBody ? ', json_agg(_pgrst_t) AS csv_rows' : ''}` +
      ` FROM (SELECT ${list} FROM "pgrst_source" AS "t0") AS _pgrst_t`;
    const row = (await run<PageRow>(text, builder.params.values)).rows[0] as PageRow;
    if (prefer.maxAffected !== undefined && prefer.handling === 'strict' && row.page_count > prefer.maxAffected) {
      throw new DbaasError('MALFORMED_REQUEST', `Query result exceeds max-affected preference constraint`, {
        pgrst: 'PGRST124',
        status: 400,
        detail: `The query affects ${row.page_count} rows`,
      });
    }
    const headers: Record<string, string> = { 'Content-Range': `*/${prefer.count === 'exact' ? row.page_count : '*'}` };
    if (row.page_count > 0 && req.method === 'POST') headers['Content-Range'] = `0-${row.page_count - 1}/${prefer.count === 'exact' ? row.page_count : '*'}`;
    if (headersOnly && req.method === 'POST' && table.primaryKey.length && row.body) {
      const first = (JSON.parse(row.body) as Array<Record<string, unknown>>)[0];
      if (first) headers.Location = `/${table.name}?${table.primaryKey.map((c) => `${encodeURIComponent(c)}=eq.${encodeURIComponent(String(first[c]))}`).join('&')}`;
    }
    if (!wantsBody) {
      if (media.kind === 'object' && row.page_count !== 1) return this.answer(status, headers, media, row, true);
      return { status: req.method === 'POST' ? 201 : 204, headers };
    }
    return this.answer(status, headers, media, row, false, row.csv_rows);
  }

  /** PostgREST refuses nothing unfiltered; Supabase's safeupdate does, and so does dbaas (max-affected bounds it instead). */
  private requireFilter(verb: 'UPDATE' | 'DELETE', filters: string[], prefer: Preferences): void {
    if (filters.length === 0 && prefer.maxAffected === undefined) {
      throw new DbaasError('FILTER_REQUIRED', `${verb} requires a WHERE clause`, {
        sqlstate: '21000',
        hint: `add a filter, or send Prefer: max-affected=N (with handling=strict) to allow at most N rows`,
      });
    }
  }

  private insertColumns(table: RestTable, rows: Array<Record<string, unknown>>, columnsParam: string | undefined): string[] {
    let names: string[];
    if (columnsParam !== undefined) {
      names = columnsParam.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1')).filter((c) => c !== '');
    } else {
      const seen = new Set<string>();
      for (const row of rows) for (const key of Object.keys(row)) seen.add(key);
      names = [...seen];
    }
    requireColumns(table, names);
    return names;
  }

  private conflictTarget(table: RestTable, query: ReadQuery, prefer: Preferences): string[] | undefined {
    if (!prefer.resolution) return undefined;
    const given = query.other.get('on_conflict');
    const target = given ? given.split(',').map((c) => c.trim()) : table.primaryKey;
    requireColumns(table, target);
    if (target.length === 0) throw parseError(`${table.name} has no primary key: name the conflict columns with on_conflict`);
    return target;
  }

  private insertSql(
    builder: Builder,
    table: RestTable,
    rows: Array<Record<string, unknown>>,
    json: string,
    columns: string[],
    options: { missingDefault: boolean; conflict?: string[]; resolution?: Preferences['resolution'] },
  ): string {
    const target = qualified(table);
    const list = columns.map(quoteIdent).join(', ');
    let sql: string;
    if (columns.length === 0) {
      // Every column takes its default: one DEFAULT VALUES insert per row.
      if (rows.length !== 1) throw parseError('rows that name no column can only be inserted one at a time');
      sql = `INSERT INTO ${target} AS "t0" DEFAULT VALUES`;
    } else if (options.missingDefault) {
      // A key a row leaves out takes the column's default, not NULL.
      const tuples = rows.map((row) => {
        const p = builder.params.add(JSON.stringify(row));
        return `(${columns.map((c) => (Object.hasOwn(row, c) ? `(json_populate_record(NULL::${target}, ${p}::json)).${quoteIdent(c)}` : 'DEFAULT')).join(', ')})`;
      });
      sql = `INSERT INTO ${target} AS "t0" (${list}) VALUES ${tuples.join(', ')}`;
    } else {
      // The whole body is one parameter, however many rows: PostgreSQL turns it into rows.
      const p = builder.params.add(json);
      sql = `INSERT INTO ${target} AS "t0" (${list}) SELECT ${list} FROM json_populate_recordset(NULL::${target}, ${p}::json)`;
    }
    if (options.conflict && options.resolution) {
      const updates = columns.filter((c) => !options.conflict?.includes(c));
      sql += ` ON CONFLICT (${options.conflict.map(quoteIdent).join(', ')}) `;
      if (options.resolution === 'ignore-duplicates') sql += 'DO NOTHING';
      else {
        const sets = (updates.length ? updates : options.conflict).map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`);
        sql += `DO UPDATE SET ${sets.join(', ')}`;
      }
    }
    return `${sql} RETURNING "t0".*`;
  }

  // ---- functions ----------------------------------------------------------------------------

  private async call(run: Run, schema: RestSchema, req: RestRequest, prefer: Preferences, media: Media): Promise<RestResponse> {
    const read = READ.has(req.method);
    const overloads = schema.functions.get(req.resource.name) ?? [];
    const argNames = new Set(overloads.flatMap((f) => f.args.map((a) => a.name)));
    let args: Record<string, unknown>;
    if (read) {
      args = {};
      for (const name of argNames) {
        const v = req.query[name];
        if (v !== undefined) args[name] = Array.isArray(v) ? v.at(-1) : v;
      }
    } else {
      args = isObject(req.body) ? req.body : {};
    }
    // A function of one unnamed json or jsonb parameter takes the whole body, whatever its shape,
    // when no function of the name fits the body's keys (PostgREST's fallback).
    const unnamedJson = read ? undefined : overloads.find((f) => f.args.length === 1 && f.args[0]?.name === '' && (f.args[0].type === 'json' || f.args[0].type === 'jsonb'));
    const wholeBody = unnamedJson !== undefined && (!isObject(req.body) || !fitsByName(schema, req.resource.name, Object.keys(args)));
    if (!read && !wholeBody && req.body !== undefined && !isObject(req.body)) {
      throw new DbaasError('MALFORMED_REQUEST', 'the arguments of a function call are one JSON object', { pgrst: 'PGRST102', status: 400 });
    }
    const fn = wholeBody ? unnamedJson : pickFunction(schema, req.resource.name, Object.keys(args));
    const query = parseReadQuery(read ? withoutArgs(req.query, argNames) : req.query);
    const builder = new Builder(schema, query.nodes);
    const callArgs = wholeBody
      ? `${builder.params.add(req.rawBody ?? (req.body === undefined ? null : JSON.stringify(req.body)))}::${unnamedJson.args[0]?.type}`
      : this.arguments(builder, fn, args);
    const call = `${quoteIdent(schema.name)}.${quoteIdent(fn.name)}(${callArgs})`;
    if (fn.returns === 'void') {
      await run(`SELECT ${call}`, builder.params.values);
      return { status: 204, headers: {} };
    }
    if (fn.returns === 'scalar' && !fn.returnsSet) {
      const { rows } = await run<{ body: string }>(`SELECT to_json(${call})::text AS body`, builder.params.values);
      const headers = { 'Content-Type': 'application/json; charset=utf-8', 'Content-Range': '0-0/*' };
      return { status: 200, headers, body: req.method === 'HEAD' ? undefined : (rows[0]?.body ?? 'null') };
    }
    if (fn.returns === 'scalar') {
      const { rows } = await run<{ body: string; page_count: number }>(
        `SELECT coalesce(json_agg("t0"), '[]')::text AS body, count(*)::int AS page_count FROM ${call} AS "t0"`,
        builder.params.values,
      );
      const row = rows[0] as { body: string; page_count: number };
      return { status: 200, headers: { 'Content-Type': 'application/json; charset=utf-8', 'Content-Range': contentRange(0, row.page_count, null) }, body: req.method === 'HEAD' ? undefined : row.body };
    }
    // A set of rows (or one composite): filtered, ordered and embedded like a table.
    const { offset } = this.page(req, query);
    const source: Source = { from: call, columns: fn.columns, table: fn.table, label: fn.name, kind: 'function' };
    const node = builder.build(source, 't0', query.select, '');
    const from = `${call} AS "t0"`;
    const where = whereSql(node.where);
    const row = (await run<PageRow>(pageSql(node, from, where, totalSql(prefer, from, where), media), builder.params.values)).rows[0] as PageRow;
    const totalCount = row.total === null ? null : Number(row.total);
    const headers: Record<string, string> = { 'Content-Range': contentRange(offset, row.page_count, totalCount) };
    if (!fn.returnsSet && media.kind === 'json') {
      // One composite value: PostgREST answers the object itself.
      headers['Content-Type'] = 'application/json; charset=utf-8';
      return { status: 200, headers, body: req.method === 'HEAD' ? undefined : row.page_count ? (row.body as string).slice(1, -1).trim() : 'null' };
    }
    return this.answer(200, headers, media, row, req.method === 'HEAD', row.csv_rows);
  }

  /** `"a" := $1::integer, ...`: named arguments, each bound and cast to its parameter's type. */
  private arguments(builder: Builder, fn: RestFunction, args: Record<string, unknown>): string {
    return fn.args
      .filter((a) => Object.hasOwn(args, a.name))
      .map((a) => {
        const value = args[a.name];
        const json = a.type === 'json' || a.type === 'jsonb';
        const bound = value === null || value === undefined ? null : json || isObject(value) ? JSON.stringify(value) : value;
        return `${a.variadic ? 'VARIADIC ' : ''}${quoteIdent(a.name)} := ${builder.params.add(bound)}::${a.type}`;
      })
      .join(', ');
  }
}

/** A JSON object (not null, not an array). */
function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function withoutArgs(query: RestRequest['query'], names: Set<string>): RestRequest['query'] {
  const rest: RestRequest['query'] = {};
  for (const [k, v] of Object.entries(query)) if (!names.has(k)) rest[k] = v;
  return rest;
}

/** PUT replaces one row named by its whole primary key, in the filters and in the body alike. */
function checkPut(table: RestTable, rows: Array<Record<string, unknown>>, conditions: Condition[]): void {
  const fail = (message: string) => new DbaasError('MALFORMED_REQUEST', message, { pgrst: 'PGRST105', status: 405 });
  if (rows.length !== 1) throw fail('PUT takes one row');
  if (table.primaryKey.length === 0) throw fail(`${table.name} has no primary key: PUT needs one`);
  const eq = new Map<string, string>();
  for (const c of conditions) {
    if (c.kind !== 'filter' || c.op !== 'eq' || c.negate || c.field.path.length) throw fail('Filters must include all and only primary key columns with \'eq\' operators');
    eq.set(c.field.column, String(c.value));
  }
  if (eq.size !== table.primaryKey.length || !table.primaryKey.every((k) => eq.has(k))) {
    throw fail('Filters must include all and only primary key columns with \'eq\' operators');
  }
  const row = rows[0] as Record<string, unknown>;
  for (const key of table.primaryKey) {
    if (String(row[key]) !== eq.get(key)) {
      throw new DbaasError('MALFORMED_REQUEST', 'Payload values do not match URL in primary key column(s)', { pgrst: 'PGRST115', status: 400 });
    }
  }
}

/** CSV as PostgREST writes it: a header line, then values; JSON values as JSON text, null as empty. */
function toCsv(rows: Array<Record<string, unknown>>): string {
  if (rows.length === 0) return '';
  const columns = Object.keys(rows[0] as object);
  const cell = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  return stringify([columns, ...rows.map((r) => columns.map((c) => cell(r[c])))], { eof: false });
}
