import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DbaasError } from '../../src/errors.js';
import { OperationStore } from '../../src/operations/store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dbaas-unit-ops-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function settled(store: OperationStore, id: string) {
  for (let i = 0; i < 100; i++) {
    const op = store.get(id);
    if (op.status !== 'running') return op;
    await sleep(10);
  }
  throw new Error('still running');
}

describe('OperationStore', () => {
  it('answers at once with a running operation, records its steps, then its result', async () => {
    const store = new OperationStore(dir);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const op = store.start('backup', 'db_x', async (progress) => {
      progress({ step: 'backup', phase: 'start', message: 'take a base backup' });
      await gate;
      progress({ step: 'backup', phase: 'done', message: 'take a base backup', ms: 12 });
      return { id: 'bk_1' };
    });
    expect(op.status).toBe('running');
    await sleep(5);
    expect(store.get(op.id).step).toBe('take a base backup');
    release();
    const done = await settled(store, op.id);
    expect(done).toMatchObject({ status: 'succeeded', result: { id: 'bk_1' }, steps: [{ step: 'backup', ms: 12 }], error: null });
    expect(done.finishedAt).not.toBeNull();
    expect(store.list().map((o) => o.id)).toEqual([op.id]);
  });

  it('records a failure with its code', async () => {
    const store = new OperationStore(dir);
    const op = store.start('restore', 'db_x', async () => {
      throw new DbaasError('RESTORE_TARGET_UNREACHABLE', 'the archive ends before it');
    });
    const done = await settled(store, op.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'RESTORE_TARGET_UNREACHABLE', message: 'the archive ends before it' });
  });

  it('reports a running operation whose process is gone as interrupted, and an unknown id as not found', () => {
    const store = new OperationStore(dir);
    const op = store.start('backup', 'db_x', () => new Promise(() => undefined));
    const path = join(dir, `${op.id}.json`);
    const stored = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...stored, owner: { pid: 2 ** 22 + 17, host: hostname() } }));
    expect(store.get(op.id)).toMatchObject({ status: 'failed', error: { code: 'INTERRUPTED' } });
    expect(() => store.get('op_nothere')).toThrow(/no operation/);
    expect(() => store.get('../x')).toThrow(/no operation/);
  });
});
