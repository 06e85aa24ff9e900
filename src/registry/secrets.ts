import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DbaasError } from '../errors.js';

/**
 * Seals secrets for the registry with AES-256-GCM. The key comes from DBAAS_MASTER_KEY (32 bytes,
 * base64 or hex) or from a 0600 key file made on first use. A sealed value is
 * `v1:<iv>:<tag>:<ciphertext>`, base64 parts; GCM's tag makes tampering fail loudly.
 */
const PREFIX = 'v1';

export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static fromKey(text: string): SecretBox {
    const trimmed = text.trim();
    const key = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
    if (key.length !== 32) {
      throw new DbaasError('CONFIG_INVALID', 'the master key must be 32 bytes, given as base64 or 64 hex digits');
    }
    return new SecretBox(key);
  }

  /** Reads the key file, creating it (mode 0600) with a fresh random key when absent. */
  static fromKeyFile(file: string): SecretBox {
    if (!existsSync(file)) {
      mkdirSync(dirname(file), { recursive: true });
      try {
        // 'wx' fails if another process made the file in the meantime; then we read theirs.
        writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    chmodSync(file, 0o600);
    return SecretBox.fromKey(readFileSync(file, 'utf8'));
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [PREFIX, iv.toString('base64'), cipher.getAuthTag().toString('base64'), data.toString('base64')].join(':');
  }

  open(sealed: string): string {
    const [prefix, iv, tag, data] = sealed.split(':');
    if (prefix !== PREFIX || !iv || !tag || data === undefined) {
      throw new DbaasError('REGISTRY_CORRUPT', 'a stored secret is not in the sealed format');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new DbaasError(
        'REGISTRY_CORRUPT',
        'a stored secret cannot be decrypted: the master key differs from the one it was sealed with',
      );
    }
  }
}

/** A random password of letters and digits (about 143 bits for 24 characters). */
export function generatePassword(length = 24): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const bytes = randomBytes(length * 2);
  let out = '';
  for (const byte of bytes) {
    // Rejection sampling keeps every character equally likely.
    if (byte < 256 - (256 % alphabet.length)) out += alphabet[byte % alphabet.length];
    if (out.length === length) break;
  }
  return out.length === length ? out : generatePassword(length);
}
