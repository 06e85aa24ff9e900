import { describe, expect, it } from 'vitest';
import type { ColumnInfo, TableInfo } from '../../src/database/catalog.js';
import {
  assertRowObject,
  buildCount,
  buildDelete,
  buildInsert,
  buildSelect,
  buildUpdate,
  columnOf,
  Params,
  parseFilter,
  parseInList,
  parseLogicFilter,
  parseOrder,
  parseSelect,
  primaryKeyFilters,
  qualifiedName,
  quoteIdent,
  toParam,
  type Filter,
  type OrderTerm,
} from '../../src/database/query.js';
import { OPERATORS } from '../../src/database/rest/grammar.js';
import { caught } from './fixtures/errors.js';

/**
 * The row-request SQL builder, against hand-built catalog descriptions. The two properties that
 * keep it safe are checked on every statement: each identifier is a double-quoted name the
 * catalog returned, and each value is a $n placeholder bound in `values`, never SQL text.
 */


let position = 0;
function col(name: string, type: string, udtName: string, category: string, extra: Partial<ColumnInfo> = {}): ColumnInfo {
  position += 1;
  return {
    name,
    type,
    udtName,
    category,
    elementType: null,
    nullable: true,
    default: null,
    identity: false,
    generated: false,
    position,
    ...extra,
  };
}

const ITEMS: TableInfo = {
  schema: 'public',
  name: 'items',
  kind: 'table',
  columns: [
    col('id', 'integer', 'int4', 'N', { nullable: false, identity: true }),
    col('name', 'text', 'text', 'S'),
    col('price', 'numeric(10,2)', 'numeric', 'N'),
    col('qty', 'bigint', 'int8', 'N'),
    col('active', 'boolean', 'bool', 'B'),
    col('tags', 'text[]', '_text', 'A', { elementType: 'text' }),
    col('scores', 'integer[]', '_int4', 'A', { elementType: 'int4' }),
    col('data', 'jsonb', 'jsonb', 'U'),
    col('meta', 'json', 'json', 'U'),
    col('blob', 'bytea', 'bytea', 'U'),
    col('created', 'timestamp with time zone', 'timestamptz', 'D'),
    col('uid', 'uuid', 'uuid', 'U'),
    col('total', 'numeric', 'numeric', 'N', { generated: true }),
  ],
  primaryKey: ['id'],
  foreignKeys: [],
  indexes: [],
};

/** A table whose real column names are hostile: the catalog said so, so they must work, quoted. */
const WEIRD: TableInfo = {
  schema: 'we"s',
  name: 'my "table"; --',
  kind: 'table',
  columns: [
    col('we"ird', 'text', 'text', 'S'),
    col("'; DROP TABLE x; --", 'text', 'text', 'S'),
    col('ｓｅｌｅｃｔ', 'text', 'text', 'S'),
    col('name" OR 1=1 --', 'integer', 'int4', 'N'),
  ],
  primaryKey: ['we"ird'],
  foreignKeys: [],
  indexes: [],
};

const LINES: TableInfo = {
  schema: 'shop',
  name: 'order_lines',
  kind: 'table',
  columns: [
    col('order_id', 'integer', 'int4', 'N', { nullable: false }),
    col('line', 'integer', 'int4', 'N', { nullable: false }),
    col('sku', 'text', 'text', 'S'),
  ],
  primaryKey: ['order_id', 'line'],
  foreignKeys: [],
  indexes: [],
};

const LOG: TableInfo = {
  schema: 'public',
  name: 'log',
  kind: 'table',
  columns: [col('msg', 'text', 'text', 'S')],
  primaryKey: [],
  foreignKeys: [],
  indexes: [],
};

const HOSTILE_VALUES = ["'; DROP TABLE x; --", '"', '\u0000', 'ｓｅｌｅｃｔ', 'name" OR 1=1 --', "1' OR '1'='1", '$1', '); DELETE FROM items; --'];
const HOSTILE_NAMES = ["'; DROP TABLE x; --", '"', 'ｓｅｌｅｃｔ', 'name" OR 1=1 --', 'id; DROP TABLE items', 'id"', '"id"', 'ID', ' id', 'id ', 'a\u0000b', 'ⅰd'];

const KEYWORDS = new Set(
  (
    'SELECT FROM WHERE AND NOT ANY IS NULL TRUE FALSE UNKNOWN LIKE ILIKE text ORDER BY ASC DESC NULLS FIRST LAST LIMIT ' +
    'OFFSET INSERT INTO VALUES DEFAULT ON CONFLICT DO UPDATE SET NOTHING EXCLUDED RETURNING DELETE count AS'
  ).split(' '),
);

/**
 * Splits SQL into its tokens and fails on anything that is not a quoted identifier, a $n
 * placeholder, one of the builder's own keywords or punctuation. Returns the identifiers
 * (unquoted) and the placeholder numbers.
 */
function tokens(sql: string): { idents: string[]; placeholders: number[]; words: string[] } {
  const idents: string[] = [];
  const placeholders: number[] = [];
  const words: string[] = [];
  const re = /\s+|"((?:[^"]|"")*)"|\$(\d+)|([A-Za-z_]+)|(::|<>|>=|<=|[(),.*=<>])/y;
  let i = 0;
  while (i < sql.length) {
    re.lastIndex = i;
    const m = re.exec(sql);
    if (!m) throw new Error(`unexpected SQL text at ${i}: ${JSON.stringify(sql.slice(i, i + 30))} in ${sql}`);
    if (m[1] !== undefined) idents.push(m[1].replace(/""/g, '"'));
    else if (m[2] !== undefined) placeholders.push(Number(m[2]));
    else if (m[3] !== undefined) {
      if (!KEYWORDS.has(m[3])) throw new Error(`unexpected word ${m[3]} in ${sql}`);
      words.push(m[3]);
    }
    i = re.lastIndex;
  }
  return { idents, placeholders, words };
}

/** Every identifier is the table's schema, name or a catalog column; placeholders are $1..$n for n values. */
function expectSafe(table: TableInfo, built: { text: string; values: unknown[] }): void {
  const { idents, placeholders } = tokens(built.text);
  // t0 is the builder's alias of the table.
  const known = new Set([table.schema, table.name, 't0', ...table.columns.map((c) => c.name)]);
  for (const ident of idents) expect(known.has(ident), `identifier ${JSON.stringify(ident)} is not in the catalog`).toBe(true);
  expect([...new Set(placeholders)].sort((a, b) => a - b)).toEqual(built.values.map((_, i) => i + 1));
  // Outside the quoted identifiers there is no literal, statement end or comment for a value to hide in.
  const outside = built.text.replace(/"(?:[^"]|"")*"/g, '""');
  expect(outside).not.toMatch(/--|;|'|\/\*/);
}

type Op = Extract<Filter, { kind: 'filter' }>['op'];
type Value = Extract<Filter, { kind: 'filter' }>['value'];
const f = (column: string, op: Op, value: Value, negate = false): Filter => ({ kind: 'filter', field: { column, path: [] }, op, negate, value });
const o = (column: string, descending: boolean, nulls?: 'first' | 'last'): OrderTerm => ({ field: { column, path: [] }, descending, ...(nulls ? { nulls } : {}) });
/** The value of a parsed filter (a leaf, not an or/and tree). */
const valueOf = (filter: Filter): Value => (filter.kind === 'filter' ? filter.value : undefined as never);

describe('the safety checker itself', () => {
  it('rejects literals, unknown words, statement ends, comments and unknown identifiers', () => {
    expect(() => tokens(`SELECT * FROM "t" WHERE "a" = 'x'`)).toThrow();
    expect(() => tokens('SELECT * FROM "t" WHERE "a" = $1 OR 1 = 1')).toThrow();
    expect(() => tokens('SELECT * FROM "t"; DROP TABLE "t"')).toThrow();
    expect(() => tokens('SELECT * FROM "t" -- x')).toThrow();
    expect(() => tokens('SELECT * FROM t')).toThrow();
    expect(tokens('SELECT "a""b" FROM "s"."t" WHERE "a""b" = ANY($1)')).toEqual({
      idents: ['a"b', 's', 't', 'a"b'],
      placeholders: [1],
      words: ['SELECT', 'FROM', 'WHERE', 'ANY'],
    });
    expect(() => expectSafe(ITEMS, { text: 'SELECT "nope" FROM "public"."items"', values: [] })).toThrow();
    expect(() => expectSafe(ITEMS, { text: 'SELECT * FROM "public"."items" LIMIT $2', values: [1] })).toThrow();
  });
});


describe('parseInList', () => {
  it('splits a plain list and trims unquoted values', () => {
    expect(parseInList('(1,2,3)')).toEqual(['1', '2', '3']);
    expect(parseInList('( a , b ,c )')).toEqual(['a', 'b', 'c']);
    expect(parseInList('(one)')).toEqual(['one']);
  });

  it('an empty list is empty', () => {
    expect(parseInList('()')).toEqual([]);
  });

  it('keeps commas and parentheses inside double quotes', () => {
    expect(parseInList('("a,b",c)')).toEqual(['a,b', 'c']);
    expect(parseInList('("(x)","y)","(z")')).toEqual(['(x)', 'y)', '(z']);
    expect(parseInList('("a,b,c")')).toEqual(['a,b,c']);
  });

  it('keeps the spaces inside quotes', () => {
    expect(parseInList('(" a ",b)')).toEqual([' a ', 'b']);
  });

  it('a backslash inside quotes escapes the next character', () => {
    expect(parseInList('("say \\"hi\\"",x)')).toEqual(['say "hi"', 'x']);
    expect(parseInList('("back\\\\slash")')).toEqual(['back\\slash']);
    expect(parseInList('("\\,")')).toEqual([',']);
  });

  it('a backslash outside quotes is an ordinary character', () => {
    expect(parseInList('(a\\b)')).toEqual(['a\\b']);
  });

  it('keeps empty values between commas', () => {
    expect(parseInList('(a,,b)')).toEqual(['a', '', 'b']);
    expect(parseInList('("")')).toEqual(['']);
    expect(parseInList('(a,)')).toEqual(['a', '']);
  });

  it('hostile text stays one value', () => {
    expect(parseInList(`("'; DROP TABLE x; --",2)`)).toEqual(["'; DROP TABLE x; --", '2']);
    expect(parseInList('(ｓｅｌｅｃｔ)')).toEqual(['ｓｅｌｅｃｔ']);
  });

  it.each(['1,2', '(1,2', '1,2)', '', '(', ')', '[1,2]'])('refuses %j without parentheses as VALIDATION_FAILED', (text) => {
    expect(caught(() => parseInList(text)).code).toBe('VALIDATION_FAILED');
  });

  it.each(['("a)', '(a,"b)', '("a\\")', '(")'])('refuses the unterminated quote in %j', (text) => {
    const err = caught(() => parseInList(text));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.message).toMatch(/unterminated quote/);
  });
});

describe('parseFilter', () => {
  it.each([
    ['eq', '5'],
    ['neq', 'x'],
    ['gt', '1.5'],
    ['gte', '-3'],
    ['lt', '2026-01-01'],
    ['lte', 'z'],
    ['like', 'a*'],
    ['ilike', '*B*'],
  ] as const)('%s.value is a %s filter with the text after the first dot', (op, value) => {
    expect(parseFilter('c', `${op}.${value}`)).toEqual(f('c', op, value, false));
  });

  it('keeps later dots in the value', () => {
    expect(parseFilter('v', 'eq.1.2.3')).toEqual(f('v', 'eq', '1.2.3', false));
    expect(parseFilter('host', 'like.*.example.com')).toMatchObject({ op: 'like', value: '*.example.com' });
  });

  it('an empty value is the empty string', () => {
    expect(parseFilter('c', 'eq.')).toEqual(f('c', 'eq', '', false));
  });

  it('in. parses the list', () => {
    expect(parseFilter('id', 'in.(1,2,"3,4")')).toEqual(f('id', 'in', ['1', '2', '3,4'], false));
    expect(parseFilter('id', 'in.()')).toEqual(f('id', 'in', [], false));
  });

  it('in. with a malformed list is VALIDATION_FAILED', () => {
    expect(caught(() => parseFilter('id', 'in.1,2')).code).toBe('VALIDATION_FAILED');
    expect(caught(() => parseFilter('id', 'in.("a)')).code).toBe('VALIDATION_FAILED');
  });

  it('is. takes null, true, false and unknown, in any case', () => {
    expect(parseFilter('c', 'is.null')).toEqual(f('c', 'is', null, false));
    expect(parseFilter('c', 'is.true')).toEqual(f('c', 'is', true, false));
    expect(parseFilter('c', 'is.false')).toEqual(f('c', 'is', false, false));
    expect(parseFilter('c', 'is.unknown')).toEqual(f('c', 'is', 'unknown', false));
    expect(valueOf(parseFilter('c', 'is.NULL'))).toBeNull();
    expect(valueOf(parseFilter('c', 'is.True'))).toBe(true);
  });

  it.each(['is.maybe', 'is.', 'is.1', "is.null; DROP TABLE x"])('%s is VALIDATION_FAILED naming the column', (expression) => {
    const err = caught(() => parseFilter('flag', expression));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.message).toContain('flag');
    expect(err.details).toEqual({ issues: [{ field: 'flag', message: err.message }] });
  });

  it('not. negates any op', () => {
    for (const op of ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'in', 'is'] as const) {
      const expression = op === 'in' ? 'not.in.(1)' : op === 'is' ? 'not.is.null' : `not.${op}.1`;
      expect(parseFilter('c', expression)).toMatchObject({ field: { column: 'c' }, op, negate: true });
    }
    expect(parseFilter('c', 'not.eq.5')).toEqual(f('c', 'eq', '5', true));
  });

  it.each(['5', 'equals.5', 'EQ.5', 'not.5', 'not.not.eq.5', 'eq', 'not.eq', 'between.1.2', '', '.5', "eq'.5", 'cs(any).{1}'])(
    'the bad expression %j is VALIDATION_FAILED naming the column',
    (expression) => {
      const err = caught(() => parseFilter('price', expression));
      expect(err.code).toBe('VALIDATION_FAILED');
      expect(err.message).toMatch(/^price: /);
      expect((err.details?.issues as Array<{ field: string }>)[0]?.field).toBe('price');
    },
  );

  it('hostile values are kept verbatim as the value', () => {
    for (const value of HOSTILE_VALUES) {
      expect(valueOf(parseFilter('name', `eq.${value}`))).toBe(value);
    }
  });
});

describe('parseOrder', () => {
  it('reads columns, direction and nulls placement', () => {
    expect(parseOrder('a')).toEqual([o('a', false)]);
    expect(parseOrder('a.asc')).toEqual([o('a', false)]);
    expect(parseOrder('a.desc')).toEqual([o('a', true)]);
    expect(parseOrder('a.desc.nullslast,b.asc,c.nullsfirst')).toEqual([
      o('a', true, 'last'),
      o('b', false),
      o('c', false, 'first'),
    ]);
    expect(parseOrder(' a.desc , b ')).toEqual([
      o('a', true),
      o('b', false),
    ]);
  });

  it.each(['', 'a,,b', '.desc', 'a,'])('an empty column in %j is VALIDATION_FAILED on order', (text) => {
    const err = caught(() => parseOrder(text));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.details).toMatchObject({ issues: [{ field: 'order' }] });
  });

  it.each(['a.up', 'a.DESC', 'a.desc;drop', 'a.nulls_last', 'a.'])('the bad direction in %j is VALIDATION_FAILED', (text) => {
    const err = caught(() => parseOrder(text));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.details).toMatchObject({ issues: [{ field: 'order' }] });
  });
});

describe('parseSelect', () => {
  it('absent, empty or * selects every column', () => {
    expect(parseSelect(undefined)).toBe('*');
    expect(parseSelect('')).toBe('*');
    expect(parseSelect('  ')).toBe('*');
    expect(parseSelect('*')).toBe('*');
    expect(parseSelect(' * ')).toBe('*');
  });

  it('splits, trims and drops empty names', () => {
    expect(parseSelect('a')).toEqual(['a']);
    expect(parseSelect('a, b ,c')).toEqual(['a', 'b', 'c']);
    expect(parseSelect('a,,b,')).toEqual(['a', 'b']);
  });

  it('keeps hostile names for the catalog check to refuse', () => {
    expect(parseSelect('id,name" OR 1=1 --')).toEqual(['id', 'name" OR 1=1 --']);
  });
});

describe('quoteIdent and qualifiedName', () => {
  it('double-quotes names and doubles the quotes inside', () => {
    expect(quoteIdent('id')).toBe('"id"');
    expect(quoteIdent('Mixed Case')).toBe('"Mixed Case"');
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteIdent('"')).toBe('""""');
    expect(quoteIdent('name" OR 1=1 --')).toBe('"name"" OR 1=1 --"');
    expect(quoteIdent("'; DROP TABLE x; --")).toBe(`"'; DROP TABLE x; --"`);
    expect(quoteIdent('ｓｅｌｅｃｔ')).toBe('"ｓｅｌｅｃｔ"');
    expect(quoteIdent('')).toBe('""');
  });

  it('no name can end the quoting early', () => {
    for (const name of [...HOSTILE_NAMES.filter((n) => !n.includes('\u0000')), '""', 'a""b', '"; --']) {
      const quoted = quoteIdent(name);
      const { idents } = tokens(quoted);
      expect(idents).toEqual([name]);
    }
  });

  it('refuses NUL', () => {
    expect(caught(() => quoteIdent('a\u0000b')).code).toBe('VALIDATION_FAILED');
    expect(caught(() => quoteIdent('\u0000')).code).toBe('VALIDATION_FAILED');
  });

  it('qualifiedName quotes schema and table', () => {
    expect(qualifiedName({ schema: 'public', name: 'items' })).toBe('"public"."items"');
    expect(qualifiedName(WEIRD)).toBe('"we""s"."my ""table""; --"');
  });
});

describe('Params', () => {
  it('hands out $1, $2, ... in order and keeps the values', () => {
    const p = new Params();
    expect(p.values).toEqual([]);
    expect(p.add('a')).toBe('$1');
    expect(p.add(null)).toBe('$2');
    expect(p.add(['x', 'y'])).toBe('$3');
    expect(p.add('a')).toBe('$4');
    expect(p.values).toEqual(['a', null, ['x', 'y'], 'a']);
  });
});

describe('columnOf', () => {
  it('finds a catalog column', () => {
    expect(columnOf(ITEMS, 'price').udtName).toBe('numeric');
    expect(columnOf(WEIRD, 'we"ird').name).toBe('we"ird');
  });

  it.each(HOSTILE_NAMES)('refuses %j on a table without it as COLUMN_NOT_FOUND naming it', (name) => {
    const err = caught(() => columnOf(ITEMS, name));
    expect(err.code).toBe('COLUMN_NOT_FOUND');
    expect(err.details).toEqual({ table: 'public.items', column: name });
    expect(err.message).toContain(`"${name}"`);
  });

  it('names are matched exactly (no case folding, no trimming)', () => {
    expect(caught(() => columnOf(ITEMS, 'Name')).code).toBe('COLUMN_NOT_FOUND');
    expect(caught(() => columnOf(ITEMS, 'name ')).code).toBe('COLUMN_NOT_FOUND');
  });
});

describe('the WHERE clause (through buildCount)', () => {
  const where = (filters: Filter[], table = ITEMS) => {
    const built = buildCount(table, filters);
    return { text: built.text.replace(/^SELECT count\(\*\) AS count FROM .*? AS "t0"/, ''), values: built.values };
  };

  it('is empty without filters', () => {
    expect(where([])).toEqual({ text: '', values: [] });
  });

  it('maps each comparison op to its operator with a bound value', () => {
    expect(where([f('id', 'eq', '5')])).toEqual({ text: ' WHERE "t0"."id" = $1', values: ['5'] });
    expect(where([f('id', 'neq', '5')]).text).toBe(' WHERE "t0"."id" <> $1');
    expect(where([f('id', 'gt', '5')]).text).toBe(' WHERE "t0"."id" > $1');
    expect(where([f('id', 'gte', '5')]).text).toBe(' WHERE "t0"."id" >= $1');
    expect(where([f('id', 'lt', '5')]).text).toBe(' WHERE "t0"."id" < $1');
    expect(where([f('id', 'lte', '5')]).text).toBe(' WHERE "t0"."id" <= $1');
  });

  it('like and ilike compare the text and turn * into %', () => {
    expect(where([f('name', 'like', 'ab*c*')])).toEqual({ text: ' WHERE ("t0"."name")::text LIKE $1', values: ['ab%c%'] });
    expect(where([f('name', 'ilike', '*X*')])).toEqual({ text: ' WHERE ("t0"."name")::text ILIKE $1', values: ['%X%'] });
    expect(where([f('name', 'like', 'a%b_')]).values).toEqual(['a%b_']);
  });

  it('in binds one array for = ANY', () => {
    expect(where([f('id', 'in', ['1', '2', '3'])])).toEqual({ text: ' WHERE "t0"."id" = ANY($1)', values: [['1', '2', '3']] });
    expect(where([f('id', 'in', [])])).toEqual({ text: ' WHERE "t0"."id" = ANY($1)', values: [[]] });
  });

  it('is needs no parameter', () => {
    expect(where([f('name', 'is', null)])).toEqual({ text: ' WHERE "t0"."name" IS NULL', values: [] });
    expect(where([f('active', 'is', true)]).text).toBe(' WHERE "t0"."active" IS TRUE');
    expect(where([f('active', 'is', false)]).text).toBe(' WHERE "t0"."active" IS FALSE');
    expect(where([f('active', 'is', 'unknown')]).text).toBe(' WHERE "t0"."active" IS UNKNOWN');
  });

  it('negation wraps the condition in NOT (...)', () => {
    expect(where([f('id', 'eq', '5', true)]).text).toBe(' WHERE NOT ("t0"."id" = $1)');
    expect(where([f('id', 'in', ['1'], true)]).text).toBe(' WHERE NOT ("t0"."id" = ANY($1))');
    expect(where([f('name', 'is', null, true)]).text).toBe(' WHERE NOT ("t0"."name" IS NULL)');
    expect(where([f('name', 'like', 'a*', true)]).text).toBe(' WHERE NOT (("t0"."name")::text LIKE $1)');
  });

  it('ANDs several filters, numbering placeholders in order', () => {
    expect(where([f('id', 'gt', '1'), f('name', 'is', null), f('name', 'ilike', '*a'), f('id', 'in', ['7', '8'])])).toEqual({
      text: ' WHERE "t0"."id" > $1 AND "t0"."name" IS NULL AND ("t0"."name")::text ILIKE $2 AND "t0"."id" = ANY($3)',
      values: ['1', '%a', ['7', '8']],
    });
  });

  it('or and and trees, and the operators beyond the comparisons, from the same grammar as the PostgREST endpoint', () => {
    const tree = parseLogicFilter('or', '(id.eq.1,and(price.gt.2,name.not.is.null),tags.cs.{a})');
    expect(where([tree])).toEqual({
      text: ' WHERE ("t0"."id" = $1 OR ("t0"."price" > $2 AND NOT ("t0"."name" IS NULL)) OR "t0"."tags" @> $3)',
      values: ['1', '2', '{a}'],
    });
    expect(where([parseLogicFilter('not.and', '(id.gte.1,id.lte.9)')]).text).toBe(' WHERE NOT ("t0"."id" >= $1 AND "t0"."id" <= $2)');
    expect(where([parseFilter('data->>kind', 'eq.x')])).toEqual({ text: ' WHERE "t0"."data"->>$1::text = $2', values: ['kind', 'x'] });
    expect(where([parseFilter('name', 'like(any).{a*,b*}')])).toEqual({ text: ' WHERE ("t0"."name")::text LIKE ANY($1)', values: [['a%', 'b%']] });
    expect(caught(() => parseLogicFilter('or', 'id.eq.1')).code).toBe('VALIDATION_FAILED');
  });

  it('refuses a column that is not in the catalog', () => {
    const err = caught(() => where([f('id', 'eq', '1'), f('nope', 'eq', '1')]));
    expect(err.code).toBe('COLUMN_NOT_FOUND');
    expect(err.details).toMatchObject({ column: 'nope' });
  });
});

describe('select lists, order and RETURNING', () => {
  const page = { filters: [] as Filter[], order: [] as OrderTerm[], limit: 1, offset: 0 };

  it('a select list is t0.* or the quoted catalog names', () => {
    expect(buildSelect(ITEMS, { ...page, select: '*' }).text).toBe('SELECT "t0".* FROM "public"."items" AS "t0" LIMIT $1');
    expect(buildSelect(ITEMS, { ...page, select: ['id', 'name'] }).text).toBe('SELECT "t0"."id" AS "id", "t0"."name" AS "name" FROM "public"."items" AS "t0" LIMIT $1');
    expect(buildSelect(WEIRD, { ...page, select: ['we"ird', 'ｓｅｌｅｃｔ'] }).text).toMatch(/^SELECT "t0"."we""ird" AS "we""ird", "t0"."ｓｅｌｅｃｔ" AS "ｓｅｌｅｃｔ" FROM/);
    expect(caught(() => buildSelect(ITEMS, { ...page, select: ['id', 'ｓｅｌｅｃｔ'] })).code).toBe('COLUMN_NOT_FOUND');
  });

  it('order writes direction and nulls', () => {
    const built = buildSelect(ITEMS, { ...page, select: '*', order: [o('price', true, 'last'), o('id', false), o('name', false, 'first')] });
    expect(built.text).toBe('SELECT "t0".* FROM "public"."items" AS "t0" ORDER BY "t0"."price" DESC NULLS LAST, "t0"."id" ASC, "t0"."name" ASC NULLS FIRST LIMIT $1');
    expect(caught(() => buildSelect(ITEMS, { ...page, select: '*', order: [o('id; DROP TABLE items', false)] })).code).toBe('COLUMN_NOT_FOUND');
  });

  it('RETURNING is absent for null, else the list', () => {
    expect(buildDelete(ITEMS, [], null).text).toBe('DELETE FROM "public"."items" AS "t0"');
    expect(buildDelete(ITEMS, [], '*').text).toBe('DELETE FROM "public"."items" AS "t0" RETURNING "t0".*');
    expect(buildDelete(ITEMS, [], ['id']).text).toBe('DELETE FROM "public"."items" AS "t0" RETURNING "t0"."id" AS "id"');
    expect(caught(() => buildDelete(ITEMS, [], ['"id"'])).code).toBe('COLUMN_NOT_FOUND');
  });
});

describe('buildSelect and buildCount', () => {
  it('selects everything with bound limit and offset', () => {
    expect(buildSelect(ITEMS, { filters: [], select: '*', order: [], limit: 100, offset: 0 })).toEqual({
      text: 'SELECT "t0".* FROM "public"."items" AS "t0" LIMIT $1',
      values: [100],
    });
  });

  it('puts select, where, order, limit and offset together', () => {
    const built = buildSelect(ITEMS, {
      filters: [f('price', 'gte', '10'), f('name', 'like', 'a*', true)],
      select: ['id', 'name'],
      order: [o('price', true)],
      limit: 5,
      offset: 10,
    });
    expect(built).toEqual({
      text:
        'SELECT "t0"."id" AS "id", "t0"."name" AS "name" FROM "public"."items" AS "t0" WHERE "t0"."price" >= $1 AND NOT (("t0"."name")::text LIKE $2) ' +
        'ORDER BY "t0"."price" DESC LIMIT $3 OFFSET $4',
      values: ['10', 'a%', 5, 10],
    });
    expectSafe(ITEMS, built);
  });

  it('count uses the same filters without limit', () => {
    expect(buildCount(ITEMS, [])).toEqual({ text: 'SELECT count(*) AS count FROM "public"."items" AS "t0"', values: [] });
    const built = buildCount(ITEMS, [f('id', 'in', ['1', '2']), f('name', 'is', null, true)]);
    expect(built).toEqual({
      text: 'SELECT count(*) AS count FROM "public"."items" AS "t0" WHERE "t0"."id" = ANY($1) AND NOT ("t0"."name" IS NULL)',
      values: [['1', '2']],
    });
    expectSafe(ITEMS, built);
  });

  it('hostile filter values are only ever parameters', () => {
    for (const value of HOSTILE_VALUES) {
      for (const op of ['eq', 'neq', 'gt', 'lte', 'like', 'ilike'] as const) {
        const built = buildSelect(ITEMS, { filters: [f('name', op, value)], select: '*', order: [], limit: 1, offset: 0 });
        expect(built.values[0]).toBe(value.replace(/\*/g, '%'));
        expectSafe(ITEMS, built);
      }
      const inList = buildSelect(ITEMS, { filters: [f('name', 'in', [value, 'x'])], select: '*', order: [], limit: 1, offset: 0 });
      expect(inList.values[0]).toEqual([value, 'x']);
      expectSafe(ITEMS, inList);
    }
  });

  it('hostile column names are refused wherever they appear', () => {
    const base = { filters: [] as Filter[], select: '*' as const, order: [], limit: 1, offset: 0 };
    for (const name of HOSTILE_NAMES) {
      expect(caught(() => buildSelect(ITEMS, { ...base, filters: [f(name, 'eq', '1')] })).code).toBe('COLUMN_NOT_FOUND');
      expect(caught(() => buildSelect(ITEMS, { ...base, select: [name] })).code).toBe('COLUMN_NOT_FOUND');
      expect(caught(() => buildSelect(ITEMS, { ...base, order: [o(name, false)] })).code).toBe('COLUMN_NOT_FOUND');
      expect(caught(() => buildCount(ITEMS, [f(name, 'is', null)])).code).toBe('COLUMN_NOT_FOUND');
    }
  });

  it('real hostile catalog names are quoted safely', () => {
    const built = buildSelect(WEIRD, {
      filters: [f('we"ird', 'eq', 'x'), f('name" OR 1=1 --', 'in', ['1']), f("'; DROP TABLE x; --", 'is', null)],
      select: ['ｓｅｌｅｃｔ', 'we"ird'],
      order: [o("'; DROP TABLE x; --", true)],
      limit: 3,
      offset: 0,
    });
    expect(built.text).toBe(
      'SELECT "t0"."ｓｅｌｅｃｔ" AS "ｓｅｌｅｃｔ", "t0"."we""ird" AS "we""ird" FROM "we""s"."my ""table""; --" AS "t0" ' +
        'WHERE "t0"."we""ird" = $1 AND "t0"."name"" OR 1=1 --" = ANY($2) AND ' +
        `"t0"."'; DROP TABLE x; --" IS NULL ORDER BY "t0"."'; DROP TABLE x; --" DESC LIMIT $3`,
    );
    expect(built.values).toEqual(['x', ['1'], 3]);
    expectSafe(WEIRD, built);
  });

  it('the select of one table does not accept another table\'s columns', () => {
    expect(caught(() => buildSelect(LINES, { filters: [f('id', 'eq', '1')], select: '*', order: [], limit: 1, offset: 0 })).details).toMatchObject({
      table: 'shop.order_lines',
      column: 'id',
    });
  });
});

describe('toParam', () => {
  const c = (name: string) => columnOf(ITEMS, name);

  it('null passes for every column', () => {
    for (const column of ITEMS.columns) expect(toParam(ITEMS, column, null)).toBeNull();
  });

  it('json and jsonb get JSON text, arrays included', () => {
    expect(toParam(ITEMS, c('data'), { a: [1, { b: 'c' }] })).toBe('{"a":[1,{"b":"c"}]}');
    expect(toParam(ITEMS, c('data'), [1, 2, 3])).toBe('[1,2,3]');
    expect(toParam(ITEMS, c('data'), [])).toBe('[]');
    expect(toParam(ITEMS, c('meta'), 'text')).toBe('"text"');
    expect(toParam(ITEMS, c('meta'), 42)).toBe('42');
    expect(toParam(ITEMS, c('meta'), false)).toBe('false');
    expect(toParam(ITEMS, c('data'), "'; DROP TABLE x; --")).toBe(`"'; DROP TABLE x; --"`);
  });

  it('bytea takes base64 and gives the bytes', () => {
    const hi = toParam(ITEMS, c('blob'), 'aGk=');
    expect(Buffer.isBuffer(hi)).toBe(true);
    expect((hi as Buffer).toString('utf8')).toBe('hi');
    expect((toParam(ITEMS, c('blob'), '') as Buffer).length).toBe(0);
    expect([...(toParam(ITEMS, c('blob'), 'AAEC/w==') as Buffer)]).toEqual([0, 1, 2, 255]);
    expect((toParam(ITEMS, c('blob'), 'aGVsbG8+Pz8/') as Buffer).toString()).toBe('hello>???');
  });

  it.each(['aGk', 'a===', '!!!!', 'aG k=', 'aGk=aGk', '-_-_', 'aGk=\n'])('bytea refuses the bad base64 %j as INVALID_VALUE naming the column', (value) => {
    const err = caught(() => toParam(ITEMS, c('blob'), value));
    expect(err.code).toBe('INVALID_VALUE');
    expect(err.details).toEqual({ table: 'public.items', column: 'blob', type: 'bytea' });
    expect(err.message).toContain('"blob"');
  });

  it.each([42, true, [1, 2], { a: 1 }])('bytea refuses the non-string %j', (value) => {
    expect(caught(() => toParam(ITEMS, c('blob'), value)).code).toBe('INVALID_VALUE');
  });

  it('array columns take arrays as they are', () => {
    expect(toParam(ITEMS, c('tags'), ['a', 'b'])).toEqual(['a', 'b']);
    expect(toParam(ITEMS, c('scores'), [1, 2, null])).toEqual([1, 2, null]);
    expect(toParam(ITEMS, c('tags'), [])).toEqual([]);
    expect(toParam(ITEMS, c('scores'), [[1, 2], [3, 4]])).toEqual([[1, 2], [3, 4]]);
  });

  it.each(['a', 1, true, { 0: 'a' }, '{a,b}'])('array columns refuse the non-array %j', (value) => {
    const err = caught(() => toParam(ITEMS, c('tags'), value));
    expect(err.code).toBe('INVALID_VALUE');
    expect(err.details).toEqual({ table: 'public.items', column: 'tags', type: 'text[]' });
    expect(err.message).toMatch(/an array/);
  });

  it('numeric columns take numbers and numeric strings', () => {
    for (const value of [0, -1, 1.5, 1e300, 12, '12', ' 12 ', '-1.5', '+3', '.5', '5.', '1e10', '1E-3', 'NaN', 'Infinity', '-Infinity', '123456789012345678901234567890.123']) {
      expect(toParam(ITEMS, c('price'), value)).toBe(value);
    }
    expect(toParam(ITEMS, c('qty'), '9007199254740993')).toBe('9007199254740993');
  });

  it.each(['', ' ', 'abc', '12abc', '1,5', '0x10', '1e', '--1', "1; DROP TABLE x", true, [1], { n: 1 }])(
    'numeric columns refuse %j as INVALID_VALUE naming the column',
    (value) => {
      const err = caught(() => toParam(ITEMS, c('price'), value));
      expect(err.code).toBe('INVALID_VALUE');
      expect(err.details).toEqual({ table: 'public.items', column: 'price', type: 'numeric(10,2)' });
    },
  );

  it('boolean columns take only booleans', () => {
    expect(toParam(ITEMS, c('active'), true)).toBe(true);
    expect(toParam(ITEMS, c('active'), false)).toBe(false);
    for (const value of ['true', 1, 0, 'yes', [true], {}]) {
      const err = caught(() => toParam(ITEMS, c('active'), value));
      expect(err.code).toBe('INVALID_VALUE');
      expect(err.details).toMatchObject({ column: 'active' });
    }
  });

  it('scalar columns refuse objects and arrays, and take strings and numbers as they are', () => {
    for (const name of ['name', 'created', 'uid']) {
      for (const value of [{ a: 1 }, [1], []]) {
        const err = caught(() => toParam(ITEMS, c(name), value));
        expect(err.code).toBe('INVALID_VALUE');
        expect(err.message).toMatch(/a scalar/);
        expect(err.details).toMatchObject({ column: name });
      }
    }
    expect(toParam(ITEMS, c('name'), 'x')).toBe('x');
    expect(toParam(ITEMS, c('name'), 7)).toBe(7);
    expect(toParam(ITEMS, c('created'), '2026-01-01T00:00:00Z')).toBe('2026-01-01T00:00:00Z');
    for (const value of HOSTILE_VALUES) expect(toParam(ITEMS, c('name'), value)).toBe(value);
  });
});

describe('assertRowObject', () => {
  it('takes objects with at least one key', () => {
    expect(() => assertRowObject({ a: 1 })).not.toThrow();
  });

  it.each([null, 1, 'x', [], [{ a: 1 }], {}])('refuses %j as VALIDATION_FAILED', (row) => {
    expect(caught(() => assertRowObject(row)).code).toBe('VALIDATION_FAILED');
  });

  it('names the row of a bulk body', () => {
    const err = caught(() => assertRowObject('x', 3));
    expect(err.message).toMatch(/row 3/);
    expect(err.details).toMatchObject({ issues: [{ field: 'body.3' }] });
  });
});

describe('buildInsert', () => {
  it('one row, no returning', () => {
    const built = buildInsert(ITEMS, [{ name: 'a', price: '1.50' }], { returning: null });
    expect(built).toEqual({ text: 'INSERT INTO "public"."items" AS "t0" ("name", "price") VALUES ($1, $2)', values: ['a', '1.50'] });
    expectSafe(ITEMS, built);
  });

  it('converts values for their columns', () => {
    const built = buildInsert(ITEMS, [{ data: [1, 2], blob: 'aGk=', tags: ['x'] }], { returning: '*' });
    expect(built.text).toBe('INSERT INTO "public"."items" AS "t0" ("data", "blob", "tags") VALUES ($1, $2, $3) RETURNING "t0".*');
    expect(built.values[0]).toBe('[1,2]');
    expect((built.values[1] as Buffer).toString()).toBe('hi');
    expect(built.values[2]).toEqual(['x']);
  });

  it('bulk rows with differing keys use the union of columns and DEFAULT for the missing ones', () => {
    const built = buildInsert(ITEMS, [{ name: 'a' }, { price: 2 }, { name: 'c', price: 3, id: 9 }], { returning: ['id'] });
    expect(built).toEqual({
      text:
        'INSERT INTO "public"."items" AS "t0" ("name", "price", "id") VALUES ($1, DEFAULT, DEFAULT), (DEFAULT, $2, DEFAULT), ($3, $4, $5) RETURNING "t0"."id" AS "id"',
      values: ['a', 2, 'c', 3, 9],
    });
    expectSafe(ITEMS, built);
  });

  it('an explicit null is bound, not DEFAULT', () => {
    expect(buildInsert(ITEMS, [{ name: null }, { price: 1 }], { returning: null })).toEqual({
      text: 'INSERT INTO "public"."items" AS "t0" ("name", "price") VALUES ($1, DEFAULT), (DEFAULT, $2)',
      values: [null, 1],
    });
  });

  it('on_conflict updates the other written columns from EXCLUDED', () => {
    const built = buildInsert(ITEMS, [{ id: 1, name: 'a', price: 2 }], { onConflict: ['id'], returning: '*' });
    expect(built).toEqual({
      text:
        'INSERT INTO "public"."items" AS "t0" ("id", "name", "price") VALUES ($1, $2, $3) ON CONFLICT ("id") ' +
        'DO UPDATE SET "name" = EXCLUDED."name", "price" = EXCLUDED."price" RETURNING "t0".*',
      values: [1, 'a', 2],
    });
    expectSafe(ITEMS, built);
  });

  it('on_conflict with a composite key', () => {
    const built = buildInsert(LINES, [{ order_id: 1, line: 2, sku: 'x' }], { onConflict: ['order_id', 'line'], returning: null });
    expect(built.text).toBe(
      'INSERT INTO "shop"."order_lines" AS "t0" ("order_id", "line", "sku") VALUES ($1, $2, $3) ON CONFLICT ("order_id", "line") DO UPDATE SET "sku" = EXCLUDED."sku"',
    );
  });

  it('on_conflict does nothing when only key columns are written', () => {
    expect(buildInsert(ITEMS, [{ id: 1 }], { onConflict: ['id'], returning: null })).toEqual({
      text: 'INSERT INTO "public"."items" AS "t0" ("id") VALUES ($1) ON CONFLICT ("id") DO NOTHING',
      values: [1],
    });
  });

  it('an empty on_conflict list adds no clause', () => {
    expect(buildInsert(ITEMS, [{ id: 1 }], { onConflict: [], returning: null }).text).toBe('INSERT INTO "public"."items" AS "t0" ("id") VALUES ($1)');
  });

  it('an unknown on_conflict column is COLUMN_NOT_FOUND', () => {
    const err = caught(() => buildInsert(ITEMS, [{ id: 1 }], { onConflict: ['id) DO NOTHING; --'], returning: null }));
    expect(err.code).toBe('COLUMN_NOT_FOUND');
    expect(err.details).toMatchObject({ column: 'id) DO NOTHING; --' });
  });

  it('refuses generated columns', () => {
    const err = caught(() => buildInsert(ITEMS, [{ name: 'a', total: 5 }], { returning: null }));
    expect(err.code).toBe('INVALID_VALUE');
    expect(err.details).toEqual({ column: 'total' });
    expect(err.message).toMatch(/generated/);
  });

  it('refuses unknown and hostile keys', () => {
    for (const name of HOSTILE_NAMES) {
      const err = caught(() => buildInsert(ITEMS, [{ name: 'ok' }, { [name]: 1 }], { returning: null }));
      expect(err.code).toBe('COLUMN_NOT_FOUND');
      expect(err.details).toMatchObject({ column: name });
    }
  });

  it('refuses a value of the wrong type naming the column', () => {
    const err = caught(() => buildInsert(ITEMS, [{ name: 'a' }, { active: 'yes' }], { returning: null }));
    expect(err.code).toBe('INVALID_VALUE');
    expect(err.details).toMatchObject({ column: 'active' });
  });

  it('hostile values are parameters, hostile real names are quoted', () => {
    const rows = HOSTILE_VALUES.map((v) => ({ 'we"ird': v, "'; DROP TABLE x; --": v, ｓｅｌｅｃｔ: v }));
    const built = buildInsert(WEIRD, rows, { onConflict: ['we"ird'], returning: ['name" OR 1=1 --'] });
    expect(built.text.startsWith(`INSERT INTO "we""s"."my ""table""; --" AS "t0" ("we""ird", "'; DROP TABLE x; --", "ｓｅｌｅｃｔ") VALUES ($1, $2, $3), `)).toBe(true);
    expect(built.text.endsWith(
      ` ON CONFLICT ("we""ird") DO UPDATE SET "'; DROP TABLE x; --" = EXCLUDED."'; DROP TABLE x; --", "ｓｅｌｅｃｔ" = EXCLUDED."ｓｅｌｅｃｔ" RETURNING "t0"."name"" OR 1=1 --" AS "name"" OR 1=1 --"`,
    )).toBe(true);
    expect(built.values).toHaveLength(HOSTILE_VALUES.length * 3);
    expectSafe(WEIRD, built);
  });
});

describe('buildUpdate', () => {
  it('sets bound values and continues the numbering into the filters', () => {
    const built = buildUpdate(ITEMS, { name: 'b', data: { x: 1 } }, [f('id', 'eq', '3'), f('price', 'is', null, true)], '*');
    expect(built).toEqual({
      text: 'UPDATE "public"."items" AS "t0" SET "name" = $1, "data" = $2 WHERE "t0"."id" = $3 AND NOT ("t0"."price" IS NULL) RETURNING "t0".*',
      values: ['b', '{"x":1}', '3'],
    });
    expectSafe(ITEMS, built);
  });

  it('without filters and returning', () => {
    expect(buildUpdate(ITEMS, { active: false }, [], null)).toEqual({ text: 'UPDATE "public"."items" AS "t0" SET "active" = $1', values: [false] });
  });

  it('refuses generated and unknown columns', () => {
    expect(caught(() => buildUpdate(ITEMS, { total: 1 }, [], null)).code).toBe('INVALID_VALUE');
    expect(caught(() => buildUpdate(ITEMS, { 'name" = 1 --': 1 }, [], null)).code).toBe('COLUMN_NOT_FOUND');
    expect(caught(() => buildUpdate(ITEMS, { name: 'x' }, [f('nope', 'eq', '1')], null)).code).toBe('COLUMN_NOT_FOUND');
    expect(caught(() => buildUpdate(ITEMS, { name: 'x' }, [], ['nope'])).code).toBe('COLUMN_NOT_FOUND');
  });

  it('hostile values and real hostile names', () => {
    for (const value of HOSTILE_VALUES) {
      const built = buildUpdate(WEIRD, { 'we"ird': value, ｓｅｌｅｃｔ: value }, [f('name" OR 1=1 --', 'eq', value)], ["'; DROP TABLE x; --"]);
      expect(built.text).toBe(
        `UPDATE "we""s"."my ""table""; --" AS "t0" SET "we""ird" = $1, "ｓｅｌｅｃｔ" = $2 WHERE "t0"."name"" OR 1=1 --" = $3 RETURNING "t0"."'; DROP TABLE x; --" AS "'; DROP TABLE x; --"`,
      );
      expect(built.values).toEqual([value, value, value]);
      expectSafe(WEIRD, built);
    }
  });
});

describe('buildDelete', () => {
  it('deletes with filters and returning', () => {
    const built = buildDelete(ITEMS, [f('id', 'in', ['1', '2']), f('name', 'like', '*x')], ['id', 'name']);
    expect(built).toEqual({
      text: 'DELETE FROM "public"."items" AS "t0" WHERE "t0"."id" = ANY($1) AND ("t0"."name")::text LIKE $2 RETURNING "t0"."id" AS "id", "t0"."name" AS "name"',
      values: [['1', '2'], '%x'],
    });
    expectSafe(ITEMS, built);
  });

  it('without filters (the service refuses that unless forced)', () => {
    expect(buildDelete(ITEMS, [], null)).toEqual({ text: 'DELETE FROM "public"."items" AS "t0"', values: [] });
  });

  it('hostile values are bound, hostile names refused', () => {
    for (const value of HOSTILE_VALUES) {
      const built = buildDelete(ITEMS, [f('name', 'eq', value)], '*');
      expect(built).toEqual({ text: 'DELETE FROM "public"."items" AS "t0" WHERE "t0"."name" = $1 RETURNING "t0".*', values: [value] });
    }
    for (const name of HOSTILE_NAMES) expect(caught(() => buildDelete(ITEMS, [f(name, 'eq', '1')], null)).code).toBe('COLUMN_NOT_FOUND');
  });
});

describe('primaryKeyFilters', () => {
  it('a single key is one eq filter with the whole text, commas included', () => {
    expect(primaryKeyFilters(ITEMS, '42')).toEqual([f('id', 'eq', '42', false)]);
    expect(primaryKeyFilters(ITEMS, 'a,b')).toEqual([f('id', 'eq', 'a,b', false)]);
    expect(valueOf(primaryKeyFilters(ITEMS, "1'; DROP TABLE x; --")[0] as Filter)).toBe("1'; DROP TABLE x; --");
  });

  it('a composite key splits on commas in key order', () => {
    expect(primaryKeyFilters(LINES, '7,3')).toEqual([
      f('order_id', 'eq', '7', false),
      f('line', 'eq', '3', false),
    ]);
  });

  it.each(['7', '7,3,1', ''])('the wrong number of values %j is VALIDATION_FAILED on pk', (key) => {
    const err = caught(() => primaryKeyFilters(LINES, key));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.details).toMatchObject({ issues: [{ field: 'pk' }] });
    expect(err.message).toContain('order_id, line');
  });

  it('a table without a primary key is NO_PRIMARY_KEY', () => {
    const err = caught(() => primaryKeyFilters(LOG, '1'));
    expect(err.code).toBe('NO_PRIMARY_KEY');
    expect(err.details).toEqual({ table: 'public.log' });
  });

  it('feeds buildSelect, buildUpdate and buildDelete', () => {
    expect(buildSelect(LINES, { filters: primaryKeyFilters(LINES, '7,3'), select: '*', order: [], limit: 1, offset: 0 })).toEqual({
      text: 'SELECT "t0".* FROM "shop"."order_lines" AS "t0" WHERE "t0"."order_id" = $1 AND "t0"."line" = $2 LIMIT $3',
      values: ['7', '3', 1],
    });
    expect(buildDelete(WEIRD, primaryKeyFilters(WEIRD, 'k'), null)).toEqual({
      text: 'DELETE FROM "we""s"."my ""table""; --" AS "t0" WHERE "t0"."we""ird" = $1',
      values: ['k'],
    });
  });
});

describe('fixed edge cases', () => {
  const PROTO: TableInfo = {
    schema: 'public',
    name: 'proto',
    kind: 'table',
    columns: [col('id', 'integer', 'int4', 'N'), col('constructor', 'text', 'text', 'S'), col('toString', 'text', 'text', 'S')],
    primaryKey: ['id'],
    foreignKeys: [],
    indexes: [],
  };

  it('uses DEFAULT for a missing column even when its name is an Object.prototype member', () => {
    const built = buildInsert(PROTO, [{ id: 1, constructor: 'x', toString: 'y' }, { id: 2 }], { returning: null });
    expect(built.text).toContain('($4, DEFAULT, DEFAULT)');
    expect(built.values).toEqual([1, 'x', 'y', 2]);
  });

  it('decodes base64 elements for a bytea[] column, and refuses bad ones naming the column', () => {
    const BLOBS: TableInfo = { ...PROTO, name: 'blobs', columns: [col('parts', 'bytea[]', '_bytea', 'A', { elementType: 'bytea' })] };
    const column = BLOBS.columns[0]!;
    expect(toParam(BLOBS, column, ['aGk=', null, ['AAE=']])).toEqual([Buffer.from('hi'), null, [Buffer.from([0, 1])]]);
    const err = caught(() => toParam(BLOBS, column, ['not base64!']));
    expect(err.code).toBe('INVALID_VALUE');
    expect(err.details?.column).toBe('parts');
  });

  it('drops blanks before a quoted value of an in. list, and names the column of a malformed list', () => {
    expect(parseInList('("a", "b")')).toEqual(['a', 'b']);
    const err = caught(() => parseFilter('age', 'in.1,2'));
    expect(err.message).toContain('age');
  });

  it('refuses a select or returning list that names no column', () => {
    expect(caught(() => parseSelect(',')).code).toBe('VALIDATION_FAILED');
    expect(caught(() => parseSelect(' , ', 'returning')).message).toContain('returning');
  });
});
