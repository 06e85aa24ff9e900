/**
 * Rewrites the two things zod-to-openapi emits that OpenAPI 3.0 does not mean as written: a
 * `nullable` with no `type` beside it (from `z.unknown()`, `z.null()` in a union, a nullable
 * `$ref`), and a regex flag left at the end of a `pattern` (it turns `/x/i` into `x/i`).
 */

/** A schema object of the generated document, as plain JSON. */
type Schema = Record<string, unknown>;
type Document = {
  components?: { schemas?: Record<string, Schema> };
  paths?: Record<string, Record<string, unknown>>;
};

const isSchema = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);
/** What zod-to-openapi writes for "also null" (and for z.unknown()/z.any(), which allow null). */
const isBareNull = (s: Schema) => s.nullable === true && Object.keys(s).every((k) => k === 'nullable' || k === 'description');

/** Corrects every schema of the document in place, and returns it. */
export function toOpenApi30<D>(doc: D): D {
  const document = doc as Document;
  const componentType = (ref: unknown): string | undefined => {
    const name = typeof ref === 'string' ? ref.replace('#/components/schemas/', '') : undefined;
    const type = name ? document.components?.schemas?.[name]?.type : undefined;
    return typeof type === 'string' ? type : undefined;
  };

  const visit = (s: Schema, where: string): void => {
    for (const key of ['anyOf', 'oneOf'] as const) {
      const options = s[key];
      if (!Array.isArray(options) || !options.some((o) => isSchema(o) && isBareNull(o))) continue;
      // A union with null: its first typed option accepts null instead (one, so that oneOf holds).
      const rest = options.filter((o) => !(isSchema(o) && isBareNull(o))) as Schema[];
      const carrier = rest.find((o) => typeof o.type === 'string');
      if (!carrier) throw new Error(`${where}: a ${key} with null has no typed option to carry nullable`);
      carrier.nullable = true;
      s[key] = rest;
    }
    const all = s.allOf;
    if (Array.isArray(all) && all.length === 2 && isSchema(all[0]) && '$ref' in all[0] && isSchema(all[1]) && isBareNull(all[1])) {
      // A nullable $ref: OpenAPI 3.0 writes it as { type, nullable, allOf: [ref] }.
      const type = componentType(all[0].$ref);
      if (!type) throw new Error(`${where}: nullable reference to ${String(all[0].$ref)} without a type`);
      Object.assign(s, { type, nullable: true, allOf: [all[0]] });
    }
    if (s.nullable === true && s.type === undefined && !s.allOf && !s.anyOf && !s.oneOf && !s.$ref) {
      // Any JSON value, null included: a schema without a type says that already.
      delete s.nullable;
    }
    if (typeof s.pattern === 'string') s.pattern = withoutFlags(s.pattern, where);

    for (const [name, child] of Object.entries(isSchema(s.properties) ? s.properties : {})) if (isSchema(child)) visit(child, `${where}.${name}`);
    for (const key of ['items', 'additionalProperties', 'not'] as const) {
      const child = s[key];
      if (isSchema(child)) visit(child, `${where}.${key}`);
    }
    for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
      const options = s[key];
      if (Array.isArray(options)) options.forEach((o, i) => isSchema(o) && visit(o, `${where}.${key}[${i}]`));
    }
  };

  for (const [name, schema] of Object.entries(document.components?.schemas ?? {})) visit(schema, name);
  for (const [path, operations] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(operations)) {
      if (!isSchema(operation)) continue;
      const where = `${method.toUpperCase()} ${path}`;
      for (const p of Array.isArray(operation.parameters) ? operation.parameters : []) {
        if (isSchema(p) && isSchema(p.schema)) visit(p.schema, `${where} ${String(p.name)}`);
      }
      const bodies = [operation.requestBody, ...Object.values(isSchema(operation.responses) ? operation.responses : {})];
      for (const body of bodies) {
        if (!isSchema(body) || !isSchema(body.content)) continue;
        for (const media of Object.values(body.content)) if (isSchema(media) && isSchema(media.schema)) visit(media.schema, where);
      }
    }
  }
  return doc;
}

/**
 * A pattern is an ECMA-262 regex without flags. RegExp source escapes every `/`, so an unescaped
 * `/` followed by flags at the end is what zod-to-openapi left of `/source/flags`. The `i` flag is
 * written out as both cases of each letter; a flag that changes more (m, s, v) is refused here,
 * so that the schema spells it out itself.
 */
export function withoutFlags(pattern: string, where = 'pattern'): string {
  const m = /^(.*[^\\](?:\\\\)*)\/([dgimsuvy]+)$/s.exec(pattern);
  if (!m) return pattern;
  const [, source = '', flags = ''] = m;
  const unsupported = flags.replace(/[dgiuy]/g, '');
  if (unsupported) throw new Error(`${where}: regex flag(s) ${unsupported} cannot be expressed in an OpenAPI pattern`);
  return flags.includes('i') ? caseInsensitive(source) : source;
}

const lower = (c: string) => c >= 'a' && c <= 'z';
const upper = (c: string) => c >= 'A' && c <= 'Z';
const otherCase = (c: string) => (lower(c) ? c.toUpperCase() : c.toLowerCase());

/** `[a-z]x` -> `[a-zA-Z][xX]`: the same language as the source under the `i` flag (ASCII letters). */
function caseInsensitive(source: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i] as string;
    if (c === '\\') {
      // An escape keeps its letter (\d, \w, \b...); escapes that carry letters after them are refused.
      const next = source[i + 1] ?? '';
      if ('cpPkux'.includes(next)) throw new Error(`pattern ${source}: \\${next} under the i flag is not supported`);
      out += c + next;
      i++;
    } else if (inClass) {
      if (c === ']') {
        inClass = false;
        out += c;
      } else if (source[i + 1] === '-' && source[i + 2] !== undefined && source[i + 2] !== ']') {
        const end = source[i + 2] as string;
        out += `${c}-${end}`;
        if ((lower(c) && lower(end)) || (upper(c) && upper(end))) out += `${otherCase(c)}-${otherCase(end)}`;
        else if (lower(c) || upper(c) || lower(end) || upper(end)) throw new Error(`pattern ${source}: range ${c}-${end} mixes letters and other characters`);
        i += 2;
      } else {
        out += lower(c) || upper(c) ? c + otherCase(c) : c;
      }
    } else if (c === '[') {
      inClass = true;
      out += c;
      if (source[i + 1] === '^') {
        out += '^';
        i++;
      }
    } else if (c === '(' && source.startsWith('(?<', i) && !source.startsWith('(?<=', i) && !source.startsWith('(?<!', i)) {
      const close = source.indexOf('>', i); // a group name is not matched text
      out += source.slice(i, close + 1);
      i = close;
    } else {
      out += lower(c) || upper(c) ? `[${c}${otherCase(c)}]` : c;
    }
  }
  return out;
}
