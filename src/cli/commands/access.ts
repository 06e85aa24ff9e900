import type { Command } from 'commander';
import { actionsOf } from '../lazy.js';

/** `dbaas token create|list|revoke` and `dbaas audit`: the API's tokens and the audit log; their flags and help. */

const run = actionsOf(() => import('../actions/access.js'));

export function registerAccessCommands(program: Command): void {
  const token = program.command('token').description('API tokens: create (shown once), list, revoke');
  token
    .command('create')
    .description('create a token for the REST API and print it (once; only its hash is kept)')
    .requiredOption('--name <name>', 'a name to recognise it by, e.g. ci')
    .requiredOption('--role <role>', 'admin, owner, developer or viewer')
    .option('--project <name>', 'the project of an owner, developer or viewer (default: default)')
    .option('--expires <duration>', 'expire after 90s, 12h, 30d, 2w (default: never)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Roles:
  admin      everything, in every project: tokens, the audit log, the doctor
  owner      create, resize, delete, back up and restore the project's instances; passwords; data
  developer  data API reads and writes, connection strings with the password, metrics
  viewer     list, info without secrets, metrics, data API reads`,
    )
    .action(run('createToken'));
  token.command('list').alias('ls').description('list tokens (never their secrets)').option('--json', 'print JSON').action(run('listTokens'));
  token
    .command('revoke')
    .description('revoke a token at once')
    .argument('<token>', 'id (tok_...) or name')
    .option('--json', 'print JSON')
    .action(run('revokeToken'));

  program
    .command('audit')
    .description('the audit log: every change and every read of a secret, by whom, with what outcome')
    .option('--since <time>', 'only entries since an ISO time or a duration ago (e.g. 24h, 7d)')
    .option('--project <name>', "only entries about this project's instances or by its tokens")
    .option('--limit <n>', 'the newest n entries (default 1000)')
    .option('--json', 'print JSON')
    .action(run('audit'));
}
