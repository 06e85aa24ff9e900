import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PROJECT_ROOT } from './root.js';

/**
 * Where a dbaas home and its files are, from the environment alone: no settings parsed, so no
 * validation library loaded. loadSettings uses these; so does the one command that may answer
 * without settings (`dbaas list` of an installation that has no instances and is given none).
 */

export function homeOf(env: NodeJS.ProcessEnv): string {
  return resolve(env.DBAAS_HOME ?? PROJECT_ROOT);
}

export function configFileOf(env: NodeJS.ProcessEnv, home: string): string {
  return env.DBAAS_CONFIG ? resolve(env.DBAAS_CONFIG) : join(home, 'config', 'dbaas.yaml');
}

export function registryFileOf(home: string): string {
  return join(home, 'config', 'instances.json');
}

/**
 * Whether anything but the home is configured: a DBAAS_ variable other than DBAAS_HOME, or a
 * config file. When nothing is, every setting has its default, which is valid by construction.
 */
export function settingsGiven(env: NodeJS.ProcessEnv): boolean {
  if (Object.keys(env).some((name) => name.startsWith('DBAAS_') && name !== 'DBAAS_HOME')) return true;
  return existsSync(configFileOf(env, homeOf(env)));
}
