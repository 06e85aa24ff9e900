import { hostname } from 'node:os';
import { join } from 'node:path';
import { runtimePaths, type Settings } from '../config/settings.js';
import { CA_CERT_FILE } from '../tls/ca.js';
import { effectiveSettings } from './pgSettings.js';
import type { Recoveries } from './recoveries.js';
import type { ConnectionInfo, InstanceRecord, InstanceStatus, InstanceView } from './schema.js';
import { formatSize } from './size.js';

/** The host a client should dial: the configured one, else the bind address (or this host for 0.0.0.0). */
export function connectHost(settings: Settings, bindAddress: string): string {
  if (settings.connectHost) return settings.connectHost;
  return bindAddress === '0.0.0.0' ? hostname() : bindAddress;
}

/** The address dbaas itself dials to check an instance: loopback when it listens everywhere. */
export function localDialHost(bindAddress: string): string {
  return bindAddress === '0.0.0.0' ? '127.0.0.1' : bindAddress;
}

/**
 * A postgresql:// URL. With `rootCert` it asks for TLS with the server's certificate checked
 * against that CA file and its name against the host (verify-full): libpq and node-postgres both
 * read `sslrootcert` from the URL.
 */
export function connectionString(parts: {
  host: string;
  port: number;
  database: string;
  username: string;
  password?: string;
  rootCert?: string;
}): string {
  const auth = parts.password
    ? `${encodeURIComponent(parts.username)}:${encodeURIComponent(parts.password)}`
    : encodeURIComponent(parts.username);
  const host = parts.host.includes(':') ? `[${parts.host}]` : parts.host;
  const tls = parts.rootCert ? `?sslmode=verify-full&sslrootcert=${encodeURIComponent(parts.rootCert).replace(/%2F/g, '/')}` : '';
  return `postgresql://${auth}@${host}:${parts.port}/${encodeURIComponent(parts.database)}${tls}`;
}

/** The CA file clients verify an instance's server with (`dbaas ca` prints it). */
export function rootCertOf(settings: Settings): string {
  return join(runtimePaths(settings).caDir, CA_CERT_FILE);
}

export function connectionInfo(settings: Settings, record: InstanceRecord, password?: string): ConnectionInfo {
  const host = connectHost(settings, record.bindAddress);
  const base = { host, port: record.port, database: record.database, username: record.username };
  const rootCert = rootCertOf(settings);
  return {
    ...base,
    ...(password !== undefined ? { password } : {}),
    sslRootCert: rootCert,
    connectionString: connectionString({ ...base, password, rootCert }),
    psql: `psql "${connectionString({ ...base, password, rootCert })}"`,
  };
}

export interface ObservedInstance {
  status: InstanceStatus;
  containers: Array<{ service: string; name: string; state: string | null }>;
  pendingRestart: boolean;
  recoveries: Recoveries;
  tls: { notAfter: string | null; fingerprintSha256: string | null };
}

export function toView(settings: Settings, record: InstanceRecord, observed: ObservedInstance): InstanceView {
  const host = connectHost(settings, record.bindAddress);
  return {
    id: record.id,
    name: record.name,
    project: record.project,
    version: record.version,
    image: record.image,
    memory: record.memory,
    memoryHuman: formatSize(record.memory),
    cpus: record.cpus,
    shmSize: record.shmSize,
    pidsLimit: record.pidsLimit,
    port: record.port,
    bindAddress: record.bindAddress,
    allowCidrs: record.allowCidrs,
    tls: observed.tls,
    host,
    database: record.database,
    username: record.username,
    status: observed.status,
    storedStatus: record.status,
    pendingRestart: observed.pendingRestart,
    pgSettings: effectiveSettings(record.memory, record.cpus, record.pgSettings),
    monitoring: record.monitoring,
    containers: observed.containers,
    connectionString: connectionString({ host, port: record.port, database: record.database, username: record.username, rootCert: rootCertOf(settings) }),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    lastError: record.lastError,
    lastRepair: record.lastRepair ?? null,
    recoveries: observed.recoveries,
    upgrade: record.upgrade ?? null,
  };
}
