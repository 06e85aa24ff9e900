import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recoveriesOf, RecoveriesSchema } from '../../src/instances/recoveries.js';
import { readAgentState } from '../../src/monitoring/agentState.js';
import { parseSampleLine } from '../../src/monitoring/metricsReader.js';

const dir = mkdtempSync(join(tmpdir(), 'dbaas-recoveries-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A state file as monitoring/agent.sh writes it (one line, no spaces). */
const AGENT_LINE =
  '{"started_at":"2026-11-24T13:12:02.650Z","pid":1,"interval_seconds":1,"samples":8,"failures":2,' +
  '"last_sample_at":"2026-11-24T13:12:10.768Z","last_ok_at":"2026-11-24T13:12:10.768Z","last_error":null';
const CURRENT_STATE = `${AGENT_LINE},"crash_recoveries_total":2,"last_crash_recovery_at":"2026-11-24T13:12:07.381715Z","stats_discarded_at":"2026-11-24T13:12:07.381715Z"}\n`;
const OLDER_AGENT_STATE = `${AGENT_LINE}}\n`;

async function stateFrom(text: string) {
  const path = join(dir, `state-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, text);
  return readAgentState(path);
}

describe('the agent state file', () => {
  it('carries the crash-recovery count', async () => {
    expect(await stateFrom(CURRENT_STATE)).toMatchObject({
      crash_recoveries_total: 2,
      last_crash_recovery_at: '2026-11-24T13:12:07.381715Z',
      stats_discarded_at: '2026-11-24T13:12:07.381715Z',
    });
  });

  it("reads an older agent's file, which has no count", async () => {
    const state = await stateFrom(OLDER_AGENT_STATE);
    expect(state).toMatchObject({ samples: 8 });
    expect(state?.crash_recoveries_total).toBeUndefined();
  });

  it('is null when absent, half-written or not what the agent writes', async () => {
    expect(await readAgentState(join(dir, 'absent.json'))).toBeNull();
    expect(await stateFrom(CURRENT_STATE.slice(0, 40))).toBeNull();
    expect(await stateFrom(CURRENT_STATE.replace('"crash_recoveries_total":2', '"crash_recoveries_total":-1'))).toBeNull();
    expect(await stateFrom(CURRENT_STATE.replace('"crash_recoveries_total":2', '"crash_recoveries_total":"2"'))).toBeNull();
  });
});

describe('a sample with the crash-recovery fields', () => {
  const line = (server: string) =>
    `{"ts" : "2026-11-24T13:12:10.763Z", "ts_ms" : 1795525930763, "instance" : "db_x", "up" : true, "server" : {"up" : true, ${server}}}`;

  it('parses, with or without them (older agents)', () => {
    const s = parseSampleLine(line('"crash_recoveries_total" : 2, "last_crash_recovery_at" : null, "stats_discarded_at" : "2026-11-24T13:12:07.381715Z"'));
    expect(s?.server).toMatchObject({ up: true, crash_recoveries_total: 2, last_crash_recovery_at: null });
    expect(parseSampleLine(line('"uptime_seconds" : 3'))?.server).toEqual({ up: true, uptime_seconds: 3 });
  });

  it('is not a sample when a count is not a count', () => {
    expect(parseSampleLine(line('"crash_recoveries_total" : -1'))).toBeNull();
    expect(parseSampleLine(line('"crash_recoveries_total" : 1.5'))).toBeNull();
  });
});

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
