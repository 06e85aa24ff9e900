import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { containerNameFor } from '../../src/provisioner/provisioner.js';
import { docker, makeHome, query, until, type TestHome } from './helpers.js';

/**
 * What goes wrong with backups (issue 9): a backup killed half-way, an archive that cannot be
 * written, a repository that is full. Nothing half-made is ever listed as good, the instance
 * keeps serving, and the failure shows in the instance's backup status and in /metrics.
 */

let t: TestHome;
let db: CreatedInstance;

/** Every backup folder of an area, listed or not (complete ones and parts). */
function folders(area: string): string[] {
  return existsSync(area) ? readdirSync(area).filter((n) => n.includes('bk_')) : [];
}

beforeAll(async () => {
  t = makeHome(23350);
  db = await t.manager.create({ name: 'faulty', memory: '256m', monitoring: { intervalSec: 1 } });
  // About 150 MB of rows: a base backup takes long enough to be interrupted.
  await query(db.connectionString, "CREATE TABLE big AS SELECT g, repeat(md5(g::text), 30) AS pad FROM generate_series(1, 150000) g");
});

afterAll(async () => {
  await t?.services.close();
  await t?.cleanup();
});

describe('an interrupted backup', () => {
  it('killed with its process is never listed, and the instance keeps serving', async () => {
    const area = t.services.backups.repository.areaOf(db.id);
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'backup', 'create', 'faulty', '--json'], { env: t.env, stdio: 'ignore' });
    await until('the backup writing', () => {
      const part = folders(area).find((n) => n.startsWith('.part-'));
      return part !== undefined && existsSync(join(area, part, 'base.tar')) && statSync(join(area, part, 'base.tar')).size > 1024 * 1024;
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(await t.services.backups.list('faulty')).toEqual([]);
    expect(folders(area).every((n) => n.startsWith('.part-'))).toBe(true);
    expect(await query(db.connectionString, 'SELECT count(*)::int AS n FROM big')).toEqual([{ n: 150000 }]);
    // The killed process's claim does not hold the instance: the next backup runs and is listed.
    const next = await t.services.backups.create('faulty', { type: 'logical' });
    expect((await t.services.backups.list('faulty')).map((b) => b.id)).toEqual([next.id]);
  });

  it('whose tool dies inside the server fails with BACKUP_FAILED and leaves nothing behind', async () => {
    const area = t.services.backups.repository.areaOf(db.id);
    const before = folders(area);
    const server = docker.getContainer(containerNameFor(await t.manager.record(db.id)));
    const killer = (async () => {
      await until('pg_basebackup running', async () => {
        const top = await server.top({ ps_args: '-eo pid,comm' }).catch(() => ({ Processes: [] as string[][] }));
        return (top.Processes ?? []).some((p: string[]) => p.includes('pg_basebackup'));
      }, 20_000);
      const exec = await server.exec({ Cmd: ['pkill', '-KILL', '-x', 'pg_basebackup'], User: 'root' });
      await exec.start({});
    })();
    await expect(t.services.backups.create('faulty', { type: 'physical' })).rejects.toMatchObject({ code: 'BACKUP_FAILED' });
    await killer;
    expect(folders(area).sort()).toEqual(before.sort());
    expect(await query(db.connectionString, 'SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
  });
});

describe('an archive that cannot be written', () => {
  it('keeps the instance serving, and shows the failures in its status and in /metrics; archiving resumes when it can', async () => {
    const walDir = t.services.backups.repository.walDir(db.id);
    chmodSync(walDir, 0o000);
    try {
      await query(db.connectionString, 'INSERT INTO big SELECT g, $1 FROM generate_series(1, 1000) g', ['x']);
      await query(db.connectionString, 'SELECT 1');
      const record = await t.manager.record(db.id);
      const admin = t.manager.superuserTarget(record);
      await query(`postgresql://postgres:${encodeURIComponent(admin.password)}@${admin.host}:${admin.port}/postgres`, 'SELECT pg_switch_wal()');
      const status = await until('a failure sampled', async () => {
        const s = await t.services.backups.status(db.id);
        return (s.archive.failedCount ?? 0) > 0 ? s : undefined;
      }, 60_000);
      expect(status.archive.lastFailedWal).toMatch(/^[0-9A-F]{24}$/);
      expect(await query(db.connectionString, 'INSERT INTO big VALUES (-1, $1) RETURNING g', ['still serving'])).toEqual([{ g: -1 }]);
      const { text } = await t.services.monitoring.prometheus();
      const failures = text.split('\n').find((l) => l.startsWith(`dbaas_wal_archive_failures_total{instance="${db.id}"`));
      expect(Number(failures?.split(' ').at(-1))).toBeGreaterThan(0);
      const info = spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'info', 'faulty'], { env: t.env, encoding: 'utf8' });
      expect(info.stdout).toMatch(/archive failures\s+\d+; last: [0-9A-F]{24} at /);
      const failed = status.archive.lastFailedWal as string;
      chmodSync(walDir, 0o700);
      await until('the failed segment archived after all', () => existsSync(join(walDir, failed)), 90_000);
    } finally {
      chmodSync(walDir, 0o700);
    }
  });
});

describe('an archive that stays unwritable while WAL piles up', () => {
  let capped: TestHome;
  afterAll(async () => {
    await capped?.services.close();
    await capped?.cleanup();
  });

  it('gives segments up past DBAAS_ARCHIVE_MAX_PENDING instead of filling the disk, and says so; a restore across the gap is refused', async () => {
    capped = makeHome(23380, { DBAAS_ARCHIVE_MAX_PENDING: '64m' });
    const small = await capped.manager.create({ name: 'capped', memory: '256m', pgSettings: { max_wal_size: '64MB', min_wal_size: '32MB' } });
    const base = await capped.services.backups.create('capped', { type: 'physical' });
    const walDir = capped.services.backups.repository.walDir(small.id);
    chmodSync(walDir, 0o000);
    try {
      // About 200 MB of WAL while nothing can be archived.
      for (let i = 0; i < 4; i++) {
        await query(small.connectionString, `CREATE TABLE IF NOT EXISTS filler (g int, pad text); INSERT INTO filler SELECT g, repeat(md5(g::text), 16) FROM generate_series(1, 100000) g`);
      }
      const status = await until('segments given up', async () => {
        const s = await capped.services.backups.status('capped');
        return s.archive.gaps.count > 0 ? s : undefined;
      }, 90_000);
      expect(status.archive.gaps.lastWal).toMatch(/^[0-9A-F]{24}$/);
      const { text } = await capped.services.monitoring.prometheus();
      const gaps = text.split('\n').find((l) => l.startsWith(`dbaas_wal_archive_gaps_total{instance="${small.id}"`));
      expect(Number(gaps?.split(' ').at(-1))).toBeGreaterThan(0);
      // pg_wal stays bounded (the pending limit plus max_wal_size and a little), and the server serves.
      const admin = capped.manager.superuserTarget(await capped.manager.record(small.id));
      const su = `postgresql://postgres:${encodeURIComponent(admin.password)}@${admin.host}:${admin.port}/postgres`;
      await query(su, 'CHECKPOINT');
      const [wal] = await query<{ mb: number }>(su, 'SELECT (sum(size) / 1048576)::int AS mb FROM pg_ls_waldir()');
      expect(wal?.mb).toBeLessThan(180);
      expect(await query(small.connectionString, 'SELECT count(*)::int AS n FROM filler')).toEqual([{ n: 400000 }]);
      const info = spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'info', 'capped'], { env: capped.env, encoding: 'utf8' });
      expect(info.stdout).toMatch(/archive gaps\s+\d+ segments given up/);
    } finally {
      chmodSync(walDir, 0o700);
    }
    // Archiving resumes; a restore from the backup before the gap would replay across it: refused, naming it.
    await until('archiving resumed', async () => ((await capped.services.backups.status('capped')).archive.ageSeconds ?? 999) < 30, 90_000);
    const refused = await capped.services.backups.restore(base.id, { as: 'across-gap' }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'BACKUP_CORRUPT' });
    expect((refused as Error).message).toMatch(/lacks segment\(s\) [0-9A-F]{24}/);
  }, 240_000);
});

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('a full repository (a small tmpfs)', () => {
  let full: TestHome;
  const mountPoint = join(tmpdir(), `dbaas-full-repo-${process.pid}`);

  beforeAll(() => {
    mkdirSync(mountPoint, { recursive: true });
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mountPoint], { encoding: 'utf8' });
    if (mounted.status !== 0) throw new Error(`mount failed: ${mounted.stderr}`);
    full = makeHome(23390, { DBAAS_BACKUP_REPOSITORY: mountPoint });
  });

  afterAll(async () => {
    await full?.services.close();
    await full?.cleanup();
    spawnSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('fails a backup that does not fit with BACKUP_FAILED, lists nothing, and the instance keeps serving', async () => {
    const small = await full.manager.create({ name: 'cramped', memory: '128m', monitoring: { intervalSec: 1 } });
    await query(small.connectionString, "CREATE TABLE pad AS SELECT g, repeat(md5(g::text), 20) AS t FROM generate_series(1, 60000) g");
    const error = await full.services.backups.create('cramped', { type: 'physical' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BACKUP_FAILED' });
    expect(await full.services.backups.list('cramped')).toEqual([]);
    const area = full.services.backups.repository.areaOf(small.id);
    expect(area.startsWith(mountPoint)).toBe(true);
    expect(folders(area)).toEqual([]);
    expect(await query(small.connectionString, 'SELECT count(*)::int AS n FROM pad')).toEqual([{ n: 60000 }]);
    // The archive does not fit either: the server goes on, and the failures show.
    const record = await full.manager.record(small.id);
    const admin = full.manager.superuserTarget(record);
    const su = `postgresql://postgres:${encodeURIComponent(admin.password)}@${admin.host}:${admin.port}/postgres`;
    await query(su, 'SELECT pg_switch_wal()');
    await query(small.connectionString, 'INSERT INTO pad SELECT g, md5(g::text) FROM generate_series(1, 20000) g');
    await query(su, 'SELECT pg_switch_wal()');
    const status = await until('an archive failure sampled', async () => {
      const s = await full.services.backups.status(small.id);
      return (s.archive.failedCount ?? 0) > 0 ? s : undefined;
    }, 60_000);
    expect(status.archive.lastFailedWal).toMatch(/^[0-9A-F]{24}$/);
    // Never a half-copied segment under a segment's name.
    for (const name of readdirSync(full.services.backups.repository.walDir(small.id)).filter((n) => /^[0-9A-F]{24}$/.test(n))) {
      expect(statSync(join(full.services.backups.repository.walDir(small.id), name)).size).toBe(16 * 1024 * 1024);
    }
    expect(await query(small.connectionString, 'SELECT count(*)::int AS n FROM pad')).toEqual([{ n: 80000 }]);
  });
});
