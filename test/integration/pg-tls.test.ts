import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import { docker, makeHome, query, type TestHome } from './helpers.js';

/**
 * PostgreSQL over TLS with a second host: a network namespace on a bridge of its own
 * (10.231.12.0/24), so that its logins arrive with their own address, as a client of another
 * machine would (docs/tls-postgres.md). The instance publishes its port on the bridge's address.
 */

const BRIDGE = 'dbtls0';
const NETNS = 'dbtls-ns';
const HOST_IP = '10.231.12.1';
const CLIENT_IP = '10.231.12.11';

function sh(...argv: string[]): void {
  execFileSync(argv[0] as string, argv.slice(1), { stdio: 'ignore' });
}

function tearDownNetwork(): void {
  spawnSync('ip', ['netns', 'del', NETNS]);
  spawnSync('ip', ['link', 'del', `${BRIDGE}-v`]);
  spawnSync('ip', ['link', 'del', BRIDGE]);
}

/** psql as a client of the namespace: its exit code and what it printed. */
function fromClient(conninfo: string, sql = 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'): { status: number | null; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', NETNS, 'psql', '-X', '-A', '-t', '-c', sql, conninfo], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}`.trim() };
}

/** The serial of the certificate the server presents now. */
function presentedSerial(port: number): string {
  const r = spawnSync('sh', ['-c', `openssl s_client -starttls postgres -connect ${HOST_IP}:${port} </dev/null 2>/dev/null | openssl x509 -noout -serial`], { encoding: 'utf8' });
  return r.stdout.trim().replace(/^serial=/, '');
}

describe('PostgreSQL over TLS, from a second host', () => {
  let t: TestHome;
  let created: CreatedInstance;
  let ca: string;
  const dbaas = (...args: string[]) => spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), ...args], { env: t.env, encoding: 'utf8' });
  const conninfo = (extra: string) => `host=${HOST_IP} port=${created.port} user=app dbname=app password=${created.password} connect_timeout=5 ${extra}`;
  const startedAt = async () => (await docker.getContainer(created.containers.find((c) => c.service === 'postgres')!.name).inspect()).State.StartedAt;

  beforeAll(async () => {
    tearDownNetwork();
    sh('ip', 'link', 'add', BRIDGE, 'type', 'bridge');
    sh('ip', 'addr', 'add', `${HOST_IP}/24`, 'dev', BRIDGE);
    sh('ip', 'link', 'set', BRIDGE, 'up');
    sh('ip', 'netns', 'add', NETNS);
    sh('ip', 'link', 'add', `${BRIDGE}-v`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NETNS);
    sh('ip', 'link', 'set', `${BRIDGE}-v`, 'master', BRIDGE, 'up');
    sh('ip', 'netns', 'exec', NETNS, 'ip', 'addr', 'add', `${CLIENT_IP}/24`, 'dev', 'eth0');
    sh('ip', 'netns', 'exec', NETNS, 'ip', 'link', 'set', 'eth0', 'up');
    sh('ip', 'netns', 'exec', NETNS, 'ip', 'link', 'set', 'lo', 'up');
    t = makeHome(23480);
    created = await t.manager.create({ name: 'tls-remote', memory: '160m', cpus: 0.5, bindAddress: HOST_IP });
    ca = join(t.home, 'config', 'ca', 'ca.crt');
    await query(created.connectionString, 'CREATE TABLE kept (v int); INSERT INTO kept VALUES (1), (2), (3)');
  });
  afterAll(async () => {
    await t?.cleanup();
    tearDownNetwork();
  });

  it('gives a verify-full connection string that psql and node-postgres use as it is', async () => {
    expect(created.connectionString).toBe(`postgresql://app:${created.password}@${HOST_IP}:${created.port}/app?sslmode=verify-full&sslrootcert=${ca}`);
    const psql = spawnSync('psql', ['-X', '-A', '-t', '-c', 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()', created.connectionString], { encoding: 'utf8' });
    expect(psql.stdout.trim(), psql.stderr).toBe('t');
    expect(await query(created.connectionString, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).toEqual([{ ssl: true }]);
    expect(dbaas('ca').stdout).toBe(readFileSync(ca, 'utf8'));
  });

  it('refuses a plain-text login from another network, and takes one over TLS verified against the CA', () => {
    const plain = fromClient(conninfo('sslmode=disable'));
    expect(plain.status).not.toBe(0);
    expect(plain.out).toMatch(/no pg_hba.conf entry for host "10\.231\.12\.11".*no encryption/);
    const verified = fromClient(conninfo(`sslmode=verify-full sslrootcert=${ca}`));
    expect(verified, verified.out).toEqual({ status: 0, out: 't' });
    // A name the certificate does not carry fails verification.
    const wrongName = fromClient(`${conninfo(`sslmode=verify-full sslrootcert=${ca}`)} host=not-in-the-certificate.example hostaddr=${HOST_IP}`);
    expect(wrongName.out).toMatch(/does not match host name/);
  });

  it('honours --allow-cidr at once (a reload, no restart): another network is refused even over TLS', async () => {
    const before = await startedAt();
    const narrowed = dbaas('update', 'tls-remote', '--allow-cidr', '10.99.0.0/16', '--json');
    expect(narrowed.status, narrowed.stderr).toBe(0);
    expect(JSON.parse(narrowed.stdout).allowCidrs).toEqual(['10.99.0.0/16']);
    const refused = fromClient(conninfo(`sslmode=verify-full sslrootcert=${ca}`));
    expect(refused.out).toMatch(/no pg_hba.conf entry for host "10\.231\.12\.11"/);
    // This host itself still gets in, plain or not.
    expect(await query(created.connectionString, 'SELECT count(*)::int AS n FROM kept')).toEqual([{ n: 3 }]);
    expect(dbaas('update', 'tls-remote', '--allow-cidr', '10.231.12.0/24').status).toBe(0);
    expect(fromClient(conninfo(`sslmode=verify-full sslrootcert=${ca}`)).out).toBe('t');
    expect(dbaas('update', 'tls-remote', '--allow-cidr', '10.0.0.0/8', '--allow-any').status).toBe(2);
    expect(await startedAt()).toBe(before);
  });

  it('rotates the certificate without a restart and without losing data', async () => {
    const before = await startedAt();
    const old = presentedSerial(created.port);
    expect(old).toMatch(/^[0-9A-F]+$/);
    const rotated = dbaas('tls', 'rotate', 'tls-remote', '--json');
    expect(rotated.status, rotated.stderr).toBe(0);
    const result = JSON.parse(rotated.stdout);
    expect(result).toMatchObject({ instance: 'tls-remote', reloaded: true });
    expect(presentedSerial(created.port)).toBe(result.serial);
    expect(result.serial).not.toBe(old);
    expect(await startedAt()).toBe(before);
    expect(await query(created.connectionString, 'SELECT count(*)::int AS n FROM kept')).toEqual([{ n: 3 }]);
    expect(fromClient(conninfo(`sslmode=verify-full sslrootcert=${ca}`), 'SELECT count(*) FROM kept').out).toBe('3');
  });

  it('gives an instance of the older layout (no server/ folder, no TLS in its compose file) TLS at its next restart', async () => {
    const dir = join(t.home, 'instances', created.id);
    const compose = readFileSync(join(dir, 'docker-compose.yml'), 'utf8');
    const older = compose
      .split('\n')
      .filter((line) => !line.includes('/etc/dbaas/server'))
      .join('\n')
      .replace(/\n\s+- "-c"\n\s+- "?ssl=on"?/, '');
    writeFileSync(join(dir, 'docker-compose.yml'), older);
    rmSync(join(dir, 'server'), { recursive: true, force: true });
    const restarted = dbaas('restart', 'tls-remote', '--json');
    expect(restarted.status, restarted.stderr).toBe(0);
    expect(readFileSync(join(dir, 'docker-compose.yml'), 'utf8')).toContain('/etc/dbaas/server:ro');
    expect(fromClient(conninfo(`sslmode=verify-full sslrootcert=${ca}`), 'SELECT count(*) FROM kept').out).toBe('3');
    expect(fromClient(conninfo('sslmode=disable')).out).toMatch(/no encryption/);
  });
});
