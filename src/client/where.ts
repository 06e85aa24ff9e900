import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Whether the CLI talks to a remote server, decided without loading anything heavy (every
 * command asks before it runs): DBAAS_URL, or a login saved by `dbaas login`.
 */
export function credentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.DBAAS_CREDENTIALS ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'dbaas', 'credentials.json');
}

export function isRemote(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.DBAAS_URL) || existsSync(credentialsFile(env));
}
