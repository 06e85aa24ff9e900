import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SCRAM_VERIFIER, scramVerifier } from '../../src/database/scram.js';

const subtle = webcrypto.subtle;
const enc = new TextEncoder();

interface Parsed {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

function parse(verifier: string): Parsed {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  if (!m) throw new Error(`not a verifier: ${verifier}`);
  return {
    iterations: Number(m[1]),
    salt: Buffer.from(m[2]!, 'base64'),
    storedKey: Buffer.from(m[3]!, 'base64'),
    serverKey: Buffer.from(m[4]!, 'base64'),
  };
}

async function hmac(key: ArrayBuffer | Uint8Array, text: string): Promise<Uint8Array> {
  const k = await subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle.sign('HMAC', k, enc.encode(text)));
}

/**
 * RFC 5802 section 3 with SHA-256 (RFC 7677), computed independently of the code under test,
 * with WebCrypto: SaltedPassword = Hi(password, salt, i) = PBKDF2-HMAC-SHA-256,
 * ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey = H(ClientKey),
 * ServerKey = HMAC(SaltedPassword, "Server Key").
 */
async function expectedKeys(password: string, salt: Uint8Array, iterations: number): Promise<{ storedKey: Buffer; serverKey: Buffer }> {
  const base = await subtle.importKey('raw', enc.encode(password), 'PBKDF2', false, ['deriveBits']);
  const salted = await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, base, 256);
  const clientKey = await hmac(salted, 'Client Key');
  const storedKey = new Uint8Array(await subtle.digest('SHA-256', clientKey));
  const serverKey = await hmac(salted, 'Server Key');
  return { storedKey: Buffer.from(storedKey), serverKey: Buffer.from(serverKey) };
}

const SALT = Buffer.from('0123456789abcdef', 'utf8');

/** The verifier of "pencil" with RFC 7677's salt and iteration count. */
const RFC7677_VERIFIER =
  'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=';

describe('scramVerifier', () => {
  it('has the form PostgreSQL stores: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>', () => {
    const v = scramVerifier('pencil-Passw0rd');
    expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}$/);
    const p = parse(v);
    expect(p.iterations).toBe(4096);
    // A fresh 16-byte salt, SHA-256-sized keys.
    expect(p.salt).toHaveLength(16);
    expect(p.storedKey).toHaveLength(32);
    expect(p.serverKey).toHaveLength(32);
    // Canonical base64 (what PostgreSQL writes and reads back).
    expect(v.split('$')[1]!.split(':')[1]).toBe(p.salt.toString('base64'));
    expect(v.split('$')[2]).toBe(`${p.storedKey.toString('base64')}:${p.serverKey.toString('base64')}`);
  });

  it('never contains the password', () => {
    for (const password of ['pencil-Passw0rd', 'AAAAAAAAAAAA', 'c2VjcmV0c2VjcmV0']) {
      expect(scramVerifier(password)).not.toContain(password);
    }
  });

  it('is deterministic for a fixed salt and iteration count', () => {
    const a = scramVerifier('pencil-Passw0rd', { salt: SALT, iterations: 4096 });
    const b = scramVerifier('pencil-Passw0rd', { salt: Buffer.from(SALT), iterations: 4096 });
    expect(a).toBe(b);
    expect(a.startsWith(`SCRAM-SHA-256$4096:${SALT.toString('base64')}$`)).toBe(true);
  });

  it('uses the given iteration count', () => {
    const v = scramVerifier('pencil-Passw0rd', { salt: SALT, iterations: 1000 });
    expect(parse(v).iterations).toBe(1000);
    expect(v).not.toBe(scramVerifier('pencil-Passw0rd', { salt: SALT, iterations: 4096 }));
  });

  it.each([
    ['pencil', 4096],
    ['pencil-Passw0rd', 4096],
    ['a=b,c?d^e*:f+~!.-_@%', 4096],
    ['x'.repeat(128), 2],
    ['short', 1],
  ])('computes StoredKey and ServerKey of %j (i=%d) as RFC 5802/7677 define them', async (password, iterations) => {
    const v = scramVerifier(password, { salt: SALT, iterations });
    const p = parse(v);
    expect(p.salt.equals(SALT)).toBe(true);
    const want = await expectedKeys(password, SALT, iterations);
    expect(p.storedKey.toString('base64')).toBe(want.storedKey.toString('base64'));
    expect(p.serverKey.toString('base64')).toBe(want.serverKey.toString('base64'));
  });

  it('checks out against the RFC 7677 exchange (user "user", password "pencil")', async () => {
    // RFC 7677 section 3: the server's signature and the client's proof of that exchange follow
    // from StoredKey and ServerKey alone, so the verifier can be checked against the RFC's values.
    const salt = 'W22ZaJ0SNY7soEsUEjb6gQ==';
    const v = scramVerifier('pencil', { salt: Buffer.from(salt, 'base64'), iterations: 4096 });
    expect(v).toBe(RFC7677_VERIFIER);
    const { storedKey, serverKey } = parse(v);
    const nonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const authMessage = [
      'n=user,r=rOprNGfwEbeRWgbNEkqO', // client-first-message-bare
      `r=${nonce},s=${salt},i=4096`, // server-first-message
      `c=biws,r=${nonce}`, // client-final-message-without-proof
    ].join(',');
    // ServerSignature = HMAC(ServerKey, AuthMessage), sent as v=...
    expect(Buffer.from(await hmac(serverKey, authMessage)).toString('base64')).toBe('6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
    // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage), and StoredKey = H(ClientKey).
    const proof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');
    const signature = await hmac(storedKey, authMessage);
    const clientKey = proof.map((b, i) => b ^ signature[i]!);
    expect(Buffer.from(await subtle.digest('SHA-256', clientKey)).equals(storedKey)).toBe(true);
  });

  it('matches the keys recomputed with WebCrypto for a random salt too', async () => {
    const v = scramVerifier('Rand0m-Salt-Pw');
    const p = parse(v);
    const want = await expectedKeys('Rand0m-Salt-Pw', p.salt, p.iterations);
    expect(p.storedKey.equals(want.storedKey)).toBe(true);
    expect(p.serverKey.equals(want.serverKey)).toBe(true);
  });

  it('gives different verifiers for different salts, and a fresh salt every call by default', () => {
    const a = scramVerifier('pencil-Passw0rd', { salt: Buffer.alloc(16, 1) });
    const b = scramVerifier('pencil-Passw0rd', { salt: Buffer.alloc(16, 2) });
    expect(a).not.toBe(b);
    expect(parse(a).storedKey.equals(parse(b).storedKey)).toBe(false);
    expect(parse(a).serverKey.equals(parse(b).serverKey)).toBe(false);
    const fresh = new Set(Array.from({ length: 5 }, () => scramVerifier('pencil-Passw0rd')));
    expect(fresh.size).toBe(5);
    expect(new Set([...fresh].map((v) => parse(v).salt.toString('base64'))).size).toBe(5);
  });

  it('gives different verifiers for different passwords with the same salt', () => {
    expect(scramVerifier('pencil-Passw0rd', { salt: SALT })).not.toBe(scramVerifier('pencil-Passw0rd2', { salt: SALT }));
  });
});

describe('SCRAM_VERIFIER', () => {
  it('accepts what scramVerifier makes', () => {
    for (const password of ['pencil', 'a=b,c?d^e*:f', 'Z'.repeat(128)]) {
      expect(SCRAM_VERIFIER.test(scramVerifier(password))).toBe(true);
      expect(SCRAM_VERIFIER.test(scramVerifier(password, { salt: SALT, iterations: 1 }))).toBe(true);
    }
  });

  it('accepts the RFC 7677 verifier', () => {
    expect(SCRAM_VERIFIER.test(RFC7677_VERIFIER)).toBe(true);
  });

  it.each([
    ['plain text', 'pencil'],
    ['md5 hash', 'md5a3556571e93b0d20722ba62be61e8c2d'],
    ['another mechanism', 'SCRAM-SHA-1$4096:c2FsdA==$a2V5:a2V5'],
    ['no iterations', 'SCRAM-SHA-256$:c2FsdA==$a2V5:a2V5'],
    ['a quote (SQL injection)', "SCRAM-SHA-256$4096:c2FsdA==$a2V5:a2V5'; DROP ROLE x; --"],
    ['a missing ServerKey', 'SCRAM-SHA-256$4096:c2FsdA==$a2V5'],
    ['a newline', 'SCRAM-SHA-256$4096:c2FsdA==$a2V5:a2V5\n'],
    ['a leading space', ' SCRAM-SHA-256$4096:c2FsdA==$a2V5:a2V5'],
    ['empty', ''],
  ])('refuses %s', (_what, text) => {
    expect(SCRAM_VERIFIER.test(text)).toBe(false);
  });
});
