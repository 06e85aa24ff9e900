import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { decimalFlag, portFlag, wholeFlag } from '../../src/cli/numbers.js';

/** The one parser of numeric flags (src/cli/numbers.ts): a bad value is commander's usage error. */

describe('decimalFlag', () => {
  it.each([
    ['2', 2],
    ['0.5', 0.5],
    ['.5', 0.5],
    ['2.', 2],
    ['+1.25', 1.25],
    ['-3', -3],
  ])('reads %j as %d', (text, n) => {
    expect(decimalFlag(text)).toBe(n);
  });

  it.each(['', 'abc', '1e3', '0x10', '1,5', '1.2.3', ' 1', 'Infinity', 'NaN'])('refuses %j', (text) => {
    expect(() => decimalFlag(text)).toThrow(InvalidArgumentError);
    expect(() => decimalFlag(text)).toThrow(`"${text}" is not a number`);
  });
});

describe('wholeFlag', () => {
  it('takes 0 and up by default (--limit 0, --offset 0)', () => {
    expect(wholeFlag()('0')).toBe(0);
    expect(wholeFlag()('20')).toBe(20);
    expect(wholeFlag()(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('takes a minimum (--timeout, --tail: 1)', () => {
    expect(wholeFlag(1)('1')).toBe(1);
    expect(() => wholeFlag(1)('0')).toThrow('"0" is not a whole number of at least 1');
  });

  it.each(['-1', '1.5', '1e3', 'soon', '', ' 5', '+5', '0x10', String(Number.MAX_SAFE_INTEGER + 2)])('refuses %j', (text) => {
    expect(() => wholeFlag()(text)).toThrow(InvalidArgumentError);
    expect(() => wholeFlag()(text)).toThrow(`"${text}" is not a whole number`);
  });
});

describe('portFlag', () => {
  it('takes 1 to 65535', () => {
    expect(portFlag('1')).toBe(1);
    expect(portFlag('5432')).toBe(5432);
    expect(portFlag('65535')).toBe(65535);
  });

  it('refuses 0, 65536 and what is not a whole number', () => {
    expect(() => portFlag('0')).toThrow('"0" is not a whole number of at least 1');
    expect(() => portFlag('65536')).toThrow('"65536" is not a port (1-65535)');
    expect(() => portFlag('80a')).toThrow(InvalidArgumentError);
  });
});
