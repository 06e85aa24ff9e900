import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { chmod, link, lstat, mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCommonName, checkDays, checkDnsName, checkIpAddress } from './names.js';
import { DEFAULT_OPENSSL, openssl } from './openssl.js';

/**
 * A local certificate authority for the TLS of instances. It lives in one folder (the caller
 * passes `config/ca/`, mode 0700): `ca.key` (ECDSA P-256, mode 0600) and `ca.crt` (self-signed,
 * CA:TRUE, pathlen 0, keyCertSign and cRLSign, ten years). Clients trust `ca.crt`; every server
 * certificate dbaas hands out is signed by `ca.key`.
 *
 * Making the CA is idempotent and safe when several processes do it at once: files are written
 * in a private temp folder beside the final ones and published with link(), which fails with
 * EEXIST instead of replacing, so the first key (and then the first certificate) to land is the
 * one everybody uses, and an existing key is never overwritten. When a crash left `ca.key`
 * without `ca.crt`, the certificate is made again for that same key.
 *
 * Signing runs the openssl command-line tool without a shell; reading certificates uses node's
 * X509Certificate. Every value that reaches an openssl config file is checked first (names.ts).
 */

export const CA_KEY_FILE = 'ca.key';
export const CA_CERT_FILE = 'ca.crt';
export const CA_DAYS = 3650;
export const DEFAULT_SERVER_DAYS = 397;
export const MAX_SERVER_DAYS = 3650;
const MAX_SANS = 100;
const DAY_MS = 86_400_000;
/** Temp folders a crashed writer left in the CA folder are removed after this long. */
const STALE_TEMP_MS = 3_600_000;

export interface CaInfo {
  certPath: string;
  keyPath: string;
  certPem: string;
  /** SHA-256 of the DER certificate, as colon-separated upper-case hex (openssl's and node's format). */
  fingerprintSha256: string;
  notAfter: Date;
  /** The subject line, e.g. `CN=dbaas local CA 3f9a1c07`. */
  subject: string;
}

export interface TlsToolOptions {
  /** The openssl binary (default: `openssl` on PATH). */
  openssl?: string;
}

export interface ServerCertificateRequest {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  /** Validity in days (default 397, at most 3650); never beyond the CA's own end. */
  days?: number;
}

export interface ServerCertificate {
  certPem: string;
  /** PKCS#8 PEM of the ECDSA P-256 key: write it with mode 0600. */
  keyPem: string;
  notAfter: Date;
  /** The serial number as upper-case hex (node's format). */
  serial: string;
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  commonName: string | null;
  dnsNames: string[];
  ipAddresses: string[];
  notBefore: Date;
  notAfter: Date;
  fingerprintSha256: string;
  serial: string;
  isCa: boolean;
}

/** Makes the CA in `dir` once and returns it; later calls (and concurrent ones) return the same CA. */
export async function ensureCa(dir: string, options: TlsToolOptions = {}): Promise<CaInfo> {
  const bin = options.openssl ?? DEFAULT_OPENSSL;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const keyPath = join(dir, CA_KEY_FILE);
  const certPath = join(dir, CA_CERT_FILE);

  let keyPem = await readIfExists(keyPath);
  let certPem = await readIfExists(certPath);
  if (keyPem === undefined && certPem !== undefined) {
    throw new Error(
      `${certPath} exists without ${keyPath}: restore the key, or remove ${certPath} to make a new CA (every certificate the old one issued must then be reissued)`,
    );
  }
  if (keyPem === undefined || certPem === undefined) {
    await removeStaleTemps(dir);
    const work = await mkdtemp(join(dir, '.tmp-'));
    try {
      if (keyPem === undefined) {
        const tmpKey = join(work, CA_KEY_FILE);
        await generateKey(tmpKey, bin);
        await publish(tmpKey, keyPath); // loses quietly to a key another process published first
        keyPem = await readFile(keyPath, 'utf8');
      }
      certPem = await readIfExists(certPath);
      if (certPem === undefined) {
        const tmpCert = join(work, CA_CERT_FILE);
        await selfSign(keyPath, tmpCert, work, bin);
        await publish(tmpCert, certPath);
        certPem = await readFile(certPath, 'utf8');
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
  await tightenKey(keyPath);
  return caInfoOf(certPath, keyPath, certPem, keyPem);
}

/** The CA in `dir` when both of its files are there, else null (never makes anything). */
export async function loadCa(dir: string): Promise<CaInfo | null> {
  const keyPath = join(dir, CA_KEY_FILE);
  const certPath = join(dir, CA_CERT_FILE);
  const keyPem = await readIfExists(keyPath);
  const certPem = await readIfExists(certPath);
  if (keyPem === undefined || certPem === undefined) return null;
  return caInfoOf(certPath, keyPath, certPem, keyPem);
}

/** Issues a server certificate (and a new key) signed by the CA. Nothing is left on disk. */
export async function issueServerCertificate(
  ca: Pick<CaInfo, 'certPath' | 'keyPath'>,
  request: ServerCertificateRequest,
  options: TlsToolOptions = {},
): Promise<ServerCertificate> {
  const bin = options.openssl ?? DEFAULT_OPENSSL;
  const commonName = checkCommonName(request.commonName);
  if (!Array.isArray(request.dnsNames) || !Array.isArray(request.ipAddresses)) throw new Error('dnsNames and ipAddresses must be arrays');
  const dnsNames = unique(request.dnsNames.map(checkDnsName), (n) => n.toLowerCase());
  const ipAddresses = unique(request.ipAddresses.map(checkIpAddress), (ip) => ip.toLowerCase());
  if (dnsNames.length + ipAddresses.length === 0) throw new Error('a server certificate needs at least one DNS name or IP address (clients ignore the common name)');
  if (dnsNames.length + ipAddresses.length > MAX_SANS) throw new Error(`a server certificate takes at most ${MAX_SANS} names and addresses`);

  const caPem = await readIfExists(ca.certPath);
  if (caPem === undefined) throw new Error(`the CA certificate ${ca.certPath} is missing`);
  let caCert: X509Certificate;
  try {
    caCert = new X509Certificate(caPem);
  } catch (err) {
    throw new Error(`${ca.certPath} is not a PEM certificate: ${(err as Error).message}`);
  }
  const caEnd = new Date(caCert.validTo).getTime();
  const caDaysLeft = Math.floor((caEnd - Date.now()) / DAY_MS);
  if (caDaysLeft < 1) throw new Error(`the CA ${ca.certPath} expires on ${new Date(caEnd).toISOString()}: it cannot issue certificates any more`);
  const days = Math.min(checkDays(request.days ?? DEFAULT_SERVER_DAYS, MAX_SERVER_DAYS), caDaysLeft);

  const work = await mkdtemp(join(tmpdir(), 'dbaas-tls-')); // 0700: the key is never readable by others
  try {
    const keyFile = join(work, 'server.key');
    const csrFile = join(work, 'server.csr');
    const certFile = join(work, 'server.crt');
    const confFile = join(work, 'openssl.cnf');
    await generateKey(keyFile, bin);
    const alt = [...dnsNames.map((n, i) => `DNS.${i + 1} = ${n}`), ...ipAddresses.map((ip, i) => `IP.${i + 1} = ${ip}`)];
    await writeFile(
      confFile,
      [
        '[req]',
        'distinguished_name = dn',
        'prompt = no',
        'utf8 = yes',
        '[dn]',
        `CN = ${commonName}`,
        '[v3_server]',
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature, keyEncipherment',
        'extendedKeyUsage = serverAuth',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid, issuer',
        'subjectAltName = @alt',
        '[alt]',
        ...alt,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    await openssl(['req', '-new', '-config', confFile, '-key', keyFile, '-out', csrFile], bin);
    await openssl(
      ['x509', '-req', '-in', csrFile, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', randomSerial(), '-days', String(days), '-sha256',
        '-extfile', confFile, '-extensions', 'v3_server', '-out', certFile],
      bin,
    );
    const certPem = await readFile(certFile, 'utf8');
    const keyPem = await readFile(keyFile, 'utf8');
    const leaf = new X509Certificate(certPem);
    if (!leaf.checkIssued(caCert) || !leaf.verify(caCert.publicKey)) throw new Error(`openssl made a certificate that ${ca.certPath} does not verify`);
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) throw new Error('openssl made a certificate that does not match its key');
    return { certPem, keyPem, notAfter: new Date(leaf.validTo), serial: leaf.serialNumber };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** What a PEM certificate says (the first one, when `pem` holds a chain). */
export function certificateInfo(pem: string | Buffer): CertificateInfo {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new Error(`not a PEM certificate: ${(err as Error).message}`);
  }
  const { dnsNames, ipAddresses } = parseSubjectAltName(cert.subjectAltName);
  const cn = cert.subject.split('\n').find((line) => line.startsWith('CN='));
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    commonName: cn ? cn.slice(3) : null,
    dnsNames,
    ipAddresses,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprintSha256: cert.fingerprint256,
    serial: cert.serialNumber,
    isCa: cert.ca,
  };
}

/** Splits node's subjectAltName text (`DNS:a, IP Address:127.0.0.1`, values JSON-quoted when odd). */
export function parseSubjectAltName(text: string | undefined): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  if (!text) return { dnsNames, ipAddresses };
  const entry = /(?:^|,\s*)([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (const m of text.matchAll(entry)) {
    const kind = m[1] ?? '';
    let value = m[2] ?? '';
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        /* keep it as it is */
      }
    }
    if (kind === 'DNS') dnsNames.push(value);
    else if (kind === 'IP Address') ipAddresses.push(value);
  }
  return { dnsNames, ipAddresses };
}

function caInfoOf(certPath: string, keyPath: string, certPem: string, keyPem: string): CaInfo {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new Error(`${certPath} is not a PEM certificate: ${(err as Error).message}`);
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new Error(`${keyPath} is not a PEM private key: ${(err as Error).message}`);
  }
  if (!cert.ca) throw new Error(`${certPath} is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  if (!cert.checkPrivateKey(key)) throw new Error(`${certPath} does not belong to the key ${keyPath}`);
  return {
    certPath,
    keyPath,
    certPem,
    fingerprintSha256: cert.fingerprint256,
    notAfter: new Date(cert.validTo),
    subject: cert.subject.replace(/\n/g, ', '),
  };
}

async function generateKey(path: string, bin: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-pkeyopt', 'ec_param_enc:named_curve', '-out', path], bin);
  await chmod(path, 0o600);
}

async function selfSign(keyPath: string, certFile: string, work: string, bin: string): Promise<void> {
  const confFile = join(work, 'ca.cnf');
  const id = randomBytes(4).toString('hex');
  await writeFile(
    confFile,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      `CN = dbaas local CA ${id}`,
      '[v3_ca]',
      'basicConstraints = critical, CA:TRUE, pathlen:0',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid:always',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  await openssl(
    ['req', '-new', '-x509', '-config', confFile, '-extensions', 'v3_ca', '-key', keyPath, '-days', String(CA_DAYS), '-sha256',
      '-set_serial', randomSerial(), '-out', certFile],
    bin,
  );
}

/** Hard-links a finished file into place; false when another process got there first. */
async function publish(tmp: string, final: string): Promise<boolean> {
  const fh = await open(tmp, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, final);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new Error(`cannot write ${final}: ${(err as Error).message}`);
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
}

async function tightenKey(keyPath: string): Promise<void> {
  const st = await lstat(keyPath);
  if (!st.isFile()) throw new Error(`${keyPath} is not a regular file`);
  if ((st.mode & 0o077) !== 0) await chmod(keyPath, 0o600);
}

async function removeStaleTemps(dir: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith('.tmp-')) continue;
    const path = join(dir, name);
    const st = await lstat(path).catch(() => null);
    if (st && now - st.mtimeMs > STALE_TEMP_MS) await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** A random positive 127-bit serial, as openssl's `0x` hex. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x10;
  return `0x${bytes.toString('hex')}`;
}

function unique<T>(values: T[], keyOf: (v: T) => string): T[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const k = keyOf(v);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
