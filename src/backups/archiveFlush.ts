import { setTimeout as sleep } from 'node:timers/promises';
import { DbaasError } from '../errors.js';
import type { InstanceRecord } from '../instances/schema.js';
import { containerNameFor } from '../provisioner/provisioner.js';
import type { InstanceEngine } from '../runtime/workload.js';
import { isArchived, segmentBefore, segmentNumber, timelineOf, WAL_SEGMENT_SIZE } from './wal.js';

/**
 * Asks a running server to close its current WAL segment and waits until the archive has it, so
 * that the archive holds everything committed until now: before a restore of "now", and before
 * an instance is deleted (its last segment would otherwise go with its data folder). `SELECT
 * pg_switch_wal()` returns where the closed segment ends, which is the segment to wait for. With
 * nothing written since the last switch it switches nothing and returns the current position:
 * just past the page header of an empty segment (offset 40), or its very start. The one to wait
 * for is then the segment before (archived already, or on its way); waiting for the empty one
 * waited until archive_timeout closed it.
 * Returns the segment, or null when it did not arrive within `timeoutMs`.
 */
export async function archiveCurrentSegment(engine: InstanceEngine, record: InstanceRecord, walDir: string, timeoutMs: number): Promise<{ segment: string; archived: boolean }> {
  const result = await engine.execute(containerNameFor(record), {
    argv: ['psql', '-X', '-At', '-F', ' ', '-d', 'postgres', '-c', 'SELECT file_name, file_offset FROM pg_walfile_name_offset(pg_switch_wal())'],
    user: 'postgres',
    timeoutMs: 30_000,
  });
  const [file = '', offset = ''] = result.output.trim().split(' ');
  if (result.exitCode !== 0 || !/^[0-9A-F]{24}$/.test(file) || !/^\d+$/.test(offset)) {
    throw new DbaasError('OPERATION_FAILED', `could not switch the WAL of ${record.name}: ${result.output.trim()}`);
  }
  // 40 bytes: a segment's long page header, all an untouched segment holds.
  const segment = Number(offset) <= 40 ? segmentBefore(timelineOf(file), segmentNumber(file, WAL_SEGMENT_SIZE) * BigInt(WAL_SEGMENT_SIZE), WAL_SEGMENT_SIZE) : file;
  const deadline = Date.now() + timeoutMs;
  while (!isArchived(walDir, segment)) {
    if (Date.now() > deadline) return { segment, archived: false };
    await sleep(200);
  }
  return { segment, archived: true };
}
