import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { certificateInfo, type CaInfo } from './ca.js';

/**
 * What a server certificate of the local CA must name, and when one must be issued again: the
 * API's (apiCertificate.ts) and every instance's server's (instances/serverTls.ts).
 */

/** Issued again this long before its end. */
export const RENEW_BEFORE_MS = 30 * 86_400_000;

export interface CertificateNames {
  dnsNames: string[];
  ipAddresses: string[];
}

/**
 * The names a client may use to reach a server listening on `host`: localhost, this host's
 * name, loopback, the address itself when it is one (not a wildcard), and the configured public
 * host name or address.
 */
export function reachableNames(host: string, publicHost: string | undefined): CertificateNames {
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

/** One spelling per address: a certificate lists ::1 as 0:0:0:0:0:0:0:1. */
function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
}

/** Why a certificate must be issued (again), or null when the one there will do. */
export function reissueReason(certPem: string | null, ca: CaInfo, wanted: CertificateNames, now = Date.now()): string | null {
  if (certPem === null) return 'none yet';
  let info;
  try {
    info = certificateInfo(certPem);
  } catch {
    return 'the file does not parse';
  }
  if (info.issuer !== ca.subject) return 'another CA issued it';
  const named = new Set(info.ipAddresses.map(canonicalIp));
  const missing = [...wanted.dnsNames.filter((n) => !info.dnsNames.includes(n)), ...wanted.ipAddresses.filter((ip) => !named.has(canonicalIp(ip)))];
  if (missing.length > 0) return `it does not name ${missing.join(', ')}`;
  if (info.notAfter.getTime() - now < RENEW_BEFORE_MS) return `it ends ${info.notAfter.toISOString()}`;
  return null;
}
