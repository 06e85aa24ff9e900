import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import { DbaasError } from '../../src/errors.js';
import type { InstanceRecord } from '../../src/instances/schema.js';
import { Registry, RegistryFileSchema, REGISTRY_VERSION } from '../../src/registry/registry.js';
import { sampleRecord } from './fixtures/records.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const WORKER = join(HERE, 'fixtures', 'registry-worker.mjs');

function record(n: number, overrides: Partial<InstanceRecord> = {}): InstanceRecord {
  const suffix = `unit${String(n).padStart(4, '0')}`;
  return sampleRecord({ id: `db_${suffix}`, name: `inst-${suffix}`, port: 5433 + n, ...overrides });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

let dir: string;
let file: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dbaas-unit-reg-'));
  file = join(dir, 'config', 'instances.json');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('Registry', () => {
  it('creates its folder and reads as empty when the file is missing', async () => {
    const registry = new Registry(file);
    expect(statSync(dirname(file)).isDirectory()).toBe(true);
    expect(existsSync(file)).toBe(false);
    expect(await registry.read()).toEqual({ version: REGISTRY_VERSION, instances: [] });
    expect(await registry.list()).toEqual([]);
    // Reading alone never creates the file.
    expect(existsSync(file)).toBe(false);
  });

  it('hands out independent empty documents', async () => {
    const registry = new Registry(file);
    const a = await registry.read();
    a.instances.push(record(1));
    expect((await registry.read()).instances).toEqual([]);
  });

  it('persists an update, returns its result and is visible to a second Registry on the file', async () => {
    const registry = new Registry(file);
    const result = await registry.update((doc) => {
      doc.instances.push(record(1));
      return 'done';
    });
    expect(result).toBe('done');
    const other = new Registry(file);
    expect(await other.list()).toEqual([record(1)]);
    const onDisk = RegistryFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    expect(onDisk.instances.map((r) => r.id)).toEqual(['db_unit0001']);
  });

  it('finds an instance by id or by name, and answers INSTANCE_NOT_FOUND for any other reference', async () => {
    const registry = new Registry(file);
    await registry.update((doc) => {
      doc.instances.push(record(1), record(2));
    });
    expect((await registry.find('db_unit0002')).name).toBe('inst-unit0002');
    expect((await registry.find('inst-unit0001')).id).toBe('db_unit0001');
    const missing = await rejection(registry.find('unit0001'));
    expect(missing).toBeInstanceOf(DbaasError);
    expect((missing as DbaasError).code).toBe('INSTANCE_NOT_FOUND');
  });

  it('applies successive updates on top of each other', async () => {
    const registry = new Registry(file);
    await registry.update((doc) => void doc.instances.push(record(1), record(2)));
    await registry.update(async (doc) => {
      const r = doc.instances.find((i) => i.id === 'db_unit0002');
      if (r) r.status = 'stopped';
      doc.instances.push(record(3));
    });
    await registry.update((doc) => {
      doc.instances = doc.instances.filter((i) => i.id !== 'db_unit0001');
    });
    const list = await registry.list();
    expect(list.map((r) => [r.id, r.status])).toEqual([
      ['db_unit0002', 'stopped'],
      ['db_unit0003', 'running'],
    ]);
  });

  it('writes the file with mode 0600, and leaves no lock or temp file behind', async () => {
    const registry = new Registry(file);
    await registry.update((doc) => void doc.instances.push(record(1)));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dirname(file))).toEqual(['instances.json']);
  });

  it('writes nothing when the change throws, and passes the error through', async () => {
    const registry = new Registry(file);
    await registry.update((doc) => void doc.instances.push(record(1)));
    const before = readFileSync(file, 'utf8');
    const boom = new DbaasError('NAME_TAKEN', 'taken');
    const err = await rejection(
      registry.update((doc) => {
        doc.instances.push(record(2));
        throw boom;
      }),
    );
    expect(err).toBe(boom);
    expect(readFileSync(file, 'utf8')).toBe(before);
    // The lock was released: a later update goes through.
    await registry.update((doc) => void doc.instances.push(record(3)));
    expect((await registry.list()).map((r) => r.id)).toEqual(['db_unit0001', 'db_unit0003']);
  });

  it('writes nothing when an async change rejects', async () => {
    const registry = new Registry(file);
    await registry.update((doc) => void doc.instances.push(record(1)));
    const before = readFileSync(file, 'utf8');
    await rejection(
      registry.update(async (doc) => {
        doc.instances.pop();
        await new Promise((r) => setTimeout(r, 5));
        throw new Error('later');
      }),
    );
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('writes nothing when the change leaves an invalid document', async () => {
    const registry = new Registry(file);
    await registry.update((doc) => void doc.instances.push(record(1)));
    const before = readFileSync(file, 'utf8');
    await rejection(
      registry.update((doc) => {
        doc.instances.push({ ...record(2), id: 'not-an-id' });
      }),
    );
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(await registry.list()).toHaveLength(1);
  });

  it('serialises concurrent updates within one process', async () => {
    const registry = new Registry(file);
    await registry.update(() => undefined);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        new Registry(file).update(async (doc) => {
          await new Promise((r) => setTimeout(r, Math.random() * 3));
          doc.instances.push(record(i));
        }),
      ),
    );
    const ids = (await registry.list()).map((r) => r.id);
    expect(new Set(ids).size).toBe(20);
  });
});

describe('Registry with a corrupt file', () => {
  const cases: Array<[string, string]> = [
    ['bad JSON', '{"version": 1, "instances": ['],
    ['an empty file', ''],
    ['a wrong version', JSON.stringify({ version: 2, instances: [] })],
    ['a wrong shape', JSON.stringify({ version: 1, instances: {} })],
    ['a JSON array', JSON.stringify([])],
    ['an invalid record', JSON.stringify({ version: 1, instances: [{ id: 'db_abcdef', name: 'x' }] })],
  ];

  it.each(cases)('raises REGISTRY_CORRUPT for %s on read and list', async (_what, text) => {
    const registry = new Registry(file);
    writeFileSync(file, text);
    for (const op of [() => registry.read(), () => registry.list()]) {
      const err = await rejection(op());
      expect(err).toBeInstanceOf(DbaasError);
      expect((err as DbaasError).code).toBe('REGISTRY_CORRUPT');
      expect((err as DbaasError).message).toContain(file);
    }
  });

  it.each(cases)('never overwrites a file with %s', async (_what, text) => {
    const registry = new Registry(file);
    writeFileSync(file, text);
    let called = false;
    const err = await rejection(
      registry.update((doc) => {
        called = true;
        doc.instances = [];
      }),
    );
    expect((err as DbaasError).code).toBe('REGISTRY_CORRUPT');
    expect(called).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe(text);
    // A second attempt is refused the same way (the lock was released, the file still intact).
    const again = await rejection(registry.update(() => undefined));
    expect((again as DbaasError).code).toBe('REGISTRY_CORRUPT');
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('names the offending path of a record that does not match', async () => {
    const registry = new Registry(file);
    writeFileSync(file, JSON.stringify({ version: 1, instances: [{ ...record(1), memory: 'lots' }] }));
    const err = (await rejection(registry.read())) as DbaasError;
    expect(err.message).toContain('instances.0.memory');
  });
});

describe('Registry across processes', () => {
  function runWorker(worker: number, count: number, startAt?: number): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolveRun, reject) => {
      const args = [WORKER, file, String(worker), String(count), ...(startAt ? [String(startAt)] : [])];
      const child = spawn(process.execPath, args, {
        cwd: PROJECT_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => resolveRun({ code, stderr }));
    });
  }

  it('uses the compiled registry (run npm run build first)', () => {
    expect(existsSync(resolve(PROJECT_ROOT, 'dist', 'registry', 'registry.js'))).toBe(true);
  });

  it('loses no update when 6 processes each append 25 records to one file', async () => {
    const WORKERS = 6;
    const EACH = 25;
    // The file exists before the workers start (as it does once dbaas has run once).
    const registry = new Registry(file);
    await registry.update(() => undefined);

    const results = await Promise.all(Array.from({ length: WORKERS }, (_, w) => runWorker(w, EACH)));
    for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0 });

    const parsed = RegistryFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    expect(parsed.instances).toHaveLength(WORKERS * EACH);
    const ids = new Set(parsed.instances.map((r) => r.id));
    expect(ids.size).toBe(WORKERS * EACH);
    for (let w = 0; w < WORKERS; w++) {
      for (let i = 0; i < EACH; i++) expect(ids.has(`db_w${w}x${String(i).padStart(4, '0')}`)).toBe(true);
    }
    // Each worker's own records are in the order it wrote them.
    for (let w = 0; w < WORKERS; w++) {
      const mine = parsed.instances.filter((r) => r.id.startsWith(`db_w${w}x`)).map((r) => r.id);
      expect(mine).toEqual([...mine].sort());
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dirname(file))).toEqual(['instances.json']);
  }, 120_000);

  it('loses no update when several processes make the very first update of a new registry together', async () => {
    // The first writer creates the file; a late creator must not overwrite what an early one wrote.
    for (let trial = 0; trial < 10; trial++) {
      rmSync(dirname(file), { recursive: true, force: true });
      const startAt = Date.now() + 700; // after every worker has loaded
      const results = await Promise.all(Array.from({ length: 6 }, (_, w) => runWorker(w, 1, startAt)));
      for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0 });
      const parsed = RegistryFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
      expect(parsed.instances, `trial ${trial}`).toHaveLength(6);
      expect(readdirSync(dirname(file))).toEqual(['instances.json']);
    }
  }, 120_000);
});
