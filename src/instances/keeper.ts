import type { Logger } from '../log/logger.js';
import type { InstanceView } from './schema.js';

/**
 * Keeps instances in the state their users asked for while `dbaas serve` runs. An instance
 * recorded as running whose server is not (the engine was killed and did not restart it, its
 * container was removed, it exited after an OOM kill) is started again, the way `dbaas start`
 * would: the compose file recreates a missing container and readiness is a real login. Stopping
 * an instance is `dbaas stop`'s job; one stopped behind dbaas's back is brought back.
 * A server that keeps failing is tried at most once per backoff period, and its error stays in
 * the instance's lastError for `dbaas info`.
 */

/** Observed states that mean "should run but does not". */
const DOWN = new Set(['stopped', 'missing', 'oomkilled']);

export interface KeptInstances {
  list(): Promise<InstanceView[]>;
  start(ref: string): Promise<InstanceView>;
}

export class InstanceKeeper {
  private readonly lastAttempt = new Map<string, number>();

  constructor(
    private readonly instances: KeptInstances,
    private readonly logger: Logger,
    private readonly backoffMs = 60_000,
  ) {}

  /** One pass: starts every instance that should run and does not; returns the ids it started. */
  async round(now = Date.now()): Promise<string[]> {
    const started: string[] = [];
    for (const view of await this.instances.list()) {
      if (view.storedStatus !== 'running' || !DOWN.has(view.status)) continue;
      if (now - (this.lastAttempt.get(view.id) ?? 0) < this.backoffMs) continue;
      this.lastAttempt.set(view.id, now);
      this.logger.warn('instance should run but is down; starting it', { instance: view.id, observed: view.status });
      try {
        await this.instances.start(view.id);
        started.push(view.id);
        this.logger.info('instance brought back', { instance: view.id });
      } catch (err) {
        // Another operation may hold it (409), or the server may not come up: next round.
        this.logger.error('could not bring the instance back', { instance: view.id, error: (err as Error).message });
      }
    }
    return started;
  }

  /** Runs a round now and then every `intervalMs` until the returned function is called. */
  start(intervalMs: number): () => void {
    let running = false;
    const tick = () => {
      if (running) return;
      running = true;
      this.round()
        .catch((err: unknown) => this.logger.error('instance keeper round failed', { error: (err as Error).message }))
        .finally(() => {
          running = false;
        });
    };
    tick();
    const timer = setInterval(tick, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
