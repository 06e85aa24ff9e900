import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BackupLocation, BackupRepository } from './repository.js';
import { archivedSegments, segmentNumber, WAL_SEGMENT_SIZE } from './wal.js';

/**
 * Retention of one instance's backups. A policy keeps a scheduled backup when it is among the
 * newest `keepLast` of them, or younger than `keepDays` (either rule keeps it, as restic's and
 * pgBackRest's do); without a rule everything stays. Backups a user took by hand and the safety
 * backups of in-place restores are never removed by a policy. The WAL archive then keeps what
 * the kept base backups need: every segment from the oldest kept one's start on; the segments
 * before it serve no restore and are removed (timeline history files always stay).
 */

export interface RetentionPolicy {
  keepLast?: number | undefined;
  keepDays?: number | undefined;
}

const DAY_MS = 24 * 3600_000;

/** The backups a policy removes (a pure choice over the list, oldest first). */
export function expiredBackups(backups: BackupLocation[], policy: RetentionPolicy, now = Date.now()): BackupLocation[] {
  if (policy.keepLast === undefined && policy.keepDays === undefined) return [];
  const scheduled = backups.filter((b) => b.manifest.trigger === 'schedule');
  const newest = new Set(policy.keepLast !== undefined ? scheduled.slice(-policy.keepLast).map((b) => b.manifest.id) : []);
  return scheduled.filter((b) => {
    if (newest.has(b.manifest.id)) return false;
    if (policy.keepDays !== undefined && now - Date.parse(b.manifest.finishedAt) < policy.keepDays * DAY_MS) return false;
    return true;
  });
}

/** The archived segments no kept base backup needs: those before the oldest one's first segment. */
export function unneededSegments(segments: string[], kept: BackupLocation[]): string[] {
  const starts = kept.flatMap((b) => (b.manifest.type === 'physical' && b.manifest.wal ? [segmentNumber(b.manifest.wal.startSegment, WAL_SEGMENT_SIZE)] : []));
  if (starts.length === 0) return segments;
  const oldest = starts.reduce((a, b) => (b < a ? b : a));
  return segments.filter((name) => segmentNumber(name, WAL_SEGMENT_SIZE) < oldest);
}

export interface RetentionResult {
  removedBackups: string[];
  removedWalSegments: number;
}

/** Applies a policy to an instance's area: the expired backups, then the WAL no kept backup needs. */
export function applyRetention(repository: BackupRepository, instanceId: string, policy: RetentionPolicy, now = Date.now()): RetentionResult {
  const area = repository.areaOf(instanceId);
  const all = repository.backupsIn(area);
  const expired = expiredBackups(all, policy, now);
  for (const backup of expired) repository.remove(backup);
  const gone = new Set(expired.map((b) => b.manifest.id));
  const kept = all.filter((b) => !gone.has(b.manifest.id));
  const walDir = repository.walDir(instanceId);
  let removedWalSegments = 0;
  if (policy.keepLast !== undefined || policy.keepDays !== undefined) {
    const segments = archivedSegments(walDir);
    const unneeded = new Set(unneededSegments(segments.map((s) => s.name), kept));
    for (const segment of segments.filter((s) => unneeded.has(s.name))) {
      rmSync(join(walDir, segment.file), { force: true });
      removedWalSegments++;
    }
  }
  return { removedBackups: expired.map((b) => b.manifest.id), removedWalSegments };
}
