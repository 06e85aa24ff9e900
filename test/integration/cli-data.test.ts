import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import type { InstanceView } from '../../src/instances/schema.js';
import { cliTarget, makeHome, query, type TestHome } from './helpers.js';

const BIN = join(PROJECT_ROOT, 'bin', 'dbaas');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** RFC 4180: quoted fields may hold commas, doubled quotes and line breaks; records end with CRLF. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      record.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else field += ch;
  }
  if (field !== '' || record.length) throw new Error(`CSV does not end with CRLF: ${JSON.stringify(text.slice(-40))}`);
  return records;
}

/** On the host, and as a remote client of `dbaas serve` over TLS: the same commands, outputs and exit codes. */
describe.each(['local', 'remote'] as const)('the data CLI: tables, rows, query, transaction (%s)', (mode) => {
  let t: TestHome;
  let url: string;
  let env: NodeJS.ProcessEnv;
  let stopServer = async () => undefined as void;

  /** Runs `dbaas ...args` with the test home; stdin is a pipe (not a terminal), fed `input`. */
  function dbaas(args: string[], input = ''): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
      child.stdin.end(input);
    });
  }
  const run = (...args: string[]) => dbaas(args);
  const json = (r: Run) => {
    try {
      return JSON.parse(r.stdout);
    } catch {
      throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
    }
  };
  const ok = (r: Run) => {
    if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}${r.stdout}`);
    return r;
  };
  const file = (name: string, content: unknown) => {
    const path = join(t.home, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };

  beforeAll(async () => {
    t = makeHome(mode === 'local' ? 22100 : 23550);
    const created: InstanceView = await t.manager.create({ name: 'clidata', memory: '256m', cpus: 0.5 });
    url = (await t.manager.connection('clidata', { showPassword: true })).connectionString;
    expect(created.status).toBe('running');
    ({ env, stop: stopServer } = await cliTarget(mode, t));
  });
  afterAll(async () => {
    await stopServer();
    await t?.cleanup();
  });

  it('creates tables from --column flags and from a --file definition (path and stdin)', async () => {
    const orders = json(
      ok(await run('tables', 'create', 'clidata', 'orders', '--column', 'id:bigint:pk:identity', '--column', 'note:text:notnull',
        '--column', 'qty:integer', '--column', 'tags:jsonb', '--column', 'code:varchar(10):unique', '--json')),
    );
    expect(orders).toMatchObject({ schema: 'public', name: 'orders', kind: 'table', primaryKey: ['id'] });
    expect(orders.columns.map((c: { name: string }) => c.name)).toEqual(['id', 'note', 'qty', 'tags', 'code']);
    expect(orders.columns[0]).toMatchObject({ type: 'bigint', identity: true, nullable: false });
    expect(orders.columns[1]).toMatchObject({ type: 'text', nullable: false });
    expect(orders.indexes.some((i: { unique: boolean; primary: boolean }) => i.unique && !i.primary)).toBe(true);

    const def = {
      name: 'items',
      columns: [
        { name: 'order_id', type: 'bigint', nullable: false },
        { name: 'line', type: 'integer', nullable: false },
        { name: 'sku', type: 'text', default: 'none' },
        { name: 'added', type: 'timestamptz', defaultExpression: 'now()' },
      ],
      primaryKey: ['order_id', 'line'],
    };
    const items = ok(await run('tables', 'create', 'clidata', '--file', file('items.json', def)));
    expect(items.stderr).toContain('created public.items');
    expect(items.stdout).toMatch(/primary key\s+order_id, line/);

    const viaStdin = ok(await dbaas(['tables', 'create', 'clidata', 'notes', '--file', '-', '--json'], JSON.stringify({ columns: [{ name: 'body', type: 'text' }] })));
    expect(json(viaStdin)).toMatchObject({ name: 'notes', primaryKey: [] });

    // Bad definitions are usage errors (2) naming the problem; an existing table is an SQL failure (1).
    const badType = await run('tables', 'create', 'clidata', 'x', '--column', 'a:no_such_type');
    expect(badType.code).toBe(2);
    expect(badType.stderr).toMatch(/unknown type no_such_type \[VALIDATION_FAILED\]/);
    const badName = await run('tables', 'create', 'clidata', 'x;drop', '--column', 'a:int');
    expect(badName.code).toBe(2);
    expect(badName.stderr).toMatch(/name: a table name must be a plain identifier/);
    expect((await run('tables', 'create', 'clidata', 'x', '--column', 'a:int:primary')).code).toBe(2);
    expect((await run('tables', 'create', 'clidata', 'x')).code).toBe(2);
    const twice = await run('tables', 'create', 'clidata', 'notes', '--column', 'body:text');
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('already exists');
    expect(ok(await run('tables', 'create', 'clidata', 'notes', '--column', 'body:text', '--if-not-exists')).code).toBe(0);
  });

  it('lists tables with the default form and describes one', async () => {
    const human = ok(await run('tables', 'clidata'));
    expect(human.stdout).toMatch(/SCHEMA\s+│\s+NAME\s+│\s+KIND\s+│\s+EST\. ROWS\s+│\s+SIZE/);
    expect(human.stdout).toMatch(/public\s+│\s+orders\s+│\s+table/);
    const listed = json(ok(await run('tables', 'clidata', '--schema', 'public', '--json')));
    expect(listed.tables.map((x: { name: string }) => x.name)).toEqual(['items', 'notes', 'orders']);
    expect(listed.tables[0]).toMatchObject({ schema: 'public', kind: 'table' });
    expect(typeof listed.tables[0].sizeBytes).toBe('number');
    expect(json(ok(await run('tables', 'list', 'clidata', '--schema', 'nowhere', '--json'))).tables).toEqual([]);
    const csv = parseCsv(ok(await run('tables', 'list', 'clidata', '--csv')).stdout);
    expect(csv[0]).toEqual(['schema', 'name', 'kind', 'estimated_rows', 'size_bytes']);
    expect(csv.slice(1).map((r) => r[1])).toEqual(['items', 'notes', 'orders']);

    const described = ok(await run('tables', 'describe', 'clidata', 'public.orders'));
    expect(described.stdout).toMatch(/table\s+public\.orders \(table\)/);
    expect(described.stdout).toMatch(/id\s+│\s+bigint\s+│\s+no\s+│\s+identity\s+│\s+pk/);
    expect(described.stdout).toContain('orders_pkey');
    const items = json(ok(await run('tables', 'describe', 'clidata', 'items', '--json')));
    expect(items.primaryKey).toEqual(['order_id', 'line']);
    expect(items.columns.find((c: { name: string }) => c.name === 'sku').default).toMatch(/'none'/);
  });

  it('inserts one object, an array, from @file and from @- (stdin)', async () => {
    const one = ok(await run('rows', 'insert', 'clidata', 'orders', '--data', '{"note":"first","qty":1,"tags":{"a":[1,2]}}'));
    expect(one.stderr.trim()).toBe('INSERT 1');
    expect(one.stdout).toMatch(/1\s+│\s+first\s+│\s+1\s+│\s+\{"a":\[1,2\]\}\s+│\s+NULL/);

    const many = json(ok(await run('rows', 'insert', 'clidata', 'orders', '--json', '--returning', 'id,note',
      '--data', '[{"note":"second","qty":2},{"note":"third","qty":3,"code":"C3"}]')));
    expect(many).toEqual({ count: 2, rows: [{ id: 2, note: 'second' }, { id: 3, note: 'third' }] });

    const rows = [4, 5, 6, 7].map((n) => ({ note: `n${n}`, qty: n * 10, tags: [n] }));
    const fromFile = json(ok(await run('rows', 'insert', 'clidata', 'orders', '--data', `@${file('rows.json', rows)}`, '--returning', 'none', '--json')));
    expect(fromFile).toEqual({ count: 4 });
    const fromStdin = ok(await dbaas(['rows', 'insert', 'clidata', 'items', '--data', '@-', '--returning', 'none'],
      JSON.stringify([{ order_id: 1, line: 1, sku: 'A' }, { order_id: 1, line: 2 }, { order_id: 2, line: 1, sku: 'B' }])));
    expect(fromStdin.stdout).toBe('');
    expect(fromStdin.stderr.trim()).toBe('INSERT 3');

    // Upsert on the unique column, then the table holds what the database says.
    const upsert = json(ok(await run('rows', 'insert', 'clidata', 'orders', '--data', '{"code":"C3","note":"third, again"}', '--on-conflict', 'code', '--json')));
    expect(upsert.rows[0]).toMatchObject({ id: 3, note: 'third, again', qty: 3 });
    expect(await query(url, 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 7 }]);

    const dup = await run('rows', 'insert', 'clidata', 'orders', '--data', '{"id":1,"note":"dup"}');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('[UNIQUE_VIOLATION]');
    const notJson = await run('rows', 'insert', 'clidata', 'orders', '--data', '{note: x}');
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain('[MALFORMED_REQUEST]');
    expect((await run('rows', 'insert', 'clidata', 'orders', '--data', '@/no/such/file.json')).code).toBe(2);
    const wrongType = await run('rows', 'insert', 'clidata', 'orders', '--data', '{"note":"x","qty":"many"}');
    expect(wrongType.code).toBe(2);
    expect(wrongType.stderr).toContain('column "qty" (integer) takes a number, got "many" [INVALID_VALUE]');
  });

  it('lists rows with --where, --order, --limit, --offset, --select and --count', async () => {
    const page = json(ok(await run('rows', 'list', 'clidata', 'orders', '--where', 'qty=gte.3', '--where', 'note=like.n*',
      '--order', 'qty.desc', '--limit', '2', '--select', 'id,qty', '--count', '--json')));
    expect(page).toEqual({ rows: [{ id: 7, qty: 70 }, { id: 6, qty: 60 }], count: 4, limit: 2, offset: 0 });
    const next = json(ok(await run('rows', 'ls', 'clidata', 'orders', '-w', 'qty=gte.3', '-w', 'note=like.n*', '-o', 'qty.desc', '-l', '2', '--offset', '2', '-s', 'id', '--json')));
    expect(next.rows).toEqual([{ id: 5 }, { id: 4 }]);
    const inList = json(ok(await run('rows', 'list', 'clidata', 'orders', '--where', 'id=in.(1,3)', '--order', 'id', '--select', 'note', '--json')));
    expect(inList.rows).toEqual([{ note: 'first' }, { note: 'third, again' }]);
    const isNull = json(ok(await run('rows', 'list', 'clidata', 'orders', '--where', 'tags=is.null', '--where', 'qty=not.eq.3', '--select', 'id', '--order', 'id', '--json')));
    expect(isNull.rows).toEqual([{ id: 2 }]);
    // A value with '=' in it: only the first '=' splits column from filter.
    expect(json(ok(await run('rows', 'list', 'clidata', 'orders', '--where', 'note=eq.a=b', '--json'))).rows).toEqual([]);

    const human = ok(await run('rows', 'list', 'clidata', 'orders', '--where', 'id=lte.2', '--order', 'id', '--count'));
    expect(human.stdout).toMatch(/id\s+│\s+note\s+│\s+qty\s+│\s+tags\s+│\s+code/);
    expect(human.stdout).toMatch(/2\s+│\s+second\s+│\s+2\s+│\s+NULL\s+│\s+NULL/);
    expect(human.stderr.trim()).toBe('SELECT 2 of 2');
    expect(ok(await run('rows', 'list', 'clidata', 'orders', '--limit', '3')).stderr).toMatch(/SELECT 3; more may follow \(--offset 3\)/);
  });

  it('pages by keyset with --after, printing the cursor of the next page', async () => {
    const first = ok(await run('rows', 'list', 'clidata', 'orders', '--select', 'id', '--order', 'id.desc', '--limit', '3', '--after', ''));
    const cursor = /next page: --after (\S+)/.exec(first.stderr)?.[1];
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    const second = json(ok(await run('rows', 'list', 'clidata', 'orders', '--select', 'id', '--order', 'id.desc', '--limit', '3', '--after', cursor as string, '--json')));
    const all = json(ok(await run('rows', 'list', 'clidata', 'orders', '--select', 'id', '--order', 'id.desc', '--json')));
    // qty may be NULL: a keyset order refuses it, naming it (exit 2).
    expect((await run('rows', 'list', 'clidata', 'orders', '--order', 'qty', '--after', '')).stderr).toContain('"qty" may be NULL');
    expect(second.rows).toEqual(all.rows.slice(3, 6));
    expect(second.next).toEqual(expect.any(String));
  });

  it('prints the TypeScript types of the instance for supabase-js', async () => {
    const types = ok(await run('types', 'clidata'));
    expect(types.stdout).toContain('export type Database = {');
    expect(types.stdout).toMatch(/orders: \{\n\s+Row: \{\n\s+id: number/);
    expect((await run('types', 'clidata', '--schema', 'pg_catalog')).code).toBe(2);
  });

  it('gets, updates and deletes by --key (composite too) and by --where', async () => {
    expect(json(ok(await run('rows', 'get', 'clidata', 'orders', '--key', '2', '--json')))).toMatchObject({ id: 2, note: 'second', qty: 2 });
    expect(json(ok(await run('rows', 'get', 'clidata', 'items', '-k', '1,2', '--select', 'sku', '--json')))).toEqual({ sku: 'none' });
    expect(json(ok(await run('rows', 'get', 'clidata', 'orders', '--where', 'code=eq.C3', '--select', 'id', '--json')))).toEqual({ id: 3 });
    const missing = await run('rows', 'get', 'clidata', 'orders', '--key', '999');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('[ROW_NOT_FOUND]');
    expect((await run('rows', 'get', 'clidata', 'orders', '--where', 'id=gt.999')).code).toBe(1);
    expect((await run('rows', 'get', 'clidata', 'orders', '--where', 'id=gt.1')).code).toBe(2); // more than one row
    expect((await run('rows', 'get', 'clidata', 'orders')).code).toBe(2);
    expect((await run('rows', 'get', 'clidata', 'orders', '--key', '1', '--where', 'id=eq.1')).code).toBe(2);
    expect((await run('rows', 'get', 'clidata', 'items', '--key', '1')).code).toBe(2); // a composite key needs both values
    expect((await run('rows', 'get', 'clidata', 'notes', '--key', '1')).stderr).toContain('[NO_PRIMARY_KEY]');

    const byKey = ok(await run('rows', 'update', 'clidata', 'orders', '--key', '2', '--data', '{"qty":22}'));
    expect(byKey.stderr.trim()).toBe('UPDATE 1');
    expect(byKey.stdout).toMatch(/2\s+│\s+second\s+│\s+22/);
    const byWhere = json(ok(await run('rows', 'update', 'clidata', 'orders', '--where', 'qty=gte.40', '--data', '{"note":"big"}', '--returning', 'id', '--json')));
    expect(byWhere.count).toBe(4);
    expect(byWhere.rows.map((r: { id: number }) => r.id).sort()).toEqual([4, 5, 6, 7]);
    const composite = json(ok(await run('rows', 'update', 'clidata', 'items', '--key', '1,2', '--data', '{"sku":"Z"}', '--json')));
    expect(composite).toMatchObject({ order_id: 1, line: 2, sku: 'Z' });
    expect(json(ok(await run('rows', 'update', 'clidata', 'orders', '--key', '1', '--data', '{"qty":11}', '--returning', 'none', '--json')))).toEqual({ count: 1 });
    expect((await run('rows', 'update', 'clidata', 'orders', '--key', '999', '--data', '{"qty":1}')).code).toBe(1);

    const delKey = json(ok(await run('rows', 'delete', 'clidata', 'orders', '--key', '7', '--json')));
    expect(delKey).toMatchObject({ id: 7, note: 'big', qty: 70 });
    const delWhere = ok(await run('rows', 'rm', 'clidata', 'orders', '--where', 'note=eq.big', '--where', 'qty=lt.60', '--returning', 'id'));
    expect(delWhere.stderr.trim()).toBe('DELETE 2');
    expect(await query(url, 'SELECT id FROM orders ORDER BY id')).toEqual([{ id: '1' }, { id: '2' }, { id: '3' }, { id: '6' }]);
  });

  it('refuses update and delete without a filter (exit 2) unless --force', async () => {
    const update = await run('rows', 'update', 'clidata', 'items', '--data', '{"sku":"all"}');
    expect(update.code).toBe(2);
    expect(update.stderr).toContain('[FILTER_REQUIRED]');
    const del = await run('rows', 'delete', 'clidata', 'items', '--json');
    expect(del.code).toBe(2);
    expect(json(del).error.code).toBe('FILTER_REQUIRED');
    expect(await query(url, 'SELECT count(*)::int AS n FROM items WHERE sku IS DISTINCT FROM \'all\'')).toEqual([{ n: 3 }]);

    expect(json(ok(await run('rows', 'update', 'clidata', 'items', '--data', '{"sku":"all"}', '--force', '--returning', 'none', '--json')))).toEqual({ count: 3 });
    expect(json(ok(await run('rows', 'delete', 'clidata', 'items', '--force', '--json'))).count).toBe(3);
    expect(await query(url, 'SELECT count(*)::int AS n FROM items')).toEqual([{ n: 0 }]);
  });

  it('runs SQL with --param, --read-only and --timeout', async () => {
    const select = ok(await run('query', 'clidata', 'SELECT id, note FROM orders WHERE id <= $1 AND note <> $2 ORDER BY id', '--param', '3', '--param', 'second'));
    expect(select.stdout).toMatch(/id\s+│\s+note/);
    expect(select.stdout).toMatch(/3\s+│\s+third, again/);
    expect(select.stderr.trim()).toBe('SELECT 2');
    const asJson = json(ok(await run('query', 'clidata', 'SELECT $1::int + 1 AS n, $2 AS s', '-p', '41', '-p', 'true', '--json')));
    expect(asJson).toMatchObject({ command: 'SELECT', rowCount: 1, rows: [{ n: 42, s: 'true' }], truncated: false });
    expect(asJson.fields).toEqual([{ name: 'n', type: 'integer' }, { name: 's', type: 'text' }]);

    const insert = ok(await run('query', 'clidata', 'INSERT INTO notes (body) VALUES ($1), ($2)', '-p', 'a', '-p', 'b'));
    expect(insert.stdout).toBe('');
    expect(insert.stderr.trim()).toBe('INSERT 2');
    expect(json(ok(await run('query', 'clidata', 'DELETE FROM notes WHERE body = $1', '-p', 'b', '--json')))).toMatchObject({ command: 'DELETE', rowCount: 1, rows: [] });
    expect(ok(await run('query', 'clidata', 'DELETE FROM notes WHERE false', '--csv')).stdout).toBe('');
    expect(ok(await dbaas(['query', 'clidata', '-', '--csv'], 'SELECT count(*) AS n FROM notes')).stdout).toBe('n\r\n1\r\n');

    const readOnly = await run('query', 'clidata', "INSERT INTO notes (body) VALUES ('ro')", '--read-only');
    expect(readOnly.code).toBe(1);
    expect(readOnly.stderr).toContain('[PERMISSION_DENIED]');
    expect(json(ok(await run('query', 'clidata', 'SELECT count(*)::int AS n FROM notes', '--read-only', '--json'))).rows).toEqual([{ n: 1 }]);

    const slow = await run('query', 'clidata', 'SELECT pg_sleep(5)', '--timeout', '200', '--json');
    expect(slow.code).toBe(1);
    expect(json(slow).error.code).toBe('STATEMENT_TIMEOUT');
    expect((await run('query', 'clidata', 'SELECT 1', '--timeout', 'soon')).code).toBe(2);
    const syntax = await run('query', 'clidata', 'SELEC 1');
    expect(syntax.code).toBe(1);
    expect(syntax.stderr).toContain('[SQL_ERROR]');
  });

  it('runs a transaction from a file: all or nothing', async () => {
    const good = ok(await run('transaction', 'clidata', '--file', file('tx-good.json', {
      statements: [
        { sql: 'INSERT INTO notes (body) VALUES ($1)', params: ['tx1'] },
        { sql: 'UPDATE orders SET qty = qty + $1 WHERE id = $2', params: [100, 1] },
        { sql: 'SELECT body FROM notes ORDER BY body' },
      ],
    })));
    expect(good.stderr.trim().split('\n')).toEqual(['1: INSERT 1', '2: UPDATE 1', '3: SELECT 2']);
    expect(good.stdout).toMatch(/body[\s\S]*a[\s\S]*tx1/);

    const failing = file('tx-bad.json', [
      { sql: 'INSERT INTO notes (body) VALUES ($1)', params: ['never'] },
      { sql: 'DELETE FROM orders WHERE id = $1', params: [1] },
      { sql: 'INSERT INTO no_such_table VALUES (1)' },
    ]);
    const bad = await run('transaction', 'clidata', '--file', failing, '--json');
    expect(bad.code).toBe(1);
    expect(json(bad).error).toMatchObject({ code: 'TABLE_NOT_FOUND', details: { statementIndex: 2 } });
    expect(json(bad).error.message).toMatch(/statement 3 failed, nothing was committed/);
    expect(await query(url, "SELECT count(*)::int AS n FROM notes WHERE body = 'never'")).toEqual([{ n: 0 }]);
    expect(await query(url, 'SELECT qty FROM orders WHERE id = 1')).toEqual([{ qty: 111 }]);

    const readOnly = await dbaas(['tx', 'clidata', '--file', '-'], JSON.stringify({ statements: [{ sql: "INSERT INTO notes (body) VALUES ('x')" }], readOnly: true }));
    expect(readOnly.code).toBe(1);
    expect(readOnly.stderr).toContain('[PERMISSION_DENIED]');
    const all = json(ok(await dbaas(['transaction', 'clidata', '--file', '-', '--json'], '[{"sql":"SELECT 1 AS a"},{"sql":"SELECT $1::text AS b","params":[null]}]')));
    expect(all.results.map((r: { rows: unknown[] }) => r.rows)).toEqual([[{ a: 1 }], [{ b: null }]]);

    const shape = await run('transaction', 'clidata', '--file', file('tx-shape.json', { statements: [{ query: 'SELECT 1' }] }));
    expect(shape.code).toBe(2);
    expect(shape.stderr).toContain('[VALIDATION_FAILED]');
    expect((await run('transaction', 'clidata', '--file', file('tx-empty.json', []))).code).toBe(2);
    expect((await run('transaction', 'clidata', '--file', file('tx-broken.json', '[{"sql":'))).code).toBe(2);
    expect((await run('transaction', 'clidata')).code).toBe(2); // --file is required
  });

  it('prints CSV that parses back: quotes, commas, newlines, NULL and empty strings', async () => {
    const tricky = [
      { id: 101, note: 'comma, and "quotes"', qty: null, tags: { k: 'v, "w"' } },
      { id: 102, note: 'two\nlines\r\nand CRLF', qty: 0, tags: ['a', 1] },
      { id: 103, note: '', qty: -5, tags: null },
    ];
    ok(await run('rows', 'insert', 'clidata', 'orders', '--data', JSON.stringify(tricky), '--returning', 'none'));
    const out = ok(await run('rows', 'list', 'clidata', 'orders', '--where', 'id=gte.101', '--order', 'id', '--select', 'id,note,qty,tags', '--csv'));
    expect(out.stderr).toBe('');
    const records = parseCsv(out.stdout);
    expect(records).toEqual([
      ['id', 'note', 'qty', 'tags'],
      ['101', 'comma, and "quotes"', '', '{"k":"v, \\"w\\""}'],
      ['102', 'two\nlines\r\nand CRLF', '0', '["a",1]'],
      ['103', '', '-5', ''],
    ]);
    // NULL is an empty field, an empty string is "" (as PostgreSQL's COPY CSV writes them).
    expect(out.stdout).toContain('103,"",-5,\r\n');
    // No rows: still a header, from the catalog.
    expect(ok(await run('rows', 'list', 'clidata', 'orders', '--where', 'id=eq.0', '--csv')).stdout).toBe('id,note,qty,tags,code\r\n');
    expect(ok(await run('rows', 'list', 'clidata', 'orders', '--where', 'id=eq.0', '--select', 'note,id', '--csv')).stdout).toBe('note,id\r\n');
    const sqlCsv = parseCsv(ok(await run('query', 'clidata', 'SELECT note FROM orders WHERE id = $1', '-p', '102', '--csv')).stdout);
    expect(sqlCsv).toEqual([['note'], ['two\nlines\r\nand CRLF']]);
    expect((await run('rows', 'list', 'clidata', 'orders', '--csv', '--json')).code).toBe(2);
  });

  it('drops a table only when confirmed: non-TTY without --yes exits 2', async () => {
    const refused = await run('tables', 'drop', 'clidata', 'notes');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refusing to drop notes without --yes/);
    expect(await query(url, "SELECT to_regclass('public.notes') IS NOT NULL AS present")).toEqual([{ present: true }]);
    expect(json(ok(await run('tables', 'drop', 'clidata', 'notes', '--yes', '--json')))).toEqual({ dropped: 'public.notes' });
    expect(await query(url, "SELECT to_regclass('public.notes') IS NOT NULL AS present")).toEqual([{ present: false }]);

    // A view depends on items: a plain drop fails, --cascade takes the view with it.
    await query(url, 'CREATE VIEW item_skus AS SELECT sku FROM items');
    const blocked = await run('tables', 'drop', 'clidata', 'items', '--yes');
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/depend/);
    expect(ok(await run('tables', 'drop', 'clidata', 'public.items', '--yes', '--cascade')).stdout.trim()).toBe('dropped public.items');
    expect((await run('tables', 'drop', 'clidata', 'items', '--yes')).code).toBe(1);
  });

  it('exits 1 for an unknown table or instance and 2 for an unknown column or a malformed filter', async () => {
    const table = await run('rows', 'list', 'clidata', 'nope');
    expect(table.code).toBe(1);
    expect(table.stderr).toMatch(/no table or view "nope" \[TABLE_NOT_FOUND\]/);
    expect((await run('tables', 'describe', 'clidata', 'nope')).code).toBe(1);
    const instance = await run('tables', 'no-such-instance', '--json');
    expect(instance.code).toBe(1);
    expect(json(instance).error.code).toBe('INSTANCE_NOT_FOUND');

    const column = await run('rows', 'list', 'clidata', 'orders', '--where', 'nocol=eq.1');
    expect(column.code).toBe(2);
    expect(column.stderr).toMatch(/has no column "nocol" \[COLUMN_NOT_FOUND\]/);
    expect((await run('rows', 'list', 'clidata', 'orders', '--select', 'id,nocol')).code).toBe(2);
    expect((await run('rows', 'list', 'clidata', 'orders', '--order', 'nocol.desc')).code).toBe(2);
    expect((await run('rows', 'insert', 'clidata', 'orders', '--data', '{"nocol":1}')).code).toBe(2);
    const sqlColumn = await run('query', 'clidata', 'SELECT nocol FROM orders');
    expect(sqlColumn.code).toBe(2);
    expect(sqlColumn.stderr).toContain('[COLUMN_NOT_FOUND]');

    const noEq = await run('rows', 'list', 'clidata', 'orders', '--where', 'id');
    expect(noEq.code).toBe(2);
    expect(noEq.stderr).toContain('--where takes column=op.value');
    const badOp = await run('rows', 'list', 'clidata', 'orders', '--where', 'id=5');
    expect(badOp.code).toBe(2);
    expect(badOp.stderr).toContain('[VALIDATION_FAILED]');
    expect((await run('rows', 'list', 'clidata', 'orders', '--where', 'limit=eq.1')).code).toBe(2);
    expect((await run('rows', 'list', 'clidata', 'orders', '--limit', '-1')).code).toBe(2);
    expect((await run('rows', 'list', 'clidata')).code).toBe(2);
    expect((await run('rows', 'insert', 'clidata', 'orders')).code).toBe(2); // --data is required
    expect((await run('rows', 'frob', 'clidata', 'orders')).code).toBe(2);
    expect((await run('tables', 'clidata', '--no-such-flag')).code).toBe(2);
    expect((await run('tables', '--help')).code).toBe(0);
  });

  it('went through the server as a remote client, and only then (its audit log says who wrote)', () => {
    const lines = readFileSync(join(t.home, 'logs', 'audit.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; actor: { name: string } | null });
    const viaApi = lines.filter((l) => l.action === 'insertRows' && l.actor?.name.startsWith('remote-cli'));
    if (mode === 'remote') expect(viaApi.length).toBeGreaterThan(0);
    else expect(viaApi).toEqual([]);
  });
});
