import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';

/**
 * Reads the agent's NDJSON files: `metrics.ndjson` and its rotated predecessors
 * (`metrics.ndjson.1` newest ... `.N` oldest). A line that does not parse as a sample is skipped
 * and counted, never an error; a last line without its newline is a sample being written and is
 * left for the next read.
 */

/**
 * The server's part of a sample, as far as dbaas reads it; the rest passes through. The
 * crash-recovery fields are absent from lines written by older agents.
 */
const ServerSchema = z
  .object({
    crash_recoveries_total: z.number().int().nonnegative().optional(),
    last_crash_recovery_at: z.string().nullable().optional(),
    stats_discarded_at: z.string().nullable().optional(),
  })
  .passthrough();

/**
 * The fields every sample has; the rest (databases, connections, ...) passes through as written,
 * so a field a newer agent adds reaches the API without a change here. The one definition both
 * for reading the files and for the API's document.
 */
export const SampleSchema = z
  .object({
    ts: z.string(),
    ts_ms: z.number(),
    instance: z.string(),
    up: z.boolean(),
    error: z.string().optional(),
    server: ServerSchema.optional(),
  })
  .passthrough()
  .meta({
    id: 'Sample',
    description:
      'One agent sample: ts, ts_ms, instance, up, and when up: server (with crash_recoveries_total and last_crash_recovery_at), ' +
      'databases (pg_stat_database per database), ' +
      'connections (by_state, waiting, longest_transaction_seconds, longest_query_seconds), locks (by_mode, granted, waiting), ' +
      'schemas (tables and views per schema), archiver (pg_stat_archiver: archived and failed counts, last WAL of each); when down: error',
  });
export type Sample = z.output<typeof SampleSchema> & Record<string, unknown>;

export interface RangeQuery {
  sinceMs?: number;
  untilMs?: number;
  /** At most this many samples: the newest ones of the range. */
  limit: number;
}

export interface RangeResult {
  samples: Sample[];
  /** Samples in the range before the limit applied. */
  matched: number;
  truncated: boolean;
  corruptLines: number;
  filesRead: string[];
}

export function parseSampleLine(line: string): Sample | null {
  if (line.trim() === '') return null;
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return null;
  }
  const parsed = SampleSchema.safeParse(json);
  return parsed.success ? (parsed.data as Sample) : null;
}

/** The current file and the rotated ones that exist, oldest first. */
export async function metricsFiles(currentPath: string): Promise<string[]> {
  const dir = dirname(currentPath);
  const base = basename(currentPath);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const rotated = names
    .map((n) => ({ n, suffix: n.startsWith(`${base}.`) ? n.slice(base.length + 1) : '' }))
    .filter((f) => /^[1-9]\d*$/.test(f.suffix)) // .1, .2, ... as the agent names them
    .map((f) => ({ n: f.n, index: Number(f.suffix) }))
    .sort((a, b) => b.index - a.index)
    .map((f) => join(dir, f.n));
  return names.includes(base) ? [...rotated, currentPath] : rotated;
}

/** Calls `onLine` for each complete line of a file, streaming; returns false to stop early. */
async function forEachLine(path: string, onLine: (line: string) => boolean | void): Promise<void> {
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 256 * 1024 });
  let rest = '';
  try {
    for await (const chunk of stream) {
      const text = rest + (chunk as string);
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (onLine(line) === false) return;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // rotated away meanwhile
    throw err;
  } finally {
    stream.destroy();
  }
}

/**
 * The complete lines at the end of a file, newest last, reading backwards in chunks until `want`
 * lines are found: the cost depends on the lines wanted, not on the size of the file.
 */
export async function tailLines(path: string, want: number, maxBytes = 4 * 1024 * 1024): Promise<string[]> {
  if (want <= 0) return [];
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  try {
    const { size } = await handle.stat();
    // Raw chunks, decoded once at the end: a chunk boundary may split a multi-byte character.
    const chunks: Buffer[] = [];
    let end = size;
    let read = 0;
    let newlines = 0;
    const chunk = 64 * 1024;
    // More newlines than lines wanted: the wanted lines are complete, the first piece may not be.
    while (end > 0 && read < maxBytes && newlines <= want) {
      const start = Math.max(0, end - chunk);
      const buffer = Buffer.alloc(end - start);
      await handle.read(buffer, 0, buffer.length, start);
      chunks.unshift(buffer);
      for (const byte of buffer) if (byte === 0x0a) newlines++;
      read += buffer.length;
      end = start;
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const lastNewline = text.lastIndexOf('\n');
    if (lastNewline < 0) return [];
    let lines = text.slice(0, lastNewline).split('\n');
    if (end > 0) lines = lines.slice(1); // the first piece may be the middle of a line
    return lines.slice(-want);
  } finally {
    await handle.close();
  }
}

export class MetricsReader {
  constructor(private readonly currentPath: string) {}

  async files(): Promise<string[]> {
    return metricsFiles(this.currentPath);
  }

  /** Samples with since <= ts_ms <= until, oldest first, the newest `limit` of them. */
  async range(query: RangeQuery): Promise<RangeResult> {
    const since = query.sinceMs ?? Number.NEGATIVE_INFINITY;
    const until = query.untilMs ?? Number.POSITIVE_INFINITY;
    const kept: Sample[] = [];
    const filesRead: string[] = [];
    let matched = 0;
    let corruptLines = 0;
    let done = false;
    for (const file of await this.files()) {
      if (done) break;
      // A rotated file that ends before the range starts holds nothing for us.
      if (Number.isFinite(since) && file !== this.currentPath) {
        const last = (await tailLines(file, 1)).map(parseSampleLine)[0];
        if (last && last.ts_ms < since) continue;
      }
      filesRead.push(file);
      await forEachLine(file, (line) => {
        const sample = parseSampleLine(line);
        if (!sample) {
          if (line.trim() !== '') corruptLines++;
          return;
        }
        if (sample.ts_ms < since) return;
        if (sample.ts_ms > until) {
          done = true;
          return false;
        }
        matched++;
        kept.push(sample);
        if (kept.length > query.limit) kept.shift();
      });
    }
    return { samples: kept, matched, truncated: matched > kept.length, corruptLines, filesRead };
  }

  /** The newest complete sample, from the end of the newest file that has one. */
  async latest(): Promise<{ sample: Sample | null; corruptLines: number }> {
    let corruptLines = 0;
    const files = (await this.files()).reverse();
    for (const file of files.slice(0, 2)) {
      const lines = await tailLines(file, 20);
      for (let i = lines.length - 1; i >= 0; i--) {
        const sample = parseSampleLine(lines[i] ?? '');
        if (sample) return { sample, corruptLines };
        if ((lines[i] ?? '').trim() !== '') corruptLines++;
      }
    }
    return { sample: null, corruptLines };
  }

  /** Bytes of the current file and how many rotated files exist. */
  async usage(): Promise<{ path: string; bytes: number; rotatedFiles: number }> {
    const files = await this.files();
    const bytes = await stat(this.currentPath).then((s) => s.size, () => 0);
    return { path: this.currentPath, bytes, rotatedFiles: files.filter((f) => f !== this.currentPath).length };
  }
}
