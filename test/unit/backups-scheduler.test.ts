import { describe, expect, it } from 'vitest';
import { dueMoment, parseCron } from '../../src/backups/scheduler.js';
import type { BackupSchedule } from '../../src/backups/schema.js';

const base: BackupSchedule = { cron: '0 3 * * *', type: 'physical', verify: 'never', setAt: '2026-11-20T00:00:00.000Z' };

describe('backup schedules', () => {
  it('finds the newest moment a cron expression names, at or before now, in UTC', async () => {
    const latest = await parseCron('0 3 * * *');
    expect(latest(new Date('2026-11-24T16:00:00Z')).toISOString()).toBe('2026-11-24T03:00:00.000Z');
    expect(latest(new Date('2026-11-24T03:00:00Z')).toISOString()).toBe('2026-11-24T03:00:00.000Z');
    expect(latest(new Date('2026-11-24T02:59:59Z')).toISOString()).toBe('2026-11-23T03:00:00.000Z');
    const everyMinute = await parseCron('* * * * *');
    expect(everyMinute(new Date('2026-11-24T16:00:42Z')).toISOString()).toBe('2026-11-24T16:00:00.000Z');
  });

  it('refuses what is not a five-field cron expression', async () => {
    await expect(parseCron('0 3 * *')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(parseCron('61 3 * * *')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(parseCron('@daily please')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('owes a run for a moment after the schedule was set that no run covered, once', () => {
    const moment = new Date('2026-11-24T03:00:00Z');
    expect(dueMoment(base, moment)).toEqual(moment);
    // Set after that moment: nothing is owed for the time before it existed.
    expect(dueMoment({ ...base, setAt: '2026-11-24T10:00:00Z' }, moment)).toBeNull();
    const ran = { dueAt: '2026-11-24T03:00:00.000Z', startedAt: '', finishedAt: '', ok: true, backup: 'bk_x', error: null, madeUp: false, removedBackups: [], removedWalSegments: 0, verified: null };
    expect(dueMoment({ ...base, lastRun: ran }, moment)).toBeNull();
    // A failed run covers its moment too (it is reported, not retried in a loop); the next moment is owed.
    expect(dueMoment({ ...base, lastRun: { ...ran, ok: false } }, new Date('2026-11-25T03:00:00Z'))).toEqual(new Date('2026-11-25T03:00:00Z'));
  });
});
