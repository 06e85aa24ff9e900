import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { createLogger } from '../../src/log/logger.js';
import { parseSampleLine, type Sample } from '../../src/monitoring/metricsReader.js';
import { MonitoringService } from '../../src/monitoring/service.js';
import { adminToken, docker, makeHome, until, type TestHome } from './helpers.js';
import parsePrometheus from 'parse-prometheus-text-format';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the monitoring agent beside a real instance', () => {
  let t: TestHome;
  let created: CreatedInstance;
  let monitoring: MonitoringService;
  let server: Server;
  let base: string;
  let token: string;
  let metricsFile: string;

  const api = async (path: string, method = 'GET') => {
    const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    let body: any = null; // eslint-disable-line @typescript-eslint/no-explicit-any
    try {
      body = JSON.parse(text);
    } catch {
      // Prometheus text
    }
    return { status: res.status, body, text, type: res.headers.get('content-type') ?? '' };
  };
  /** Every complete sample the files hold now, oldest first. */
  const fileSamples = (): Sample[] =>
    [join(metricsFile + '.2'), metricsFile + '.1', metricsFile]
      .filter((f) => existsSync(f))
      .flatMap((f) => readFileSync(f, 'utf8').split('\n'))
      .map(parseSampleLine)
      .filter((s): s is Sample => s !== null);
  /** The first sample written after `afterMs` that satisfies `check`. */
  const sampleWhere = (what: string, afterMs: number, check: (s: any) => boolean) => // eslint-disable-line @typescript-eslint/no-explicit-any
    until(what, () => fileSamples().find((s) => s.ts_ms > afterMs && s.up && check(s)));

  beforeAll(async () => {
    t = makeHome(21900);
    const logger = createLogger({ consoleLevel: 'silent' });
    monitoring = new MonitoringService(t.manager, logger);
    created = await t.manager.create({
      name: 'watched',
      memory: '256m',
      cpus: 1,
      monitoring: { intervalSec: 1, maxFileBytes: '8k', keepFiles: 2 },
    });
    metricsFile = join(t.home, 'instances', created.id, 'logs', 'metrics.ndjson');
    token = await adminToken(t);
    const app = createApp({ ...t.services, monitoring }, logger);
    await new Promise<void>((resolve) => {
      server = app.listen(0, '127.0.0.1', () => resolve());
    });
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server?.close();
    await t.cleanup();
  });

  it('starts with the instance, as the read-only monitoring role, and writes samples', async () => {
    const status = await until('a healthy agent', async () => {
      const s = await monitoring.agentStatus('watched');
      return s.healthy && (s.samplesWritten ?? 0) >= 2 ? s : undefined;
    });
    expect(status).toMatchObject({ running: true, intervalSec: 1, lastError: null });
    const sample = fileSamples().at(-1)!;
    expect(sample).toMatchObject({ instance: created.id, up: true, database: 'app' });
    expect(Date.now() - sample.ts_ms).toBeLessThan(10_000);
    const s = sample as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(s.server.max_connections).toBe(51);
    expect(Object.keys(s.databases).sort()).toEqual(['app', 'postgres']);
    expect(Object.keys(s.connections.by_state)).toEqual([
      'active', 'idle', 'idle in transaction', 'idle in transaction (aborted)', 'fastpath function call', 'disabled',
    ]);
    expect(Object.keys(s.locks.by_mode)).toHaveLength(8);
    // The agent's own session: the read-only monitoring role, its application_name, a timeout.
    expect(s.session).toEqual({ user: 'dbaas_monitor', application_name: 'dbaas-monitor', statement_timeout: '5s', read_only: true });
  });

  it('shows a workload: commits grow, a long transaction, a lock another session waits for', async () => {
    const started = Date.now();
    const before = fileSamples().at(-1) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    const a = new pg.Client({ connectionString: created.connectionString });
    const b = new pg.Client({ connectionString: created.connectionString });
    await a.connect();
    await b.connect();
    try {
      await a.query('CREATE TABLE work (id serial PRIMARY KEY, note text)');
      for (let i = 0; i < 50; i++) await a.query('INSERT INTO work (note) VALUES ($1)', [`row ${i}`]);
      await a.query('BEGIN');
      await a.query('LOCK TABLE work IN ACCESS EXCLUSIVE MODE');
      const blocked = b.query('SELECT count(*) FROM work'); // waits for a's lock
      const seen = (await sampleWhere('a waiting lock and a long transaction', started, (s) =>
        s.connections.waiting >= 1 && s.locks.waiting >= 1 && s.connections.longest_transaction_seconds >= 1.5,
      )) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
      expect(seen.locks.by_mode.AccessExclusiveLock).toBeGreaterThanOrEqual(1);
      expect(seen.connections.by_state['idle in transaction'] + seen.connections.by_state.active).toBeGreaterThanOrEqual(2);
      expect(seen.schemas.public).toEqual({ tables: 1, views: 0 });
      await a.query('COMMIT');
      expect((await blocked).rows[0].count).toBe('50');
      // Counters reach pg_stat_database when a backend next reports its statistics (idle, at most once a second).
      await sampleWhere('the commits and inserted rows counted', started, (s) =>
        s.databases.app.xact_commit >= before.databases.app.xact_commit + 50 &&
        s.databases.app.tup_inserted >= before.databases.app.tup_inserted + 50,
      );
    } finally {
      await a.end();
      await b.end();
    }
    const summary = await api('/monitoring/watched/summary?window=1m');
    expect(summary.status).toBe(200);
    expect(summary.body.transactionsPerSecond).toBeGreaterThan(0);
    expect(summary.body.rowsWrittenPerSecond).toBeGreaterThan(0);
    expect(summary.body.container.memoryLimit).toBe(256 * 1024 * 1024);
  });

  it('rotates the file at its size limit and keeps the configured number of old files', async () => {
    await until('a second rotated file', () => existsSync(metricsFile + '.2'), 60_000);
    const rotatedSize = readFileSync(metricsFile + '.1').length;
    expect(rotatedSize).toBeGreaterThanOrEqual(8 * 1024);
    expect(rotatedSize).toBeLessThan(8 * 1024 + 4 * 1024); // one sample past the limit at most
    await sleep(3000);
    expect(existsSync(metricsFile + '.3')).toBe(false);
    const logs = await api('/monitoring/watched/agent/logs?tail=200');
    expect(logs.body.lines.some((l: string) => l.includes('rotated'))).toBe(true);
  });

  it('serves over REST and the CLI exactly what the files hold', async () => {
    const since = fileSamples()[0]!.ts_ms;
    const now = Date.now();
    const range = await api(`/monitoring/watched/metrics?since=${since}&until=${now}&limit=10000`);
    expect(range.status).toBe(200);
    const expected = fileSamples().filter((s) => s.ts_ms <= now);
    expect(range.body.samples).toEqual(expected);
    expect(range.body.corruptLines).toBe(0);

    const limited = await api(`/monitoring/watched/metrics?since=${since}&until=${now}&limit=3`);
    expect(limited.body.samples).toEqual(expected.slice(-3));
    expect(limited.body.truncated).toBe(true);

    // The newest sample in the file before the call: the answer holds it or a newer one (the
    // agent writes every second here, so a file read after the call may already hold the next).
    const newestBefore = fileSamples().at(-1)!.ts_ms;
    const latest = await api('/monitoring/watched/metrics/latest');
    expect(latest.body.current).toBe(true);
    expect(latest.body.sample.ts_ms).toBeGreaterThanOrEqual(newestBefore);

    const { stdout } = await run(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'metrics', 'watched', '--since', String(since), '--until', String(now), '--json'], { env: t.env });
    expect(JSON.parse(stdout).samples).toEqual(expected);
    const human = await run(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'metrics', 'watched', '--since', '1m'], { env: t.env });
    expect(human.stdout).toMatch(/TIME .*TPS/);
    expect(human.stdout).toContain('transactions/s');
    const status = await run(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'agent', 'status', 'watched', '--json'], { env: t.env });
    expect(JSON.parse(status.stdout)).toMatchObject({ running: true, healthy: true });
  });

  it('refreshes with --watch until interrupted, one JSON document per refresh', async () => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'metrics', 'watched', '--latest', '--watch', '--json'], { env: t.env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until('three refreshes', () => out.split('\n').filter((l) => l === '{').length >= 3 || undefined, 15_000);
    child.kill('SIGINT');
    expect(await new Promise((r) => child.once('exit', r))).toBe(0);
    const docs = out.split(/\n(?=\{\n)/).map((d) => JSON.parse(d));
    expect(docs.length).toBeGreaterThanOrEqual(3);
    for (const doc of docs) expect(doc).toMatchObject({ instance: created.id, current: true });
    expect(new Set(docs.map((d) => d.sample.ts)).size).toBeGreaterThan(1);
  });

  it('answers bad requests precisely', async () => {
    expect((await api('/monitoring/nobody/metrics')).status).toBe(404);
    expect((await api('/monitoring/nobody/agent')).status).toBe(404);
    const reversed = await api('/monitoring/watched/metrics?since=1m&until=10m');
    expect(reversed.status).toBe(422);
    expect(reversed.body.error.message).toMatch(/reversed/);
    expect((await api('/monitoring/watched/metrics?since=yesterday')).status).toBe(422);
    expect((await api('/monitoring/watched/metrics?limit=0')).status).toBe(422);
    expect((await api('/monitoring/watched/summary?window=forever')).status).toBe(422);
  });

  it('exports every instance in Prometheus text format that parses line by line', async () => {
    const res = await api('/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain/);
    const families = parsePrometheus(res.text) as Array<{ name: string; type: string; metrics: Array<{ labels?: Record<string, string>; value?: string }> }>;
    const family = (name: string) => families.find((f) => f.name === name);
    expect(family('dbaas_instance_up')?.metrics).toEqual([{ labels: { instance: created.id, name: 'watched' }, value: '1' }]);
    expect(family('dbaas_pg_xact_commit_total')?.type).toBe('COUNTER');
    expect(Number(family('dbaas_pg_xact_commit_total')?.metrics.find((m) => m.labels?.database === 'app')?.value)).toBeGreaterThan(50);
    expect(family('dbaas_pg_connections')?.metrics.map((m) => m.labels?.state)).toContain('idle in transaction');
    expect(Number(family('dbaas_container_memory_limit_bytes')?.metrics[0]?.value)).toBe(256 * 1024 * 1024);
    // Every line is a comment (# HELP / # TYPE) or `name{labels} value`.
    for (const line of res.text.split('\n').filter(Boolean)) {
      expect(line).toMatch(/^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+)$/);
    }
  });

  it('restarts the agent on request, and with the instance', async () => {
    const before = await monitoring.agentStatus('watched');
    const restarted = await api('/monitoring/watched/agent/restart', 'POST');
    expect(restarted.status).toBe(200);
    expect(Date.parse(restarted.body.startedAt)).toBeGreaterThan(Date.parse(before.startedAt!));

    await t.manager.restart('watched');
    const after = Date.now();
    await sampleWhere('a sample after the restart', after, () => true);
    expect((await monitoring.agentStatus('watched')).running).toBe(true);
  });

  it('changes the sampling interval live: the agent is replaced, the server runs on', async () => {
    const serverName = created.containers.find((c) => c.service === 'postgres')!.name;
    const serverBefore = (await docker.getContainer(serverName).inspect()).State.StartedAt;
    const patched = await fetch(`${base}/instances/watched`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ monitoring: { intervalSec: 2 } }),
    });
    expect(patched.status).toBe(200);
    expect((await patched.json()).monitoring).toMatchObject({ intervalSec: 2, maxFileBytes: 8192, keepFiles: 2 });
    expect((await docker.getContainer(serverName).inspect()).State.StartedAt).toBe(serverBefore);
    const status = await until('the agent sampling every 2 s', async () => {
      const s = await monitoring.agentStatus('watched');
      return s.running && s.intervalSec === 2 && (s.samplesWritten ?? 0) >= 2 ? s : undefined;
    });
    expect(status.healthy).toBe(true);
    const recent = fileSamples().slice(-2);
    expect(recent[1]!.ts_ms - recent[0]!.ts_ms).toBeGreaterThanOrEqual(1900);
  });

  it('never presents old numbers as current once the instance is stopped, and skips corrupt lines', async () => {
    await t.manager.stop('watched');
    const latest = await api('/monitoring/watched/metrics/latest');
    expect(latest.body.current).toBe(false);
    const prom = await api('/metrics');
    expect(prom.text).toContain(`dbaas_instance_up{instance="${created.id}",name="watched"} 0`);
    expect(prom.text).not.toContain('dbaas_pg_xact_commit_total{');
    const agent = await api('/monitoring/watched/agent');
    expect(agent.body).toMatchObject({ running: false, healthy: false });

    appendFileSync(metricsFile, '{"ts": broken\nnot json at all\n');
    const range = await api('/monitoring/watched/metrics?since=10m');
    expect(range.status).toBe(200);
    expect(range.body.corruptLines).toBe(2);
    expect(range.body.samples.length).toBeGreaterThan(0);
    expect((await api('/monitoring/watched/metrics/latest')).body.corruptLines).toBe(2);
    await t.manager.start('watched');
  });
});

describe('the keepers of `dbaas serve`', () => {
  let t: TestHome;
  let child: ChildProcess | undefined;
  let created: CreatedInstance;
  let agentName: string;
  const logText = () => readFileSync(join(t.home, 'logs', 'provisioning.log'), 'utf8');

  beforeAll(async () => {
    t = makeHome(21950, { DBAAS_WATCHDOG_INTERVAL: '1' });
    created = await t.manager.create({ name: 'guarded', memory: '128m', cpus: 0.5, monitoring: { intervalSec: 1 } });
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'serve', '--port', String(port)], { env: t.env, stdio: 'ignore' });
    agentName = created.containers.find((c) => c.service === 'agent')!.name;
    await until('the agent running', async () => (await docker.getContainer(agentName).inspect()).State.Running);
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await t.cleanup();
  });

  it('start an agent that was stopped while the server runs (the doctor\'s agent-down repair)', async () => {
    await docker.getContainer(agentName).stop({ t: 2 }); // a stop that the restart policy respects
    await until('the keeper to start the agent', async () => (await docker.getContainer(agentName).inspect()).State.Running, 20_000);
    const line = await until('the repair log line', () =>
      logText().split('\n').find((l) => l.includes('doctor repaired') && l.includes('agent-down') && l.includes(created.id)),
    );
    expect(line).toContain('its monitoring agent is exited');
    expect(logText()).not.toContain('watchdog restarted the monitoring agent');
  });

  it('restart an agent that runs but no longer samples (the watchdog), and only that one', async () => {
    await docker.getContainer(agentName).pause(); // hung: the engine still calls it running
    const line = await until(
      'the watchdog log line',
      () => logText().split('\n').find((l) => l.includes('watchdog restarted the monitoring agent') && l.includes(created.id)),
      45_000,
    ).catch((e) => { console.log(logText()); throw e; });
    expect(line).toMatch(/no good sample for \d+(\.\d+)? s/);
    const state = await until('the agent running unpaused', async () => {
      const s = (await docker.getContainer(agentName).inspect()).State;
      return s.Running && !s.Paused ? s : undefined;
    }, 20_000);
    expect(state.Paused).toBe(false);
  });
});
