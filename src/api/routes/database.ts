import type { Request } from 'express';
import { z } from 'zod';
import { TableInfoSchema, TableListSchema } from '../../database/catalog.js';
import { CreateTableSchema } from '../../database/ddl.js';
import {
  DroppedTableSchema,
  parseRowsQuery,
  QueryResultSchema,
  RowPageSchema,
  RowSchema,
  TransactionResultSchema,
  WriteResultSchema,
  type DataService,
} from '../../database/service.js';
import { InstanceRefParams, queryFlag, route, type RouteDef } from '../routeTable.js';

const TableParams = InstanceRefParams.extend({
  table: z.string().min(1).max(200).meta({ description: 'Table or view: name (schema public) or schema.name', example: 'orders' }),
});
const RowParams = TableParams.extend({
  pk: z.string().min(1).meta({ description: 'Primary key value; for a composite key the values in key order, comma-separated', example: '42' }),
});

const filterValue = z.union([z.string(), z.array(z.string())]);
/** The known parameters of row routes; every other one is a filter `column=op.value`. */
const RowsQuerySchema = z
  .object({
    select: z.string().optional().meta({ description: 'Columns to return, comma-separated', example: 'id,name' }),
    order: z.string().optional().meta({ description: 'col.asc|desc[.nullsfirst|.nullslast], comma-separated', example: 'created_at.desc,id' }),
    limit: z.string().optional().meta({ description: 'Rows to return (capped by the server)', example: '100' }),
    offset: z.string().optional().meta({ example: '0' }),
    after: z.string().optional().meta({ description: 'Keyset paging: empty for the first page, then the `next` of the page before (ordered by the order given, then the primary key)' }),
    count: z.enum(['exact']).optional().meta({ description: 'exact adds the total number of matching rows' }),
    on_conflict: z.string().optional().meta({ description: 'POST: columns of a unique key; colliding rows are updated (upsert)' }),
    returning: z.string().optional().meta({ description: 'Columns of written rows to return, * (default) or none' }),
    force: z.string().optional().meta({ description: 'PATCH/DELETE: true allows a request without a filter' }),
  })
  .catchall(filterValue)
  .meta({
    description:
      'Any other parameter filters on a column: col=eq.5, neq, gt, gte, lt, lte, like (* or % wildcards), ilike, in.(a,b), is.null|true|false, each with an optional not. prefix; repeat a parameter to AND several filters',
  });

const timeoutMs = z.number().int().min(1).optional().meta({ description: 'statement_timeout in ms (capped by the server)' });
const StatementSchema = z
  .object({
    sql: z.string().min(1).max(1_000_000).meta({ description: 'One statement; $1, $2... are bound to params', example: 'SELECT * FROM orders WHERE id = $1' }),
    params: z.array(z.unknown()).max(65_535).optional().meta({ example: [42] }),
  })
  .strict();
const QueryBodySchema = StatementSchema.extend({
  readOnly: z.boolean().optional().meta({ description: 'Run in a READ ONLY transaction' }),
  timeoutMs,
})
  .strict()
  .meta({ id: 'QueryRequest' });
const TransactionBodySchema = z
  .object({
    statements: z.array(StatementSchema).min(1).max(1000),
    readOnly: z.boolean().optional(),
    timeoutMs,
  })
  .strict()
  .meta({ id: 'TransactionRequest' });

/**
 * The query string as express parsed it. Row routes read their filters from it rather than from
 * the validated copy: a parameter named `__proto__` would vanish from a copy instead of being
 * refused as an unknown column.
 */
function rawQuery(req: Request): Record<string, string | string[] | undefined> {
  return req.query as Record<string, string | string[] | undefined>;
}

const DATABASE_ERRORS = ['INSTANCE_NOT_FOUND', 'INSTANCE_NOT_RUNNING', 'STATEMENT_TIMEOUT'] as const;

/** The data API routes of DESIGN.md: tables, rows, SQL. */
export function databaseRoutes(data: DataService): RouteDef[] {
  const limits = () => ({
    defaultLimit: data.settings.rowsDefaultLimit,
    maxLimit: data.settings.rowsMaxLimit,
  });
  return [
    route({
      method: 'get',
      path: '/database/{ref}/tables',
      operationId: 'listTables',
      permission: 'data:read',
      scope: 'instance',
      tag: 'tables',
      summary: 'Tables and views: schema, name, kind, estimated rows, size',
      params: InstanceRefParams,
      query: z.object({ schema: z.string().optional().meta({ description: 'Only this schema' }) }),
      success: {
        status: 200,
        description: 'Tables and views outside the system schemas',
        schema: TableListSchema,
      },
      errors: [...DATABASE_ERRORS],
      handler: async ({ params, query }) => ({ tables: await data.listTables(params.ref, query.schema) }),
    }),
    route({
      method: 'post',
      path: '/database/{ref}/tables',
      operationId: 'createTable',
      permission: 'data:write',
      scope: 'instance',
      tag: 'tables',
      summary: 'Create a table from a column list',
      params: InstanceRefParams,
      body: CreateTableSchema,
      success: { status: 201, description: 'The new table as the catalog describes it', schema: TableInfoSchema },
      errors: [...DATABASE_ERRORS, 'SQL_ERROR', 'PERMISSION_DENIED'],
      handler: ({ params, body }) => data.createTable(params.ref, body),
    }),
    route({
      method: 'get',
      path: '/database/{ref}/types.ts',
      operationId: 'getDatabaseTypes',
      permission: 'data:read',
      scope: 'instance',
      tag: 'tables',
      summary: 'TypeScript types of the tables, views, functions and enums, for supabase-js createClient<Database>',
      params: InstanceRefParams,
      query: z.object({
        schema: z.string().optional().meta({ description: 'Schemas, comma-separated (default public)', example: 'public' }),
      }),
      success: { status: 200, description: 'A TypeScript file in the shape of `supabase gen types typescript`', contentType: 'text/plain' },
      errors: [...DATABASE_ERRORS, 'MALFORMED_REQUEST'],
      handler: async ({ params, query, res }) => {
        const schemas = query.schema ? query.schema.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
        const file = await data.types(params.ref, schemas);
        res.type('text/plain').send(file);
        return undefined;
      },
    }),
    route({
      method: 'get',
      path: '/database/{ref}/tables/{table}',
      operationId: 'getTable',
      permission: 'data:read',
      scope: 'instance',
      tag: 'tables',
      summary: 'Columns (type, nullability, default), primary key, foreign keys, indexes',
      params: TableParams,
      success: { status: 200, description: 'The table', schema: TableInfoSchema },
      errors: [...DATABASE_ERRORS, 'TABLE_NOT_FOUND'],
      handler: ({ params }) => data.describeTable(params.ref, params.table),
    }),
    route({
      method: 'delete',
      path: '/database/{ref}/tables/{table}',
      operationId: 'dropTable',
      permission: 'data:write',
      scope: 'instance',
      tag: 'tables',
      summary: 'Drop a table (or view); needs confirm=true',
      params: TableParams,
      query: z.object({
        confirm: queryFlag.meta({ description: 'Required: true' }),
        cascade: queryFlag.meta({ description: 'Also drop what depends on it' }),
      }),
      success: { status: 200, description: 'Dropped', schema: DroppedTableSchema },
      errors: [...DATABASE_ERRORS, 'TABLE_NOT_FOUND', 'CONFIRMATION_REQUIRED', 'SQL_ERROR'],
      handler: ({ params, query }) => data.dropTable(params.ref, params.table, { confirm: query.confirm, cascade: query.cascade }),
    }),
    route({
      method: 'get',
      path: '/database/{ref}/tables/{table}/rows',
      operationId: 'listRows',
      permission: 'data:read',
      scope: 'instance',
      tag: 'rows',
      summary: 'Rows, filtered, ordered and paged (read-only transaction)',
      params: TableParams,
      query: RowsQuerySchema,
      success: {
        status: 200,
        description: 'Rows; int8/numeric beyond 2^53 as strings, timestamps as ISO strings, bytea as base64',
        schema: RowPageSchema,
      },
      errors: [...DATABASE_ERRORS, 'TABLE_NOT_FOUND', 'COLUMN_NOT_FOUND', 'INVALID_VALUE'],
      handler: async ({ params, req, res }) => {
        const q = parseRowsQuery(rawQuery(req), limits());
        const page = await data.listRows(params.ref, params.table, q);
        const end = page.offset + page.rows.length - 1;
        res.setHeader('Content-Range', `${page.rows.length ? `${page.offset}-${end}` : '*'}/${page.count ?? '*'}`);
        return page;
      },
    }),
    route({
      method: 'post',
      path: '/database/{ref}/tables/{table}/rows',
      operationId: 'insertRows',
      permission: 'data:write',
      scope: 'instance',
      idempotent: true,
      tag: 'rows',
      summary: 'Insert one row or an array of rows in one statement; upsert with on_conflict',
      params: TableParams,
      query: RowsQuerySchema,
      body: z.union([RowSchema, z.array(RowSchema)]),
      success: { status: 201, description: 'Rows written, and the rows themselves unless returning=none', schema: WriteResultSchema },
      errors: [...DATABASE_ERRORS, 'TABLE_NOT_FOUND', 'COLUMN_NOT_FOUND', 'INVALID_VALUE', 'UNIQUE_VIOLATION', 'FOREIGN_KEY_VIOLATION'],
      handler: ({ params, req, body }) => data.insertRows(params.ref, params.table, body, parseRowsQuery(rawQuery(req), limits())),
    }),
    route({
      method: 'patch',
      path: '/database/{ref}/tables/{table}/rows',
      operationId: 'updateRows',
      permission: 'data:write',
      scope: 'instance',
      tag: 'rows',
      summary: 'Update the rows that match the filters (refused without a filter unless force=true)',
      params: TableParams,
      query: RowsQuerySchema,
      body: RowSchema,
      success: { status: 200, description: 'Rows updated', schema: WriteResultSchema },
      errors: [...DATABASE_ERRORS, 'TABLE_NOT_FOUND', 'COLUMN_NOT_FOUND', 'INVALID_VALUE', 'FILTER_REQUIRED', 'UNIQUE_VIOLATION'],
      handler: ({ params, req, body }) => data.updateRows(params.ref, params.table, body, parseRowsQuery(rawQuery(req), limits())),
    }),
    route({
      method: 'delete',
      path: '/database/{ref}/tables/{table}/rows',
      operationId: 'deleteRows',
      permission: 'data:write',
      scope: 'instance',
      tag: 'rows',
      summary: 'Delete the rows that match the filters (refused without a filter unless force=true)',
      params: TableParams,
      query: RowsQuerySchema,
      success: { status: 200, description: 'Rows deleted', schema: WriteResultSchema },
      errors: [...DATABASE_ERRORS, 'TABLE_NOT_FOUND', 'COLUMN_NOT_FOUND', 'FILTER_REQUIRED', 'FOREIGN_KEY_VIOLATION'],
      handler: ({ params, req }) => data.deleteRows(params.ref, params.table, parseRowsQuery(rawQuery(req), limits())),
    }),
    route({
      method: 'get',
      path: '/database/{ref}/tables/{table}/rows/{pk}',
      operationId: 'getRow',
      permission: 'data:read',
      scope: 'instance',
      tag: 'rows',
      summary: 'One row by primary key',
      params: RowParams,
      query: z.object({ select: z.string().optional() }),
      success: { status: 200, description: 'The row', schema: RowSchema },
      errors: [...DATABASE_ERRORS, 'TABLE_NOT_FOUND', 'ROW_NOT_FOUND', 'NO_PRIMARY_KEY', 'INVALID_VALUE'],
      handler: ({ params, query }) => data.getRow(params.ref, params.table, params.pk, parseRowsQuery({ select: query.select }, limits()).select),
    }),
    route({
      method: 'patch',
      path: '/database/{ref}/tables/{table}/rows/{pk}',
      operationId: 'updateRow',
      permission: 'data:write',
      scope: 'instance',
      tag: 'rows',
      summary: 'Update one row by primary key',
      params: RowParams,
      query: z.object({ returning: z.string().optional() }),
      body: RowSchema,
      success: { status: 200, description: 'The updated row', schema: RowSchema },
      errors: [...DATABASE_ERRORS, 'TABLE_NOT_FOUND', 'ROW_NOT_FOUND', 'NO_PRIMARY_KEY', 'COLUMN_NOT_FOUND', 'INVALID_VALUE', 'UNIQUE_VIOLATION'],
      handler: ({ params, query, body }) =>
        data.updateRow(params.ref, params.table, params.pk, body, parseRowsQuery({ returning: query.returning }, limits()).returning),
    }),
    route({
      method: 'delete',
      path: '/database/{ref}/tables/{table}/rows/{pk}',
      operationId: 'deleteRow',
      permission: 'data:write',
      scope: 'instance',
      tag: 'rows',
      summary: 'Delete one row by primary key',
      params: RowParams,
      query: z.object({ returning: z.string().optional() }),
      success: { status: 200, description: 'The deleted row', schema: RowSchema },
      errors: [...DATABASE_ERRORS, 'TABLE_NOT_FOUND', 'ROW_NOT_FOUND', 'NO_PRIMARY_KEY', 'FOREIGN_KEY_VIOLATION'],
      handler: ({ params, query }) =>
        data.deleteRow(params.ref, params.table, params.pk, parseRowsQuery({ returning: query.returning }, limits()).returning),
    }),
    route({
      method: 'post',
      path: '/database/{ref}/query',
      operationId: 'runQuery',
      permission: 'data:write',
      scope: 'instance',
      tag: 'sql',
      summary: 'Run one SQL statement with bound parameters, optionally read-only, under a timeout',
      params: InstanceRefParams,
      body: QueryBodySchema,
      success: { status: 200, description: 'The result (at most the configured number of rows)', schema: QueryResultSchema },
      errors: [...DATABASE_ERRORS, 'SQL_ERROR', 'INVALID_VALUE', 'UNIQUE_VIOLATION', 'FOREIGN_KEY_VIOLATION', 'PERMISSION_DENIED', 'TABLE_NOT_FOUND', 'TRANSACTION_CONFLICT'],
      handler: ({ params, body }) => data.query(params.ref, body),
    }),
    route({
      method: 'post',
      path: '/database/{ref}/transaction',
      operationId: 'runTransaction',
      permission: 'data:write',
      scope: 'instance',
      tag: 'sql',
      summary: 'Run statements in one transaction: all commit or none (the error names the statement)',
      params: InstanceRefParams,
      body: TransactionBodySchema,
      success: {
        status: 200,
        description: 'One result per statement',
        schema: TransactionResultSchema,
      },
      errors: [...DATABASE_ERRORS, 'SQL_ERROR', 'INVALID_VALUE', 'UNIQUE_VIOLATION', 'FOREIGN_KEY_VIOLATION', 'PERMISSION_DENIED', 'TABLE_NOT_FOUND', 'TRANSACTION_CONFLICT'],
      handler: ({ params, body }) => data.transaction(params.ref, body),
    }),
  ];
}
