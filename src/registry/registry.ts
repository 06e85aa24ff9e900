import { mkdirSync, existsSync } from 'node:fs';
import { link, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { lockPath } from '../fileLock.js';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { DbaasError, notFound } from '../errors.js';
import { REGISTRY_VERSION } from './version.js';
import { InstanceRecordSchema, type InstanceRecord } from '../instances/schema.js';

/**
 * The registry: `config/instances.json`, a versioned, zod-checked document. Every change runs
 * under an inter-process lock (a CLI and a server can both write) and lands with write-file-atomic
 * (temp file, fsync, rename) followed by an fsync of the folder, so a crash leaves either the old
 * or the new file, never a torn one. A file that fails to parse is reported, never overwritten.
 */
export { REGISTRY_VERSION };

export const RegistryFileSchema = z.object({
  version: z.literal(REGISTRY_VERSION),
  instances: z.array(InstanceRecordSchema),
});
export type RegistryFile = z.output<typeof RegistryFileSchema>;

const EMPTY: RegistryFile = { version: REGISTRY_VERSION, instances: [] };

export class Registry {
  constructor(readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
  }

  /** The last document read, with the identity of the file it came from. */
  private cached: { key: string; doc: RegistryFile } | null = null;

  /**
   * A consistent snapshot; readers need no lock because writes are atomic renames. Every write
   * replaces the file (a new inode), so an unchanged inode, size and mtime mean an unchanged
   * document: then the parsed one is reused. Callers must not modify what this returns.
   */
  async read(): Promise<RegistryFile> {
    let key: string;
    try {
      const s = await stat(this.file, { bigint: true });
      key = `${s.ino}:${s.size}:${s.mtimeNs}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(EMPTY);
      throw err;
    }
    if (this.cached?.key === key) return this.cached.doc;
    const doc = await this.readFile();
    this.cached = { key, doc };
    return doc;
  }

  /** Reads and checks the file itself (every update starts from this, never from the cache). */
  private async readFile(): Promise<RegistryFile> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(EMPTY);
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new DbaasError('REGISTRY_CORRUPT', `${this.file} is not valid JSON: ${(err as Error).message}`);
    }
    const parsed = RegistryFileSchema.safeParse(json);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new DbaasError(
        'REGISTRY_CORRUPT',
        `${this.file} does not match registry format v${REGISTRY_VERSION}: ${first?.path.join('.')}: ${first?.message}`,
      );
    }
    return parsed.data;
  }

  async list(): Promise<InstanceRecord[]> {
    return (await this.read()).instances;
  }

  /** The record of an instance addressed by id or by name; INSTANCE_NOT_FOUND otherwise. */
  async find(ref: string): Promise<InstanceRecord> {
    const record = (await this.list()).find((r) => r.id === ref || r.name === ref);
    if (!record) throw notFound(ref);
    return record;
  }

  /** Runs `change` on the current document under the lock and persists what it leaves. */
  async update<T>(change: (doc: RegistryFile) => T | Promise<T>): Promise<T> {
    const release = await this.lock();
    try {
      const doc = await this.readFile();
      const result = await change(doc);
      const checked = RegistryFileSchema.parse(doc);
      await writeFileAtomic(this.file, JSON.stringify(checked, null, 2) + '\n', { mode: 0o600, fsync: true });
      await fsyncDir(dirname(this.file));
      return result;
    } finally {
      await release();
    }
  }

  /**
   * proper-lockfile locks an existing path, so the first writer makes an empty registry. It is
   * written to a temp file and linked into place: link() fails if another process got there
   * first, so a late creator can never overwrite a registry that already holds an update.
   */
  private async createEmpty(): Promise<void> {
    const temp = `${this.file}.${process.pid}.${Date.now()}.new`;
    await writeFileAtomic(temp, JSON.stringify(EMPTY, null, 2) + '\n', { mode: 0o600, fsync: true });
    try {
      await link(temp, this.file);
      await fsyncDir(dirname(this.file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  private async lock(): Promise<() => Promise<void>> {
    if (!existsSync(this.file)) await this.createEmpty();
    return lockPath(this.file);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
