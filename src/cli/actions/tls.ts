import { runtimePaths } from '../../config/settings.js';
import { DbaasError } from '../../errors.js';
import { ensureCa } from '../../tls/ca.js';
import { withManager, withSettings, type CommonOptions } from '../context.js';
import { createProgress } from '../progress.js';
import { printJson } from '../output.js';

/** What `dbaas ca` does (its flags and help: commands/tls.ts). */
export async function ca(opts: CommonOptions): Promise<void> {
  await withSettings(opts, async (settings) => {
    const info = await ensureCa(runtimePaths(settings).caDir).catch((err: Error) => {
      throw new DbaasError('CONFIG_INVALID', `cannot make or read the local CA: ${err.message}`);
    });
    if (opts.json) {
      return printJson({ path: info.certPath, subject: info.subject, fingerprintSha256: info.fingerprintSha256, notAfter: info.notAfter.toISOString(), certificate: info.certPem });
    }
    process.stdout.write(info.certPem.endsWith('\n') ? info.certPem : `${info.certPem}\n`);
  });
}

/** What `dbaas tls rotate` does. */
export async function rotate(ref: string, opts: CommonOptions): Promise<void> {
  await withManager(opts, async (manager) => {
    const progress = await createProgress(Boolean(opts.json));
    const result = await progress.track(manager.rotateTls(ref, progress.report));
    if (opts.json) return printJson(result);
    process.stdout.write(`${result.instance}: new certificate ${result.serial}, valid until ${result.notAfter}${result.reloaded ? '' : ' (read at the next start)'}\n`);
  });
}
