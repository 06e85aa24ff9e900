import type pg from 'pg';
import { DbaasError } from '../../errors.js';
import type { ColumnInfo, TableInfo } from '../catalog.js';

/**
 * The schema cache of the PostgREST-compatible endpoint: every table and view of one schema with
 * its columns and keys, the foreign keys between them (for embedding) and the functions (for
 * /rpc), read in three catalog queries and kept a few seconds per instance and schema. Like
 * PostgREST's, it is the only source of names: a request naming anything else is refused before
 * SQL is built.
 */

export interface RestTable extends TableInfo {
  oid: number;
  /** Column lists of unique keys (primary key included) without predicate or expression. */
  uniqueKeys: string[][];
}

export interface ForeignKey {
  name: string;
  from: RestTable;
  fromColumns: string[];
  to: RestTable;
  toColumns: string[];
}

export interface FunctionArg {
  name: string;
  type: string;
  /** pg_type.typname: `int4`, `_text`. */
  udtName: string;
  /** Has a default: the call may leave it out. */
  optional: boolean;
  variadic: boolean;
}

export interface RestFunction {
  name: string;
  args: FunctionArg[];
  volatility: 'immutable' | 'stable' | 'volatile';
  returnsSet: boolean;
  returnType: string;
  /** pg_type.typname of the return type. */
  returnUdt: string;
  /** rows: a table type, or OUT/TABLE columns; scalar: one value; void: nothing. */
  returns: 'rows' | 'scalar' | 'void';
  /** For `rows`: the columns the result has (a table's own, or the OUT/TABLE ones). */
  columns: ColumnInfo[];
  /** For `rows` of a table type: that table (its relationships embed). */
  table?: RestTable;
}

export interface RestSchema {
  name: string;
  tables: Map<string, RestTable>;
  foreignKeys: ForeignKey[];
  /** Overloads share a name. */
  functions: Map<string, RestFunction[]>;
  /** Enum types of the schema and their labels, in order. */
  enums: Map<string, string[]>;
}

const KIND = `CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
  WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END`;

const TABLES_SQL = `
SELECT c.oid::int AS oid, c.relname AS name, ${KIND} AS kind,
  coalesce((SELECT json_agg(json_build_object(
      'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'udtName', t.typname,
      'category', t.typcategory, 'elementType', et.typname, 'nullable', NOT a.attnotnull,
      'default', pg_get_expr(d.adbin, d.adrelid), 'identity', a.attidentity <> '',
      'generated', a.attgenerated <> '', 'position', a.attnum) ORDER BY a.attnum)
     FROM pg_attribute a
     JOIN pg_type t ON t.oid = a.atttypid
     LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns,
  coalesce((SELECT json_agg(json_build_object('primary', i.indisprimary, 'columns',
      (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)))
     FROM pg_index i
    WHERE i.indrelid = c.oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL), '[]') AS keys
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY c.relname`;

const FOREIGN_KEYS_SQL = `
SELECT con.conname AS name, con.conrelid::int AS from_oid, con.confrelid::int AS to_oid,
  (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS from_columns,
  (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS to_columns
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype = 'f' AND n.nspname = $1
ORDER BY con.conname`;

const FUNCTIONS_SQL = `
SELECT p.proname AS name, p.provolatile AS volatility, p.proretset AS returns_set,
  format_type(p.prorettype, NULL) AS return_type, rt.typname AS return_udt, rt.typtype AS return_typtype, rt.typrelid::int AS return_relid,
  p.pronargdefaults::int AS defaults,
  coalesce((SELECT json_agg(json_build_object(
      'name', coalesce(p.proargnames[i], ''),
      'type', format_type(a.types[i], NULL),
      'udtName', (SELECT typname FROM pg_type WHERE oid = a.types[i]),
      'mode', coalesce(p.proargmodes[i], 'i')) ORDER BY i)
     FROM generate_subscripts(a.types, 1) AS i), '[]') AS args
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_type rt ON rt.oid = p.prorettype
-- proargtypes is an oidvector, numbered from 0: made an ordinary array numbered from 1 like the names and modes.
CROSS JOIN LATERAL (SELECT coalesce(p.proallargtypes, ARRAY(SELECT unnest(p.proargtypes::oid[]))) AS types) AS a
WHERE n.nspname = $1 AND p.prokind = 'f'
ORDER BY p.proname, p.oid`;

const ENUMS_SQL = `
SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = $1
GROUP BY t.typname
ORDER BY t.typname`;

interface TableRow {
  oid: number;
  name: string;
  kind: string;
  columns: ColumnInfo[];
  keys: Array<{ primary: boolean; columns: string[] }>;
}

interface FunctionRow {
  name: string;
  volatility: 'i' | 's' | 'v';
  returns_set: boolean;
  return_type: string;
  return_udt: string;
  return_typtype: string;
  return_relid: number;
  defaults: number;
  args: Array<{ name: string; type: string; udtName: string; mode: string }>;
}

export async function loadSchema(client: pg.ClientBase, schema: string): Promise<RestSchema> {
  const tablesResult = await client.query<TableRow>(TABLES_SQL, [schema]);
  const tables = new Map<string, RestTable>();
  const byOid = new Map<number, RestTable>();
  for (const row of tablesResult.rows) {
    const table: RestTable = {
      oid: row.oid,
      schema,
      name: row.name,
      kind: row.kind,
      columns: row.columns,
      primaryKey: row.keys.find((k) => k.primary)?.columns ?? [],
      foreignKeys: [],
      indexes: [],
      uniqueKeys: row.keys.map((k) => k.columns),
    };
    tables.set(row.name, table);
    byOid.set(row.oid, table);
  }
  const fkResult = await client.query<{ name: string; from_oid: number; to_oid: number; from_columns: string[]; to_columns: string[] }>(
    FOREIGN_KEYS_SQL,
    [schema],
  );
  const foreignKeys: ForeignKey[] = [];
  for (const row of fkResult.rows) {
    const from = byOid.get(row.from_oid);
    const to = byOid.get(row.to_oid);
    if (!from || !to) continue; // the other end lies outside the exposed schema
    foreignKeys.push({ name: row.name, from, fromColumns: row.from_columns, to, toColumns: row.to_columns });
  }
  const fnResult = await client.query<FunctionRow>(FUNCTIONS_SQL, [schema]);
  const functions = new Map<string, RestFunction[]>();
  for (const row of fnResult.rows) {
    const inputs = row.args.filter((a) => a.mode === 'i' || a.mode === 'b' || a.mode === 'v');
    const outputs = row.args.filter((a) => a.mode === 'o' || a.mode === 'b' || a.mode === 't');
    const table = row.return_typtype === 'c' ? byOid.get(row.return_relid) : undefined;
    const fn: RestFunction = {
      name: row.name,
      args: inputs.map((a, i) => ({ name: a.name, type: a.type, udtName: a.udtName, optional: i >= inputs.length - row.defaults, variadic: a.mode === 'v' })),
      volatility: row.volatility === 'i' ? 'immutable' : row.volatility === 's' ? 'stable' : 'volatile',
      returnsSet: row.returns_set,
      returnType: row.return_type,
      returnUdt: row.return_udt,
      returns: row.return_type === 'void' ? 'void' : table || outputs.length > 0 ? 'rows' : 'scalar',
      columns: table ? table.columns : outputs.map((a, i) => pseudoColumn(a.name, a.type, a.udtName, i + 1)),
      table,
    };
    const list = functions.get(row.name) ?? [];
    list.push(fn);
    functions.set(row.name, list);
  }
  const enumResult = await client.query<{ name: string; labels: string[] }>(ENUMS_SQL, [schema]);
  const enums = new Map(enumResult.rows.map((r) => [r.name, r.labels]));
  return { name: schema, tables, foreignKeys, functions, enums };
}

function pseudoColumn(name: string, type: string, udtName: string, position: number): ColumnInfo {
  return { name, type, udtName, category: '', elementType: null, nullable: true, default: null, identity: false, generated: false, position };
}

/** The schemas a request may name in Accept-Profile / Content-Profile: user schemas only. */
export function checkSchemaName(name: string): void {
  if (name === 'information_schema' || name.startsWith('pg_') || name === '') {
    throw new DbaasError('MALFORMED_REQUEST', `the schema "${name}" is not exposed`, { pgrst: 'PGRST106', status: 406 });
  }
}

/**
 * Loaded schemas per instance, each for `ttlMs`; `forget` drops an instance's at once (after DDL,
 * or an error that says the catalog moved). Concurrent requests share one load.
 */
export class RestSchemaCache {
  private readonly entries = new Map<string, { schema: Promise<RestSchema>; expires: number; loadedAt: number }>();

  constructor(private readonly ttlMs = 5000) {}

  /**
   * The schema, loaded at most `ttlMs` ago. `reloadAfterMs`: a caller that missed a name asks for
   * a load at most that old instead (a table made a moment ago is then found, and requests for
   * names that do not exist cost a reload at most that often).
   */
  get(instance: string, client: pg.ClientBase, schema: string, reloadAfterMs = this.ttlMs): Promise<RestSchema> {
    const key = `${instance}\u0000${schema}`;
    const hit = this.entries.get(key);
    const now = Date.now();
    if (hit && hit.expires > now && now - hit.loadedAt < reloadAfterMs) return hit.schema;
    const loading = loadSchema(client, schema);
    this.entries.set(key, { schema: loading, expires: now + this.ttlMs, loadedAt: now });
    loading.catch(() => this.entries.delete(key));
    return loading;
  }

  forget(instance: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(`${instance}\u0000`)) this.entries.delete(key);
  }
}
