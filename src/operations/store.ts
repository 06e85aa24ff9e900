import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { asDbaasError, DbaasError } from '../errors.js';
import { ownerAlive } from '../instances/status.js';
import type { ProgressEvent } from '../instances/progress.js';

/**
 * Long operations of the API (a backup, a restore, a verification) run in the server's process
 * while the request that started them answers at once (202) with an operation to poll at
 * GET /operations/{id}. Each operation is a small JSON file under config/operations/, rewritten
 * whole at each step, so that an operation outlives the request, the listing survives a
 * restart of the server, and one whose process died is reported as interrupted, not running.
 */

export const OperationSchema = z
  .object({
    id: z.string().regex(/^op_[a-z0-9]+$/),
    kind: z.string().meta({ example: 'backup' }),
    /** What it works on: an instance or a backup id. */
    target: z.string(),
    status: z.enum(['running', 'succeeded', 'failed']),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    /** The step it is at (or ended at), in words. */
    step: z.string().nullable(),
    steps: z.array(z.object({ step: z.string(), message: z.string(), ms: z.number().optional() })),
    result: z.unknown().nullable(),
    error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }).nullable(),
    owner: z.object({ pid: z.number(), host: z.string() }),
  })
  .meta({ id: 'Operation' });
export type Operation = z.output<typeof OperationSchema>;

export const OperationListSchema = z.object({ operations: z.array(OperationSchema) }).meta({ id: 'OperationList' });

/** Finished operations are kept this long for their pollers, then removed. */
const KEEP_FINISHED_MS = 7 * 24 * 3600_000;

export class OperationStore {
  constructor(private readonly dir: string) {}

  private path(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  private write(op: Operation): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, `.${op.id}.tmp`);
    writeFileSync(tmp, `${JSON.stringify(op)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path(op.id));
  }

  /** An operation as stored; one whose process is gone while it ran is reported failed. */
  private read(path: string): Operation | null {
    try {
      const op = OperationSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
      if (op.status === 'running' && !ownerAlive(op.owner)) {
        return {
          ...op,
          status: 'failed',
          error: { code: 'INTERRUPTED', message: `the process that ran it (pid ${op.owner.pid}) ended before it finished` },
        };
      }
      return op;
    } catch {
      return null;
    }
  }

  get(id: string): Operation {
    const op = /^op_[a-z0-9]+$/.test(id) && existsSync(this.path(id)) ? this.read(this.path(id)) : null;
    if (!op) throw operationNotFound(id);
    return op;
  }

  /** The operations, newest first; finished ones past their keeping time are removed on the way. */
  list(): Operation[] {
    if (!existsSync(this.dir)) return [];
    const out: Operation[] = [];
    for (const name of readdirSync(this.dir).filter((n) => /^op_[a-z0-9]+\.json$/.test(n))) {
      const path = join(this.dir, name);
      const op = this.read(path);
      if (op && op.finishedAt && Date.now() - statSync(path).mtimeMs > KEEP_FINISHED_MS) {
        rmSync(path, { force: true });
        continue;
      }
      if (op) out.push(op);
    }
    return out.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  }

  /**
   * Starts `work` in the background and returns its operation at once. `work` gets a progress
   * callback that records each step; its result (or error) is recorded when it ends.
   */
  start(kind: string, target: string, work: (progress: (event: ProgressEvent) => void) => Promise<unknown>): Operation {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    let op: Operation = {
      id: `op_${Array.from(randomBytes(12), (b) => alphabet[b % alphabet.length]).join('')}`,
      kind,
      target,
      status: 'running',
      startedAt: new Date().toISOString(),
      finishedAt: null,
      step: null,
      steps: [],
      result: null,
      error: null,
      owner: { pid: process.pid, host: hostname() },
    };
    this.write(op);
    const save = (change: Partial<Operation>) => {
      op = { ...op, ...change };
      try {
        this.write(op);
      } catch {
        // A status file that cannot be written must not fail the work it describes.
      }
    };
    const progress = (event: ProgressEvent) => {
      if (event.phase === 'start') save({ step: event.message });
      else save({ steps: [...op.steps, { step: event.step, message: event.message, ...(event.ms !== undefined ? { ms: event.ms } : {}) }] });
    };
    void work(progress).then(
      (result) => save({ status: 'succeeded', finishedAt: new Date().toISOString(), result: result ?? null }),
      (err: unknown) => {
        const e = asDbaasError(err);
        save({ status: 'failed', finishedAt: new Date().toISOString(), error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } });
      },
    );
    return op;
  }
}

export function operationNotFound(id: string): DbaasError {
  return new DbaasError('OPERATION_NOT_FOUND', `no operation "${id}"`, { operation: id });
}
