import { readCa, removeCredentials, saveCredentials, type RemoteTarget } from '../../client/credentials.js';
import { ApiClient } from '../../client/http.js';
import { DbaasError } from '../../errors.js';
import { readFileArg } from '../input.js';
import { reported, type CommonOptions } from '../context.js';
import { printJson } from '../output.js';

/** What `dbaas login` and `dbaas logout` do (their flags and help: commands/remote.ts). */

export async function login(url: string, opts: CommonOptions & { tokenFile?: string; caFile?: string }): Promise<void> {
  await reported(opts, async () => {
    const token = (opts.tokenFile ? readFileArg(opts.tokenFile, 'token file') : (process.env.DBAAS_TOKEN ?? '')).trim();
    if (!token) throw new DbaasError('USAGE', 'give the token with --token-file <path|-> or DBAAS_TOKEN (never on the command line)');
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new DbaasError('USAGE', `"${url}" is not a URL; give e.g. https://db-host.example:8000`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new DbaasError('USAGE', `${url}: the URL must be http:// or https://`);
    const target: RemoteTarget = { url: url.replace(/\/+$/, ''), token, ...(opts.caFile ? { ca: readCa(opts.caFile) } : {}) };
    // Checked before it is saved: a wrong token or an untrusted certificate saves nothing.
    const { instances } = await new ApiClient(target).call<{ instances: unknown[] }>('GET', '/instances');
    const file = await saveCredentials(target);
    if (opts.json) return printJson({ url: target.url, credentials: file, instances: instances.length });
    process.stdout.write(`logged in to ${target.url} (${instances.length} instance${instances.length === 1 ? '' : 's'} visible); saved in ${file}\n`);
  });
}

export async function logout(opts: CommonOptions): Promise<void> {
  const removed = removeCredentials();
  if (opts.json) return printJson({ loggedOut: removed });
  process.stdout.write(removed ? 'logged out; commands work on this host again\n' : 'not logged in\n');
}
