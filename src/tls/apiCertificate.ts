import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { certificateInfo, ensureCa, issueServerCertificate, type CaInfo } from './ca.js';

/**
 * The API's certificate for `dbaas serve --tls auto`: issued by the local CA (config/ca/) for the
 * names the server is reached by, kept beside the CA, and issued again when a name is missing or
 * it has less than 30 days left.
 */

const RENEW_BEFORE_MS = 30 * 86_400_000;

export interface ApiCertificate {
  cert: string;
  key: string;
  ca: CaInfo;
  certPath: string;
}

/** The names a client may use to reach an API listening on `host` (plus the configured public one). */
export function apiNames(host: string, publicHost: string | undefined): { dnsNames: string[]; ipAddresses: string[] } {
  const names = new Set(['localhost', hostname(), ...(publicHost ? [publicHost] : [])]);
  const ips = new Set(['127.0.0.1', '::1']);
  if (isIP(host) && host !== '0.0.0.0' && host !== '::') ips.add(host);
  else if (!isIP(host) && host) names.add(host);
  for (const name of [...names]) {
    if (isIP(name)) {
      names.delete(name);
      ips.add(name);
    }
  }
  return { dnsNames: [...names].map((n) => n.toLowerCase()), ipAddresses: [...ips] };
}

export async function ensureApiCertificate(caDir: string, host: string, publicHost: string | undefined): Promise<ApiCertificate> {
  const ca = await ensureCa(caDir);
  const certPath = join(caDir, 'api.crt');
  const keyPath = join(caDir, 'api.key');
  const wanted = apiNames(host, publicHost);
  if (existsSync(certPath) && existsSync(keyPath)) {
    const cert = readFileSync(certPath, 'utf8');
    const info = certificateInfo(cert);
    const covers = wanted.dnsNames.every((n) => info.dnsNames.includes(n)) && wanted.ipAddresses.every((ip) => info.ipAddresses.includes(ip));
    if (covers && info.notAfter.getTime() - Date.now() > RENEW_BEFORE_MS && info.issuer === ca.subject) {
      return { cert, key: readFileSync(keyPath, 'utf8'), ca, certPath };
    }
  }
  const issued = await issueServerCertificate(ca, { commonName: wanted.dnsNames[0] ?? 'localhost', ...wanted });
  // The key first: a certificate is never left beside a key it does not match for longer than a rename.
  await writeFileAtomic(keyPath, issued.keyPem, { mode: 0o600 });
  await writeFileAtomic(certPath, issued.certPem, { mode: 0o644 });
  return { cert: issued.certPem, key: issued.keyPem, ca, certPath };
}
