import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, type AuditEntry } from '../../src/auth/audit.js';
import { parseDuration } from '../../src/auth/duration.js';
import { canonicalJson, fingerprintOf, IdempotencyStore } from '../../src/auth/idempotency.js';
import { TokenStore } from '../../src/auth/tokens.js';
import { DbaasError } from '../../src/errors.js';
import { SecretBox } from '../../src/registry/secrets.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dbaas-auth-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['12h', 12 * 3_600_000],
    ['30d', 30 * 86_400_000],
    ['2w', 14 * 86_400_000],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', '0d', '30', 'd', '1m', '-1d', '1.5d', '30 days'])('refuses %j', (text) => expect(parseDuration(text)).toBeUndefined());
});

describe('TokenStore', () => {
  it('authenticates the token it printed, and nothing that differs by a character', async () => {
    const store = new TokenStore(join(dir, 'tokens.json'));
    const made = await store.create({ name: 'ci', role: 'developer', project: 'pay' });
    expect(made.token).toMatch(/^dbaas_tok_[a-z0-9]{10}_[A-Za-z0-9]{40}$/);
    expect(await store.authenticate(made.token)).toEqual({
      principal: { kind: 'token', tokenId: made.id, name: 'ci', role: 'developer', project: 'pay' },
    });
    const last = made.token.at(-1) === 'A' ? 'B' : 'A';
    expect(await store.authenticate(made.token.slice(0, -1) + last)).toEqual({ refused: 'unknown' });
    expect(await store.authenticate('dbaas_tok_0000000000_' + 'A'.repeat(40))).toEqual({ refused: 'unknown' });
    expect(await store.authenticate('Bearer x')).toEqual({ refused: 'malformed' });
    await store.close(); // the lastUsedAt write of the first authentication runs in the background
    expect((await store.list())[0]?.lastUsedAt).not.toBeNull();
  });

  it('remembers a verified token only for the file it was verified against: a revocation elsewhere holds within 100 ms', async () => {
    const store = new TokenStore(join(dir, 'tokens.json'));
    const made = await store.create({ name: 'hot', role: 'viewer' });
    expect(await store.authenticate(made.token)).toHaveProperty('principal');
    expect(await store.authenticate(made.token)).toHaveProperty('principal'); // from the cache
    const forged = made.token.slice(0, -1) + (made.token.at(-1) === 'A' ? 'B' : 'A');
    expect(await store.authenticate(forged)).toEqual({ refused: 'unknown' }); // same id, other secret: hashed, refused
    await new TokenStore(join(dir, 'tokens.json')).revoke('hot'); // as another process would
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await store.authenticate(made.token)).toEqual({ refused: 'revoked' });
    await store.close();
  });

  it('gives owners a project (default "default") and admins none', async () => {
    const store = new TokenStore(join(dir, 'tokens.json'));
    expect((await store.create({ name: 'o', role: 'owner' })).project).toBe('default');
    expect((await store.create({ name: 'a', role: 'admin' })).project).toBeNull();
    await expect(store.create({ name: 'b', role: 'admin', project: 'pay' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('keeps names unique among tokens not revoked; revoking frees the name and keeps the record', async () => {
    const store = new TokenStore(join(dir, 'tokens.json'));
    const first = await store.create({ name: 'ci', role: 'viewer' });
    await expect(store.create({ name: 'ci', role: 'viewer' })).rejects.toMatchObject({ code: 'NAME_TAKEN' });
    expect((await store.revoke('ci')).state).toBe('revoked');
    expect(await store.authenticate(first.token)).toEqual({ refused: 'revoked' });
    await store.create({ name: 'ci', role: 'viewer' });
    expect((await store.list()).map((t) => `${t.name}:${t.state}`)).toEqual(['ci:revoked', 'ci:active']);
    await expect(store.revoke('nope')).rejects.toBeInstanceOf(DbaasError);
    expect(await store.hasActive()).toBe(true);
    await store.close();
  });
});

describe('idempotency keys', () => {
  it('fingerprints a body whatever the order of its keys', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: null }] })).toBe('{"a":[{"c":null,"d":2}],"b":1}');
    expect(fingerprintOf('POST', '/instances', { a: 1, b: 2 })).toBe(fingerprintOf('POST', '/instances', { b: 2, a: 1 }));
    expect(fingerprintOf('POST', '/instances', { a: 1 })).not.toBe(fingerprintOf('POST', '/other', { a: 1 }));
  });

  it('claims a key once; the same request sees it running, then replays its sealed answer; another request is a mismatch', async () => {
    const box = SecretBox.fromKeyFile(join(dir, 'master.key'));
    const store = new IdempotencyStore(join(dir, 'idem'), box);
    const first = await store.claim('tok_a', 'k1', 'f1');
    expect(first.kind).toBe('claimed');
    expect((await store.claim('tok_a', 'k1', 'f1')).kind).toBe('running');
    expect((await store.claim('tok_b', 'k1', 'f1')).kind).toBe('claimed'); // another caller's key
    if (first.kind !== 'claimed') throw new Error('unreachable');
    await first.finish(201, { password: 'very-secret-password' });
    expect(await store.claim('tok_a', 'k1', 'f1')).toEqual({ kind: 'replay', status: 201, body: { password: 'very-secret-password' } });
    expect(await store.claim('tok_a', 'k1', 'f2')).toEqual({ kind: 'mismatch' });
  });

  it('frees a key whose request failed on our side, and one whose process died', async () => {
    const store = new IdempotencyStore(join(dir, 'idem'), { seal: (s) => s, open: (s) => s });
    const claim = await store.claim('local', 'k', 'f');
    if (claim.kind !== 'claimed') throw new Error('expected a claim');
    await claim.release();
    expect((await store.claim('local', 'k', 'f')).kind).toBe('claimed');
    // A claim whose process is gone (a pid above any pid_max) is taken over, not waited for.
    const file = join(dir, 'idem', `${createHash('sha256').update('local\0dead').digest('hex')}.json`);
    writeFileSync(file, JSON.stringify({ fingerprint: 'f', createdAt: Date.now(), owner: { pid: 999_999_999, host: hostname() }, state: 'running' }));
    expect((await store.claim('local', 'dead', 'f')).kind).toBe('claimed');
  });
});

describe('the audit log', () => {
  /** A rotation the tests that are not about rotation never reach. */
  const roomy = { maxFileBytes: 1 << 20, keep: 5 };
  const entry = (n: number): AuditEntry => ({
    ts: new Date().toISOString(),
    requestId: `req_${n}`,
    actor: null,
    client: '127.0.0.1',
    action: 'createInstance',
    target: null,
    project: null,
    outcome: 'success',
    status: 201,
    error: null,
  });

  it('appends whole lines, keeps the file 0600, and follows a rotation to a new file', async () => {
    const file = join(dir, 'logs', 'audit.ndjson');
    const log = new AuditLog(file, roomy);
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(entry(i))));
    expect((await log.read()).map((e) => e.requestId).sort()).toEqual(Array.from({ length: 50 }, (_, i) => `req_${i}`).sort());
    expect(statSync(file).mode & 0o777).toBe(0o600);
    renameSync(file, `${file}.1`);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await log.append(entry(99));
    expect(readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).requestId)).toEqual(['req_99']);
    // A file moved to `.1` reads as the rotation before it.
    expect((await log.read()).map((e) => e.requestId)).toEqual([...Array.from({ length: 50 }, (_, i) => `req_${i}`), 'req_99']);
    expect(readFileSync(`${file}.1`, 'utf8').trim().split('\n')).toHaveLength(50);
    await log.close();
  });

  it('batches lines that come during a write in append order, and close waits for the lines not yet written', async () => {
    const file = join(dir, 'logs', 'batched.ndjson');
    const log = new AuditLog(file, roomy);
    const first = log.append(entry(0));
    // These come while the first write is under way: they go out together after it.
    const more = Array.from({ length: 20 }, (_, i) => log.append(entry(i + 1)));
    expect(more[0]).toBe(more[19]);
    await first;
    void log.append(entry(21));
    void log.append(entry(22));
    await log.close();
    expect(readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).requestId)).toEqual(
      Array.from({ length: 23 }, (_, i) => `req_${i}`),
    );
  });

  it('rotates a file grown past its size once, even when two writers see it at once, keeps `keep` files, and reads across them', async () => {
    const file = join(dir, 'logs', 'rotating.ndjson');
    const rotation = { maxFileBytes: 4096, keep: 2 };
    // Lines of about 200 bytes: 30 of them fill more than 4 KB.
    const fill = async (from: number) => {
      const log = new AuditLog(file, rotation);
      await Promise.all(Array.from({ length: 30 }, (_, i) => log.append(entry(from + i))));
      await log.close();
    };
    await fill(0);
    // Two writers (a server and a CLI) whose first write finds the file too large: one rotation.
    const [a, b] = [new AuditLog(file, rotation), new AuditLog(file, rotation)];
    await Promise.all([a.append(entry(100)), b.append(entry(101))]);
    await Promise.all([a.close(), b.close()]);
    const ids = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l).requestId as string);
    expect(ids(`${file}.1`)).toEqual(Array.from({ length: 30 }, (_, i) => `req_${i}`));
    expect(ids(file).sort()).toEqual(['req_100', 'req_101']);
    expect(existsSync(`${file}.2`)).toBe(false);
    // The next writer finds the file small and appends; the two after it rotate: the oldest file
    // (req_0...) goes, `keep` (2) stay.
    await fill(200);
    await fill(300);
    await fill(400);
    expect([...ids(`${file}.2`).slice(0, 2).sort(), ids(`${file}.2`)[2]]).toEqual(['req_100', 'req_101', 'req_200']);
    expect(ids(`${file}.1`)[0]).toBe('req_300');
    expect(ids(file)[0]).toBe('req_400');
    expect(existsSync(`${file}.3`)).toBe(false);
    // A read takes the newest entries across the files, oldest first, and stops when it has enough.
    const log = new AuditLog(file, rotation);
    expect((await log.read({ limit: 35 })).map((e) => e.requestId)).toEqual([
      ...Array.from({ length: 5 }, (_, i) => `req_${325 + i}`),
      ...Array.from({ length: 30 }, (_, i) => `req_${400 + i}`),
    ]);
    expect(await log.read({ limit: 1000 })).toHaveLength(92);
  });

  it('reads since a time: older rotated files are not needed', async () => {
    const file = join(dir, 'logs', 'since.ndjson');
    const at = (n: number, ts: string) => JSON.stringify({ ...entry(n), ts }) + '\n';
    mkdirSync(join(dir, 'logs'), { recursive: true });
    // Not a file: a read that opened it would fail, so the read below proves it stopped before.
    mkdirSync(`${file}.2`);
    writeFileSync(`${file}.1`, at(2, '2025-06-01T00:00:00.000Z') + at(3, '2026-01-02T00:00:00.000Z'));
    writeFileSync(file, at(4, '2026-02-01T00:00:00.000Z'));
    const log = new AuditLog(file, roomy);
    expect((await log.read({ since: new Date('2026-01-01T00:00:00.000Z') })).map((e) => e.requestId)).toEqual(['req_3', 'req_4']);
    await expect(log.read({})).rejects.toThrow(/EISDIR/);
  });

  it('rejects the lines of a write that failed, and writes the next ones', async () => {
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, '');
    const log = new AuditLog(join(blocker, 'audit.ndjson'), roomy);
    await expect(log.append(entry(1))).rejects.toThrow();
    rmSync(blocker);
    await log.append(entry(2));
    expect(readFileSync(join(blocker, 'audit.ndjson'), 'utf8')).toContain('"req_2"');
    await log.close();
  });
});
