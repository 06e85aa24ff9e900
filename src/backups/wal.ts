import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * WAL positions and segment file names, as PostgreSQL computes them: a segment's name is its
 * timeline, then the high 32 bits of its first LSN, then the segment number within those 4 GiB,
 * each as 8 hex digits (XLogFileName in xlog_internal.h).
 */

export const SEGMENT_NAME = /^[0-9A-F]{24}$/;

export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m) throw new Error(`not a WAL position: "${lsn}"`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}

const hex8 = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');

/** The segment holding `lsn`. */
export function segmentOf(timeline: number, lsn: bigint, segmentSize: number): string {
  const segNo = lsn / BigInt(segmentSize);
  const perId = 0x100000000n / BigInt(segmentSize);
  return `${hex8(timeline)}${hex8(segNo / perId)}${hex8(segNo % perId)}`;
}

/** The segment that holds the last byte before `lsn` (an end position at a boundary ends in the previous one). */
export function segmentBefore(timeline: number, lsn: bigint, segmentSize: number): string {
  return segmentOf(timeline, lsn > 0n ? lsn - 1n : 0n, segmentSize);
}

/** A segment's number within its timeline (the order of the archive). */
export function segmentNumber(name: string, segmentSize: number): bigint {
  const perId = 0x100000000n / BigInt(segmentSize);
  return BigInt(`0x${name.slice(8, 16)}`) * perId + BigInt(`0x${name.slice(16, 24)}`);
}

export function timelineOf(name: string): number {
  return Number.parseInt(name.slice(0, 8), 16);
}

export interface ArchivedSegment {
  name: string;
  size: number;
  mtimeMs: number;
}

/** The whole segments of an archive folder, in WAL order (partial copies, history files aside). */
export function archivedSegments(walDir: string): ArchivedSegment[] {
  if (!existsSync(walDir)) return [];
  return readdirSync(walDir)
    .filter((name) => SEGMENT_NAME.test(name))
    .sort()
    .map((name) => {
      const st = statSync(join(walDir, name));
      return { name, size: st.size, mtimeMs: st.mtimeMs };
    });
}

/**
 * The segments missing from an archive after `from` up to `to` (inclusive): what a replay of
 * that stretch would stop at. Names (on `to`'s timeline), at most `limit`.
 */
export function missingSegments(names: Set<string>, from: string, to: string, segmentSize: number, limit = 20): string[] {
  const missing: string[] = [];
  const tl = timelineOf(to);
  const start = segmentNumber(from, segmentSize);
  const end = segmentNumber(to, segmentSize);
  const perId = 0x100000000n / BigInt(segmentSize);
  // A segment of another timeline stands for the same stretch of WAL around a switch.
  const stretches = new Set([...names].map((have) => have.slice(8)));
  for (let n = start + 1n; n <= end && missing.length < limit; n++) {
    const name = `${hex8(tl)}${hex8(n / perId)}${hex8(n % perId)}`;
    if (!stretches.has(name.slice(8))) missing.push(name);
  }
  return missing;
}
