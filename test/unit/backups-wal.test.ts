import { describe, expect, it } from 'vitest';
import { formatLsn, missingSegments, parseLsn, segmentBefore, segmentNumber, segmentOf } from '../../src/backups/wal.js';

const SEG = 16 * 1024 * 1024;

describe('WAL positions and segment names', () => {
  it('parses and prints LSNs as PostgreSQL does', () => {
    expect(parseLsn('0/5000028')).toBe(0x5000028n);
    expect(parseLsn('1/A0')).toBe((1n << 32n) | 0xa0n);
    expect(formatLsn(parseLsn('2F/DEADBEEF'))).toBe('2F/DEADBEEF');
    expect(() => parseLsn('5000028')).toThrow(/WAL position/);
  });

  it('names the segment of a position like pg_walfile_name', () => {
    // pg_walfile_name('0/5000028') on timeline 1 is 000000010000000000000005.
    expect(segmentOf(1, parseLsn('0/5000028'), SEG)).toBe('000000010000000000000005');
    // High 32 bits go to the middle field; 256 segments of 16 MiB per 4 GiB.
    expect(segmentOf(2, parseLsn('1/FF000000'), SEG)).toBe('0000000200000001000000FF');
    // An end exactly at a boundary belongs to the segment before it.
    expect(segmentBefore(1, parseLsn('0/6000000'), SEG)).toBe('000000010000000000000005');
    expect(segmentBefore(1, parseLsn('0/6000001'), SEG)).toBe('000000010000000000000006');
  });

  it('orders segments across the 4 GiB boundary', () => {
    expect(segmentNumber('000000010000000100000000', SEG)).toBe(256n);
    expect(segmentNumber('0000000100000000000000FF', SEG)).toBe(255n);
  });

  it('names the gaps after a segment, on any timeline that covers the stretch', () => {
    const have = new Set(['000000010000000000000005', '000000010000000000000006', '000000010000000000000008', '000000020000000000000009']);
    expect(missingSegments(have, '000000010000000000000005', '000000020000000000000009', SEG)).toEqual(['000000010000000000000007']);
    expect(missingSegments(have, '000000010000000000000005', '000000010000000000000006', SEG)).toEqual([]);
  });
});

describe('timelines of an archive', () => {
  it('follows the newest timeline through its history file, and knows which backups lie on its path', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { latestTimeline, onTimelinePath, replayPath, timelineHistory } = await import('../../src/backups/wal.js');
    const dir = mkdtempSync(join(tmpdir(), 'dbaas-unit-tli-'));
    try {
      // Timeline 1 ran to segment 9; an in-place restore to 0/6000E08 forked timeline 2 there.
      for (let n = 3; n <= 9; n++) writeFileSync(join(dir, `00000001000000000000000${n}`), '');
      for (const n of ['6', '7', '8']) writeFileSync(join(dir, `00000002000000000000000${n}`), '');
      writeFileSync(join(dir, '00000002.history'), '1\t0/6000E08\tbefore 2026-11-24 16:14:00+00\n');
      expect(latestTimeline(dir)).toBe(2);
      const history = timelineHistory(dir, 2);
      expect(history).toEqual([{ parent: 1, switchpoint: 0x6000e08n }]);
      // A backup of timeline 1 that ended before the fork is on the path; the safety backup taken after it is not.
      expect(onTimelinePath(history, 2, 1, parseLsn('0/5000100'))).toBe(true);
      expect(onTimelinePath(history, 2, 1, parseLsn('0/7000100'))).toBe(false);
      expect(onTimelinePath(history, 2, 2, parseLsn('0/8000100'))).toBe(true);
      const early = replayPath(dir, { timeline: 1, endLsn: '0/5000100' }, SEG);
      expect(early.newest).toBe(true);
      expect(early.segments.map((s) => s.name)).toEqual([
        '000000010000000000000003',
        '000000010000000000000004',
        '000000010000000000000005',
        '000000010000000000000006',
        '000000020000000000000006',
        '000000020000000000000007',
        '000000020000000000000008',
      ]);
      const safety = replayPath(dir, { timeline: 1, endLsn: '0/7000100' }, SEG);
      expect(safety).toMatchObject({ timeline: 1, newest: false });
      expect(safety.segments.at(-1)?.name).toBe('000000010000000000000009');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
