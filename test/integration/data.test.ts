import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { DataService } from '../../src/database/service.js';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { createLogger } from '../../src/log/logger.js';
import { adminToken, makeHome, query, type TestHome } from './helpers.js';

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

describe('the data API over REST against a real instance', () => {
  let t: TestHome;
  let created: CreatedInstance;
  let data: DataService;
  let server: Server;
  let base: string;
  let token: string;

  async function call(method: string, path: string, body?: unknown, raw?: string): Promise<Reply> {
    const res = await fetch(`${base}/database/${created.name}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: raw ?? (body !== undefined ? JSON.stringify(body) : undefined),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  }
  const sql = (text: string, params: unknown[] = []) => query(created.connectionString, text, params);
  function expectError(reply: Reply, status: number, code: string, mentions?: string): void {
    expect(reply.status, JSON.stringify(reply.body)).toBe(status);
    expect(reply.body.error.code).toBe(code);
    if (mentions) expect(reply.body.error.message).toContain(mentions);
  }

  beforeAll(async () => {
    t = makeHome(22000, { DBAAS_BODY_LIMIT: '256kb', DBAAS_ROWS_MAX_LIMIT: '50', DBAAS_QUERY_MAX_ROWS: '100', DBAAS_POOL_MAX: '5' });
    created = await t.manager.create({ name: 'datatest', memory: '256m', cpus: 1 });
    const logger = createLogger({ consoleLevel: 'silent' });
    data = t.services.data;
    token = await adminToken(t);
    const app = createApp(t.services, logger);
    await new Promise<void>((resolve) => {
      server = app.listen(0, '127.0.0.1', () => resolve());
    });
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server?.close();
    await data?.close();
    await t.cleanup();
  });

  describe('tables', () => {
    it('creates a table from a column list and describes it from the catalog', async () => {
      const made = await call('POST', '/tables', {
        name: 'people',
        columns: [
          { name: 'id', type: 'bigint', identity: true, primaryKey: true },
          { name: 'name', type: 'text', nullable: false },
          { name: 'email', type: 'varchar(120)', unique: true },
          { name: 'age', type: 'integer' },
          { name: 'score', type: 'numeric(30,10)' },
          { name: 'big', type: 'bigint' },
          { name: 'tags', type: 'text[]' },
          { name: 'meta', type: 'jsonb' },
          { name: 'photo', type: 'bytea' },
          { name: 'parts', type: 'bytea[]' },
          { name: 'born', type: 'date' },
          { name: 'seen', type: 'timestamp' },
          { name: 'created', type: 'timestamp with time zone', defaultExpression: 'now()' },
          { name: 'status', type: 'text', default: "it's new" },
        ],
      });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      expect(made.body.primaryKey).toEqual(['id']);
      const described = await call('GET', '/tables/people');
      expect(described.status).toBe(200);
      const cols = Object.fromEntries(described.body.columns.map((c: { name: string }) => [c.name, c]));
      expect(cols.name).toMatchObject({ type: 'text', nullable: false });
      expect(cols.email).toMatchObject({ type: 'character varying(120)' });
      expect(cols.id).toMatchObject({ identity: true, nullable: false });
      expect(cols.status.default).toBe("'it''s new'::text");
      expect(cols.created.default).toBe('now()');
      expect(described.body.indexes.map((i: { unique: boolean }) => i.unique)).toEqual([true, true]);
      const owner = await sql("SELECT tableowner FROM pg_tables WHERE tablename = 'people'");
      expect(owner).toEqual([{ tableowner: 'app' }]);
    });

    it('shows foreign keys and works with schema-qualified names', async () => {
      await call('POST', '/query', { sql: 'CREATE SCHEMA billing' });
      const made = await call('POST', '/tables', {
        schema: 'billing',
        name: 'invoices',
        columns: [
          { name: 'id', type: 'integer', primaryKey: true },
          { name: 'person_id', type: 'bigint', nullable: false },
          { name: 'total', type: 'numeric(12,2)' },
        ],
      });
      expect(made.status).toBe(201);
      await call('POST', '/query', { sql: 'ALTER TABLE billing.invoices ADD CONSTRAINT invoices_person FOREIGN KEY (person_id) REFERENCES public.people (id)' });
      const described = await call('GET', '/tables/billing.invoices');
      expect(described.body.foreignKeys).toEqual([
        { name: 'invoices_person', columns: ['person_id'], references: { schema: 'public', table: 'people', columns: ['id'] }, onUpdate: 'no action', onDelete: 'no action' },
      ]);
      const list = await call('GET', '/tables');
      expect(list.body.tables.map((r: { schema: string; name: string; kind: string }) => `${r.schema}.${r.name}:${r.kind}`)).toEqual([
        'billing.invoices:table',
        'public.people:table',
      ]);
      expect((await call('GET', '/tables?schema=billing')).body.tables).toHaveLength(1);
    });

    it('refuses bad definitions, naming what is wrong', async () => {
      expectError(await call('POST', '/tables', { name: 'x"; DROP TABLE people; --', columns: [{ name: 'a', type: 'int' }] }), 422, 'VALIDATION_FAILED', 'name');
      expectError(await call('POST', '/tables', { name: 'bad', columns: [{ name: 'a', type: 'int; DROP TABLE people' }] }), 422, 'VALIDATION_FAILED', 'type');
      expectError(await call('POST', '/tables', { name: 'bad', columns: [{ name: 'a', type: 'no_such_type' }] }), 422, 'VALIDATION_FAILED', 'unknown type no_such_type');
      expectError(await call('POST', '/tables', { name: 'people', columns: [{ name: 'a', type: 'int' }] }), 400, 'SQL_ERROR', 'already exists');
      expect(await sql("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'people'")).toEqual([{ n: 1 }]);
    });
  });

  describe('rows', () => {
    it('inserts one row or many in one statement and returns them with JSON types that round-trip', async () => {
      const one = await call('POST', '/tables/people/rows', {
        name: 'Ann',
        email: 'ann@example.com',
        age: 31,
        score: '12345678901234567890.1234567891',
        big: '9007199254740993',
        tags: ['a', 'b,c', 'd"e'],
        meta: { nested: [1, { deep: true }], text: "it's" },
        photo: Buffer.from([0, 1, 2, 255]).toString('base64'),
        parts: ['aGk=', null],
        born: '1990-05-17',
        seen: '2026-11-23T10:11:12.345678',
      });
      expect(one.status, JSON.stringify(one.body)).toBe(201);
      const row = one.body.rows[0];
      expect(row).toMatchObject({
        id: 1,
        name: 'Ann',
        score: '12345678901234567890.1234567891',
        big: '9007199254740993',
        tags: ['a', 'b,c', 'd"e'],
        meta: { nested: [1, { deep: true }], text: "it's" },
        photo: 'AAEC/w==',
        parts: ['aGk=', null],
        born: '1990-05-17',
        seen: '2026-11-23T10:11:12.345678',
        status: "it's new",
      });
      expect(row.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
      const many = await call('POST', '/tables/people/rows', [
        { name: 'Bob', age: 25, email: 'bob@example.com', score: 1.5 },
        { name: 'Cid', age: 40 },
        { name: 'dora', age: null, email: 'DORA@example.com' },
        { name: 'Eve', age: 25, meta: [1, 2, 3] },
      ]);
      expect(many.status).toBe(201);
      expect(many.body.count).toBe(4);
      expect(many.body.rows.map((r: { status: string }) => r.status)).toEqual(["it's new", "it's new", "it's new", "it's new"]);
      expect(many.body.rows[3].meta).toEqual([1, 2, 3]);
      expect(many.body.rows[0].score).toBe(1.5);
    });

    it('filters with every operator, selects, orders, pages and counts', async () => {
      const names = async (qs: string) => {
        const r = await call('GET', `/tables/people/rows?select=name&order=id${qs}`);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        return r.body.rows.map((row: { name: string }) => row.name);
      };
      expect(await names('&age=eq.25')).toEqual(['Bob', 'Eve']);
      expect(await names('&age=neq.25')).toEqual(['Ann', 'Cid']);
      expect(await names('&age=gt.25')).toEqual(['Ann', 'Cid']);
      expect(await names('&age=gte.31')).toEqual(['Ann', 'Cid']);
      expect(await names('&age=lt.31')).toEqual(['Bob', 'Eve']);
      expect(await names('&age=lte.31&age=gt.25')).toEqual(['Ann']);
      expect(await names('&name=like.*o*')).toEqual(['Bob', 'dora']);
      expect(await names('&name=ilike.D%25')).toEqual(['dora']);
      expect(await names('&name=in.(Ann,Eve,"x,y")')).toEqual(['Ann', 'Eve']);
      expect(await names('&age=is.null')).toEqual(['dora']);
      expect(await names('&age=not.is.null&age=not.eq.25')).toEqual(['Ann', 'Cid']);
      expect(await names('&email=ilike.*EXAMPLE.COM&name=not.in.(Ann)')).toEqual(['Bob', 'dora']);
      // The grammar of the PostgREST endpoint, through the one builder both use: or/and trees, more operators.
      expect(await names('&or=(age.gt.30,name.eq.Eve)')).toEqual(['Ann', 'Cid', 'Eve']);
      expect(await names('&not.and=(age.gte.25,age.lte.31)')).toEqual(['Cid']);
      expect(await names('&name=match.^[A-C]')).toEqual(['Ann', 'Bob', 'Cid']);
      expect(await names('&name=like(any).{A*,d*}')).toEqual(['Ann', 'dora']);
      const ordered = await call('GET', '/tables/people/rows?select=name,age&order=age.desc.nullslast,name.asc&limit=3&offset=1&count=exact');
      expect(ordered.body.rows).toEqual([
        { name: 'Ann', age: 31 },
        { name: 'Bob', age: 25 },
        { name: 'Eve', age: 25 },
      ]);
      expect(ordered.body.count).toBe(5);
      expect(ordered.headers.get('content-range')).toBe('1-3/5');
    });

    it('caps limit at the server maximum', async () => {
      await call('POST', '/query', { sql: 'CREATE TABLE many (n int PRIMARY KEY)' });
      await call('POST', '/query', { sql: 'INSERT INTO many SELECT generate_series(1, 120)' });
      const page = await call('GET', '/tables/many/rows?limit=1000&order=n');
      expect(page.body.rows).toHaveLength(50);
      expect(page.body.limit).toBe(50);
      expect((await call('GET', '/tables/many/rows')).body.rows).toHaveLength(50);
    });

    it('upserts with on_conflict, and returns nothing with returning=none', async () => {
      const up = await call('POST', '/tables/people/rows?on_conflict=email&returning=name,age', [
        { email: 'bob@example.com', name: 'Bob', age: 26 },
        { email: 'fay@example.com', name: 'Fay', age: 50 },
      ]);
      expect(up.status).toBe(201);
      expect(up.body.rows).toEqual([
        { name: 'Bob', age: 26 },
        { name: 'Fay', age: 50 },
      ]);
      const quiet = await call('POST', '/tables/people/rows?returning=none', { name: 'Gus' });
      expect(quiet.body).toEqual({ count: 1 });
    });

    it('updates and deletes by filter, refusing to touch every row unless forced', async () => {
      expectError(await call('PATCH', '/tables/people/rows', { age: 1 }), 400, 'FILTER_REQUIRED');
      expectError(await call('DELETE', '/tables/people/rows'), 400, 'FILTER_REQUIRED');
      const patched = await call('PATCH', '/tables/people/rows?name=eq.Gus&returning=name,age', { age: 60 });
      expect(patched.body).toEqual({ count: 1, rows: [{ name: 'Gus', age: 60 }] });
      const deleted = await call('DELETE', '/tables/people/rows?name=in.(Gus,Fay)&returning=name');
      expect(deleted.body.rows.map((r: { name: string }) => r.name).sort()).toEqual(['Fay', 'Gus']);
      const forced = await call('PATCH', '/tables/many/rows?force=true&returning=none', { n: -1 });
      expectError(forced, 409, 'UNIQUE_VIOLATION');
      const wiped = await call('DELETE', '/tables/many/rows?force=true&returning=none');
      expect(wiped.body).toEqual({ count: 120 });
    });

    it('reads, updates and deletes one row by primary key, composite keys too', async () => {
      expect((await call('GET', '/tables/people/rows/1?select=id,name')).body).toEqual({ id: 1, name: 'Ann' });
      expect((await call('PATCH', '/tables/people/rows/1', { age: 32 })).body.age).toBe(32);
      expectError(await call('GET', '/tables/people/rows/999'), 404, 'ROW_NOT_FOUND');
      await call('POST', '/query', { sql: 'CREATE TABLE pairs (a int, b text, v text, PRIMARY KEY (a, b))' });
      await call('POST', '/tables/pairs/rows', [{ a: 1, b: 'x', v: 'one-x' }, { a: 1, b: 'y', v: 'one-y' }]);
      expect((await call('GET', '/tables/pairs/rows/1,y')).body).toEqual({ a: 1, b: 'y', v: 'one-y' });
      expect((await call('DELETE', '/tables/pairs/rows/1,x')).body).toEqual({ a: 1, b: 'x', v: 'one-x' });
      expectError(await call('GET', '/tables/pairs/rows/1'), 422, 'VALIDATION_FAILED', 'primary key');
      await call('POST', '/query', { sql: 'CREATE TABLE keyless (v text)' });
      expectError(await call('GET', '/tables/keyless/rows/1'), 422, 'NO_PRIMARY_KEY');
    });
  });

  describe('bad input', () => {
    it('answers an unknown table with 404 and an unknown column with 422, naming them', async () => {
      expectError(await call('GET', '/tables/nope/rows'), 404, 'TABLE_NOT_FOUND', 'nope');
      expectError(await call('GET', '/tables/people/rows?shoe_size=eq.4'), 422, 'COLUMN_NOT_FOUND', 'shoe_size');
      expectError(await call('GET', '/tables/people/rows?select=name,shoe_size'), 422, 'COLUMN_NOT_FOUND', 'shoe_size');
      expectError(await call('GET', '/tables/people/rows?order=shoe_size.desc'), 422, 'COLUMN_NOT_FOUND', 'shoe_size');
      expectError(await call('POST', '/tables/people/rows', { name: 'x', shoe_size: 4 }), 422, 'COLUMN_NOT_FOUND', 'shoe_size');
      expectError(await call('GET', '/tables/people/rows?age=gt5'), 422, 'VALIDATION_FAILED', 'age');
    });

    it('never executes SQL carried in table or column names', async () => {
      for (const name of ['people;DROP TABLE people--', 'people"', '"people"', "people' OR '1'='1", 'ｐｅｏｐｌｅ', 'people/**/']) {
        expectError(await call('GET', `/tables/${encodeURIComponent(name)}/rows`), 404, 'TABLE_NOT_FOUND');
      }
      for (const column of ['name;DROP TABLE people', 'name"', 'name--', 'ｎａｍｅ', '(select 1)']) {
        expectError(await call('GET', `/tables/people/rows?select=${encodeURIComponent(column)}`), 422, 'COLUMN_NOT_FOUND');
        expectError(await call('GET', `/tables/people/rows?${encodeURIComponent(column)}=eq.1`), 422, 'COLUMN_NOT_FOUND');
      }
      // A real column with a hostile name is quoted, so it is just a column.
      await call('POST', '/query', { sql: 'CREATE TABLE odd ("we""ird; DROP TABLE people; --" text)' });
      const odd = await call('POST', '/tables/odd/rows', { 'we"ird; DROP TABLE people; --': 'fine' });
      expect(odd.status, JSON.stringify(odd.body)).toBe(201);
      expect(odd.body.rows).toEqual([{ 'we"ird; DROP TABLE people; --': 'fine' }]);
      expect(await sql("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'people'")).toEqual([{ n: 1 }]);
    });

    it('binds SQL in filter values as values', async () => {
      const before = await sql('SELECT count(*)::int AS n FROM people');
      for (const value of ["'; DROP TABLE people; --", "x' OR '1'='1", '1 OR 1=1', '$1', "\\'; --"]) {
        const r = await call('GET', `/tables/people/rows?name=eq.${encodeURIComponent(value)}`);
        expect(r.status).toBe(200);
        expect(r.body.rows).toEqual([]);
      }
      const injectedIn = await call('GET', `/tables/people/rows?name=in.(${encodeURIComponent('"Ann\') OR (\'1\'=\'1"')})`);
      expect(injectedIn.body.rows).toEqual([]);
      const stored = await call('POST', '/tables/people/rows?returning=name', { name: "Robert'); DROP TABLE people;--" });
      expect(stored.body.rows).toEqual([{ name: "Robert'); DROP TABLE people;--" }]);
      expect(await sql('SELECT count(*)::int AS n FROM people')).toEqual([{ n: before[0]!.n + 1 }]);
    });

    it('answers malformed JSON 400, wrong types 422 with the column, a huge body 413', async () => {
      expectError(await call('POST', '/tables/people/rows', undefined, '{"name": "x",'), 400, 'MALFORMED_REQUEST');
      const wrong = await call('POST', '/tables/people/rows', { name: 'x', age: 'forty' });
      expectError(wrong, 422, 'INVALID_VALUE', 'age');
      expect(wrong.body.error.details.column).toBe('age');
      const badDate = await call('POST', '/tables/people/rows', { name: 'x', born: 'yesterday-ish' });
      expectError(badDate, 422, 'INVALID_VALUE');
      expect(badDate.body.error.details.sqlstate).toMatch(/^22/);
      const missing = await call('POST', '/tables/people/rows', { age: 3 });
      expectError(missing, 422, 'INVALID_VALUE');
      expect(missing.body.error.details).toMatchObject({ sqlstate: '23502', column: 'name' });
      expectError(await call('POST', '/tables/people/rows', { name: 'x', photo: 'not base64!' }), 422, 'INVALID_VALUE', 'photo');
      const huge = await call('POST', '/tables/people/rows', { name: 'x'.repeat(300 * 1024) });
      expectError(huge, 413, 'PAYLOAD_TOO_LARGE');
    });

    it('maps constraint violations to 409', async () => {
      expectError(await call('POST', '/tables/people/rows', { name: 'Twin', email: 'ann@example.com' }), 409, 'UNIQUE_VIOLATION');
      const fk = await call('POST', '/tables/billing.invoices/rows', { id: 1, person_id: 12345, total: 10 });
      expectError(fk, 409, 'FOREIGN_KEY_VIOLATION');
      expect(fk.body.error.details).toMatchObject({ sqlstate: '23503', constraint: 'invoices_person' });
    });

    it('cancels a statement past its timeout (504) and the pool stays healthy', async () => {
      const slow = await call('POST', '/query', { sql: 'SELECT pg_sleep(5)', timeoutMs: 300 });
      expectError(slow, 504, 'STATEMENT_TIMEOUT');
      expect(slow.body.error.details.sqlstate).toBe('57014');
      const after = await Promise.all(Array.from({ length: 10 }, () => call('GET', '/tables/people/rows?select=id&limit=1')));
      expect(after.map((r) => r.status)).toEqual(Array(10).fill(200));
      const pool = Object.values(data.pools.stats())[0]!;
      expect(pool.total).toBeLessThanOrEqual(5);
      expect(pool.waiting).toBe(0);
    });

    it('serves 200 concurrent requests to one instance with a bounded pool', async () => {
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          i % 4 === 0
            ? call('POST', '/tables/pairs/rows?returning=none', { a: 1000 + i, b: 'c', v: `v${i}` })
            : call('GET', `/tables/people/rows?select=name&age=gte.${i % 40}`),
        ),
      );
      expect(replies.filter((r) => r.status !== 200 && r.status !== 201).map((r) => r.body)).toEqual([]);
      const pool = Object.values(data.pools.stats())[0]!;
      expect(pool.total).toBeLessThanOrEqual(5);
      const connections = await sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'dbaas-api'");
      expect(connections[0]!.n).toBeLessThanOrEqual(5);
    });
  });

  describe('SQL and transactions', () => {
    it('runs one statement with bound parameters and reports fields and types', async () => {
      const r = await call('POST', '/query', { sql: 'SELECT $1::int + 1 AS n, $2::text AS t, now() AS at', params: [41, "it's"] });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ command: 'SELECT', rowCount: 1, truncated: false });
      expect(r.body.rows[0]).toMatchObject({ n: 42, t: "it's" });
      expect(r.body.fields).toEqual([
        { name: 'n', type: 'integer' },
        { name: 't', type: 'text' },
        { name: 'at', type: 'timestamp with time zone' },
      ]);
      const write = await call('POST', '/query', { sql: 'INSERT INTO keyless VALUES ($1), ($2)', params: ['a', 'b'] });
      expect(write.body).toMatchObject({ command: 'INSERT', rowCount: 2, rows: [] });
    });

    it('caps the rows of a result, refuses writes in read-only mode and several statements at once', async () => {
      const big = await call('POST', '/query', { sql: 'SELECT generate_series(1, 500) AS n' });
      expect(big.body.rows).toHaveLength(100);
      expect(big.body.truncated).toBe(true);
      expectError(await call('POST', '/query', { sql: 'INSERT INTO keyless VALUES ($1)', params: ['c'], readOnly: true }), 403, 'PERMISSION_DENIED');
      const multi = await call('POST', '/query', { sql: 'SELECT 1; DROP TABLE people' });
      // Refused by the parser before anything ran (issue 7): the table is still there.
      expectError(multi, 422, 'STATEMENT_NOT_ALLOWED', '2 statements');
      expect(await sql("SELECT to_regclass('people') IS NOT NULL AS present")).toEqual([{ present: true }]);
      expectError(await call('POST', '/query', { sql: 'SELEC 1' }), 400, 'SQL_ERROR', 'syntax error');
      expectError(await call('POST', '/query', { sql: 'SELECT * FROM nowhere' }), 404, 'TABLE_NOT_FOUND');
      expectError(await call('POST', '/query', {}), 422, 'VALIDATION_FAILED', 'sql');
      expect(await sql("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'people'")).toEqual([{ n: 1 }]);
    });

    it('returns connections to the pool as they were: SQL cannot leak settings into later requests', async () => {
      const leaks = [
        'SET default_transaction_read_only = on',
        "SELECT set_config('statement_timeout', '1', false)",
        'BEGIN',
        'CREATE TEMP TABLE scratch (x int)',
      ];
      for (let round = 0; round < 3; round++) {
        await Promise.all(leaks.map((text) => call('POST', '/query', { sql: text })));
      }
      const writes = await Promise.all(
        Array.from({ length: 10 }, (_, i) => call('POST', '/tables/keyless/rows?returning=none', { v: `after-leak-${i}` })),
      );
      expect(writes.map((w) => w.status)).toEqual(Array(10).fill(201));
      const slowish = await Promise.all(Array.from({ length: 5 }, () => call('POST', '/query', { sql: 'SELECT pg_sleep(0.05)' })));
      expect(slowish.map((r) => r.status)).toEqual(Array(5).fill(200));
      const temp = await Promise.all(Array.from({ length: 5 }, () => call('POST', '/query', { sql: 'SELECT * FROM scratch' })));
      expect(temp.map((r) => r.body.error?.code)).toEqual(Array(5).fill('TABLE_NOT_FOUND'));
    });

    it('gives a read-only transaction read-only mode whatever the connection did before', async () => {
      // Writes first, so pooled connections are in read-write mode; then a read-only transaction.
      await Promise.all(Array.from({ length: 5 }, (_, i) => call('POST', '/tables/keyless/rows?returning=none', { v: `rw-${i}` })));
      const refused = await call('POST', '/transaction', { readOnly: true, statements: [{ sql: "INSERT INTO keyless VALUES ('ro')" }] });
      expectError(refused, 403, 'PERMISSION_DENIED');
      // Reads first, then a write transaction on the same connections.
      await Promise.all(Array.from({ length: 5 }, () => call('GET', '/tables/keyless/rows?limit=1')));
      const allowed = await call('POST', '/transaction', { statements: [{ sql: "INSERT INTO keyless VALUES ('rw-tx')" }] });
      expect(allowed.status).toBe(200);
    });

    it('commits a transaction together, or nothing of it', async () => {
      const ok = await call('POST', '/transaction', {
        statements: [
          { sql: 'INSERT INTO keyless VALUES ($1)', params: ['tx1'] },
          { sql: 'UPDATE keyless SET v = v || $1 WHERE v = $2', params: ['!', 'tx1'] },
          { sql: 'SELECT v FROM keyless WHERE v LIKE $1', params: ['tx%'] },
        ],
      });
      expect(ok.status).toBe(200);
      expect(ok.body.results.map((r: { command: string }) => r.command)).toEqual(['INSERT', 'UPDATE', 'SELECT']);
      expect(ok.body.results[2].rows).toEqual([{ v: 'tx1!' }]);
      const failed = await call('POST', '/transaction', {
        statements: [
          { sql: 'INSERT INTO keyless VALUES ($1)', params: ['lost'] },
          { sql: 'INSERT INTO people (name, email) VALUES ($1, $2)', params: ['dup', 'ann@example.com'] },
        ],
      });
      expectError(failed, 409, 'UNIQUE_VIOLATION', 'statement 2');
      expect(failed.body.error.details.statementIndex).toBe(1);
      expect(await sql("SELECT count(*)::int AS n FROM keyless WHERE v = 'lost'")).toEqual([{ n: 0 }]);
    });
  });

  describe('instance state', () => {
    it('answers 503 INSTANCE_NOT_RUNNING while stopped, and works again after start', async () => {
      await t.manager.stop(created.id);
      expectError(await call('GET', '/tables/people/rows'), 503, 'INSTANCE_NOT_RUNNING');
      expect(data.pools.stats()).toEqual({});
      await t.manager.start(created.id);
      const back = await call('GET', '/tables/people/rows?select=name&name=eq.Ann');
      expect(back.body.rows).toEqual([{ name: 'Ann' }]);
    });

    it('drops a table only with confirm', async () => {
      expectError(await call('DELETE', '/tables/pairs'), 400, 'CONFIRMATION_REQUIRED');
      expect((await call('DELETE', '/tables/pairs?confirm=true')).body).toEqual({ dropped: 'public.pairs' });
      expectError(await call('GET', '/tables/pairs'), 404, 'TABLE_NOT_FOUND');
    });
  });
});
