import type { Command } from 'commander';
import { actionsOf } from '../lazy.js';

/** `dbaas login` and `dbaas logout`: the remote server every other command then talks to; their flags and help. */

const run = actionsOf(() => import('../actions/remote.js'));

export function registerRemoteCommands(program: Command): void {
  program
    .command('login')
    .description('talk to a remote dbaas server from now on: checks the token there and saves both in a 0600 file')
    .argument('<url>', 'the server, e.g. https://db-host.example:8000')
    .option('--token-file <path>', 'read the token from a file ("-" for stdin; default: DBAAS_TOKEN)')
    .option('--ca-file <path>', "trust this CA for the server's certificate (for --tls auto: the output of `dbaas ca` on the server)")
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
The login is saved in $DBAAS_CREDENTIALS or ~/.config/dbaas/credentials.json (mode 0600).
DBAAS_URL and DBAAS_TOKEN (and DBAAS_CA_FILE) do the same for one shell, and win over it.
serve, service, image and ca always work on this host.`,
    )
    .action(run('login'));
  program.command('logout').description('forget the saved login: commands work on this host again').option('--json', 'print JSON').action(run('logout'));
}
