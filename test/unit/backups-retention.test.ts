import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BackupManifest } from '../../src/backups/manifest.js';
import { BackupRepository } from '../../src/backups/repository.js';
import { applyRetention, expiredBackups, unneededSegments } from '../../src/backups/retention.js';

const DAY = 24 * 3600_000;
const NOW = Date.parse('2026-11-24T12:00:00Z');
const ID = 'db_retain0001';
let root: string;
let repo: BackupRepository;

const seg = (n: number, tl = 1) => `${tl.toString(16).toUpperCase().padStart(8, '0')}00000000${n.toString(16).toUpperCase().padStart(8, '0')}`;

/** A backup finished `daysAgo` days before NOW whose WAL starts at segment `start`. */
function backup(daysAgo: number, trigger: BackupManifest['trigger'], type: BackupManifest['type'], start: number): BackupManifest {
  const at = new Date(NOW - daysAgo * DAY);
  const id = `bk_${at.toISOString().replace(/[-:T]/g, '').slice(0, 14)}${String(start).padStart(4, '0')}`;
  return {
    format: 1,
    id,
    type,
    label: null,
    trigger,
    instance: { id: ID, name: 'orders', version: 15, image: 'postgres:15', database: 'app', username: 'app' },
    serverVersion: '15.18',
    startedAt: at.toISOString(),
    finishedAt: at.toISOString(),
    files: [{ name: 'base.tar', size: 1, sha256: 'a'.repeat(64) }],
    wal: type === 'physical' ? { timeline: 1, startLsn: '0/1', endLsn: '0/2', startSegment: seg(start), endSegment: seg(start) } : null,
    rowCounts: type === 'logical' ? {} : null,
    verification: null,
    encrypted: false,
  };
}

// A synthetic history: ten days of nightly scheduled base backups (WAL segment 10 per day on),
// a manual one on day 8 and a scheduled logical dump on day 1; the archive holds segments 1..100.
const HISTORY = [
  ...Array.from({ length: 10 }, (_, i) => backup(10 - i, 'schedule', 'physical', (i + 1) * 10)),
  backup(8.5, 'manual', 'physical', 15),
  backup(1.5, 'schedule', 'logical', 0),
];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'dbaas-unit-retention-'));
  repo = new BackupRepository(join(root, 'instances'), null);
  repo.ensureArea({ id: ID, name: 'orders', version: 15, image: 'postgres:15', database: 'app', username: 'app', project: 'default', createdAt: '2026-11-01T00:00:00Z', deletedAt: null });
  for (const m of HISTORY) {
    const part = repo.partDir(ID, m.id);
    writeFileSync(join(part, 'base.tar'), 'x');
    repo.commit(part, m);
  }
  for (let n = 1; n <= 100; n++) writeFileSync(join(repo.walDir(ID), seg(n)), '');
  writeFileSync(join(repo.walDir(ID), '00000002.history'), '1\t0/5000000\tno recovery target specified\n');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('retention', () => {
  it('keeps every backup without a rule', () => {
    expect(expiredBackups(repo.backupsIn(repo.areaOf(ID)), {}, NOW)).toEqual([]);
  });

  it('keepLast keeps the newest N scheduled backups; manual ones are never removed', () => {
    const expired = expiredBackups(repo.backupsIn(repo.areaOf(ID)), { keepLast: 3 }, NOW).map((b) => b.manifest.id);
    // Scheduled, oldest first: physical days 10..1 and the logical dump of day 1.5 (between days 2 and 1).
    const scheduled = HISTORY.filter((m) => m.trigger === 'schedule').sort((a, b) => a.id.localeCompare(b.id)).map((m) => m.id);
    expect(expired).toEqual(scheduled.slice(0, -3));
    expect(expired).not.toContain(HISTORY[10]?.id);
  });

  it('keepDays and keepLast together keep what either keeps', () => {
    const expired = expiredBackups(repo.backupsIn(repo.areaOf(ID)), { keepLast: 1, keepDays: 4 }, NOW);
    // Younger than 4 days: physical days 3, 2, 1 and the dump of day 1.5; the newest one is among them.
    expect(expired.map((b) => (NOW - Date.parse(b.manifest.finishedAt)) / DAY)).toEqual([10, 9, 8, 7, 6, 5, 4]);
  });

  it('removes exactly the expired backups and the WAL before the oldest kept base backup', () => {
    const result = applyRetention(repo, ID, { keepDays: 4 }, NOW);
    expect(result.removedBackups).toHaveLength(7);
    const left = repo.backupsIn(repo.areaOf(ID)).map((b) => b.manifest);
    expect(left.map((m) => `${m.trigger}/${m.type}/${(NOW - Date.parse(m.finishedAt)) / DAY}`)).toEqual([
      'manual/physical/8.5',
      'schedule/physical/3',
      'schedule/physical/2',
      'schedule/logical/1.5',
      'schedule/physical/1',
    ]);
    // The manual backup of day 8.5 starts at segment 15: the 14 before it are gone, no other.
    expect(result.removedWalSegments).toBe(14);
    const wal = readdirSync(repo.walDir(ID)).sort();
    expect(wal[0]).toBe('00000001000000000000000F');
    expect(wal).toHaveLength(100 - 14 + 1);
    expect(wal).toContain('00000002.history');
  });

  it('needs no WAL when no base backup is kept', () => {
    expect(unneededSegments([seg(1), seg(2)], [])).toEqual([seg(1), seg(2)]);
  });
});
