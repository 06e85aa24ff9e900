import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BackupManifest } from '../../src/backups/manifest.js';
import { BackupRepository, MANIFEST_FILE, newBackupId } from '../../src/backups/repository.js';

let root: string;
const IDENTITY = { id: 'db_repo00001', name: 'orders', version: 15, image: 'postgres:15', database: 'app', username: 'app', project: 'default', createdAt: '2026-11-24T10:00:00.000Z', deletedAt: null };

function manifest(id: string): BackupManifest {
  return {
    format: 1,
    id,
    type: 'logical',
    label: null,
    trigger: 'manual',
    instance: { id: IDENTITY.id, name: 'orders', version: 15, image: 'postgres:15', database: 'app', username: 'app' },
    serverVersion: '15.18',
    startedAt: '2026-11-24T10:00:00.000Z',
    finishedAt: '2026-11-24T10:00:01.000Z',
    files: [{ name: 'database.pgdump', size: 3, sha256: 'a'.repeat(64) }],
    wal: null,
    rowCounts: {},
    verification: null,
    encrypted: false,
  };
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'dbaas-unit-repo-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('BackupRepository', () => {
  it("keeps each instance's backups in its own folder, or in the shared repository when one is set", () => {
    expect(new BackupRepository(join(root, 'instances'), null).areaOf('db_a1')).toBe(join(root, 'instances', 'db_a1', 'backups'));
    expect(new BackupRepository(join(root, 'instances'), join(root, 'nfs')).walDir('db_a1')).toBe(join(root, 'nfs', 'db_a1', 'wal'));
  });

  it('lists a backup only once it is committed; a part folder is never listed and can be discarded', () => {
    const repo = new BackupRepository(join(root, 'instances'), null);
    repo.ensureArea(IDENTITY);
    const id = newBackupId(new Date('2026-11-24T10:00:00Z'));
    expect(id).toMatch(/^bk_20261124100000[a-z0-9]{4}$/);
    const part = repo.partDir(IDENTITY.id, id);
    writeFileSync(join(part, 'database.pgdump'), 'abc');
    expect(repo.all()).toEqual([]);
    expect(() => repo.find(id)).toThrow(/no backup/);
    const location = repo.commit(part, manifest(id));
    expect(repo.all().map((l) => l.manifest.id)).toEqual([id]);
    expect(repo.find(id).dir).toBe(location.dir);
    expect(existsSync(part)).toBe(false);

    const other = repo.partDir(IDENTITY.id, newBackupId());
    repo.discardPart(other);
    expect(readdirSync(repo.areaOf(IDENTITY.id)).sort()).toEqual([id, 'instance.json', 'wal']);
  });

  it('skips a backup whose manifest does not parse instead of listing it', () => {
    const repo = new BackupRepository(join(root, 'instances'), null);
    repo.ensureArea(IDENTITY);
    const id = newBackupId();
    const dir = join(repo.areaOf(IDENTITY.id), id);
    mkdirSync(dir);
    writeFileSync(join(dir, MANIFEST_FILE), '{"format": 1, "id": "');
    expect(repo.all()).toEqual([]);
  });

  it('finds backups in the shared repository and in instance folders written before it was set', () => {
    const local = new BackupRepository(join(root, 'instances'), null);
    local.ensureArea(IDENTITY);
    const old = newBackupId(new Date('2026-11-23T10:00:00Z'));
    local.commit(local.partDir(IDENTITY.id, old), manifest(old));
    const shared = new BackupRepository(join(root, 'instances'), join(root, 'nfs'));
    shared.ensureArea(IDENTITY);
    const fresh = newBackupId(new Date('2026-11-24T10:00:00Z'));
    shared.commit(shared.partDir(IDENTITY.id, fresh), manifest(fresh));
    expect(shared.all().map((l) => l.manifest.id)).toEqual([old, fresh]);
  });

  it('lists backups of one second in the order they were taken, not by the random end of their ids', () => {
    const repo = new BackupRepository(join(root, 'instances'), null);
    repo.ensureArea(IDENTITY);
    const first = { ...manifest('bk_20261124100000zzzz'), startedAt: '2026-11-24T10:00:00.100Z' };
    const second = { ...manifest('bk_20261124100000aaaa'), startedAt: '2026-11-24T10:00:00.900Z' };
    for (const m of [first, second]) repo.commit(repo.partDir(IDENTITY.id, m.id), m);
    expect(repo.backupsIn(repo.areaOf(IDENTITY.id)).map((l) => l.manifest.id)).toEqual([first.id, second.id]);
    expect(repo.all().map((l) => l.manifest.id)).toEqual([first.id, second.id]);
  });

  it('removes a backup whole, and refuses ids that are not backup ids', () => {
    const repo = new BackupRepository(join(root, 'instances'), null);
    repo.ensureArea(IDENTITY);
    const id = newBackupId();
    repo.commit(repo.partDir(IDENTITY.id, id), manifest(id));
    repo.remove(repo.find(id));
    expect(repo.all()).toEqual([]);
    expect(readdirSync(repo.areaOf(IDENTITY.id)).sort()).toEqual(['instance.json', 'wal']);
    expect(() => repo.find('../../etc')).toThrow(/no backup/);
  });
});
