import { spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import { Registry } from '../../src/registry/registry.js';
import { containersOf, killCreateMidway, makeHome, type TestHome } from './helpers.js';
import { rejected } from '../unit/fixtures/errors.js';

/**
 * The folders in instances/ but the spare data copies (`.spare-data`: copies of the image's
 * template kept ready for the next create, no instance's).
 */
function instanceFolders(t: TestHome): string[] {
  const dir = join(t.home, 'instances');
  return existsSync(dir) ? readdirSync(dir).filter((name) => name !== '.spare-data') : [];
}

/** Asserts that nothing of a failed create is left: no record, no folder, no container. */
async function expectNothingLeft(t: TestHome): Promise<void> {
  const registry = new Registry(join(t.home, 'config', 'instances.json'));
  expect(await registry.list()).toEqual([]);
  expect(instanceFolders(t)).toEqual([]);
  expect(await containersOf(t.home)).toEqual([]);
}


function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('a create that fails leaves nothing behind and says why', () => {
  const homes: TestHome[] = [];
  const home = (base: number, env: Record<string, string> = {}) => {
    const t = makeHome(base, env);
    homes.push(t);
    return t;
  };
  afterAll(async () => {
    for (const t of homes) await t.cleanup();
  });

  it('names every invalid field (422 / exit 2 material)', async () => {
    const t = home(21200);
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ name: 'Bad_Name' }, 'name', /lowercase DNS label/],
      [{ name: 'ab' }, 'name', /3 to 40/],
      [{ name: 'okname', version: 11 }, 'version', /unknown version/],
      [{ name: 'okname', memory: '64m' }, 'memory', /at least 128m/],
      [{ name: 'okname', memory: 'lots' }, 'memory', /not a size/],
      [{ name: 'okname', cpus: 0.01 }, 'cpus', /at least 0.1/],
      [{ name: 'okname', cpus: 10_000 }, 'cpus', /at most/],
      [{ name: 'okname', port: 80 }, 'port', /between 1024 and 65535/],
      [{ name: 'okname', port: 70000 }, 'port', /between 1024 and 65535/],
      [{ name: 'okname', username: 'postgres' }, 'username', /reserved/],
      [{ name: 'okname', database: 'x; DROP TABLE y' }, 'database', /plain lowercase/],
      [{ name: 'okname', password: 'short' }, 'password', /at least 8/],
      [{ name: 'okname', surprise: true }, '', /surprise/],
    ];
    for (const [input, field, message] of cases) {
      const err = await rejected(t.manager.create(input));
      expect(err.code).toBe('VALIDATION_FAILED');
      const issues = (err.details?.issues ?? []) as Array<{ field: string; message: string }>;
      expect(issues.some((i) => i.field === field && message.test(i.message + err.message))).toBe(true);
    }
    await expectNothingLeft(t);
  });

  it('refuses an image that is absent and cannot be pulled', async () => {
    // A registry on a closed loopback port: the pull fails at once without leaving this host.
    const t = home(21250, { DBAAS_IMAGE_15: '127.0.0.1:9/dbaas-missing:1' });
    const err = await rejected(t.manager.create({ name: 'noimage' }));
    expect(err.code).toBe('IMAGE_NOT_AVAILABLE');
    expect(err.message).toMatch(/dbaas image build --version 15/);
    await expectNothingLeft(t);

    const never = home(21260, { DBAAS_IMAGE_15: 'dbaas-missing:1', DBAAS_PULL_POLICY: 'never' });
    expect((await rejected(never.manager.create({ name: 'noimage' }))).code).toBe('IMAGE_NOT_AVAILABLE');
    await expectNothingLeft(never);
  });

  it('says the engine is unavailable when its socket does not answer', async () => {
    const t = home(21270, { DBAAS_DOCKER_SOCKET: '/tmp/dbaas-no-such-engine.sock' });
    const err = await rejected(t.manager.create({ name: 'noengine' }));
    expect(err.code).toBe('ENGINE_UNAVAILABLE');
    expect(await new Registry(join(t.home, 'config', 'instances.json')).list()).toEqual([]);
    expect(instanceFolders(t)).toEqual([]);
  });

  it('refuses a port held by another process or another instance, and skips it when allocating', async () => {
    const t = home(21300);
    const held = await listen(21300);
    try {
      const err = await rejected(t.manager.create({ name: 'taken', port: 21300 }));
      expect(err.code).toBe('PORT_IN_USE');
      expect(err.message).toMatch(/in use by another process/);
      await expectNothingLeft(t);

      const first = await t.manager.create({ name: 'first', memory: '128m', cpus: 0.2 });
      expect(first.port).toBe(21301); // 21300 is held by our listener
      const clash = await rejected(t.manager.create({ name: 'second', port: first.port }));
      expect(clash.code).toBe('PORT_IN_USE');
      expect(clash.message).toMatch(/another instance/);
      const dup = await rejected(t.manager.create({ name: 'first' }));
      expect(dup.code).toBe('NAME_TAKEN');
      expect((await t.manager.list()).map((v) => v.name)).toEqual(['first']);
      await t.manager.delete('first');
      await expectNothingLeft(t);
    } finally {
      held.close();
    }
  });

  it('cleans up when an init script in the image fails, with the server log in the message', async () => {
    // An operator's customised templates with a broken init script: initdb succeeds, the
    // script fails, the entrypoint exits and the restart policy brings the container back.
    const templates = mkdtempSync(join(tmpdir(), 'dbaas-templates-'));
    cpSync(join(PROJECT_ROOT, 'templates'), templates, { recursive: true });
    appendFileSync(join(templates, 'init-scripts', '01-init-users.sql.njk'), '\nSELECT no_such_function();\n');
    const t = home(21350, { DBAAS_TEMPLATES_DIR: templates });
    try {
      const err = await rejected(t.manager.create({ name: 'badinit', memory: '128m' }));
      expect(err.code).toBe('PROVISIONING_FAILED');
      expect(err.message).toMatch(/function no_such_function\(\) does not exist/);
      await expectNothingLeft(t);
    } finally {
      rmSync(templates, { recursive: true, force: true });
    }
  });

  it('cleans up when the init SQL given at create fails, naming the SQLSTATE', async () => {
    const t = home(21360);
    const err = await rejected(t.manager.create({ name: 'badsql', memory: '128m', initSql: 'CREATE TABLE ok (id int); CREATE TABLE broken (;' }));
    // The user's SQL failed, not dbaas: a 422 (issue 7), and the create is undone all the same.
    expect(err.code).toBe('INIT_SQL_FAILED');
    expect(err.message).toMatch(/init SQL failed: syntax error .*SQLSTATE 42601/);
    await expectNothingLeft(t);
  });

  it('cleans up when the server refuses to start', async () => {
    // A time zone passes the settings check (strings are the server's to judge) but not the server.
    const t = home(21400);
    const err = await rejected(t.manager.create({ name: 'badsetting', memory: '128m', pgSettings: { timezone: 'No/Such_Zone' } }));
    expect(err.code).toBe('PROVISIONING_FAILED');
    expect(err.message).toMatch(/invalid value for parameter "TimeZone"/);
    await expectNothingLeft(t);
  });

  it('refuses settings that are not the user\'s, or out of the server\'s bounds, before making anything', async () => {
    const t = home(21410);
    const err = await rejected(
      t.manager.create({
        name: 'badsetting',
        memory: '128m',
        pgSettings: { no_such_setting: '1', archive_command: 'id', shared_preload_libraries: 'x', shared_buffers: '100TB' },
      }),
    );
    expect(err.code).toBe('VALIDATION_FAILED');
    const fields = (err.details?.issues as Array<{ field: string; message: string }>).map((i) => i.field).sort();
    expect(fields).toEqual(['pgSettings.archive_command', 'pgSettings.no_such_setting', 'pgSettings.shared_buffers', 'pgSettings.shared_preload_libraries']);
    expect(err.message).toMatch(/unknown setting/);
    expect(err.message).toMatch(/shell commands/);
    expect(err.message).toMatch(/out of range/);
    await expectNothingLeft(t);
  });

  it('cleans up after a readiness timeout', async () => {
    // 0.3 s is less than the container needs to run initdb, so the wait must time out (a copy
    // of the template data directory is ready in less, so this create initialises its own).
    const t = home(21450, { DBAAS_READY_TIMEOUT: '0.3', DBAAS_DATA_TEMPLATES: 'off' });
    const err = await rejected(t.manager.create({ name: 'slow', memory: '128m' }));
    expect(err.code).toBe('READINESS_TIMEOUT');
    await expectNothingLeft(t);
  });

  it('undoes a CLI create interrupted with Ctrl-C (SIGINT) and exits 1', async () => {
    const t = home(21550);
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'create', 'interrupted', '--memory', '128m'], {
      env: t.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (await containersOf(t.home)).length === 0) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(1);
    expect(stderr).toMatch(/INTERRUPTED/);
    await expectNothingLeft(t);
  });

  describe('a create killed mid-way', () => {
    let t: TestHome;
    beforeAll(() => {
      t = home(21500);
    });

    it('leaves a valid registry and an instance marked failed that delete removes', async () => {
      const registryFile = join(t.home, 'config', 'instances.json');
      await killCreateMidway(t, 'crashy');

      const records = await new Registry(registryFile).list(); // parses: not torn
      expect(records.map((r) => [r.name, r.status])).toEqual([['crashy', 'provisioning']]);
      const view = await t.manager.get('crashy');
      expect(view.status).toBe('failed');
      await expect(t.manager.start('crashy')).rejects.toMatchObject({ code: 'INVALID_STATE' });
      await t.manager.delete('crashy');
      await expectNothingLeft(t);
    });
  });
});
