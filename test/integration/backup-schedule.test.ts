import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupScheduler } from '../../src/backups/scheduler.js';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { createLogger } from '../../src/log/logger.js';
import { freePort, makeHome, until, type TestHome } from './helpers.js';

/**
 * Scheduled backups (issue 9): a job due every minute runs under `dbaas serve`; a run missed
 * while no server ran is made up at its start and reported as made up; two schedulers never run
 * the same job twice.
 */

let t: TestHome;
let db: CreatedInstance;
let serve: ChildProcess | undefined;

async function startServe(): Promise<ChildProcess> {
  const port = await freePort();
  const proc = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'serve', '--port', String(port)], {
    env: { ...t.env, DBAAS_SCHEDULER_INTERVAL: '1' },
    stdio: 'ignore',
  });
  await until('dbaas serve', () => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false), 30_000);
  return proc;
}

async function stopServe(): Promise<void> {
  if (!serve) return;
  const proc = serve;
  serve = undefined;
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
}

beforeAll(async () => {
  t = makeHome(23400);
  db = await t.manager.create({ name: 'nightly', memory: '128m' });
});

afterAll(async () => {
  await stopServe();
  await t?.services.close();
  await t?.cleanup();
});

describe('scheduled backups', () => {
  it('are set, shown and refused when the cron expression is wrong', () => {
    const bad = spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'backup', 'schedule', 'nightly', '--cron', '0 25 * * *'], { env: t.env, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('VALIDATION_FAILED');
    const set = spawnSync(
      process.execPath,
      [join(PROJECT_ROOT, 'bin', 'dbaas'), 'backup', 'schedule', 'nightly', '--cron', '0 3 * * *', '--keep-last', '2', '--json'],
      { env: t.env, encoding: 'utf8' },
    );
    expect(set.status).toBe(0);
    expect(JSON.parse(set.stdout).schedule).toMatchObject({ cron: '0 3 * * *', type: 'physical', keepLast: 2, verify: 'never' });
  });

  it('make up a run missed while no server ran, at the start of dbaas serve, and report it', async () => {
    // The schedule existed two days ago: this morning's 03:00 run (at least) was missed.
    await t.manager.updateRecord(db.id, (rec) => {
      if (rec.backupSchedule) rec.backupSchedule.setAt = new Date(Date.now() - 2 * 24 * 3600_000).toISOString();
    });
    serve = await startServe();
    const run = await until('the made-up run', async () => (await t.services.backups.schedule('nightly'))?.lastRun, 60_000);
    expect(run).toMatchObject({ ok: true, madeUp: true, error: null });
    expect(run.dueAt).toMatch(/T03:00:00\.000Z$/);
    const backups = await t.services.backups.list('nightly');
    expect(backups.map((b) => [b.id, b.trigger])).toEqual([[run.backup, 'schedule']]);
    // Only once: the next rounds owe nothing until tomorrow's 03:00.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await t.services.backups.list('nightly')).length).toBe(1);
    const info = spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'info', 'nightly'], { env: t.env, encoding: 'utf8' });
    expect(info.stdout).toMatch(/last run\s+\S+: ok, bk_\S+ \(made up for \S+T03:00:00\.000Z\)/);
  });

  it('run a job due every minute under dbaas serve, with retention', async () => {
    const set = await t.services.backups.setSchedule('nightly', { cron: '* * * * *', keepLast: 1 });
    const run = await until(
      'a run of the every-minute schedule',
      async () => {
        const last = (await t.services.backups.schedule('nightly'))?.lastRun;
        return last && Date.parse(last.dueAt) > Date.parse(set.setAt) ? last : undefined;
      },
      75_000,
    );
    expect(run).toMatchObject({ ok: true, madeUp: false });
    // keepLast 1: the made-up backup went, and the WAL before the new one with it.
    expect(run.removedBackups).toHaveLength(1);
    expect((await t.services.backups.list('nightly')).map((b) => b.id)).toEqual([run.backup]);
    await stopServe();
  }, 120_000);

  it('never run the same job twice when two schedulers share the registry', async () => {
    await t.services.backups.setSchedule('nightly', { cron: '0 3 * * *' });
    await t.manager.updateRecord(db.id, (rec) => {
      if (rec.backupSchedule) rec.backupSchedule.setAt = new Date(Date.now() - 2 * 24 * 3600_000).toISOString();
    });
    const before = (await t.services.backups.list('nightly')).length;
    const logger = createLogger({ consoleLevel: 'silent' });
    const one = new BackupScheduler(t.manager, t.services.backups, logger, 1000);
    const two = new BackupScheduler(t.manager, t.services.backups, logger, 1000);
    const [a, b] = await Promise.all([one.tick(), two.tick()]);
    expect([...a, ...b]).toEqual([db.id]);
    expect((await t.services.backups.list('nightly')).length).toBe(before + 1);
  });
});
