import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import type { BackupView } from '../../src/backups/schema.js';
import { hashFile } from '../../src/backups/fileSink.js';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { createLogger } from '../../src/log/logger.js';
import { adminToken, makeHome, query, until, type TestHome } from './helpers.js';

/**
 * Backups and restores against a real engine and real servers (issue 9): continuous archiving,
 * base backups and dumps with their manifests, point-in-time restores (also of a deleted
 * instance), logical restores with their roles, verification and what it finds when a backup
 * file or an archived WAL segment is damaged, the REST routes and their operations.
 */

let t: TestHome;
let source: CreatedInstance;
let physical: BackupView;
let server: Server;
let base: string;
let token: string;
const made: string[] = [];

async function superuserQuery(ref: string, sql: string, database = 'app'): Promise<pg.QueryResultRow[]> {
  const record = await t.manager.record(ref);
  const client = new pg.Client({ ...t.manager.superuserTarget(record), database });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

async function batches(connectionString: string): Promise<Array<{ batch: number; n: number }>> {
  return query(connectionString, 'SELECT batch, count(*)::int AS n FROM events GROUP BY batch ORDER BY batch');
}

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), ...args], { env: t.env, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  t = makeHome(23300);
  source = await t.manager.create({ name: 'orders', memory: '128m' });
  made.push(source.id);
  token = await adminToken(t);
  const app = createApp(t.services, createLogger({ consoleLevel: 'silent' }));
  await new Promise<void>((resolve) => {
    server = app.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await t?.services.close();
  await t?.cleanup();
});

describe('continuous WAL archiving', () => {
  it('archives every instance into its own archive from the start, and info shows it', async () => {
    await query(source.connectionString, 'CREATE TABLE events (batch int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())');
    await superuserQuery(source.id, 'SELECT pg_switch_wal()');
    const walDir = t.services.backups.repository.walDir(source.id);
    expect(walDir).toBe(join(t.home, 'instances', source.id, 'backups', 'wal'));
    await until('a segment in the archive', () => readdirSync(walDir).some((n) => /^[0-9A-F]{24}$/.test(n)));
    const status = await t.services.backups.status(source.id);
    expect(status.archive.enabled).toBe(true);
    expect(status.archive.lastArchivedWal).toMatch(/^[0-9A-F]{24}$/);
    expect(status.archive.ageSeconds).toBeLessThan(60);
    expect(status.backups).toBe(0);
    const info = cli('info', 'orders');
    expect(info.status).toBe(0);
    expect(info.stdout).toMatch(/wal archive\s+[0-9A-F]{24}, [\d.]+ s ago/);
    expect(info.stdout).toMatch(/restorable from\s+no physical backup yet/);
  });
});

describe('backups', () => {
  it('takes a base backup with a manifest of checksums and the WAL range', async () => {
    physical = await t.services.backups.create('orders', { type: 'physical', label: 'before the batches' });
    expect(physical).toMatchObject({ instance: source.id, name: 'orders', type: 'physical', label: 'before the batches', trigger: 'manual', version: 15 });
    expect(physical.serverVersion).toMatch(/^15\./);
    expect(physical.wal?.startLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(physical.files.map((f) => f.name)).toEqual(['base.tar', 'backup_manifest']);
    for (const file of physical.files) expect(await hashFile(join(physical.path, file.name))).toEqual({ sha256: file.sha256, size: file.size });
    // pg_basebackup's own manifest lies beside the tar, naming the files inside it.
    const listing = spawnSync('tar', ['-tf', join(physical.path, 'base.tar')], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).stdout.split('\n');
    expect(listing).toContain('PG_VERSION');
    expect(JSON.parse(readFileSync(join(physical.path, 'backup_manifest'), 'utf8')).Files.some((f: { Path: string }) => f.Path === 'PG_VERSION')).toBe(true);
    expect(t.services.backups.show(physical.id).id).toBe(physical.id);
  });

  it('restores to a point in time between two commits exactly, and to the newest state', async () => {
    await query(source.connectionString, 'INSERT INTO events (batch) SELECT 1 FROM generate_series(1, 11)');
    await sleep(1100);
    await query(source.connectionString, 'INSERT INTO events (batch) SELECT 2 FROM generate_series(1, 22)');
    await sleep(1100);
    const between = new Date().toISOString();
    await sleep(1100);
    await query(source.connectionString, 'INSERT INTO events (batch) SELECT 3 FROM generate_series(1, 33)');

    const atT2 = await t.services.backups.restore('orders', { as: 'orders-t2', toTime: between });
    made.push(atT2.id);
    expect(atT2.restore).toMatchObject({ backup: physical.id, target: `time ${between}` });
    expect(await batches(atT2.connectionString)).toEqual([
      { batch: 1, n: 11 },
      { batch: 2, n: 22 },
    ]);
    // Its own secrets, port and archive.
    expect(atT2.port).not.toBe(source.port);
    expect(atT2.database).toBe('app');
    expect((await t.manager.record(atT2.id)).adminPassword).not.toBe((await t.manager.record(source.id)).adminPassword);

    const latest = await t.services.backups.restore('orders', { as: 'orders-latest', latest: true });
    made.push(latest.id);
    expect(await batches(latest.connectionString)).toEqual([
      { batch: 1, n: 11 },
      { batch: 2, n: 22 },
      { batch: 3, n: 33 },
    ]);
    // The restored instance archives into its own archive, on its new timeline.
    await superuserQuery(latest.id, 'SELECT pg_switch_wal()');
    await until('the restored instance archiving', () =>
      readdirSync(t.services.backups.repository.walDir(latest.id)).some((n) => /^00000002[0-9A-F]{16}$/.test(n)),
    );
  });

  it('refuses a target the archive cannot reach, before making anything', async () => {
    const before = (await t.manager.records()).length;
    await expect(t.services.backups.restore('orders', { as: 'too-early', toTime: '2020-01-01T00:00:00Z' })).rejects.toMatchObject({ code: 'RESTORE_TARGET_UNREACHABLE' });
    await expect(t.services.backups.restore('orders', { as: 'too-late', toTime: '2099-01-01T00:00:00Z' })).rejects.toMatchObject({ code: 'RESTORE_TARGET_UNREACHABLE' });
    await expect(t.services.backups.restore('orders', { as: 'both', toTime: '2026-01-01T00:00:00Z', latest: true })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await t.manager.records()).length).toBe(before);
    const r = cli('restore', 'orders', '--as', 'too-early', '--to-time', '2020-01-01T00:00:00Z');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('RESTORE_TARGET_UNREACHABLE');
  });

  it('restores a logical backup into a new instance with the same tables, row counts and roles', async () => {
    await superuserQuery(source.id, "CREATE ROLE reader NOLOGIN; CREATE ROLE \"Report Team\" LOGIN PASSWORD 'x'; GRANT reader TO \"Report Team\"");
    await query(source.connectionString, 'CREATE SCHEMA sales; CREATE TABLE sales."Q1 orders" (id int PRIMARY KEY); INSERT INTO sales."Q1 orders" SELECT generate_series(1, 5)');
    await superuserQuery(source.id, 'GRANT USAGE ON SCHEMA sales TO reader; GRANT SELECT ON events, sales."Q1 orders" TO reader');
    const logical = await t.services.backups.create('orders', { type: 'logical' });
    expect(logical.rowCounts).toEqual({ 'public.events': 66, 'sales.Q1 orders': 5 });
    expect(logical.files.map((f) => f.name).sort()).toEqual(['database.pgdump', 'roles.sql']);

    const copy = await t.services.backups.restore(logical.id, { as: 'orders-logical' });
    made.push(copy.id);
    expect(await batches(copy.connectionString)).toEqual([
      { batch: 1, n: 11 },
      { batch: 2, n: 22 },
      { batch: 3, n: 33 },
    ]);
    expect(await query(copy.connectionString, 'SELECT count(*)::int AS n FROM sales."Q1 orders"')).toEqual([{ n: 5 }]);
    const roles = await superuserQuery(copy.id, "SELECT rolname FROM pg_roles WHERE rolname IN ('reader', 'Report Team', 'app') ORDER BY 1", 'postgres');
    expect(roles.map((r) => r.rolname)).toEqual(['Report Team', 'app', 'reader']);
    const grants = await superuserQuery(copy.id, "SELECT has_table_privilege('reader', 'sales.\"Q1 orders\"', 'SELECT') AS ok, pg_has_role('Report Team', 'reader', 'member') AS member");
    expect(grants).toEqual([{ ok: true, member: true }]);
    // The new instance's application password is its own: the source's stays with the source.
    expect((copy as { password?: string }).password).toMatch(/.{16,}/);
    expect((copy as { password?: string }).password).not.toBe(source.password);

    const verified = await t.services.backups.verify(logical.id, { restore: true });
    expect(verified.verification).toMatchObject({ ok: true, restored: true, problems: [] });
  });

  it('verifies a base backup with pg_verifybackup and a real restore', async () => {
    const verified = await t.services.backups.verify(physical.id, { restore: true });
    expect(verified.verification).toMatchObject({ ok: true, restored: true, problems: [] });
    expect(t.services.backups.show(physical.id).verification?.ok).toBe(true);
  });

  it('exports the backup and archive figures to Prometheus', async () => {
    const { text } = await t.services.monitoring.prometheus();
    const line = (name: string) => text.split('\n').find((l) => l.startsWith(`${name}{instance="${source.id}"`));
    expect(Number(line('dbaas_backup_last_success_timestamp_seconds')?.split(' ').at(-1))).toBeGreaterThan(Date.now() / 1000 - 600);
    expect(Number(line('dbaas_backup_last_size_bytes')?.split(' ').at(-1))).toBeGreaterThan(0);
    expect(Number(line('dbaas_wal_archive_last_success_timestamp_seconds')?.split(' ').at(-1))).toBeGreaterThan(Date.now() / 1000 - 600);
  });
});

describe('the REST routes', () => {
  it('takes a backup as an operation to poll, and lists it', async () => {
    const started = await call('POST', '/instances/orders/backups', { type: 'physical', label: 'over http' });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ kind: 'backup', target: source.id, status: 'running' });
    const done = await until('the backup operation', async () => {
      const op = await call('GET', `/operations/${started.body.id}`);
      return op.body.status !== 'running' ? op.body : undefined;
    }, 120_000);
    expect(done.status).toBe('succeeded');
    expect(done.result).toMatchObject({ type: 'physical', label: 'over http', instance: source.id });
    const listed = await call('GET', '/instances/orders/backups');
    expect(listed.body.backups.map((b: BackupView) => b.id)).toContain(done.result.id);
    const one = await call('GET', `/backups/${done.result.id}`);
    expect(one.status).toBe(200);
    const info = await call('GET', '/instances/orders');
    expect(info.body.backups.lastBackup.id).toBe(done.result.id);
    expect(info.body.backups.archive.lastArchivedWal).toMatch(/^[0-9A-F]{24}$/);
    const deleted = await call('DELETE', `/backups/${done.result.id}`);
    expect(deleted.status).toBe(200);
    expect((await call('GET', `/backups/${done.result.id}`)).status).toBe(404);
  });

  it('answers bad requests with 4xx codes and starts nothing', async () => {
    expect((await call('POST', '/instances/orders/backups', { type: 'incremental' })).status).toBe(422);
    expect((await call('POST', '/instances/nothere/backups', {})).body.error.code).toBe('INSTANCE_NOT_FOUND');
    expect((await call('GET', '/backups/bk_nope')).status).toBe(422);
    expect((await call('GET', '/backups/bk_20200101000000abcd')).body.error.code).toBe('BACKUP_NOT_FOUND');
    const unreachable = await call('POST', '/instances/orders/restore', { as: 'nope', toTime: '2020-01-01T00:00:00Z' });
    expect(unreachable.status).toBe(422);
    expect(unreachable.body.error.code).toBe('RESTORE_TARGET_UNREACHABLE');
    expect((await call('GET', '/operations/op_nothere')).body.error.code).toBe('OPERATION_NOT_FOUND');
  });
});

describe('a restore in place', () => {
  it('takes a safety backup first, then puts the data back as it was at the target, on the same port and login', async () => {
    const beforeMistake = new Date().toISOString();
    await sleep(1100);
    await query(source.connectionString, 'DELETE FROM events WHERE batch = 1');
    expect((await batches(source.connectionString)).map((b) => b.batch)).toEqual([2, 3]);
    const restored = await t.services.backups.restore('orders', { inPlace: true, toTime: beforeMistake });
    expect(restored).toMatchObject({ id: source.id, port: source.port, status: 'running' });
    const safety = t.services.backups.show((restored as { restore: { safetyBackup: string } }).restore.safetyBackup);
    expect(safety).toMatchObject({ trigger: 'safety', type: 'physical', instance: source.id });
    expect(await batches(source.connectionString)).toEqual([
      { batch: 1, n: 11 },
      { batch: 2, n: 22 },
      { batch: 3, n: 33 },
    ]);
    const folders = readdirSync(join(t.home, 'instances', source.id));
    expect(folders).not.toContain('data.restoring');
    expect(folders).not.toContain('data.before-restore');
  });

  it('that fails leaves the instance as it was, running on its data', async () => {
    await query(source.connectionString, 'INSERT INTO events (batch) VALUES (9)');
    const rows = (await superuserQuery(source.id, 'SELECT pg_current_wal_lsn()::text AS lsn', 'postgres')) as Array<{ lsn: string }>;
    const target = rows[0]?.lsn as string;
    const backupsBefore = (await t.services.backups.list('orders')).length;
    // Planned (the archive reaches the target), then the archived segments become unreadable to
    // the recovery: it replays only the backup's own WAL and ends short of the target, after the
    // safety backup was taken (from the server, not the archive).
    const prepared = await t.services.backups.prepareRestore('orders', { inPlace: true, toLsn: target });
    const walDir = t.services.backups.repository.walDir(source.id);
    const segments = readdirSync(walDir).filter((n) => /^[0-9A-F]{24}$/.test(n));
    for (const name of segments) chmodSync(join(walDir, name), 0o000);
    try {
      await expect(t.services.backups.runPreparedInPlace(prepared)).rejects.toMatchObject({ code: 'OPERATION_FAILED' });
    } finally {
      for (const name of segments) chmodSync(join(walDir, name), 0o600);
    }
    expect((await t.manager.get('orders')).status).toBe('running');
    expect((await batches(source.connectionString)).find((b) => b.batch === 9)).toEqual({ batch: 9, n: 1 });
    // The safety backup was taken before anything else, and stays.
    const after = await t.services.backups.list('orders');
    expect(after.length).toBe(backupsBefore + 1);
    expect(after.at(-1)?.trigger).toBe('safety');
    expect(readdirSync(join(t.home, 'instances', source.id))).not.toContain('data.restoring');
    await query(source.connectionString, 'DELETE FROM events WHERE batch = 9');
  });

  it('is refused without a confirmation on the command line, and for a logical backup', async () => {
    const r = cli('restore', 'orders', '--in-place');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('without --yes');
    const logical = (await t.services.backups.list('orders')).find((b) => b.type === 'logical') as BackupView;
    await expect(t.services.backups.restore(logical.id, { inPlace: true })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(t.services.backups.restore('orders', { inPlace: true, as: 'x' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});

describe('a clone', () => {
  it('of an instance without a base backup takes one of the live server, and has its newest state', async () => {
    const fresh = await t.manager.create({ name: 'fresh', memory: '128m' });
    made.push(fresh.id);
    await query(fresh.connectionString, 'CREATE TABLE notes (id int PRIMARY KEY); INSERT INTO notes SELECT generate_series(1, 7)');
    const first = await t.services.backups.clone('fresh', 'fresh-copy');
    expect(await query(first.connectionString, 'SELECT count(*)::int AS n FROM notes')).toEqual([{ n: 7 }]);
    const taken = await t.services.backups.list('fresh');
    expect(taken.map((b) => [b.type, b.label])).toEqual([['physical', 'for a clone']]);
    // The next clone starts from that backup and replays up to now: no second backup.
    await query(fresh.connectionString, 'INSERT INTO notes VALUES (8)');
    const second = await t.services.backups.clone('fresh', 'fresh-copy-2');
    expect(await query(second.connectionString, 'SELECT count(*)::int AS n FROM notes')).toEqual([{ n: 8 }]);
    expect((await t.services.backups.list('fresh')).length).toBe(1);
    expect(cli('clone', 'fresh', 'fresh-copy').stderr).toContain('NAME_TAKEN');
  });
});

describe('a deleted instance', () => {
  it('keeps its backups and archive: listed, and restorable to its newest state', async () => {
    const deleted = cli('delete', 'orders', '--yes');
    expect(deleted.status).toBe(0);
    const listed = cli('backup', 'list', '--json');
    const backups = (JSON.parse(listed.stdout) as { backups: BackupView[] }).backups.filter((b) => b.instance === source.id);
    expect(backups.map((b) => b.id)).toContain(physical.id);
    expect(backups.every((b) => b.instanceDeleted)).toBe(true);

    const revived = await t.services.backups.restore('orders', { as: 'orders-revived', latest: true });
    made.push(revived.id);
    expect(await batches(revived.connectionString)).toEqual([
      { batch: 1, n: 11 },
      { batch: 2, n: 22 },
      { batch: 3, n: 33 },
    ]);
  });

  it('names a damaged backup file and a missing WAL segment; a restore refuses both', async () => {
    const walDir = t.services.backups.repository.walDir(source.id);
    // A flipped byte in the middle of the base backup.
    const tar = join(physical.path, 'base.tar');
    const bytes = readFileSync(tar);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    writeFileSync(tar, bytes);
    const damaged = await t.services.backups.verify(physical.id);
    expect(damaged.verification?.ok).toBe(false);
    expect(damaged.verification?.problems.join('\n')).toContain('base.tar does not match its sha256');
    await expect(t.services.backups.restore(physical.id, { as: 'from-damaged' })).rejects.toMatchObject({ code: 'BACKUP_CORRUPT' });
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    writeFileSync(tar, bytes);

    // A segment of the archive after the backup's end, removed.
    const end = physical.wal?.endSegment as string;
    const later = readdirSync(walDir).filter((n) => /^[0-9A-F]{24}$/.test(n) && n.slice(8) > end.slice(8)).sort();
    expect(later.length).toBeGreaterThan(1);
    const victim = later[0] as string;
    rmSync(join(walDir, victim));
    const gap = await t.services.backups.verify(physical.id);
    expect(gap.verification?.ok).toBe(false);
    expect(gap.verification?.problems.join('\n')).toContain(`WAL segment ${victim} is missing from the archive`);
    const refused = cli('restore', physical.id, '--as', 'from-gap');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(victim);
    expect(existsSync(join(t.home, 'instances'))).toBe(true);
    expect((await t.manager.records()).map((r) => r.name)).not.toContain('from-gap');
  });

  it('loses its archive with its last backup: deleting them all leaves nothing of it', async () => {
    for (const b of await t.services.backups.list('orders')) {
      const r = cli('backup', 'delete', b.id, '--yes');
      expect(r.status).toBe(0);
    }
    expect(existsSync(join(t.home, 'instances', source.id))).toBe(false);
    await expect(t.services.backups.list('orders')).rejects.toMatchObject({ code: 'INSTANCE_NOT_FOUND' });
  });
});
