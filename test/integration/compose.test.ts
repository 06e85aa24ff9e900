import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { parseSize } from '../../src/instances/size.js';
import { docker, makeHome, query, type TestHome } from './helpers.js';

const run = promisify(execFile);

interface ComposeConfig {
  services: Record<
    string,
    {
      image: string;
      container_name: string;
      entrypoint?: string[];
      command: string[];
      network_mode?: string;
      networks?: Record<string, unknown> | string[];
      read_only?: boolean;
      cap_drop?: string[];
      tmpfs?: string[];
      environment: Record<string, string>;
      ports?: Array<string | { published: number; target: number; host_ip?: string }>;
      volumes: Array<string | { source: string; target: string; read_only?: boolean }>;
      mem_limit: string | number;
      memswap_limit: string | number;
      cpus: number;
      shm_size?: string | number;
      pids_limit: number;
      labels: Record<string, string>;
      restart: string;
      stop_signal: string;
      healthcheck?: { test: string[] };
    }
  >;
  networks?: Record<string, { name?: string; external?: boolean | { name: string } }>;
}

/** `docker-compose config` (v1, an independent client) resolves the file as compose itself reads it. */
async function composeConfig(file: string): Promise<ComposeConfig> {
  const { stdout } = await run('docker-compose', ['-f', file, 'config']);
  return parseYaml(stdout) as ComposeConfig;
}

function volumeParts(v: ComposeConfig['services'][string]['volumes'][number]) {
  if (typeof v !== 'string') return { source: v.source, target: v.target, readOnly: Boolean(v.read_only) };
  const [source, target, mode] = v.split(':');
  return { source, target, readOnly: mode === 'ro' };
}

/** Compares a compose service with the container docker inspect describes, field by field. */
async function expectContainerMatches(config: ComposeConfig, serviceName: string) {
  const service = config.services[serviceName]!;
  const info = await docker.getContainer(service.container_name).inspect();
  const image = await docker.getImage(service.image).inspect();
  expect(info.Config.Image).toBe(service.image);
  expect(info.Config.Cmd).toEqual(service.command);
  if (service.entrypoint) expect(info.Config.Entrypoint).toEqual(service.entrypoint);
  expect(info.HostConfig.Memory).toBe(parseSize(service.mem_limit));
  expect(info.HostConfig.MemorySwap).toBe(parseSize(service.memswap_limit));
  expect(info.HostConfig.NanoCpus).toBe(Math.round(Number(service.cpus) * 1e9));
  if (service.shm_size !== undefined) expect(info.HostConfig.ShmSize).toBe(parseSize(service.shm_size));
  expect(info.HostConfig.PidsLimit).toBe(service.pids_limit);
  expect(info.HostConfig.RestartPolicy?.Name).toBe(service.restart);
  expect((info.Config as { StopSignal?: string }).StopSignal).toBe(service.stop_signal);
  expect(info.Config.Healthcheck?.Test).toEqual(service.healthcheck?.test);
  expect(Boolean(info.HostConfig.ReadonlyRootfs)).toBe(Boolean(service.read_only));
  expect(info.HostConfig.CapDrop ?? null).toEqual(service.cap_drop ?? null);
  expect(Object.keys(info.HostConfig.Tmpfs ?? {})).toEqual(service.tmpfs ?? []);
  // The services join the installation's network, which the file names (and declares external).
  const keys = Array.isArray(service.networks) ? service.networks : Object.keys(service.networks ?? {});
  expect(service.network_mode).toBeUndefined();
  expect(keys).toEqual(['default']);
  const network = config.networks?.default;
  expect(network?.external).toBeTruthy();
  expect(info.HostConfig.NetworkMode).toBe(network?.name);
  expect(Object.keys(info.NetworkSettings.Networks ?? {})).toEqual([network?.name]);

  const ports = (service.ports ?? []).map((p) => {
    if (typeof p !== 'string') return { HostIp: p.host_ip ?? '', HostPort: String(p.published), target: String(p.target) };
    // v1 prints `127.0.0.1:5433:5432/tcp`.
    const [ip, published, target] = p.split(':');
    return { HostIp: ip, HostPort: published, target: target?.replace(/\/tcp$/, '') };
  });
  for (const p of ports) {
    expect(info.HostConfig.PortBindings?.[`${p.target}/tcp`]).toEqual([{ HostIp: p.HostIp, HostPort: p.HostPort }]);
  }
  expect(Object.keys(info.HostConfig.PortBindings ?? {})).toHaveLength(ports.length);

  const mounts = info.Mounts.map((m) => ({ source: m.Source, target: m.Destination, readOnly: !m.RW }));
  expect(mounts.sort((a, b) => a.target.localeCompare(b.target))).toEqual(
    service.volumes.map(volumeParts).sort((a, b) => String(a.target).localeCompare(String(b.target))),
  );

  // The container's env is the image's env plus exactly the names the compose file sets.
  const imageEnv = new Set((image.Config.Env ?? []).map((e) => e.split('=')[0]));
  const containerEnv = (info.Config.Env ?? []).map((e) => e.split('=')[0]!);
  const composeEnv = Object.keys(service.environment);
  expect(containerEnv.filter((n) => !imageEnv.has(n) || composeEnv.includes(n)).sort()).toEqual([...composeEnv].sort());

  for (const [key, value] of Object.entries(service.labels)) expect(info.Config.Labels?.[key]).toBe(value);
}

describe('the rendered docker-compose.yml is the truth of the instance', () => {
  let t: TestHome;
  let created: CreatedInstance;
  let composeFile: string;

  beforeAll(async () => {
    t = makeHome(21100);
    created = await t.manager.create({ name: 'composed', memory: '300m', cpus: 0.75, shmSize: '96m', pgSettings: { work_mem: '2MB' } });
    composeFile = join(t.home, 'instances', created.id, 'docker-compose.yml');
  });
  afterAll(async () => t.cleanup());

  it('is accepted by docker-compose v1 and matches docker inspect of the containers dbaas made', async () => {
    const config = await composeConfig(composeFile);
    expect(Object.keys(config.services).sort()).toEqual(['agent', 'postgres']);
    const service = config.services.postgres!;
    expect(created.containers.map((c) => c.name)).toEqual([service.container_name, config.services.agent!.container_name]);
    expect(service.command).toContain('work_mem=2MB');
    // Secrets come from files (issue 7): the environment holds paths to them, never a password.
    expect(service.environment).toMatchObject({ POSTGRES_PASSWORD_FILE: '/run/secrets/postgres-password', PGDATA: '/var/lib/postgresql/data' });
    expect(config.services.agent!.environment).toMatchObject({ PGPASSFILE: '/run/secrets/pgpass', PGHOST: service.container_name });
    for (const env of [service.environment, config.services.agent!.environment]) {
      expect(Object.keys(env).filter((k) => /PASSWORD$/.test(k))).toEqual([]);
      expect(JSON.stringify(env)).not.toContain(created.password);
    }
    await expectContainerMatches(config, 'postgres');
    await expectContainerMatches(config, 'agent');
  });

  it('brings up the same instance with `docker-compose up -d`, data included', async () => {
    await query(created.connectionString, 'CREATE TABLE marks (note text)');
    await query(created.connectionString, "INSERT INTO marks VALUES ('made by dbaas')");
    for (const c of created.containers) await docker.getContainer(c.name).remove({ force: true });

    await run('docker-compose', ['-f', composeFile, 'up', '-d']);
    const config = await composeConfig(composeFile);
    await expectContainerMatches(config, 'postgres');
    await expectContainerMatches(config, 'agent');

    // dbaas recognises the compose-made container by its labels and waits for it like its own.
    const view = await t.manager.restart('composed');
    expect(view.status).toBe('running');
    expect(await query(created.connectionString, 'SELECT note FROM marks')).toEqual([{ note: 'made by dbaas' }]);
  });
});
