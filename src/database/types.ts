import pg from 'pg';

/**
 * How values come back as JSON: int8 and numeric stay numbers while exact, else strings (JSON
 * numbers are doubles); dates and timestamps are ISO strings with their full precision (not
 * JavaScript Dates, which drop microseconds and shift zone-less timestamps); bytea is base64.
 * Sessions run with TimeZone UTC, so timestamptz text is UTC.
 */
const OID = {
  int8: 20,
  numeric: 1700,
  bytea: 17,
  date: 1082,
  time: 1083,
  timetz: 1266,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  int8Array: 1016,
  numericArray: 1231,
  byteaArray: 1001,
  dateArray: 1182,
  timestampArray: 1115,
  timestamptzArray: 1185,
} as const;

export function parseInt8(text: string): number | string {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : text;
}

/** A numeric stays a number when it is within 2^53 and prints back as the same digits. */
export function parseNumeric(text: string): number | string {
  if (text === 'NaN' || text === 'Infinity' || text === '-Infinity') return text;
  const n = Number(text);
  // Beyond 2^53 a double is no longer exact for every integer: such numbers stay text.
  if (!Number.isFinite(n) || Math.abs(n) > Number.MAX_SAFE_INTEGER) return text;
  const normalize = (s: string) => s.replace(/^(-?)0+(?=\d)/, '$1').replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  return normalize(String(n)) === normalize(text) ? n : text;
}

/** `2026-11-23 03:11:45.712345` -> `2026-11-23T03:11:45.712345` */
export function parseTimestamp(text: string): string {
  return text.replace(' ', 'T');
}

/** `2026-11-23 03:11:45.712345+00` -> `2026-11-23T03:11:45.712345Z` (the session is UTC). */
export function parseTimestamptz(text: string): string {
  return text.replace(' ', 'T').replace(/\+00(:00)?$/, 'Z');
}

export function parseBytea(text: string): string {
  return (builtinParser(OID.bytea, 'text')(text) as Buffer).toString('base64');
}

const builtinParser = pg.types.getTypeParser as unknown as (oid: number, format?: string) => (text: string) => unknown;

const arrayParser = (element: (text: string) => unknown) => (text: string) => {
  const parse = builtinParser(1009, 'text'); // text[]: strings and nulls, nested for more dimensions
  const walk = (value: unknown): unknown =>
    Array.isArray(value) ? value.map(walk) : value === null ? null : element(value as string);
  return walk(parse(text));
};

const PARSERS = new Map<number, (text: string) => unknown>([
  [OID.int8, parseInt8],
  [OID.numeric, parseNumeric],
  [OID.bytea, parseBytea],
  [OID.date, (t) => t],
  [OID.time, (t) => t],
  [OID.timetz, (t) => t],
  [OID.timestamp, parseTimestamp],
  [OID.timestamptz, parseTimestamptz],
  [OID.interval, (t) => t],
  [OID.int8Array, arrayParser(parseInt8)],
  [OID.numericArray, arrayParser(parseNumeric)],
  [OID.byteaArray, arrayParser(parseBytea)],
  [OID.dateArray, arrayParser((t) => t)],
  [OID.timestampArray, arrayParser(parseTimestamp)],
  [OID.timestamptzArray, arrayParser(parseTimestamptz)],
]);

/** A type-parser set for one pool (not pg's global one, which other code may rely on). */
export const jsonTypes = {
  getTypeParser(oid: number, format?: string) {
    if (format !== 'binary') {
      const parser = PARSERS.get(oid);
      if (parser) return parser;
    }
    return builtinParser(oid, format);
  },
} as pg.CustomTypesConfig;
