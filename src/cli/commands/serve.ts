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
    .action(run('serve'));
}
