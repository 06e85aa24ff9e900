import type { Command } from 'commander';
import { actionsOf } from '../lazy.js';
import { wholeFlag } from '../numbers.js';
import { collect, OUTPUT_HELP } from './data.js';

/** `dbaas rows`: read and write rows without SQL (list, get, insert, update, delete); their flags and help. */

const run = actionsOf(() => import('../actions/rows.js'));

const where = (cmd: Command, what: string) => cmd.option('-w, --where <col=op.value>', `${what} (repeatable)`, collect);
const output = (cmd: Command) => cmd.option('--json', 'print JSON').option('--csv', 'print CSV');

export function registerRowCommands(program: Command): void {
  const rows = program
    .command('rows')
    .description('read and write rows without SQL: list, get, insert, update, delete')
    .addHelpText(
      'after',
      `
Filters: --where col=op.value (repeatable, AND-ed), as in the REST API: op is eq, neq, gt, gte, lt,
lte, like, ilike (* or % as wildcards), in.(a,b,"c,d"), is.null|true|false, each optionally
prefixed by not. (e.g. --where status=not.in.(done,failed)). --key is the primary key; for a
composite key its values in key order, comma-separated.
${OUTPUT_HELP}

Examples:
  dbaas rows list db orders --where status=eq.open --where total=gte.100 --order placed.desc --limit 20 --count
  dbaas rows get db orders --key 5
  dbaas rows insert db orders --data '[{"note":"a"},{"note":"b"}]'
  dbaas rows insert db orders --data @rows.json --on-conflict id --returning id
  dbaas rows update db orders --key 5 --data '{"status":"done"}'
  dbaas rows delete db orders --where status=eq.cancelled --returning none
  dbaas rows delete db orders --force                     (every row)`,
    );

  output(
    where(
      rows
        .command('list')
        .alias('ls')
        .description('rows that match the filters, ordered and paged (a read-only transaction)')
        .argument('<instance>', 'id or name')
        .argument('<table>', 'name or schema.name'),
      'filter',
    )
      .option('-s, --select <columns>', 'columns to return, comma-separated')
      .option('-o, --order <terms>', 'col[.asc|.desc][.nullsfirst|.nullslast], comma-separated')
      .option('-l, --limit <n>', 'rows to return (capped by the server; default from its settings)', wholeFlag())
      .option('--offset <n>', 'rows to skip', wholeFlag())
      .option('--after <cursor>', 'keyset paging: "" for the first page, then the cursor the page before printed (cost does not grow with depth)')
      .option('--count', 'also count every matching row'),
  ).action(run('list'));

  output(
    where(
      rows
        .command('get')
        .description('one row: by primary key (--key) or the only row that matches --where')
        .argument('<instance>', 'id or name')
        .argument('<table>', 'name or schema.name')
        .option('-k, --key <pk>', 'primary key value (composite: comma-separated, in key order)'),
      'filter that matches one row',
    ).option('-s, --select <columns>', 'columns to return, comma-separated'),
  ).action(run('get'));

  output(
    rows
      .command('insert')
      .description('insert one row (a JSON object) or many (an array) in one statement; upsert with --on-conflict')
      .argument('<instance>', 'id or name')
      .argument('<table>', 'name or schema.name')
      .requiredOption('-d, --data <json|@file>', "the row(s): JSON, or @file.json, or @- for stdin")
      .option('--on-conflict <columns>', 'columns of a unique key: colliding rows update the other columns')
      .option('--returning <columns>', 'columns of the written rows to print, * (default) or none'),
  ).action(run('insert'));

  output(
    where(
      rows
        .command('update')
        .description('set columns of one row (--key) or of the rows that match --where (--force: every row)')
        .argument('<instance>', 'id or name')
        .argument('<table>', 'name or schema.name')
        .requiredOption('-d, --data <json|@file>', 'the changes, a JSON object of column: value, or @file.json, or @- for stdin')
        .option('-k, --key <pk>', 'primary key value (composite: comma-separated, in key order)'),
      'filter',
    )
      .option('--returning <columns>', 'columns of the updated rows to print, * (default) or none')
      .option('--force', 'allow an update without --where or --key (every row)'),
  ).action(run('update'));

  output(
    where(
      rows
        .command('delete')
        .alias('rm')
        .description('delete one row (--key) or the rows that match --where (--force: every row)')
        .argument('<instance>', 'id or name')
        .argument('<table>', 'name or schema.name')
        .option('-k, --key <pk>', 'primary key value (composite: comma-separated, in key order)'),
      'filter',
    )
      .option('--returning <columns>', 'columns of the deleted rows to print, * (default) or none')
      .option('--force', 'allow a delete without --where or --key (every row)'),
  ).action(run('remove'));
}
