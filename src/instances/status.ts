import type { InstanceStatus, StoredStatus } from './schema.js';

/** What the engine tells about an instance's main container. */
export interface ObservedContainer {
  state: string; // created | running | paused | restarting | removing | exited | dead
  oomKilled?: boolean;
}

/** A provisioning record older than this was left by a process that died mid-create. */
export const STALE_PROVISIONING_MS = 15 * 60 * 1000;

/**
 * The status users see. Transitional stored states (provisioning, deleting, failed) describe
 * what dbaas is doing and win; otherwise the engine's observed state wins over the stored one,
 * because a container can stop, restart or be OOM-killed without dbaas being asked.
 */
export function mergeStatus(
  stored: StoredStatus,
  container: ObservedContainer | null,
  updatedAt: string,
  now: number = Date.now(),
): InstanceStatus {
  if (stored === 'deleting' || stored === 'failed') return stored;
  if (stored === 'provisioning') {
    return now - Date.parse(updatedAt) > STALE_PROVISIONING_MS ? 'failed' : 'provisioning';
  }
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
