import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import { docker, makeHome, query, until, type TestHome } from './helpers.js';

/**
 * PostgreSQL 13 and 17 (15 runs everywhere else): images built here from Debian's bullseye and
 * trixie (`dbaas image build --version 13|17`, which .ci/run does), and the core of the product
 * on each: create, connect with the connection string, tables and rows through the API and the
 * PostgREST endpoint, the monitoring agent's samples, a logical backup verified by a restore,
 * a base backup restored with the archived WAL to the newest state, and a restart with the data
 * intact.
 */
describe.each([13, 17] as const)('PostgreSQL %i', (version) => {
  let t: TestHome;
  const name = `pg${version}`;

  beforeAll(async () => {
    const image = `postgres:${version}`;
    await docker
      .getImage(image)
      .inspect()
      .catch(() => {
        throw new Error(`image ${image} is missing: run \`bin/dbaas image build --version ${version}\` (.ci/run builds it)`);
      });
    t = makeHome(version === 13 ? 23800 : 23850);
  });
  afterAll(async () => {
    await t?.services.data.close();
    await t?.cleanup();
  });

  it('creates an instance of that version and serves SQL, rows and the PostgREST endpoint', async () => {
    const created = await t.manager.create({ name, version, memory: '256m', cpus: 1 });
    expect(created).toMatchObject({ version, image: `postgres:${version}`, status: 'running' });
    const [row] = await query<{ v: string }>(created.connectionString, "SELECT current_setting('server_version_num') AS v");
    expect(Math.floor(Number(row?.v) / 10000)).toBe(version);
    const { data } = t.services;
    await query(created.connectionString, 'CREATE TABLE items (id int PRIMARY KEY, note text)');
    await data.insertRows(name, 'items', [{ id: 1, note: 'one' }, { id: 2, note: 'two' }], { returning: null });
    expect((await data.listRows(name, 'items', { filters: [], select: '*', order: [], limit: 10, offset: 0, count: true, returning: '*', force: false })).count).toBe(2);
    const rest = await data.rest.handle(name, {
      method: 'GET',
      resource: { kind: 'table', name: 'items' },
      query: { select: 'note', id: 'eq.2' },
      headers: {},
      body: undefined,
    });
    expect(JSON.parse(rest.body as string)).toEqual([{ note: 'two' }]);
  });

  it('is sampled by the monitoring agent', async () => {
    const sample = await until(
      'a sample of a running server',
      async () => {
        const latest = await t.services.monitoring.latest(name);
        return latest.sample?.up ? latest.sample : undefined;
      },
      60_000,
    );
    expect(sample.server?.version_num).toBeGreaterThanOrEqual(version * 10000);
    expect(Object.keys(sample.databases ?? {})).toContain('app');
  });

  it('takes a logical backup that a real restore verifies', async () => {
    const backup = await t.services.backups.create(name, { type: 'logical' });
    const verified = await t.services.backups.verify(backup.id);
    expect(verified.verification).toMatchObject({ ok: true });
  });

  it('takes a base backup and restores the newest state from it and the WAL archive', async () => {
    await t.services.backups.create(name, { type: 'physical' });
    const info = await t.manager.connection(name, { showPassword: true });
    await query(info.connectionString, "INSERT INTO items VALUES (3, 'after the base backup')");
    const restored = await t.services.backups.restore(name, { as: `${name}-restored` });
    expect(restored.version).toBe(version);
    const rows = await query<{ note: string }>(restored.connectionString, 'SELECT note FROM items ORDER BY id');
    expect(rows.map((r) => r.note)).toEqual(['one', 'two', 'after the base backup']);
    await t.manager.delete(`${name}-restored`, { purgeBackups: true });
    await query(info.connectionString, 'DELETE FROM items WHERE id = 3');
  });

  it('keeps its data across a restart', async () => {
    await t.manager.restart(name);
    const info = await t.manager.connection(name, { showPassword: true });
    const rows = await query<{ note: string }>(info.connectionString, 'SELECT note FROM items ORDER BY id');
    expect(rows.map((r) => r.note)).toEqual(['one', 'two']);
  });
});

describe('the image build', () => {
  it.each([12, 14, 16])('refuses %i, which no Debian suite on the mirror ships, naming the ones it can build', async (version) => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile('bash', [join(PROJECT_ROOT, 'scripts', 'build-image.sh'), '--version', String(version)], (err, _stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      ),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`PostgreSQL ${version} cannot be built here: of the Debian suites, bullseye ships 13, bookworm 15 and trixie 17`);
  });
});
