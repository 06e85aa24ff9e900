import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';

/**
 * Labels that mark containers as dbaas's. `dbaas.home` scopes them to one installation, so two
 * homes on one engine (a test run beside a real one, say) never see each other's containers.
 */
export const LABELS = {
  managed: 'dbaas.managed',
  home: 'dbaas.home',
  instance: 'dbaas.instance',
  name: 'dbaas.name',
  service: 'dbaas.service',
  version: 'dbaas.version',
} as const;

export function homeId(home: string): string {
  let real = home;
  try {
    real = realpathSync(home);
  } catch {
    // A home that does not exist yet is named by its path as given.
  }
  return createHash('sha256').update(real).digest('hex').slice(0, 12);
}

/** The label filter that selects every container of one home, for `docker ps`-style listing. */
export function homeFilter(home: string): string[] {
  return [`${LABELS.managed}=true`, `${LABELS.home}=${homeId(home)}`];
}

/**
 * The network of one installation's containers: a user-defined bridge, on which each agent
 * reaches its server by container name whatever restarts when (a shared network namespace did
 * not survive a server restart). One per home, not per instance: every network takes an
 * address pool of the engine's, and the default pools hold about thirty.
 */
export function homeNetwork(home: string): string {
  return `dbaas-${homeId(home)}`;
}
