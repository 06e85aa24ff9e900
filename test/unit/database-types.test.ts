import { describe, expect, it } from 'vitest';
import { jsonTypes, parseBytea, parseInt8, parseNumeric, parseTimestamp, parseTimestamptz } from '../../src/database/types.js';

/**
 * How PostgreSQL text values become JSON: int8 and numeric stay numbers only while exact,
 * timestamps are ISO strings with their full precision, bytea is base64.
 */

const OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int4: 23,
  text: 25,
  float8: 701,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  timetz: 1266,
  numeric: 1700,
  int4Array: 1007,
  textArray: 1009,
  int8Array: 1016,
  numericArray: 1231,
  byteaArray: 1001,
  dateArray: 1182,
  timestampArray: 1115,
  timestamptzArray: 1185,
} as const;

const parser = (oid: number) => jsonTypes.getTypeParser(oid, 'text') as (text: string) => unknown;

describe('parseInt8', () => {
  it('safe integers are numbers', () => {
    expect(parseInt8('0')).toBe(0);
    expect(parseInt8('42')).toBe(42);
    expect(parseInt8('-42')).toBe(-42);
    expect(parseInt8('9007199254740991')).toBe(9007199254740991);
    expect(parseInt8('-9007199254740991')).toBe(-9007199254740991);
  });

  it('beyond 2^53 - 1 they stay strings, with every digit', () => {
    expect(parseInt8('9007199254740992')).toBe('9007199254740992');
    expect(parseInt8('9007199254740993')).toBe('9007199254740993');
    expect(parseInt8('-9007199254740993')).toBe('-9007199254740993');
    expect(parseInt8('9223372036854775807')).toBe('9223372036854775807');
    expect(parseInt8('-9223372036854775808')).toBe('-9223372036854775808');
  });
});

describe('parseNumeric', () => {
  it('exact values are numbers', () => {
    expect(parseNumeric('0')).toBe(0);
    expect(parseNumeric('1')).toBe(1);
    expect(parseNumeric('-7')).toBe(-7);
    expect(parseNumeric('100')).toBe(100);
    expect(parseNumeric('1.5')).toBe(1.5);
    expect(parseNumeric('-0.25')).toBe(-0.25);
    expect(parseNumeric('0.1')).toBe(0.1);
    expect(parseNumeric('123.456')).toBe(123.456);
    expect(parseNumeric('9007199254740991')).toBe(9007199254740991);
  });

  it('trailing zeros of the scale do not make a value inexact', () => {
    expect(parseNumeric('1.50')).toBe(1.5);
    expect(parseNumeric('100.00')).toBe(100);
    expect(parseNumeric('0.000')).toBe(0);
    expect(parseNumeric('-2.10')).toBe(-2.1);
    expect(parseNumeric('10')).toBe(10);
  });

  it('values a double cannot carry stay strings', () => {
    expect(parseNumeric('9007199254740993')).toBe('9007199254740993');
    expect(parseNumeric('12345678901234567890')).toBe('12345678901234567890');
    expect(parseNumeric('0.10000000000000000001')).toBe('0.10000000000000000001');
    expect(parseNumeric('3.141592653589793238462643')).toBe('3.141592653589793238462643');
    expect(parseNumeric('-12345678901234567890.5')).toBe('-12345678901234567890.5');
    expect(parseNumeric('1' + '0'.repeat(30))).toBe('1' + '0'.repeat(30));
    expect(parseNumeric('1.' + '0'.repeat(20) + '1')).toBe('1.' + '0'.repeat(20) + '1');
  });

  it('values whose shortest print is exponential stay strings rather than change form', () => {
    expect(parseNumeric('0.0000001')).toBe('0.0000001');
  });

  it('NaN and the infinities stay strings', () => {
    expect(parseNumeric('NaN')).toBe('NaN');
    expect(parseNumeric('Infinity')).toBe('Infinity');
    expect(parseNumeric('-Infinity')).toBe('-Infinity');
  });
});

describe('timestamps', () => {
  it('parseTimestamp makes ISO text and keeps microseconds', () => {
    expect(parseTimestamp('2026-11-23 03:11:45.712345')).toBe('2026-11-23T03:11:45.712345');
    expect(parseTimestamp('2026-11-23 03:11:45')).toBe('2026-11-23T03:11:45');
    expect(parseTimestamp('infinity')).toBe('infinity');
  });

  it('parseTimestamptz turns UTC into Z and keeps microseconds', () => {
    expect(parseTimestamptz('2026-11-23 03:11:45.712345+00')).toBe('2026-11-23T03:11:45.712345Z');
    expect(parseTimestamptz('2026-11-23 03:11:45+00')).toBe('2026-11-23T03:11:45Z');
    expect(parseTimestamptz('2026-11-23 03:11:45+00:00')).toBe('2026-11-23T03:11:45Z');
    expect(parseTimestamptz('2026-11-23 03:11:45.1+00')).toBe('2026-11-23T03:11:45.1Z');
  });

  it('parseTimestamptz keeps other offsets', () => {
    expect(parseTimestamptz('2026-11-23 03:11:45.5+05:30')).toBe('2026-11-23T03:11:45.5+05:30');
    expect(parseTimestamptz('2026-11-23 03:11:45-08')).toBe('2026-11-23T03:11:45-08');
  });

  it('the ISO text reads back as the same instant (to the millisecond)', () => {
    expect(new Date(parseTimestamptz('2026-11-23 03:11:45.712345+00')).toISOString()).toBe('2026-11-23T03:11:45.712Z');
  });
});

describe('parseBytea', () => {
  it('hex text becomes base64', () => {
    expect(parseBytea('\\x6869')).toBe('aGk=');
    expect(parseBytea('\\x')).toBe('');
    expect(parseBytea('\\x00ff10')).toBe(Buffer.from([0, 255, 16]).toString('base64'));
  });

  it('escape-format text becomes base64 too', () => {
    expect(parseBytea('hi')).toBe('aGk=');
    expect(parseBytea('a\\000b')).toBe(Buffer.from([0x61, 0, 0x62]).toString('base64'));
  });
});

describe('jsonTypes.getTypeParser', () => {
  it('int8 and numeric', () => {
    expect(parser(OID.int8)('5')).toBe(5);
    expect(parser(OID.int8)('9007199254740993')).toBe('9007199254740993');
    expect(parser(OID.numeric)('1.50')).toBe(1.5);
    expect(parser(OID.numeric)('12345678901234567890.12')).toBe('12345678901234567890.12');
    expect(parser(OID.numeric)('NaN')).toBe('NaN');
  });

  it('bytea is base64', () => {
    expect(parser(OID.bytea)('\\x6869')).toBe('aGk=');
  });

  it('dates, times and intervals stay as PostgreSQL wrote them', () => {
    expect(parser(OID.date)('2026-01-31')).toBe('2026-01-31');
    expect(parser(OID.time)('12:34:56.789012')).toBe('12:34:56.789012');
    expect(parser(OID.timetz)('12:34:56+02')).toBe('12:34:56+02');
    expect(parser(OID.interval)('1 day 02:00:00')).toBe('1 day 02:00:00');
  });

  it('timestamps are ISO strings, not Dates', () => {
    expect(parser(OID.timestamp)('2026-11-23 03:11:45.712345')).toBe('2026-11-23T03:11:45.712345');
    expect(parser(OID.timestamptz)('2026-11-23 03:11:45.712345+00')).toBe('2026-11-23T03:11:45.712345Z');
  });

  it('the format defaults to text', () => {
    expect((jsonTypes.getTypeParser(OID.int8) as (t: string) => unknown)('9007199254740993')).toBe('9007199254740993');
  });

  it('int8[] keeps exact numbers and big ones as strings', () => {
    expect(parser(OID.int8Array)('{1,9007199254740993}')).toEqual([1, '9007199254740993']);
    expect(parser(OID.int8Array)('{}')).toEqual([]);
    expect(parser(OID.int8Array)('{1,NULL,-3}')).toEqual([1, null, -3]);
    expect(parser(OID.int8Array)('{{1,2},{3,9223372036854775807}}')).toEqual([
      [1, 2],
      [3, '9223372036854775807'],
    ]);
  });

  it('numeric[]', () => {
    expect(parser(OID.numericArray)('{1.50,0.10000000000000000001,NaN}')).toEqual([1.5, '0.10000000000000000001', 'NaN']);
  });

  it('bytea[] is base64 per element', () => {
    // PostgreSQL writes {"\\x6869",NULL}: the array quoting escapes the backslash.
    expect(parser(OID.byteaArray)('{"\\\\x6869",NULL,"\\\\x"}')).toEqual(['aGk=', null, '']);
  });

  it('date[], timestamp[] and timestamptz[]', () => {
    expect(parser(OID.dateArray)('{2026-01-01,NULL}')).toEqual(['2026-01-01', null]);
    expect(parser(OID.timestampArray)('{"2026-01-01 00:00:00.000001","2026-01-02 10:00:00"}')).toEqual([
      '2026-01-01T00:00:00.000001',
      '2026-01-02T10:00:00',
    ]);
    expect(parser(OID.timestamptzArray)('{"2026-01-01 00:00:00.123456+00",NULL}')).toEqual(['2026-01-01T00:00:00.123456Z', null]);
  });

  it('other types fall back to node-postgres', () => {
    expect(parser(OID.int4)('42')).toBe(42);
    expect(parser(OID.float8)('1.25')).toBe(1.25);
    expect(parser(OID.bool)('t')).toBe(true);
    expect(parser(OID.text)('x')).toBe('x');
    expect(parser(OID.int4Array)('{1,2,NULL}')).toEqual([1, 2, null]);
    expect(parser(OID.textArray)('{a,"b,c"}')).toEqual(['a', 'b,c']);
  });

  it('binary format is left to node-postgres', () => {
    expect(jsonTypes.getTypeParser(OID.int8, 'binary')).not.toBe(parseInt8);
    expect(jsonTypes.getTypeParser(OID.int8, 'text')).toBe(parseInt8);
  });
});

describe('numeric beyond 2^53', () => {
  it('comes back as text even when the double would print the same digits', () => {
    expect(parseNumeric('18014398509481984')).toBe('18014398509481984'); // 2^54
    expect(parseNumeric('-9007199254740993')).toBe('-9007199254740993');
    expect(parseNumeric('9007199254740991')).toBe(9007199254740991);
  });
});
