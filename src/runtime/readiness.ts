import pg from 'pg';
import { DbaasError } from '../errors.js';

export interface LoginTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export interface ReadinessOptions {
  timeoutMs: number;
  /** Reports why the server can no longer come up (its container exited), or null while it may. */
  deadReason?: () => Promise<string | null>;
  intervalMs?: number;
  /** Aborting stops the wait with INTERRUPTED. */
  signal?: AbortSignal;
}

/** One real login and `SELECT 1`; the error of the attempt when it fails. */
export async function tryLogin(target: LoginTarget, timeoutMs = 3000): Promise<Error | null> {
  const client = new pg.Client({ ...target, connectionTimeoutMillis: timeoutMs, statement_timeout: timeoutMs });
  client.on('error', () => undefined); // a server that goes away mid-check must not crash us
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return err as Error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Waits until the server accepts a real login with the instance's own credentials over the
 * published port. The first "ready" log line is not enough: the official image starts a
 * socket-only server for the init scripts, stops it and starts again; only the final server
 * listens on TCP, so a TCP login proves that init has finished and the roles exist.
 */
export async function waitForLogin(target: LoginTarget, options: ReadinessOptions): Promise<number> {
  const started = Date.now();
  const interval = options.intervalMs ?? 100;
  let lastError: Error | null = null;
  let attempts = 0;
  while (Date.now() - started < options.timeoutMs) {
    if (options.signal?.aborted) throw new DbaasError('INTERRUPTED', 'interrupted while waiting for the server');
    const remaining = options.timeoutMs - (Date.now() - started);
    lastError = await tryLogin(target, Math.max(100, Math.min(3000, remaining)));
    if (!lastError) return Date.now() - started;
    attempts++;
    if (options.deadReason && attempts % 4 === 0) {
      const reason = await options.deadReason();
      if (reason) throw new DbaasError('PROVISIONING_FAILED', reason, { step: 'wait-ready' });
    }
    await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(0, options.timeoutMs - (Date.now() - started)))));
  }
  if (options.deadReason) {
    const reason = await options.deadReason();
    if (reason) throw new DbaasError('PROVISIONING_FAILED', reason, { step: 'wait-ready' });
  }
  throw new DbaasError(
    'READINESS_TIMEOUT',
    `the server did not accept a login within ${(options.timeoutMs / 1000).toFixed(1)} s` +
      (lastError ? ` (last attempt: ${lastError.message})` : ''),
    { step: 'wait-ready', timeoutMs: options.timeoutMs },
  );
}
