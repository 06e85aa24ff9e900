import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import { DbaasError } from '../../src/errors.js';
import { withOperation, type Operation } from '../../src/instances/operations.js';
import type { InstanceRecord } from '../../src/instances/schema.js';
import { Registry } from '../../src/registry/registry.js';
import { sampleRecord } from './fixtures/records.js';

function record(n: number, overrides: Partial<InstanceRecord> = {}): InstanceRecord {
  const suffix = `oper${String(n).padStart(4, '0')}`;
  return sampleRecord({ id: `db_${suffix}`, name: `inst-${suffix}`, port: 5433 + n, ...overrides });
}

const ONE = record(1);
const TWO = record(2);

async function rejection(promise: Promise<unknown>): Promise<DbaasError> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(DbaasError);
      return e as DbaasError;
    },
  );
}

/** What the registry file holds now, read by a fresh Registry (no cache). */
async function stored(id: string): Promise<InstanceRecord | undefined> {
  return (await new Registry(file).read()).instances.find((r) => r.id === id);
}

async function setOperation(id: string, operation: Operation | undefined): Promise<void> {
  await registry.update((doc) => {
    const rec = doc.instances.find((r) => r.id === id)!;
    if (operation) rec.operation = operation;
    else delete rec.operation;
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A promise and its resolver, to hold an operation open until the test lets it go. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => {
    open = r;
  });
  return { wait, open };
}

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid!;
  await new Promise((r) => child.once('exit', r));
  await sleep(20);
  expect(() => process.kill(pid, 0)).toThrow();
  return pid;
}

let dir: string;
let file: string;
let registry: Registry;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dbaas-unit-ops-'));
  file = join(dir, 'config', 'instances.json');
  registry = new Registry(file);
  await registry.update((doc) => void doc.instances.push(ONE, TWO));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('withOperation', () => {
  it('records the operation in the record while the work runs, hands the work the record, returns its result', async () => {
    const before = Date.now();
    let seen: InstanceRecord | undefined;
    let during: InstanceRecord | undefined;
    const result = await withOperation(registry, ONE.id, 'start', async (rec) => {
      seen = rec;
      during = await stored(ONE.id);
      return 42;
    });
    expect(result).toBe(42);
    const op = during!.operation!;
    expect(op).toEqual({ name: 'start', pid: process.pid, host: hostname(), startedAt: op.startedAt });
    expect(new Date(op.startedAt).toISOString()).toBe(op.startedAt);
    expect(Date.parse(op.startedAt)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(op.startedAt)).toBeLessThanOrEqual(Date.now());
    // The work gets the record as claimed.
    expect(seen!.id).toBe(ONE.id);
    expect(seen!.name).toBe(ONE.name);
    expect(seen!.operation).toEqual(op);
    // Released afterwards; nothing else of the record changed, and the other record was not touched.
    const after = await stored(ONE.id);
    expect(after!.operation).toBeUndefined();
    expect(after).toEqual(ONE);
    expect(await stored(TWO.id)).toEqual(TWO);
  });

  it('releases the instance after the work throws, and rethrows the same error', async () => {
    const boom = new Error('boom');
    const err = await withOperation(registry, ONE.id, 'stop', async () => {
      expect((await stored(ONE.id))!.operation?.name).toBe('stop');
      throw boom;
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBe(boom);
    expect((await stored(ONE.id))!.operation).toBeUndefined();
    // And the instance can be claimed again.
    await expect(withOperation(registry, ONE.id, 'start', async () => 'again')).resolves.toBe('again');
  });

  it('releases the instance after a DbaasError of the work too', async () => {
    const err = await rejection(
      withOperation(registry, ONE.name, 'update', async () => {
        throw new DbaasError('OPERATION_FAILED', 'engine said no');
      }),
    );
    expect(err.code).toBe('OPERATION_FAILED');
    expect((await stored(ONE.id))!.operation).toBeUndefined();
  });

  it.each([
    ['id', ONE.id],
    ['name', ONE.name],
  ])('finds the instance by %s', async (_by, ref) => {
    const got = await withOperation(registry, ref, 'restart', async (rec) => {
      expect((await stored(ONE.id))!.operation?.name).toBe('restart');
      return rec.id;
    });
    expect(got).toBe(ONE.id);
    expect((await stored(ONE.id))!.operation).toBeUndefined();
  });

  it('answers INSTANCE_NOT_FOUND for an unknown ref, without running the work or writing a claim', async () => {
    let ran = false;
    const err = await rejection(
      withOperation(registry, 'db_nosuch01', 'start', async () => {
        ran = true;
      }),
    );
    expect(err.code).toBe('INSTANCE_NOT_FOUND');
    expect(err.details).toEqual({ instance: 'db_nosuch01' });
    expect(ran).toBe(false);
    expect((await new Registry(file).read()).instances).toEqual([ONE, TWO]);
  });

  it('refuses a second operation on the instance while one runs: INVALID_STATE naming the running one', async () => {
    const hold = gate();
    const first = withOperation(registry, ONE.id, 'start', async () => {
      await hold.wait;
      return 'first';
    });
    // Wait until the first one holds the instance.
    while (!(await stored(ONE.id))?.operation) await sleep(5);
    const claim = (await stored(ONE.id))!.operation!;

    let ran = false;
    for (const ref of [ONE.id, ONE.name]) {
      const err = await rejection(
        withOperation(registry, ref, 'delete', async () => {
          ran = true;
        }),
      );
      expect(err.code).toBe('INVALID_STATE');
      expect(err.message).toBe(
        `cannot delete ${ONE.name}: start of it is in progress (since ${claim.startedAt}); try again when it ends`,
      );
      expect(err.details).toEqual({ status: ONE.status, operation: 'start' });
    }
    expect(ran).toBe(false);
    // The refused ones left the first one's claim alone.
    expect((await stored(ONE.id))!.operation).toEqual(claim);
    // Another instance is not held by it.
    await expect(withOperation(registry, TWO.id, 'stop', async () => 'other')).resolves.toBe('other');

    hold.open();
    await expect(first).resolves.toBe('first');
    expect((await stored(ONE.id))!.operation).toBeUndefined();
    await expect(withOperation(registry, ONE.id, 'delete', async () => 'now')).resolves.toBe('now');
  });

  it('refuses a nested operation on the same instance from inside the work (no re-entry)', async () => {
    const err = await rejection(
      withOperation(registry, ONE.id, 'restart', () => withOperation(registry, ONE.id, 'stop', async () => 'inner')),
    );
    expect(err.code).toBe('INVALID_STATE');
    expect(err.details).toMatchObject({ operation: 'restart' });
    // The outer one released its claim when its work (the refused inner call) failed.
    expect((await stored(ONE.id))!.operation).toBeUndefined();
  });

  it('ignores a claim whose process is dead (on this host) and takes the instance', async () => {
    const pid = await deadPid();
    const stale: Operation = { name: 'delete', pid, host: hostname(), startedAt: '2024-01-01T00:00:00.000Z' };
    await setOperation(ONE.id, stale);
    const during = await withOperation(registry, ONE.id, 'start', async () => (await stored(ONE.id))!.operation);
    expect(during).toMatchObject({ name: 'start', pid: process.pid, host: hostname() });
    expect((await stored(ONE.id))!.operation).toBeUndefined();
  });

  it('respects a claim of a live process, and takes the instance once that process is gone', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      const claim: Operation = { name: 'update', pid: child.pid!, host: hostname(), startedAt: new Date().toISOString() };
      await setOperation(ONE.id, claim);
      const err = await rejection(withOperation(registry, ONE.id, 'stop', async () => 'no'));
      expect(err.code).toBe('INVALID_STATE');
      expect(err.details).toMatchObject({ operation: 'update' });
      expect((await stored(ONE.id))!.operation).toEqual(claim);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    await expect(withOperation(registry, ONE.id, 'stop', async () => 'yes')).resolves.toBe('yes');
    expect((await stored(ONE.id))!.operation).toBeUndefined();
  });

  it('respects a claim from another host even when its pid is free here (its process cannot be checked)', async () => {
    const pid = await deadPid();
    const claim: Operation = { name: 'restart', pid, host: `${hostname()}-elsewhere`, startedAt: '2024-01-01T00:00:00.000Z' };
    await setOperation(ONE.id, claim);
    const err = await rejection(withOperation(registry, ONE.id, 'start', async () => 'no'));
    expect(err.code).toBe('INVALID_STATE');
    expect(err.message).toMatch(/restart of it is in progress \(since 2024-01-01T00:00:00\.000Z\)/);
    expect((await stored(ONE.id))!.operation).toEqual(claim);
  });

  it('respects a claim of this very process made during its life by an operation still running', async () => {
    const running: Operation = { name: 'update', pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
    await setOperation(ONE.id, running);
    const err = await rejection(withOperation(registry, ONE.id, 'stop', async () => 'no'));
    expect(err.code).toBe('INVALID_STATE');
    expect((await stored(ONE.id))!.operation).toEqual(running);
  });

  it('ignores a claim with this pid from before this process started (an earlier process, e.g. before a reboot)', async () => {
    const earlierLife: Operation = { name: 'update', pid: process.pid, host: hostname(), startedAt: '2024-01-01T00:00:00.000Z' };
    await setOperation(ONE.id, earlierLife);
    expect(await withOperation(registry, ONE.id, 'stop', async () => 'done')).toBe('done');
    expect((await stored(ONE.id))!.operation).toBeUndefined();
  });

  it('releases only its own claim: one written over it during the work (same pid, other startedAt) stays', async () => {
    const other: Operation = { name: 'update', pid: process.pid, host: hostname(), startedAt: '2024-01-01T00:00:00.000Z' };
    await withOperation(registry, ONE.id, 'start', async (rec) => {
      expect(rec.operation!.startedAt).not.toBe(other.startedAt);
      await setOperation(ONE.id, other);
    });
    expect((await stored(ONE.id))!.operation).toEqual(other);
  });

  it('releases only its own claim: one of another process written over it during the work stays', async () => {
    const pid = await deadPid();
    let theirs: Operation | undefined;
    await withOperation(registry, ONE.id, 'start', async (rec) => {
      theirs = { ...rec.operation!, pid };
      await setOperation(ONE.id, theirs);
    });
    expect((await stored(ONE.id))!.operation).toEqual(theirs);
  });

  it('resolves when the work deleted the record (a delete), leaving the registry without it', async () => {
    const result = await withOperation(registry, ONE.id, 'delete', async () => {
      await registry.update((doc) => {
        doc.instances = doc.instances.filter((r) => r.id !== ONE.id);
      });
      return 'deleted';
    });
    expect(result).toBe('deleted');
    expect((await new Registry(file).read()).instances).toEqual([TWO]);
  });

  it('resolves with the work\u2019s result when the release cannot be written (the registry became unreadable)', async () => {
    const result = await withOperation(registry, ONE.id, 'start', async () => {
      writeFileSync(file, '{ not json');
      return 'done';
    });
    expect(result).toBe('done');
    expect(readFileSync(file, 'utf8')).toBe('{ not json');
  });

  it('surfaces a corrupt registry at claim time, without running the work', async () => {
    writeFileSync(file, '{ not json');
    let ran = false;
    const err = await rejection(
      withOperation(registry, ONE.id, 'start', async () => {
        ran = true;
      }),
    );
    expect(err.code).toBe('REGISTRY_CORRUPT');
    expect(ran).toBe(false);
  });
});

describe('withOperation races', () => {
  it('lets exactly one of several concurrent operations on one instance run (in one process)', async () => {
    const names = ['start', 'stop', 'restart', 'update', 'delete'];
    let running = 0;
    let maxRunning = 0;
    const results = await Promise.allSettled(
      names.map((name, i) =>
        withOperation(registry, i % 2 ? ONE.name : ONE.id, name, async () => {
          running++;
          maxRunning = Math.max(maxRunning, running);
          await sleep(300);
          running--;
          return name;
        }),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(maxRunning).toBe(1);
    const winner = (won[0] as PromiseFulfilledResult<string>).value;
    for (const r of lost) {
      expect(r.reason).toBeInstanceOf(DbaasError);
      expect((r.reason as DbaasError).code).toBe('INVALID_STATE');
      expect((r.reason as DbaasError).details).toMatchObject({ operation: winner });
    }
    expect((await stored(ONE.id))!.operation).toBeUndefined();
  });

  it('runs operations on different instances side by side', async () => {
    const hold = gate();
    const a = withOperation(registry, ONE.id, 'start', async () => {
      await hold.wait;
      return 'a';
    });
    const b = withOperation(registry, TWO.id, 'start', async () => {
      await hold.wait;
      return 'b';
    });
    while (!(await stored(ONE.id))?.operation || !(await stored(TWO.id))?.operation) await sleep(5);
    hold.open();
    expect(await Promise.all([a, b])).toEqual(['a', 'b']);
    expect((await stored(ONE.id))!.operation).toBeUndefined();
    expect((await stored(TWO.id))!.operation).toBeUndefined();
  });

  it('lets exactly one of two processes run an operation on one instance (compiled code in dist/)', async () => {
    const dist = resolve(PROJECT_ROOT, 'dist');
    expect(existsSync(join(dist, 'instances', 'operations.js'))).toBe(true);
    const operationsUrl = pathToFileURL(join(dist, 'instances', 'operations.js')).href;
    const registryUrl = pathToFileURL(join(dist, 'registry', 'registry.js')).href;
    const script = `
      const { withOperation } = await import(${JSON.stringify(operationsUrl)});
      const { Registry } = await import(${JSON.stringify(registryUrl)});
      const [file, ref, name, startAt] = process.argv.slice(1);
      const registry = new Registry(file);
      await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
      try {
        await withOperation(registry, ref, name, async () => {
          process.stdout.write(JSON.stringify({ name, won: true }) + '\\n');
          await new Promise((r) => setTimeout(r, 1500));
        });
      } catch (err) {
        process.stdout.write(JSON.stringify({ name, won: false, code: err.code, message: err.message }) + '\\n');
      }
    `;
    const startAt = Date.now() + 1500; // after both have loaded
    const run = (ref: string, name: string) =>
      new Promise<{ code: number | null; out: string; err: string }>((done) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, file, ref, name, String(startAt)], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('close', (code) => done({ code, out, err }));
      });
    const results = await Promise.all([run(ONE.id, 'start'), run(ONE.name, 'delete')]);
    for (const r of results) expect(r, r.err).toMatchObject({ code: 0 });
    const outcomes = results.map((r) => JSON.parse(r.out.trim()) as { name: string; won: boolean; code?: string; message?: string });
    expect(outcomes.filter((o) => o.won)).toHaveLength(1);
    const loser = outcomes.find((o) => !o.won)!;
    const winner = outcomes.find((o) => o.won)!;
    expect(loser.code).toBe('INVALID_STATE');
    expect(loser.message).toContain(`${winner.name} of it is in progress`);
    // The winner released the instance before it exited.
    expect((await stored(ONE.id))!.operation).toBeUndefined();
  });
});
