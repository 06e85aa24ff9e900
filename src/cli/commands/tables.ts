import type { Command } from 'commander';
import { actionsOf } from '../lazy.js';
import { collect } from './data.js';

/** `dbaas tables`: list, describe, create and drop the tables of an instance's database; their flags and help. */

const run = actionsOf(() => import('../actions/tables.js'));

export function registerTableCommands(program: Command): void {
  const tables = program
    .command('tables')
    .description('list, describe, create and drop tables (`dbaas tables <instance>` lists them)')
    .addHelpText(
      'after',
      `
\`dbaas tables <instance>\` is short for \`dbaas tables list <instance>\`; use the long form for an
instance named list, describe, create, drop or help.

Examples:
  dbaas tables orders-db
  dbaas tables describe orders-db public.orders
  dbaas tables create orders-db orders --column id:bigint:pk:identity --column "placed:timestamp with time zone:notnull" --column note:text
  dbaas tables create orders-db --file orders.json        (a CreateTable document; --file - reads stdin)
  dbaas tables drop orders-db orders --yes`,
    );

  tables
    .command('list', { isDefault: true })
    .description('tables and views: schema, name, kind, estimated rows, size (the default: `dbaas tables <instance>`)')
    .argument('<instance>', 'id or name')
    .option('--schema <schema>', 'only this schema')
    .option('--json', 'print JSON')
    .option('--csv', 'print CSV')
    .action(run('list'));

  program
    .command('types')
    .description('TypeScript types of an instance\'s tables, views, functions and enums, for supabase-js createClient<Database> (prints the file)')
    .argument('<instance>', 'id or name')
    .option('--schema <schemas>', 'schemas, comma-separated (default public)')
    .addHelpText('after', '\nExample:\n  dbaas types orders-db > src/database.types.ts')
    .action(run('types'));

  tables
    .command('describe')
    .alias('show')
    .description('columns (type, nullability, default), primary key, foreign keys, indexes')
    .argument('<instance>', 'id or name')
    .argument('<table>', 'table or view: name (schema public) or schema.name')
    .option('--json', 'print JSON')
    .action(run('describe'));

  tables
    .command('create')
    .description('create a table from --column flags or a JSON definition')
    .argument('<instance>', 'id or name')
    .argument('[table]', 'name or schema.name (with --file: optional, the file names it)')
    .option('-c, --column <name:type[:pk][:notnull][:unique][:identity]>', 'a column (repeatable); several :pk make a composite key', collect)
    .option('-f, --file <path>', 'a CreateTable JSON document {schema?, name, columns: [{name, type, nullable?, primaryKey?, unique?, identity?, default?, defaultExpression?}], primaryKey?, ifNotExists?} ("-" for stdin)')
    .option('--schema <schema>', 'schema of the table (default public)')
    .option('--if-not-exists', 'do nothing when the table exists')
    .option('--json', 'print JSON')
    .action(run('create'));

  tables
    .command('drop')
    .description('drop a table or view with all its rows (asks for its name unless --yes)')
    .argument('<instance>', 'id or name')
    .argument('<table>', 'name or schema.name')
    .option('--cascade', 'also drop what depends on it (views, foreign keys)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'print JSON')
    .action(run('drop'));
}
