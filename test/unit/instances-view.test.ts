import { hostname } from 'node:os';
import { parse as parsePgUrl } from 'pg-connection-string';
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadSettings, runtimePaths } from '../../src/config/settings.js';
import { deriveSettings } from '../../src/instances/pgSettings.js';
import { InstanceViewSchema, type InstanceRecord } from '../../src/instances/schema.js';
import { connectHost, connectionInfo, connectionString, localDialHost, toView } from '../../src/instances/view.js';
import { sampleRecord } from './fixtures/records.js';

const settings = loadSettings({ env: { DBAAS_HOME: '/tmp/dbaas-unit-view' } });

const record: InstanceRecord = sampleRecord({
  id: 'db_view0001',
  port: 5440,
  database: 'shop',
  username: 'shop_app',
  password: 'v1:sealed',
  adminPassword: 'v1:sealed',
  monitorPassword: 'v1:sealed',
  pgSettings: { work_mem: '8MB' },
  containers: [{ service: 'postgres', name: 'dbaas-orders-view0001' }],
  updatedAt: '2024-01-02T00:00:00.000Z',
});

describe('connectionString', () => {
  it('without a password is postgresql://user@host:port/db', () => {
    expect(connectionString({ host: '127.0.0.1', port: 5433, database: 'app', username: 'app' })).toBe(
      'postgresql://app@127.0.0.1:5433/app',
    );
  });

  it('treats an empty password as no password', () => {
    expect(connectionString({ host: 'h', port: 1, database: 'd', username: 'u', password: '' })).toBe('postgresql://u@h:1/d');
  });

  it('with a plain password is postgresql://user:password@host:port/db', () => {
    expect(connectionString({ host: 'db.local', port: 6000, database: 'app', username: 'app', password: 'abc123XYZ' })).toBe(
      'postgresql://app:abc123XYZ@db.local:6000/app',
    );
  });

  const tricky = [
    'p@ss:word',
    'a%b%41',
    'x/y?z#w',
    'semi;colon=eq&amp',
    "quo'te\"s",
    'sp ace+plus',
    '-_.~!@%^*=:,?',
    'üñí©ødé',
    '[brackets]',
  ];

  it.each(tricky)('encodes the password %j so that URL parsers give it back', (password) => {
    const url = connectionString({ host: '10.0.0.7', port: 5433, database: 'app', username: 'app', password });
    const parsed = new URL(url);
    expect(parsed.protocol).toBe('postgresql:');
    expect(parsed.hostname).toBe('10.0.0.7');
    expect(parsed.port).toBe('5433');
    expect(decodeURIComponent(parsed.username)).toBe('app');
    expect(decodeURIComponent(parsed.password)).toBe(password);
    expect(decodeURIComponent(parsed.pathname.slice(1))).toBe('app');

    const pg = parsePgUrl(url);
    expect(pg.user).toBe('app');
    expect(pg.password).toBe(password);
    expect(pg.host).toBe('10.0.0.7');
    expect(pg.port).toBe('5433');
    expect(pg.database).toBe('app');
  });

  it.each(['us@er', 'us:er', 'us%er', 'My User'])('encodes the user %j the same way', (username) => {
    const url = connectionString({ host: 'h', port: 5433, database: 'd', username, password: 'p:w@d' });
    expect(decodeURIComponent(new URL(url).username)).toBe(username);
    const pg = parsePgUrl(url);
    expect(pg.user).toBe(username);
    expect(pg.password).toBe('p:w@d');
  });

  it('encodes the user without a password too', () => {
    const url = connectionString({ host: 'h', port: 5433, database: 'd', username: 'a@b' });
    expect(url).toBe('postgresql://a%40b@h:5433/d');
    expect(parsePgUrl(url).user).toBe('a@b');
    // pg-connection-string reports an absent password as '' (no password either way).
    expect(parsePgUrl(url).password || undefined).toBeUndefined();
    expect(new URL(url).password).toBe('');
  });

  it('encodes the database name', () => {
    // (Database names dbaas creates are plain identifiers; this only checks the encoding is applied.)
    const url = connectionString({ host: 'h', port: 5433, database: 'my db', username: 'u' });
    expect(url).toBe('postgresql://u@h:5433/my%20db');
    expect(parsePgUrl(url).database).toBe('my db');
  });

  it('puts an IPv6 host in brackets', () => {
    const url = connectionString({ host: '::1', port: 5433, database: 'd', username: 'u', password: 'pw' });
    expect(url).toBe('postgresql://u:pw@[::1]:5433/d');
    expect(new URL(url).hostname).toBe('[::1]');
    expect(parsePgUrl(url).host).toBe('::1');
  });
});

describe('hosts', () => {
  it('dials the bind address, or this host for 0.0.0.0, unless a connect host is configured', () => {
    expect(connectHost(settings, '127.0.0.1')).toBe('127.0.0.1');
    expect(connectHost(settings, '10.1.2.3')).toBe('10.1.2.3');
    expect(connectHost(settings, '0.0.0.0')).toBe(hostname());
    const withHost = loadSettings({ env: { DBAAS_HOME: '/tmp/x', DBAAS_CONNECT_HOST: 'db.example.com' } });
    expect(connectHost(withHost, '0.0.0.0')).toBe('db.example.com');
    expect(connectHost(withHost, '127.0.0.1')).toBe('db.example.com');
  });

  it('checks instances over loopback when they listen everywhere', () => {
    expect(localDialHost('0.0.0.0')).toBe('127.0.0.1');
    expect(localDialHost('10.1.2.3')).toBe('10.1.2.3');
  });
});

/** The CA file the connection strings name: the home's config/ca/ca.crt. */
const CA = join(runtimePaths(settings).caDir, 'ca.crt');

describe('connectionInfo', () => {
  it('includes the password and a psql line only when given one', () => {
    const info = connectionInfo(settings, record, 'p@ss:w');
    expect(info).toEqual({
      host: '127.0.0.1',
      port: 5440,
      database: 'shop',
      username: 'shop_app',
      password: 'p@ss:w',
      sslRootCert: CA,
      connectionString: `postgresql://shop_app:p%40ss%3Aw@127.0.0.1:5440/shop?sslmode=verify-full&sslrootcert=${CA}`,
      psql: `psql "postgresql://shop_app:p%40ss%3Aw@127.0.0.1:5440/shop?sslmode=verify-full&sslrootcert=${CA}"`,
    });
    const bare = connectionInfo(settings, record);
    expect(bare).not.toHaveProperty('password');
    expect(bare.connectionString).toBe(`postgresql://shop_app@127.0.0.1:5440/shop?sslmode=verify-full&sslrootcert=${CA}`);
    expect(bare.psql).toBe(`psql "postgresql://shop_app@127.0.0.1:5440/shop?sslmode=verify-full&sslrootcert=${CA}"`);
  });
});

describe('toView', () => {
  it('shows no secret, the observed status and the effective settings', () => {
    const view = toView(settings, record, {
      status: 'oomkilled',
      containers: [{ service: 'postgres', name: 'dbaas-orders-view0001', state: 'exited' }],
      pendingRestart: true,
      tls: { notAfter: '2027-12-26T00:00:00.000Z', fingerprintSha256: 'AB:CD' },
      recoveries: { crashRecoveries: 1, lastCrashRecoveryAt: '2026-11-24T13:11:56.113508Z', containerRestarts: 0, oomKilled: true },
    });
    expect(InstanceViewSchema.parse(view)).toEqual(view);
    expect(view).toMatchObject({
      id: 'db_view0001',
      status: 'oomkilled',
      storedStatus: 'running',
      memory: 512 * 1024 * 1024,
      memoryHuman: '512m',
      host: '127.0.0.1',
      pendingRestart: true,
      connectionString: `postgresql://shop_app@127.0.0.1:5440/shop?sslmode=verify-full&sslrootcert=${CA}`,
      tls: { notAfter: '2027-12-26T00:00:00.000Z', fingerprintSha256: 'AB:CD' },
    });
    expect(view.pgSettings).toEqual({ ...deriveSettings(record.memory, record.cpus), work_mem: '8MB' });
    const text = JSON.stringify(view);
    expect(text).not.toContain('v1:sealed');
    expect(view).not.toHaveProperty('password');
    expect(view).not.toHaveProperty('adminPassword');
    expect(view).not.toHaveProperty('monitorPassword');
  });
});
