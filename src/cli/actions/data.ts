import type { CliServices } from '../../client/remoteServices.js';
import { DbaasError } from '../../errors.js';
import { withServices, type CommonOptions } from '../context.js';

/**
 * What the data commands (tables, rows, query, transaction) share when they run: the data API's
 * service, the output format their flags choose, JSON read from the command line or a file, and
 * the status line for humans. Every command goes through DataService, the same code the REST
 * routes call, so filters, validation and error codes are those of the API.
 */

export interface OutputOptions extends CommonOptions {
  csv?: boolean;
}

export type Format = 'table' | 'json' | 'csv';

export function formatOf(opts: OutputOptions): Format {
  if (opts.json && opts.csv) throw new DbaasError('USAGE', 'give --json or --csv, not both');
  return opts.json ? 'json' : opts.csv ? 'csv' : 'table';
}

/** Runs a command body with the data API of dbaas's services, which closes its pools after it. */
export async function withData(opts: CommonOptions, body: (data: CliServices['data']) => Promise<void>): Promise<void> {
  await withServices(opts, (services) => body(services.data));
}

export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DbaasError('MALFORMED_REQUEST', `${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** A status line for humans ("SELECT 3"), on stderr so that stdout holds only the rows. */
export function note(format: Format, line: string): void {
  if (format === 'table') process.stderr.write(line + '\n');
}
