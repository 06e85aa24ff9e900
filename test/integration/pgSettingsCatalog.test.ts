import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DbaasError } from '../../src/errors.js';
import { checkPgSettings, USER_SETTINGS, type PgSettingInfo } from '../../src/instances/pgParameters.js';
import { demuxBuffer } from '../../src/runtime/dockerWire.js';
import { readSettingsCatalog } from '../../src/runtime/pgSettingsCatalog.js';

const IMAGE = process.env.DBAAS_IMAGE_15 ?? 'postgres:15';
const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });

let cacheDir: string;
let imageId: string;
/** Every container readSettingsCatalog creates, to prove each one is gone afterwards. */
const created: string[] = [];

beforeAll(async () => {
  imageId = (await docker.getImage(IMAGE).inspect()).Id.replace(/^sha256:/, '');
});

afterEach(() => {
  vi.restoreAllMocks();
});

function spyOnCreate() {
  const original = docker.createContainer.bind(docker);
  return vi.spyOn(docker, 'createContainer').mockImplementation(async (options) => {
    const container = await original(options);
    created.push(container.id);
    return container;
  });
}

async function exists(id: string): Promise<boolean> {
  try {
    await docker.getContainer(id).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}

describe('readSettingsCatalog', () => {
  beforeAll(() => {
    cacheDir = mkdtempSync(join(tmpdir(), 'dbaas-catalog-'));
  });
  afterAll(() => {
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('reads the pg_settings of the image and caches them under the image id', async () => {
    const create = spyOnCreate();
    const started = Date.now();
    const catalog = await readSettingsCatalog(docker, IMAGE, cacheDir);
    const elapsed = Date.now() - started;
    expect(create).toHaveBeenCalledTimes(1);
    const options = create.mock.calls[0]?.[0];
    expect(options?.User).toBe('postgres');
    expect(options?.HostConfig?.NetworkMode).toBe('none');
    expect(options?.Labels).toMatchObject({ 'dbaas.managed': 'true', 'dbaas.purpose': 'settings-catalog' });

    const byName = new Map(catalog.map((s) => [s.name, s]));
    expect(byName.get('shared_buffers')).toMatchObject({ vartype: 'integer', unit: '8kB', minVal: '16', context: 'postmaster' });
    expect(byName.get('log_statement')).toMatchObject({ vartype: 'enum', enumVals: ['none', 'ddl', 'mod', 'all'] });
    expect(byName.get('archive_command')).toMatchObject({ vartype: 'string', unit: null, enumVals: null });
    expect(byName.get('random_page_cost')).toMatchObject({ vartype: 'real', minVal: '0' });
    expect(byName.get('jit')).toMatchObject({ vartype: 'bool', context: 'user' });
    expect(byName.get('server_version_num')?.minVal).toMatch(/^15\d{4}$/);

    expect(readdirSync(cacheDir)).toEqual([`${imageId}.json`]);
    expect(JSON.parse(readFileSync(join(cacheDir, `${imageId}.json`), 'utf8'))).toEqual(catalog);
    console.log(`one catalog extraction from ${IMAGE}: ${elapsed} ms, ${catalog.length} settings`);
  });

  it('serves the second call from the cache without a container', async () => {
    const create = spyOnCreate();
    const started = Date.now();
    const catalog = await readSettingsCatalog(docker, IMAGE, cacheDir);
    expect(Date.now() - started).toBeLessThan(500);
    expect(create).not.toHaveBeenCalled();
    expect(catalog.find((s) => s.name === 'work_mem')).toMatchObject({ unit: 'kB', minVal: '64' });
  });

  it.each([
    ['not JSON', '{"truncated": [1, 2'],
    ['JSON of another shape', JSON.stringify([{ name: 'work_mem', vartype: 'integer' }])],
    ['an empty list', '[]'],
  ])('ignores a cache file that is %s and rewrites it', async (_what, content) => {
    const file = join(cacheDir, `${imageId}.json`);
    writeFileSync(file, content);
    const create = spyOnCreate();
    const catalog = await readSettingsCatalog(docker, IMAGE, cacheDir);
    expect(create).toHaveBeenCalledTimes(1);
    expect(catalog.length).toBeGreaterThan(300);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(catalog);
    expect(readdirSync(cacheDir)).toEqual([`${imageId}.json`]); // no temp file left beside it
  });

  it('shares one extraction between concurrent callers', async () => {
    rmSync(join(cacheDir, `${imageId}.json`));
    const create = spyOnCreate();
    const [a, b] = await Promise.all([readSettingsCatalog(docker, IMAGE, cacheDir), readSettingsCatalog(docker, IMAGE, cacheDir)]);
    expect(create).toHaveBeenCalledTimes(1);
    expect(a).toEqual(b);
  });

  it('refuses an image that does not exist with IMAGE_NOT_AVAILABLE, and creates nothing', async () => {
    const create = spyOnCreate();
    const error = await readSettingsCatalog(docker, 'dbaas-no-such-image:0', cacheDir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DbaasError);
    expect((error as DbaasError).code).toBe('IMAGE_NOT_AVAILABLE');
    expect((error as DbaasError).message).toMatch(/dbaas-no-such-image:0/);
    expect(create).not.toHaveBeenCalled();
  });

  describe('an image whose server cannot be started', () => {
    const broken = `dbaas-test-no-initdb:${process.pid}`;
    beforeAll(async () => {
      // postgres:15 without initdb: the extraction script fails at its first step.
      const c = await docker.createContainer({ Image: IMAGE, User: 'root', Entrypoint: ['bash', '-c', 'rm -f "$(command -v initdb)"'] });
      await c.start();
      await c.wait();
      const [repo, tag] = broken.split(':');
      await c.commit({ repo, tag });
      await c.remove({ force: true });
    });
    afterAll(async () => {
      await docker.getImage(broken).remove({ force: true }).catch(() => undefined);
    });

    it('fails with OPERATION_FAILED carrying the container output, and caches nothing', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'dbaas-catalog-broken-'));
      try {
        const create = spyOnCreate();
        const error = await readSettingsCatalog(docker, broken, dir).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(DbaasError);
        expect((error as DbaasError).code).toBe('OPERATION_FAILED');
        expect((error as DbaasError).message).toMatch(/exit code 127/);
        expect((error as DbaasError).message).toMatch(/initdb: command not found/);
        expect((error as DbaasError).details?.logs).toEqual(expect.arrayContaining([expect.stringMatching(/initdb/)]));
        expect(create).toHaveBeenCalledTimes(1);
        expect(readdirSync(dir)).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('leaves no container behind', async () => {
    expect(created.length).toBeGreaterThanOrEqual(5);
    for (const id of created) expect(await exists(id), id).toBe(false);
  });
});

/**
 * checkPgSettings against the server itself: for every allowed setting of a checkable type, a
 * battery of values goes through `ALTER SYSTEM SET` (which validates a value with the server's
 * own parser and bounds, whatever the setting's context) on a throwaway server. The verdicts must
 * agree, except where dbaas is stricter on purpose (its minimums, "must be at least").
 */
describe('checkPgSettings agrees with the server', () => {
  const VALUES = {
    memory: ['8MB', '1.5MB', '64kB', '63.6kB', '63.4kB', '512B', '100TB', '0x10', '010', '08', '1e3', '-1', '0', ' 5 MB', '5mb', '5 MBx', '1GB', '.5', ' .5', '-.5', 'inf', 'nan', '1.7kB', '0.0001TB', '8TB', '16', '15', '5s', '0x1.8p3'],
    time: ['5s', '1min', '500', '1.5s', '0.5ms', '0.4ms', '1d', '1h', '5MB', '30', '-1', '0', '10us', '499us', '500us', '2147483648s', '1e3ms', 'abc', '5 min ', '25d', '1.5min', '1 S'],
    unitless: ['10', '5MB', '0x1F', '010', '08', '1.6', '2.5', '3.5', '-1', 'abc', '1e2', '2147483647', '99999999999', '-2147483649', '0x', '+7', '- 7', '1e', '7e+1'],
    real: ['1.1', '-1', '0', '1e308', '1.8e308', 'inf', '-inf', 'nan', '0x10', '0x1p-2', '1.5ms', 'abc', '1e400', '1e-400', '4', '100', '.5', '5.', ' 2 ', '0.001', '0.0009', '1000000', '1000001'],
    realWithUnit: ['1.5ms', '2', '0.5', '100', '101', '1s', '0.1s', '1500us', '2min', '-1', '-2', 'abc', '5MB'],
    bool: ['on', 'off', 'ON', 'tr', 'y', 'o', 'of', '1', '0', '2', 'yes', 'nope', 't', 'f', 'n', '  on', 'on ', 'TRUE', 'fa', 'truex', ''],
  };

  function valuesFor(info: PgSettingInfo): string[] {
    switch (info.vartype) {
      case 'bool':
        return VALUES.bool;
      case 'enum': {
        const listed = info.enumVals ?? [];
        return [...listed, ...listed.map((v) => v.toUpperCase()), 'true', 'false', 'yes', 'no', '1', '0', 'on', 'off', 'bogus', 'debug', 'info', 'y', ''];
      }
      case 'integer':
        return info.unit === null ? VALUES.unitless : /B$/.test(info.unit) ? VALUES.memory : VALUES.time;
      case 'real':
        return info.unit ? VALUES.realWithUnit : VALUES.real;
      case 'string':
        return []; // the server alone judges a time zone or a locale
    }
  }

  /** Runs SQL on a throwaway server and returns one line of output per `\echo`. */
  async function runOnThrowawayServer(sql: string): Promise<string[]> {
    // Arguments carry the SQL (each below Linux's 128 KiB limit per argument); no stdin needed.
    const chunks = sql.match(/[\s\S]{1,60000}/g) ?? [];
    const script = `set -euo pipefail
initdb -D /tmp/c -A trust -U postgres --no-sync >/dev/null
pg_ctl -D /tmp/c -o "-c listen_addresses='' -k /tmp" -w start >/dev/null
printf '%s' "$@" | psql -X -q -At -h /tmp -U postgres -d postgres 2>/dev/null
pg_ctl -D /tmp/c -m fast -w stop >/dev/null`;
    const container = await docker.createContainer({
      Image: IMAGE,
      User: 'postgres',
      Entrypoint: ['bash', '-c', script, 'oracle', ...chunks],
      Labels: { 'dbaas.purpose': 'settings-oracle-test' },
      HostConfig: { NetworkMode: 'none' },
    });
    try {
      await container.start();
      const { StatusCode } = (await container.wait()) as { StatusCode: number };
      const out = demuxBuffer((await container.logs({ stdout: true, stderr: true })) as unknown as Buffer);
      expect(StatusCode, out.slice(-2000)).toBe(0);
      return out.trim().split('\n');
    } finally {
      await container.remove({ force: true });
    }
  }

  it('on thousands of values of every allowed numeric, boolean and enum setting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaas-catalog-oracle-'));
    try {
      const catalog = await readSettingsCatalog(docker, IMAGE, dir);
      const cases: Array<[string, string]> = [];
      for (const info of catalog) {
        if (!Object.hasOwn(USER_SETTINGS, info.name.toLowerCase())) continue;
        for (const value of valuesFor(info)) cases.push([info.name, value]);
      }
      const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
      const sql = cases.map(([name, value]) => `ALTER SYSTEM SET "${name}" = ${literal(value)};\n\\echo :ERROR\n`).join('');
      const answers = await runOnThrowawayServer(sql);
      expect(answers).toHaveLength(cases.length);

      const disagreements: string[] = [];
      let refusedByBoth = 0;
      cases.forEach(([name, value], i) => {
        const serverTakes = answers[i] === 'false';
        const found = checkPgSettings({ [name]: value }, catalog, { memoryBytes: 2 ** 50 });
        if (!serverTakes && found.length > 0) refusedByBoth++;
        if (serverTakes === (found.length === 0)) return;
        if (serverTakes && found[0]?.message.startsWith('must be at least')) return; // dbaas's own minimum
        disagreements.push(`${name}=${JSON.stringify(value)}: server ${serverTakes ? 'takes it' : 'refuses it'}, dbaas says ${found[0]?.message ?? 'ok'}`);
      });
      expect(disagreements).toEqual([]);
      expect(cases.length).toBeGreaterThan(3000);
      expect(refusedByBoth).toBeGreaterThan(500);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
