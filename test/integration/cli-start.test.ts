import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';

/**
 * CLI start: a command loads only what it uses. Each run records every module the ESM loader
 * loads (a loader hook), and what must not load for the version, help and usage errors: the
 * services and the libraries behind them.
 */

const BIN = join(PROJECT_ROOT, 'bin', 'dbaas');
const HEAVY = ['dockerode', 'pg', 'express', 'nunjucks', 'winston', 'zod', 'yaml', 'ora'];

/** The environment without DBAAS_ variables, so each run gives exactly the settings it means to. */
function withoutDbaasVars(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('DBAAS_')));
}

describe('dbaas start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dbaas-cli-start-'));
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.TEST_LOADED_LOG, url + '\\n');
  return next(url, context);
}`,
  );
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs `dbaas ...args` and returns its exit code and the modules it loaded. */
  function loaded(...args: string[]): { code: number | null; packages: string[]; modules: string[]; stdout: string; stderr: string } {
    return loadedWith({}, ...args);
  }

  function loadedWith(extraEnv: Record<string, string>, ...args: string[]): { code: number | null; packages: string[]; modules: string[]; stdout: string; stderr: string } {
    const log = join(dir, `loaded-${args.join('_').replace(/\W/g, '')}.txt`);
    writeFileSync(log, '');
    const run = spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, BIN, ...args], {
      env: { ...withoutDbaasVars(process.env), DBAAS_HOME: dir, TEST_LOADED_LOG: log, ...extraEnv },
      encoding: 'utf8',
    });
    const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const packages = [...new Set(urls.map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((p): p is string => Boolean(p)))];
    const modules = urls.filter((u) => u.includes('/dist/')).map((u) => u.slice(u.indexOf('/dist/') + 6));
    return { code: run.status, packages, modules, stdout: run.stdout, stderr: run.stderr };
  }

  it.each([
    [['--cli-version'], 0],
    [['rows', '--help'], 0],
    [['tables', 'create', '--help'], 0],
    [['rows', 'list', 'db'], 2], // a missing argument: a usage error before any action runs
    [['query', 'db', 'SELECT 1', '--timeout', 'soon'], 2],
  ])('dbaas %j loads commander and the command definitions only', (args, code) => {
    const run = loaded(...args);
    expect(run.code).toBe(code);
    expect(run.packages).toEqual(['commander']);
    const light = (m: string) => ['cli/index.js', 'cli/lazy.js', 'cli/numbers.js', 'config/version.js', 'config/root.js'].includes(m) || m.startsWith('cli/commands/');
    expect(run.modules.filter((m) => !light(m))).toEqual([]);
  });

  it('loads the implementation of the command that runs, and no other group', () => {
    const run = loaded('query', 'no-such-instance', 'SELECT 1');
    expect(run.code).toBe(1);
    expect(run.modules).toContain('cli/actions/sql.js');
    expect(run.modules.filter((m) => m.startsWith('cli/actions/')).sort()).toEqual(['cli/actions/data.js', 'cli/actions/sql.js']);
  });

  it('dbaas list of an installation given no settings and without instances loads no schema and no service', () => {
    for (const args of [['list'], ['list', '--json']]) {
      const run = loaded(...args);
      expect(run.code).toBe(0);
      expect(run.packages).toEqual(['commander']);
      expect(run.modules).toContain('registry/emptiness.js');
      expect(run.modules).not.toContain('config/settings.js');
    }
    expect(loaded('list').stdout).toContain('no instances');
    expect(JSON.parse(loaded('list', '--json').stdout)).toEqual({ instances: [] });
  });

  it('dbaas list with settings given checks them first (and still loads no service without instances)', () => {
    const bad = loadedWith({ DBAAS_PORT_RANGE: 'nonsense' }, 'list');
    expect(bad.code).toBe(1); // CONFIG_INVALID, as for every command
    expect(bad.stderr).toMatch(/DBAAS_PORT_RANGE.*\[CONFIG_INVALID\]/);
    const good = loadedWith({ DBAAS_PORT_RANGE: '23000-23010' }, 'list', '--json');
    expect(good.code).toBe(0);
    expect(good.packages).toContain('zod');
    expect(good.packages.filter((p) => ['dockerode', 'pg', 'express', 'nunjucks', 'winston', 'ora', 'yaml'].includes(p))).toEqual([]);
    expect(good.modules).toContain('registry/registry.js');
    expect(good.modules).not.toContain('services.js');
  });

  it('loads no spinner library when stderr is not a terminal', () => {
    expect(loaded('start', 'no-such-instance').packages).not.toContain('ora');
  });

  it.each([[['--help']], [['serve', '--help']], [['doctor', '--help']], [['service', 'install', '--help']]])('dbaas %j loads none of the heavy libraries', (args) => {
    const run = loaded(...args);
    expect(run.code).toBe(0);
    expect(run.packages.filter((p) => HEAVY.includes(p))).toEqual([]);
    expect(run.modules.filter((m) => m.startsWith('cli/actions/'))).toEqual([]);
  });
});
