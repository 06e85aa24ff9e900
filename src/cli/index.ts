import { Command, CommanderError } from 'commander';
import { VERSION } from '../config/version.js';
import { registerAccessCommands } from './commands/access.js';
import { registerBackupCommands } from './commands/backups.js';
import { registerUpgradeCommand } from './commands/upgrade.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerImageCommands } from './commands/image.js';
import { registerInstanceCommands } from './commands/instances.js';
import { registerMonitoringCommands } from './commands/monitoring.js';
import { registerRowCommands } from './commands/rows.js';
import { registerServeCommand } from './commands/serve.js';
import { registerServiceCommands } from './commands/service.js';
import { registerSqlCommands } from './commands/sql.js';
import { registerRemoteCommands } from './commands/remote.js';
import { registerTableCommands } from './commands/tables.js';
import { registerTlsCommands } from './commands/tls.js';

/**
 * The dbaas program: every command's definition, and the exit code of a command line. The
 * definitions are light (each action loads its implementation when it runs, see lazy.ts), so
 * that `--cli-version`, `--help` and a usage error load none of the services.
 */

export function buildProgram(): Command {
  const program = new Command('dbaas')
    .description('Self-hosted PostgreSQL Database-as-a-Service on Docker')
    .version(VERSION, '-V, --cli-version', 'print the dbaas version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerInstanceCommands(program);
  registerTableCommands(program);
  registerRowCommands(program);
  registerSqlCommands(program);
  registerMonitoringCommands(program);
  registerBackupCommands(program);
  registerUpgradeCommand(program);
  registerAccessCommands(program);
  registerTlsCommands(program);
  registerRemoteCommands(program);
  registerDoctorCommand(program);
  registerServeCommand(program);
  registerServiceCommands(program);
  registerImageCommands(program);
  // The host's own audit trail (cli/audit.ts): one line per command that changes something.
  program.hook('postAction', async (_program, actionCommand) => {
    const { recordCommand } = await import('./audit.js');
    await recordCommand(actionCommand);
  });
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
