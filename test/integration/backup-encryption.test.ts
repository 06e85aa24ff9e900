import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/settings.js';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { createLogger } from '../../src/log/logger.js';
import { createServices, type Services } from '../../src/services.js';
import { makeHome, query, until, type TestHome } from './helpers.js';

/**
 * Backups encrypted at rest with age (issue 9): with DBAAS_BACKUP_KEY_FILE set, base backups,
 * dumps and archived WAL are written encrypted by the server's container, which holds only the
 * public key; restores and verifications work with the key, and are refused without it.
 */

let t: TestHome;
let keys: string;
let db: CreatedInstance;

function servicesWith(env: Record<string, string | undefined>): Services {
  return createServices(loadSettings({ env: { ...t.env, ...env } }), { logger: createLogger({ consoleLevel: 'silent' }) });
}

beforeAll(async () => {
  keys = mkdtempSync(join(tmpdir(), 'dbaas-keys-'));
  execFileSync('age-keygen', ['-o', join(keys, 'backup.key')], { stdio: 'ignore' });
  execFileSync('age-keygen', ['-o', join(keys, 'other.key')], { stdio: 'ignore' });
  t = makeHome(23420, { DBAAS_BACKUP_KEY_FILE: join(keys, 'backup.key') });
  db = await t.manager.create({ name: 'secret', memory: '128m' });
  await query(db.connectionString, "CREATE TABLE cards (id int PRIMARY KEY, holder text); INSERT INTO cards SELECT g, 'holder-' || g FROM generate_series(1, 500) g");
});

afterAll(async () => {
  await t?.services.close();
  await t?.cleanup();
  rmSync(keys, { recursive: true, force: true });
});

describe('encrypted backups', () => {
  it('write base backups, dumps and archived WAL encrypted, with no plain copy', async () => {
    const physical = await t.services.backups.create('secret', { type: 'physical' });
    const logical = await t.services.backups.create('secret', { type: 'logical' });
    expect(physical.encrypted).toBe(true);
    expect(physical.files.map((f) => f.name)).toEqual(['base.tar.age']);
    expect(logical.files.map((f) => f.name).sort()).toEqual(['database.pgdump.age', 'roles.sql.age']);
    for (const b of [physical, logical]) {
      for (const f of b.files) {
        const bytes = readFileSync(join(b.path, f.name));
        expect(bytes.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
        expect(bytes.includes(Buffer.from('holder-42'))).toBe(false);
      }
      expect(readdirSync(b.path).sort()).toEqual([...b.files.map((f) => f.name), 'dbaas-backup.json'].sort());
    }
    const walDir = t.services.backups.repository.walDir(db.id);
    const admin = t.manager.superuserTarget(await t.manager.record(db.id));
    await query(`postgresql://postgres:${encodeURIComponent(admin.password)}@${admin.host}:${admin.port}/postgres`, 'SELECT pg_switch_wal()');
    await until('an encrypted segment', () => readdirSync(walDir).some((n) => /^[0-9A-F]{24}\.age$/.test(n)));
    expect(readdirSync(walDir).filter((n) => /^[0-9A-F]{24}$/.test(n))).toEqual([]);
    // The server's container has the public key only.
    const compose = readFileSync(join(t.home, 'instances', db.id, 'docker-compose.yml'), 'utf8');
    expect(compose).toMatch(/age1[0-9a-z]{50,}/);
    expect(compose).not.toContain('AGE-SECRET-KEY');
  });

  it('verifies a base backup with the key, by a real restore', async () => {
    const physical = (await t.services.backups.list('secret')).find((b) => b.type === 'physical');
    expect((await t.services.backups.verify(physical?.id as string, { restore: true })).verification).toMatchObject({ ok: true, problems: [] });
  }, 240_000);

  it('verifies a dump with the key, by a real restore and its row counts', async () => {
    const logical = (await t.services.backups.list('secret')).find((b) => b.type === 'logical');
    expect((await t.services.backups.verify(logical?.id as string, { restore: true })).verification).toMatchObject({ ok: true, problems: [] });
  }, 240_000);

  it('restores the newest state from the encrypted backup and archive', async () => {
    await query(db.connectionString, "INSERT INTO cards VALUES (501, 'after the backup')");
    const latest = await t.services.backups.restore('secret', { as: 'secret-latest', latest: true });
    expect(await query(latest.connectionString, 'SELECT count(*)::int AS n FROM cards')).toEqual([{ n: 501 }]);
  }, 240_000);

  it('restores an encrypted dump into a new instance', async () => {
    const logical = (await t.services.backups.list('secret')).find((b) => b.type === 'logical');
    const fromDump = await t.services.backups.restore(logical?.id as string, { as: 'secret-dump' });
    expect(await query(fromDump.connectionString, 'SELECT count(*)::int AS n FROM cards')).toEqual([{ n: 500 }]);
  }, 240_000);

  it('are refused without the key, and fail with another one, leaving nothing', async () => {
    const physical = (await t.services.backups.list('secret')).find((b) => b.type === 'physical');
    const keyless = servicesWith({ DBAAS_BACKUP_KEY_FILE: undefined });
    const wrong = servicesWith({ DBAAS_BACKUP_KEY_FILE: join(keys, 'other.key') });
    try {
      await expect(keyless.backups.restore(physical?.id as string, { as: 'no-key' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
      await expect(keyless.backups.verify(physical?.id as string)).resolves.toMatchObject({ verification: { ok: false } });
      const before = (await t.manager.records()).length;
      await expect(wrong.backups.restore(physical?.id as string, { as: 'wrong-key' })).rejects.toMatchObject({ code: 'PROVISIONING_FAILED' });
      expect((await t.manager.records()).length).toBe(before);
    } finally {
      await keyless.close();
      await wrong.close();
    }
  });

  it('carry an upgrade: its encrypted safety backup is verified, and a rollback after a link upgrade recovers from it', async () => {
    const count = async (cs: string) => (await query<{ n: string }>(cs, 'SELECT count(*) AS n FROM cards'))[0]?.n;
    const before = await count(db.connectionString);
    const result = await t.services.upgrades.upgrade('secret', { to: 17, method: 'link' });
    const safety = t.services.backups.show(result.safetyBackup);
    expect(safety).toMatchObject({ encrypted: true, verification: { ok: true, restored: true } });
    const info = await t.manager.connection('secret', { showPassword: true });
    await query(info.connectionString, "INSERT INTO cards VALUES (100001, 'on 17')");
    const rolled = await t.services.upgrades.rollback('secret');
    expect(rolled).toMatchObject({ version: 15, restoredFrom: 'safety-backup' });
    const back = await t.manager.connection('secret', { showPassword: true });
    expect(await count(back.connectionString)).toBe(before);
    // The archive's segments of 17 (encrypted, .age) moved aside with the others.
    const walDir = t.services.backups.repository.walDir(db.id);
    const aside = readdirSync(walDir).filter((n) => n.startsWith('rolled-back-pg17-'));
    expect(aside).toHaveLength(1);
    expect(readdirSync(join(walDir, aside[0] as string)).every((n) => n.endsWith('.age'))).toBe(true);
  });
});
