import { imageFor, runtimePaths } from '../../config/settings.js';
import { VersionSchema } from '../../instances/schema.js';
import { DockerEngine } from '../../runtime/engine.js';
import { buildImage } from '../../runtime/imageBuilder.js';
import { parseInput } from '../../validate.js';
import { withSettings, type CommonOptions } from '../context.js';
import { printJson } from '../output.js';

/** What `dbaas image build` does (its flags and help: commands/image.ts). */

export async function build(opts: CommonOptions & { version: number; tag?: string; mirror?: string; force?: boolean }): Promise<void> {
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
}
