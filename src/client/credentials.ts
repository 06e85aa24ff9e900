import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { DbaasError } from '../errors.js';
import { credentialsFile } from './where.js';

/**
 * Where the CLI finds a remote dbaas server: DBAAS_URL and DBAAS_TOKEN (and DBAAS_CA_FILE to
 * trust a server certificate of another CA, such as the server's local one), or what
 * `dbaas login` saved in a 0600 file (DBAAS_CREDENTIALS, by default
 * ~/.config/dbaas/credentials.json). Without either, the CLI works on this host's registry and
 * engine, as the host's operator.
 */

export const CredentialsSchema = z.object({
  url: z.url({ protocol: /^https?$/ }),
  token: z.string().min(1),
  /** PEM of the CA that issued the server's certificate, when it is not a public one. */
  ca: z.string().optional(),
});
export type RemoteTarget = z.output<typeof CredentialsSchema>;

export { credentialsFile };

/** The remote server the CLI talks to, or null for this host's own installation. */
export function remoteTarget(env: NodeJS.ProcessEnv = process.env): RemoteTarget | null {
  if (env.DBAAS_URL) {
    if (!env.DBAAS_TOKEN) throw new DbaasError('USAGE', 'DBAAS_URL is set without DBAAS_TOKEN: give the token too (or dbaas login)');
    const ca = env.DBAAS_CA_FILE ? readCa(env.DBAAS_CA_FILE) : undefined;
    return parseTarget({ url: env.DBAAS_URL, token: env.DBAAS_TOKEN, ...(ca ? { ca } : {}) }, 'DBAAS_URL');
  }
  const file = credentialsFile(env);
  if (!existsSync(file)) return null;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DbaasError('CONFIG_INVALID', `${file} is not valid JSON (run dbaas login again): ${(err as Error).message}`);
  }
  return parseTarget(json, file);
}

function parseTarget(value: unknown, where: string): RemoteTarget {
  const parsed = CredentialsSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DbaasError('CONFIG_INVALID', `${where}: ${issue?.path.join('.') || 'value'}: ${issue?.message}`);
  }
  return { ...parsed.data, url: parsed.data.url.replace(/\/+$/, '') };
}

export function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new DbaasError('CONFIG_INVALID', `cannot read the CA file ${file}: ${(err as Error).message}`);
  }
}

/** Saves a login (mode 0600, in a 0700 folder). */
export async function saveCredentials(target: RemoteTarget, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = credentialsFile(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, JSON.stringify(target, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/** Forgets the saved login; false when there was none. */
export function removeCredentials(env: NodeJS.ProcessEnv = process.env): boolean {
  const file = credentialsFile(env);
  if (!existsSync(file)) return false;
  rmSync(file);
  return true;
}
