import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { docker, makeHome, query, type TestHome } from '../integration/helpers.js';
import { restartEngine } from './engine.js';

/**
 * Issue 7, item 6: after the Docker engine restarts (a reboot, a crash), every instance and its
 * monitoring agent run and sample again, on their own and with `dbaas serve` watching. These tests
 * restart the engine of the machine, so they run alone, after the rest (vitest.engine.config.ts).
 */

const BIN = join(PROJECT_ROOT, 'bin', 'dbaas');

/** True once the agent wrote a sample after `sinceMs` that saw its server up. */
function sampledSince(file: string, sinceMs: number): boolean {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  return lines.some((line) => {
    const s = JSON.parse(line) as { ts_ms: number; up: boolean };
    return s.ts_ms > sinceMs && s.up;
  });
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

describe('instances and agents after engine restarts', () => {
  let t: TestHome;
  const created: CreatedInstance[] = [];
  const metrics = (c: CreatedInstance) => join(t.home, 'instances', c.id, 'logs', 'metrics.ndjson');
  const running = async (name: string) => (await docker.getContainer(name).inspect()).State.Running;

  beforeAll(async () => {
    t = makeHome(22800);
    for (const name of ['reboot-a', 'reboot-b']) {
      const c = await t.manager.create({ name, memory: '128m', cpus: 0.3, monitoring: { intervalSec: 1 } });
      await query(c.connectionString, `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('${name}')`);
      created.push(c);
    }
  });
  afterAll(async () => t.cleanup());

  async function expectAllBack(since: number): Promise<void> {
    for (const c of created) {
      for (const container of c.containers) await until(() => running(container.name), 60_000, `${container.name} to run`);
      await until(() => sampledSince(metrics(c), since), 60_000, `a fresh sample of ${c.name}`);
      expect(await query(c.connectionString, 'SELECT v FROM kept')).toEqual([{ v: c.name }]);
      expect((await t.manager.get(c.name)).status).toBe('running');
    }
  }

  it.each([1, 2, 3])('comes back by itself after a graceful engine restart (round %i), without dbaas serve', async () => {
    const since = Date.now();
    await restartEngine('SIGTERM');
    await expectAllBack(since);
  });

  it('comes back after the engine is killed (SIGKILL), with `dbaas serve` running through it', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const serve: ChildProcess = spawn(process.execPath, [BIN, 'serve', '--port', String(port)], { env: { ...t.env, DBAAS_WATCHDOG_INTERVAL: '1' }, stdio: 'ignore' });
    try {
      await until(() => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok), 20_000, 'dbaas serve');
      const since = Date.now();
      await restartEngine('SIGKILL');
      await expectAllBack(since);
      expect(serve.exitCode).toBeNull();
      const health = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.json() as Promise<{ status: string }>);
      expect(health.status).toBe('ok');
    } finally {
      serve.kill('SIGKILL');
    }
  });
});
