import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, openSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

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

/**
 * The sha256 and size of a file that another process is writing, read as it grows: chunks are
 * hashed as they appear, and once `writing` has settled, the file is read to its end once more.
 */
export async function hashWhileWritten(path: string, writing: Promise<unknown>): Promise<{ sha256: string; size: number }> {
  let settled = false;
  void writing.then(
    () => (settled = true),
    () => (settled = true),
  );
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(4 * 1024 * 1024);
  let size = 0;
  let file: FileHandle | null = null;
  try {
    // `last` marks a read begun after the writer ended: when it finds nothing, the file is whole.
    for (let last = false; ; ) {
      const ended = settled;
      if (!file) {
        file = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT' || ended) throw err;
          return null;
        });
        if (!file) {
          await sleep(20);
          continue;
        }
      }
      const { bytesRead } = await file.read(buffer, 0, buffer.length, size);
      if (bytesRead > 0) {
        hash.update(buffer.subarray(0, bytesRead));
        size += bytesRead;
        continue;
      }
      if (last) break;
      if (ended) last = true;
      else await sleep(20);
    }
  } finally {
    await file?.close();
  }
  return { sha256: hash.digest('hex'), size };
}
