/**
 * The hostile corpus: requests that a dbaas server MUST refuse, generated from the server's own
 * OpenAPI document so that a route added later is covered without editing this file. Every
 * request changes one thing of an otherwise well-formed request (a real instance, table and row
 * in the path, a body sampled from the request schema) into something the contract forbids.
 */
import { gzipSync } from 'node:zlib';
import {
  constrainsContent,
  MUTATING,
  Spec,
  stringViolates,
  type OpenApiDocument,
  type Parameter,
  type Schema,
  type SpecOperation,
} from './openapi.js';

export interface Column {
  name: string;
  /** How a value can be wrong for it: int and text columns refuse objects; json takes anything. */
  kind: 'int' | 'text' | 'json';
}

/** The real things the corpus aims at: one instance, one table in it, one row of that table. */
export interface Fixture {
  /** Real values of path parameters by name (`ref`, `table`, `pk`). */
  pathValues: Record<string, string>;
  columns: Column[];
  keyColumn: string;
  keyValue: string;
  /** Requests on this path are the liveness probe, never sent with a hostile header. */
  healthPath: string;
}

export interface HostileRequest {
  /** `group.detail...`, e.g. `path.ref.traversal-encoded`, `body.wrong-type.cpus.boolean`. */
  kind: string;
  /** The operation of the document it was made from, `GET /instances/{ref}` (or a path not in it). */
  operation: string;
  method: string;
  /** Path and query exactly as sent (percent-encoded by the generator, never normalised). */
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /**
   * Sent after the others, one at a time: every path parameter is real and the method writes, so a
   * server that wrongly accepted it would change the fixture (stop or delete the instance, drop the
   * table) under the requests still running.
   */
  late: boolean;
  /** Order of the late requests: deeper paths (rows, tables) before the instance itself, DELETE last. */
  lateRank: [number, number, string];
}

/** A JSON token written as is: numbers JSON.stringify cannot write (`1e309`), deep nesting. */
export class Raw {
  constructor(readonly text: string) {}
}

type Json = unknown;

/** JSON text of a value that may hold Raw tokens and own `__proto__` keys (null-prototype objects). */
export function toJson(value: Json): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .map((k) => `${JSON.stringify(k)}:${toJson((value as Record<string, Json>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** An object without a prototype, so that `__proto__` and `constructor` are plain own keys. */
function obj(entries: Array<[string, Json]> = []): Record<string, Json> {
  const o = Object.create(null) as Record<string, Json>;
  for (const [k, v] of entries) o[k] = v;
  return o;
}

function clone(value: Json): Json {
  if (value instanceof Raw) return value;
  if (Array.isArray(value)) return value.map(clone);
  if (value !== null && typeof value === 'object') return obj(Object.entries(value).map(([k, v]) => [k, clone(v)]));
  return value;
}

/** A copy of `base` with the value at `path` replaced (missing containers are made). */
function setAt(base: Json, path: Array<string | number>, value: Json): Json {
  const root = clone(base ?? obj());
  let node = root as Record<string | number, Json>;
  path.forEach((key, i) => {
    if (i === path.length - 1) {
      node[key] = value;
      return;
    }
    if (node[key] === undefined || node[key] === null || typeof node[key] !== 'object') {
      node[key] = typeof path[i + 1] === 'number' ? [obj()] : obj();
    }
    node = node[key] as Record<string | number, Json>;
  });
  return root;
}

function deleteAt(base: Json, path: Array<string | number>): Json {
  const root = clone(base);
  let node = root as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  delete node[path[path.length - 1] as string | number];
  return root;
}

function getAt(base: Json, path: Array<string | number>): Json {
  let node = base;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, Json>)[key];
  }
  return node;
}

// ---- hostile values ---------------------------------------------------------------------------

const DEPTH = 10_000;
/** `[[[...]]]` 10 000 deep (20 kB) and `{"a":{"a":...}}` 10 000 deep (60 kB, under a 64 kB limit). */
export const DEEP_ARRAY = new Raw('['.repeat(DEPTH) + ']'.repeat(DEPTH));
export const DEEP_OBJECT = new Raw('{"a":'.repeat(DEPTH) + '1' + '}'.repeat(DEPTH));
const HUGE_SEGMENT = 'a'.repeat(10 * 1024);
const SQL_STATEMENT = 't; DROP TABLE x';
const SQL_QUOTE = '"x"--';

const LOOKALIKES: Record<string, string> = {
  a: '\u0430', e: '\u0435', o: '\u043e', c: '\u0441', p: '\u0440', x: '\u0445', y: '\u0443', i: '\u0456',
};
/** The value with its first Latin letter that has a Cyrillic twin replaced by it (or a Cyrillic 'а' appended). */
export function lookalike(value: string): string {
  const i = [...value].findIndex((ch) => ch in LOOKALIKES);
  if (i < 0) return `${value}\u0430`;
  const chars = [...value];
  chars[i] = LOOKALIKES[chars[i] as string] as string;
  return chars.join('');
}

const enc = encodeURIComponent;

/** Path segments that must not address anything, given the real segment `real` (already valid). */
function pathMutations(real: string): Array<[string, string]> {
  const numeric = /^\d+$/.test(real);
  return [
    ['unknown', numeric ? String(Number(real) + 987_654) : enc(`${real}-nope`)],
    ['traversal-encoded', '..%2F..%2Fetc%2Fpasswd'],
    ['traversal-encoded-dots', '%2e%2e%2f%2e%2e%2fconfig%2finstances.json'],
    ['traversal-raw', '../../config/instances.json'],
    ['dot-dot', '..'],
    ['percent-lone', '%'],
    ['percent-truncated', '%E0%A4%A'],
    ['percent-overlong-utf8', '%C0%AF'],
    ['cyrillic-lookalike', enc(lookalike(real))],
    ['zero-width-joiner', enc(`${real.slice(0, 2)}\u200d${real.slice(2)}`)],
    ['rtl-override', enc(`\u202e${real}`)],
    ['emoji', enc(`${real}\u{1f418}`)],
    ['nul', `${enc(real)}%00`],
    ['huge-10kB', HUGE_SEGMENT],
    ['sql-statement', enc(SQL_STATEMENT)],
    ['sql-quote-comment', enc(SQL_QUOTE)],
    ['sql-or', enc(`${real}' OR '1'='1`)],
  ];
}

/** Strings to try in a field whose content the document constrains; only those it forbids are sent. */
function stringMutations(valid: string): Array<[string, string]> {
  return [
    ['sql-statement', SQL_STATEMENT],
    ['sql-quote-comment', SQL_QUOTE],
    ['traversal', '../../config/instances.json'],
    ['cyrillic-lookalike', lookalike(valid)],
    ['zero-width-joiner', `${valid.slice(0, 2)}\u200d${valid.slice(2)}`],
    ['rtl-override', `\u202e${valid}`],
    ['emoji', `${valid}\u{1f418}`],
    ['nul', `${valid}\u0000`],
    ['empty', ''],
    ['huge-10kB', HUGE_SEGMENT],
    ['blank-padded', ` ${valid} `],
    ['not-an-address', '999.1.1.1'],
    ['host-name', 'evil.example'],
    ['appended-sql', `${valid}; DROP TABLE x`],
  ];
}

const MALFORMED_JSON: Array<[string, string]> = [
  ['truncated', '{"name": '],
  ['single-quotes', "{'a': 1}"],
  ['trailing-comma', '{"a": 1,}'],
  ['unclosed-array', '[1, 2'],
  ['two-documents', '{} {}'],
  ['nan', 'NaN'],
  ['undefined', 'undefined'],
  ['trailing-garbage', '{"a": 1}garbage'],
  ['unterminated-string', '"abc'],
  ['control-char', '{"a": "\u0001"}'],
];

/**
 * Values the document cannot give: a statement that changes nothing for the SQL routes, a type
 * name for column definitions. Everything else is sampled from the schemas.
 */
const BODY_HINTS: Record<string, Json> = { sql: 'SELECT 1', type: 'integer' };

/** PostgREST parameters that name columns, and the methods whose handlers look those names up. */
const COLUMN_PARAMS: Record<string, string[]> = {
  select: ['GET'],
  order: ['GET'],
  returning: ['POST', 'PATCH', 'DELETE'],
  on_conflict: ['POST'],
};

type QueryPair = [string, string | Raw];
type TopShape = 'null' | 'string' | 'number' | 'boolean' | 'array-of-numbers' | 'array-of-arrays' | 'deep-array' | 'deep-object';

function queryString(pairs: QueryPair[]): string {
  if (pairs.length === 0) return '';
  return `?${pairs.map(([k, v]) => `${enc(k)}=${v instanceof Raw ? v.text : enc(v)}`).join('&')}`;
}

interface Variant {
  /** Raw (already encoded) path segments replacing the real ones, by parameter name. */
  segments?: Record<string, string>;
  /** Replaces the operation's base query. */
  query?: QueryPair[];
  /** Appended to the base query. */
  addQuery?: QueryPair[];
  /** undefined: the base body (JSON) when the operation has one; null: no body. */
  body?: { text: string | Buffer; type?: string } | null;
  headers?: Record<string, string>;
  /** Also send it with `Content-Type: application/json` and `{}` when the operation takes no body. */
  jsonVariant?: boolean;
}

export class CorpusGenerator {
  private readonly spec: Spec;
  private readonly out: HostileRequest[] = [];
  private serial = 0;

  constructor(
    doc: OpenApiDocument,
    private readonly fixture: Fixture,
  ) {
    this.spec = new Spec(doc);
  }

  generate(): HostileRequest[] {
    for (const op of this.spec.operations()) {
      this.pathCases(op);
      this.queryCases(op);
      if (this.isFilterable(op)) this.filterCases(op);
      if (op.body) this.bodyCases(op);
      else if (MUTATING.has(op.method)) this.unexpectedBodyCases(op);
      this.headerCases(op);
    }
    this.methodCases();
    return this.dedupe(this.out);
  }

  // ---- building requests -------------------------------------------------------------------

  private realSegment(name: string): string {
    return enc(this.fixture.pathValues[name] ?? 'corpus-none');
  }

  /** What a request needs to get past the checks before the one under test. */
  private baseQuery(op: SpecOperation): QueryPair[] {
    const pairs: QueryPair[] = [];
    // A flag the document calls required (confirm=true to drop a table).
    for (const p of op.queryParams) if (/^required\b/i.test(p.schema?.description ?? p.description ?? '')) pairs.push([p.name, 'true']);
    // A filtered write without a filter is refused before anything else is looked at.
    if (this.isFilterable(op) && op.method !== 'GET') pairs.push([this.fixture.keyColumn, `eq.${this.fixture.keyValue}`]);
    return pairs;
  }

  /** A fresh body the operation would accept (names and keys are unique per request). */
  baseBody(op: SpecOperation): Json {
    if (!op.body) return undefined;
    const row = this.rowSchema(op);
    if (row) return op.method === 'POST' ? this.newRow() : this.rowChange();
    return this.sample(op.body);
  }

  private add(op: SpecOperation | { method: string; template: string }, kind: string, v: Variant = {}): void {
    const spec = 'pathParams' in op ? op : undefined;
    const template = op.template.replace(/\{(\w+)\}/g, (_m, name: string) => v.segments?.[name] ?? this.realSegment(name));
    const query = v.query ?? [...(spec ? this.baseQuery(spec) : []), ...(v.addQuery ?? [])];
    const path = template + queryString(query);
    const headers: Record<string, string> = {};
    let body: string | Buffer | undefined;
    if (v.body === undefined && spec?.body) {
      body = toJson(this.baseBody(spec));
      headers['content-type'] = 'application/json';
    } else if (v.body) {
      body = v.body.text;
      if (v.body.type) headers['content-type'] = v.body.type;
    }
    Object.assign(headers, v.headers ?? {});
    const allReal = !v.segments || Object.keys(v.segments).length === 0;
    const hasParams = /\{\w+\}/.test(op.template);
    const depth = op.template.split('/').length;
    const request: HostileRequest = {
      kind,
      operation: `${op.method} ${op.template}`,
      method: op.method,
      path,
      headers,
      ...(body !== undefined ? { body } : {}),
      late: Boolean(spec) && MUTATING.has(op.method) && allReal && hasParams,
      lateRank: [-depth, op.method === 'DELETE' ? 1 : 0, op.template],
    };
    this.out.push(request);
    if (v.jsonVariant && MUTATING.has(op.method) && !spec?.body && body === undefined) {
      this.out.push({ ...request, kind: `${kind}.json-body`, headers: { ...headers, 'content-type': 'application/json' }, body: '{}' });
    }
  }

  private dedupe(requests: HostileRequest[]): HostileRequest[] {
    const seen = new Set<string>();
    return requests.filter((r) => {
      const key = `${r.method} ${r.path} ${JSON.stringify(r.headers)} ${r.body?.toString('latin1') ?? ''}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }

  // ---- sampling valid values ---------------------------------------------------------------

  private unique(): number {
    return ++this.serial;
  }

  /** A value the schema accepts: hints, the first enum value, fresh names for patterns, examples, bounds. */
  sample(schema: Schema, name?: string): Json {
    const s = this.spec.deref(schema);
    if (name !== undefined && name in BODY_HINTS) return BODY_HINTS[name];
    if (s.enum) return s.enum[0];
    const alternatives = s.anyOf ?? s.oneOf;
    if (alternatives) return s.example !== undefined ? s.example : this.sample(alternatives[0] as Schema, name);
    switch (s.type) {
      case 'string': {
        if (s.format === 'ip' || s.format === 'ipv4') return '127.0.0.1';
        if (s.pattern || s.minLength) {
          const n = this.unique();
          const candidates = [`corpus-probe-${n}`, `corpus_probe_${n}`, `corpusprobe${n}`, `c${n}`];
          const fit = candidates.find((c) => !stringViolates(s, c));
          if (fit) return fit;
        }
        return typeof s.example === 'string' ? s.example : 'corpus';
      }
      case 'integer':
      case 'number': {
        const inRange = (v: unknown) =>
          typeof v === 'number' && (s.minimum === undefined || v >= s.minimum) && (s.maximum === undefined || v <= s.maximum);
        if (inRange(s.example)) return s.example;
        return s.minimum ?? 1;
      }
      case 'boolean':
        return false;
      case 'array':
        return s.minItems ? [this.sample(s.items ?? {})] : [];
      case 'object': {
        const out = obj();
        if (!s.properties) return out;
        const required = s.required ?? [];
        for (const key of required) out[key] = this.sample(s.properties[key] as Schema, key);
        if (required.length === 0) {
          const first = Object.entries(s.properties).find(([, p]) => this.spec.deref(p).example !== undefined);
          if (first) out[first[0]] = this.sample(first[1], first[0]);
        }
        return out;
      }
      default:
        return s.example ?? 'corpus';
    }
  }

  // ---- path parameters ---------------------------------------------------------------------

  private pathCases(op: SpecOperation): void {
    for (const p of op.pathParams) {
      const real = this.fixture.pathValues[p.name] ?? 'corpus-none';
      for (const [label, segment] of pathMutations(real)) {
        this.add(op, `path.${label}.${p.name}`, { segments: { [p.name]: segment }, jsonVariant: true });
      }
    }
  }

  // ---- query parameters --------------------------------------------------------------------

  private classify(p: Parameter): 'numeric' | 'choice' | 'time' | 'columns' | 'free' {
    const s = p.schema ?? {};
    const types = this.spec.allowedTypes(s);
    const text = `${s.description ?? p.description ?? ''}`;
    if (types !== 'any' && (types.has('integer') || types.has('number'))) return 'numeric';
    if (typeof s.example === 'string' && /^\d+$/.test(s.example)) return 'numeric';
    if (s.enum || (types !== 'any' && types.has('boolean')) || /\btrue\b/.test(text)) return 'choice';
    if (/\btime\b|duration/i.test(text) || (typeof s.example === 'string' && /^\d+(ms|s|m|h|d)$/.test(s.example))) return 'time';
    if (p.name in COLUMN_PARAMS) return 'columns';
    return 'free';
  }

  /** The values of a parameter that its declaration forbids. */
  private badQueryValues(op: SpecOperation, p: Parameter): Array<[string, string | Raw]> {
    const s = p.schema ?? {};
    const kind = this.classify(p);
    const integerish = s.type === 'integer' || (typeof s.example === 'string' && /^\d+$/.test(s.example));
    const badEncoding: Array<[string, string | Raw]> = [
      ['percent-lone', new Raw('%')],
      ['percent-truncated', new Raw('%E0%A4%A')],
    ];
    switch (kind) {
      case 'numeric': {
        const values: Array<[string, string | Raw]> = [
          ['not-a-number', 'abc'],
          ['empty', ''],
          ['overflow-1e309', '1e309'],
          ...badEncoding,
        ];
        if (integerish) values.push(['fraction', '1.5']);
        const min = s.minimum ?? (integerish && s.type === 'string' ? 0 : undefined);
        if (min !== undefined && min > -1) values.push(['negative', '-1']);
        if (min !== undefined && min - 1 !== -1) values.push(['below-minimum', String(min - 1)]);
        if (s.maximum !== undefined) values.push(['above-maximum', String(s.maximum + 1)]);
        if (s.maximum !== undefined || s.type === 'string') values.push(['huge-20-digits', '99999999999999999999']);
        return values;
      }
      case 'choice': {
        const allowed = new Set<unknown>(['true', 'false']);
        for (const alt of [s, ...(s.anyOf ?? [])]) for (const v of this.spec.deref(alt).enum ?? []) allowed.add(v);
        const candidates: Array<[string, string | Raw]> = [
          ['not-a-choice', 'maybe'],
          ['negative', '-1'],
          ['two', '2'],
          ['huge-20-digits', '99999999999999999999'],
          ...badEncoding,
        ];
        // A flag reads an empty value (`?force`) as true; a plain enum (count=exact) has no empty member.
        const enums = [s, ...(s.anyOf ?? [])].some((alt) => this.spec.deref(alt).enum);
        if (enums) candidates.push(['empty', ''], ['upper-case', String(s.enum?.[0] ?? 'true').toUpperCase()]);
        return candidates.filter(([, v]) => v instanceof Raw || !allowed.has(v));
      }
      case 'time':
        return [
          ['not-a-time', 'not-a-time'],
          ['empty', ''],
          ['negative', '-1'],
          ['overflow-1e309', '1e309'],
          ['negative-duration', '-5m'],
          ['unknown-unit', '5 parsecs'],
          ['percent-truncated', new Raw('%E0%A4%A')],
        ];
      case 'columns': {
        if (!COLUMN_PARAMS[p.name]?.includes(op.method)) return [];
        const key = this.fixture.keyColumn;
        const values: Array<[string, string | Raw]> = [
          ['unknown-column', 'no_such_column'],
          ['sql-statement', SQL_STATEMENT],
          ['sql-quote-comment', SQL_QUOTE],
          ['cyrillic-lookalike', lookalike(key)],
          ['nul', `${key}\u0000`],
        ];
        if (p.name === 'order') values.push(['sideways', `${key}.sideways`], ['empty-term', ','], ['extra-word', `${key}.asc.bogus`]);
        if (p.name === 'select') values.push(['only-commas', ',,'], ['unknown-in-list', `${key},,no_such_column`]);
        if (p.name === 'on_conflict') values.push(['empty-terms', ',']);
        return values;
      }
      default:
        return [];
    }
  }

  private validQueryValue(p: Parameter): string {
    const s = p.schema ?? {};
    switch (this.classify(p)) {
      case 'numeric':
        return String(s.minimum ?? (typeof s.example === 'string' ? s.example : 1));
      case 'choice':
        return s.enum ? String(s.enum[0]) : 'false';
      case 'time':
        return typeof s.example === 'string' ? s.example : '5m';
      case 'columns':
        return this.fixture.keyColumn;
      default:
        return typeof s.example === 'string' ? s.example : 'x';
    }
  }

  private queryCases(op: SpecOperation): void {
    const base = this.baseQuery(op);
    for (const p of op.queryParams) {
      const others = base.filter(([k]) => k !== p.name);
      for (const [label, value] of this.badQueryValues(op, p)) {
        this.add(op, `query.${this.classify(p)}.${p.name}.${label}`, { query: [...others, [p.name, value]], jsonVariant: true });
      }
      const valid = this.validQueryValue(p);
      this.add(op, `query.repeated.${p.name}`, { query: [...others, [p.name, valid], [p.name, valid]], jsonVariant: true });
    }
  }

  // ---- row filters and shaping (PostgREST dialect) -----------------------------------------

  /** Row collections: they declare select and order, and every other parameter filters a column. */
  private isFilterable(op: SpecOperation): boolean {
    const names = new Set(op.queryParams.map((p) => p.name));
    return names.has('select') && names.has('order') && op.method !== 'POST';
  }

  private filterCases(op: SpecOperation): void {
    const key = this.fixture.keyColumn;
    const ints = this.fixture.columns.filter((c) => c.kind === 'int').map((c) => c.name);
    const other = ints.find((c) => c !== key) ?? key;
    const filters: Array<[string, QueryPair[]]> = [
      // SQL in values, only on int columns: the value cannot be an int, so the answer is 4xx, never 200 with no rows.
      ['sql-value.eq-statement', [[key, 'eq.1;DROP TABLE t']]],
      ['sql-value.in-statement', [[key, new Raw('in.(1);DELETE')]]],
      ['sql-value.or-true', [[key, 'eq.1 OR 1=1']]],
      ['sql-value.quote-comment', [[key, "eq.1'--"]]],
      ['sql-value.paren-statement', [[other, 'gt.0);DROP TABLE x;--']]],
      ['sql-value.in-list-statement', [[other, 'in.(1,2);DELETE FROM t']]],
      ['sql-value.union', [[other, 'lt.1 UNION SELECT 1']]],
      ['sql-column.statement', [[SQL_STATEMENT, 'eq.1']]],
      ['sql-column.quote-comment', [[SQL_QUOTE, 'eq.1']]],
      ['sql-column.quoted-or', [[`${key}" OR 1=1--`, 'eq.1']]],
      ['malformed.unknown-op', [[key, 'zz.1']]],
      ['malformed.op-without-value', [[key, 'eq']]],
      ['malformed.empty', [[key, '']]],
      ['malformed.not-alone', [[key, 'not.']]],
      ['malformed.not-unknown-op', [[key, 'not.zz.1']]],
      ['malformed.in-without-parens', [[key, 'in.1,2']]],
      ['malformed.in-unterminated-quote', [[key, 'in.("1)']]],
      ['malformed.in-not-ints', [[key, 'in.(a,b)']]],
      ['malformed.is-unknown', [[key, 'is.maybe']]],
      ['malformed.eq-empty-int', [[key, 'eq.']]],
      ['malformed.empty-column', [['', 'eq.1']]],
      ['malformed.percent-truncated', [[key, new Raw('eq.%E0%A4%A')]]],
      ['malformed.nul', [[key, 'eq.1\u0000']]],
      ['unicode.arabic-digit', [[key, 'eq.\u0661']]],
      ['unicode.cyrillic-column', [[lookalike(key), 'eq.1']]],
      ['unicode.zero-width-column', [[`${key}\u200d`, 'eq.1']]],
      ['unknown-column', [['no_such_column', 'eq.1']]],
      ['proto.__proto__', [['__proto__', 'eq.1']]],
      ['proto.constructor', [['constructor', 'eq.1']]],
      ['proto.toString', [['toString', 'eq.1']]],
      ['proto.hasOwnProperty', [['hasOwnProperty', 'eq.1']]],
    ];
    for (const [label, pairs] of filters) this.add(op, `filter.${label}`, { addQuery: pairs, jsonVariant: true });
  }

  // ---- bodies ------------------------------------------------------------------------------

  /** The row schema when the body is a row of the fixture's table (a free map of column: value). */
  private rowSchema(op: SpecOperation): Schema | undefined {
    if (!op.body || !op.pathParams.some((p) => p.name === 'table')) return undefined;
    const s = this.spec.deref(op.body);
    const candidates = [s, ...(s.anyOf ?? s.oneOf ?? [])];
    return candidates.find((c) => this.spec.isRecord(c));
  }

  private newRow(): Record<string, Json> {
    const n = 900_000 + this.unique();
    return obj(
      this.fixture.columns.map((c): [string, Json] => [
        c.name,
        c.name === this.fixture.keyColumn ? n : c.kind === 'int' ? 1 : c.kind === 'text' ? `corpus-${n}` : obj([['corpus', n]]),
      ]),
    );
  }

  private rowChange(): Record<string, Json> {
    const text = this.fixture.columns.find((c) => c.kind === 'text');
    return obj([[text?.name ?? this.fixture.keyColumn, text ? 'corpus-change' : Number(this.fixture.keyValue)]]);
  }

  /**
   * Sends a JSON body. Names sampled for the base body are renewed for each request, so that a
   * server that wrongly accepts two of them cannot hide the second behind NAME_TAKEN.
   */
  private json(op: SpecOperation, kind: string, value: Json): void {
    const renamed = new Map<string, number>();
    const text = toJson(value).replace(/corpus([-_]?)probe\1(\d+)/g, (_m, sep: string, n: string) => {
      if (!renamed.has(n)) renamed.set(n, this.unique());
      return `corpus${sep}probe${sep}${renamed.get(n)}`;
    });
    this.add(op, kind, { body: { text, type: 'application/json' } });
  }

  private bodyCases(op: SpecOperation): void {
    const schema = op.body as Schema;
    for (const [label, text] of MALFORMED_JSON) this.add(op, `body.malformed.${label}`, { body: { text, type: 'application/json' } });
    // body-parser reads an empty JSON body as {}: refused where {} is (a required field, or a row that names no column).
    const s = this.spec.deref(schema);
    if ((s.required?.length ?? 0) > 0 || this.rowSchema(op)) this.add(op, 'body.empty', { body: { text: '', type: 'application/json' } });
    const tops: Array<[TopShape, string | Raw]> = [
      ['null', 'null'],
      ['string', '"corpus"'],
      ['number', '123'],
      ['boolean', 'true'],
      ['array-of-numbers', '[1]'],
      ['array-of-arrays', '[[]]'],
      ['deep-array', DEEP_ARRAY],
      ['deep-object', DEEP_OBJECT],
    ];
    for (const [shape, text] of tops) {
      if (!this.refusesTop(op, shape)) continue;
      const group = shape.startsWith('deep') ? `body.deep.${shape.slice(5)}-10000` : `body.top-level.${shape}`;
      this.add(op, group, { body: { text: text instanceof Raw ? text.text : text, type: 'application/json' } });
    }
    this.oversize(op, toJson(this.baseBody(op)));

    if (this.rowSchema(op)) return this.rowCases(op);
    this.walk(op, schema, this.baseBody(op), []);
  }

  /** Whether the body schema refuses a whole body of this shape. */
  private refusesTop(op: SpecOperation, shape: TopShape): boolean {
    const schema = op.body as Schema;
    const types = this.spec.allowedTypes(schema);
    if (types === 'any') return false;
    const s = this.spec.deref(schema);
    const alternatives = [s, ...(s.anyOf ?? s.oneOf ?? [])].map((a) => this.spec.deref(a));
    let items = new Set<string>() as Set<string> | 'any';
    for (const a of alternatives.filter((x) => x.type === 'array')) {
      const t = a.items ? this.spec.allowedTypes(a.items) : 'any';
      items = t === 'any' || items === 'any' ? 'any' : new Set([...items, ...t]);
    }
    const arrays = types.has('array');
    switch (shape) {
      case 'null':
      case 'string':
      case 'number':
      case 'boolean':
        return !types.has(shape) && !(shape === 'number' && types.has('integer'));
      case 'array-of-numbers':
        return !arrays || (items !== 'any' && !items.has('number') && !items.has('integer'));
      case 'array-of-arrays':
      case 'deep-array':
        return !arrays || (items !== 'any' && !items.has('array'));
      case 'deep-object':
        // {"a": {...}}: a row of the fixture has no column "a"; a strict object no property "a".
        if (this.rowSchema(op)) return !this.fixture.columns.some((c) => c.name === 'a');
        return alternatives.some((a) => a.type === 'object') && alternatives.every((a) => a.type !== 'object' || (a.additionalProperties === false && !a.properties?.a));
    }
  }

  private oversize(op: SpecOperation, base: string): void {
    const pad = (bytes: number) => (base.startsWith('{') && base.length > 2 ? `{"corpus_pad":"${'x'.repeat(bytes)}",${base.slice(1)}` : `["${'x'.repeat(bytes)}"]`);
    this.add(op, 'body.oversize.96kB', { body: { text: pad(96 * 1024), type: 'application/json' } });
    this.add(op, 'body.oversize.1MB', { body: { text: pad(1024 * 1024), type: 'application/json' } });
  }

  /** Mutations of one object level of a strict schema and of every property in it, recursively. */
  private walk(op: SpecOperation, schema: Schema, base: Json, at: Array<string | number>): void {
    const s = this.spec.deref(schema);
    if (!(s.type === 'object' && s.properties)) return;
    const here = at.length ? at.join('.') : '(top)';
    const level = getAt(base, at);
    for (const key of s.required ?? []) {
      if (level && typeof level === 'object' && key in level) this.json(op, `body.missing-required.${[...at, key].join('.')}`, deleteAt(base, [...at, key]));
    }
    if (this.spec.isStrictObject(s)) {
      this.json(op, `body.extra-field.${here}`, setAt(base, [...at, 'corpus_unknown_field'], 1));
      this.json(op, `body.proto-key.__proto__.${here}`, setAt(base, [...at, '__proto__'], obj([['polluted', true]])));
      this.json(op, `body.proto-key.__proto__-scalar.${here}`, setAt(base, [...at, '__proto__'], 'polluted'));
      this.json(op, `body.proto-key.constructor.${here}`, setAt(base, [...at, 'constructor'], obj([['prototype', obj([['polluted', true]])]])));
    }
    for (const [name, prop] of Object.entries(s.properties)) {
      const path = [...at, name];
      this.propertyCases(op, prop, base, path, name);
      const d = this.spec.deref(prop);
      if (d.type === 'object' && d.properties) this.walk(op, d, getAt(base, path) === undefined ? setAt(base, path, this.sample(d)) : base, path);
      if (d.type === 'array' && d.items && this.spec.deref(d.items).properties) {
        const withItem = getAt(base, [...path, 0]) === undefined ? setAt(base, path, [this.sample(d.items)]) : base;
        this.walk(op, d.items, withItem, [...path, 0]);
      }
    }
  }

  private propertyCases(op: SpecOperation, prop: Schema, base: Json, path: Array<string | number>, name: string): void {
    const d = this.spec.deref(prop);
    const types = this.spec.allowedTypes(d);
    if (types === 'any') return;
    const field = path.join('.');
    const put = (label: string, value: Json) => this.json(op, `body.${label}.${field}`, setAt(base, path, value));
    const valid = this.sample(d, name);
    const numeric = (types.has('number') || types.has('integer')) && !types.has('string');

    if (!types.has('string')) put('wrong-type.string', 'corpus-not-a-number');
    if (!types.has('number') && !types.has('integer')) put('wrong-type.number', 12345);
    if (!types.has('boolean')) put('wrong-type.boolean', true);
    if (!types.has('object')) put('wrong-type.object', obj());
    if (!types.has('array')) put('wrong-type.array', []);
    if (!types.has('null')) put('wrong-type.null', null);
    if (numeric && typeof valid === 'number') put('wrong-type.string-with-blanks', ` ${valid} `);
    const itemsAny = d.items ? this.spec.allowedTypes(d.items) === 'any' : false;
    if (!types.has('array') || (d.items && !itemsAny && !(this.spec.allowedTypes(d.items) as Set<string>).has('array'))) put('deep.array-10000', DEEP_ARRAY);

    if (numeric) {
      const integer = types.has('integer') && !types.has('number');
      put('huge-number.1e309', new Raw('1e309'));
      put('huge-number.-1e309', new Raw('-1e309'));
      if (integer) put('boundary.fraction', 1.5);
      if (d.minimum !== undefined) {
        put('boundary.below-minimum', integer ? d.minimum - 1 : Number((d.minimum - Math.max(Math.abs(d.minimum) / 10, 0.001)).toFixed(6)));
        if (d.minimum > 0) put('boundary.negative', -1);
      }
      if (d.maximum !== undefined) {
        put('boundary.above-maximum', integer ? d.maximum + 1 : d.maximum + 0.5);
        put('huge-number.1e308', new Raw('1e308'));
        put('huge-number.20-digits', new Raw('99999999999999999999'));
      }
    }
    if (d.type === 'string' && constrainsContent(d)) {
      const text = typeof valid === 'string' ? valid : 'corpus';
      for (const [label, value] of stringMutations(text)) if (stringViolates(d, value)) put(`string.${label}`, value);
    }
    if (d.type === 'array') {
      if (d.minItems) put('array.too-short', []);
      const items = d.items ? this.spec.deref(d.items) : undefined;
      if (items?.type === 'string' && constrainsContent(items)) {
        for (const [label, value] of stringMutations('corpus')) if (stringViolates(items, value)) put(`array.item-${label}`, [value]);
      }
    }
    if (this.spec.isRecord(d) && typeof d.additionalProperties === 'object') {
      const values = this.spec.allowedTypes(d.additionalProperties);
      if (values !== 'any' && !values.has('object')) put('record-value.object', obj([['work_mem', obj()]]));
      if (values !== 'any' && !values.has('array')) put('record-value.deep', obj([['work_mem', DEEP_ARRAY]]));
    }
  }

  /** A row of the fixture's table with one column, key or shape the table cannot take. */
  private rowCases(op: SpecOperation): void {
    const base = () => (op.method === 'POST' ? this.newRow() : this.rowChange());
    const bad: Record<Column['kind'], Array<[string, Json]>> = {
      int: [
        ['string', 'corpus-not-a-number'],
        ['boolean', true],
        ['object', obj()],
        ['array', []],
        ['fraction', 1.5],
        ['1e309', new Raw('1e309')],
        ['20-digits', new Raw('99999999999999999999')],
        ['int4-overflow', 2_147_483_648],
        ['deep', DEEP_ARRAY],
        ['sql', '1; DROP TABLE t'],
      ],
      text: [
        ['object', obj()],
        ['array', [1]],
        ['deep', DEEP_ARRAY],
      ],
      json: [],
    };
    for (const column of this.fixture.columns) {
      for (const [label, value] of bad[column.kind]) this.json(op, `body.column-value.${column.kind}.${label}.${column.name}`, setAt(base(), [column.name], value));
    }
    const keys: Array<[string, string]> = [
      ['unknown-column', 'no_such_column'],
      ['sql-statement', SQL_STATEMENT],
      ['sql-quote-comment', SQL_QUOTE],
      ['empty', ''],
      ['__proto__', '__proto__'],
      ['constructor', 'constructor'],
      ['toString', 'toString'],
      ['cyrillic-lookalike', lookalike(this.fixture.keyColumn)],
      ['zero-width-joiner', `${this.fixture.keyColumn}\u200d`],
      ['nul', `${this.fixture.keyColumn}\u0000`],
    ];
    for (const [label, key] of keys) this.json(op, `body.column-key.${label}`, setAt(base(), [key], label === '__proto__' ? obj([['polluted', true]]) : 1));
    this.json(op, 'body.row.empty-object', obj());
    if (op.method === 'POST') {
      this.json(op, 'body.row.array-second-row-bad', [this.newRow(), setAt(this.newRow(), [this.fixture.keyColumn], 'corpus-not-a-number')]);
      this.json(op, 'body.row.array-with-scalar', [this.newRow(), 1]);
      this.json(op, 'body.row.array-with-null', [this.newRow(), null]);
    }
  }

  /** A write that takes no body, sent one anyway: broken or oversize, it must be refused. */
  private unexpectedBodyCases(op: SpecOperation): void {
    for (const [label, text] of MALFORMED_JSON.slice(0, 3)) this.add(op, `body.malformed.${label}`, { body: { text, type: 'application/json' } });
    this.add(op, 'body.oversize.96kB', { body: { text: `{"corpus_pad":"${'x'.repeat(96 * 1024)}"}`, type: 'application/json' } });
  }

  // ---- headers -----------------------------------------------------------------------------

  private headerCases(op: SpecOperation): void {
    if (op.template !== this.fixture.healthPath) this.add(op, 'header.host.attacker', { headers: { host: 'attacker.example' } });
    if (!MUTATING.has(op.method)) return;
    this.add(op, 'header.origin.foreign', { headers: { origin: 'http://evil.example' } });
    this.add(op, 'header.origin.null', { headers: { origin: 'null' } });
    const value = op.body ? this.baseBody(op) : obj();
    const json = toJson(value);
    const form = Object.entries(value as Record<string, Json>)
      .map(([k, v]) => `${enc(k)}=${enc(typeof v === 'string' ? v : toJson(v))}`)
      .join('&');
    const boundary = 'corpusboundary';
    const multipart =
      Object.entries(value as Record<string, Json>)
        .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${typeof v === 'string' ? v : toJson(v)}\r\n`)
        .join('') + `--${boundary}--\r\n`;
    this.add(op, 'header.content-type.form-urlencoded', { body: { text: form || 'a=1', type: 'application/x-www-form-urlencoded' } });
    this.add(op, 'header.content-type.text-plain', { body: { text: json, type: 'text/plain' } });
    this.add(op, 'header.content-type.multipart', { body: { text: multipart, type: `multipart/form-data; boundary=${boundary}` } });
    this.add(op, 'header.content-type.json-unsupported-charset', { body: { text: json, type: 'application/json; charset=ibm037' } });
    const garbage = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.from('this is not a deflate stream \u00ff\u00fe garbage', 'latin1')]);
    this.add(op, 'header.content-encoding.gzip-garbage', { body: { text: garbage, type: 'application/json' }, headers: { 'content-encoding': 'gzip' } });
    this.add(op, 'header.content-encoding.deflate-garbage', { body: { text: garbage, type: 'application/json' }, headers: { 'content-encoding': 'deflate' } });
    this.add(op, 'header.content-encoding.gzip-truncated', {
      body: { text: gzipSync(Buffer.from(json)).subarray(0, 12), type: 'application/json' },
      headers: { 'content-encoding': 'gzip' },
    });
    this.add(op, 'header.content-encoding.unknown', { body: { text: json, type: 'application/json' }, headers: { 'content-encoding': 'x-corpus' } });
  }

  // ---- methods and paths the document does not declare -------------------------------------

  private methodCases(): void {
    const templates = Object.keys(this.spec.doc.paths);
    for (const template of templates) {
      const declared = new Set(this.spec.methodsOf(template));
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
        if (declared.has(method)) continue;
        this.add({ method, template }, 'method.undeclared', { query: [], body: null, jsonVariant: true });
      }
    }
    const ref = this.realSegment('ref');
    const unknownPaths = [
      '/corpus-no-such-route',
      `/instances/${ref}/corpus-no-such-action`,
      '/../../etc/passwd',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/..%2F..%2Fconfig%2Finstances.json',
      `/instances/${ref}/../../config/instances.json`,
      '/config/instances.json',
      '/instances/%',
      '/%E0%A4%A',
    ];
    for (const path of unknownPaths) this.add({ method: 'GET', template: path }, 'path.unknown-route', { query: [], body: null });
  }
}

export function generateCorpus(doc: OpenApiDocument, fixture: Fixture): HostileRequest[] {
  return new CorpusGenerator(doc, fixture).generate();
}

/** `path.traversal-raw.ref` -> `path.traversal-raw`: the first two parts of a kind, for counting. */
export function categoryOf(kind: string): string {
  return kind.split('.').slice(0, 2).join('.');
}
