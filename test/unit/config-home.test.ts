import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configFileOf, homeOf, registryFileOf, settingsGiven } from '../../src/config/home.js';
import { loadSettings, PROJECT_ROOT, runtimePaths } from '../../src/config/settings.js';

describe('the home from the environment alone', () => {
  const home = mkdtempSync(join(tmpdir(), 'dbaas-home-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('agrees with loadSettings on the home and the registry file', () => {
    expect(homeOf({})).toBe(PROJECT_ROOT);
    expect(homeOf({ DBAAS_HOME: 'rel/dir' })).toBe(resolve('rel/dir'));
    const env = { DBAAS_HOME: home };
    expect(runtimePaths(loadSettings({ env })).registryFile).toBe(registryFileOf(homeOf(env)));
    expect(configFileOf(env, home)).toBe(join(home, 'config', 'dbaas.yaml'));
    expect(configFileOf({ DBAAS_CONFIG: 'x.yaml' }, home)).toBe(resolve('x.yaml'));
  });

  it('calls settings given for any DBAAS_ variable but the home, and for a config file', () => {
    expect(settingsGiven({ DBAAS_HOME: home, PATH: '/bin' })).toBe(false);
    expect(settingsGiven({ DBAAS_HOME: home, DBAAS_PORT_RANGE: 'nonsense' })).toBe(true);
    expect(settingsGiven({ DBAAS_HOME: home, DBAAS_CONFIG: join(home, 'nowhere.yaml') })).toBe(true);
    mkdirSync(join(home, 'config'), { recursive: true });
    writeFileSync(join(home, 'config', 'dbaas.yaml'), 'apiPort: 8100\n');
    expect(settingsGiven({ DBAAS_HOME: home })).toBe(true);
  });
});
