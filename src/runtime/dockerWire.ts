import { DbaasError } from '../errors.js';

/**
 * How the Docker engine's answers are read: a failure of its API becomes a typed DbaasError,
 * and its multiplexed log stream becomes text. Shared by everything in src/runtime that talks
 * to the engine.
 */

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/** The HTTP status of a failed engine call, when it got that far. */
export function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? Number(err.statusCode) : undefined;
}

/** Maps a dockerode failure to a DbaasError with the engine's own reason. */
export function engineError(err: unknown, action: string): DbaasError {
  if (err instanceof DbaasError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code && UNREACHABLE.has(code)) {
    return new DbaasError('ENGINE_UNAVAILABLE', `the Docker engine does not answer (${code}) while trying to ${action}`);
  }
  const reason = (err as { json?: { message?: string } })?.json?.message ?? (err as Error)?.message ?? String(err);
  return new DbaasError('OPERATION_FAILED', `engine refused to ${action}: ${reason}`, undefined, { cause: err });
}

/** Splits Docker's multiplexed log framing (8-byte headers) back into text. */
export function demuxBuffer(buffer: Buffer): string {
  if (!Buffer.isBuffer(buffer)) return String(buffer);
  const chunks: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const type = buffer[offset];
    const size = buffer.readUInt32BE(offset + 4);
    if (type === undefined || type > 2 || buffer[offset + 1] !== 0) return buffer.toString('utf8'); // not multiplexed (TTY)
    chunks.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(chunks).toString('utf8');
}
