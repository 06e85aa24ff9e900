import type { Command } from 'commander';
import { actionsOf } from '../lazy.js';
import { decimalFlag, portFlag, wholeFlag } from '../numbers.js';

/** `dbaas backup ...`, `dbaas restore`, `dbaas clone`: backups of instances and restores from them; their flags and help. */

const run = actionsOf(() => import('../actions/backups.js'));

export function registerBackupCommands(program: Command): void {
  const backup = program.command('backup').description('backups of instances: take, list, show, verify, delete');
  backup
    .command('create')
    .description('take a backup of a running instance')
    .argument('<instance>', 'id or name')
    .option('--type <type>', 'physical (a base backup; point-in-time restores start from one) or logical (pg_dump)', 'physical')
    .option('--label <text>', 'a note of your own, shown in listings')
    .option('--json', 'print JSON, no progress')
    .action(run('create'));
  backup
    .command('list')
    .alias('ls')
    .description('list backups, of one instance or all (deleted instances included)')
    .argument('[instance]', 'id or name (also of a deleted instance)')
    .option('--json', 'print JSON')
    .action(run('list'));
  backup
    .command('show')
    .description('show a backup and its manifest')
    .argument('<backup>', 'backup id (bk_...)')
    .option('--json', 'print JSON')
    .action(run('show'));
  backup
    .command('verify')
    .description('check a backup against its manifest; --restore also restores it and compares row counts')
    .argument('<backup>', 'backup id (bk_...)')
    .option('--restore', 'restore it into a throw-away container and check it there')
    .option('--json', 'print JSON, no progress')
    .action(run('verify'));
  backup
    .command('schedule')
    .description('show, set or remove the backup schedule of an instance (run by dbaas serve)')
    .argument('<instance>', 'id or name')
    .option('--cron <expression>', 'five-field cron expression in UTC, e.g. "0 3 * * *"')
    .option('--type <type>', 'physical or logical', 'physical')
    .option('--keep-last <n>', 'keep the newest N scheduled backups', wholeFlag(1))
    .option('--keep-days <d>', 'keep scheduled backups younger than D days', wholeFlag(1))
    .option('--verify <when>', 'verify by a real restore: each, weekly or never', 'never')
    .option('--off', 'remove the schedule (its backups stay)')
    .option('--json', 'print JSON')
    .action(run('schedule'));
  backup
    .command('delete')
    .alias('rm')
    .description('delete a backup')
    .argument('<backup>', 'backup id (bk_...)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'print JSON')
    .action(run('remove'));

  program
    .command('restore')
    .description('restore a backup, or an instance (live or deleted) to a point in time, into a new instance')
    .argument('<source>', 'backup id (bk_...), or instance id or name')
    .option('--as <name>', 'the name of the new instance')
    .option('--in-place', "replace the instance's own data instead (after a safety backup of its current state)")
    .option('-y, --yes', 'do not ask for confirmation (--in-place)')
    .option('--to-time <time>', 'replay WAL up to this moment (ISO 8601, e.g. 2026-11-24T15:30:00Z)')
    .option('--to-lsn <lsn>', 'replay WAL up to this position (e.g. 0/3000060)')
    .option('--latest', 'replay all archived WAL (the default)')
    .option('--backup <id>', 'start from this base backup (default: the newest that can reach the target)')
    .option('--memory <size>', 'memory limit of the new instance')
    .option('--cpus <n>', 'CPU limit of the new instance', decimalFlag)
    .option('--port <port>', 'host port of the new instance', portFlag)
    .option('--json', 'print JSON, no progress')
    .action(run('restore'));

  program
    .command('clone')
    .description('a new instance with the newest state of a running one (its newest base backup and all archived WAL)')
    .argument('<instance>', 'id or name')
    .argument('<new-name>', 'the name of the new instance')
    .option('--json', 'print JSON, no progress')
    .action(run('clone'));
}
