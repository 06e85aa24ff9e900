import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { containersOf, docker, makeHome, query, type TestHome } from './helpers.js';

const MiB = 1024 * 1024;

describe('instance lifecycle against the real engine', () => {
  let t: TestHome;
  let created: CreatedInstance;
  const events: string[] = [];

  beforeAll(async () => {
    t = makeHome(21000);
    created = await t.manager.create(
      { name: 'life', memory: '256m', cpus: 0.5, database: 'shop', username: 'shopper' },
      (e) => events.push(`${e.step}:${e.phase}`),
    );
  });
  afterAll(async () => t.cleanup());

  it('returns a running instance with a connection string that logs in as the application role', async () => {
    expect(created.status).toBe('running');
    expect(created.connectionString).toBe(
      `postgresql://shopper:${created.password}@127.0.0.1:${created.port}/shop?sslmode=verify-full&sslrootcert=${join(t.home, 'config', 'ca', 'ca.crt')}`,
    );
    expect(created.port).toBeGreaterThanOrEqual(21000);
    expect(created.port).toBeLessThan(21050);
    const rows = await query(created.connectionString, 'SELECT current_user AS u, current_database() AS d');
    expect(rows[0]).toEqual({ u: 'shopper', d: 'shop' });
    expect(events).toEqual(
      ['validate', 'engine', 'image', 'template', 'reserve', 'files', 'tls', 'container', 'start', 'bootstrap', 'ready', 'access', 'agent', 'record'].flatMap((s) => [
        `${s}:start`,
        `${s}:done`,
      ]),
    );
  });

  it('gives the application role least privilege and creates the monitoring role', async () => {
    const rows = await query<{ rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean }>(
      created.connectionString,
      "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = 'shopper'",
    );
    expect(rows[0]).toEqual({ rolsuper: false, rolcreatedb: false, rolcreaterole: false });
    const monitor = await query<{ member: boolean }>(
      created.connectionString,
      "SELECT pg_has_role('dbaas_monitor', 'pg_monitor', 'member') AS member",
    );
    expect(monitor[0]?.member).toBe(true);
    await expect(query(created.connectionString, 'CREATE DATABASE other')).rejects.toThrow(/permission denied/);
    const maintenance = created.connectionString.replace(/\/shop\?/, '/postgres?');
    await expect(query(maintenance, 'SELECT 1')).rejects.toThrow(/permission denied for database "postgres"/);
  });

  it('lays out instances/<id>/ with the secrets file private and no password in the compose file', () => {
    const dir = join(t.home, 'instances', created.id);
    for (const sub of ['data', 'logs', 'scripts', 'backups']) expect(existsSync(join(dir, sub))).toBe(true);
    // Secrets are files the containers mount (issue 7), private to root, in a private folder.
    expect(existsSync(join(dir, 'secrets.env'))).toBe(false);
    expect(statSync(join(dir, 'secrets')).mode & 0o777).toBe(0o700);
    for (const file of ['postgres-password', 'agent.pgpass']) expect(statSync(join(dir, 'secrets', file)).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'secrets', 'postgres-password'), 'utf8')).not.toContain(created.password);
    const compose = readFileSync(join(dir, 'docker-compose.yml'), 'utf8');
    expect(compose).not.toContain(created.password);
    const scripts = readFileSync(join(dir, 'scripts', '01-init-users.sql'), 'utf8');
    expect(scripts).not.toContain(created.password);
    const registry = readFileSync(join(t.home, 'config', 'instances.json'), 'utf8');
    expect(registry).not.toContain(created.password);
    const log = readFileSync(join(t.home, 'logs', 'provisioning.log'), 'utf8');
    expect(log).toContain(created.id);
    expect(log).not.toContain(created.password);
  });

  it('applies the limits, labels, port and mounts that docker inspect shows', async () => {
    const info = await docker.getContainer(created.containers[0]!.name).inspect();
    expect(info.HostConfig.Memory).toBe(256 * MiB);
    expect(info.HostConfig.MemorySwap).toBe(256 * MiB);
    expect(info.HostConfig.NanoCpus).toBe(0.5e9);
    expect(info.HostConfig.ShmSize).toBe(64 * MiB);
    expect(info.HostConfig.PidsLimit).toBe(512);
    expect(info.HostConfig.RestartPolicy?.Name).toBe('unless-stopped');
    expect(info.HostConfig.PortBindings?.['5432/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: String(created.port) }]);
    expect(info.Config.Labels).toMatchObject({ 'dbaas.managed': 'true', 'dbaas.instance': created.id, 'dbaas.name': 'life' });
    expect(info.Mounts.find((m) => m.Destination === '/var/lib/postgresql/data')?.Source).toBe(
      join(t.home, 'instances', created.id, 'data'),
    );
    const settings = await query<{ setting: string }>(created.connectionString, "SELECT current_setting('shared_buffers') AS setting");
    expect(settings[0]?.setting).toBe('64MB'); // 25 % of 256m
  });

  it('keeps data across stop, start, restart and a new manager, with the observed status', async () => {
    await query(created.connectionString, 'CREATE TABLE items (id int PRIMARY KEY, name text)');
    await query(created.connectionString, "INSERT INTO items VALUES (1, 'kept'), (2, 'also kept')");

    const stopped = await t.manager.stop('life');
    expect(stopped.status).toBe('stopped');
    expect((await docker.getContainer(created.containers[0]!.name).inspect()).State.Running).toBe(false);

    const started = await t.manager.start(created.id);
    expect(started.status).toBe('running');
    expect(await query(created.connectionString, 'SELECT count(*)::int AS n FROM items')).toEqual([{ n: 2 }]);

    const restarted = await t.manager.restart('life');
    expect(restarted.status).toBe('running');

    // A second manager over the same home (what a restarted `dbaas serve` is) sees the same instance.
    const { createServices } = await import('../../src/services.js');
    const again = createServices(t.settings).manager;
    const view = await again.get('life');
    expect(view.status).toBe('running');
    expect(await query(created.connectionString, 'SELECT name FROM items ORDER BY id')).toEqual([
      { name: 'kept' },
      { name: 'also kept' },
    ]);
  });

  it('reports the engine-observed state when the container is stopped behind its back', async () => {
    const name = created.containers[0]!.name;
    await docker.getContainer(name).stop({ t: 10 });
    const view = await t.manager.get('life');
    expect(view.storedStatus).toBe('running');
    expect(view.status).toBe('stopped');
    await t.manager.start('life');
  });

  it('lists every instance with one engine call', async () => {
    const second = await t.manager.create({ name: 'life-two', memory: '128m', cpus: 0.2 });
    const listSpy = vi.spyOn(t.manager.engine, 'list');
    const inspectSpy = vi.spyOn(t.manager.engine, 'state');
    const views = await t.manager.list();
    expect(views.map((v) => [v.name, v.status]).sort()).toEqual([
      ['life', 'running'],
      ['life-two', 'running'],
    ]);
    expect(listSpy).toHaveBeenCalledTimes(1);
    expect(inspectSpy).not.toHaveBeenCalled();
    listSpy.mockRestore();
    inspectSpy.mockRestore();
    await t.manager.delete(second.id);
  });

  it('resizes memory and CPUs live, re-renders the compose file and applies derived settings on restart', async () => {
    const name = created.containers[0]!.name;
    const before = await docker.getContainer(name).inspect();
    const updated = await t.manager.update('life', { memory: '512m', cpus: 1 });
    expect(updated.memory).toBe(512 * MiB);
    expect(updated.cpus).toBe(1);
    expect(updated.pendingRestart).toBe(true);
    const live = await docker.getContainer(name).inspect();
    expect(live.HostConfig.Memory).toBe(512 * MiB);
    expect(live.HostConfig.NanoCpus).toBe(1e9);
    expect(live.State.StartedAt).toBe(before.State.StartedAt); // no restart happened
    const compose = readFileSync(join(t.home, 'instances', created.id, 'docker-compose.yml'), 'utf8');
    expect(compose).toContain('mem_limit: 536870912');
    expect(compose).toContain('"shared_buffers=128MB"');

    const restarted = await t.manager.restart('life');
    expect(restarted.pendingRestart).toBe(false);
    const rows = await query<{ s: string }>(created.connectionString, "SELECT current_setting('shared_buffers') AS s");
    expect(rows[0]?.s).toBe('128MB');
    expect(await query(created.connectionString, 'SELECT count(*)::int AS n FROM items')).toEqual([{ n: 2 }]);
  });

  it('reports stats and logs from the engine', async () => {
    const stats = await t.manager.stats('life');
    expect(stats.memoryLimit).toBe(512 * MiB);
    expect(stats.memoryUsed).toBeGreaterThan(0);
    expect(stats.pids).toBeGreaterThan(0);
    const lines = await t.manager.logs('life', 50);
    expect(lines.some((l) => l.includes('database system is ready to accept connections'))).toBe(true);
  });

  it('recreates a container that was removed behind its back (missing -> start)', async () => {
    const name = created.containers[0]!.name;
    await docker.getContainer(name).remove({ force: true });
    expect((await t.manager.get('life')).status).toBe('missing');
    const view = await t.manager.start('life');
    expect(view.status).toBe('running');
    expect(await query(created.connectionString, 'SELECT count(*)::int AS n FROM items')).toEqual([{ n: 2 }]);
  });

  it('deletes with --keep-data, leaving only the data folder', async () => {
    const extra = await t.manager.create({ name: 'keeper', memory: '128m', cpus: 0.2 });
    await query(extra.connectionString, 'CREATE TABLE k (x int)');
    const result = await t.manager.delete('keeper', { keepData: true });
    expect(result.keptData).toBe(join(t.home, 'instances', extra.id, 'data'));
    expect(existsSync(join(t.home, 'instances', extra.id, 'data', 'PG_VERSION'))).toBe(true);
    expect(existsSync(join(t.home, 'instances', extra.id, 'docker-compose.yml'))).toBe(false);
    expect(await containersOf(t.home, extra.id)).toHaveLength(0);
  });

  it('deletes an instance: container, folder and record are gone', async () => {
    const result = await t.manager.delete('life');
    expect(result.keptData).toBeNull();
    expect(await containersOf(t.home, created.id)).toHaveLength(0);
    expect(existsSync(join(t.home, 'instances', created.id))).toBe(false);
    await expect(t.manager.get('life')).rejects.toMatchObject({ code: 'INSTANCE_NOT_FOUND' });
  });
});
