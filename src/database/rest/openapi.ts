import type { ColumnInfo } from '../catalog.js';
import type { RestFunction, RestSchema, RestTable } from './schema.js';

/**
 * The OpenAPI (Swagger 2.0) description PostgREST serves at its root, for
 * postgrest-js' `getOpenApiSpec()` and the tools that read it: a path per table, view and
 * function of the schema, a definition per table with its columns, and PostgREST's shared
 * parameters. Pure: it renders what the schema cache read.
 */

type Json = Record<string, unknown>;

/** A column as a Swagger property: `type` where JSON has one, `format` the PostgreSQL type. */
function property(column: ColumnInfo, schema: RestSchema, primaryKey: string[]): Json {
  const udt = column.udtName;
  const base = udt.startsWith('_') ? udt.slice(1) : udt;
  const scalar = (name: string): Json => {
    if (['int2', 'int4', 'int8'].includes(name)) return { type: 'integer' };
    if (['float4', 'float8', 'numeric'].includes(name)) return { type: 'number' };
    if (name === 'bool') return { type: 'boolean' };
    if (name === 'json' || name === 'jsonb') return {};
    const labels = schema.enums.get(name);
    if (labels) return { type: 'string', enum: labels };
    return { type: 'string' };
  };
  const prop: Json = udt.startsWith('_') ? { type: 'array', items: scalar(base) } : scalar(udt);
  prop.format = column.type;
  if (column.default !== null) prop.default = column.default;
  if (primaryKey.includes(column.name)) prop.description = 'Note:\nThis is a Primary Key.<pk/>';
  return prop;
}

function definition(table: RestTable, schema: RestSchema): Json {
  const required = table.columns.filter((c) => !c.nullable && c.default === null && !c.identity && !c.generated).map((c) => c.name);
  return {
    type: 'object',
    ...(required.length ? { required } : {}),
    properties: Object.fromEntries(table.columns.map((c) => [c.name, property(c, schema, table.primaryKey)])),
  };
}

const SHARED_PARAMETERS: Json = {
  preferParams: { name: 'Prefer', in: 'header', type: 'string', enum: ['params=single-object'] },
  preferReturn: { name: 'Prefer', in: 'header', type: 'string', enum: ['return=representation', 'return=minimal', 'return=none'] },
  preferCount: { name: 'Prefer', in: 'header', type: 'string', enum: ['count=none'] },
  preferPost: {
    name: 'Prefer',
    in: 'header',
    type: 'string',
    enum: ['return=representation', 'return=minimal', 'return=none', 'resolution=ignore-duplicates', 'resolution=merge-duplicates'],
  },
  select: { name: 'select', description: 'Filtering Columns', required: false, in: 'query', type: 'string' },
  on_conflict: { name: 'on_conflict', description: 'On Conflict', required: false, in: 'query', type: 'string' },
  order: { name: 'order', description: 'Ordering', required: false, in: 'query', type: 'string' },
  range: { name: 'Range', description: 'Limiting and Pagination', required: false, in: 'header', type: 'string' },
  rangeUnit: { name: 'Range-Unit', description: 'Limiting and Pagination', required: false, default: 'items', in: 'header', type: 'string' },
  offset: { name: 'offset', description: 'Limiting and Pagination', required: false, in: 'query', type: 'string' },
  limit: { name: 'limit', description: 'Limiting and Pagination', required: false, in: 'query', type: 'string' },
  after: { name: 'after', description: 'Keyset pagination (dbaas): empty for the first page, then the Next-Cursor of the page before', required: false, in: 'query', type: 'string' },
};

function tablePaths(table: RestTable): Json {
  const filters = table.columns.map((c) => ({ $ref: `#/parameters/rowFilter.${table.name}.${c.name}` }));
  const ok = { description: 'OK', schema: { type: 'array', items: { $ref: `#/definitions/${table.name}` } } };
  const read = {
    tags: [table.name],
    parameters: [...filters, ...['select', 'order', 'range', 'rangeUnit', 'offset', 'limit', 'after', 'preferCount'].map((p) => ({ $ref: `#/parameters/${p}` }))],
    responses: { '200': ok, '206': { description: 'Partial Content' } },
  };
  if (table.kind !== 'table' && table.kind !== 'partitioned table') return { get: read };
  const body = { $ref: `#/parameters/body.${table.name}` };
  return {
    get: read,
    post: { tags: [table.name], parameters: [body, { $ref: '#/parameters/select' }, { $ref: '#/parameters/preferPost' }], responses: { '201': { description: 'Created' } } },
    delete: { tags: [table.name], parameters: [...filters, { $ref: '#/parameters/preferReturn' }], responses: { '204': { description: 'No Content' } } },
    patch: { tags: [table.name], parameters: [...filters, body, { $ref: '#/parameters/preferReturn' }], responses: { '204': { description: 'No Content' } } },
  };
}

function functionPaths(fn: RestFunction): Json {
  const args = fn.args.filter((a) => a.name !== '');
  const properties = Object.fromEntries(args.map((a) => [a.name, { format: a.type, type: a.udtName.startsWith('_') ? 'array' : 'string' }]));
  const required = args.filter((a) => !a.optional).map((a) => a.name);
  const call = {
    tags: [`(rpc) ${fn.name}`],
    parameters: [{ name: 'args', in: 'body', required: true, schema: { type: 'object', ...(required.length ? { required } : {}), properties } }, { $ref: '#/parameters/preferParams' }],
    produces: ['application/json', 'application/vnd.pgrst.object+json'],
    responses: { '200': { description: 'OK' } },
  };
  const get = {
    tags: [`(rpc) ${fn.name}`],
    parameters: args.map((a) => ({ name: a.name, in: 'query', required: !a.optional, type: 'string', format: a.type })),
    responses: { '200': { description: 'OK' } },
  };
  return { get, post: call };
}

export function describeSchema(schema: RestSchema, options: { basePath: string; version: string }): Json {
  const tables = [...schema.tables.values()];
  const parameters: Json = { ...SHARED_PARAMETERS };
  for (const table of tables) {
    parameters[`body.${table.name}`] = { name: table.name, description: table.name, required: false, in: 'body', schema: { $ref: `#/definitions/${table.name}` } };
    for (const c of table.columns) {
      parameters[`rowFilter.${table.name}.${c.name}`] = { name: c.name, required: false, format: c.type, in: 'query', type: 'string' };
    }
  }
  const paths: Json = {
    '/': { get: { tags: ['Introspection'], summary: 'OpenAPI description (this document)', produces: ['application/openapi+json', 'application/json'], responses: { '200': { description: 'OK' } } } },
  };
  for (const table of tables) paths[`/${table.name}`] = tablePaths(table);
  for (const [name, overloads] of schema.functions) paths[`/rpc/${name}`] = functionPaths(overloads[0] as RestFunction);
  return {
    swagger: '2.0',
    info: { title: 'dbaas: PostgREST-compatible API', description: `The tables, views and functions of schema ${schema.name}`, version: options.version },
    basePath: options.basePath,
    schemes: ['http', 'https'],
    consumes: ['application/json', 'application/vnd.pgrst.object+json', 'text/csv'],
    produces: ['application/json', 'application/vnd.pgrst.object+json', 'text/csv'],
    paths,
    definitions: Object.fromEntries(tables.map((t) => [t.name, definition(t, schema)])),
    parameters,
  };
}
