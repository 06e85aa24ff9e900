import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readAgentState } from '../../src/monitoring/agentState.js';

const dir = mkdtempSync(join(tmpdir(), 'dbaas-agent-state-'));
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
