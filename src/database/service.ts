import type pg from 'pg';
import Cursor from 'pg-cursor';
import { z } from 'zod';
import { DbaasError } from '../errors.js';
import type { InstanceRecord } from '../instances/schema.js';
import { CatalogCache, describeTable, listTables, resolveTable, type TableInfo, type TableSummary } from './catalog.js';
import { buildCreateTable, typesToCheck, type CreateTableInput } from './ddl.js';
import { PoolManager, type InstanceAccess, type RequestOptions } from './pools.js';
import { fromPgError } from './sqlstate.js';
import { queryPrepared } from './prepared.js';
import { checkStatement } from './statementGuard.js';
import { checkSchemaName, RestSchemaCache } from './rest/schema.js';
import { renderTypes } from './rest/typescript.js';
import { RestService } from './rest/service.js';
import { encodeCursor } from './rest/sql.js';
import {
  assertRowObject,
  buildCount,
  buildDelete,
  buildInsert,
  buildSelect,
  buildUpdate,
  CURSOR_COLUMN,
  parseFilter,
  parseLogicFilter,
  parseOrder,
  parseSelect,
  primaryKeyFilters,
  qualifiedName,
  type Filter,
  type OrderTerm,
} from './query.js';

/** What one statement of the extended protocol can bind (its count is a 16-bit field). */
export const MAX_BIND_PARAMETERS = 65_535;

/** Keys whose value is a tree of conditions: or=(a.eq.1,b.gt.2), not.and=(...). */
const LOGIC_KEYS = new Set(['or', 'and', 'not.or', 'not.and']);

/** Query parameters of row routes that are not filters. */
export const RESERVED_PARAMS = ['select', 'order', 'limit', 'offset', 'after', 'count', 'on_conflict', 'returning', 'force'] as const;

export interface RowsQuery {
  filters: Filter[];
  select: string[] | '*';
  order: OrderTerm[];
  limit: number;
  offset: number;
  /** A keyset page (after=): '' for the first, else the cursor the page before answered. */
  after?: string;
  count: boolean;
  onConflict?: string[];
  returning: string[] | '*' | null;
  force: boolean;
  /** The query as the REST routes take it (the remote CLI sends it on as it is). */
  source?: Record<string, string | string[] | undefined>;
}

function invalid(field: string, message: string): DbaasError {
  return new DbaasError('VALIDATION_FAILED', `${field}: ${message}`, { issues: [{ field, message }] });
}

function flag(value: string | undefined, field: string): boolean {
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === '' || value === 'true' || value === '1') return true;
  throw invalid(field, 'must be true or false');
}

function wholeNumber(value: string | undefined, field: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return Math.min(fallback, max);
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw invalid(field, 'must be a whole number of 0 or more');
  return Math.min(n, max);
}

/**
 * A row request's query string, PostgREST style: every key that is not reserved is a column
 * with one or more `op.value` filters; limit is capped by the server.
 */
export function parseRowsQuery(
  query: Record<string, string | string[] | undefined>,
  limits: { defaultLimit: number; maxLimit: number },
): RowsQuery {
  const one = (key: string): string | undefined => {
    const v = query[key];
    if (Array.isArray(v)) throw invalid(key, 'give it once');
    return v;
  };
  const filters: Filter[] = [];
  for (const [key, value] of Object.entries(query)) {
    if ((RESERVED_PARAMS as readonly string[]).includes(key) || value === undefined) continue;
    for (const expression of Array.isArray(value) ? value : [value]) {
      filters.push(LOGIC_KEYS.has(key) ? parseLogicFilter(key as 'or', expression) : parseFilter(key, expression));
    }
  }
  const returning = one('returning');
  const onConflict = one('on_conflict');
  const count = one('count');
  if (count !== undefined && count !== 'exact') throw invalid('count', 'the only count is exact');
  return {
    filters,
    select: parseSelect(one('select')),
    order: one('order') ? parseOrder(one('order') as string) : [],
    limit: wholeNumber(one('limit'), 'limit', limits.defaultLimit, limits.maxLimit),
    offset: wholeNumber(one('offset'), 'offset', 0),
    after: one('after'),
    count: count === 'exact',
    onConflict: onConflict ? onConflict.split(',').map((c) => c.trim()) : undefined,
    returning: returning === 'none' ? null : parseSelect(returning, 'returning'),
    force: flag(one('force'), 'force'),
    source: query,
  };
}

/**
 * A row: column name to value. Not a z.record: parsing copies keys into a new object, and a key
 * named `__proto__` then vanishes (it sets the copy's prototype) instead of being refused as the
 * unknown column it is. A row a client sends is passed on as JSON.parse made it.
 */
export const RowSchema = z
  .custom<Record<string, unknown>>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), {
    message: 'must be a JSON object of column: value',
  })
  .meta({ id: 'Row', type: 'object', additionalProperties: true, description: 'A row: column name to value' });
export type Row = z.output<typeof RowSchema>;

/** What listRows answers: a page of rows, with the total when asked for an exact count. */
export const RowPageSchema = z
  .object({
    rows: z.array(RowSchema),
    count: z.number().optional(),
    limit: z.number(),
    offset: z.number(),
    next: z.string().optional().meta({ description: 'With after=: the cursor of the next page (after=<next>), when this one is full' }),
  })
  .meta({ id: 'RowPage' });
export type RowPage = z.output<typeof RowPageSchema>;

/** What a write of rows answers: how many, and the rows themselves unless `returning` is none. */
export const WriteResultSchema = z.object({ count: z.number(), rows: z.array(RowSchema).optional() }).meta({ id: 'WriteResult' });
export type WriteResult = z.output<typeof WriteResultSchema>;

/** What dropTable answers: the qualified name of what it dropped. */
export const DroppedTableSchema = z.object({ dropped: z.string() }).meta({ id: 'DroppedTable' });
export type DroppedTable = z.output<typeof DroppedTableSchema>;

/** One statement's result, as `execute` builds it. */
export const QueryResultSchema = z
  .object({
    command: z.string().meta({ example: 'SELECT' }),
    rowCount: z.number().nullable(),
    fields: z.array(z.object({ name: z.string(), type: z.string() })),
    rows: z.array(RowSchema),
    truncated: z.boolean().meta({ description: 'More rows than the server returns at most' }),
  })
  .meta({ id: 'QueryResult' });
export type QueryResult = z.output<typeof QueryResultSchema>;

/** What a transaction answers: one result per statement, in order. */
export const TransactionResultSchema = z.object({ results: z.array(QueryResultSchema) }).meta({ id: 'TransactionResult' });
export type TransactionResult = z.output<typeof TransactionResultSchema>;

export interface Statement {
  sql: string;
  params?: unknown[];
}

/**
 * The data API over one instance's database, as its application role: tables, rows and SQL.
 * Every request is one transaction with a statement timeout; reads are READ ONLY.
 */
export class DataService {
  readonly pools: PoolManager;
  private readonly catalog = new CatalogCache();
  private readonly restSchemas = new RestSchemaCache();
  private readonly typeNames = new Map<number, string>();
  /** The PostgREST-compatible endpoint over the same pools and sessions. */
  readonly rest: RestService;

  constructor(private readonly instances: InstanceAccess & { record(ref: string): Promise<InstanceRecord> }) {
    this.pools = new PoolManager(instances);
    this.rest = new RestService({
      session: (ref, options, work) => this.run(ref, options, (client, record) => work(client, record.id)),
      schema: (instanceId, client, name, reloadAfterMs) => this.restSchemas.get(instanceId, client, name, reloadAfterMs),
      get maxRows() {
        return instances.settings.rowsMaxLimit;
      },
    });
  }

  get settings() {
    return this.instances.settings;
  }

  /**
   * Runs work on a connection (in one transaction when `transaction`). The catalog cache starts over when the work may have changed
   * tables (`changesCatalog`: SQL that is not read-only) or an error says the catalog changed.
   */
  private async run<T>(
    ref: string,
    options: RequestOptions & { changesCatalog?: boolean; transaction?: boolean; userSql?: boolean; rollback?: boolean },
    work: (client: pg.PoolClient, record: InstanceRecord) => Promise<T>,
  ): Promise<T> {
    const record = await this.instances.record(ref);
    try {
      return await this.pools.session(record, options, (client) => work(client, record));
    } catch (err) {
      const code = (err as DbaasError).code;
      if (code === 'TABLE_NOT_FOUND' || code === 'COLUMN_NOT_FOUND') this.forgetCatalog(record.id);
      throw err;
    } finally {
      if (options.changesCatalog) this.forgetCatalog(record.id);
    }
  }

  private forgetCatalog(instanceId: string): void {
    this.catalog.forget(instanceId);
    this.restSchemas.forget(instanceId);
  }

  private table(record: InstanceRecord, client: pg.PoolClient, name: string): Promise<TableInfo> {
    return this.catalog.table(record.id, client, name);
  }

  async close(): Promise<void> {
    await this.pools.closeAll();
  }

  // ---- tables -------------------------------------------------------------------------------

  listTables(ref: string, schema?: string): Promise<TableSummary[]> {
    return this.run(ref, { readOnly: true }, (client) => listTables(client, schema));
  }

  describeTable(ref: string, name: string): Promise<TableInfo> {
    return this.run(ref, { readOnly: true }, (client, record) => this.table(record, client, name));
  }

  async createTable(ref: string, def: CreateTableInput): Promise<TableInfo> {
    return this.run(ref, { changesCatalog: true, transaction: true }, async (client, record) => {
      const types = typesToCheck(def);
      const { rows } = await client.query<{ name: string; ok: boolean }>(
        'SELECT t AS name, to_regtype(t) IS NOT NULL AS ok FROM unnest($1::text[]) AS t',
        [types],
      );
      const unknown = rows.filter((r) => !r.ok).map((r) => r.name);
      if (unknown.length) {
        throw new DbaasError('VALIDATION_FAILED', `columns: unknown type ${unknown.join(', ')}`, {
          issues: unknown.map((t) => ({ field: 'columns', message: `unknown type ${t}` })),
        });
      }
      await client.query(buildCreateTable(def));
      return describeTable(client, await resolveTable(client, `${def.schema}.${def.name}`));
    });
  }

  async dropTable(ref: string, name: string, options: { confirm: boolean; cascade: boolean }): Promise<DroppedTable> {
    if (!options.confirm) {
      throw new DbaasError('CONFIRMATION_REQUIRED', `dropping ${name} deletes its rows: repeat with confirm=true`, { table: name });
    }
    return this.run(ref, { changesCatalog: true, transaction: true }, async (client, record) => {
      const table = await this.table(record, client, name);
      const what = table.kind === 'view' ? 'VIEW' : table.kind === 'materialized view' ? 'MATERIALIZED VIEW' : table.kind === 'foreign table' ? 'FOREIGN TABLE' : 'TABLE';
      await client.query(`DROP ${what} ${qualifiedName(table)}${options.cascade ? ' CASCADE' : ''}`);
      return { dropped: `${table.schema}.${table.name}` };
    });
  }

  /**
   * TypeScript types of the schemas (default public) for supabase-js' createClient<Database>, read
   * from the catalog now (not from the cache: a generated file should match the database).
   */
  async types(ref: string, schemas: string[] = ['public']): Promise<string> {
    for (const name of schemas) checkSchemaName(name);
    return this.run(ref, { readOnly: true }, async (client, record) => {
      const loaded = [];
      for (const name of schemas) loaded.push(await this.restSchemas.get(record.id, client, name, 0));
      return renderTypes(loaded);
    });
  }

  // ---- rows ---------------------------------------------------------------------------------

  async listRows(ref: string, name: string, q: RowsQuery): Promise<RowPage> {
    // With a count, rows and count come from one snapshot.
    return this.run(ref, { readOnly: true, transaction: q.count }, async (client, record) => {
      const table = await this.table(record, client, name);
      const select = buildSelect(table, q);
      const { rows } = await queryPrepared(client, select.text, select.values, { inTransaction: q.count });
      const page: RowPage = { rows, limit: q.limit, offset: q.offset };
      if (q.after !== undefined) {
        // Each row carried its keyset key: the last one's is the next cursor, when the page is full.
        const last = rows.at(-1)?.[CURSOR_COLUMN] as string[] | undefined;
        for (const row of rows) delete row[CURSOR_COLUMN];
        if (last && rows.length === q.limit) page.next = encodeCursor(last);
      }
      if (!q.count) return page;
      const count = buildCount(table, q.filters);
      const total = await queryPrepared<{ count: number | string }>(client, count.text, count.values, { inTransaction: true });
      return { ...page, count: Number(total.rows[0]?.count ?? 0) };
    });
  }

  async getRow(ref: string, name: string, key: string, select: string[] | '*'): Promise<Row> {
    return this.run(ref, { readOnly: true }, async (client, record) => {
      const table = await this.table(record, client, name);
      const q = buildSelect(table, { filters: primaryKeyFilters(table, key), select, order: [], limit: 1, offset: 0 });
      const { rows } = await queryPrepared(client, q.text, q.values, { inTransaction: false });
      if (rows.length === 0) throw new DbaasError('ROW_NOT_FOUND', `no row of ${table.schema}.${table.name} with key ${key}`, { key });
      return rows[0] as Row;
    });
  }

  async insertRows(ref: string, name: string, body: unknown, q: Pick<RowsQuery, 'onConflict' | 'returning'>): Promise<WriteResult> {
    const many = Array.isArray(body);
    const rows = many ? (body as unknown[]) : [body];
    if (rows.length === 0) throw invalid('body', 'give at least one row');
    rows.forEach((row, i) => assertRowObject(row, many ? i : undefined));
    // A statement binds at most 65 535 values: more rows go in several INSERTs of one transaction.
    const columns = new Set(rows.flatMap((row) => Object.keys(row as object))).size;
    const perStatement = Math.max(1, Math.floor(MAX_BIND_PARAMETERS / Math.max(1, columns)));
    const batches: unknown[][] = [];
    for (let i = 0; i < rows.length; i += perStatement) batches.push(rows.slice(i, i + perStatement));
    return this.run(ref, { transaction: batches.length > 1 }, async (client, record) => {
      const table = await this.table(record, client, name);
      let count = 0;
      const written: Row[] = [];
      for (const batch of batches) {
        const insert = buildInsert(table, batch as Array<Record<string, unknown>>, q);
        const result = await queryPrepared(client, insert.text, insert.values, { inTransaction: batches.length > 1 });
        count += result.rowCount ?? 0;
        if (q.returning !== null) written.push(...result.rows);
      }
      return { count, rows: q.returning === null ? undefined : written };
    });
  }

  async updateRows(ref: string, name: string, body: unknown, q: Pick<RowsQuery, 'filters' | 'returning' | 'force'>): Promise<WriteResult> {
    assertRowObject(body);
    if (q.filters.length === 0 && !q.force) {
      throw new DbaasError('FILTER_REQUIRED', 'an update without a filter changes every row: add a filter or force=true');
    }
    return this.run(ref, {}, async (client, record) => {
      const table = await this.table(record, client, name);
      const update = buildUpdate(table, body, q.filters, q.returning);
      const result = await queryPrepared(client, update.text, update.values, { inTransaction: false });
      return { count: result.rowCount ?? 0, rows: q.returning === null ? undefined : result.rows };
    });
  }

  async deleteRows(ref: string, name: string, q: Pick<RowsQuery, 'filters' | 'returning' | 'force'>): Promise<WriteResult> {
    if (q.filters.length === 0 && !q.force) {
      throw new DbaasError('FILTER_REQUIRED', 'a delete without a filter removes every row: add a filter or force=true');
    }
    return this.run(ref, {}, async (client, record) => {
      const table = await this.table(record, client, name);
      const del = buildDelete(table, q.filters, q.returning);
      const result = await queryPrepared(client, del.text, del.values, { inTransaction: false });
      return { count: result.rowCount ?? 0, rows: q.returning === null ? undefined : result.rows };
    });
  }

  async updateRow(ref: string, name: string, key: string, body: unknown, returning: string[] | '*' | null): Promise<Row> {
    assertRowObject(body);
    return this.run(ref, {}, async (client, record) => {
      const table = await this.table(record, client, name);
      const update = buildUpdate(table, body, primaryKeyFilters(table, key), returning ?? '*');
      const result = await queryPrepared(client, update.text, update.values, { inTransaction: false });
      if (result.rowCount === 0) throw new DbaasError('ROW_NOT_FOUND', `no row of ${table.schema}.${table.name} with key ${key}`, { key });
      return returning === null ? { count: 1 } : (result.rows[0] as Row);
    });
  }

  async deleteRow(ref: string, name: string, key: string, returning: string[] | '*' | null): Promise<Row> {
    return this.run(ref, {}, async (client, record) => {
      const table = await this.table(record, client, name);
      const del = buildDelete(table, primaryKeyFilters(table, key), returning ?? '*');
      const result = await queryPrepared(client, del.text, del.values, { inTransaction: false });
      if (result.rowCount === 0) throw new DbaasError('ROW_NOT_FOUND', `no row of ${table.schema}.${table.name} with key ${key}`, { key });
      return returning === null ? { count: 1 } : (result.rows[0] as Row);
    });
  }

  // ---- SQL ----------------------------------------------------------------------------------

  /** Names of result column types, looked up once per oid in one query for all the new ones. */
  private async typeNamesOf(client: pg.PoolClient, oids: number[]): Promise<Map<number, string>> {
    const missing = [...new Set(oids)].filter((oid) => !this.typeNames.has(oid));
    if (missing.length) {
      const { rows } = await client.query<{ oid: number; name: string }>(
        'SELECT t::int AS oid, format_type(t, NULL) AS name FROM unnest($1::oid[]) AS t',
        [missing],
      );
      for (const row of rows) this.typeNames.set(row.oid, row.name);
    }
    return this.typeNames;
  }

  /**
   * One statement, through a cursor so that a huge result cannot fill the server's memory: at
   * most queryMaxRows rows come back, and `truncated` says when there were more.
   */
  private async execute(client: pg.PoolClient, statement: Statement): Promise<QueryResult> {
    const max = this.settings.queryMaxRows;
    const cursor = client.query(new Cursor(statement.sql, statement.params ?? []));
    // A cursor never calls back when its connection dies under it (the backend was terminated,
    // the server killed): the loss of the connection settles the wait instead.
    const lost = connectionLoss(client);
    let read: { rows: Row[]; result: pg.QueryResult };
    try {
      read = await Promise.race([
        new Promise<typeof read>((resolve, reject) => {
          cursor.read(max + 1, (err, rows, result) => (err ? reject(err) : resolve({ rows, result })));
        }),
        lost.promise,
      ]);
    } finally {
      await Promise.race([new Promise<void>((resolve) => cursor.close(() => resolve())), lost.promise.catch(() => undefined)]);
      lost.dispose();
    }
    // The connection is free again once the cursor is closed: now the type names.
    const { rows, result } = read;
    const names = await this.typeNamesOf(client, (result.fields ?? []).map((f) => f.dataTypeID));
    return {
      command: result.command ?? '',
      rowCount: result.rowCount ?? (result.fields?.length ? Math.min(rows.length, max) : null),
      fields: (result.fields ?? []).map((f) => ({ name: f.name, type: names.get(f.dataTypeID) ?? String(f.dataTypeID) })),
      rows: rows.slice(0, max),
      truncated: rows.length > max,
    };
  }

  /**
   * One statement of the user's. Read-only runs in a READ ONLY transaction that the statement
   * cannot end or change (checked by the parser first); otherwise it runs on its own, so that
   * statements that refuse a transaction block (VACUUM, CREATE INDEX CONCURRENTLY) work.
   */
  async query(ref: string, statement: Statement & RequestOptions): Promise<QueryResult> {
    const readOnly = Boolean(statement.readOnly);
    await checkStatement(statement.sql, { inTransaction: readOnly, readOnly });
    const options = { readOnly, transaction: readOnly, timeoutMs: statement.timeoutMs, changesCatalog: !readOnly, userSql: true };
    return this.run(ref, options, (client) => this.execute(client, statement));
  }

  /** Statements that commit together or not at all; a failure names the statement. */
  async transaction(ref: string, input: { statements: Statement[] } & RequestOptions): Promise<TransactionResult> {
    // Every statement is checked before the first runs: a refused one leaves nothing done.
    const context = { inTransaction: true, readOnly: Boolean(input.readOnly) };
    for (const [index, statement] of input.statements.entries()) await checkStatement(statement.sql, context, index);
    const options = { readOnly: input.readOnly, timeoutMs: input.timeoutMs, changesCatalog: !input.readOnly, transaction: true, userSql: true };
    return this.run(ref, options, async (client, record) => {
      const results: QueryResult[] = [];
      for (const [index, statement] of input.statements.entries()) {
        try {
          results.push(await this.execute(client, statement));
        } catch (err) {
          const e = fromPgError(err, record.name);
          throw new DbaasError(e.code, `statement ${index + 1} failed, nothing was committed: ${e.message}`, {
            ...e.details,
            statementIndex: index,
          });
        }
      }
      return { results };
    });
  }
}

/** A promise that rejects when the client's connection ends or fails; dispose() stops listening. */
function connectionLoss(client: pg.PoolClient): { promise: Promise<never>; dispose(): void } {
  let onLoss: (err?: Error) => void = () => undefined;
  const promise = new Promise<never>((_resolve, reject) => {
    onLoss = (err?: Error) => reject(err ?? new Error('Connection terminated unexpectedly'));
  });
  promise.catch(() => undefined); // only awaited while a cursor runs
  const onEnd = () => onLoss();
  client.on('error', onLoss);
  client.on('end', onEnd);
  return {
    promise,
    dispose() {
      client.removeListener('error', onLoss);
      client.removeListener('end', onEnd);
    },
  };
}
