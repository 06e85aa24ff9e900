import type { Command } from 'commander';
import { actionsOf } from '../lazy.js';

/** `dbaas doctor`: what is out of place between the registry, the engine and the disk; its flags and help. */

const run = actionsOf(() => import('../actions/doctor.js'));

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('compare the registry with the engine and the disk; --fix repairs what is safe to repair')
    .option('--fix', 'repair: finish interrupted creates, remove orphan containers, start what should run, start agents')
    .option('--purge <id>', 'with --fix: also remove this folder without a record, data included (repeatable)', collect)
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Exit code: 0 when nothing is left to repair, 1 when findings remain (or a repair failed).
A folder without a record is never removed unless --purge names it.`,
    )
    .action(run('doctor'));
}
