import { describe, expect, it } from 'vitest';
import { parseDurationMs, parseRange, parseTimePoint } from '../../src/monitoring/timeRange.js';
import { caught } from './fixtures/errors.js';

const NOW = Date.parse('2026-11-23T12:00:00.000Z');


describe('parseDurationMs', () => {
  it.each([
    ['500ms', 500],
    ['0ms', 0],
    ['30s', 30_000],
    ['0s', 0],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['7d', 604_800_000],
    ['1.5h', 5_400_000],
    ['0.5s', 500],
    ['90m', 5_400_000],
    [' 15m ', 900_000],
  ])('parses %j as %d ms', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each([
    [''],
    ['15'],
    ['m'],
    ['15 m'],
    ['15M'],
    ['2H'],
    ['-5m'],
    ['+5m'],
    ['1w'],
    ['1y'],
    ['15min'],
    ['1h30m'],
    ['.5h'],
    ['5.m'],
    ['1e3s'],
    ['2026-11-23'],
    ['1795403505712'],
    ['abc'],
  ])('returns undefined for %j', (text) => {
    expect(parseDurationMs(text)).toBeUndefined();
  });
});

describe('parseTimePoint', () => {
  it.each([
    ['2026-11-23T03:11:45.712Z', 1795403505712],
    ['2026-11-23T03:11:45Z', 1795403505000],
    ['2026-11-23T05:11:45.712+02:00', 1795403505712],
    ['2026-11-23', Date.parse('2026-11-23T00:00:00.000Z')],
    ['  2026-11-23T03:11:45.712Z  ', 1795403505712],
  ])('parses the ISO timestamp %j', (text, ms) => {
    expect(parseTimePoint(text, 'since', NOW)).toBe(ms);
  });

  it.each([
    ['1795403505712', 1795403505712],
    ['1000000000000', 1_000_000_000_000],
    [' 1795403505712 ', 1795403505712],
  ])('parses epoch milliseconds %j', (text, ms) => {
    expect(parseTimePoint(text, 'since', NOW)).toBe(ms);
  });

  it.each([
    ['1234567890', 1_234_567_890_000],
    ['1795403505', 1_795_403_505_000],
  ])('parses epoch seconds %j', (text, ms) => {
    expect(parseTimePoint(text, 'since', NOW)).toBe(ms);
  });

  it.each([
    ['15m', NOW - 900_000],
    ['2h', NOW - 7_200_000],
    ['30s', NOW - 30_000],
    ['1d', NOW - 86_400_000],
    ['250ms', NOW - 250],
    ['0s', NOW],
    ['1.5h', NOW - 5_400_000],
  ])('parses the duration %j as that long before now', (text, ms) => {
    expect(parseTimePoint(text, 'since', NOW)).toBe(ms);
  });

  it('defaults now to the current time', () => {
    const before = Date.now();
    const got = parseTimePoint('1h', 'since');
    const after = Date.now();
    expect(got).toBeGreaterThanOrEqual(before - 3_600_000);
    expect(got).toBeLessThanOrEqual(after - 3_600_000);
  });

  it.each([
    ['yesterday'],
    [''],
    ['   '],
    ['12345678'], // too few digits for epoch seconds
    ['-1795403505712'],
    ['2026-13-45'],
    ['2026-11-23Tgarbage'],
    ['23/11/2026'],
    ['Nov 23 2026'],
    ['15 minutes'],
    ['1795403505712ms5'],
  ])('refuses %j with VALIDATION_FAILED naming the field', (text) => {
    const err = caught(() => parseTimePoint(text, 'until', NOW));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.message).toMatch(/^until: /);
    expect(err.message).toContain(JSON.stringify(text));
    expect(err.details).toEqual({ issues: [{ field: 'until', message: 'not a time' }] });
  });

  it('names whichever field it was given', () => {
    const err = caught(() => parseTimePoint('nope', 'since', NOW));
    expect(err.message).toMatch(/^since: /);
    expect((err.details?.issues as Array<{ field: string }>)[0]?.field).toBe('since');
  });
});

describe('parseRange', () => {
  it('returns both ends undefined when neither is given', () => {
    expect(parseRange(undefined, undefined, NOW)).toEqual({ sinceMs: undefined, untilMs: undefined });
  });

  it('parses since alone', () => {
    expect(parseRange('1h', undefined, NOW)).toEqual({ sinceMs: NOW - 3_600_000, untilMs: undefined });
  });

  it('parses until alone', () => {
    expect(parseRange(undefined, '2026-11-23T03:11:45.712Z', NOW)).toEqual({ sinceMs: undefined, untilMs: 1795403505712 });
  });

  it('parses both ends in any form', () => {
    expect(parseRange('1795403505712', '2h', NOW)).toEqual({ sinceMs: 1795403505712, untilMs: NOW - 7_200_000 });
    expect(parseRange('2026-11-23T10:00:00Z', '30m', NOW)).toEqual({
      sinceMs: Date.parse('2026-11-23T10:00:00Z'),
      untilMs: NOW - 1_800_000,
    });
  });

  it('accepts an empty range (since equals until)', () => {
    expect(parseRange('15m', '15m', NOW)).toEqual({ sinceMs: NOW - 900_000, untilMs: NOW - 900_000 });
  });

  it('refuses a reversed range with VALIDATION_FAILED mentioning "reversed"', () => {
    const err = caught(() => parseRange('15m', '1h', NOW));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.message).toContain('reversed');
    expect(err.message).toMatch(/^since: /);
    expect(err.details).toEqual({ issues: [{ field: 'since', message: 'after until' }] });
  });

  it('refuses a reversed range of absolute times', () => {
    const err = caught(() => parseRange('2026-11-23T04:00:00Z', '2026-11-23T03:00:00Z', NOW));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.message).toContain('reversed');
  });

  it('reports an invalid since before looking at the order', () => {
    const err = caught(() => parseRange('garbage', '1h', NOW));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.message).toMatch(/^since: /);
    expect(err.message).not.toContain('reversed');
  });

  it('reports an invalid until naming it', () => {
    const err = caught(() => parseRange('1h', 'later', NOW));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.message).toMatch(/^until: /);
  });
});
