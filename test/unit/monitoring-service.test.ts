import { describe, expect, it } from 'vitest';
import { freshnessLimitSeconds, MAX_SAMPLES } from '../../src/monitoring/service.js';

describe('freshnessLimitSeconds', () => {
  it.each([
    [1, 8],
    [5, 20],
    [10, 35],
    [15, 50],
    [60, 185],
    [0.5, 6.5],
  ])('allows three intervals of %d s and 5 s of slack: %d s', (interval, limit) => {
    expect(freshnessLimitSeconds(interval)).toBe(limit);
  });

  it('grows with the interval', () => {
    const limits = [1, 2, 5, 10, 30, 60, 300].map(freshnessLimitSeconds);
    for (let i = 1; i < limits.length; i++) expect(limits[i]).toBeGreaterThan(limits[i - 1] as number);
  });

  it('always exceeds the interval itself, so one late sample is still current', () => {
    for (const interval of [1, 2, 5, 10, 30, 60, 300, 3600]) {
      expect(freshnessLimitSeconds(interval)).toBeGreaterThan(2 * interval);
    }
  });
});

describe('MAX_SAMPLES', () => {
  it('caps a metrics query at 10000 samples', () => {
    expect(MAX_SAMPLES).toBe(10_000);
  });
});
