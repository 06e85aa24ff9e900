import type { Command } from 'commander';
import { actionsOf } from '../lazy.js';
import { portFlag } from '../numbers.js';

/** `dbaas service install|uninstall`: a systemd unit for `dbaas serve`; its flags and help. */

const run = actionsOf(() => import('../actions/service.js'));

/** The flags that say which unit: install and uninstall take them alike. */
function unitFlags(command: Command): Command {
  return command
    .option('--user', 'a unit of your own user manager (systemctl --user), in ~/.config/systemd/user')
    .option('--unit-dir <dir>', 'write the unit here (default: /etc/systemd/system, or ~/.config/systemd/user with --user)')
    .option('--name <name>', 'the unit name, without .service', 'dbaas')
    .option('--json', 'print JSON');
}

export function registerServiceCommands(program: Command): void {
  const service = program.command('service').description('run `dbaas serve` as a systemd service');
  unitFlags(
    service
      .command('install')
      .description('write a systemd unit that runs `dbaas serve` of this installation')
      .option('--host <address>', 'address the API listens on (default: DBAAS_API_HOST or 127.0.0.1)')
      .option('--port <port>', 'port the API listens on (default: DBAAS_API_PORT or 8000)', portFlag)
      .option('--run-as <user>', 'system unit: the account it runs as (default: you; it must reach the Docker socket)')
      .option('--env-file <file>', 'EnvironmentFile= for secrets such as DBAAS_MASTER_KEY (mode 0600; never copied into the unit)')
      .option('--print', 'print the unit on stdout, write nothing')
      .option('--force', 'replace an existing unit that differs')
      .option('--enable', 'then systemctl daemon-reload and enable --now it'),
  )
    .addHelpText(
      'after',
      `
The unit runs node and bin/dbaas of this installation, with its home and the DBAAS_* settings
of this shell that differ from the defaults (never a secret), restarts on failure, and starts
after docker.service. Re-running with the same settings changes nothing. See docs/service.md.`,
    )
    .action(run('install'));
  unitFlags(
    service
      .command('uninstall')
      .description('stop and disable the unit (when systemd runs) and remove its file')
      .option('--force', 'remove a unit that dbaas did not write, or that systemctl could not stop'),
  ).action(run('uninstall'));
}
