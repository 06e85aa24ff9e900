import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * WAL positions and segment file names, as PostgreSQL computes them: a segment's name is its
 * timeline, then the high 32 bits of its first LSN, then the segment number within those 4 GiB,
 * each as 8 hex digits (XLogFileName in xlog_internal.h).
 */


/** The WAL segment size of every cluster dbaas makes (initdb's default, 16 MiB). */
export const WAL_SEGMENT_SIZE = 16 * 1024 * 1024;

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
  /** The segment's name (24 hex digits). */
  name: string;
  /** Its file: the name, or the name with `.age` when it is encrypted. */
  file: string;
  size: number;
  mtimeMs: number;
}

const SEGMENT_FILE = /^([0-9A-F]{24})(\.age)?$/;

/** The whole segments of an archive folder, in WAL order (partial copies, history files aside). */
export function archivedSegments(walDir: string): ArchivedSegment[] {
  if (!existsSync(walDir)) return [];
  return readdirSync(walDir)
    .map((file) => [file, SEGMENT_FILE.exec(file)?.[1]] as const)
    .filter((entry): entry is readonly [string, string] => entry[1] !== undefined)
    .sort((a, b) => a[1].localeCompare(b[1]))
    .map(([file, name]) => {
      const st = statSync(join(walDir, file));
      return { name, file, size: st.size, mtimeMs: st.mtimeMs };
    });
}

/** Whether the archive holds a segment, plain or encrypted. */
export function isArchived(walDir: string, segment: string): boolean {
  return existsSync(join(walDir, segment)) || existsSync(join(walDir, `${segment}.age`));
}

/**
 * The segments missing from an archive after `from` up to `to` (inclusive): what a replay of
 * that stretch would stop at. Names (on `to`'s timeline), at most `limit`.
 */
export function missingSegments(names: Set<string>, from: string, to: string, segmentSize: number, limit = 20): string[] {
  const missing: string[] = [];
  // A gap is named on the timeline of the segment before it (the branch it belongs to).
  const timelineAt = new Map([...names].map((have) => [have.slice(8), timelineOf(have)]));
  let tl = timelineOf(from);
  const start = segmentNumber(from, segmentSize);
  const end = segmentNumber(to, segmentSize);
  const perId = 0x100000000n / BigInt(segmentSize);
  for (let n = start + 1n; n <= end && missing.length < limit; n++) {
    // A segment of any timeline stands for its stretch of WAL (a branch shares it up to its fork).
    const stretch = `${hex8(n / perId)}${hex8(n % perId)}`;
    const present = timelineAt.get(stretch);
    if (present !== undefined) tl = present;
    else missing.push(`${hex8(tl)}${stretch}`);
  }
  return missing;
}

/** One line of a timeline history file: the timeline left, and where the next one forked off it. */
export interface TimelineFork {
  parent: number;
  switchpoint: bigint;
}

/** The ancestry of a timeline from its history file in the archive (`0000000N.history`); [] for timeline 1 or without the file. */
export function timelineHistory(walDir: string, timeline: number): TimelineFork[] {
  const path = join(walDir, `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`);
  if (timeline <= 1 || !existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((line) => /^\s*(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ parent: Number(m[1]), switchpoint: parseLsn(m[2] as string) }));
}

/** The newest timeline of an archive: what a recovery with recovery_target_timeline=latest follows. */
export function latestTimeline(walDir: string): number {
  if (!existsSync(walDir)) return 1;
  let newest = 1;
  for (const name of readdirSync(walDir)) {
    const m = /^([0-9A-F]{8})(?:[0-9A-F]{16}|\.history)$/.exec(name);
    if (m?.[1]) newest = Math.max(newest, Number.parseInt(m[1], 16));
  }
  return newest;
}

/**
 * Whether a backup taken on `timeline`, ending at `endLsn`, lies on the path to `target`: on
 * the target timeline itself, or on an ancestor before the target's branch forked off it. A
 * backup of a branch that was left (an in-place restore forks a new timeline) is not.
 */
export function onTimelinePath(history: TimelineFork[], target: number, timeline: number, endLsn: bigint): boolean {
  if (timeline === target) return true;
  const fork = history.find((f) => f.parent === timeline);
  return fork !== undefined && endLsn <= fork.switchpoint;
}

/** The archived segments a replay along `timeline` reads, in WAL order: its own, and its ancestors' up to each fork. */
export function segmentsOnPath(segments: ArchivedSegment[], timeline: number, history: TimelineFork[], segmentSize: number): ArchivedSegment[] {
  const forkSegment = new Map(history.map((f) => [f.parent, segmentNumber(segmentOf(f.parent, f.switchpoint, segmentSize), segmentSize)]));
  return segments
    .filter((s) => {
      const tl = timelineOf(s.name);
      if (tl === timeline) return true;
      const fork = forkSegment.get(tl);
      return fork !== undefined && segmentNumber(s.name, segmentSize) <= fork;
    })
    .sort((a, b) => {
      const d = segmentNumber(a.name, segmentSize) - segmentNumber(b.name, segmentSize);
      return d !== 0n ? (d < 0n ? -1 : 1) : timelineOf(a.name) - timelineOf(b.name);
    });
}

/**
 * The timeline a replay from a base backup follows, and the archived segments it reads: the
 * newest timeline when the backup lies on its path, else the backup's own (a branch left by an
 * in-place restore).
 */
export function replayPath(walDir: string, backup: { timeline: number; endLsn: string }, segmentSize: number): { timeline: number; newest: boolean; segments: ArchivedSegment[] } {
  const newest = latestTimeline(walDir);
  const history = timelineHistory(walDir, newest);
  const onNewest = onTimelinePath(history, newest, backup.timeline, parseLsn(backup.endLsn));
  const timeline = onNewest ? newest : backup.timeline;
  const segments = segmentsOnPath(archivedSegments(walDir), timeline, onNewest ? history : timelineHistory(walDir, timeline), segmentSize);
  return { timeline, newest: onNewest, segments };
}
