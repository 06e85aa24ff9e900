import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Settings } from '../config/settings.js';
import { DbaasError } from '../errors.js';

/**
 * Encryption of backups at rest with age (X25519 recipients, authenticated, streaming). The
 * operator's age identity file holds the private key; dbaas derives its public key (the
 * recipient), and the server's container encrypts with that alone: the archive command and the
 * backup tools pipe through `age -r <recipient>`, so nothing in the repository is ever plain and
 * the server cannot read an old backup. Restores and verifications, which decrypt, get a copy of
 * the identity in their one-off container for their lifetime. Who holds the file can restore;
 * without it nothing can be.
 *
 * The age binary is the host's (Debian's package: linked against glibc only), mounted read-only
 * into containers, so any glibc-based image works (the official ones and dbaas's own).
 */

export const AGE_IN_CONTAINER = '/usr/local/bin/dbaas-age';
export const KEY_IN_CONTAINER = '/run/dbaas-backup-key';
/** What encrypted files' names end with. */
export const ENCRYPTED_SUFFIX = '.age';

export interface BackupKey {
  identityFile: string;
  recipient: string;
  ageBinary: string;
}

const cache = new Map<string, BackupKey>();

/** The configured key, or null when backups are not encrypted; CONFIG_INVALID when it cannot be used. */
export function backupKey(settings: Pick<Settings, 'backupKeyFile' | 'ageBinary'>): BackupKey | null {
  if (!settings.backupKeyFile) return null;
  const identityFile = resolve(settings.backupKeyFile);
  const known = cache.get(identityFile);
  if (known) return known;
  if (!existsSync(settings.ageBinary)) {
    throw new DbaasError('CONFIG_INVALID', `DBAAS_BACKUP_KEY_FILE is set but there is no age binary at ${settings.ageBinary} (apt install age, or DBAAS_AGE_BINARY)`);
  }
  let recipient: string;
  try {
    recipient = execFileSync(`${settings.ageBinary}-keygen`, ['-y', identityFile], { encoding: 'utf8' }).trim();
  } catch (err) {
    throw new DbaasError('CONFIG_INVALID', `cannot read the backup key ${identityFile}: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`);
  }
  if (!/^age1[0-9a-z]{50,}$/.test(recipient)) throw new DbaasError('CONFIG_INVALID', `${identityFile} holds no age identity`);
  const key = { identityFile, recipient, ageBinary: settings.ageBinary };
  cache.set(identityFile, key);
  return key;
}

/** The key for decrypting a backup, or a clear refusal when the backup is encrypted and it is missing. */
export function keyFor(settings: Pick<Settings, 'backupKeyFile' | 'ageBinary'>, what: string): BackupKey {
  const key = backupKey(settings);
  if (!key) throw new DbaasError('CONFIG_INVALID', `${what} is encrypted: set DBAAS_BACKUP_KEY_FILE to the age identity it was encrypted for`);
  return key;
}

/**
 * A copy of the identity that a one-off container's postgres user (`uid`) can read, mounted
 * read-only at KEY_IN_CONTAINER; removed by the returned cleanup (the copy lives in a 0700
 * folder of the host's temporary directory).
 */
export function lendKey(key: BackupKey, uid: number, gid: number): { mounts: Array<{ host: string; container: string; readOnly: boolean }>; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'dbaas-key-'));
  const copy = join(dir, 'key');
  writeFileSync(copy, readFileSync(key.identityFile), { mode: 0o400 });
  chownSync(copy, uid, gid);
  return {
    mounts: [
      { host: key.ageBinary, container: AGE_IN_CONTAINER, readOnly: true },
      { host: copy, container: KEY_IN_CONTAINER, readOnly: true },
    ],
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Decrypts a file on the host into memory (small files: a dump's roles). */
export function decryptSmall(key: BackupKey, path: string): string {
  try {
    return execFileSync(key.ageBinary, ['-d', '-i', key.identityFile, path], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  } catch (err) {
    throw new DbaasError('BACKUP_CORRUPT', `cannot decrypt ${path}: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`);
  }
}
