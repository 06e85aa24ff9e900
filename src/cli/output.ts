import { createRequire } from 'node:module';
import type TableType from 'cli-table3';

/**
 * How the CLI prints what a command returns: one JSON document with --json, else a human table
 * or field list, or RFC 4180 CSV (--csv of the data commands).
 */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function printTable(head: string[], rows: Array<Array<string | number | boolean | null | undefined>>): void {
  // Loaded when a table is printed, not by every command that might print one.
  const Table = createRequire(import.meta.url)('cli-table3') as typeof TableType;
  const table = new Table({ head, style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } });
  for (const row of rows) table.push(row.map((cell) => (cell === null || cell === undefined ? '-' : String(cell))));
  process.stdout.write(table.toString() + '\n');
}

export function printFields(fields: Array<[string, string | number | boolean | null | undefined]>): void {
  const width = Math.max(...fields.map(([k]) => k.length));
  for (const [key, value] of fields) {
    process.stdout.write(`${key.padEnd(width)}  ${value === null || value === undefined ? '-' : String(value)}\n`);
  }
}

export function formatAge(iso: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86400)}d ago`;
}

// ---- rows of a database: a table or CSV -----------------------------------------------------

/** A database value as a table cell: NULL as NULL, objects and arrays as compact JSON. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF; NULL is an empty field, '' is "". */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text === '' || /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A header line of `columns`, then one line per row; every line ends with CRLF. */
export function toCsv(columns: string[], rows: Array<Record<string, unknown>>): string {
  const line = (fields: unknown[]) => fields.map(csvField).join(',') + '\r\n';
  return line(columns) + rows.map((row) => line(columns.map((c) => row[c]))).join('');
}

/** The columns of rows, in the order the first row has them (then any others). */
export function columnsOf(rows: unknown[]): string[] {
  const names: string[] = [];
  for (const row of rows) for (const key of Object.keys(row as object)) if (!names.includes(key)) names.push(key);
  return names;
}

/** Rows as a table or as CSV; nothing at all without columns (a statement that returns no rows). */
export function printRows(format: 'table' | 'csv', rows: unknown[], columns = columnsOf(rows)): void {
  const records = rows as Array<Record<string, unknown>>;
  if (format === 'csv') {
    if (columns.length) process.stdout.write(toCsv(columns, records));
    return;
  }
  if (columns.length === 0) return;
  printTable(columns, records.map((row) => columns.map((c) => cell(row[c]))));
}
