import { afterEach, describe, expect, it, vi } from 'vitest';
import { cell, columnsOf, csvField, formatAge, printRows, toCsv } from '../../src/cli/output.js';

/** What the CLI prints (src/cli/output.ts): table cells, RFC 4180 CSV, ages. */

describe('csvField', () => {
  it.each([
    [null, ''],
    [undefined, ''],
    ['', '""'],
    ['plain', 'plain'],
    [42, '42'],
    [true, 'true'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['cr\rhere', '"cr\rhere"'],
    [' spaced ', ' spaced '],
    [{ a: 1 }, '"{""a"":1}"'],
    [[1, 2], '"[1,2]"'],
  ])('writes %j as %j', (value, field) => {
    expect(csvField(value)).toBe(field);
  });
});

describe('toCsv', () => {
  it('writes a header and a line per row, each ending with CRLF, fields in column order', () => {
    const rows = [
      { id: 1, note: 'a,b', gone: null },
      { note: '', id: 2, gone: 'x' },
    ];
    expect(toCsv(['id', 'note', 'gone'], rows)).toBe('id,note,gone\r\n1,"a,b",\r\n2,"",x\r\n');
  });

  it('writes the header alone without rows, and an empty field for a column a row lacks', () => {
    expect(toCsv(['a', 'b'], [])).toBe('a,b\r\n');
    expect(toCsv(['a', 'b'], [{ a: 1 }])).toBe('a,b\r\n1,\r\n');
  });

  it('quotes a column name that needs it', () => {
    expect(toCsv(['a,b', 'c"d'], [])).toBe('"a,b","c""d"\r\n');
  });
});

describe('cell', () => {
  it('shows NULL as NULL, objects and arrays as compact JSON, the rest as text', () => {
    expect(cell(null)).toBe('NULL');
    expect(cell(undefined)).toBe('NULL');
    expect(cell('')).toBe('');
    expect(cell(3.5)).toBe('3.5');
    expect(cell({ a: [1, 'x'] })).toBe('{"a":[1,"x"]}');
  });
});

describe('columnsOf', () => {
  it('takes the first row order, then columns only later rows have', () => {
    expect(columnsOf([{ b: 1, a: 2 }, { a: 3, c: 4 }])).toEqual(['b', 'a', 'c']);
    expect(columnsOf([])).toEqual([]);
  });
});

describe('printRows', () => {
  const written = () => (process.stdout.write as unknown as { mock: { calls: unknown[][] } }).mock.calls.map((c) => c[0]).join('');
  afterEach(() => vi.restoreAllMocks());

  it('prints CSV in the given column order, and nothing without columns', () => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    printRows('csv', [{ b: 1, a: null }], ['a', 'b']);
    printRows('csv', []);
    expect(written()).toBe('a,b\r\n,1\r\n');
  });

  it('prints a table with NULL for null', () => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    printRows('table', [{ id: 1, note: null }]);
    expect(written()).toMatch(/id.*note/);
    expect(written()).toMatch(/1.*NULL/);
  });
});

describe('formatAge', () => {
  const now = Date.parse('2026-01-02T00:00:00Z');
  it.each([
    ['2026-01-01T23:59:30Z', '30s ago'],
    ['2026-01-01T23:30:00Z', '30m ago'],
    ['2026-01-01T21:00:00Z', '3h ago'],
    ['2025-12-30T00:00:00Z', '3d ago'],
    ['2026-01-02T00:00:05Z', '0s ago'],
  ])('%s is %s', (iso, text) => {
    expect(formatAge(iso, now)).toBe(text);
  });
});
