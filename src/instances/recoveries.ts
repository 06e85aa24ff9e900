import { z } from 'zod';
import type { AgentState } from '../monitoring/agentState.js';
import type { ServiceState } from '../runtime/workload.js';

/**
 * How often an instance's server went through crash recovery, as `dbaas info` and
 * `GET /instances/{id}` show it. Two sources, because neither sees everything:
 * - the monitoring agent counts crash recoveries (its state file): a backend killed by the OOM
 *   killer makes the postmaster reinitialise inside a container that keeps running, which the
 *   engine never notices;
 * - the engine reports what happened to the container: its restart policy restarting a server
 *   whose postmaster died, and whether its last exit was an OOM kill.
 */
export const RecoveriesSchema = z
  .object({
    crashRecoveries: z
      .number()
      .int()
      .nullable()
      .meta({ description: 'Starts with crash recovery the monitoring agent has seen; null before the agent recorded any count' }),
    lastCrashRecoveryAt: z.string().nullable().meta({ description: 'When the last one began (PostgreSQL discarded its statistics)' }),
    containerRestarts: z
      .number()
      .int()
      .nullable()
      .meta({ description: "The engine's restarts of the server container since dbaas last started it; null when not inspected (listings)" }),
    oomKilled: z
      .boolean()
      .nullable()
      .meta({ description: "The engine's word on the container's last exit: killed for lack of memory; null when not inspected" }),
  })
  .meta({ id: 'Recoveries' });
export type Recoveries = z.output<typeof RecoveriesSchema>;

export function recoveriesOf(
  agent: Pick<AgentState, 'crash_recoveries_total' | 'last_crash_recovery_at'> | null,
  server: Pick<ServiceState, 'restartCount' | 'oomKilled'> | null,
): Recoveries {
  return {
    crashRecoveries: agent?.crash_recoveries_total ?? null,
    lastCrashRecoveryAt: agent?.last_crash_recovery_at ?? null,
    containerRestarts: server?.restartCount ?? null,
    oomKilled: server?.oomKilled ?? null,
  };
}
