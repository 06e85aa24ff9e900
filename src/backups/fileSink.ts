import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, fsyncSync, openSync, closeSync } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { basename } from 'node:path';
import type { BackupFile } from './manifest.js';

/**
 * A backup file as it is written: its sha256 and size are computed from the bytes on their way
 * to disk (one pass, no re-read), and the file is flushed to disk before it counts as written.
 */
export class HashingFile {
  private readonly hash = createHash('sha256');
  private size = 0;
  readonly writable: Transform;
  private readonly done: Promise<void>;

  constructor(readonly path: string) {
    const self = this;
    this.writable = new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, next: TransformCallback) {
        self.hash.update(chunk);
        self.size += chunk.length;
        next(null, chunk);
      },
    });
    this.done = pipeline(this.writable, createWriteStream(path, { mode: 0o600 }));
  }

  /** Waits for the file to be written and flushed; its manifest entry. */
  async finish(): Promise<BackupFile> {
    await this.done;
    syncPath(this.path);
    return { name: basename(this.path), size: this.size, sha256: this.hash.digest('hex') };
  }
}

/** fsync of a file or a folder (a rename is durable once its folder is flushed). */
export function syncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The sha256 and size of a file on disk, read once. */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(createReadStream(path), async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      hash.update(chunk);
      size += chunk.length;
    }
    yield* [];
  });
  return { sha256: hash.digest('hex'), size };
}
