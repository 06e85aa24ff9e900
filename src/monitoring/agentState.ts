import { readFile } from 'node:fs/promises';
import { z } from 'zod';

/**
 * `logs/agent-state.json`: what the monitoring agent (monitoring/agent.sh) rewrites atomically
 * after every sample. Most fields describe the agent that runs now; the crash-recovery fields
 * describe the server and are carried over from one agent to the next (the agent reads them back
 * when it starts), so they outlive agent restarts and the rotation of the metrics files.
 */
export const AgentStateSchema = z.object({
  started_at: z.string(),
  pid: z.number(),
  interval_seconds: z.number(),
  samples: z.number(),
  failures: z.number(),
  last_sample_at: z.string().nullable(),
  last_ok_at: z.string().nullable(),
  last_error: z.string().nullable(),
  // Absent from the files of agents older than crash-recovery counting.
  crash_recoveries_total: z.number().int().nonnegative().optional(),
  last_crash_recovery_at: z.string().nullable().optional(),
  /** The statistics reset stamp the agent has seen last (its marker, see sample.sql). */
  stats_discarded_at: z.string().nullable().optional(),
});
export type AgentState = z.output<typeof AgentStateSchema>;

/** The state file's content, or null when it is absent, unreadable or not what the agent writes. */
export async function readAgentState(path: string): Promise<AgentState | null> {
  try {
    const parsed = AgentStateSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
