import type { Logger } from '../log/logger.js';
import type { Doctor, Finding } from './doctor.js';

/**
 * Keeps the installation in the state its users asked for while `dbaas serve` runs: a doctor
 * pass with repairs at the start and then every interval. An instance recorded as running
 * whose server is not (the engine was killed and did not restart it, its container was removed,
 * it exited after an OOM kill) is started again, a stopped agent is started, an interrupted
 * create is undone, an orphan container removed. What was stopped with `dbaas stop` stays
 * stopped. A repair that keeps failing is tried at most once per backoff period; its error
 * stays in the log and the instance's lastError.
 */
export class InstanceKeeper {
  private readonly lastAttempt = new Map<string, number>();

  constructor(
    private readonly doctor: Pick<Doctor, 'examine' | 'fix'>,
    private readonly logger: Logger,
    private readonly backoffMs = 60_000,
  ) {}

  /** One pass: repairs what may be repaired now; returns the repairs made. */
  async round(now = Date.now()): Promise<Finding[]> {
    const due = (await this.doctor.examine()).filter((f) => {
      if (f.repair === null) return false; // orphan folders: the operator's call
      const key = `${f.kind}:${f.instance ?? f.name}`;
      if (now - (this.lastAttempt.get(key) ?? 0) < this.backoffMs) return false;
      this.lastAttempt.set(key, now);
      return true;
    });
    if (due.length === 0) return [];
    return (await this.doctor.fix(due)).filter((f) => f.fixed);
  }

  /** Runs a round now and then every `intervalMs` until the returned function is called. */
  start(intervalMs: number): () => void {
    let running = false;
    const tick = () => {
      if (running) return;
      running = true;
      this.round()
        .catch((err: unknown) => this.logger.error('keeper round failed', { error: (err as Error).message }))
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
