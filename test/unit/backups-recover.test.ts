import { describe, expect, it } from 'vitest';
import { describeTarget, parseRecoveryLog, targetArguments } from '../../src/backups/recover.js';
import { parsePgSize, walRangeFromLog } from '../../src/backups/take.js';
import { compareCounts } from '../../src/backups/verify.js';

describe('recovery targets', () => {
  it("passes a time in PostgreSQL's own notation, which the setting requires", () => {
    expect(targetArguments({ kind: 'time', time: '2026-11-24T15:59:29.931Z' })).toEqual(['-c', 'recovery_target_time=2026-11-24 15:59:29.931+00']);
    expect(targetArguments({ kind: 'lsn', lsn: '0/3000060' })).toEqual(['-c', 'recovery_target_lsn=0/3000060']);
    expect(targetArguments({ kind: 'immediate' })).toEqual(['-c', 'recovery_target=immediate']);
    expect(targetArguments({ kind: 'latest' })).toEqual([]);
    expect(describeTarget({ kind: 'time', time: '2026-11-24T15:59:29.931Z' })).toBe('time 2026-11-24T15:59:29.931Z');
  });
});

describe('what the tools report', () => {
  it("reads the WAL range from pg_basebackup's verbose log", () => {
    const log = [
      'pg_basebackup: initiating base backup, waiting for checkpoint to complete',
      'pg_basebackup: checkpoint completed',
      'pg_basebackup: write-ahead log start point: 0/5000028 on timeline 1',
      'pg_basebackup: write-ahead log end point: 0/6000000',
      'pg_basebackup: base backup completed',
    ].join('\n');
    expect(walRangeFromLog(log, 16 * 1024 * 1024)).toEqual({
      timeline: 1,
      startLsn: '0/5000028',
      endLsn: '0/6000000',
      startSegment: '000000010000000000000005',
      endSegment: '000000010000000000000005',
    });
    expect(() => walRangeFromLog('pg_basebackup: error', 16 * 1024 * 1024)).toThrow(/WAL range/);
  });

  it('reads sizes as SHOW prints them', () => {
    expect(parsePgSize('16MB')).toBe(16 * 1024 * 1024);
    expect(parsePgSize('64kB')).toBe(65536);
    expect(parsePgSize('1GB')).toBe(1024 ** 3);
  });

  it('reads the last replayed transaction and the counted rows from a recovery', () => {
    const out = [
      '2026-11-24 15:59:32.406 UTC [20] LOG:  recovery stopping before commit of transaction 745, time 2026-11-24 15:59:30.42+00',
      '2026-11-24 15:59:32.407 UTC [20] LOG:  redo done at 0/6000148 system usage: CPU: user: 0.00 s',
      '2026-11-24 15:59:32.407 UTC [20] LOG:  last completed transaction was at log time 2026-11-24 15:59:28.918612+00',
      'dbaas-rows\tpublic.pitr\t20',
      'dbaas-rows\tsales."Q1 orders"\t0',
      'dbaas-counted',
    ].join('\n');
    const report = parseRecoveryLog(out);
    expect(report.lastTransactionAt).toBe('2026-11-24T15:59:28.918Z');
    expect(report.rowCounts).toEqual({ 'public.pitr': 20, 'sales."Q1 orders"': 0 });
    expect(report.log).toHaveLength(3);
    expect(parseRecoveryLog('LOG: nothing counted').rowCounts).toBeNull();
    expect(parseRecoveryLog('dbaas-counted').rowCounts).toEqual({});
  });

  it('names every difference between the manifest and the restored counts', () => {
    expect(compareCounts({ 'public.a': 3, 'public.b': 1 }, { 'public.a': 3, 'public.b': 1 })).toEqual([]);
    expect(compareCounts({ 'public.a': 3, 'public.b': 1 }, { 'public.a': 2, 'public.c': 0 })).toEqual([
      'table public.a has 2 rows after the restore, the manifest says 3',
      'table public.b is missing after the restore',
      'table public.c is not in the manifest',
    ]);
  });
});
