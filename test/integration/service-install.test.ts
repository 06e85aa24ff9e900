import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';

/**
 * `dbaas service install|uninstall` run as the real CLI, and every unit it writes checked by
 * systemd itself: `systemd-analyze verify` (systemd package, installed by scripts/setup.sh).
 *
 * verify works offline, without systemd running: it loads the unit with the host's unit search
 * path, checks every setting, that ExecStart='s binary exists, and that the units it depends on
 * load. Two things keep it meaningful here:
 * - Its exit code is not enough: a setting it cannot parse or does not know is only a line on
 *   stderr ("Unknown key ..., ignoring") with exit 0. So every line it prints about the unit fails
 *   the test, and a second run at debug level shows how systemd read the values (its dump), which
 *   the test compares with what was meant (paths with a blank and a "%").
 * - docker.service: the unit only Wants= it (a missing wanted unit is ignored, silently), but the
 *   host's docker.service may be absent or be whatever the host has; verify also fails on errors in
 *   the units a unit pulls in. A stub docker.service first in SYSTEMD_UNIT_PATH (the trailing ":"
 *   appends the usual search path, for sysinit.target and the rest) makes the check the same on
 *   every host.
 * `--man=no`: verify would look for man pages of Documentation=man:...; the unit has none, and the
 * test must not depend on man-db.
 */

const BIN = join(PROJECT_ROOT, 'bin', 'dbaas');
const SYSTEMD_BOOTED = existsSync('/run/systemd/system');
const IS_ROOT = process.getuid?.() === 0;
/** What a Node stack trace prints. */
const STACK_TRACE = /^\s+at .+|node:internal/m;

describe('dbaas service install', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dbaas-service-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** A home with a blank and a "%": the unit must quote and escape it. */
  const home = join(dir, 'home with blank %h');
  const units = join(dir, 'units');
  const stubs = join(dir, 'stub units');
  mkdirSync(stubs);
  writeFileSync(join(stubs, 'docker.service'), '[Unit]\nDescription=stub of the Docker engine for systemd-analyze verify\n[Service]\nExecStart=/bin/true\n');
  /** verify --user sets up a user manager's paths below XDG_RUNTIME_DIR, which must be private. */
  const runtimeDir = join(dir, 'runtime');
  mkdirSync(runtimeDir, { mode: 0o700 });

  /** The test's own environment: no DBAAS_* of the shell running the tests (a master key there would change the unit). */
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('DBAAS_'))),
    DBAAS_HOME: home,
    DBAAS_POOL_MAX: '20',
    XDG_CONFIG_HOME: join(dir, 'xdg config'),
  };

  function dbaas(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
    const run = spawnSync(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, encoding: 'utf8' });
    expect(run.stderr, 'no stack trace').not.toMatch(STACK_TRACE);
    return run;
  }

  function analyze(file: string, scope: 'system' | 'user', logLevel?: string) {
    return spawnSync('systemd-analyze', [...(scope === 'user' ? ['--user'] : []), 'verify', '--man=no', file], {
      env: { ...process.env, SYSTEMD_UNIT_PATH: `${stubs}:`, XDG_RUNTIME_DIR: runtimeDir, ...(logLevel ? { SYSTEMD_LOG_LEVEL: logLevel } : {}) },
      encoding: 'utf8',
    });
  }

  /** verify exits 0 and says nothing about the unit; returns how systemd read it (the dump it prints at debug level, on stdout). */
  function verify(file: string, scope: 'system' | 'user' = 'system'): string {
    const run = analyze(file, scope);
    expect(run.error, 'systemd-analyze is missing: scripts/setup.sh installs it (package systemd)').toBeUndefined();
    const aboutUnit = run.stderr.split('\n').filter((line) => line.includes(basename(file)) || line.includes(file));
    expect(aboutUnit, run.stderr).toEqual([]);
    expect(run.status, run.stderr).toBe(0);
    return analyze(file, scope, 'debug').stdout;
  }

  const systemUnit = join(units, 'dbaas.service');

  it('writes a system unit that systemd-analyze verify accepts, with this installation and its settings', () => {
    const run = dbaas(['service', 'install', '--unit-dir', units]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`wrote ${systemUnit} (system unit, runs as `);
    expect(run.stdout).toContain('systemctl daemon-reload && systemctl enable --now dbaas');
    expect(statSync(systemUnit).mode & 0o777).toBe(0o644);
    // The home is made: ProtectSystem=strict leaves the service unable to create it.
    expect(existsSync(home)).toBe(true);

    const unit = readFileSync(systemUnit, 'utf8');
    expect(unit).toMatch(/^User=\S+$/m);
    expect(unit).toMatch(/^WantedBy=multi-user\.target$/m);
    const parsed = verify(systemUnit);
    // systemd read the values as meant: the blank and the "%" of the home survived its quoting.
    expect(parsed).toContain(`Environment: DBAAS_HOME=${home}\n`);
    expect(parsed).toContain('Environment: DBAAS_POOL_MAX=20\n');
    expect(parsed).toContain(`ReadWritePaths: ${home}\n`);
    expect(parsed).toContain(`WorkingDirectory: ${PROJECT_ROOT}\n`);
    expect(parsed).toMatch(new RegExp(`Command Line: ${process.execPath} ${BIN} serve\\n`));
    expect(parsed).toMatch(/Wants: docker\.service/);
  });

  it('installing the same unit again changes nothing', () => {
    const before = statSync(systemUnit).mtimeMs;
    const run = dbaas(['service', 'install', '--unit-dir', units]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`${systemUnit} is up to date`);
    expect(statSync(systemUnit).mtimeMs).toBe(before);
  });

  it('refuses to overwrite a unit that differs (exit 1) unless --force', () => {
    const before = readFileSync(systemUnit, 'utf8');
    const refused = dbaas(['service', 'install', '--unit-dir', units, '--host', '0.0.0.0', '--port', '8123']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/exists and differs .*--force replaces it \[OPERATION_FAILED\]/);
    expect(readFileSync(systemUnit, 'utf8')).toBe(before);

    const forced = dbaas(['service', 'install', '--unit-dir', units, '--host', '0.0.0.0', '--port', '8123', '--force', '--json']);
    expect(forced.status, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ name: 'dbaas', scope: 'system', path: systemUnit, result: 'replaced', enabled: false });
    expect(readFileSync(systemUnit, 'utf8')).toMatch(/^ExecStart=.* serve --host 0\.0\.0\.0 --port 8123$/m);
    expect(verify(systemUnit)).toMatch(/Command Line: .* serve --host 0\.0\.0\.0 --port 8123\n/);
  });

  it('--print writes the unit to stdout and nothing to disk', () => {
    const elsewhere = join(dir, 'print');
    const run = dbaas(['service', 'install', '--unit-dir', elsewhere, '--name', 'dbaas-print', '--print']);
    expect(run.status, run.stderr).toBe(0);
    expect(existsSync(elsewhere)).toBe(false);
    // What --print shows is what install writes.
    expect(dbaas(['service', 'install', '--unit-dir', elsewhere, '--name', 'dbaas-print']).status).toBe(0);
    expect(readFileSync(join(elsewhere, 'dbaas-print.service'), 'utf8')).toBe(run.stdout);
    verify(join(elsewhere, 'dbaas-print.service'));
  });

  it('--user writes a unit of the user manager into $XDG_CONFIG_HOME/systemd/user, without User=', () => {
    const run = dbaas(['service', 'install', '--user']);
    expect(run.status, run.stderr).toBe(0);
    const file = join(env.XDG_CONFIG_HOME!, 'systemd', 'user', 'dbaas.service');
    expect(run.stdout).toContain(`wrote ${file} (user unit)`);
    expect(run.stdout).toContain('systemctl --user daemon-reload && systemctl --user enable --now dbaas');
    const unit = readFileSync(file, 'utf8');
    expect(unit).not.toMatch(/^(User|Group)=/m);
    expect(unit).toMatch(/^WantedBy=default\.target$/m);
    expect(verify(file, 'user')).toContain(`Environment: DBAAS_HOME=${home}\n`);
  });

  it.skipIf(SYSTEMD_BOOTED)('--enable where systemd is not PID 1: writes the unit, then says so and exits 1', () => {
    const run = dbaas(['service', 'install', '--unit-dir', units, '--name', 'dbaas-enable', '--enable']);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain(`wrote ${join(units, 'dbaas-enable.service')}`);
    expect(run.stderr).toMatch(/^error: systemd is not the init system here \(PID 1 is .+\): cannot enable dbaas-enable\.service\. The unit is written/m);
    expect(run.stderr).toContain('systemctl daemon-reload && systemctl enable --now dbaas-enable');
    verify(join(units, 'dbaas-enable.service'));
  });

  it('DBAAS_MASTER_KEY never lands in a unit: refused without --env-file (exit 2), named by EnvironmentFile= with it', () => {
    const key = randomBytes(32).toString('base64');
    const refused = dbaas(['service', 'install', '--unit-dir', units, '--name', 'dbaas-key'], { DBAAS_MASTER_KEY: key });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/DBAAS_MASTER_KEY is set in this shell.*--env-file/);
    expect(refused.stdout + refused.stderr).not.toContain(key);
    expect(existsSync(join(units, 'dbaas-key.service'))).toBe(false);

    const envFile = join(dir, 'dbaas.env');
    writeFileSync(envFile, `DBAAS_MASTER_KEY=${key}\n`, { mode: 0o600 });
    const run = dbaas(['service', 'install', '--unit-dir', units, '--name', 'dbaas-key', '--env-file', envFile], { DBAAS_MASTER_KEY: key });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toBe(''); // the file exists and is 0600: nothing to warn about
    const unit = readFileSync(join(units, 'dbaas-key.service'), 'utf8');
    expect(unit).not.toContain(key);
    expect(unit).toContain(`EnvironmentFile=${envFile}\n`);
    expect(verify(join(units, 'dbaas-key.service'))).toContain(`EnvironmentFile: ${envFile}`);
  });

  it.each([
    [['--port', '0'], /--port/],
    [['--port', 'http'], /--port/],
    [['--bogus'], /unknown option '--bogus'/],
    [['--name', 'db aas'], /name: must be letters/],
    [['--host', 'a b'], /host: must be an address/],
    [['--print', '--enable'], /--print writes nothing/],
    [['--user', '--run-as', 'postgres'], /--run-as is for system units/],
    [['--run-as', 'db aas'], /runAs: must be a user or group name/],
  ])('dbaas service install %j is a usage error: exit 2, nothing written', (args, message) => {
    const run = dbaas(['service', 'install', '--unit-dir', join(dir, 'usage'), ...args]);
    expect(run.status, run.stderr).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(existsSync(join(dir, 'usage'))).toBe(false);
  });

  it('a unit folder that cannot be written: exit 1 with the reason', () => {
    const file = join(dir, 'a file');
    writeFileSync(file, '');
    const run = dbaas(['service', 'install', '--unit-dir', join(file, 'units')]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^error: cannot write .*a file\/units\/dbaas\.service: .* \[OPERATION_FAILED\]$/m);
  });

  it.skipIf(IS_ROOT)('a system unit without root: exit 1, saying that it needs root or --user', () => {
    const run = dbaas(['service', 'install']);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/cannot write \/etc\/systemd\/system\/dbaas\.service: permission denied\. A system unit needs root \(sudo\); --user/);
  });

  it('uninstall removes the unit (stopping it only where systemd runs it from that file); again, there is nothing to remove', () => {
    const run = dbaas(['service', 'uninstall', '--unit-dir', units]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`removed ${systemUnit}`);
    expect(existsSync(systemUnit)).toBe(false);
    const again = dbaas(['service', 'uninstall', '--unit-dir', units, '--json']);
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ name: 'dbaas', path: systemUnit, removed: false });
    const user = dbaas(['service', 'uninstall', '--user']);
    expect(user.status, user.stderr).toBe(0);
    expect(readdirSync(join(env.XDG_CONFIG_HOME!, 'systemd', 'user'))).toEqual([]);
  });

  it('uninstall leaves a unit dbaas did not write, unless --force', () => {
    const foreign = join(units, 'sshd.service');
    writeFileSync(foreign, '[Service]\nExecStart=/usr/sbin/sshd -D\n');
    const refused = dbaas(['service', 'uninstall', '--unit-dir', units, '--name', 'sshd']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('was not written by dbaas service install; --force removes it anyway');
    expect(existsSync(foreign)).toBe(true);
    expect(dbaas(['service', 'uninstall', '--unit-dir', units, '--name', 'sshd', '--force']).status).toBe(0);
    expect(existsSync(foreign)).toBe(false);
  });
});
