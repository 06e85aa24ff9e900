import { hostname } from 'node:os';
import type { InstanceStatus, StoredStatus } from './schema.js';

/** What the engine tells about an instance's main container. */
export interface ObservedContainer {
  state: string; // created | running | paused | restarting | removing | exited | dead
  oomKilled?: boolean;
}

/** Whether the process that owns a create still runs (on this host; elsewhere we cannot tell). */
export function ownerAlive(owner: { pid: number; host: string } | undefined): boolean {
  if (!owner) return false;
  if (owner.host !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The status users see. Transitional stored states (provisioning, deleting, failed) describe
 * what dbaas is doing and win; otherwise the engine's observed state wins over the stored one,
 * because a container can stop, restart or be OOM-killed without dbaas being asked.
 */
export function mergeStatus(
  stored: StoredStatus,
  container: ObservedContainer | null,
  provisioningAlive: boolean,
): InstanceStatus {
  if (stored === 'deleting' || stored === 'failed') return stored;
  // A create whose process died (crash, kill -9) will never finish: it has failed.
  if (stored === 'provisioning') return provisioningAlive ? 'provisioning' : 'failed';
  if (!container) return 'missing';
  switch (container.state) {
    case 'running':
      return 'running';
    case 'restarting':
      return 'restarting';
    case 'paused':
      return 'paused';
    case 'removing':
      return 'deleting';
    default:
      return container.oomKilled ? 'oomkilled' : 'stopped';
  }
}

/** `docker ps` shows "Exited (137)" for a SIGKILL, the only exit an OOM kill can have. */
export function mayBeOomKilled(statusText: string): boolean {
  return /^Exited \(137\)/.test(statusText);
}
