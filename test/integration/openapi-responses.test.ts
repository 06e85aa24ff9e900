import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { apiRoutes, createApp } from '../../src/api/app.js';
import type { RouteDef } from '../../src/api/routeTable.js';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { createLogger } from '../../src/log/logger.js';
import { adminToken, makeHome, query, until, type TestHome } from './helpers.js';

/**
 * Every route's real answer against the success schema its declaration documents, in strict
 * mode: a key the code sends and the schema does not list fails here (the drift that let
 * `GET /instances/{id}/stats` send an undocumented `cpuSecondsTotal`). The routes come from the
 * route table, so a route added later is covered; one without an entry in INPUTS fails until its
 * request is written down.
 */

const MAIN = 'oa-main';
const SECOND = 'oa-second';
/** Made on 13 and upgraded to 15 in beforeAll: what the rollback route rolls back. */
const THIRD = 'oa-third';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a call sends: path parameters by name, the query string, a JSON body, headers. */
interface Input {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  headers?: Record<string, string>;
}

/** PostgREST's writes answer nothing unless asked for the rows. */
const REPRESENTATION = { Prefer: 'return=representation' };

/**
 * A minimal valid request per operationId, in the order the calls run: reads of the main
 * instance first, writes to the table `items`, then the lifecycle of a second instance, which the
 * last call deletes.
 */
const INPUTS: Record<string, Input> = {
  getHealth: {},
  createToken: { body: { name: 'made-by-api', role: 'viewer', project: 'default' } },
  listTokens: {},
  revokeToken: { params: { id: 'made-by-api' } },
  listAuditEntries: { query: { limit: '5' } },
  examineInstallation: {},
  repairInstallation: { body: {} },
  createInstance: { body: { name: SECOND, memory: '128m', cpus: 0.5 } },
  listInstances: {},
  getInstance: { params: { ref: MAIN } },
  updateInstance: { params: { ref: SECOND }, body: { cpus: 0.25 } },
  getInstanceLogs: { params: { ref: MAIN }, query: { tail: '5' } },
  getInstanceStats: { params: { ref: MAIN } },
  getInstanceConnection: { params: { ref: MAIN }, query: { showPassword: 'true' } },
  rotateInstanceCertificate: { params: { ref: MAIN } },
  streamInstanceLogs: { params: { ref: MAIN }, query: { tail: '3', seconds: '1' } },
  listTables: { params: { ref: MAIN } },
  createTable: {
    params: { ref: MAIN },
    body: { name: 'made', columns: [{ name: 'id', type: 'integer', primaryKey: true }, { name: 'note', type: 'text', default: null }] },
  },
  getTable: { params: { ref: MAIN, table: 'items' } },
  getDatabaseTypes: { params: { ref: MAIN } },
  listRows: { params: { ref: MAIN, table: 'items' }, query: { count: 'exact', order: 'id' } },
  insertRows: { params: { ref: MAIN, table: 'items' }, body: [{ id: 10, name: 'ten', price: '1.50' }, { id: 11, name: 'eleven' }] },
  updateRows: { params: { ref: MAIN, table: 'items' }, query: { name: 'eq.ten' }, body: { price: '2.00' } },
  getRow: { params: { ref: MAIN, table: 'items', pk: '1' } },
  updateRow: { params: { ref: MAIN, table: 'items', pk: '1' }, body: { name: 'first' } },
  deleteRow: { params: { ref: MAIN, table: 'items', pk: '11' } },
  deleteRows: { params: { ref: MAIN, table: 'items' }, query: { id: 'eq.10' } },
  dropTable: { params: { ref: MAIN, table: 'made' }, query: { confirm: 'true' } },
  getPostgrestDescription: { params: { ref: MAIN } },
  listPostgrestRows: { params: { ref: MAIN, table: 'items' }, query: { select: 'id,name', order: 'id' } },
  insertPostgrestRows: { params: { ref: MAIN, table: 'items' }, body: [{ id: 30, name: 'thirty' }], headers: REPRESENTATION },
  updatePostgrestRows: { params: { ref: MAIN, table: 'items' }, query: { id: 'eq.30' }, body: { name: 'THIRTY' }, headers: REPRESENTATION },
  upsertPostgrestRow: { params: { ref: MAIN, table: 'items' }, query: { id: 'eq.31' }, body: { id: 31, name: 'x' }, headers: REPRESENTATION },
  deletePostgrestRows: { params: { ref: MAIN, table: 'items' }, query: { id: 'in.(30,31)' }, headers: REPRESENTATION },
  callPostgrestFunctionReadOnly: { params: { ref: MAIN, fn: 'add_them' }, query: { a: '1', b: '2' } },
  callPostgrestFunction: { params: { ref: MAIN, fn: 'add_them' }, body: { a: 1, b: 2 } },
  runQuery: { params: { ref: MAIN }, body: { sql: 'SELECT id, name, price, added FROM items WHERE id <= $1 ORDER BY id', params: [2] } },
  runTransaction: {
    params: { ref: MAIN },
    body: { statements: [{ sql: "INSERT INTO items (id, name) VALUES (20, 'twenty')" }, { sql: 'SELECT count(*) AS n FROM items' }] },
  },
  getMetrics: { params: { ref: MAIN }, query: { since: '10m', limit: '5' } },
  getLatestSample: { params: { ref: MAIN } },
  getMetricsSummary: { params: { ref: MAIN }, query: { window: '1m' } },
  getAgentStatus: { params: { ref: MAIN } },
  getAgentLogs: { params: { ref: MAIN }, query: { tail: '5' } },
  restartAgent: { params: { ref: MAIN } },
  getPrometheusMetrics: {},
  // Backups: ids made in beforeAll ($physical, $logical, $spare) or by an earlier call ($operation).
  createBackup: { params: { ref: MAIN }, body: { type: 'logical', label: 'openapi' } },
  listInstanceBackups: { params: { ref: MAIN } },
  getBackupStatus: { params: { ref: MAIN } },
  listBackups: {},
  getBackup: { params: { id: '$physical' } },
  verifyBackup: { params: { id: '$logical' }, body: {} },
  restoreInstance: { params: { ref: MAIN }, body: { as: 'oa-restored', latest: true, memory: '128m' } },
  restoreBackup: { params: { id: '$logical' }, body: { as: 'oa-from-dump', memory: '128m' } },
  cloneInstance: { params: { ref: MAIN }, body: { name: 'oa-clone' } },
  getBackupSchedule: { params: { ref: MAIN } },
  setBackupSchedule: { params: { ref: MAIN }, body: { cron: '0 3 * * *', keepLast: 7 } },
  deleteBackupSchedule: { params: { ref: MAIN } },
  listOperations: {},
  getOperation: { params: { id: '$operation' } },
  deleteBackup: { params: { id: '$spare' } },
  refreshInstanceImage: { params: { ref: SECOND } },
  // The upgrade's operation is waited for (below) before the next call on SECOND.
  upgradeInstance: { params: { ref: SECOND }, body: { to: 17, method: 'link' } },
  finalizeInstanceUpgrade: { params: { ref: SECOND } },
  rollbackInstanceUpgrade: { params: { ref: THIRD } },
  stopInstance: { params: { ref: SECOND } },
  startInstance: { params: { ref: SECOND } },
  restartInstance: { params: { ref: SECOND } },
  deleteInstance: { params: { ref: SECOND } },
};

/**
 * The schema with every object closed: an object that declares no catchall (zod's default strips
 * unknown keys) refuses them instead. Objects that declare one (passthrough, catchall) keep it.
 */
function strict(schema: z.ZodType): z.ZodType {
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  const s = schema as z.ZodType & { clone(def: unknown): z.ZodType };
  const map = (v: unknown) => strict(v as z.ZodType);
  switch (def.type) {
    case 'object': {
      const shape = Object.fromEntries(Object.entries(def.shape as Record<string, z.ZodType>).map(([k, v]) => [k, strict(v)]));
      return s.clone({ ...def, shape, catchall: def.catchall ?? z.never() });
    }
    case 'array':
      return s.clone({ ...def, element: map(def.element) });
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'nonoptional':
    case 'catch':
      return s.clone({ ...def, innerType: map(def.innerType) });
    case 'union':
      return s.clone({ ...def, options: (def.options as z.ZodType[]).map(strict) });
    case 'record':
      return s.clone({ ...def, valueType: map(def.valueType) });
    case 'tuple':
      return s.clone({ ...def, items: (def.items as z.ZodType[]).map(strict), rest: def.rest ? map(def.rest) : null });
    case 'pipe':
      return s.clone({ ...def, in: map(def.in), out: map(def.out) });
    case 'intersection':
    case 'lazy':
      throw new Error(`strict(): ${def.type} schemas are not handled; extend this helper`);
    default:
      return schema;
  }
}

/** Values known only while the test runs (backup and operation ids), for `$name` in INPUTS. */
const dynamic: Record<string, string> = {};

function pathOf(def: RouteDef, input: Input): string {
  const path = def.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const given = input.params?.[name];
    const value = given?.startsWith('$') ? dynamic[given.slice(1)] : given;
    if (value === undefined) throw new Error(`${def.operationId}: INPUTS gives no value for the path parameter ${name}`);
    return encodeURIComponent(value);
  });
  const query = new URLSearchParams(input.query ?? {}).toString();
  return query ? `${path}?${query}` : path;
}

/** `text/plain; version=0.0.4` is met by `text/plain; version=0.0.4; charset=utf-8`. */
function contentTypeMeets(actual: string, declared: string): boolean {
  const parts = (t: string) => t.split(';').map((p) => p.trim().toLowerCase().replace(/\s*=\s*/, '='));
  const have = parts(actual);
  return parts(declared).every((p) => have.includes(p));
}

describe('every route answers what its OpenAPI success schema says', () => {
  let t: TestHome;
  let created: CreatedInstance;
  let server: Server;
  let base: string;
  let token: string;
  let routes: RouteDef[];

  beforeAll(async () => {
    t = makeHome(22900);
    const logger = createLogger({ consoleLevel: 'silent' });
    const services = t.services;
    routes = apiRoutes(services);
    created = await t.manager.create({ name: MAIN, memory: '192m', cpus: 0.5, monitoring: { intervalSec: 1 } });
    await query(
      created.connectionString,
      `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(8,2), added timestamptz DEFAULT now(), tags text[]);
       INSERT INTO items (id, name, price, tags) VALUES (1, 'one', 9.99, '{a,b}'), (2, 'two', NULL, NULL), (3, 'three', 3, '{}');
       CREATE FUNCTION add_them(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b';`,
    );
    token = await adminToken(t);
    const app = createApp(services, logger);
    await new Promise<void>((resolve) => {
      server = app.listen(0, '127.0.0.1', () => resolve());
    });
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    dynamic.physical = (await services.backups.create(MAIN, { type: 'physical' })).id;
    dynamic.logical = (await services.backups.create(MAIN, { type: 'logical' })).id;
    dynamic.spare = (await services.backups.create(MAIN, { type: 'logical' })).id;
    await t.manager.create({ name: THIRD, version: 13, memory: '128m', cpus: 0.5 });
    await services.upgrades.upgrade(THIRD, { to: 15 });
    // A few samples from the agent (one a second), so that summaries have rates, not nulls.
    const deadline = Date.now() + 30_000;
    while (((await services.monitoring.agentStatus(MAIN)).samplesWritten ?? 0) < 3) {
      if (Date.now() > deadline) throw new Error('the agent wrote no samples in 30 s');
      await sleep(250);
    }
  });
  afterAll(async () => {
    server?.close();
    await t?.cleanup();
  });

  it('has an input for every route and no input for a route that is gone', () => {
    const ids = routes.map((r) => r.operationId);
    expect(ids.filter((id) => !(id in INPUTS)), 'routes without an entry in INPUTS').toEqual([]);
    expect(Object.keys(INPUTS).filter((id) => !ids.includes(id)), 'INPUTS of no route').toEqual([]);
  });

  it('answers each route with its declared status and a body its schema accepts strictly', async () => {
    const order = Object.keys(INPUTS);
    const ordered = [...routes].sort((a, b) => order.indexOf(a.operationId) - order.indexOf(b.operationId));
    const drifts: string[] = [];
    let checked = 0;
    for (const def of ordered) {
      const input = INPUTS[def.operationId];
      if (!input) continue; // reported by the test above
      const name = `${def.operationId} (${def.method.toUpperCase()} ${def.path})`;
      const res = await fetch(base + pathOf(def, input), {
        method: def.method.toUpperCase(),
        headers: { authorization: `Bearer ${token}`, ...(input.body !== undefined ? { 'content-type': 'application/json' } : {}), ...input.headers },
        body: input.body !== undefined ? JSON.stringify(input.body) : undefined,
      });
      const text = await res.text();
      const type = res.headers.get('content-type') ?? '';
      if (def.operationId === 'createBackup' && res.ok) dynamic.operation = (JSON.parse(text) as { id: string }).id;
      if (def.operationId === 'upgradeInstance' && res.ok) {
        const id = (JSON.parse(text) as { id: string }).id;
        await until('the upgrade to end', () => t.services.operations.get(id).status !== 'running', 180_000);
      }
      if (res.status !== def.success.status) {
        drifts.push(`${name}: status ${res.status}, declared ${def.success.status}: ${text.slice(0, 300)}`);
      } else if (def.success.contentType && def.success.contentType !== 'application/json') {
        // Not JSON (Prometheus text): the content type is the contract.
        if (!contentTypeMeets(type, def.success.contentType) || !text) drifts.push(`${name}: content type ${type}, declared ${def.success.contentType}`);
      } else if (!type.startsWith('application/json') || !def.success.schema) {
        drifts.push(`${name}: content type ${type}${def.success.schema ? '' : ', and the route declares no success schema'}`);
      } else {
        const parsed = strict(def.success.schema).safeParse(JSON.parse(text));
        if (!parsed.success) {
          drifts.push(`${name}:\n${parsed.error.issues.map((i) => `  ${i.path.join('.') || '(body)'}: ${i.message}`).join('\n')}`);
        }
      }
      checked++;
    }
    expect(drifts.join('\n'), 'responses that differ from their declaration').toBe('');
    expect(checked).toBe(routes.length);
    // The operations started (a backup, a verification, two restores, a clone) end, and well.
    const ops = await until(
      'the operations to end',
      async () => {
        const list = t.services.operations.list();
        return list.every((op) => op.status !== 'running') ? list : undefined;
      },
      180_000,
    );
    expect(ops.map((op) => `${op.kind}: ${op.status}${op.error ? ` ${op.error.message}` : ''}`).sort()).toEqual([
      'backup: succeeded',
      'clone: succeeded',
      'restore: succeeded',
      'restore: succeeded',
      'upgrade-rollback: succeeded',
      'upgrade: succeeded',
      'verify: succeeded',
    ]);
  }, 400_000);
});
