import { hostname } from 'node:os';
import { DbaasError, notFound } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import type { InstanceRecord } from './schema.js';
import { ownerAlive } from './status.js';

/**
 * One operation at a time per instance (start, stop, restart, update, delete), across every
 * process that shares the registry: a `dbaas serve` and CLI commands alike. The running operation
 * is written into the instance's record under the registry's lock, so a second one sees it and is
 * refused with INVALID_STATE (409) instead of racing it (a delete under a start answered 500, or
 * 200 "running" for an instance that was gone a moment later). An operation whose process died
 * does not hold the instance: its owner is checked like a create's.
 */

export type Operation = NonNullable<InstanceRecord['operation']>;

function busy(record: InstanceRecord, wanted: string): DbaasError {
  const op = record.operation as Operation;
  return new DbaasError(
    'INVALID_STATE',
    `cannot ${wanted} ${record.name}: ${op.name} of it is in progress (since ${op.startedAt}); try again when it ends`,
    { status: record.status, operation: op.name },
  );
}

/** When this process started: a claim with its pid but older than that was left by another process. */
const PROCESS_STARTED = Date.now() - process.uptime() * 1000;

/** A claim of a process that had this pid before (after a reboot the same pid comes back). */
function leftByEarlierLife(op: Operation): boolean {
  return op.pid === process.pid && op.host === hostname() && Date.parse(op.startedAt) < PROCESS_STARTED - 1000;
}

/** Claims the instance for `name`, runs `work`, and releases it whatever happens. */
export async function withOperation<T>(
  registry: Registry,
  ref: string,
  name: string,
  work: (record: InstanceRecord) => Promise<T>,
): Promise<T> {
  const mine: Operation = { name, pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
  const record = await registry.update((doc) => {
    const rec = doc.instances.find((r) => r.id === ref || r.name === ref);
    if (!rec) throw notFound(ref);
    if (rec.operation && ownerAlive(rec.operation) && !leftByEarlierLife(rec.operation)) throw busy(rec, name);
    rec.operation = mine;
    return { ...rec };
  });
  try {
    return await work(record);
  } finally {
    await registry
      .update((doc) => {
        const rec = doc.instances.find((r) => r.id === record.id);
        if (rec?.operation && rec.operation.pid === mine.pid && rec.operation.startedAt === mine.startedAt) delete rec.operation;
      })
      .catch(() => undefined); // the record may be gone (a delete), or the registry unreadable: the claim dies with us
  }
}
