import { Option, type Command } from 'commander';
import { actionsOf } from '../lazy.js';
import { wholeFlag } from '../numbers.js';

/** `dbaas upgrade`: a major upgrade of an instance, its rollback and its finalize; flags and help. */

const run = actionsOf(() => import('../actions/upgrade.js'));

export function registerUpgradeCommand(program: Command): void {
  program
    .command('upgrade')
    .description('upgrade an instance to a newer PostgreSQL major version, roll an upgrade back, or finalize it')
    .argument('<instance>', 'id or name')
    .option('--to <version>', 'the major version to upgrade to (13, 15 or 17 are built here)', wholeFlag(1))
    .addOption(new Option('--method <method>', 'link: pg_upgrade --link (fast whatever the size); dump: pg_dump | pg_restore (old data untouched)').choices(['link', 'dump']).default('link'))
    .option('--rollback', 'return to the old version and its data (writes made since the upgrade are lost)')
    .option('--finalize', 'remove the old data the upgrade kept (no rollback afterwards)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'print JSON, no progress')
    .addHelpText(
      'after',
      '\nThe upgrade checks first and refuses with every reason; it takes a verified safety backup, stops the\n' +
        'instance, builds the new cluster beside the old one, starts on the new image, runs ANALYZE and takes a\n' +
        'first base backup on the new version. The old data is kept 7 days (or until --finalize) for --rollback.',
    )
    .action(run('upgrade'));
}
