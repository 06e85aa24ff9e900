import { describe, expect, it } from 'vitest';
import { recoveriesOf, RecoveriesSchema } from '../../src/instances/recoveries.js';

describe('recoveriesOf', () => {
  it("joins the agent's count with the engine's view of the server container", () => {
    const r = recoveriesOf(
      { crash_recoveries_total: 2, last_crash_recovery_at: '2026-11-24T13:12:07.381715Z' },
      { restartCount: 1, oomKilled: false },
    );
    expect(r).toEqual({ crashRecoveries: 2, lastCrashRecoveryAt: '2026-11-24T13:12:07.381715Z', containerRestarts: 1, oomKilled: false });
    expect(RecoveriesSchema.parse(r)).toEqual(r);
  });

  it('says unknown (null), never 0, for what no one has counted or inspected', () => {
    expect(recoveriesOf(null, null)).toEqual({ crashRecoveries: null, lastCrashRecoveryAt: null, containerRestarts: null, oomKilled: null });
    // An older agent's file; a listing, which does not say.
    expect(recoveriesOf({}, { restartCount: null, oomKilled: null })).toEqual({
      crashRecoveries: null,
      lastCrashRecoveryAt: null,
      containerRestarts: null,
      oomKilled: null,
    });
  });
});
