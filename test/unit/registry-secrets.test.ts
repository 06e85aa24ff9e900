import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DbaasError } from '../../src/errors.js';
import { PasswordSchema } from '../../src/instances/schema.js';
import { generatePassword, SecretBox } from '../../src/registry/secrets.js';

const KEY = randomBytes(32);
const box = SecretBox.fromKey(KEY.toString('base64'));

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DbaasError);
    return (err as DbaasError).code;
  }
  throw new Error('expected a DbaasError');
}

/** Flips one bit of one base64 part of a sealed value, keeping the format valid. */
function tamper(sealed: string, part: 1 | 2 | 3, index = 0): string {
  const parts = sealed.split(':');
  const bytes = Buffer.from(parts[part] ?? '', 'base64');
  bytes[index % bytes.length] = (bytes[index % bytes.length] ?? 0) ^ 0x01;
  parts[part] = bytes.toString('base64');
  return parts.join(':');
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('SecretBox seal/open', () => {
  it.each(['hunter2hunter2', '', 'ünïcödé ✓ 🔑', 'a:b:c:d', 'x'.repeat(10_000)])('round-trips %j', (plain) => {
    const sealed = box.seal(plain);
    expect(box.open(sealed)).toBe(plain);
  });

  it('writes v1:<iv>:<tag>:<ciphertext> with a 12-byte IV and a 16-byte tag, never the plain text', () => {
    const sealed = box.seal('correct horse battery staple');
    const parts = sealed.split(':');
    expect(parts).toHaveLength(4);
    expect(parts[0]).toBe('v1');
    expect(Buffer.from(parts[1] ?? '', 'base64')).toHaveLength(12);
    expect(Buffer.from(parts[2] ?? '', 'base64')).toHaveLength(16);
    expect(Buffer.from(parts[3] ?? '', 'base64')).toHaveLength('correct horse battery staple'.length);
    expect(sealed).not.toContain('correct horse');
    expect(sealed).not.toContain(Buffer.from('correct horse').toString('base64'));
  });

  it('uses a fresh IV each time, so the same plain text seals differently', () => {
    const seen = new Set<string>();
    const ivs = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const sealed = box.seal('same');
      seen.add(sealed);
      ivs.add(sealed.split(':')[1] ?? '');
      expect(box.open(sealed)).toBe('same');
    }
    expect(seen.size).toBe(50);
    expect(ivs.size).toBe(50);
  });

  it.each([
    [3, 'ciphertext'],
    [2, 'tag'],
    [1, 'iv'],
  ] as const)('detects a flipped bit in part %i (the %s) with REGISTRY_CORRUPT', (part, _name) => {
    const sealed = box.seal('a secret worth protecting');
    for (const index of [0, 5, 11]) {
      const bad = tamper(sealed, part, index);
      expect(bad).not.toBe(sealed);
      expect(code(() => box.open(bad))).toBe('REGISTRY_CORRUPT');
    }
  });

  it('detects a truncated ciphertext', () => {
    const sealed = box.seal('a secret worth protecting');
    const parts = sealed.split(':');
    const data = Buffer.from(parts[3] ?? '', 'base64');
    parts[3] = data.subarray(0, data.length - 1).toString('base64');
    expect(code(() => box.open(parts.join(':')))).toBe('REGISTRY_CORRUPT');
  });

  it('fails with another key', () => {
    const other = SecretBox.fromKey(randomBytes(32).toString('base64'));
    const sealed = box.seal('secret');
    expect(code(() => other.open(sealed))).toBe('REGISTRY_CORRUPT');
    try {
      other.open(sealed);
    } catch (err) {
      expect((err as Error).message).toMatch(/master key/);
      expect((err as Error).message).not.toContain('secret:');
    }
  });

  it.each(['', 'plain text', 'v2:a:b:c', 'v1:only', 'v1::tag:data', 'v1:iv::data', 'v1:iv:tag'])(
    'refuses %j, which is not in the sealed format',
    (text) => {
      expect(code(() => box.open(text))).toBe('REGISTRY_CORRUPT');
    },
  );
});

describe('SecretBox.fromKey', () => {
  it('accepts base64 of 32 bytes (with surrounding whitespace) and hex of 32 bytes, as the same key', () => {
    const sealed = box.seal('x');
    expect(SecretBox.fromKey(`  ${KEY.toString('base64')}\n`).open(sealed)).toBe('x');
    expect(SecretBox.fromKey(KEY.toString('hex')).open(sealed)).toBe('x');
    expect(SecretBox.fromKey(KEY.toString('hex').toUpperCase()).open(sealed)).toBe('x');
  });

  it.each([
    ['16 bytes base64', randomBytes(16).toString('base64')],
    ['31 bytes base64', randomBytes(31).toString('base64')],
    ['33 bytes base64', randomBytes(33).toString('base64')],
    ['64 bytes base64', randomBytes(64).toString('base64')],
    ['62 hex digits', randomBytes(31).toString('hex')],
    ['empty', ''],
    ['a passphrase', 'my secret passphrase'],
  ])('rejects %s with CONFIG_INVALID', (_what, text) => {
    expect(code(() => SecretBox.fromKey(text))).toBe('CONFIG_INVALID');
  });
});

describe('SecretBox.fromKeyFile', () => {
  it('creates a 0600 key file with a fresh 32-byte key and reuses it afterwards', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaas-unit-key-'));
    dirs.push(dir);
    const file = join(dir, 'config', 'nested', 'master.key');
    const first = SecretBox.fromKeyFile(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(Buffer.from(text.trim(), 'base64')).toHaveLength(32);

    const sealed = first.seal('kept across restarts');
    const second = SecretBox.fromKeyFile(file);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(second.open(sealed)).toBe('kept across restarts');
  });

  it('makes a different key per file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaas-unit-key-'));
    dirs.push(dir);
    const a = SecretBox.fromKeyFile(join(dir, 'a.key'));
    const b = SecretBox.fromKeyFile(join(dir, 'b.key'));
    expect(readFileSync(join(dir, 'a.key'), 'utf8')).not.toBe(readFileSync(join(dir, 'b.key'), 'utf8'));
    expect(code(() => b.open(a.seal('x')))).toBe('REGISTRY_CORRUPT');
  });

  it('tightens an existing key file to 0600 and uses its key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaas-unit-key-'));
    dirs.push(dir);
    const file = join(dir, 'master.key');
    writeFileSync(file, KEY.toString('hex') + '\n');
    chmodSync(file, 0o644);
    const fromFile = SecretBox.fromKeyFile(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(fromFile.open(box.seal('same key'))).toBe('same key');
  });

  it('rejects a key file that does not hold 32 bytes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaas-unit-key-'));
    dirs.push(dir);
    const file = join(dir, 'master.key');
    writeFileSync(file, 'too short\n');
    expect(code(() => SecretBox.fromKeyFile(file))).toBe('CONFIG_INVALID');
  });
});

describe('generatePassword', () => {
  const ALPHABET = /^[ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789]+$/;

  it('makes 24 characters by default, from an unambiguous alphabet', () => {
    for (let i = 0; i < 200; i++) {
      const p = generatePassword();
      expect(p).toHaveLength(24);
      expect(p).toMatch(ALPHABET);
      expect(p).not.toMatch(/[IOl01]/);
    }
  });

  it.each([8, 32, 64, 128])('makes passwords of length %d', (length) => {
    const p = generatePassword(length);
    expect(p).toHaveLength(length);
    expect(p).toMatch(ALPHABET);
  });

  it('makes passwords the validator accepts', () => {
    for (let i = 0; i < 50; i++) expect(PasswordSchema.safeParse(generatePassword()).success).toBe(true);
    expect(PasswordSchema.safeParse(generatePassword(32)).success).toBe(true);
  });

  it('never repeats itself', () => {
    const seen = new Set(Array.from({ length: 2000 }, () => generatePassword()));
    expect(seen.size).toBe(2000);
  });

  it('uses the whole alphabet, roughly evenly', () => {
    const counts = new Map<string, number>();
    const text = Array.from({ length: 400 }, () => generatePassword(50)).join('');
    for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(57);
    const expected = text.length / 57; // ~351
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(expected * 0.6);
      expect(n).toBeLessThan(expected * 1.4);
    }
  });
});
