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
    expect(missingSegments(have, '000000010000000000000005', '000000020000000000000009', SEG)).toEqual(['000000020000000000000007']);
    expect(missingSegments(have, '000000010000000000000005', '000000010000000000000006', SEG)).toEqual([]);
  });
});
