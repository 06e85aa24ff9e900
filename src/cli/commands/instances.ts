import { InvalidArgumentError, type Command } from 'commander';
import { actionsOf } from '../lazy.js';
import { decimalFlag, portFlag, wholeFlag } from '../numbers.js';

/** The instance commands (create, list, info, start, stop, restart, delete, update, logs, stats, connect): their flags and help. */

const run = actionsOf(() => import('../actions/instances.js'));
const runList = actionsOf(() => import('../actions/list.js'));

/** A repeatable flag into a list. */
function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--pg-setting work_mem=8MB` (repeatable) into a settings object. */
function collectSetting(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  // Thrown inside commander's parsing: its own error type makes it a usage error (exit 2).
  if (eq <= 0) throw new InvalidArgumentError(`--pg-setting takes name=value, got "${value}"`);
  return { ...previous, [value.slice(0, eq).trim()]: value.slice(eq + 1) };
}

export function registerInstanceCommands(program: Command): void {
  program
    .command('create')
    .description('create a PostgreSQL instance and print its connection string')
    .argument('<name>', 'unique name: lowercase letters, digits and "-", 3-40 characters')
    .option('--project <name>', 'the project it belongs to (default: default)')
    .option('--version <major>', 'PostgreSQL major version (12-17)', wholeFlag(1))
    .option('--memory <size>', 'memory limit, e.g. 512m or 1g (minimum 128m)')
    .option('--cpus <n>', 'CPU limit, e.g. 0.5 or 2', decimalFlag)
    .option('--shm-size <size>', 'size of /dev/shm (default: a quarter of memory, at least 64m)')
    .option('--port <port>', 'host port (default: the first free one of the configured range)', portFlag)
    .option('--bind <address>', 'IPv4 address to publish the port on')
    .option('--allow-cidr <cidr>', 'a client network that may log in over TLS, e.g. 10.0.0.0/8 (repeatable; default: any)', collect)
    .option('--database <name>', 'application database (default: app)')
    .option('--user <name>', 'application role (default: app)')
    .option('--password <password>', 'application password (default: generated)')
    .option('--password-file <path>', 'read the application password from a file ("-" for stdin)')
    .option('--pg-setting <name=value>', 'override a PostgreSQL setting (repeatable)', collectSetting)
    .option('--init-sql <path>', 'SQL file run once in the new database as the application role')
    .option('--monitor-interval <seconds>', 'seconds between monitoring samples (default 10)', wholeFlag(1))
    .option('--monitor-max-file <size>', 'rotate metrics.ndjson at this size (default 10m)')
    .option('--monitor-keep <n>', 'rotated metrics files kept (default 3)', wholeFlag(1))
    .option('--json', 'print one JSON document, no progress')
    .action(run('create'));

  program
    .command('list')
    .alias('ls')
    .description('list instances with their observed status')
    .option('--project <name>', 'only the instances of this project')
    .option('--json', 'print JSON')
    .action(runList('list'));

  program
    .command('info')
    .description('show one instance')
    .argument('<instance>', 'id or name')
    .option('--json', 'print JSON')
    .action(run('info'));

  for (const action of ['start', 'stop', 'restart'] as const) {
    program
      .command(action)
      .description(`${action} an instance${action === 'stop' ? ' (fast shutdown; data stays)' : ' and wait until it accepts logins'}`)
      .argument('<instance>', 'id or name')
      .option('--json', 'print JSON, no progress')
      .action(run(action));
  }

  program
    .command('delete')
    .alias('rm')
    .description('delete an instance: its container, files and record')
    .argument('<instance>', 'id or name')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--keep-data', 'keep instances/<id>/data on disk')
    .option('--purge-backups', "remove the instance's backups and WAL archive too (kept by default)")
    .option('--json', 'print JSON, no progress')
    .action(run('remove'));

  program
    .command('update')
    .description('resize an instance live (memory, CPUs), change its PostgreSQL or monitoring settings')
    .argument('<instance>', 'id or name')
    .option('--memory <size>', 'new memory limit, e.g. 1g')
    .option('--cpus <n>', 'new CPU limit', decimalFlag)
    .option('--pg-setting <name=value>', 'PostgreSQL setting override (repeatable; replaces the earlier overrides)', collectSetting)
    .option('--allow-cidr <cidr>', 'replace the client networks that may log in over TLS (repeatable; applied at once)', collect)
    .option('--allow-any', 'let clients of any network log in over TLS again')
    .option('--monitor-interval <seconds>', 'seconds between monitoring samples', wholeFlag(1))
    .option('--monitor-max-file <size>', 'rotate metrics.ndjson at this size')
    .option('--monitor-keep <n>', 'rotated metrics files kept', wholeFlag(1))
    .option('--restart', 'restart now so that settings derived from memory take effect')
    .option('--image-refresh', 'move onto the image its tag names now (after `dbaas image build --force` for a new minor release): recreate and restart')
    .option('--json', 'print JSON, no progress')
    .action(run('update'));

  program
    .command('logs')
    .description("print the server's log")
    .argument('<instance>', 'id or name')
    .option('-n, --tail <lines>', 'lines from the end', wholeFlag(1), 100)
    .option('-f, --follow', 'keep printing new lines')
    .option('--json', 'print JSON')
    .action(run('logs'));

  program
    .command('stats')
    .description('CPU and memory of the instance, from the engine')
    .argument('<instance>', 'id or name')
    .option('--json', 'print JSON')
    .action(run('stats'));

  program
    .command('connect')
    .description('print the connection string (the password only with --show-password)')
    .argument('<instance>', 'id or name')
    .option('--show-password', 'include the password')
    .option('--json', 'print JSON')
    .action(run('connect'));
}
