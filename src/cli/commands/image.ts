import type { Command } from 'commander';
import { actionsOf } from '../lazy.js';
import { wholeFlag } from '../numbers.js';

/** `dbaas image build`: a PostgreSQL image for hosts without a registry; its flags and help. */

const run = actionsOf(() => import('../actions/image.js'));

export function registerImageCommands(program: Command): void {
  const image = program.command('image').description('PostgreSQL images for instances');
  image
    .command('build')
    .description('build a PostgreSQL image from Debian packages (for hosts without a registry)')
    .option('--version <major>', 'PostgreSQL major version', wholeFlag(1), 15)
    .option('--tag <image>', 'image name (default: the image configured for the version, postgres:<version>)')
    .option('--mirror <uri>', 'Debian mirror (default: the one apt uses)')
    .option('--force', 'rebuild even if the image exists')
    .option('--json', 'print JSON, no progress')
    .action(run('build'));
}
