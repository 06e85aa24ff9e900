import { describe, expect, it } from 'vitest';
import { formatSize, parseSize, toPostgresMemory } from '../../src/instances/size.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

describe('parseSize', () => {
  it.each([
    ['512m', 512 * MiB],
    ['1g', GiB],
    ['1G', GiB],
    ['1.5g', 1.5 * GiB],
    ['0.5g', 512 * MiB],
    ['256MiB', 256 * MiB],
    ['256mib', 256 * MiB],
    ['256MB', 256 * MiB],
    ['64k', 64 * KiB],
    ['64KiB', 64 * KiB],
    ['2t', 2 * TiB],
    ['1048576', MiB],
    ['1048576b', MiB],
    ['1048576B', MiB],
    ['0', 0],
    ['512 m', 512 * MiB],
  ])('parses %j as %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it('ignores surrounding whitespace', () => {
    expect(parseSize('  512m  ')).toBe(512 * MiB);
    expect(parseSize('\t1g\n')).toBe(GiB);
  });

  it('uses binary units, as docker run --memory does', () => {
    expect(parseSize('1k')).toBe(1024);
    expect(parseSize('1m')).not.toBe(1_000_000);
  });

  it('accepts non-negative safe integers as bytes', () => {
    expect(parseSize(0)).toBe(0);
    expect(parseSize(536_870_912)).toBe(536_870_912);
    expect(parseSize(Number.MAX_SAFE_INTEGER)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1])(
    'rejects the number %d',
    (n) => {
      expect(parseSize(n)).toBeUndefined();
    },
  );

  it.each(['', '   ', 'abc', 'm', '-1', '-512m', '1x', '1gg', '1 g b x', '1e3', '.5g', '1,5g', '0x10', '512m512m', 'g1', '10ib', '0.4', '1.5b'])(
    'rejects the text %j',
    (text) => {
      expect(parseSize(text)).toBeUndefined();
    },
  );

  it('rejects sizes beyond the safe integer range', () => {
    expect(parseSize('99999999t')).toBeUndefined();
  });

  it('round-trips through formatSize', () => {
    for (const bytes of [128 * MiB, 512 * MiB, GiB, 1.5 * GiB, 3 * GiB, 64 * KiB, 2 * TiB]) {
      expect(parseSize(formatSize(bytes))).toBe(bytes);
    }
  });
});

describe('formatSize', () => {
  it.each([
    [512 * MiB, '512m'],
    [GiB, '1g'],
    [8 * GiB, '8g'],
    [128 * MiB, '128m'],
    [64 * KiB, '64k'],
    [TiB, '1t'],
    [1.5 * GiB, '1536m'],
    [10.5 * GiB, '10.5g'],
    [1500, '1.5k'],
    [1000, '1000b'],
    [7471619, '7.1m'],
    [10 * GiB + 512 * MiB, '10.5g'],
    [0, '0b'],
  ])('formats %d as %j', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });
});

describe('toPostgresMemory', () => {
  it.each([
    [128 * MiB, '128MB'],
    [GiB, '1GB'],
    [2 * GiB, '2GB'],
    [1.5 * GiB, '1536MB'],
    [96 * MiB, '96MB'],
    [1290555, '1260kB'],
    [100 * KiB, '100kB'],
  ])('writes %d bytes as %j', (bytes, text) => {
    expect(toPostgresMemory(bytes)).toBe(text);
  });

  it('never goes below 64kB (PostgreSQL rejects smaller work_mem)', () => {
    expect(toPostgresMemory(0)).toBe('64kB');
    expect(toPostgresMemory(1000)).toBe('64kB');
    expect(toPostgresMemory(63 * KiB)).toBe('64kB');
  });

  it('rounds down to whole kilobytes', () => {
    expect(toPostgresMemory(MiB + 1023)).toBe('1MB');
    expect(toPostgresMemory(MiB + 1024)).toBe('1025kB');
  });
});
