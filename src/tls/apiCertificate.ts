import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { ensureCa, issueServerCertificate, type CaInfo } from './ca.js';
import { reachableNames, reissueReason } from './certificates.js';

/**
 * The API's certificate for `dbaas serve --tls auto`: issued by the local CA (config/ca/) for the
 * names the server is reached by, kept beside the CA, and issued again when a name is missing or
 * it has less than 30 days left.
 */

export interface ApiCertificate {
  cert: string;
  key: string;
  ca: CaInfo;
  certPath: string;
}

export async function ensureApiCertificate(caDir: string, host: string, publicHost: string | undefined): Promise<ApiCertificate> {
  const ca = await ensureCa(caDir);
  const certPath = join(caDir, 'api.crt');
  const keyPath = join(caDir, 'api.key');
  const wanted = reachableNames(host, publicHost);
  const existing = existsSync(certPath) && existsSync(keyPath) ? readFileSync(certPath, 'utf8') : null;
  if (existing !== null && reissueReason(existing, ca, wanted) === null) return { cert: existing, key: readFileSync(keyPath, 'utf8'), ca, certPath };
  const issued = await issueServerCertificate(ca, { commonName: wanted.dnsNames[0] ?? 'localhost', ...wanted });
  // The key first: a certificate is never left beside a key it does not match for longer than a rename.
  await writeFileAtomic(keyPath, issued.keyPem, { mode: 0o600 });
  await writeFileAtomic(certPath, issued.certPem, { mode: 0o644 });
  return { cert: issued.certPem, key: issued.keyPem, ca, certPath };
}
