import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetricsReader, metricsFiles, parseSampleLine, tailLines, type Sample } from '../../src/monitoring/metricsReader.js';
import { T0, upSample } from './fixtures/samples.js';

const CHUNK = 64 * 1024;


function downSample(tsMs: number): Record<string, unknown> {
  return { ts: new Date(tsMs).toISOString(), ts_ms: tsMs, instance: 'db_x', up: false, error: 'connection refused' };
}

const line = (s: Record<string, unknown>) => `${JSON.stringify(s)}\n`;
const lines = (samples: Array<Record<string, unknown>>) => samples.map(line).join('');
const tsList = (samples: Sample[]) => samples.map((s) => s.ts_ms);
/** Samples at T0 + i seconds for i in [from, to). */
const samplesAt = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => upSample(T0 + (from + k) * 1000));

let dir: string;
let current: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dbaas-unit-mon-'));
  current = join(dir, 'metrics.ndjson');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('parseSampleLine', () => {
  it('parses a realistic up sample and keeps every field', () => {
    const s = upSample(T0);
    const parsed = parseSampleLine(JSON.stringify(s));
    expect(parsed).not.toBeNull();
    expect(parsed).toEqual(s);
    expect(parsed?.ts).toBe('2026-11-23T03:11:45.712Z');
    expect(parsed?.ts_ms).toBe(T0);
    expect(parsed?.up).toBe(true);
    expect((parsed?.databases as Record<string, { size_bytes: number }>).app?.size_bytes).toBe(7634279);
  });

  it('parses a failed sample with its error', () => {
    const parsed = parseSampleLine(JSON.stringify(downSample(T0)));
    expect(parsed).toEqual({ ts: new Date(T0).toISOString(), ts_ms: T0, instance: 'db_x', up: false, error: 'connection refused' });
  });

  it('accepts surrounding whitespace', () => {
    expect(parseSampleLine(`  ${JSON.stringify(downSample(T0))}  `)?.ts_ms).toBe(T0);
  });

  it.each([
    ['ts', { ts_ms: T0, instance: 'db_x', up: true }],
    ['ts_ms', { ts: 'x', instance: 'db_x', up: true }],
    ['instance', { ts: 'x', ts_ms: T0, up: true }],
    ['up', { ts: 'x', ts_ms: T0, instance: 'db_x' }],
  ])('rejects a sample without %s', (_field, obj) => {
    expect(parseSampleLine(JSON.stringify(obj))).toBeNull();
  });

  it.each([
    ['ts_ms as a string', { ts: 'x', ts_ms: String(T0), instance: 'db_x', up: true }],
    ['up as a string', { ts: 'x', ts_ms: T0, instance: 'db_x', up: 'true' }],
    ['error as a number', { ts: 'x', ts_ms: T0, instance: 'db_x', up: false, error: 1 }],
  ])('rejects a sample with %s', (_what, obj) => {
    expect(parseSampleLine(JSON.stringify(obj))).toBeNull();
  });

  it.each([
    ['non-JSON', 'this is not json'],
    ['truncated JSON', JSON.stringify(upSample(T0)).slice(0, 40)],
    ['a JSON array', '[1,2,3]'],
    ['a JSON string', '"hello"'],
    ['a JSON number', '42'],
    ['JSON null', 'null'],
    ['an empty object', '{}'],
  ])('returns null for %s', (_what, text) => {
    expect(parseSampleLine(text)).toBeNull();
  });

  it.each([[''], ['   '], ['\t'], ['\r']])('returns null for blank %j', (text) => {
    expect(parseSampleLine(text)).toBeNull();
  });
});

describe('metricsFiles', () => {
  it('returns rotated files oldest first, then the current file', async () => {
    for (const n of ['metrics.ndjson', 'metrics.ndjson.1', 'metrics.ndjson.2', 'metrics.ndjson.3']) writeFileSync(join(dir, n), '');
    expect(await metricsFiles(current)).toEqual([
      join(dir, 'metrics.ndjson.3'),
      join(dir, 'metrics.ndjson.2'),
      join(dir, 'metrics.ndjson.1'),
      current,
    ]);
  });

  it('orders rotation indexes numerically, not as text', async () => {
    for (const n of [1, 2, 10, 11, 9]) writeFileSync(join(dir, `metrics.ndjson.${n}`), '');
    writeFileSync(current, '');
    expect(await metricsFiles(current)).toEqual([
      ...[11, 10, 9, 2, 1].map((n) => join(dir, `metrics.ndjson.${n}`)),
      current,
    ]);
  });

  it('ignores unrelated files', async () => {
    for (const n of [
      'metrics.ndjson',
      'metrics.ndjson.1',
      'metrics.ndjson.tmp',
      'metrics.ndjson.1.tmp',
      'metrics.ndjson.',
      'metrics.ndjson.0',
      'metrics.ndjson.-1',
      'metrics.ndjson.1.5',
      'agent-state.json',
      'other.ndjson',
      'other.ndjson.1',
      'metrics.ndjsonx',
      'server.log',
    ]) {
      writeFileSync(join(dir, n), '');
    }
    expect(await metricsFiles(current)).toEqual([join(dir, 'metrics.ndjson.1'), current]);
  });

  it('returns only the rotated files when the current one does not exist', async () => {
    writeFileSync(join(dir, 'metrics.ndjson.2'), '');
    writeFileSync(join(dir, 'metrics.ndjson.1'), '');
    expect(await metricsFiles(current)).toEqual([join(dir, 'metrics.ndjson.2'), join(dir, 'metrics.ndjson.1')]);
  });

  it('returns only the current file when nothing was rotated', async () => {
    writeFileSync(current, '');
    writeFileSync(join(dir, 'agent-state.json'), '{}');
    expect(await metricsFiles(current)).toEqual([current]);
  });

  it('returns [] for an empty directory', async () => {
    expect(await metricsFiles(current)).toEqual([]);
  });

  it('returns [] when the directory does not exist', async () => {
    expect(await metricsFiles(join(dir, 'missing', 'logs', 'metrics.ndjson'))).toEqual([]);
  });
});

describe('tailLines', () => {
  it('returns the last N complete lines, newest last', async () => {
    writeFileSync(current, 'l1\nl2\nl3\nl4\nl5\n');
    expect(await tailLines(current, 2)).toEqual(['l4', 'l5']);
    expect(await tailLines(current, 1)).toEqual(['l5']);
  });

  it('returns every line when fewer than N exist', async () => {
    writeFileSync(current, 'l1\nl2\nl3\n');
    expect(await tailLines(current, 10)).toEqual(['l1', 'l2', 'l3']);
    expect(await tailLines(current, 3)).toEqual(['l1', 'l2', 'l3']);
  });

  it('leaves out a last line without its newline (it is being written)', async () => {
    writeFileSync(current, 'l1\nl2\nl3\n{"ts":"2026-11-23T0');
    expect(await tailLines(current, 2)).toEqual(['l2', 'l3']);
    expect(await tailLines(current, 10)).toEqual(['l1', 'l2', 'l3']);
  });

  it('returns [] for a file holding only a line being written', async () => {
    writeFileSync(current, '{"ts":"2026-11-23T03:11:45.712Z","ts_ms":17954');
    expect(await tailLines(current, 5)).toEqual([]);
  });

  it('returns [] for an empty file', async () => {
    writeFileSync(current, '');
    expect(await tailLines(current, 5)).toEqual([]);
  });

  it('returns [] for a missing file', async () => {
    expect(await tailLines(join(dir, 'nope.ndjson'), 5)).toEqual([]);
  });

  it('keeps blank lines as empty strings', async () => {
    writeFileSync(current, 'l1\n\nl3\n');
    expect(await tailLines(current, 3)).toEqual(['l1', '', 'l3']);
  });

  it('reads a file smaller than one chunk whole', async () => {
    const content = Array.from({ length: 100 }, (_, i) => `line-${i}`);
    writeFileSync(current, `${content.join('\n')}\n`);
    expect(await tailLines(current, 100)).toEqual(content);
    expect(await tailLines(current, 3)).toEqual(['line-97', 'line-98', 'line-99']);
  });

  it('returns a last line longer than a chunk whole', async () => {
    const long = `L${'x'.repeat(3 * CHUNK)}L`;
    writeFileSync(current, `before\n${long}\n`);
    const got = await tailLines(current, 1);
    expect(got).toHaveLength(1);
    expect(got[0]).toBe(long);
  });

  it('returns several lines that are each longer than a chunk', async () => {
    const a = `A${'a'.repeat(CHUNK + 17)}A`;
    const b = `B${'b'.repeat(2 * CHUNK + 5)}B`;
    const c = `C${'c'.repeat(CHUNK - 3)}C`;
    writeFileSync(current, `first\n${a}\n${b}\n${c}\npartial`);
    expect(await tailLines(current, 3)).toEqual([a, b, c]);
    expect(await tailLines(current, 2)).toEqual([b, c]);
    expect(await tailLines(current, 4)).toEqual(['first', a, b, c]);
  });

  it('returns the only line of a file holding one line longer than a chunk', async () => {
    const long = 'y'.repeat(CHUNK * 2 + 1);
    writeFileSync(current, `${long}\n`);
    expect(await tailLines(current, 1)).toEqual([long]);
  });

  it('does not return a piece of a line cut by a chunk boundary', async () => {
    // Many short lines spanning several chunks: every line returned must be one that was written.
    const content = Array.from({ length: 20_000 }, (_, i) => `entry-${String(i).padStart(6, '0')}`);
    writeFileSync(current, `${content.join('\n')}\n`);
    const got = await tailLines(current, 9_000);
    expect(got).toEqual(content.slice(-9_000));
  });

  it('is exact at chunk boundaries', async () => {
    // The last chunk starts exactly at the beginning of a line.
    const last = `${'z'.repeat(CHUNK - 1)}`; // with its newline: exactly one chunk
    writeFileSync(current, `one\ntwo\n${last}\n`);
    expect(await tailLines(current, 1)).toEqual([last]);
    expect(await tailLines(current, 2)).toEqual(['two', last]);
    expect(await tailLines(current, 3)).toEqual(['one', 'two', last]);
  });

  it('returns nothing when the last complete line is longer than maxBytes', async () => {
    writeFileSync(current, `short\n${'q'.repeat(3 * CHUNK)}\n`);
    expect(await tailLines(current, 1, CHUNK)).toEqual([]);
  });
});

describe('MetricsReader.range', () => {
  /** .2 holds samples 0..9, .1 holds 10..19, the current file 20..29 (one per second). */
  function writeRotated(): void {
    writeFileSync(join(dir, 'metrics.ndjson.2'), lines(samplesAt(0, 10)));
    writeFileSync(join(dir, 'metrics.ndjson.1'), lines(samplesAt(10, 20)));
    writeFileSync(current, lines(samplesAt(20, 30)));
  }

  it('returns every sample of every file, oldest first', async () => {
    writeRotated();
    const r = await new MetricsReader(current).range({ limit: 1000 });
    expect(tsList(r.samples)).toEqual(Array.from({ length: 30 }, (_, i) => T0 + i * 1000));
    expect(r.matched).toBe(30);
    expect(r.truncated).toBe(false);
    expect(r.corruptLines).toBe(0);
    expect(r.filesRead).toEqual([join(dir, 'metrics.ndjson.2'), join(dir, 'metrics.ndjson.1'), current]);
  });

  it('returns whole samples as written', async () => {
    writeFileSync(current, lines([upSample(T0), downSample(T0 + 1000)]));
    const r = await new MetricsReader(current).range({ limit: 10 });
    expect(r.samples).toEqual([upSample(T0), downSample(T0 + 1000)]);
  });

  it('filters by since and until inclusively across rotated files', async () => {
    writeRotated();
    const r = await new MetricsReader(current).range({ sinceMs: T0 + 5000, untilMs: T0 + 24_000, limit: 1000 });
    expect(tsList(r.samples)).toEqual(Array.from({ length: 20 }, (_, i) => T0 + (5 + i) * 1000));
    expect(r.matched).toBe(20);
    expect(r.truncated).toBe(false);
  });

  it('filters by since alone', async () => {
    writeRotated();
    const r = await new MetricsReader(current).range({ sinceMs: T0 + 27_500, limit: 1000 });
    expect(tsList(r.samples)).toEqual([T0 + 28_000, T0 + 29_000]);
  });

  it('filters by until alone', async () => {
    writeRotated();
    const r = await new MetricsReader(current).range({ untilMs: T0 + 2000, limit: 1000 });
    expect(tsList(r.samples)).toEqual([T0, T0 + 1000, T0 + 2000]);
  });

  it('returns nothing for a range between samples', async () => {
    writeRotated();
    const r = await new MetricsReader(current).range({ sinceMs: T0 + 12_100, untilMs: T0 + 12_900, limit: 1000 });
    expect(r.samples).toEqual([]);
    expect(r.matched).toBe(0);
    expect(r.truncated).toBe(false);
  });

  it('returns nothing after the newest sample', async () => {
    writeRotated();
    const r = await new MetricsReader(current).range({ sinceMs: T0 + 60_000, limit: 1000 });
    expect(r.samples).toEqual([]);
    expect(r.matched).toBe(0);
  });

  it('keeps the newest samples when the limit applies and says so', async () => {
    writeRotated();
    const r = await new MetricsReader(current).range({ sinceMs: T0 + 5000, untilMs: T0 + 24_000, limit: 4 });
    expect(tsList(r.samples)).toEqual([T0 + 21_000, T0 + 22_000, T0 + 23_000, T0 + 24_000]);
    expect(r.matched).toBe(20);
    expect(r.truncated).toBe(true);
  });

  it('is not truncated when the limit equals the number of matches', async () => {
    writeRotated();
    const r = await new MetricsReader(current).range({ sinceMs: T0 + 26_000, limit: 4 });
    expect(tsList(r.samples)).toEqual([T0 + 26_000, T0 + 27_000, T0 + 28_000, T0 + 29_000]);
    expect(r.matched).toBe(4);
    expect(r.truncated).toBe(false);
  });

  it('returns no samples with a limit of 0 but still counts the matches', async () => {
    writeRotated();
    const r = await new MetricsReader(current).range({ limit: 0 });
    expect(r.samples).toEqual([]);
    expect(r.matched).toBe(30);
    expect(r.truncated).toBe(true);
  });

  it('includes failed samples in the range', async () => {
    writeFileSync(current, lines([upSample(T0), downSample(T0 + 1000), upSample(T0 + 2000)]));
    const r = await new MetricsReader(current).range({ limit: 10 });
    expect(r.samples.map((s) => s.up)).toEqual([true, false, true]);
    expect(r.samples[1]?.error).toBe('connection refused');
  });

  it('skips and counts corrupt lines: bad JSON and JSON that is not a sample', async () => {
    writeFileSync(
      current,
      [
        JSON.stringify(upSample(T0)),
        'garbage that is not json',
        '{"ts":"2026-11-23T03:11:46.712Z","ts_ms":',
        JSON.stringify({ hello: 'world' }),
        '[1,2]',
        JSON.stringify({ ts: 'x', ts_ms: 'not a number', instance: 'db_x', up: true }),
        '',
        '   ',
        JSON.stringify(upSample(T0 + 1000)),
        '',
      ].join('\n'),
    );
    const r = await new MetricsReader(current).range({ limit: 10 });
    expect(tsList(r.samples)).toEqual([T0, T0 + 1000]);
    expect(r.corruptLines).toBe(5);
    expect(r.matched).toBe(2);
  });

  it('counts corrupt lines in rotated files too', async () => {
    writeFileSync(join(dir, 'metrics.ndjson.1'), `${line(upSample(T0))}bad line\n`);
    writeFileSync(current, `oops\n${line(upSample(T0 + 1000))}`);
    const r = await new MetricsReader(current).range({ limit: 10 });
    expect(tsList(r.samples)).toEqual([T0, T0 + 1000]);
    expect(r.corruptLines).toBe(2);
  });

  it('ignores a partial last line without counting it', async () => {
    const partial = JSON.stringify(upSample(T0 + 2000)).slice(0, 120);
    writeFileSync(current, `${lines([upSample(T0), upSample(T0 + 1000)])}${partial}`);
    const r = await new MetricsReader(current).range({ limit: 10 });
    expect(tsList(r.samples)).toEqual([T0, T0 + 1000]);
    expect(r.corruptLines).toBe(0);
  });

  it('ignores a complete sample that lacks only its newline (it is being written)', async () => {
    writeFileSync(current, `${line(upSample(T0))}${JSON.stringify(upSample(T0 + 1000))}`);
    const r = await new MetricsReader(current).range({ limit: 10 });
    expect(tsList(r.samples)).toEqual([T0]);
    expect(r.corruptLines).toBe(0);
  });

  it('does not read a rotated file that ends before since', async () => {
    writeRotated();
    const r = await new MetricsReader(current).range({ sinceMs: T0 + 15_000, limit: 1000 });
    expect(r.filesRead).toEqual([join(dir, 'metrics.ndjson.1'), current]);
    expect(tsList(r.samples)).toEqual(Array.from({ length: 15 }, (_, i) => T0 + (15 + i) * 1000));
  });

  it('does not read any rotated file when since is in the current file', async () => {
    writeRotated();
    // Corrupt lines in the skipped files would be counted if they were read.
    writeFileSync(join(dir, 'metrics.ndjson.2'), `bad\n${lines(samplesAt(0, 10))}`);
    writeFileSync(join(dir, 'metrics.ndjson.1'), `bad\n${lines(samplesAt(10, 20))}`);
    const r = await new MetricsReader(current).range({ sinceMs: T0 + 20_000, limit: 1000 });
    expect(r.filesRead).toEqual([current]);
    expect(r.corruptLines).toBe(0);
    expect(r.matched).toBe(10);
  });

  it('reads a rotated file whose last sample is exactly since', async () => {
    writeRotated();
    const r = await new MetricsReader(current).range({ sinceMs: T0 + 19_000, limit: 1000 });
    expect(r.filesRead).toEqual([join(dir, 'metrics.ndjson.1'), current]);
    expect(tsList(r.samples)[0]).toBe(T0 + 19_000);
    expect(r.matched).toBe(11);
  });

  it('reads every file when since is not given', async () => {
    writeRotated();
    const r = await new MetricsReader(current).range({ untilMs: T0 + 40_000, limit: 1 });
    expect(r.filesRead).toHaveLength(3);
    expect(tsList(r.samples)).toEqual([T0 + 29_000]);
  });

  it('stops at the first sample past until', async () => {
    writeRotated();
    // A corrupt line after the stopping point in the same file would be counted if read.
    writeFileSync(join(dir, 'metrics.ndjson.2'), `${lines(samplesAt(0, 5))}bad\n${lines(samplesAt(5, 10))}not json\n`);
    const r = await new MetricsReader(current).range({ untilMs: T0 + 6_000, limit: 1000 });
    expect(tsList(r.samples)).toEqual(Array.from({ length: 7 }, (_, i) => T0 + i * 1000));
    expect(r.filesRead).toEqual([join(dir, 'metrics.ndjson.2')]);
    expect(r.corruptLines).toBe(1);
  });

  it('does not open later files once until is passed in an earlier one', async () => {
    writeRotated();
    const r = await new MetricsReader(current).range({ sinceMs: T0 + 12_000, untilMs: T0 + 13_500, limit: 1000 });
    expect(tsList(r.samples)).toEqual([T0 + 12_000, T0 + 13_000]);
    expect(r.filesRead).toEqual([join(dir, 'metrics.ndjson.1')]);
  });

  it('reads a rotated file whose last line is corrupt (it cannot tell where the file ends)', async () => {
    writeFileSync(join(dir, 'metrics.ndjson.1'), `${lines(samplesAt(0, 3))}bad tail\n`);
    writeFileSync(current, lines(samplesAt(10, 12)));
    const r = await new MetricsReader(current).range({ sinceMs: T0 + 10_000, limit: 100 });
    expect(r.filesRead).toEqual([join(dir, 'metrics.ndjson.1'), current]);
    expect(tsList(r.samples)).toEqual([T0 + 10_000, T0 + 11_000]);
    expect(r.corruptLines).toBe(1);
  });

  it('reads many samples spanning many stream chunks', async () => {
    const many = samplesAt(0, 3000); // ~4 MB, beyond one 256 KiB read
    writeFileSync(current, lines(many));
    const r = await new MetricsReader(current).range({ limit: 5000 });
    expect(r.matched).toBe(3000);
    expect(tsList(r.samples)).toEqual(many.map((s) => s.ts_ms));
    expect(r.corruptLines).toBe(0);
  });

  it('returns an empty result when there are no files', async () => {
    const r = await new MetricsReader(current).range({ sinceMs: T0, untilMs: T0 + 1000, limit: 10 });
    expect(r).toEqual({ samples: [], matched: 0, truncated: false, corruptLines: 0, filesRead: [] });
  });

  it('returns an empty result when the directory does not exist', async () => {
    const r = await new MetricsReader(join(dir, 'missing', 'metrics.ndjson')).range({ limit: 10 });
    expect(r).toEqual({ samples: [], matched: 0, truncated: false, corruptLines: 0, filesRead: [] });
  });
});

describe('MetricsReader.latest', () => {
  it('returns the newest complete sample', async () => {
    writeFileSync(current, lines(samplesAt(0, 5)));
    const r = await new MetricsReader(current).latest();
    expect(r.sample?.ts_ms).toBe(T0 + 4000);
    expect(r.sample).toEqual(upSample(T0 + 4000));
    expect(r.corruptLines).toBe(0);
  });

  it('returns a failed sample when it is the newest', async () => {
    writeFileSync(current, lines([upSample(T0), downSample(T0 + 1000)]));
    const r = await new MetricsReader(current).latest();
    expect(r.sample?.up).toBe(false);
    expect(r.sample?.error).toBe('connection refused');
  });

  it('ignores a partial last line without counting it', async () => {
    writeFileSync(current, `${lines(samplesAt(0, 3))}${JSON.stringify(upSample(T0 + 3000)).slice(0, 200)}`);
    const r = await new MetricsReader(current).latest();
    expect(r.sample?.ts_ms).toBe(T0 + 2000);
    expect(r.corruptLines).toBe(0);
  });

  it('skips and counts corrupt trailing lines', async () => {
    writeFileSync(
      current,
      `${lines(samplesAt(0, 3))}not json\n${JSON.stringify({ ts_ms: T0 + 9000 })}\n{"ts":\n\n   \n`,
    );
    const r = await new MetricsReader(current).latest();
    expect(r.sample?.ts_ms).toBe(T0 + 2000);
    expect(r.corruptLines).toBe(3);
  });

  it('falls back to .1 when the current file is empty', async () => {
    writeFileSync(join(dir, 'metrics.ndjson.2'), lines(samplesAt(0, 3)));
    writeFileSync(join(dir, 'metrics.ndjson.1'), lines(samplesAt(3, 6)));
    writeFileSync(current, '');
    const r = await new MetricsReader(current).latest();
    expect(r.sample?.ts_ms).toBe(T0 + 5000);
    expect(r.corruptLines).toBe(0);
  });

  it('falls back to .1 when the current file holds only a line being written', async () => {
    writeFileSync(join(dir, 'metrics.ndjson.1'), lines(samplesAt(0, 3)));
    writeFileSync(current, JSON.stringify(upSample(T0 + 3000)).slice(0, 50));
    const r = await new MetricsReader(current).latest();
    expect(r.sample?.ts_ms).toBe(T0 + 2000);
    expect(r.corruptLines).toBe(0);
  });

  it('falls back to .1 when the current file is missing', async () => {
    writeFileSync(join(dir, 'metrics.ndjson.2'), lines(samplesAt(0, 3)));
    writeFileSync(join(dir, 'metrics.ndjson.1'), lines(samplesAt(3, 6)));
    const r = await new MetricsReader(current).latest();
    expect(r.sample?.ts_ms).toBe(T0 + 5000);
  });

  it('falls back to .1 when the current file holds only corrupt lines, counting them', async () => {
    writeFileSync(join(dir, 'metrics.ndjson.1'), lines(samplesAt(0, 3)));
    writeFileSync(current, 'bad one\nbad two\n');
    const r = await new MetricsReader(current).latest();
    expect(r.sample?.ts_ms).toBe(T0 + 2000);
    expect(r.corruptLines).toBe(2);
  });

  it('returns null when there is no file', async () => {
    expect(await new MetricsReader(current).latest()).toEqual({ sample: null, corruptLines: 0 });
  });

  it('returns null when the directory does not exist', async () => {
    expect(await new MetricsReader(join(dir, 'missing', 'metrics.ndjson')).latest()).toEqual({ sample: null, corruptLines: 0 });
  });

  it('returns null for empty files', async () => {
    writeFileSync(join(dir, 'metrics.ndjson.1'), '');
    writeFileSync(current, '');
    expect(await new MetricsReader(current).latest()).toEqual({ sample: null, corruptLines: 0 });
  });

  it('returns the last sample of a ~20 MB file', async () => {
    const filler = line(upSample(T0));
    const repeats = Math.ceil((20 * 1024 * 1024) / Buffer.byteLength(filler));
    const last = upSample(T0 + 86_400_000, { instance: 'db_x', marker: 'the last one' });
    writeFileSync(current, filler.repeat(repeats) + line(last));
    const r = await new MetricsReader(current).latest();
    expect(r.sample).toEqual(last);
    expect(r.corruptLines).toBe(0);
  });

  it('returns a last sample longer than a chunk whole', async () => {
    const schemas = Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`schema_${i}`, { tables: i, views: 0 }]));
    const big = upSample(T0 + 1000, { schemas });
    expect(Buffer.byteLength(JSON.stringify(big))).toBeGreaterThan(CHUNK);
    writeFileSync(current, lines([upSample(T0), big]));
    const r = await new MetricsReader(current).latest();
    expect(r.sample).toEqual(big);
  });
});

describe('MetricsReader.usage', () => {
  it('reports the bytes of the current file and how many rotated files exist', async () => {
    const content = lines(samplesAt(0, 3));
    writeFileSync(current, content);
    writeFileSync(join(dir, 'metrics.ndjson.1'), 'x\n');
    writeFileSync(join(dir, 'metrics.ndjson.2'), 'y\n');
    writeFileSync(join(dir, 'metrics.ndjson.tmp'), 'z\n');
    writeFileSync(join(dir, 'agent-state.json'), '{}');
    expect(await new MetricsReader(current).usage()).toEqual({
      path: current,
      bytes: Buffer.byteLength(content),
      rotatedFiles: 2,
    });
  });

  it('reports 0 bytes when the current file is missing', async () => {
    writeFileSync(join(dir, 'metrics.ndjson.1'), 'x\n');
    expect(await new MetricsReader(current).usage()).toEqual({ path: current, bytes: 0, rotatedFiles: 1 });
  });

  it('reports nothing for a missing directory', async () => {
    const path = join(dir, 'nope', 'metrics.ndjson');
    expect(await new MetricsReader(path).usage()).toEqual({ path, bytes: 0, rotatedFiles: 0 });
  });

  it('lists the files through files()', async () => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(current, '');
    writeFileSync(join(dir, 'metrics.ndjson.1'), '');
    expect(await new MetricsReader(current).files()).toEqual([join(dir, 'metrics.ndjson.1'), current]);
  });
});

describe('fixed edge cases', () => {
  it('keeps a multi-byte character that straddles a 64 KiB chunk boundary intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaas-utf8-'));
    try {
      const path = join(dir, 'metrics.ndjson');
      const tail = '"}\n';
      // 'first\n{"ts":"x' is 14 bytes, é takes bytes 14-15, and the file is 65551 bytes long, so
      // the last 64 KiB chunk starts at byte 15: inside the é.
      const line = '{"ts":"x' + 'é' + 'a'.repeat(64 * 1024 - 4) + tail;
      writeFileSync(path, 'first\n' + line);
      expect(Buffer.byteLength('first\n' + line) - 64 * 1024).toBe(15);
      const [got] = await tailLines(path, 1);
      expect(got).toBe(line.slice(0, -1));
      expect(got).not.toContain('\uFFFD');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('returns no lines when none are wanted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaas-zero-'));
    try {
      const path = join(dir, 'metrics.ndjson');
      writeFileSync(path, 'a\nb\n');
      expect(await tailLines(path, 0)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a sample with the crash-recovery fields', () => {
  const sampleLine = (server: string) =>
    `{"ts" : "2026-11-24T13:12:10.763Z", "ts_ms" : 1795525930763, "instance" : "db_x", "up" : true, "server" : {"up" : true, ${server}}}`;

  it('parses, with or without them (older agents)', () => {
    const s = parseSampleLine(sampleLine('"crash_recoveries_total" : 2, "last_crash_recovery_at" : null, "stats_discarded_at" : "2026-11-24T13:12:07.381715Z"'));
    expect(s?.server).toMatchObject({ up: true, crash_recoveries_total: 2, last_crash_recovery_at: null });
    expect(parseSampleLine(sampleLine('"uptime_seconds" : 3'))?.server).toEqual({ up: true, uptime_seconds: 3 });
  });

  it('is not a sample when a count is not a count', () => {
    expect(parseSampleLine(sampleLine('"crash_recoveries_total" : -1'))).toBeNull();
    expect(parseSampleLine(sampleLine('"crash_recoveries_total" : 1.5'))).toBeNull();
  });
});
