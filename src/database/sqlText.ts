import { DbaasError } from '../errors.js';

/** The two pieces every statement the data API builds is made of: quoted names and bound values. */

/** A double-quoted identifier; quotes inside are doubled, so no name can end the quoting. */
export function quoteIdent(name: string): string {
  if (name.includes('\u0000')) {
    const message = 'identifiers cannot contain NUL';
    throw new DbaasError('VALIDATION_FAILED', message, { issues: [{ field: '', message }] });
  }
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualifiedName(table: { schema: string; name: string }): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}

/** Collects bound values and hands out their placeholders. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}
