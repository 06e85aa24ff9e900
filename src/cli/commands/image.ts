import type { Command } from 'commander';
import { imageFor, runtimePaths } from '../../config/settings.js';
import { DockerEngine } from '../../runtime/engine.js';
import { buildImage } from '../../runtime/imageBuilder.js';
import { parseInput } from '../../validate.js';
import { VersionSchema } from '../../instances/schema.js';
import { printJson } from '../output.js';
import { wholeFlag } from '../numbers.js';
import { withSettings, type CommonOptions } from '../context.js';

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
    .action(async (opts: CommonOptions & { version: number; tag?: string; mirror?: string; force?: boolean }) => {
      await withSettings(opts, async (settings) => {
        const version = parseInput(VersionSchema, opts.version);
        const tag = opts.tag ?? imageFor(settings, version);
        const engine = new DockerEngine(settings.dockerSocket, settings.home);
        if (!opts.force && (await engine.imageExists(tag))) {
          if (opts.json) printJson({ tag, built: false, reason: 'exists' });
          else process.stderr.write(`image ${tag} exists; use --force to rebuild\n`);
          return;
        }
        const result = await buildImage({
          version,
          tag,
          mirror: opts.mirror,
          scriptsDir: runtimePaths(settings).scriptsDir,
          onLine: opts.json ? undefined : (line) => process.stderr.write(line + '\n'),
        });
        if (opts.json) printJson({ tag: result.tag, built: true, seconds: result.seconds });
        else process.stderr.write(`built ${result.tag} in ${result.seconds} s\n`);
      });
    });
}
