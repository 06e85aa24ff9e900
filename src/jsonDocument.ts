import { existsSync, mkdirSync, statSync } from 'node:fs';
import { link, open, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type { z } from 'zod';
import { DbaasError } from './errors.js';
import { lockPath } from './fileLock.js';

/**
 * A zod-checked JSON document in one file that several processes share (the registry, the
 * tokens). Every change runs under an inter-process lock and lands with write-file-atomic (temp
 * file, fsync, rename) followed by an fsync of the folder, so a crash leaves either the old or
 * the new file, never a torn one. A file that fails to parse is reported (REGISTRY_CORRUPT),
 * never overwritten.
 */
export class JsonDocument<S extends z.ZodType> {
  /** The last document read, with the identity of the file it came from. */
  private cached: { key: string; doc: z.output<S>; checkedAt: number } | null = null;

  constructor(
    readonly file: string,
    private readonly schema: S,
    private readonly empty: () => z.output<S>,
    /** How the format is named in errors: "registry format v3". */
    private readonly formatName: string,
  ) {
    mkdirSync(dirname(file), { recursive: true });
  }

  /**
   * A consistent snapshot; readers need no lock because writes are atomic renames. Every write
   * replaces the file (a new inode), so an unchanged inode, size and mtime mean an unchanged
   * document: then the parsed one is reused. Callers must not modify what this returns.
   */
  async read(maxAgeMs = 0): Promise<z.output<S>> {
    // `maxAgeMs`: a snapshot checked against the file that recently is good enough (the hot path
    // of API requests, which asks again on a miss). This process's own writes drop it at once.
    const now = Date.now();
    if (maxAgeMs > 0 && this.cached && now - this.cached.checkedAt < maxAgeMs) return this.cached.doc;
    // A synchronous stat: every API request asks (its token, its instance), and on a local disk
    // it costs a few microseconds, less than the thread-pool round trip of an asynchronous one
    // (which made stat the largest item of the API's CPU profile).
    const s = statSync(this.file, { bigint: true, throwIfNoEntry: false });
    if (!s) return this.empty();
    const key = `${s.ino}:${s.size}:${s.mtimeNs}`;
    if (this.cached?.key === key) {
      this.cached.checkedAt = now;
      return this.cached.doc;
    }
    const doc = await this.readFile();
    this.cached = { key, doc, checkedAt: now };
    return doc;
  }

  /** Runs `change` on the current document under the lock and persists what it leaves. */
  async update<T>(change: (doc: z.output<S>) => T | Promise<T>): Promise<T> {
    const release = await this.lock();
    try {
      const doc = await this.readFile();
      const result = await change(doc);
      const checked = this.schema.parse(doc);
      // Whatever this process read before is stale now, even should the new file get the old
      // one's inode, size and modification tick (a freed inode is soon reused).
      this.cached = null;
      await writeFileAtomic(this.file, JSON.stringify(checked, null, 2) + '\n', { mode: 0o600, fsync: true });
      this.cached = null;
      await fsyncDir(dirname(this.file));
      return result;
    } finally {
      await release();
    }
  }

  /** Reads and checks the file itself (every update starts from this, never from the cache). */
  private async readFile(): Promise<z.output<S>> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.empty();
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new DbaasError('REGISTRY_CORRUPT', `${this.file} is not valid JSON: ${(err as Error).message}`);
    }
    const parsed = this.schema.safeParse(json);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new DbaasError('REGISTRY_CORRUPT', `${this.file} does not match ${this.formatName}: ${first?.path.join('.')}: ${first?.message}`);
    }
    return parsed.data;
  }

  /**
   * proper-lockfile locks an existing path, so the first writer makes an empty document. It is
   * written to a temp file and linked into place: link() fails if another process got there
   * first, so a late creator can never overwrite a document that already holds an update.
   */
  private async createEmpty(): Promise<void> {
    const temp = `${this.file}.${process.pid}.${Date.now()}.new`;
    await writeFileAtomic(temp, JSON.stringify(this.empty(), null, 2) + '\n', { mode: 0o600, fsync: true });
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
