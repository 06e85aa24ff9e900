import { Command, CommanderError } from 'commander';
import { VERSION } from '../config/version.js';
import { registerDatabaseCommands } from './commands/database.js';
import { registerImageCommands } from './commands/image.js';
import { registerInstanceCommands } from './commands/instances.js';
import { registerMonitoringCommands } from './commands/monitoring.js';
import { registerServeCommand } from './commands/serve.js';

export function buildProgram(): Command {
  const program = new Command('dbaas')
    .description('Self-hosted PostgreSQL Database-as-a-Service on Docker')
    .version(VERSION, '-V, --cli-version', 'print the dbaas version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerInstanceCommands(program);
  registerDatabaseCommands(program);
  registerMonitoringCommands(program);
  registerServeCommand(program);
  registerImageCommands(program);
  program.commands.forEach(function override(cmd: Command) {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  });
  return program;
}

/** Runs the CLI; usage errors exit 2, failures 1 (see exit.ts), help and version 0. */
export async function main(argv: string[]): Promise<void> {
  // `dbaas ... | head` closes the pipe early: that is the reader's choice, not our failure.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // `dbaas --help` asked for help (0); `dbaas` alone or `dbaas tables` without a
      // subcommand prints it as an error (commander's exitCode 1): a usage error, 2.
      const ok = ['commander.helpDisplayed', 'commander.version'].includes(err.code) || (err.code === 'commander.help' && err.exitCode === 0);
      process.exitCode = ok ? 0 : 2;
      return;
    }
    throw err;
  }
}
