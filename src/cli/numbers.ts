import { InvalidArgumentError } from 'commander';

/**
 * The one way numeric flags become numbers: commander calls these while it parses, so a flag
 * that is not a number is a usage error (exit 2) before any command runs, and the schemas behind
 * the commands get real numbers, as REST clients must send them.
 */

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/** A decimal number: `0.5`, `2`. */
export function decimalFlag(value: string): number {
  if (!DECIMAL.test(value)) throw new InvalidArgumentError(`"${value}" is not a number`);
  return Number(value);
}

/** A whole number of at least `min` (default 0). */
export function wholeFlag(min = 0): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`"${value}" is not a whole number${min > 0 ? ` of at least ${min}` : ''}`);
    }
    return n;
  };
}

/** A TCP port, 1..65535. */
export function portFlag(value: string): number {
  const n = wholeFlag(1)(value);
  if (n > 65535) throw new InvalidArgumentError(`"${value}" is not a port (1-65535)`);
  return n;
}
