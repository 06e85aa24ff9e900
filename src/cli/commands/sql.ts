import type { Command } from 'commander';
import { actionsOf } from '../lazy.js';
import { wholeFlag } from '../numbers.js';
import { collect, OUTPUT_HELP } from './data.js';

/** `dbaas query` and `dbaas transaction`: SQL as the application role; their flags and help. */

const run = actionsOf(() => import('../actions/sql.js'));

export function registerSqlCommands(program: Command): void {
  program
    .command('query')
    .description('run one SQL statement with bound parameters, as the application role')
    .argument('<instance>', 'id or name')
    .argument('<sql>', 'one statement, $1, $2... bound to the --param values in order ("-" reads it from stdin)')
    .option('-p, --param <value>', 'a parameter (repeatable), sent as text: PostgreSQL casts it to the type the statement needs', collect)
    .option('--read-only', 'run in a READ ONLY transaction (a write fails with PERMISSION_DENIED)')
    .option('--timeout <ms>', 'statement timeout in ms (capped by the server)', wholeFlag(1))
    .option('--json', 'print the result as JSON: command, rowCount, fields, rows, truncated')
    .option('--csv', 'print the rows as CSV')
    .addHelpText(
      'after',
      `
Parameters are strings: --param 5 binds the text '5', and PostgreSQL converts it to the type of
the placeholder (id = $1 compares as an integer); where the type cannot be inferred, cast it:
SELECT $1::int + 1. At most the server's queryMaxRows rows come back ("truncated" says so).
${OUTPUT_HELP}

Examples:
  dbaas query db "SELECT id, note FROM orders WHERE id > \\$1 ORDER BY id" --param 10
  dbaas query db "UPDATE orders SET status = 'done' WHERE id = \\$1" -p 5           (prints UPDATE 1 on stderr)
  echo "SELECT count(*) FROM orders" | dbaas query db - --csv`,
    )
    .action(run('query'));

  program
    .command('transaction')
    .alias('tx')
    .description('run statements from a JSON file in one transaction: all commit or none')
    .argument('<instance>', 'id or name')
    .requiredOption('-f, --file <path>', 'JSON: {"statements": [{"sql", "params"?}], "readOnly"?, "timeoutMs"?} or a plain array of statements ("-" for stdin)')
    .option('--read-only', 'run in a READ ONLY transaction')
    .option('--timeout <ms>', 'statement timeout in ms (capped by the server)', wholeFlag(1))
    .option('--json', 'print every result as JSON: {results: [...]}')
    .option('--csv', 'print the rows of the last statement as CSV')
    .addHelpText(
      'after',
      `
Params in the file keep their JSON types (numbers, booleans, null). A failing statement rolls
everything back; the error names it. Prints the rows of the last statement, and a status line
per statement on stderr.
${OUTPUT_HELP}`,
    )
    .action(run('transaction'));
}
