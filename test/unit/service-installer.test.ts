import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSettings, PROJECT_ROOT } from '../../src/config/settings.js';
import { DbaasError } from '../../src/errors.js';
import { parseServiceOptions, planUnit, serviceEnvironment, unitText } from '../../src/service/installer.js';

/** The unit `dbaas service install` plans for this installation: its environment, its program, no secret in it. */

describe('what the unit of this installation holds', () => {
  const home = mkdtempSync(join(tmpdir(), 'dbaas-unit-service-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));
  const key = Buffer.alloc(32, 7).toString('base64');

  it('the home, and only the DBAAS_* variables that change a setting', () => {
    const env = {
      DBAAS_HOME: home,
      DBAAS_POOL_MAX: '20', // differs from the default: kept
      DBAAS_API_PORT: '8000', // the default: left out
      DBAAS_IMAGE_15: 'postgres:15', // the image 15 gets anyway: left out
      DBAAS_IMAGE_16: 'registry.local/pg:16', // kept
      DBAAS_NOT_A_SETTING: 'x', // no setting reads it: left out
      PATH: '/usr/bin',
    };
    expect(serviceEnvironment(env, loadSettings({ env }))).toEqual({
      environment: [
        { name: 'DBAAS_HOME', value: home },
        { name: 'DBAAS_IMAGE_16', value: 'registry.local/pg:16' },
        { name: 'DBAAS_POOL_MAX', value: '20' },
      ],
      secrets: [],
    });
  });

  it('a value the config file sets anyway is left out: the service reads the file itself', () => {
    const config = join(home, 'dbaas.yaml');
    writeFileSync(config, 'poolMaxPerInstance: 20\n');
    const env = { DBAAS_HOME: home, DBAAS_CONFIG: config, DBAAS_POOL_MAX: '20' };
    expect(serviceEnvironment(env, loadSettings({ env })).environment).toEqual([
      { name: 'DBAAS_HOME', value: home },
      { name: 'DBAAS_CONFIG', value: config },
    ]);
  });

  it('DBAAS_MASTER_KEY is never written: without --env-file the install is refused (exit 2), with it the unit names the file only', () => {
    const env = { DBAAS_HOME: home, DBAAS_MASTER_KEY: key };
    const settings = loadSettings({ env });
    expect(serviceEnvironment(env, settings).secrets).toEqual(['DBAAS_MASTER_KEY']);
    let refused: unknown;
    try {
      planUnit(settings, parseServiceOptions({}), env);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(DbaasError);
    expect((refused as DbaasError).code).toBe('USAGE');
    expect((refused as DbaasError).message).toContain('--env-file');
    expect((refused as DbaasError).message).not.toContain(key);

    const plan = planUnit(settings, parseServiceOptions({ envFile: '/etc/dbaas/dbaas.env' }), env);
    const unit = unitText(plan);
    expect(unit).toMatch(/^EnvironmentFile=\/etc\/dbaas\/dbaas\.env$/m);
    expect(unit).not.toContain(key);
    expect(unit.split('\n').filter((line) => !line.startsWith('#') && line.includes('MASTER_KEY'))).toEqual([]);
    expect(plan.warnings.join('\n')).toContain('/etc/dbaas/dbaas.env does not exist yet');
  });

  it('a master key in the config file stays there', () => {
    const config = join(home, 'with-key.yaml');
    writeFileSync(config, `masterKey: ${key}\n`, { mode: 0o600 });
    const env = { DBAAS_HOME: home, DBAAS_CONFIG: config };
    const unit = unitText(planUnit(loadSettings({ env }), parseServiceOptions({}), env));
    expect(unit).not.toContain(key);
    expect(unit).toContain(`Environment=DBAAS_CONFIG=${config}`);
  });

  it('node and bin/dbaas of this installation, run as the user installing it', () => {
    const env = { DBAAS_HOME: home };
    const plan = planUnit(loadSettings({ env }), parseServiceOptions({ port: 8100 }), env);
    expect(plan.spec).toMatchObject({
      node: process.execPath,
      script: join(PROJECT_ROOT, 'bin', 'dbaas'),
      args: ['serve', '--port', '8100'],
      workingDirectory: PROJECT_ROOT,
      home,
      scope: 'system',
    });
    expect(plan.spec.user?.name).toBeTruthy();
    expect(planUnit(loadSettings({ env }), parseServiceOptions({ user: true }), env).spec.user).toBeUndefined();
    expect(planUnit(loadSettings({ env }), parseServiceOptions({ runAs: 'dbaas' }), env).spec.user).toEqual({ name: 'dbaas' });
  });
});
