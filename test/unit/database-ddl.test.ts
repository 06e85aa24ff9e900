import { describe, expect, it } from 'vitest';
import {
  buildCreateTable,
  ColumnDefinitionSchema,
  CreateTableSchema,
  DEFAULT_EXPRESSIONS,
  PLAIN_IDENTIFIER,
  quoteLiteral,
  SERIAL_TYPES,
  typesToCheck,
  type CreateTableInput,
} from '../../src/database/ddl.js';
import { caught } from './fixtures/errors.js';

/**
 * CREATE TABLE cannot bind parameters, so everything in it is checked first: names are plain
 * identifiers, types match a type-name pattern, defaults are quoted literals or a known
 * expression. These tests hold the schema and the statement text to that.
 */

function parse(input: unknown): CreateTableInput {
  return CreateTableSchema.parse(input);
}

/** The issues of a refused input, as `path: message`. */
function issues(input: unknown): string[] {
  const result = CreateTableSchema.safeParse(input);
  expect(result.success).toBe(false);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}


const table = (columns: unknown[], extra: Record<string, unknown> = {}) => ({ name: 't', columns, ...extra });

describe('CreateTableSchema', () => {
  it('fills the defaults', () => {
    expect(parse(table([{ name: 'id', type: 'integer' }]))).toEqual({
      schema: 'public',
      name: 't',
      ifNotExists: false,
      columns: [{ name: 'id', type: 'integer', nullable: true, primaryKey: false, unique: false, identity: false }],
    });
  });

  it.each(['integer', 'text', 'varchar(20)', 'numeric(10,2)', 'numeric(10, 2)', 'numeric (10,2)', 'timestamp with time zone', 'timestamp(3) with time zone',
    'double precision', 'character varying(255)', 'text[]', 'integer[][]', 'varchar(20)[]', 'jsonb', 'bytea', 'uuid', 'BIGINT', 'serial', 'bit varying(8)', 'int4'])(
    'takes the type %j',
    (type) => {
      expect(parse(table([{ name: 'c', type }])).columns[0]?.type).toBe(type);
    },
  );

  it.each([
    'int; drop table x',
    'text -- x',
    'integer)',
    'integer) ; drop table x; --',
    "text default 'x'",
    'text/*',
    '"text"',
    'text,',
    '1int',
    '',
    ' integer',
    'integer ',
    'varchar(20',
    'varchar(x)',
    'numeric(1,2,3)',
    'text[1]',
    'int4range()',
    'ｔｅｘｔ',
    'public.text',
    'text\u0000',
    'text\n',
    'a'.repeat(81),
  ])('refuses the type %j', (type) => {
    expect(issues(table([{ name: 'c', type }])).some((i) => i.startsWith('columns.0.type: '))).toBe(true);
  });

  it.each([
    'a b',
    '1a',
    'a-b',
    'a"b',
    "a'b",
    'a;b',
    'a.b',
    '',
    'ｓｅｌｅｃｔ',
    'é',
    'a\u0000',
    'x'.repeat(64),
    "name\" OR 1=1 --",
  ])('refuses the identifier %j for tables, schemas, columns and keys', (name) => {
    expect(issues({ name, columns: [{ name: 'c', type: 'text' }] }).some((i) => i.startsWith('name: '))).toBe(true);
    expect(issues({ schema: name, name: 't', columns: [{ name: 'c', type: 'text' }] }).some((i) => i.startsWith('schema: '))).toBe(true);
    expect(issues(table([{ name, type: 'text' }])).some((i) => i.startsWith('columns.0.name: '))).toBe(true);
    expect(issues(table([{ name: 'c', type: 'text' }], { primaryKey: [name] })).some((i) => i.startsWith('primaryKey.0: '))).toBe(true);
  });

  it.each(['a', '_a', 'A1', 'a$b', 'CamelCase', 'x'.repeat(63)])('takes the plain identifier %j', (name) => {
    expect(PLAIN_IDENTIFIER.test(name)).toBe(true);
    expect(parse({ schema: name, name, columns: [{ name, type: 'text' }] }).name).toBe(name);
  });

  it('refuses unknown keys on the table and on columns', () => {
    expect(issues(table([{ name: 'c', type: 'text' }], { owner: 'x' })).join()).toMatch(/owner/);
    expect(issues(table([{ name: 'c', type: 'text', check: 'c > 0' }])).join()).toMatch(/check/);
  });

  it('needs at least one column', () => {
    expect(issues(table([]))).toEqual(['columns: give at least one column']);
    expect(issues({ name: 't' }).some((i) => i.startsWith('columns'))).toBe(true);
  });

  it('refuses a column named twice', () => {
    expect(issues(table([{ name: 'a', type: 'text' }, { name: 'b', type: 'text' }, { name: 'a', type: 'int' }]))).toEqual([
      'columns: column "a" is named twice',
    ]);
  });

  it('names differing in case are different columns', () => {
    expect(parse(table([{ name: 'a', type: 'text' }, { name: 'A', type: 'text' }])).columns).toHaveLength(2);
  });

  it('takes the primary key on columns or on the table, not both', () => {
    expect(parse(table([{ name: 'a', type: 'int', primaryKey: true }])).columns[0]?.primaryKey).toBe(true);
    expect(parse(table([{ name: 'a', type: 'int' }, { name: 'b', type: 'int' }], { primaryKey: ['a', 'b'] })).primaryKey).toEqual(['a', 'b']);
    expect(issues(table([{ name: 'a', type: 'int', primaryKey: true }, { name: 'b', type: 'int' }], { primaryKey: ['b'] }))).toEqual([
      'primaryKey: give primaryKey on the table or on columns, not both',
    ]);
  });

  it('a table primary key must name columns', () => {
    expect(issues(table([{ name: 'a', type: 'int' }], { primaryKey: ['a', 'b'] }))).toEqual(['primaryKey: "b" is not a column']);
  });

  it('takes literal defaults of JSON scalar types and the known expressions only', () => {
    for (const value of ['x', '', 0, -1.5, true, false, null, "'; DROP TABLE x; --"]) {
      expect(parse(table([{ name: 'c', type: 'text', default: value }])).columns[0]?.default).toBe(value);
    }
    for (const expression of DEFAULT_EXPRESSIONS) {
      expect(parse(table([{ name: 'c', type: 'timestamptz', defaultExpression: expression }])).columns[0]?.defaultExpression).toBe(expression);
    }
    for (const value of [[1], { a: 1 }]) {
      expect(issues(table([{ name: 'c', type: 'text', default: value }])).some((i) => i.startsWith('columns.0.default'))).toBe(true);
    }
    for (const expression of ['now() ; drop table x', 'NOW()', 'random()', 'pg_sleep(10)', "'x'", 'now']) {
      expect(issues(table([{ name: 'c', type: 'text', defaultExpression: expression }])).some((i) => i.startsWith('columns.0.defaultExpression'))).toBe(
        true,
      );
    }
  });

  it('refuses default and defaultExpression together', () => {
    expect(issues(table([{ name: 'c', type: 'timestamptz', default: 'x', defaultExpression: 'now()' }]))).toEqual([
      'columns.0: give default or defaultExpression, not both',
    ]);
  });

  it('refuses non-boolean flags', () => {
    for (const key of ['nullable', 'primaryKey', 'unique', 'identity']) {
      expect(issues(table([{ name: 'c', type: 'int', [key]: 'true' }])).some((i) => i.startsWith(`columns.0.${key}`))).toBe(true);
    }
    expect(issues(table([{ name: 'c', type: 'int' }], { ifNotExists: 1 })).some((i) => i.startsWith('ifNotExists'))).toBe(true);
  });

  it('ColumnDefinitionSchema is the column part', () => {
    expect(ColumnDefinitionSchema.safeParse({ name: 'c', type: 'int; drop table x' }).success).toBe(false);
    expect(ColumnDefinitionSchema.parse({ name: 'c', type: 'int' })).toMatchObject({ nullable: true, primaryKey: false });
  });
});

describe('quoteLiteral', () => {
  it('quotes strings, doubling single quotes', () => {
    expect(quoteLiteral('x')).toBe("'x'");
    expect(quoteLiteral('')).toBe("''");
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(quoteLiteral("'")).toBe("''''");
    expect(quoteLiteral("'; DROP TABLE x; --")).toBe("'''; DROP TABLE x; --'");
    expect(quoteLiteral('back\\slash')).toBe("'back\\slash'");
    expect(quoteLiteral('"')).toBe(`'"'`);
    expect(quoteLiteral('ｓｅｌｅｃｔ')).toBe("'ｓｅｌｅｃｔ'");
  });

  it('numbers and booleans become quoted text', () => {
    expect(quoteLiteral(0)).toBe("'0'");
    expect(quoteLiteral(-1.5)).toBe("'-1.5'");
    expect(quoteLiteral(1e21)).toBe("'1e+21'");
    expect(quoteLiteral(true)).toBe("'true'");
    expect(quoteLiteral(false)).toBe("'false'");
  });

  it('refuses non-finite numbers and NUL', () => {
    for (const n of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) expect(caught(() => quoteLiteral(n)).code).toBe('VALIDATION_FAILED');
    expect(caught(() => quoteLiteral('a\u0000b')).code).toBe('VALIDATION_FAILED');
  });

  it('the quoted text is always one literal', () => {
    for (const text of ["'", "''", "a'b'c", "'); DROP TABLE x; --", "\\'"]) {
      const quoted = quoteLiteral(text);
      expect(quoted).toMatch(/^'(?:[^']|'')*'$/);
      expect(quoted.slice(1, -1).replace(/''/g, "'")).toBe(text);
    }
  });
});

describe('buildCreateTable', () => {
  it('one plain column', () => {
    expect(buildCreateTable(parse(table([{ name: 'c', type: 'text' }])))).toBe('CREATE TABLE "public"."t" (\n  "c" text\n)');
  });

  it('identity, not null, unique and an inline primary key', () => {
    const def = parse({
      schema: 'app',
      name: 'users',
      ifNotExists: true,
      columns: [
        { name: 'id', type: 'bigint', identity: true, nullable: false, primaryKey: true },
        { name: 'email', type: 'varchar(200)', nullable: false, unique: true },
        { name: 'bio', type: 'text' },
      ],
    });
    expect(buildCreateTable(def)).toBe(
      'CREATE TABLE IF NOT EXISTS "app"."users" (\n' +
        '  "id" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL,\n' +
        '  "email" varchar(200) NOT NULL UNIQUE,\n' +
        '  "bio" text,\n' +
        '  PRIMARY KEY ("id")\n' +
        ')',
    );
  });

  it('a composite primary key from the table, in its order', () => {
    const def = parse(table([{ name: 'a', type: 'int' }, { name: 'b', type: 'int' }], { primaryKey: ['b', 'a'] }));
    expect(buildCreateTable(def)).toBe('CREATE TABLE "public"."t" (\n  "a" int,\n  "b" int,\n  PRIMARY KEY ("b", "a")\n)');
  });

  it('several inline primary key columns make one composite key', () => {
    const def = parse(table([{ name: 'a', type: 'int', primaryKey: true }, { name: 'b', type: 'int', primaryKey: true }]));
    expect(buildCreateTable(def)).toContain('  PRIMARY KEY ("a", "b")\n)');
  });

  it('defaults are quoted literals cast to the column type', () => {
    const def = parse(
      table([
        { name: 's', type: 'text', default: "it's" },
        { name: 'n', type: 'numeric(10,2)', default: 1.5 },
        { name: 'b', type: 'boolean', default: false },
        { name: 'z', type: 'integer', default: null },
        { name: 'j', type: 'jsonb', default: '{"a":1}' },
        { name: 'tags', type: 'text[]', default: '{}' },
      ]),
    );
    expect(buildCreateTable(def)).toBe(
      'CREATE TABLE "public"."t" (\n' +
        "  \"s\" text DEFAULT 'it''s'::text,\n" +
        "  \"n\" numeric(10,2) DEFAULT '1.5'::numeric(10,2),\n" +
        "  \"b\" boolean DEFAULT 'false'::boolean,\n" +
        '  "z" integer DEFAULT NULL,\n' +
        "  \"j\" jsonb DEFAULT '{\"a\":1}'::jsonb,\n" +
        "  \"tags\" text[] DEFAULT '{}'::text[]\n" +
        ')',
    );
  });

  it('a hostile default stays inside its literal', () => {
    const def = parse(table([{ name: 'c', type: 'text', default: "'); DROP TABLE x; --" }]));
    expect(buildCreateTable(def)).toBe(`CREATE TABLE "public"."t" (\n  "c" text DEFAULT '''); DROP TABLE x; --'::text\n)`);
  });

  it('defaultExpression is written as is (only allow-listed ones pass the schema)', () => {
    const def = parse(
      table([
        { name: 'at', type: 'timestamptz', defaultExpression: 'now()', nullable: false },
        { name: 'id', type: 'uuid', defaultExpression: 'gen_random_uuid()', unique: true },
      ]),
    );
    expect(buildCreateTable(def)).toBe(
      'CREATE TABLE "public"."t" (\n  "at" timestamptz NOT NULL DEFAULT now(),\n  "id" uuid DEFAULT gen_random_uuid() UNIQUE\n)',
    );
  });

  it('names with $ and capitals are quoted, keeping their case', () => {
    const def = parse({ schema: 'Sales', name: 'Order$2026', columns: [{ name: 'Total', type: 'money' }] });
    expect(buildCreateTable(def)).toBe('CREATE TABLE "Sales"."Order$2026" (\n  "Total" money\n)');
  });

  it('no primary key clause without a key', () => {
    expect(buildCreateTable(parse(table([{ name: 'c', type: 'text' }], { primaryKey: [] })))).not.toContain('PRIMARY KEY');
  });
});

describe('typesToCheck', () => {
  it('lists each type once and leaves out the serial pseudo-types', () => {
    const def = parse(
      table([
        { name: 'a', type: 'serial' },
        { name: 'b', type: 'BIGSERIAL' },
        { name: 'c', type: 'text' },
        { name: 'd', type: 'text' },
        { name: 'e', type: 'smallserial' },
        { name: 'f', type: 'serial4' },
        { name: 'g', type: 'serial8' },
        { name: 'h', type: 'serial2' },
        { name: 'i', type: 'varchar(20)' },
        { name: 'j', type: 'serial[]' },
      ]),
    );
    expect(typesToCheck(def)).toEqual(['text', 'varchar(20)', 'serial[]']);
  });

  it('SERIAL_TYPES is the six serial names', () => {
    expect([...SERIAL_TYPES].sort()).toEqual(['bigserial', 'serial', 'serial2', 'serial4', 'serial8', 'smallserial']);
  });
});
