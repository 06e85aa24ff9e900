import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DbaasError } from '../errors.js';
import { containerNameFor } from '../provisioner/provisioner.js';
import { certificateInfo, ensureCa, issueServerCertificate } from '../tls/ca.js';
import { reachableNames, reissueReason } from '../tls/certificates.js';
import type { InstanceDeps } from './deps.js';
import type { InstanceRecord } from './schema.js';

/**
 * TLS for an instance's server, and who may log in to it: the certificate and key the
 * installation's CA issues it (for every name and address a client dials it by), and the
 * pg_hba.conf that lets this host and dbaas's own network in plain SCRAM, everyone else over TLS
 * only, from the instance's allowed networks. The files live in `instances/<id>/server/`, owned
 * by the server's OS user (PostgreSQL refuses a key another user owns or others can read); see
 * docs/tls-postgres.md for what was measured. Written before every start; a running server reads
 * changes on a reload.
 */

export interface ServerTlsState {
  notAfter: string | null;
  fingerprintSha256: string | null;
}

export interface EnsureResult {
  /** Why a certificate was issued, or null when the one there was kept. */
  issued: string | null;
  notAfter: string;
  serial: string;
}

export class ServerTls {
  constructor(private readonly deps: Pick<InstanceDeps, 'settings' | 'paths' | 'provisioner' | 'engine' | 'logger'>) {}

  /**
   * Writes the server's certificate and key (issued when there is none, when it does not name
   * the instance's addresses, was issued by another CA, ends within 30 days, or `rotate`), and
   * its pg_hba.conf.
   */
  async ensure(record: InstanceRecord, options: { rotate?: boolean } = {}): Promise<EnsureResult> {
    const { paths, provisioner, settings, logger } = this.deps;
    const files = provisioner.files(record.id);
    const ca = await ensureCa(paths.caDir).catch((err: Error) => {
      throw new DbaasError('OPERATION_FAILED', `cannot make or read the local CA (${paths.caDir}): ${err.message}`);
    });
    const owner = await this.serverOwner(record);
    mkdirSync(files.serverDir, { recursive: true, mode: 0o700 });
    this.own(files.serverDir, owner, 0o700);
    const wanted = reachableNames(record.bindAddress, settings.connectHost);
    const existing = existsSync(files.serverCertPath) && existsSync(files.serverKeyPath) ? readFileSync(files.serverCertPath, 'utf8') : null;
    const reason = options.rotate ? 'a rotation was asked for' : reissueReason(existing, ca, wanted);
    if (reason) {
      const issued = await issueServerCertificate(ca, { commonName: wanted.dnsNames[0] ?? 'localhost', ...wanted }).catch((err: Error) => {
        throw new DbaasError('OPERATION_FAILED', `cannot issue the server certificate of ${record.name}: ${err.message}`);
      });
      // The key first: a reload between the two renames keeps the old pair (PostgreSQL checks
      // that they match), and the pair is whole a moment later.
      this.writeOwned(files.serverKeyPath, issued.keyPem, owner, 0o600);
      this.writeOwned(files.serverCertPath, issued.certPem, owner, 0o644);
      logger.info('issued the server certificate', { instance: record.id, reason, notAfter: issued.notAfter.toISOString() });
    }
    this.writeOwned(files.hbaPath, provisioner.renderHba(record), owner, 0o600);
    const info = certificateInfo(readFileSync(files.serverCertPath, 'utf8'));
    return { issued: reason, notAfter: info.notAfter.toISOString(), serial: info.serial };
  }

  /** Makes the running server read its certificate, key and pg_hba.conf again (a reload, no restart). */
  async reload(record: InstanceRecord): Promise<void> {
    const result = await this.deps.engine.execute(containerNameFor(record), {
      argv: ['psql', '-X', '-q', '-A', '-t', '-U', 'postgres', '-d', 'postgres', '-c', 'SELECT pg_reload_conf()'],
      user: 'postgres',
      timeoutMs: 30_000,
    });
    if (result.exitCode !== 0 || result.output.trim() !== 't') {
      throw new DbaasError('OPERATION_FAILED', `the server of ${record.name} did not reload its configuration: ${result.output.trim()}`);
    }
  }

  /** The certificate's end and fingerprint, for the instance's view (nulls before the first). */
  state(record: InstanceRecord): ServerTlsState {
    const path = this.deps.provisioner.files(record.id).serverCertPath;
    try {
      const info = certificateInfo(readFileSync(path, 'utf8'));
      return { notAfter: info.notAfter.toISOString(), fingerprintSha256: info.fingerprintSha256 };
    } catch {
      return { notAfter: null, fingerprintSha256: null };
    }
  }

  /**
   * The OS user the server runs as: the owner of its data folder once the image's entrypoint (or
   * the template it was copied from) made it so, else the image's `postgres` user, asked of the
   * image in a one-off container.
   */
  private async serverOwner(record: InstanceRecord): Promise<{ uid: number; gid: number }> {
    const dataDir = this.deps.provisioner.files(record.id).dataDir;
    const data = existsSync(dataDir) ? statSync(dataDir) : null;
    if (data && data.uid !== 0) return { uid: data.uid, gid: data.gid };
    const output = await this.deps.engine.runJob(record.image, {
      purpose: `read the server's OS user of ${record.image}`,
      label: 'server-user',
      argv: ['sh', '-c', 'id -u postgres && id -g postgres'],
      mounts: [],
      timeoutMs: 60_000,
    });
    const [uid, gid] = output.trim().split(/\s+/).map(Number);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
      throw new DbaasError('OPERATION_FAILED', `cannot tell the server's OS user of ${record.image}: "${output.trim()}"`);
    }
    return { uid: uid as number, gid: gid as number };
  }

  /** Writes a file as the server's user with `mode`, renamed into place (the folder is mounted, so the server sees it at once). */
  private writeOwned(path: string, text: string, owner: { uid: number; gid: number }, mode: number): void {
    const temp = join(path, '..', `.${process.pid}.${Date.now()}.tmp`);
    writeFileSync(temp, text, { mode });
    this.own(temp, owner, mode);
    renameSync(temp, path);
  }

  private own(path: string, owner: { uid: number; gid: number }, mode: number): void {
    try {
      chownSync(path, owner.uid, owner.gid);
      chmodSync(path, mode);
    } catch (err) {
      throw new DbaasError(
        'OPERATION_FAILED',
        `cannot give ${path} to the server's OS user (${owner.uid}:${owner.gid}): ${(err as Error).message}; dbaas must run as root to write the server's TLS key`,
      );
    }
  }
}
