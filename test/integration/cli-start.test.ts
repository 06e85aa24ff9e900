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

describe('dbaas start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dbaas-cli-start-'));
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.DBAAS_TEST_LOADED, url + '\\n');
  return next(url, context);
}`,
  );
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs `dbaas ...args` and returns its exit code and the modules it loaded. */
  function loaded(...args: string[]): { code: number | null; packages: string[]; modules: string[] } {
    const log = join(dir, `loaded-${args.join('_').replace(/\W/g, '')}.txt`);
    writeFileSync(log, '');
    const run = spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, BIN, ...args], {
      env: { ...process.env, DBAAS_HOME: dir, DBAAS_TEST_LOADED: log },
      encoding: 'utf8',
    });
    const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const packages = [...new Set(urls.map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((p): p is string => Boolean(p)))];
    const modules = urls.filter((u) => u.includes('/dist/')).map((u) => u.slice(u.indexOf('/dist/') + 6));
    return { code: run.status, packages, modules };
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

  it('dbaas list of an installation without instances reads the registry only: no engine client, no services', () => {
    for (const args of [['list'], ['list', '--json']]) {
      const run = loaded(...args);
      expect(run.code).toBe(0);
      expect(run.packages.filter((p) => ['dockerode', 'pg', 'express', 'nunjucks', 'winston', 'ora', 'yaml'].includes(p))).toEqual([]);
      expect(run.modules).not.toContain('services.js');
      expect(run.modules).toContain('registry/registry.js');
    }
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
