import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCa, issueServerCertificate, type CaInfo } from '../../src/tls/ca.js';
import { reachableNames, reissueReason, RENEW_BEFORE_MS } from '../../src/tls/certificates.js';

/** When a server certificate of the local CA is issued again, and what it must name. */

let dir: string;
let ca: CaInfo;
let other: CaInfo;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dbaas-certs-'));
  ca = await ensureCa(join(dir, 'ca'));
  other = await ensureCa(join(dir, 'other'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('reachableNames', () => {
  it('names loopback, this host, the bind address and the public name; never a wildcard address', () => {
    expect(reachableNames('10.1.2.3', 'db.example')).toEqual({ dnsNames: ['localhost', hostname().toLowerCase(), 'db.example'], ipAddresses: ['127.0.0.1', '::1', '10.1.2.3'] });
    expect(reachableNames('0.0.0.0', undefined).ipAddresses).toEqual(['127.0.0.1', '::1']);
    expect(reachableNames('127.0.0.1', '192.0.2.7').ipAddresses).toEqual(['127.0.0.1', '::1', '192.0.2.7']);
  });
});

describe('reissueReason', () => {
  const wanted = reachableNames('10.1.2.3', undefined);

  it('keeps a certificate that names every address (::1 however it is spelled) and has time left', async () => {
    const cert = await issueServerCertificate(ca, { commonName: 'localhost', ...wanted });
    expect(reissueReason(cert.certPem, ca, wanted)).toBeNull();
  });

  it('issues again when there is none, an address is missing, another CA issued it, or the end is near', async () => {
    expect(reissueReason(null, ca, wanted)).toBe('none yet');
    const narrow = await issueServerCertificate(ca, { commonName: 'localhost', dnsNames: wanted.dnsNames, ipAddresses: ['127.0.0.1', '::1'] });
    expect(reissueReason(narrow.certPem, ca, wanted)).toBe('it does not name 10.1.2.3');
    const foreign = await issueServerCertificate(other, { commonName: 'localhost', ...wanted });
    expect(reissueReason(foreign.certPem, ca, wanted)).toBe('another CA issued it');
    const cert = await issueServerCertificate(ca, { commonName: 'localhost', ...wanted, days: 10 });
    expect(reissueReason(cert.certPem, ca, wanted)).toMatch(/^it ends /);
    expect(reissueReason(cert.certPem, ca, wanted, cert.notAfter.getTime() - RENEW_BEFORE_MS - 86_400_000 * 30)).toBeNull();
    expect(reissueReason('not a certificate', ca, wanted)).toBe('the file does not parse');
  });
});
