import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import pg from 'pg';
import { loadSettings, PROJECT_ROOT, type Settings } from '../../src/config/settings.js';
import type { Manager } from '../../src/instances/manager.js';
import { createServices, type Services } from '../../src/services.js';
import { createLogger } from '../../src/log/logger.js';
import { spareCopiesInProgress } from '../../src/provisioner/dataSeed.js';
import { homeFilter } from '../../src/runtime/labels.js';

export const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });

export const SHARED_DATA_TEMPLATES = join(tmpdir(), 'dbaas-test-data-templates');

export interface TestHome {
  home: string;
  env: NodeJS.ProcessEnv;
  settings: Settings;
  manager: Manager;
  /** Every service of the home, built by the one wiring point. */
  services: Services;
  cleanup(): Promise<void>;
}

/**
 * A throw-away dbaas home with its own port range. Every integration file passes a different
 * `portBase` so that files running in parallel never race for the same host port.
 */
export function makeHome(portBase: number, extraEnv: Record<string, string> = {}): TestHome {
  const home = mkdtempSync(join(tmpdir(), 'dbaas-test-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DBAAS_HOME: home,
    DBAAS_PORT_RANGE: `${portBase}-${portBase + 49}`,
    DBAAS_STOP_TIMEOUT: '10',
    DBAAS_READY_TIMEOUT: '90',
    // One template data directory per image for all test homes (made once, by whichever file
    // creates first); test/integration/dataTemplate.test.ts makes its own from scratch.
    DBAAS_DATA_TEMPLATES_DIR: SHARED_DATA_TEMPLATES,
    // A `dbaas login` of whoever runs the tests must not send their CLI runs to a server.
    DBAAS_CREDENTIALS: join(home, 'no-login.json'),
    ...extraEnv,
  };
  const settings = loadSettings({ env });
  const services = createServices(settings, { logger: createLogger({ file: join(home, 'logs', 'provisioning.log'), consoleLevel: 'silent' }) });
  const { manager } = services;
  return {
    home,
    env,
    settings,
    manager,
    services,
    async cleanup() {
      const containers = await docker.listContainers({ all: true, filters: { label: homeFilter(home) } });
      await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true })));
      // The home's network too: the engine has only about thirty address pools for networks.
      const networks = await docker.listNetworks({ filters: { label: homeFilter(home) } });
      await Promise.all(networks.map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)));
      // A spare data copy (instances/.spare-data, made by a detached cp after each create) may
      // still be being written: wait for it, then remove, with retries for one that starts late.
      await sparesSettled(home);
      rmSync(home, { recursive: true, force: true, maxRetries: 20, retryDelay: 250 });
    },
  };
}

/** A TCP port of this host that nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Polls until `check` returns a value (not undefined/false), or fails after `ms`. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits (at most 60 s) until no spare data copy of a home is being made. */
export async function sparesSettled(home: string): Promise<void> {
  const instances = join(home, 'instances');
  for (let i = 0; i < 600 && spareCopiesInProgress(instances); i++) await new Promise((r) => setTimeout(r, 100));
}

/** Runs one query over a fresh connection and closes it. */
export async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(
  connectionString: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export async function containersOf(home: string, instanceId?: string): Promise<Dockerode.ContainerInfo[]> {
  const label = [...homeFilter(home), ...(instanceId ? [`dbaas.instance=${instanceId}`] : [])];
  return docker.listContainers({ all: true, filters: { label } });
}

/**
 * Runs `dbaas create <name>` as a child process and kills it with SIGKILL once its record and a
 * container of it exist, before it can finish: a create that crashed half-way.
 */
export async function killCreateMidway(t: TestHome, name: string): Promise<void> {
  const registryFile = join(t.home, 'config', 'instances.json');
  const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'create', name, '--memory', '128m', '--json'], {
    env: t.env,
    stdio: 'ignore',
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const made = existsSync(registryFile) && readFileSync(registryFile, 'utf8').includes(name);
    if (made && (await containersOf(t.home)).some((c) => c.Labels['dbaas.name'] === name)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
}

/** An admin token of a test home, for tests that talk to its API (every route but /health needs one). */
export async function adminToken(t: TestHome, name = 'test-admin'): Promise<string> {
  return (await t.services.tokens.create({ name: `${name}-${Math.random().toString(36).slice(2, 8)}`, role: 'admin' })).token;
}

/**
 * `dbaas serve` of a test home over TLS (`--tls auto`) on a free loopback port, and the
 * environment that sends a CLI to it (DBAAS_URL, an admin DBAAS_TOKEN, DBAAS_CA_FILE): the CLI's
 * remote mode, against the same home.
 */
export async function serveRemote(t: TestHome): Promise<{ env: NodeJS.ProcessEnv; url: string; token: string; stop(): Promise<void> }> {
  const port = await freePort();
  const token = await adminToken(t, 'remote-cli');
  const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'serve', '--port', String(port), '--tls', 'auto'], {
    env: t.env,
    stdio: 'ignore',
  });
  const ca = join(t.home, 'config', 'ca', 'ca.crt');
  const url = `https://127.0.0.1:${port}`;
  const { request } = await import('node:https');
  const healthy = () =>
    new Promise<boolean>((resolve) => {
      if (!existsSync(ca)) return resolve(false);
      const req = request(`${url}/health`, { ca: readFileSync(ca, 'utf8') }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
  await until('dbaas serve over TLS', () => healthy(), 30_000);
  return {
    env: { ...t.env, DBAAS_URL: url, DBAAS_TOKEN: token, DBAAS_CA_FILE: ca },
    url,
    token,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * How a CLI suite that runs in both modes reaches a test home: its own environment on the host,
 * or `dbaas serve` of the home over TLS (serveRemote). `stop` ends the server, if any.
 */
export async function cliTarget(mode: 'local' | 'remote', t: TestHome): Promise<{ env: NodeJS.ProcessEnv; stop(): Promise<void> }> {
  if (mode === 'local') return { env: t.env, stop: async () => undefined };
  const server = await serveRemote(t);
  return { env: server.env, stop: server.stop };
}
