import type pg from 'pg';
import { z } from 'zod';
import { DbaasError } from '../errors.js';

/**
 * What the data API knows about tables, read from the system catalogs. Every identifier a
 * request names is looked up here first: an unknown table is 404, an unknown column 422, and
 * only names the catalog returned ever reach SQL, always quoted.
 */

/** A column as describeTable reports it (GET /database/{id}/tables/{table}). */
const ColumnInfoSchema = z.object({
  name: z.string(),
  /** As format_type prints it: `character varying(20)`, `integer[]`. */
  type: z.string(),
  /** pg_type.typname: `varchar`, `_int4`. */
  udtName: z.string(),
  /** pg_type.typcategory: N numeric, S string, B boolean, D date/time, A array, U user (json, bytea, uuid...). */
  category: z.string(),
  /** For arrays, the element's typname. */
  elementType: z.string().nullable(),
  nullable: z.boolean(),
  default: z.string().nullable(),
  identity: z.boolean(),
  generated: z.boolean(),
  position: z.number(),
});
export type ColumnInfo = z.output<typeof ColumnInfoSchema>;

const ForeignKeySchema = z.object({
  name: z.string(),
  columns: z.array(z.string()),
  references: z.object({ schema: z.string(), table: z.string(), columns: z.array(z.string()) }),
  onUpdate: z.string(),
  onDelete: z.string(),
});

const IndexInfoSchema = z.object({ name: z.string(), unique: z.boolean(), primary: z.boolean(), definition: z.string() });

export interface TableRef {
  schema: string;
  name: string;
  oid: number;
  kind: string;
}

/** A table or view with its columns, keys and indexes: what describeTable builds. */
export const TableInfoSchema = z
  .object({
    schema: z.string(),
    name: z.string(),
    kind: z.string(),
    columns: z.array(ColumnInfoSchema),
    primaryKey: z.array(z.string()),
    foreignKeys: z.array(ForeignKeySchema),
    indexes: z.array(IndexInfoSchema),
  })
  .meta({ id: 'Table' });
export type TableInfo = z.output<typeof TableInfoSchema>;

/** One line of listTables. */
const TableSummarySchema = z.object({
  schema: z.string(),
  name: z.string(),
  kind: z.string(),
  estimatedRows: z.number().nullable(),
  sizeBytes: z.number(),
});
export type TableSummary = z.output<typeof TableSummarySchema>;

/** listTables' lines as GET /database/{id}/tables and `dbaas tables list --json` answer them. */
export const TableListSchema = z.object({ tables: z.array(TableSummarySchema) }).meta({ id: 'TableList' });
export type TableList = z.output<typeof TableListSchema>;

const KIND = `CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
  WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END`;
const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'`;

/** `schema.table` or `table` (schema public); a name may itself hold a dot, so both readings are tried. */
export function candidateNames(ref: string): Array<{ schema: string; name: string }> {
  const dot = ref.indexOf('.');
  const plain = { schema: 'public', name: ref };
  if (dot <= 0 || dot === ref.length - 1) return [plain];
  return [{ schema: ref.slice(0, dot), name: ref.slice(dot + 1) }, plain];
}

export async function listTables(client: pg.ClientBase, schema?: string): Promise<TableSummary[]> {
  const { rows } = await client.query<{ schema: string; name: string; kind: string; estimated_rows: number | null; size_bytes: number }>(
    `SELECT n.nspname AS schema, c.relname AS name, ${KIND} AS kind,
            CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS estimated_rows,
            pg_total_relation_size(c.oid) AS size_bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${USER_SCHEMAS}
        AND ($1::text IS NULL OR n.nspname = $1)
      ORDER BY 1, 2`,
    [schema ?? null],
  );
  return rows.map((r) => ({ schema: r.schema, name: r.name, kind: r.kind, estimatedRows: r.estimated_rows, sizeBytes: r.size_bytes }));
}

/** Finds a table or view by the name a request used; TABLE_NOT_FOUND names it otherwise. */
export async function resolveTable(client: pg.ClientBase, ref: string): Promise<TableRef> {
  const candidates = candidateNames(ref);
  const { rows } = await client.query<{ schema: string; name: string; oid: number; kind: string }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.oid::int AS oid, ${KIND} AS kind
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${USER_SCHEMAS}
        AND (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [candidates.map((c) => c.schema), candidates.map((c) => c.name)],
  );
  for (const c of candidates) {
    const hit = rows.find((r) => r.schema === c.schema && r.name === c.name);
    if (hit) return hit;
  }
  throw new DbaasError('TABLE_NOT_FOUND', `no table or view "${ref}"`, { table: ref });
}

export async function describeTable(client: pg.ClientBase, table: TableRef): Promise<TableInfo> {
  const columns = await client.query<{
    name: string;
    type: string;
    udt_name: string;
    category: string;
    element_type: string | null;
    nullable: boolean;
    default: string | null;
    identity: boolean;
    generated: boolean;
    position: number;
  }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typname AS udt_name,
            t.typcategory AS category, et.typname AS element_type, NOT a.attnotnull AS nullable,
            pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity <> '' AS identity,
            a.attgenerated <> '' AS generated, a.attnum::int AS position
       FROM pg_attribute a
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [table.oid],
  );
  const primary = await client.query<{ columns: string[] | null }>(
    `SELECT array_agg(a.attname::text ORDER BY k.ord) AS columns
       FROM pg_index i
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1 AND i.indisprimary`,
    [table.oid],
  );
  const foreign = await client.query<{
    name: string;
    columns: string[];
    ref_schema: string;
    ref_table: string;
    ref_columns: string[];
    on_update: string;
    on_delete: string;
  }>(
    `SELECT con.conname AS name,
            (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS columns,
            rn.nspname AS ref_schema, rc.relname AS ref_table,
            (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS ref_columns,
            CASE con.confupdtype WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade'
              WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' END AS on_update,
            CASE con.confdeltype WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade'
              WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' END AS on_delete
       FROM pg_constraint con
       JOIN pg_class rc ON rc.oid = con.confrelid
       JOIN pg_namespace rn ON rn.oid = rc.relnamespace
      WHERE con.conrelid = $1 AND con.contype = 'f'
      ORDER BY con.conname`,
    [table.oid],
  );
  const indexes = await client.query<{ name: string; unique: boolean; primary: boolean; definition: string }>(
    `SELECT ic.relname AS name, i.indisunique AS unique, i.indisprimary AS primary, pg_get_indexdef(i.indexrelid) AS definition
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indrelid = $1
      ORDER BY ic.relname`,
    [table.oid],
  );
  return {
    schema: table.schema,
    name: table.name,
    kind: table.kind,
    columns: columns.rows.map((c) => ({
      name: c.name,
      type: c.type,
      udtName: c.udt_name,
      category: c.category,
      elementType: c.element_type,
      nullable: c.nullable,
      default: c.default,
      identity: c.identity,
      generated: c.generated,
      position: c.position,
    })),
    primaryKey: primary.rows[0]?.columns ?? [],
    foreignKeys: foreign.rows.map((f) => ({
      name: f.name,
      columns: f.columns,
      references: { schema: f.ref_schema, table: f.ref_table, columns: f.ref_columns },
      onUpdate: f.on_update,
      onDelete: f.on_delete,
    })),
    indexes: indexes.rows,
  };
}

/**
 * Table descriptions per instance, kept for a few seconds: a row request needs its table's
 * columns, and reading four catalog queries on every request would dominate small requests.
 * DDL through the API and errors that say the catalog changed drop the entry at once.
 */
export class CatalogCache {
  private readonly entries = new Map<string, { info: TableInfo; expires: number }>();

  constructor(private readonly ttlMs = 5000) {}

  private key(instance: string, ref: string): string {
    return `${instance}\u0000${ref}`;
  }

  async table(instance: string, client: pg.ClientBase, ref: string): Promise<TableInfo> {
    const key = this.key(instance, ref);
    const hit = this.entries.get(key);
    if (hit && hit.expires > Date.now()) return hit.info;
    const info = await describeTable(client, await resolveTable(client, ref));
    this.entries.set(key, { info, expires: Date.now() + this.ttlMs });
    return info;
  }

  forget(instance: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(`${instance}\u0000`)) this.entries.delete(key);
  }
}
