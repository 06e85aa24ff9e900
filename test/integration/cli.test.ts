import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import { cliTarget, makeHome, query, type TestHome } from './helpers.js';

const execFileAsync = promisify(execFile);
const BIN = join(PROJECT_ROOT, 'bin', 'dbaas');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Every case runs twice: on the host (the CLI works on the registry and the engine), and as a
 * remote client of `dbaas serve` over TLS (DBAAS_URL, DBAAS_TOKEN, DBAAS_CA_FILE), where the
 * same commands must print the same documents and exit with the same codes.
 */
describe.each(['local', 'remote'] as const)('the CLI as a child process (%s)', (mode) => {
  let t: TestHome;
  let env: NodeJS.ProcessEnv;
  let stopServer = async () => undefined as void;

  /** Runs `dbaas ...args` with the test home (or against its server); stdin is not a terminal. */
  async function dbaas(...args: string[]): Promise<Run> {
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, [BIN, ...args], { env, timeout: 120_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }
  const json = (run: Run) => JSON.parse(run.stdout);

  beforeAll(async () => {
    t = makeHome(mode === 'local' ? 21800 : 23500);
    ({ env, stop: stopServer } = await cliTarget(mode, t));
  });
  afterAll(async () => {
    await stopServer();
    await t.cleanup();
  });

  it('creates an instance: progress on stderr, the connection string alone on stdout, and psql accepts it', async () => {
    const run = await dbaas('create', 'cli-one', '--memory', '160m', '--cpus', '0.5', '--database', 'notes', '--user', 'writer');
    expect(run.code, run.stderr).toBe(0);
    // The steps as they happen on the host; a remote create answers once it is done.
    if (mode === 'local') expect(run.stderr).toContain('✔ wait until the server accepts a login');
    expect(run.stderr).toContain('is running on port');
    const url = run.stdout.trim();
    expect(url).toMatch(/^postgresql:\/\/writer:[A-Za-z0-9]{24}@127\.0\.0\.1:\d+\/notes\?sslmode=verify-full&sslrootcert=\/\S+\/config\/ca\/ca\.crt$/);
    const psql = spawnSync('psql', [url, '-tAc', 'SELECT current_user || \'@\' || current_database()'], { encoding: 'utf8' });
    expect(psql.status).toBe(0);
    expect(psql.stdout.trim()).toBe('writer@notes');
  });

  it('prints one JSON document with --json and no progress', async () => {
    const run = await dbaas('create', 'cli-two', '--memory', '128m', '--cpus', '0.2', '--password', 'Sup3r-secret.pw', '--monitor-max-file', '64k', '--monitor-keep', '2', '--json');
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const created = json(run);
    expect(created).toMatchObject({
      name: 'cli-two',
      status: 'running',
      password: 'Sup3r-secret.pw',
      monitoring: { intervalSec: 10, maxFileBytes: 64 * 1024, keepFiles: 2 },
    });
  });

  it('lists, shows and connects', async () => {
    const list = await dbaas('list', '--json');
    expect(json(list).instances.map((i: { name: string }) => i.name).sort()).toEqual(['cli-one', 'cli-two']);
    const table = await dbaas('list');
    expect(table.stdout).toMatch(/cli-one .*running/);
    const info = await dbaas('info', 'cli-one');
    expect(info.stdout).toMatch(/memory\s+160m/);
    // A new instance: no repair yet, and crash recoveries counted once its agent sampled (0).
    expect(info.stdout).toMatch(/last repair\s+-/);
    expect(info.stdout).toMatch(/crash recoveries\s+(0|not counted yet); container restarts 0/);
    const conn = await dbaas('connect', 'cli-two');
    expect(conn.stdout.trim()).toMatch(/^postgresql:\/\/app@127\.0\.0\.1:\d+\/app\?sslmode=verify-full&sslrootcert=\S+$/);
    const withPassword = await dbaas('connect', 'cli-two', '--show-password');
    expect(withPassword.stdout.trim()).toMatch(/^postgresql:\/\/app:Sup3r-secret\.pw@127\.0\.0\.1:\d+\/app\?sslmode=verify-full&sslrootcert=\S+$/);
  });

  it('stops, starts, restarts, updates and reports logs and stats', async () => {
    expect(json(await dbaas('stop', 'cli-two', '--json')).status).toBe('stopped');
    const stats = await dbaas('stats', 'cli-two');
    expect(stats.code).toBe(1);
    expect(stats.stderr).toMatch(/not running \[INSTANCE_NOT_RUNNING\]/);
    expect(json(await dbaas('start', 'cli-two', '--json')).status).toBe('running');
    expect(json(await dbaas('restart', 'cli-two', '--json')).status).toBe('running');
    const updated = json(await dbaas('update', 'cli-two', '--memory', '256m', '--cpus', '1', '--monitor-interval', '5', '--json'));
    expect(updated).toMatchObject({ memoryHuman: '256m', cpus: 1, pendingRestart: true, monitoring: { intervalSec: 5 } });
    // Each `dbaas list` is a new process: the first reads the changed compose file (the hashes
    // kept beside it from an earlier listing are stale), the second the hashes it kept.
    for (let i = 0; i < 2; i++) {
      const listed = json(await dbaas('list', '--json')).instances.find((v: { name: string }) => v.name === 'cli-two');
      expect(listed.pendingRestart).toBe(true);
    }
    expect(existsSync(join(t.home, 'instances', updated.id, '.config-hashes.json'))).toBe(true);
    const logs = await dbaas('logs', 'cli-two', '--tail', '3');
    expect(logs.code).toBe(0);
    expect(logs.stdout.trim().split('\n').length).toBeLessThanOrEqual(3);
    const s = json(await dbaas('stats', 'cli-two', '--json'));
    expect(s.memoryLimit).toBe(256 * 1024 * 1024);
  });

  it('follows the log with --follow until interrupted (remotely, the server streams it)', async () => {
    const child = spawn(process.execPath, [BIN, 'logs', 'cli-two', '--tail', '1', '--follow'], { env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 500));
    // A new line appears in the log while we follow: a failed login is logged by the server.
    await query('postgresql://app:wrong-password@127.0.0.1:' + json(await dbaas('info', 'cli-two', '--json')).port + '/app', 'SELECT 1').catch(
      () => undefined,
    );
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !out.includes('password authentication failed')) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.once('exit', r));
    expect(out).toContain('password authentication failed for user "app"');
    expect(code).toBe(0);
  });

  it('exits 2 on usage errors and invalid input, naming the field', async () => {
    const bad = await dbaas('create', 'cli-bad', '--memory', '64m');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/memory: must be at least 128m/);
    const badJson = await dbaas('create', 'cli-bad', '--cpus', '-1', '--json');
    expect(badJson.code).toBe(2);
    expect(json(badJson).error).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await dbaas('create')).code).toBe(2);
    expect((await dbaas('frobnicate')).code).toBe(2);
    expect((await dbaas('create', 'x-y-z', '--no-such-flag')).code).toBe(2);
    expect((await dbaas('logs', 'cli-one', '--tail', 'many')).code).toBe(2);
    expect((await dbaas('--help')).code).toBe(0);
  });

  it('skips `image build` of an image that exists, with the version as a number or by default', async () => {
    // scripts/setup.sh runs exactly this; a version flag that stayed text once failed it (exit 2).
    for (const args of [['--version', '15'], []]) {
      const run = await dbaas('image', 'build', ...args, '--json');
      expect(run.code, run.stderr).toBe(0);
      expect(json(run)).toEqual({ tag: 'postgres:15', built: false, reason: 'exists' });
    }
    expect((await dbaas('image', 'build', '--version', 'fifteen')).code).toBe(2);
  });

  it('exits 1 on failures', async () => {
    const dup = await dbaas('create', 'cli-one');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/already exists \[NAME_TAKEN\]/);
    expect((await dbaas('info', 'nobody')).code).toBe(1);
  });

  it('refuses to delete without --yes when it cannot ask, then deletes with --yes', async () => {
    const refused = await dbaas('delete', 'cli-one');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/without --yes/);
    expect(json(await dbaas('info', 'cli-one', '--json')).status).toBe('running');
    for (const name of ['cli-one', 'cli-two']) {
      const run = await dbaas('delete', name, '--yes');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`deleted ${name}`));
    }
    expect(json(await dbaas('list', '--json')).instances).toEqual([]);
  });

  it('went through the server as a remote client, and only then (its audit log says who)', () => {
    const lines = readFileSync(join(t.home, 'logs', 'audit.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; actor: { kind: string; name: string } | null });
    const created = lines.filter((l) => l.action === 'createInstance' && l.actor?.name.startsWith('remote-cli'));
    const onHost = lines.filter((l) => l.action === 'cli:create');
    expect(mode === 'remote' ? [created.length > 0, onHost.length] : [created.length, onHost.length > 0]).toEqual(mode === 'remote' ? [true, 0] : [0, true]);
  });
});
