/**
 * The hostile corpus as a regression test (issue 7): requests generated from the server's own
 * /openapi.json that it must refuse. Each must get a 4xx with the one error shape, the server must
 * keep answering /health, and the registry, the engine and the instance's data must be left as
 * they were. A route added later is covered without editing this file.
 */
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { DataService } from '../../src/database/service.js';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { createLogger } from '../../src/log/logger.js';
import { adminToken, makeHome, query, type TestHome } from '../integration/helpers.js';
import { describeExchange, preview, refusalProblems, send, type Reply } from './client.js';
import { categoryOf, generateCorpus, type Column, type Fixture, type HostileRequest } from './generate.js';
import { Spec, type OpenApiDocument } from './openapi.js';
import { snapshot, type StateSnapshot } from './snapshot.js';

/**
 * To replay part of the corpus while fixing a failure: HOSTILE_ONLY=<regex on kind or operation>
 * (e.g. `^path\.percent`, `POST /instances$`). HOSTILE_REPORT=<file> writes every request and its answer.
 */
const ONLY = process.env.HOSTILE_ONLY ? new RegExp(process.env.HOSTILE_ONLY) : undefined;

/** The corpus may grow; it must never silently shrink below this. */
const MIN_REQUESTS = 300;
const CONCURRENCY = 8;
const HEALTH_EVERY = 25;

const INSTANCE = { name: 'hostage', memory: '256m', cpus: 1 };
const TABLE = 'accounts';
const TABLE_SQL = `CREATE TABLE ${TABLE} (id int PRIMARY KEY, label text NOT NULL, meta jsonb, qty int);
  INSERT INTO ${TABLE} VALUES (1, 'alpha', '{"tier": "gold"}', 10), (2, 'beta', '[1, 2, 3]', NULL), (3, 'gamma', NULL, -5)`;
const COLUMNS: Column[] = [
  { name: 'id', kind: 'int' },
  { name: 'label', kind: 'text' },
  { name: 'meta', kind: 'json' },
  { name: 'qty', kind: 'int' },
];

interface Outcome {
  request: HostileRequest;
  reply: Reply;
  problems: string[];
}

/** Names and states only: what a reader of a failed run wants to see first. */
function outline(s: StateSnapshot): unknown {
  const registry = s.registry as { instances?: Array<{ name: string; status: string; memory: number; cpus: number; updatedAt: string }> };
  const engine = s.engine as Array<{ names: string[]; state: string; restartCount: number; startedAt: string }>;
  return {
    instances: (registry.instances ?? []).map((i) => `${i.name} ${i.status} memory=${i.memory} cpus=${i.cpus} updatedAt=${i.updatedAt}`),
    containers: engine.map((c) => `${c.names.join(',')} ${c.state} started=${c.startedAt} restarts=${c.restartCount}`),
    data: s.data,
  };
}

async function inPool<T>(items: T[], size: number, work: (item: T) => Promise<void>, stop: () => boolean): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: size }, async () => {
      while (next < items.length && !stop()) await work(items[next++] as T);
    }),
  );
}

describe('the hostile corpus, generated from /openapi.json', () => {
  let t: TestHome;
  let created: CreatedInstance;
  let data: DataService;
  let server: Server;
  let port: number;
  let spec: OpenApiDocument;
  let corpus: HostileRequest[];
  let before: StateSnapshot;
  const outcomes: Outcome[] = [];
  let corpusRan = false;

  const state = () => snapshot(t.home, created.connectionString, TABLE, 'id');

  /**
   * Puts the fixture back after a late request the server wrongly accepted (it stopped or deleted
   * the instance, dropped the table, changed rows), so that the requests after it still aim at
   * something real instead of passing with a 404. Returns what it had to do.
   */
  async function restoreFixture(): Promise<string[]> {
    const done: string[] = [];
    const view = await t.manager.get(INSTANCE.name).catch(() => undefined);
    if (!view) {
      created = await t.manager.create(INSTANCE);
      done.push('re-created the deleted instance');
    } else if (view.status !== 'running') {
      await t.manager.start(INSTANCE.name);
      done.push(`started the instance (it was ${view.status})`);
    }
    // Only the test table is put back: other tables a request made stay, for the snapshot to report.
    const rowsOf = (d: unknown) => JSON.stringify((d as { rows?: unknown }).rows ?? d);
    const now = (await state()).data;
    if (rowsOf(now) !== rowsOf(before.data)) {
      await query(created.connectionString, `DROP TABLE IF EXISTS ${TABLE}; ${TABLE_SQL}`);
      done.push(`restored table ${TABLE} (its rows were ${rowsOf(now)})`);
    }
    return done;
  }

  let token: string;

  beforeAll(async () => {
    // Small defaults, so that a create the server wrongly accepts costs little.
    // Requests that send a hostile Authorization of their own fail to authenticate on purpose: the
    // limit on failures must not lock the corpus out.
    t = makeHome(22400, { DBAAS_BODY_LIMIT: '64kb', DBAAS_DEFAULT_MEMORY: '128m', DBAAS_DEFAULT_CPUS: '0.5', DBAAS_AUTH_FAILURE_LIMIT: '100000' });
    token = await adminToken(t);
    created = await t.manager.create(INSTANCE);
    await query(created.connectionString, TABLE_SQL);
    const logger = createLogger({ consoleLevel: 'silent' });
    data = t.services.data;
    const app = createApp(t.services, logger);
    await new Promise<void>((resolve) => {
      server = app.listen(0, '127.0.0.1', () => resolve());
    });
    port = (server.address() as { port: number }).port;

    const res = await fetch(`http://127.0.0.1:${port}/openapi.json`);
    spec = (await res.json()) as OpenApiDocument;
    const fixture: Fixture = {
      pathValues: { ref: created.name, table: TABLE, pk: '1' },
      columns: COLUMNS,
      keyColumn: 'id',
      keyValue: '1',
      healthPath: '/health',
    };
    corpus = generateCorpus(spec, fixture);
    before = await state();
  }, 240_000);

  afterAll(async () => {
    server?.close();
    await data?.close();
    await t?.cleanup();
  });

  it(`has at least ${MIN_REQUESTS} requests and covers every operation of the document`, () => {
    const counts = new Map<string, number>();
    for (const r of corpus) counts.set(categoryOf(r.kind), (counts.get(categoryOf(r.kind)) ?? 0) + 1);
    console.log(
      `hostile corpus: ${corpus.length} requests (${corpus.filter((r) => r.late).length} sent last, one at a time)\n` +
        [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([c, n]) => `  ${c}: ${n}`).join('\n'),
    );
    expect(corpus.length).toBeGreaterThanOrEqual(MIN_REQUESTS);
    // Every path of the document gets requests; every operation with a parameter, a body or a write gets its own.
    const covered = new Set(corpus.map((r) => r.operation));
    const paths = new Set(corpus.map((r) => r.operation.split(' ')[1]));
    for (const op of new Spec(spec).operations()) {
      const name = `${op.method} ${op.template}`;
      expect.soft(paths.has(op.template), `no request on ${op.template}`).toBe(true);
      if (op.pathParams.length || op.queryParams.length || op.body || op.method !== 'GET') expect.soft(covered.has(name), `no request for ${name}`).toBe(true);
    }
  });

  it('refuses every request with a 4xx and the one error shape, and keeps answering /health', async () => {
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const uncaught: string[] = [];
    const onUncaught = (err: unknown) => uncaught.push(String((err as Error)?.stack ?? err));
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);

    let dead: string | undefined;
    const repairs: string[] = [];
    let completed = 0;
    const checkHealth = async (after: HostileRequest | undefined) => {
      const health = await send(port, { method: 'GET', path: '/health', headers: {} }, 30_000);
      if (health.status !== 200 && dead === undefined) {
        dead =
          `the server stopped answering GET /health (${health.error ?? `${health.status} ${preview(health.text)}`})` +
          (after ? ` after ${completed} requests; the last was ${describeExchange(after, outcomes[outcomes.length - 1]?.reply ?? health)}` : '');
      }
    };
    const run = async (request: HostileRequest) => {
      // An admin's token, so that every request reaches the code behind access control.
      const reply = await send(port, { ...request, headers: { authorization: `Bearer ${token}`, ...request.headers } });
      outcomes.push({ request, reply, problems: refusalProblems(reply, request.path) });
      completed++;
      if (completed % HEALTH_EVERY === 0) await checkHealth(request);
    };

    try {
      const chosen = ONLY ? corpus.filter((r) => ONLY.test(r.kind) || ONLY.test(r.operation)) : corpus;
      await inPool(chosen.filter((r) => !r.late), CONCURRENCY, run, () => dead !== undefined);
      const late = chosen
        .filter((r) => r.late)
        .sort((a, b) => a.lateRank[0] - b.lateRank[0] || a.lateRank[1] - b.lateRank[1] || a.lateRank[2].localeCompare(b.lateRank[2]));
      for (const request of late) {
        if (dead !== undefined) break;
        await run(request);
        const last = outcomes[outcomes.length - 1] as Outcome;
        if (last.reply.status >= 200 && last.reply.status < 300) {
          const done = await restoreFixture();
          if (done.length) repairs.push(`${done.join('; ')}, after ${describeExchange(last.request, last.reply)}`);
        }
      }
      await checkHealth(outcomes[outcomes.length - 1]?.request);
    } finally {
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUncaught);
      corpusRan = true;
    }

    if (process.env.HOSTILE_REPORT) {
      const report = outcomes.map((o) => ({
        kind: o.request.kind,
        operation: o.request.operation,
        method: o.request.method,
        path: preview(o.request.path, 300),
        headers: o.request.headers,
        body: preview(o.request.body, 200),
        late: o.request.late,
        status: o.reply.status,
        error: o.reply.error,
        response: preview(o.reply.text, 400),
        ms: o.reply.ms,
        problems: o.problems,
      }));
      writeFileSync(process.env.HOSTILE_REPORT, JSON.stringify({ total: corpus.length, dead, uncaught, repairs, outcomes: report }, null, 1));
    }

    const failed = outcomes.filter((o) => o.problems.length > 0);
    console.log(`hostile corpus: ${outcomes.length} sent, ${failed.length} not refused as they must be`);
    for (const o of outcomes) expect.soft(o.problems, describeExchange(o.request, o.reply)).toEqual([]);
    expect.soft(uncaught, 'errors nothing caught while the corpus ran').toEqual([]);
    expect.soft(repairs, 'the fixture had to be put back after requests the server wrongly carried out').toEqual([]);
    expect.soft(({} as Record<string, unknown>).polluted, 'Object.prototype polluted').toBeUndefined();
    expect.soft(Object.getOwnPropertyNames(Object.prototype).sort(), 'Object.prototype gained keys').toEqual(prototypeBefore);
    expect(dead, dead).toBeUndefined();
    expect(outcomes.length, 'every request was sent').toBe(ONLY ? outcomes.length : corpus.length);
  }, 600_000);

  it('leaves the registry, the engine state and the data as they were', async () => {
    expect(corpusRan, 'the corpus ran').toBe(true);
    const after = await state();
    // The short story first (which instances and containers, in which state; how many rows), then every field.
    expect.soft(outline(after), 'instances, containers or rows changed').toEqual(outline(before));
    expect.soft(after.registry, 'config/instances.json changed').toEqual(before.registry);
    expect.soft(after.engine, "the home's containers changed (ids, names, state, Env, Cmd, HostConfig)").toEqual(before.engine);
    expect.soft(after.data, "the instance's tables or the rows of the test table changed").toEqual(before.data);
  }, 120_000);
});
