import { setTimeout as sleep } from 'node:timers/promises';
import { DbaasError } from '../errors.js';
import type { InstanceRecord } from '../instances/schema.js';
import { containerNameFor } from '../provisioner/provisioner.js';
import type { InstanceEngine } from '../runtime/workload.js';
import { isArchived } from './wal.js';

/**
 * Asks a running server to close its current WAL segment and waits until the archive has it, so
 * that the archive holds everything committed until now: before a restore of "now", and before
 * an instance is deleted (its last segment would otherwise go with its data folder). `SELECT
 * pg_switch_wal()` returns where the closed segment ends; the segment before that position is
 * the one to wait for (with nothing written since the last switch, it is archived already).
 * Returns the segment, or null when it did not arrive within `timeoutMs`.
 */
export async function archiveCurrentSegment(engine: InstanceEngine, record: InstanceRecord, walDir: string, timeoutMs: number): Promise<{ segment: string; archived: boolean }> {
  const result = await engine.execute(containerNameFor(record), {
    argv: ['psql', '-X', '-At', '-d', 'postgres', '-c', 'SELECT pg_walfile_name(pg_switch_wal())'],
    user: 'postgres',
    timeoutMs: 30_000,
  });
  const segment = result.output.trim();
  if (result.exitCode !== 0 || !/^[0-9A-F]{24}$/.test(segment)) {
    throw new DbaasError('OPERATION_FAILED', `could not switch the WAL of ${record.name}: ${segment}`);
  }
  const deadline = Date.now() + timeoutMs;
  while (!isArchived(walDir, segment)) {
    if (Date.now() > deadline) return { segment, archived: false };
    await sleep(200);
  }
  return { segment, archived: true };
}
