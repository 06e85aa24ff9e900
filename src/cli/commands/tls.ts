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

  const tls = program.command('tls').description("an instance's TLS certificate");
  tls
    .command('rotate')
    .description('issue a new server certificate from the local CA; the running server reads it on a reload (no restart)')
    .argument('<instance>', 'id or name')
    .option('--json', 'print JSON, no progress')
    .action(run('rotate'));
}
