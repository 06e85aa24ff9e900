/**
 * The small part of an OpenAPI 3.0 document the hostile corpus reads: operations, their
 * parameters and JSON request bodies, and the constraints of a schema (resolved through $ref).
 */
import { isIP } from 'node:net';

export interface Schema {
  $ref?: string;
  type?: string;
  nullable?: boolean;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minItems?: number;
  maxItems?: number;
  example?: unknown;
  default?: unknown;
  description?: string;
}

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  description?: string;
  schema?: Schema;
}

export interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
}

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

export const HTTP_METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;
export const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** One operation of the document: method, path template and what it declares. */
export interface SpecOperation {
  method: string; // upper case
  template: string; // `/instances/{ref}`
  pathParams: Parameter[];
  queryParams: Parameter[];
  /** The application/json request body schema, when the operation declares one. */
  body?: Schema;
}

export class Spec {
  constructor(readonly doc: OpenApiDocument) {}

  operations(): SpecOperation[] {
    const out: SpecOperation[] = [];
    for (const [template, ops] of Object.entries(this.doc.paths)) {
      for (const method of HTTP_METHODS) {
        const op = ops[method];
        if (!op) continue;
        const params = (op.parameters ?? []).map((p) => ({ ...p, schema: p.schema ? this.deref(p.schema) : undefined }));
        out.push({
          method: method.toUpperCase(),
          template,
          pathParams: params.filter((p) => p.in === 'path'),
          queryParams: params.filter((p) => p.in === 'query'),
          body: op.requestBody?.content['application/json']?.schema,
        });
      }
    }
    return out;
  }

  /** The methods a path declares. */
  methodsOf(template: string): string[] {
    return Object.keys(this.doc.paths[template] ?? {}).map((m) => m.toUpperCase());
  }

  /** The schema itself with any `$ref` chain followed. */
  deref(schema: Schema): Schema {
    let s = schema;
    for (let i = 0; s.$ref && i < 20; i++) {
      const name = s.$ref.replace('#/components/schemas/', '');
      const target = this.doc.components?.schemas?.[name];
      if (!target) throw new Error(`unresolved $ref ${s.$ref}`);
      s = target;
    }
    return s;
  }

  /**
   * The JSON types a schema allows, or 'any' when it does not constrain the type. zod-to-openapi
   * writes `z.unknown()` as `{ nullable: true }`: a schema without type, enum or properties.
   */
  allowedTypes(schema: Schema): Set<string> | 'any' {
    const s = this.deref(schema);
    const alternatives = s.anyOf ?? s.oneOf;
    if (alternatives) {
      const all = new Set<string>();
      for (const alt of alternatives) {
        const types = this.allowedTypes(alt);
        if (types === 'any') return 'any';
        for (const t of types) all.add(t);
      }
      if (s.nullable) all.add('null');
      return all;
    }
    if (s.allOf) return 'any';
    const types = new Set<string>();
    if (s.type) types.add(s.type);
    else if (s.enum) for (const v of s.enum) types.add(v === null ? 'null' : typeof v);
    else if (s.properties) types.add('object');
    else return 'any';
    if (s.nullable) types.add('null');
    return types;
  }

  /** Whether the schema is an object of known properties that refuses any other key. */
  isStrictObject(schema: Schema): boolean {
    const s = this.deref(schema);
    return s.type === 'object' && s.additionalProperties === false;
  }

  /** A map of free keys (`z.record`): an object without declared properties. */
  isRecord(schema: Schema): boolean {
    const s = this.deref(schema);
    return s.type === 'object' && !s.properties && s.additionalProperties !== false;
  }
}

/**
 * zod writes a regex's flags into the pattern (`...$/i`); JSON Schema patterns have none.
 * Returns the expression the server really uses, to check locally that a value breaks it.
 */
export function patternOf(schema: Schema): RegExp | undefined {
  if (!schema.pattern) return undefined;
  const m = /^(.*)\/([a-z]+)$/s.exec(schema.pattern);
  try {
    return m && m[1]?.endsWith('$') ? new RegExp(m[1], m[2]) : new RegExp(schema.pattern);
  } catch {
    return undefined;
  }
}

/** Whether a string breaks one of the constraints the document declares for it. */
export function stringViolates(schema: Schema, value: string): boolean {
  if (schema.enum && !schema.enum.includes(value)) return true;
  const length = [...value].length;
  if (schema.minLength !== undefined && length < schema.minLength) return true;
  if (schema.maxLength !== undefined && value.length > schema.maxLength) return true;
  const re = patternOf(schema);
  if (re && !re.test(value)) return true;
  if (schema.format === 'ip' || schema.format === 'ipv4') return schema.format === 'ipv4' ? isIP(value) !== 4 : isIP(value) === 0;
  return false;
}

/** Whether a string schema constrains its content at all (so some strings must be refused). */
export function constrainsContent(schema: Schema): boolean {
  return Boolean(
    schema.enum || schema.pattern || schema.format === 'ip' || schema.format === 'ipv4' || schema.minLength || schema.maxLength !== undefined,
  );
}
