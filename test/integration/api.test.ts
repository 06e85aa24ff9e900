import { spawn, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import { createLogger } from '../../src/log/logger.js';
import { adminToken, freePort, makeHome, query, type TestHome } from './helpers.js';

/** The admin token of the home under test (set in each suite's beforeAll). */
let token = '';

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
  type: string;
}

async function call(base: string, method: string, path: string, body?: unknown, raw?: string): Promise<Reply> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: raw ?? (body !== undefined ? JSON.stringify(body) : undefined),
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (HTML pages)
  }
  return { status: res.status, body: parsed, text, type: res.headers.get('content-type') ?? '' };
}

function serve(t: TestHome): Promise<{ server: Server; base: string }> {
  const logger = createLogger({ consoleLevel: 'silent' });
  const app = createApp(t.services, logger);
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, base: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` });
    });
  });
}

function expectError(reply: Reply, status: number, code: string): void {
  expect(reply.status).toBe(status);
  expect(reply.body.error.code).toBe(code);
  expect(typeof reply.body.error.message).toBe('string');
}

describe('REST API end to end', () => {
  let t: TestHome;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    t = makeHome(21600, { DBAAS_BODY_LIMIT: '4kb' });
    token = await adminToken(t);
    ({ server, base } = await serve(t));
  });
  afterAll(async () => {
    server.close();
    await t.cleanup();
  });

  it('reports health with the engine reachable', async () => {
    const reply = await call(base, 'GET', '/health');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: 'ok', engine: { reachable: true } });
  });

  it('serves an OpenAPI document generated from the zod schemas, Swagger UI and ReDoc', async () => {
    const spec = (await call(base, 'GET', '/openapi.json')).body;
    expect(spec.openapi).toBe('3.0.3');
    const routes = Object.entries(spec.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(routes.sort()).toEqual(
      [
        'GET /health',
        'GET /doctor',
        'POST /doctor/fix',
        'POST /instances',
        'GET /instances',
        'GET /instances/{ref}',
        'PATCH /instances/{ref}',
        'DELETE /instances/{ref}',
        'POST /instances/{ref}/start',
        'POST /instances/{ref}/stop',
        'POST /instances/{ref}/restart',
        'GET /instances/{ref}/logs',
        'GET /instances/{ref}/logs/stream',
        'GET /instances/{ref}/stats',
        'GET /instances/{ref}/connection',
        'POST /instances/{ref}/tls/rotate',
        'POST /instances/{ref}/image-refresh',
        'POST /instances/{ref}/upgrade',
        'POST /instances/{ref}/upgrade/rollback',
        'POST /instances/{ref}/upgrade/finalize',
        'GET /database/{ref}/tables',
        'GET /database/{ref}/types.ts',
        'POST /database/{ref}/tables',
        'GET /database/{ref}/tables/{table}',
        'DELETE /database/{ref}/tables/{table}',
        'GET /database/{ref}/tables/{table}/rows',
        'POST /database/{ref}/tables/{table}/rows',
        'PATCH /database/{ref}/tables/{table}/rows',
        'DELETE /database/{ref}/tables/{table}/rows',
        'GET /database/{ref}/tables/{table}/rows/{pk}',
        'PATCH /database/{ref}/tables/{table}/rows/{pk}',
        'DELETE /database/{ref}/tables/{table}/rows/{pk}',
        'POST /database/{ref}/query',
        'POST /database/{ref}/transaction',
        'GET /database/{ref}/rest/v1',
        'GET /database/{ref}/rest/v1/rpc/{fn}',
        'POST /database/{ref}/rest/v1/rpc/{fn}',
        'GET /database/{ref}/rest/v1/{table}',
        'POST /database/{ref}/rest/v1/{table}',
        'PATCH /database/{ref}/rest/v1/{table}',
        'PUT /database/{ref}/rest/v1/{table}',
        'DELETE /database/{ref}/rest/v1/{table}',
        'GET /monitoring/{ref}/metrics',
        'GET /monitoring/{ref}/metrics/latest',
        'GET /monitoring/{ref}/summary',
        'GET /monitoring/{ref}/agent',
        'POST /monitoring/{ref}/agent/restart',
        'GET /monitoring/{ref}/agent/logs',
        'POST /instances/{ref}/backups',
        'GET /instances/{ref}/backups',
        'GET /instances/{ref}/backup-status',
        'GET /backups',
        'GET /backups/{id}',
        'DELETE /backups/{id}',
        'POST /backups/{id}/verify',
        'POST /instances/{ref}/restore',
        'POST /backups/{id}/restore',
        'POST /instances/{ref}/clone',
        'GET /instances/{ref}/backup-schedule',
        'PUT /instances/{ref}/backup-schedule',
        'DELETE /instances/{ref}/backup-schedule',
        'GET /operations',
        'GET /operations/{id}',
        'GET /metrics',
        'POST /tokens',
        'GET /tokens',
        'DELETE /tokens/{id}',
        'GET /audit',
      ].sort(),
    );
    const create = spec.components.schemas.CreateInstance;
    expect(Object.keys(create.properties)).toEqual(
      expect.arrayContaining(['name', 'version', 'memory', 'cpus', 'port', 'database', 'username', 'password']),
    );
    expect(create.required).toEqual(['name']);
    expect(create.properties.name.pattern).toBe('^[a-z]([a-z0-9-]*[a-z0-9])?$');
    expect(spec.paths['/instances'].post.responses['422'].content['application/json'].schema.$ref).toBe(
      '#/components/schemas/Error',
    );
    expect(spec.paths['/instances/{ref}/logs'].get.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['ref', 'tail']);
    // Every route documents the one error shape for each status it can answer.
    const rows = spec.paths['/database/{ref}/tables/{table}/rows'];
    expect(rows.get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['ref', 'table', 'select', 'order', 'limit', 'offset', 'count']),
    );
    // 403 (foreign Origin), 415 (not JSON) and 421 (unknown Host) come from the request guard;
    // 401, 403 and 429 from access control.
    expect(Object.keys(rows.post.responses).sort()).toEqual(['201', '400', '401', '403', '404', '409', '415', '421', '422', '429', '503', '504']);
    expect(rows.post.security).toEqual([{ bearerAuth: [] }]);
    expect(rows.post['x-permission']).toBe('data:write');
    expect(Object.keys(spec.paths['/database/{ref}/query'].post.responses)).toEqual(
      expect.arrayContaining(['200', '400', '403', '404', '409', '422', '503', '504']),
    );
    for (const [path, ops] of Object.entries(spec.paths as Record<string, Record<string, { responses: Record<string, any> }>>)) { // eslint-disable-line @typescript-eslint/no-explicit-any
      for (const [method, op] of Object.entries(ops)) {
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) >= 400) expect(response.content['application/json'].schema.$ref, `${method} ${path} ${status}`).toBe('#/components/schemas/Error');
        }
      }
    }

    const docs = await call(base, 'GET', '/docs/');
    expect(docs.status).toBe(200);
    expect(docs.text).toContain('swagger-ui');
    const redoc = await call(base, 'GET', '/redoc');
    expect(redoc.text).toContain('spec-url="/openapi.json"');
    const bundle = await fetch(base + '/redoc/redoc.standalone.js');
    expect(bundle.status).toBe(200);
    expect((await bundle.text()).length).toBeGreaterThan(100_000);
  });

  it('answers bad input with precise statuses and the one error shape', async () => {
    expectError(await call(base, 'POST', '/instances', undefined, '{"name": '), 400, 'MALFORMED_REQUEST');
    const invalid = await call(base, 'POST', '/instances', { name: 'api-x', memory: '100m' });
    expectError(invalid, 422, 'VALIDATION_FAILED');
    expect(invalid.body.error.message).toMatch(/^memory: must be at least 128m/);
    expect(invalid.body.error.details.issues[0].field).toBe('memory');
    expectError(await call(base, 'POST', '/instances', { name: 'api-x', initSql: 'x'.repeat(10_000) }), 413, 'PAYLOAD_TOO_LARGE');
    expectError(await call(base, 'GET', '/instances/nope'), 404, 'INSTANCE_NOT_FOUND');
    expectError(await call(base, 'GET', '/nothing/here'), 404, 'ROUTE_NOT_FOUND');
    expectError(await call(base, 'PATCH', '/instances/nope', {}), 422, 'VALIDATION_FAILED');
  });

  describe('one instance through its whole life', () => {
    let created: Reply;

    beforeAll(async () => {
      created = await call(base, 'POST', '/instances', {
        name: 'api-one',
        memory: '192m',
        cpus: 0.5,
        initSql: "CREATE TABLE seeded (id int PRIMARY KEY); INSERT INTO seeded VALUES (1), (2);",
      });
    });

    it('creates it (201) with a password shown once and a working connection string', async () => {
      expect(created.status).toBe(201);
      expect(created.body.status).toBe('running');
      expect(created.body.password).toMatch(/^[A-Za-z0-9]{24}$/);
      expect(await query(created.body.connectionString, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
      expectError(await call(base, 'POST', '/instances', { name: 'api-one' }), 409, 'NAME_TAKEN');
    });

    it('ran the init SQL as the application role, so it owns what the SQL made', async () => {
      const rows = await query(
        created.body.connectionString,
        "SELECT tableowner, (SELECT count(*)::int FROM seeded) AS n FROM pg_tables WHERE tablename = 'seeded'",
      );
      expect(rows).toEqual([{ tableowner: 'app', n: 2 }]);
    });

    it('lists it and shows it by name or id, never with the password', async () => {
      const list = await call(base, 'GET', '/instances');
      expect(list.body.instances.map((i: { name: string }) => i.name)).toEqual(['api-one']);
      const byName = await call(base, 'GET', '/instances/api-one');
      const byId = await call(base, 'GET', `/instances/${created.body.id}`);
      // The WAL archive's state may change between the two calls (the agent's first sample of
      // pg_stat_archiver lands); the instance itself may not.
      const steady = (view: Record<string, any>) => ({ ...view, backups: { ...view.backups, archive: undefined } }); // eslint-disable-line @typescript-eslint/no-explicit-any
      expect(steady(byId.body)).toEqual(steady(byName.body));
      expect(byName.body.memory).toBe(192 * 1024 * 1024);
      expect(JSON.stringify([list.body, byName.body])).not.toContain(created.body.password);
    });

    it('gives the connection without the password unless asked', async () => {
      const plain = await call(base, 'GET', '/instances/api-one/connection');
      expect(plain.body.password).toBeUndefined();
      expect(plain.body.connectionString).toBe(`postgresql://app@127.0.0.1:${created.body.port}/app?sslmode=verify-full&sslrootcert=${join(t.home, 'config', 'ca', 'ca.crt')}`);
      const full = await call(base, 'GET', '/instances/api-one/connection?showPassword=true');
      expect(full.body.password).toBe(created.body.password);
      expect(full.body.connectionString).toBe(created.body.connectionString);
    });

    it('serves logs and stats', async () => {
      const logs = await call(base, 'GET', '/instances/api-one/logs?tail=5');
      expect(logs.status).toBe(200);
      expect(logs.body.lines.length).toBeGreaterThan(0);
      expect(logs.body.lines.length).toBeLessThanOrEqual(5);
      expectError(await call(base, 'GET', '/instances/api-one/logs?tail=0'), 422, 'VALIDATION_FAILED');
      const stats = await call(base, 'GET', '/instances/api-one/stats');
      expect(stats.status).toBe(200);
      expect(stats.body.memoryLimit).toBe(192 * 1024 * 1024);
      expect(stats.body.cpuPercent).toBeGreaterThanOrEqual(0);
    });

    it('resizes it live with PATCH', async () => {
      const patched = await call(base, 'PATCH', '/instances/api-one', { memory: '256m', cpus: 1 });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ memory: 256 * 1024 * 1024, cpus: 1, pendingRestart: true, status: 'running' });
      expectError(await call(base, 'PATCH', '/instances/api-one', { memory: '1k' }), 422, 'VALIDATION_FAILED');
      const restarted = await call(base, 'PATCH', '/instances/api-one?restart=true', { pgSettings: { work_mem: '3MB' } });
      expect(restarted.body.pendingRestart).toBe(false);
      const rows = await query(created.body.connectionString, "SELECT current_setting('work_mem') AS w, current_setting('shared_buffers') AS s");
      expect(rows).toEqual([{ w: '3MB', s: '64MB' }]);
    });

    it('stops, starts and restarts it, keeping data', async () => {
      await query(created.body.connectionString, 'CREATE TABLE notes (body text)');
      await query(created.body.connectionString, "INSERT INTO notes VALUES ('persisted')");
      const stopped = await call(base, 'POST', '/instances/api-one/stop');
      expect(stopped.body.status).toBe('stopped');
      expectError(await call(base, 'GET', '/instances/api-one/stats'), 503, 'INSTANCE_NOT_RUNNING');
      expect((await call(base, 'POST', '/instances/api-one/start')).body.status).toBe('running');
      expect((await call(base, 'POST', '/instances/api-one/restart')).body.status).toBe('running');
      expect(await query(created.body.connectionString, 'SELECT body FROM notes')).toEqual([{ body: 'persisted' }]);
    });

    it('deletes it', async () => {
      const deleted = await call(base, 'DELETE', '/instances/api-one');
      expect(deleted.status).toBe(200);
      expect(deleted.body).toMatchObject({ name: 'api-one', keptData: null });
      expectError(await call(base, 'GET', '/instances/api-one'), 404, 'INSTANCE_NOT_FOUND');
    });
  });
});

describe('REST API with the engine down', () => {
  it('reports 503 on /health and ENGINE_UNAVAILABLE on create', async () => {
    const t = makeHome(21650, { DBAAS_DOCKER_SOCKET: '/tmp/dbaas-no-such-engine.sock' });
    token = await adminToken(t);
    const { server, base } = await serve(t);
    try {
      const health = await call(base, 'GET', '/health');
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ status: 'degraded', engine: { reachable: false } });
      expectError(await call(base, 'POST', '/instances', { name: 'down' }), 503, 'ENGINE_UNAVAILABLE');
      expectError(await call(base, 'GET', '/instances'), 503, 'ENGINE_UNAVAILABLE');
    } finally {
      server.close();
      await t.cleanup();
    }
  });
});

describe('`dbaas serve` restarted', () => {
  let t: TestHome;
  let child: ChildProcess | undefined;

  async function startServe(port: number): Promise<ChildProcess> {
    const proc = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'serve', '--port', String(port)], {
      env: t.env,
      stdio: 'ignore',
    });
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
      if (ok) return proc;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('dbaas serve did not come up');
  }

  beforeAll(async () => {
    t = makeHome(21700);
    token = await adminToken(t);
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await t.cleanup();
  });

  it('finds its instances and their data after a restart of the manager', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    child = await startServe(port);
    const created = await call(base, 'POST', '/instances', { name: 'survivor', memory: '128m', cpus: 0.3 });
    expect(created.status).toBe(201);
    await query(created.body.connectionString, 'CREATE TABLE t (v int)');
    await query(created.body.connectionString, 'INSERT INTO t VALUES (42)');

    child.kill('SIGTERM');
    const code = await new Promise((r) => child!.once('exit', r));
    expect(code).toBe(0);
    child = await startServe(port);

    const view = await call(base, 'GET', '/instances/survivor');
    expect(view.body.status).toBe('running');
    expect(await query(created.body.connectionString, 'SELECT v FROM t')).toEqual([{ v: 42 }]);
  });
});
