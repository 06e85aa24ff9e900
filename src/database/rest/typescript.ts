import type { ColumnInfo } from '../catalog.js';
import type { ForeignKey, RestFunction, RestSchema, RestTable } from './schema.js';

/**
 * TypeScript types of an instance's schemas in the shape `supabase gen types typescript` writes,
 * for `createClient<Database>(url, key)` of supabase-js: per schema its Tables (Row, Insert,
 * Update, Relationships), Views, Functions (Args, Returns), Enums and CompositeTypes. Pure: it
 * renders what the schema cache read.
 */

const NUMBER = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'oid', 'money']);
const BOOLEAN = new Set(['bool']);
const JSON_TYPES = new Set(['json', 'jsonb']);
const STRING = new Set([
  'text', 'varchar', 'bpchar', 'char', 'name', 'citext', 'uuid', 'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'interval',
  'bytea', 'inet', 'cidr', 'macaddr', 'macaddr8', 'tsvector', 'tsquery', 'xml', 'bit', 'varbit', 'int4range', 'int8range',
  'numrange', 'tsrange', 'tstzrange', 'daterange', 'point', 'line', 'lseg', 'box', 'path', 'polygon', 'circle', 'regclass',
]);

/** A name as a property key: bare when it can be, else a string literal. */
function key(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name);
}

/** The TypeScript type of a PostgreSQL type (by its typname; arrays start with `_`). */
function scalar(udtName: string, schema: RestSchema): string {
  if (udtName.startsWith('_')) return `${wrapUnion(scalar(udtName.slice(1), schema))}[]`;
  if (NUMBER.has(udtName)) return 'number';
  if (BOOLEAN.has(udtName)) return 'boolean';
  if (JSON_TYPES.has(udtName)) return 'Json';
  if (STRING.has(udtName)) return 'string';
  if (schema.enums.has(udtName)) return `Database[${JSON.stringify(schema.name)}]["Enums"][${JSON.stringify(udtName)}]`;
  if (udtName === 'void') return 'undefined';
  if (udtName === 'record') return 'Record<string, unknown>';
  return 'unknown';
}

function wrapUnion(type: string): string {
  return type.includes(' | ') ? `(${type})` : type;
}

function indent(lines: string[], by: number): string[] {
  return lines.map((l) => ' '.repeat(by) + l);
}

/** `label: {` and the rest of a block under it, indented `by`. */
function entry(label: string, lines: string[], by: number): string[] {
  return indent([`${label}: ${lines[0]}`, ...lines.slice(1)], by);
}

function object(entries: Array<[string, string]>): string[] {
  if (entries.length === 0) return ['{', '  [_ in never]: never', '}'];
  return ['{', ...entries.map(([k, v]) => `  ${key(k)}: ${v}`), '}'];
}

/** `name: T` lines of a Row, Insert or Update. */
function columns(table: RestTable, schema: RestSchema, kind: 'Row' | 'Insert' | 'Update'): string[] {
  const lines = table.columns.map((c) => {
    const type = scalar(c.udtName, schema);
    const typed = c.nullable ? `${type} | null` : type;
    if (kind === 'Row') return `  ${key(c.name)}: ${typed}`;
    if (c.generated) return `  ${key(c.name)}?: never`;
    const optional = kind === 'Update' || c.nullable || c.default !== null || c.identity;
    return `  ${key(c.name)}${optional ? '?' : ''}: ${typed}`;
  });
  return lines.length ? ['{', ...lines, '}'] : ['{', '  [_ in never]: never', '}'];
}

function relationships(table: RestTable, schema: RestSchema): string[] {
  const own = schema.foreignKeys.filter((fk: ForeignKey) => fk.from === table);
  if (own.length === 0) return ['[]'];
  const lines = own.flatMap((fk) => {
    const oneToOne = table.uniqueKeys.some((k) => k.length === fk.fromColumns.length && k.every((c) => fk.fromColumns.includes(c)));
    return [
      '  {',
      `    foreignKeyName: ${JSON.stringify(fk.name)}`,
      `    columns: [${fk.fromColumns.map((c) => JSON.stringify(c)).join(', ')}]`,
      `    isOneToOne: ${oneToOne}`,
      `    referencedRelation: ${JSON.stringify(fk.to.name)}`,
      `    referencedColumns: [${fk.toColumns.map((c) => JSON.stringify(c)).join(', ')}]`,
      '  },',
    ];
  });
  return ['[', ...lines, ']'];
}

function returns(fn: RestFunction, schema: RestSchema): string {
  if (fn.returns === 'void') return 'undefined';
  let type: string;
  if (fn.returns === 'rows') {
    const fields = fn.columns.map((c) => `${key(c.name)}: ${scalar(c.udtName, schema)}${fn.table && !c.nullable ? '' : ' | null'}`);
    type = `{ ${fields.join('; ')} }`;
  } else {
    type = scalar(fn.returnUdt, schema);
  }
  return fn.returnsSet ? `${wrapUnion(type)}[]` : type;
}

function functionEntry(overloads: RestFunction[], schema: RestSchema): string {
  const one = (fn: RestFunction) => {
    const args = fn.args.filter((a) => a.name !== '');
    const argsType = args.length
      ? `{ ${args.map((a) => `${key(a.name)}${a.optional ? '?' : ''}: ${scalar(a.udtName, schema)}`).join('; ')} }`
      : 'Record<PropertyKey, never>';
    return `{ Args: ${argsType}; Returns: ${returns(fn, schema)} }`;
  };
  return overloads.map(one).join(' | ');
}

function schemaBlock(schema: RestSchema): string[] {
  const tables = [...schema.tables.values()].filter((t) => t.kind === 'table' || t.kind === 'partitioned table' || t.kind === 'foreign table');
  const views = [...schema.tables.values()].filter((t) => t.kind === 'view' || t.kind === 'materialized view');
  const block = (entries: string[][]) => (entries.length ? ['{', ...entries.flat(), '}'] : ['{', '  [_ in never]: never', '}']);
  const labelled = (label: string, lines: string[]) => entry(label, lines, 4);
  const tableEntries = tables.map((t) => [
    `  ${key(t.name)}: {`,
    ...labelled('Row', columns(t, schema, 'Row')),
    ...labelled('Insert', columns(t, schema, 'Insert')),
    ...labelled('Update', columns(t, schema, 'Update')),
    ...labelled('Relationships', relationships(t, schema)),
    '  }',
  ]);
  const viewEntries = views.map((v) => [`  ${key(v.name)}: {`, ...labelled('Row', columns(v, schema, 'Row')), ...indent(['Relationships: []'], 4), '  }']);
  const functions = [...schema.functions.entries()].map(([name, overloads]) => [`  ${key(name)}: ${functionEntry(overloads, schema)}`]);
  const enums = object([...schema.enums.entries()].map(([name, labels]) => [name, labels.map((l) => JSON.stringify(l)).join(' | ') || 'never']));
  const section = (label: string, lines: string[]) => entry(label, lines, 2);
  return [
    `${key(schema.name)}: {`,
    ...section('Tables', block(tableEntries)),
    ...section('Views', block(viewEntries)),
    ...section('Functions', block(functions)),
    ...section('Enums', enums),
    ...indent(['CompositeTypes: {', '  [_ in never]: never', '}'], 2),
    '}',
  ];
}

/** The whole file: Json, Database, and the helper types supabase's generator adds. */
export function renderTypes(schemas: RestSchema[]): string {
  const lines = [
    '// Generated by dbaas (GET /database/{instance}/types.ts, `dbaas types <instance>`) from the catalog of the instance.',
    '// For supabase-js: createClient<Database>(url, token). Regenerate after changing the schema.',
    '',
    'export type Json = string | number | boolean | null | { [key: string]: Json | undefined } | Json[]',
    '',
    'export type Database = {',
    ...indent(schemas.flatMap(schemaBlock), 2),
    '}',
    '',
    `type DefaultSchema = Database[${JSON.stringify(schemas[0]?.name ?? 'public')}]`,
    '',
    'export type Tables<T extends keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])> = (DefaultSchema["Tables"] & DefaultSchema["Views"])[T] extends { Row: infer R } ? R : never',
    'export type TablesInsert<T extends keyof DefaultSchema["Tables"]> = DefaultSchema["Tables"][T] extends { Insert: infer I } ? I : never',
    'export type TablesUpdate<T extends keyof DefaultSchema["Tables"]> = DefaultSchema["Tables"][T] extends { Update: infer U } ? U : never',
    'export type Enums<T extends keyof DefaultSchema["Enums"]> = DefaultSchema["Enums"][T]',
    '',
  ];
  return lines.join('\n');
}
