import type { Command } from 'commander';
import { actionsOf } from '../lazy.js';

/** `dbaas ca`: the local certificate authority's certificate, for clients to trust; its flags and help. */

const run = actionsOf(() => import('../actions/tls.js'));

export function registerTlsCommands(program: Command): void {
  program
    .command('ca')
    .description("print the local CA's certificate (PEM), made on first use; clients trust it to verify dbaas's servers")
    .option('--json', 'print JSON: the certificate, its path, fingerprint and expiry')
    .action(run('ca'));
}
