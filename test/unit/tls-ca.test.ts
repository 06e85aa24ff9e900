import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { certificateInfo, ensureCa, issueServerCertificate, loadCa, parseSubjectAltName } from '../../src/tls/ca.js';

const root = mkdtempSync(join(tmpdir(), 'dbaas-tls-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
const freshDir = (): string => join(root, `config-${++dirs}`, 'ca');

describe('ensureCa', () => {
  it('makes the CA once, with private files, and reuses it', async () => {
    const dir = freshDir();
    const ca = await ensureCa(dir);
    expect(ca.certPath).toBe(join(dir, 'ca.crt'));
    expect(ca.keyPath).toBe(join(dir, 'ca.key'));
    expect(statSync(ca.keyPath).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir).sort()).toEqual(['ca.crt', 'ca.key']); // no temp files left
    expect(ca.fingerprintSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);

    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toMatch(/^CN=dbaas local CA [0-9a-f]{8}$/);
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const years = (ca.notAfter.getTime() - Date.now()) / (365.25 * 86_400_000);
    expect(years).toBeGreaterThan(9.9);
    expect(years).toBeLessThan(10.1);
    const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', ca.certPath], { encoding: 'utf8' });
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);

    const keyBefore = readFileSync(ca.keyPath, 'utf8');
    const again = await ensureCa(dir);
    expect(again.fingerprintSha256).toBe(ca.fingerprintSha256);
    expect(readFileSync(ca.keyPath, 'utf8')).toBe(keyBefore);
    expect((await loadCa(dir))?.fingerprintSha256).toBe(ca.fingerprintSha256);
    expect(await loadCa(freshDir())).toBeNull();
  });

  it('gives one CA to concurrent callers', async () => {
    const dir = freshDir();
    const all = await Promise.all(Array.from({ length: 6 }, () => ensureCa(dir)));
    expect(new Set(all.map((ca) => ca.fingerprintSha256)).size).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(['ca.crt', 'ca.key']);
    expect((await ensureCa(dir)).fingerprintSha256).toBe(all[0]?.fingerprintSha256);
  });

  it('remakes a lost certificate for the existing key, never a new key', async () => {
    const dir = freshDir();
    const ca = await ensureCa(dir);
    const key = readFileSync(ca.keyPath, 'utf8');
    rmSync(ca.certPath);
    const again = await ensureCa(dir);
    expect(readFileSync(again.keyPath, 'utf8')).toBe(key);
    expect(new X509Certificate(again.certPem).checkPrivateKey((await import('node:crypto')).createPrivateKey(key))).toBe(true);
  });

  it('refuses a certificate without its key, and a key that is not the certificate\'s', async () => {
    const a = await ensureCa(freshDir());
    const b = await ensureCa(freshDir());
    const orphan = freshDir();
    await ensureCa(orphan);
    rmSync(join(orphan, 'ca.key'));
    await expect(ensureCa(orphan)).rejects.toThrow(/exists without/);
    writeFileSync(a.certPath, b.certPem);
    await expect(ensureCa(join(a.certPath, '..'))).rejects.toThrow(/does not belong to the key/);
  });

  it('tightens a key that became readable by others', async () => {
    const ca = await ensureCa(freshDir());
    const { chmodSync } = await import('node:fs');
    chmodSync(ca.keyPath, 0o644);
    await ensureCa(join(ca.keyPath, '..'));
    expect(statSync(ca.keyPath).mode & 0o777).toBe(0o600);
  });

  it('says so when openssl is missing', async () => {
    await expect(ensureCa(freshDir(), { openssl: '/nonexistent/openssl' })).rejects.toThrow(/openssl not found: install the openssl package/);
  });
});

describe('issueServerCertificate', () => {
  const caDir = freshDir();

  it('issues a leaf the CA verifies, with the SANs asked for', async () => {
    const ca = await ensureCa(caDir);
    const caCert = new X509Certificate(ca.certPem);
    const leaf = await issueServerCertificate(ca, {
      commonName: 'dbaas-orders',
      dnsNames: ['localhost', 'orders.db.internal', 'LOCALHOST'],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // extendedKeyUsage serverAuth
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkHost('orders.db.internal')).toBe('orders.db.internal');
    expect(cert.checkHost('other.db.internal')).toBeUndefined();
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkIP('10.0.0.1')).toBeUndefined();
    expect(leaf.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(leaf.serial).toBe(cert.serialNumber);
    const days = (leaf.notAfter.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(396);
    expect(days).toBeLessThanOrEqual(397);

    const info = certificateInfo(leaf.certPem);
    expect(info.commonName).toBe('dbaas-orders');
    expect(info.dnsNames).toEqual(['localhost', 'orders.db.internal']); // LOCALHOST was a duplicate
    expect(info.ipAddresses).toHaveLength(2);
    expect(info.ipAddresses[0]).toBe('127.0.0.1');
    expect(info.issuer).toBe(new X509Certificate(ca.certPem).subject);
    expect(info.isCa).toBe(false);
    expect(info.notAfter.getTime()).toBe(leaf.notAfter.getTime());
    expect(info.notBefore.getTime()).toBeLessThanOrEqual(Date.now());
    expect(info.fingerprintSha256).toBe(cert.fingerprint256);

    // the extensions, as openssl itself prints them
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: leaf.certPem, encoding: 'utf8' });
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication/);
    expect(text).toMatch(/Subject Alternative Name:\s+DNS:localhost, DNS:orders.db.internal, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1/);
  });

  it('gives each certificate its own key and serial, and takes a validity in days', async () => {
    const ca = await ensureCa(caDir);
    const a = await issueServerCertificate(ca, { commonName: 'a', dnsNames: ['a.local'], ipAddresses: [], days: 30 });
    const b = await issueServerCertificate(ca, { commonName: 'b', dnsNames: [], ipAddresses: ['10.231.9.1'] });
    expect(a.serial).not.toBe(b.serial);
    expect(a.keyPem).not.toBe(b.keyPem);
    expect(Math.round((a.notAfter.getTime() - Date.now()) / 86_400_000)).toBe(30);
    await expect(issueServerCertificate(ca, { commonName: 'c', dnsNames: ['c'], ipAddresses: [], days: 0 })).rejects.toThrow(/days must be/);
    await expect(issueServerCertificate(ca, { commonName: 'c', dnsNames: ['c'], ipAddresses: [], days: 1.5 })).rejects.toThrow(/days must be/);
  });

  it('refuses names and addresses that are not plain', async () => {
    const ca = await ensureCa(caDir);
    const issue = (dnsNames: string[], ipAddresses: string[] = [], commonName = 'x') =>
      issueServerCertificate(ca, { commonName, dnsNames, ipAddresses });
    await expect(issue(['bad name'])).rejects.toThrow(/DNS name "bad name" is not valid/);
    await expect(issue(['a\nDNS.2 = evil.example'])).rejects.toThrow(/is not valid/);
    await expect(issue(['${ENV::HOME}'])).rejects.toThrow(/is not valid/);
    await expect(issue(['-leading.example'])).rejects.toThrow(/is not valid/);
    await expect(issue(['trailing.example.'])).rejects.toThrow(/is not valid/);
    await expect(issue(['a'.repeat(64) + '.example'])).rejects.toThrow(/is not valid/);
    await expect(issue(['under_score.example'])).rejects.toThrow(/is not valid/);
    await expect(issue(['*'])).rejects.toThrow(/wildcard/);
    await expect(issue(['127.0.0.1'])).rejects.toThrow(/pass it in ipAddresses/);
    await expect(issue([''])).rejects.toThrow(/non-empty/);
    await expect(issue([], ['300.1.1.1'])).rejects.toThrow(/not an IPv4 or IPv6 address/);
    await expect(issue([], ['10.0.0.0/8'])).rejects.toThrow(/not an IPv4 or IPv6 address/);
    await expect(issue([], ['fe80::1%eth0'])).rejects.toThrow(/not an IPv4 or IPv6 address/);
    await expect(issue([], ['127.0.0.1, IP:10.0.0.1'])).rejects.toThrow(/not an IPv4 or IPv6 address/);
    await expect(issue([], [])).rejects.toThrow(/at least one DNS name or IP address/);
    await expect(issue(['ok.example'], [], 'evil\n[v3_server]')).rejects.toThrow(/common name/);
    await expect(issue(['ok.example'], [], '$HOME')).rejects.toThrow(/common name/);
    await expect(issue(['ok.example'], [], '')).rejects.toThrow(/common name/);
    // and a wildcard, IPv6 and a spaced common name are fine
    const ok = await issue(['*.db.internal'], ['fd00::5'], 'dbaas instance orders');
    expect(new X509Certificate(ok.certPem).checkHost('orders.db.internal')).toBe('*.db.internal');
    expect(new X509Certificate(ok.certPem).checkHost('a.b.db.internal')).toBeUndefined();
    expect(certificateInfo(ok.certPem).commonName).toBe('dbaas instance orders');
  });

  it('leaves no key behind in the temp folder', async () => {
    const ca = await ensureCa(caDir);
    const before = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('dbaas-tls-') && !n.startsWith('dbaas-tls-test-')));
    await issueServerCertificate(ca, { commonName: 'x', dnsNames: ['x.local'], ipAddresses: [] });
    const after = readdirSync(tmpdir()).filter((n) => n.startsWith('dbaas-tls-') && !n.startsWith('dbaas-tls-test-') && !before.has(n));
    expect(after).toEqual([]);
  });
});

describe('a real TLS handshake', () => {
  const caDir = freshDir();

  async function serve(certPem: string, keyPem: string): Promise<{ port: number; close: () => Promise<void> }> {
    const server = tls.createServer({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2' }, (socket) => socket.end('hello\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as AddressInfo).port,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  function connect(port: number, ca: string, servername: string | undefined): Promise<{ authorized: boolean; data: string }> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca, ...(servername ? { servername } : {}), rejectUnauthorized: true }, () => {
        let data = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (data += chunk));
        socket.on('end', () => resolve({ authorized: socket.authorized, data }));
      });
      socket.on('error', reject);
    });
  }

  it('verifies the issued certificate by name and by IP, and refuses other names', async () => {
    const ca = await ensureCa(caDir);
    const leaf = await issueServerCertificate(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const server = await serve(leaf.certPem, leaf.keyPem);
    try {
      expect(await connect(server.port, ca.certPem, 'localhost')).toEqual({ authorized: true, data: 'hello\n' });
      // no servername: node checks the host, 127.0.0.1, against the IP SANs
      expect(await connect(server.port, ca.certPem, undefined)).toEqual({ authorized: true, data: 'hello\n' });
      await expect(connect(server.port, ca.certPem, 'elsewhere.example')).rejects.toThrow(/Hostname\/IP does not match certificate's altnames/);
      // another CA does not vouch for it
      const other = await ensureCa(freshDir());
      await expect(connect(server.port, other.certPem, 'localhost')).rejects.toMatchObject({ code: expect.stringMatching(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/) });
    } finally {
      await server.close();
    }
  });

  it('parses node\'s subjectAltName text, quoted values included', () => {
    expect(parseSubjectAltName('DNS:a.example, IP Address:127.0.0.1, DNS:"odd, name", URI:http://x')).toEqual({
      dnsNames: ['a.example', 'odd, name'],
      ipAddresses: ['127.0.0.1'],
    });
    expect(parseSubjectAltName(undefined)).toEqual({ dnsNames: [], ipAddresses: [] });
    expect(existsSync(root)).toBe(true);
  });
});
