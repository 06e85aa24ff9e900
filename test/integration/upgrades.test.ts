import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import { DbaasError } from '../../src/errors.js';
import { containersOf, docker, makeHome, query, serveRemote, until, type TestHome } from './helpers.js';

/**
 * Major upgrades on real instances: 13 -> 15 -> 17 with --method link and dump, with data,
 * roles, a sequence, an extension, a view, a function and the privileges of another role
 * compared before and after (a catalog and row snapshot); an upgrade its checks refuse changes
 * nothing; an upgrade killed midway is finished by --rollback; a rollback after a successful
 * upgrade returns the old data, from the kept folder or from the safety backup; the WAL archive
 * goes on across the upgrade (a restore of "latest" sees a write made after it); the REST route
 * through the remote CLI, its operation and the steps in the audit trail.
 */

const run = promisify(execFile);
const name = 'upgraded';

/** SQL as the superuser, over the server container's socket (what a snapshot reads is the superuser's to see). */
async function superuserSql(t: TestHome, sql: string, database = 'app'): Promise<string> {
  const record = await t.manager.record(name);
  const container = record.containers.find((c) => c.service === 'postgres')?.name as string;
  const { stdout } = await run('docker', ['exec', '-u', 'postgres', container, 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', sql]);
  return stdout.trim();
}

const SNAPSHOT_SQL = `SELECT json_build_object(
  'relations', (SELECT json_agg(c.relname || ':' || c.relkind::text ORDER BY c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'),
  'columns', (SELECT json_agg(table_name || '.' || column_name || ':' || data_type ORDER BY table_name, ordinal_position) FROM information_schema.columns WHERE table_schema = 'public'),
  'roles', (SELECT json_agg(rolname || ':' || rolcanlogin || ':' || rolsuper ORDER BY rolname) FROM pg_roles WHERE rolname !~ '^pg_'),
  'grants', (SELECT json_agg(g ORDER BY g) FROM (SELECT grantee || ':' || table_name || ':' || privilege_type AS g FROM information_schema.role_table_grants WHERE table_schema = 'public') x),
  'extensions', (SELECT json_agg(extname ORDER BY extname) FROM pg_extension),
  'sequence', (SELECT last_value FROM items_id_seq),
  'rows', (SELECT count(*) FROM items),
  'digest', (SELECT md5(string_agg(id || '=' || note, ',' ORDER BY id)) FROM items),
  'hashed', (SELECT count(*) FROM items WHERE secret = digest(note, 'sha256')),
  'view', (SELECT count(*) FROM item_notes),
  'function', (SELECT double_it(21)),
  'reporterReads', has_table_privilege('reporter', 'public.items', 'SELECT'),
  'reporterWrites', has_table_privilege('reporter', 'public.items', 'INSERT')
)`;

async function snapshot(t: TestHome): Promise<Record<string, unknown>> {
  return JSON.parse(await superuserSql(t, SNAPSHOT_SQL)) as Record<string, unknown>;
}

async function appQuery<T extends pg.QueryResultRow>(t: TestHome, sql: string): Promise<T[]> {
  const info = await t.manager.connection(name, { showPassword: true });
  return query<T>(info.connectionString, sql);
}

async function serverVersion(t: TestHome): Promise<number> {
  const [row] = await appQuery<{ v: string }>(t, "SELECT current_setting('server_version_num') AS v");
  return Math.floor(Number(row?.v) / 10000);
}

function dirs(t: TestHome, id: string): string[] {
  return ['data', 'data.upgrading', 'data.pg13', 'data.pg15', 'data.restoring'].filter((d) => existsSync(join(t.home, 'instances', id, d)));
}

describe('major upgrades', () => {
  let t: TestHome;
  let id: string;
  let before: Record<string, unknown>;

  beforeAll(async () => {
    for (const version of [13, 15, 17]) {
      await docker
        .getImage(`postgres:${version}`)
        .inspect()
        .catch(() => {
          throw new Error(`image postgres:${version} is missing: run \`bin/dbaas image build --version ${version}\` (.ci/run builds it)`);
        });
    }
    t = makeHome(23900);
    // Prepared transactions allowed, so that the check refusing them can be shown.
    const created = await t.manager.create({ name, version: 13, memory: '256m', cpus: 1, pgSettings: { max_prepared_transactions: '5' } });
    id = created.id;
    await superuserSql(
      t,
      `CREATE EXTENSION pgcrypto;
       CREATE EXTENSION hstore;
       CREATE ROLE reporter LOGIN PASSWORD 'reporter-pass';
       CREATE TABLE items (id serial PRIMARY KEY, note text NOT NULL, secret bytea);
       ALTER TABLE items OWNER TO app;
       INSERT INTO items (note, secret) SELECT 'note ' || i, digest('note ' || i, 'sha256') FROM generate_series(1, 5000) i;
       CREATE VIEW item_notes AS SELECT id, note FROM items WHERE id % 2 = 0;
       CREATE FUNCTION double_it(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
       GRANT SELECT ON items TO reporter;`,
    );
    // The sequence moves past the rows (a gap): its value must survive, not be re-derived.
    await appQuery(t, "SELECT setval('items_id_seq', 7000)");
    before = await snapshot(t);
    expect(before).toMatchObject({ rows: 5000, sequence: 7000, hashed: 5000, view: 2500, function: 42, reporterReads: true, reporterWrites: false });
  });

  afterAll(async () => {
    await t?.services.data.close();
    await t?.cleanup();
  });

  it('refuses an upgrade its checks fail, naming every reason, and changes nothing', async () => {
    const client = new pg.Client({ connectionString: (await t.manager.connection(name, { showPassword: true })).connectionString });
    await client.connect();
    try {
      await client.query('BEGIN');
      // An explicit id: the refused upgrade must leave the sequence as it was.
      await client.query("INSERT INTO items (id, note) VALUES (-1, 'prepared')");
      await client.query("PREPARE TRANSACTION 'held'");
      const refused = await t.services.upgrades.upgrade(name, { to: 15 }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(DbaasError);
      expect(refused).toMatchObject({ code: 'UPGRADE_REFUSED' });
      expect(((refused as DbaasError).details?.problems as string[]).join()).toMatch(/1 prepared transaction/);
      await client.query("ROLLBACK PREPARED 'held'");
    } finally {
      await client.end();
    }
    // pg_upgrade's own check, on the stopped cluster: a column of a reg* type it cannot carry.
    await superuserSql(t, 'CREATE TABLE uncarried (f regproc)');
    const checked = await t.services.upgrades.upgrade(name, { to: 15, method: 'link' }).catch((e: unknown) => e);
    expect(checked).toMatchObject({ code: 'UPGRADE_REFUSED', message: expect.stringMatching(/reg\*|regproc|data type/i) });
    expect(await t.manager.get(name)).toMatchObject({ version: 13, status: 'running', upgrade: null });
    await superuserSql(t, 'DROP TABLE uncarried');
    await expect(t.services.upgrades.upgrade(name, { to: 13 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    // 14 is a version dbaas knows, but no image of it can be built here.
    await expect(t.services.upgrades.upgrade(name, { to: 14 })).rejects.toMatchObject({ code: 'IMAGE_NOT_AVAILABLE' });
    await expect(t.services.upgrades.rollback(name)).rejects.toMatchObject({ code: 'NO_UPGRADE' });
    const view = await t.manager.get(name);
    expect(view).toMatchObject({ version: 13, status: 'running', upgrade: null });
    expect(dirs(t, id)).toEqual(['data']);
    expect(await serverVersion(t)).toBe(13);
    expect(await snapshot(t)).toEqual(before);
  });

  it('upgrades 13 -> 15 with --method link, keeping data, roles, sequence, extension and privileges', async () => {
    const steps: string[] = [];
    const result = await t.services.upgrades.upgrade(name, { to: 15, method: 'link' }, { progress: (e) => e.phase === 'done' && steps.push(e.step) });
    expect(result).toMatchObject({ from: 13, to: 15, method: 'link', keptDataDir: 'data.pg13' });
    // hstore is 1.7 on 13 and 1.8 on 15: reported, left to its owner.
    expect(result.extensionUpdates).toEqual([{ database: 'app', extension: 'hstore', installed: '1.7', available: '1.8' }]);
    expect(result.downtimeMs).toBeGreaterThan(0);
    expect(result.downtimeMs).toBeLessThan(result.totalMs);
    expect(steps).toEqual(expect.arrayContaining(['check', 'image', 'backup', 'verify', 'stop', 'upgrade', 'swap', 'switch', 'start', 'ready', 'analyze']));
    expect(await serverVersion(t)).toBe(15);
    expect(await snapshot(t)).toEqual(before);
    const view = await t.manager.get(name);
    expect(view).toMatchObject({ version: 15, image: 'postgres:15', status: 'running', upgrade: { phase: 'upgraded', from: { version: 13 }, newServerStarted: true } });
    // The agent was made again for the new server, and samples it.
    await until('a sample of PostgreSQL 15', async () => Number((await t.services.monitoring.latest(name)).sample?.server?.version_num ?? 0) >= 150000, 60_000);
    const backups = await t.services.backups.list(name);
    expect(backups.find((b) => b.id === result.safetyBackup)).toMatchObject({ trigger: 'safety', verification: { ok: true, restored: true } });
    expect(backups.find((b) => b.id === result.baseBackup)).toMatchObject({ trigger: 'upgrade' });
    expect(dirs(t, id)).toEqual(['data', 'data.pg13']);
  });

  it('rolls a link upgrade back after the new server ran: the safety backup and the last WAL give the old data', async () => {
    await appQuery(t, "INSERT INTO items (note) VALUES ('written on 15')");
    const rolled = await t.services.upgrades.rollback(name);
    expect(rolled).toMatchObject({ version: 13, from: 15, restoredFrom: 'safety-backup' });
    expect(await serverVersion(t)).toBe(13);
    expect(await snapshot(t)).toEqual(before);
    expect(await t.manager.get(name)).toMatchObject({ version: 13, image: 'postgres:13', upgrade: null });
    expect(dirs(t, id)).toEqual(['data']);
    // The old server archives again (its segments do not collide with the rolled-back ones).
    const status = await until('an archived segment after the rollback', async () => {
      await superuserSql(t, 'SELECT pg_switch_wal()');
      const s = await t.services.backups.status(name);
      return s.archive.failedCount === 0 && s.archive.lastArchivedAt && Date.parse(s.archive.lastArchivedAt) > Date.now() - 30_000 ? s : undefined;
    });
    expect(status.archive.failedCount).toBe(0);
  });

  it('leaves an upgrade killed midway to --rollback, which restores the old cluster untouched', async () => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'upgrade', name, '--to', '15', '--method', 'dump', '--yes', '--json'], { env: t.env, stdio: 'ignore' });
    const job = await until(
      'the upgrade job container',
      async () => (await docker.listContainers({ all: true, filters: { label: [`dbaas.purpose=upgrade-${id}`] } }))[0],
      120_000,
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(job).toBeDefined();
    const record = await t.manager.record(name);
    expect(record.upgrade).toMatchObject({ phase: 'upgrading', method: 'dump' });
    await expect(t.manager.start(name)).rejects.toMatchObject({ code: 'INVALID_STATE', message: expect.stringMatching(/--rollback/) });
    await expect(t.services.upgrades.upgrade(name, { to: 17 })).rejects.toMatchObject({ code: 'INVALID_STATE' });
    const rolled = await t.services.upgrades.rollback(name);
    expect(rolled).toMatchObject({ version: 13, restoredFrom: 'kept-data' });
    expect(await docker.listContainers({ all: true, filters: { label: [`dbaas.purpose=upgrade-${id}`] } })).toEqual([]);
    expect(await serverVersion(t)).toBe(13);
    expect(await snapshot(t)).toEqual(before);
    expect(dirs(t, id)).toEqual(['data']);
  });

  it('upgrades 13 -> 15 (link) -> 17 (dump, through the REST route), finalizes, and the archive goes on across it', async () => {
    await t.services.upgrades.upgrade(name, { to: 15, method: 'link' });
    await expect(t.services.upgrades.upgrade(name, { to: 17 })).rejects.toMatchObject({ code: 'INVALID_STATE', message: expect.stringMatching(/--finalize/) });
    expect(await t.services.upgrades.finalize(name)).toMatchObject({ version: 15, removed: 'data.pg13' });
    expect(dirs(t, id)).toEqual(['data']);

    const server = await serveRemote(t);
    try {
      const cli = (...args: string[]) => run(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), ...args], { env: server.env });
      const { stdout } = await cli('upgrade', name, '--to', '17', '--method', 'dump', '--yes', '--json');
      const result = JSON.parse(stdout) as { from: number; to: number; method: string; downtimeMs: number };
      expect(result).toMatchObject({ from: 15, to: 17, method: 'dump' });
      const audit = readFileSync(join(t.home, 'logs', 'audit.ndjson'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { action: string; step?: string; outcome: string });
      const steps = audit.filter((e) => e.action === 'upgradeInstance' && e.step).map((e) => e.step);
      expect(steps).toEqual(expect.arrayContaining(['check', 'backup', 'stop', 'upgrade', 'swap', 'start', 'analyze', 'end']));
      expect(audit.find((e) => e.action === 'upgradeInstance' && e.step === 'end')).toMatchObject({ outcome: 'success' });
      // A remote CLI shows the operation's steps as the server reports them.
      const backup = await cli('backup', 'create', name);
      expect(backup.stderr).toMatch(/✔ take a base backup \(pg_basebackup\)/);
      // A check that refuses answers at once, not in an operation.
      const refused = await cli('upgrade', name, '--to', '15', '--yes').catch((e: { code: number; stderr: string }) => e);
      expect(refused).toMatchObject({ code: 1 });
    } finally {
      await server.stop();
    }
    expect(await serverVersion(t)).toBe(17);
    expect(await snapshot(t)).toEqual(before);

    // Written after the upgrade, and restored from the first base backup on 17 and the archive.
    await appQuery(t, "INSERT INTO items (note) VALUES ('after the upgrade')");
    await superuserSql(t, 'SELECT pg_switch_wal()');
    const restored = await t.services.backups.restore(name, { as: 'upgraded-copy' });
    expect(restored.version).toBe(17);
    const [copied] = await query<{ n: string }>(restored.connectionString, "SELECT count(*) AS n FROM items WHERE note = 'after the upgrade'");
    expect(copied?.n).toBe('1');
    await t.manager.delete('upgraded-copy', { purgeBackups: true });

    // A dump upgrade rolls back to the kept folder; upgraded again, then finalized.
    const rolled = await t.services.upgrades.rollback(name);
    expect(rolled).toMatchObject({ version: 15, restoredFrom: 'kept-data' });
    expect(await snapshot(t)).toEqual(before);
    await t.services.upgrades.upgrade(name, { to: 17, method: 'dump' });
    await t.services.upgrades.finalize(name);
    await t.manager.restart(name);
    expect(await serverVersion(t)).toBe(17);
    expect(await snapshot(t)).toEqual(before);
    expect(dirs(t, id)).toEqual(['data']);
    expect((await containersOf(t.home, id)).every((c) => c.Image === 'postgres:17')).toBe(true);
  });
});

/**
 * Minor releases: an image rebuilt under the same tag (what `dbaas image build --version 15
 * --force` does for a new Debian point release) is picked up by `dbaas update --image-refresh`,
 * which recreates and restarts the containers; the data stays. The tag is the test's own
 * (DBAAS_IMAGE_15), so that the shared postgres:15 of the other test files is never moved.
 */
describe('minor updates: --image-refresh', () => {
  const tag = 'dbaas-test-refresh:15';
  let t: TestHome;

  beforeAll(async () => {
    await docker.getImage('postgres:15').tag({ repo: 'dbaas-test-refresh', tag: '15' });
    t = makeHome(23950, { DBAAS_IMAGE_15: tag });
  });
  afterAll(async () => {
    await t?.services.data.close();
    await t?.cleanup();
    await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
  });

  it('moves an instance onto its rebuilt image, and does nothing when it runs it already', async () => {
    const created = await t.manager.create({ name: 'minor', version: 15, memory: '256m', cpus: 1 });
    expect(created.image).toBe(tag);
    await query(created.connectionString, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('before the refresh')");
    const same = await t.manager.refreshImage('minor');
    expect(same.imageRefresh).toMatchObject({ refreshed: false });

    const before = (await docker.getImage(tag).inspect()).Id;
    await t.services.engine.buildImage(tag, 'FROM postgres:15\nLABEL dbaas.test.rebuilt="yes"\n', 120_000);
    const after = (await docker.getImage(tag).inspect()).Id;
    expect(after).not.toBe(before);

    const { stdout } = await run(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'update', 'minor', '--image-refresh', '--json'], { env: t.env });
    const view = JSON.parse(stdout) as { status: string; imageRefresh: { from: string; to: string; refreshed: boolean } };
    expect(view).toMatchObject({ status: 'running', imageRefresh: { from: before, to: after, refreshed: true } });
    const containers = await containersOf(t.home, created.id);
    expect(containers.length).toBeGreaterThan(0);
    for (const c of containers) expect(c.ImageID).toBe(after);
    const info = await t.manager.connection('minor', { showPassword: true });
    expect(await query<{ note: string }>(info.connectionString, 'SELECT note FROM kept')).toEqual([{ note: 'before the refresh' }]);
    await expect(run(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'update', 'minor', '--image-refresh', '--memory', '512m'], { env: t.env })).rejects.toMatchObject({ code: 2 });
  });
});
