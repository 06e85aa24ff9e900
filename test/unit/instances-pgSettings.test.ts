import { describe, expect, it } from 'vitest';
import { defaultShmSize, deriveSettings, effectiveSettings } from '../../src/instances/pgSettings.js';
import { MIN_MEMORY } from '../../src/instances/schema.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** PostgreSQL memory units as toPostgresMemory writes them, back into bytes. */
function pgBytes(text: string | undefined): number {
  const m = /^(\d+)(kB|MB|GB)$/.exec(text ?? '');
  if (!m) throw new Error(`not a PostgreSQL memory value: ${text}`);
  const unit = { kB: KiB, MB: MiB, GB: GiB }[m[2] as 'kB' | 'MB' | 'GB'];
  return Number(m[1]) * unit;
}

function int(text: string | undefined): number {
  expect(text).toMatch(/^\d+$/);
  return Number(text);
}

describe('deriveSettings', () => {
  it.each([
    [128 * MiB, '32MB', '96MB'],
    [512 * MiB, '128MB', '384MB'],
    [GiB, '256MB', '768MB'],
    [8 * GiB, '2GB', '6GB'],
  ])('memory %d: shared_buffers %s, effective_cache_size %s', (memory, shared, cache) => {
    const s = deriveSettings(memory, 1);
    expect(s.shared_buffers).toBe(shared);
    expect(s.effective_cache_size).toBe(cache);
  });

  it('keeps shared_buffers near 25 % and effective_cache_size near 75 % for odd sizes', () => {
    for (const memory of [200_000_000, 777 * MiB + 12345, 3 * GiB + 1, 1.5 * GiB, 20 * GiB]) {
      const s = deriveSettings(memory, 2);
      const shared = pgBytes(s.shared_buffers);
      const cache = pgBytes(s.effective_cache_size);
      expect(shared / memory).toBeGreaterThan(0.2499);
      expect(shared / memory).toBeLessThanOrEqual(0.25);
      expect(cache / memory).toBeGreaterThan(0.7499);
      expect(cache / memory).toBeLessThanOrEqual(0.75);
    }
  });

  it('scales max_connections with memory inside 20..400', () => {
    expect(int(deriveSettings(128 * MiB, 1).max_connections)).toBe(26);
    expect(int(deriveSettings(512 * MiB, 1).max_connections)).toBe(102);
    expect(int(deriveSettings(GiB, 1).max_connections)).toBe(205);
    expect(int(deriveSettings(8 * GiB, 1).max_connections)).toBe(400);
    expect(int(deriveSettings(64 * GiB, 1).max_connections)).toBe(400);
    // Below the minimum memory the lower clamp shows.
    expect(int(deriveSettings(32 * MiB, 1).max_connections)).toBe(20);
  });

  it('never lets work_mem * max_connections * 3 pass memory - shared_buffers (128m .. 64g)', () => {
    const sizes: number[] = [];
    for (let m = MIN_MEMORY; m <= 4 * GiB; m += 37 * MiB + 4321) sizes.push(m);
    sizes.push(MIN_MEMORY, 129 * MiB, 500 * MiB, 2 * GiB, 2 * GiB - 1, 8 * GiB, 16 * GiB + 7, 64 * GiB);
    for (const memory of sizes) {
      const s = deriveSettings(memory, 1);
      const workMem = pgBytes(s.work_mem);
      const maxConnections = int(s.max_connections);
      const shared = pgBytes(s.shared_buffers);
      expect(maxConnections).toBeGreaterThanOrEqual(20);
      expect(maxConnections).toBeLessThanOrEqual(400);
      expect(workMem).toBeGreaterThanOrEqual(MiB);
      expect(workMem * maxConnections * 3, `memory ${memory}`).toBeLessThanOrEqual(memory - shared);
    }
  });

  it('grows work_mem once max_connections stops at 400', () => {
    const small = pgBytes(deriveSettings(2 * GiB, 1).work_mem);
    const big = pgBytes(deriveSettings(16 * GiB, 1).work_mem);
    expect(big).toBeGreaterThan(small * 5);
  });

  it('clamps maintenance_work_mem to 16MB .. 2GB', () => {
    expect(deriveSettings(128 * MiB, 1).maintenance_work_mem).toBe('16MB');
    expect(deriveSettings(GiB, 1).maintenance_work_mem).toBe('64MB');
    expect(deriveSettings(64 * GiB, 1).maintenance_work_mem).toBe('2GB');
  });

  it('derives parallel workers from whole cpus', () => {
    expect(deriveSettings(GiB, 0.5)).toMatchObject({
      max_worker_processes: '8',
      max_parallel_workers: '1',
      max_parallel_workers_per_gather: '0',
    });
    expect(deriveSettings(GiB, 4.7)).toMatchObject({
      max_worker_processes: '8',
      max_parallel_workers: '4',
      max_parallel_workers_per_gather: '2',
    });
    expect(deriveSettings(GiB, 16)).toMatchObject({
      max_worker_processes: '16',
      max_parallel_workers: '16',
      max_parallel_workers_per_gather: '8',
    });
  });

  it('listens on every interface inside the container', () => {
    expect(deriveSettings(GiB, 1).listen_addresses).toBe('*');
  });

  it('writes every value as a non-empty single-line string', () => {
    for (const [key, value] of Object.entries(deriveSettings(3 * GiB, 3))) {
      expect(key).toMatch(/^[a-z_]+$/);
      expect(value).toMatch(/^[^\s]+$/);
    }
  });
});

describe('effectiveSettings', () => {
  it('is the derived settings when there is no override', () => {
    expect(effectiveSettings(GiB, 2, {})).toEqual(deriveSettings(GiB, 2));
  });

  it('lets overrides win and adds new settings', () => {
    const s = effectiveSettings(GiB, 2, { work_mem: '64MB', max_connections: '10', jit: 'off' });
    expect(s.work_mem).toBe('64MB');
    expect(s.max_connections).toBe('10');
    expect(s.jit).toBe('off');
    expect(s.shared_buffers).toBe('256MB');
  });

  it('does not modify the overrides it was given', () => {
    const overrides = { work_mem: '64MB' };
    effectiveSettings(GiB, 2, overrides);
    expect(overrides).toEqual({ work_mem: '64MB' });
  });
});

describe('defaultShmSize', () => {
  it.each([
    [128 * MiB, 64 * MiB],
    [256 * MiB, 64 * MiB],
    [512 * MiB, 128 * MiB],
    [GiB, 256 * MiB],
    [8 * GiB, 2 * GiB],
  ])('memory %d -> shm %d', (memory, shm) => {
    expect(defaultShmSize(memory)).toBe(shm);
  });

  it('is a whole number of MiB and at least 64m', () => {
    for (const memory of [200_000_000, 777 * MiB + 3, 3 * GiB + 12345]) {
      const shm = defaultShmSize(memory);
      expect(shm % MiB).toBe(0);
      expect(shm).toBeGreaterThanOrEqual(64 * MiB);
      expect(shm).toBeLessThanOrEqual(Math.max(64 * MiB, memory / 4));
    }
  });
});
