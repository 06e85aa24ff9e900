import type { Command } from 'commander';
import { actionsOf } from '../lazy.js';
import { portFlag } from '../numbers.js';

/** `dbaas serve`: the REST API with the agents' watchdog and the doctor's keeper; its flags and help. */

const run = actionsOf(() => import('../actions/serve.js'));

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the REST API (Swagger UI at /docs, ReDoc at /redoc)')
    .option('--host <address>', 'address to listen on (default: DBAAS_API_HOST or 127.0.0.1)')
    .option('--port <port>', 'port to listen on (default: DBAAS_API_PORT or 8000)', portFlag)
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM; default: DBAAS_TLS_CERT)')
    .option('--tls-key <file>', 'and this key (PEM; default: DBAAS_TLS_KEY)')
    .option('--tls <mode>', '"auto": HTTPS with a certificate from the local CA (config/ca/; `dbaas ca` prints it)')
    .option('--insecure', 'listen on a network address without TLS or without any token (not recommended)')
    .addHelpText(
      'after',
      `
On an address other than loopback, serve refuses to start without TLS and without at least one
active token (dbaas token create), unless --insecure is given.`,
    )
    .action(run('serve'));
}
