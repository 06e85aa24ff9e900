import { runtimePaths } from '../../config/settings.js';
import { DbaasError } from '../../errors.js';
import { ensureCa } from '../../tls/ca.js';
import { withSettings, type CommonOptions } from '../context.js';
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
