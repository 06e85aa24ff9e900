/**
 * What the definitions of the data commands (tables, rows, query, transaction) share: repeatable
 * flags, and the paragraph of their help that says how they print.
 */

/** A repeatable flag's values, in the order given. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export const OUTPUT_HELP = `
Output: a table (NULL shows as NULL, objects and arrays as compact JSON) with a status line
like "SELECT 3" or "INSERT 2" on stderr; --json prints the result as one JSON document,
--csv prints RFC 4180 CSV with a header row (NULL is an empty field, an empty string is "").`;
