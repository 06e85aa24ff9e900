import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Dockerode from 'dockerode';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { DbaasError } from '../errors.js';

/**
 * Reads a rendered docker-compose file and turns each service into the exact create options the
 * engine gets. Because dbaas creates containers from the file (not from its own copy of the
 * values), the file cannot drift from what runs. Only the compose keys dbaas renders are allowed;
 * an unknown key fails loudly rather than being silently ignored.
 */

const DURATION = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** A compose duration (`1m30s`, `10s`, `500ms`) in nanoseconds. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  if (!m || text === '') throw new Error(`not a duration: ${text}`);
  const [, h, min, s, ms] = m.map((part) => Number(part ?? 0)) as [number, number, number, number, number];
  return (((h * 60 + min) * 60 + s) * 1000 + ms) * 1_000_000;
}

const duration = z.string().refine((v) => DURATION.test(v) && v !== '', 'must be a duration like 10s');

export const ComposeServiceSchema = z
  .object({
    image: z.string(),
    container_name: z.string(),
    entrypoint: z.array(z.string()).optional(),
    command: z.array(z.string()),
    env_file: z.array(z.string()).default([]),
    environment: z.record(z.string(), z.union([z.string(), z.number()]).transform(String)).default({}),
    ports: z.array(z.string()).default([]),
    volumes: z.array(z.string()).default([]),
    mem_limit: z.number().int().positive(),
    memswap_limit: z.number().int().positive(),
    cpus: z.number().positive(),
    shm_size: z.number().int().positive().optional(),
    pids_limit: z.number().int().positive(),
    read_only: z.boolean().optional(),
    tmpfs: z.array(z.string()).optional(),
    cap_drop: z.array(z.string()).optional(),
    depends_on: z.array(z.string()).optional(),
    restart: z.enum(['no', 'always', 'unless-stopped', 'on-failure']),
    stop_signal: z.string(),
    stop_grace_period: duration,
    network_mode: z.string().optional(),
    networks: z.array(z.string()).min(1).optional(),
    labels: z.record(z.string(), z.string()),
    healthcheck: z
      .object({
        test: z.array(z.string()),
        interval: duration,
        timeout: duration,
        retries: z.number().int(),
        start_period: duration,
      })
      .strict()
      .optional(),
    logging: z
      .object({ driver: z.string(), options: z.record(z.string(), z.string()).default({}) })
      .strict()
      .optional(),
  })
  .strict()
  .refine((s) => (s.network_mode === undefined) !== (s.networks === undefined), {
    message: 'a service names either network_mode or networks',
  });
export type ComposeService = z.output<typeof ComposeServiceSchema>;

/** A network of the file; dbaas only renders external ones (it makes them itself, see Engine). */
const ComposeNetworkSchema = z.object({ name: z.string().min(1), external: z.literal(true) }).strict();

export const ComposeFileSchema = z
  .object({
    version: z.string(),
    services: z.record(z.string(), ComposeServiceSchema),
    networks: z.record(z.string(), ComposeNetworkSchema).optional(),
  })
  .strict()
  .superRefine((file, ctx) => {
    for (const [name, service] of Object.entries(file.services)) {
      for (const key of service.networks ?? []) {
        if (!file.networks?.[key]) ctx.addIssue({ code: 'custom', path: ['services', name, 'networks'], message: `names no network "${key}" of this file` });
      }
    }
  });
export type ComposeFile = z.output<typeof ComposeFileSchema>;

export function parseComposeText(text: string, source: string): ComposeFile {
  let data: unknown;
  try {
    // Loaded when a compose file is parsed (listings read cached config hashes instead).
    const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
    data = parse(text);
  } catch (err) {
    throw new DbaasError('OPERATION_FAILED', `${source} is not valid YAML: ${(err as Error).message}`);
  }
  const parsed = ComposeFileSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DbaasError('OPERATION_FAILED', `${source}: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  return parsed.data;
}

/** Reads `KEY=VALUE` lines (no quoting: dbaas writes only plain values). */
export function parseEnvFile(text: string): Array<[string, string]> {
  const entries: Array<[string, string]> = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) continue;
    entries.push([trimmed.slice(0, eq), trimmed.slice(eq + 1)]);
  }
  return entries;
}

/** `127.0.0.1:5433:5432` (or `5433:5432`) into its parts. */
export function parsePortMapping(text: string): { hostIp: string; hostPort: string; containerPort: string } {
  const parts = text.split(':');
  const containerPort = parts.pop();
  const hostPort = parts.pop();
  if (!containerPort || !hostPort || !/^\d+$/.test(containerPort) || !/^\d+$/.test(hostPort)) {
    throw new Error(`unsupported port mapping: ${text}`);
  }
  return { hostIp: parts.join(':'), hostPort, containerPort };
}

export const CONFIG_HASH_LABEL = 'dbaas.config-hash';

export interface ContainerSpec {
  service: string;
  name: string;
  /** Networks the container joins (made by the engine before the container, when absent). */
  networks: string[];
  options: Dockerode.ContainerCreateOptions;
  /** A hash of the options, kept as a label so a changed file can be detected later. */
  configHash: string;
}

/** `service:<name>` shares another service's network namespace: `container:<its container>`. */
function networkMode(mode: string, containerOf: (service: string) => string | undefined): string {
  if (!mode.startsWith('service:')) return mode;
  const target = containerOf(mode.slice('service:'.length));
  if (!target) throw new Error(`network_mode ${mode} names no service of this file`);
  return `container:${target}`;
}

/** The create options for one service, resolved against the compose file's folder. */
export function toContainerSpec(
  serviceName: string,
  service: ComposeService,
  composeDir: string,
  readEnvFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
  containerOf: (service: string) => string | undefined = () => undefined,
  networkNames: Record<string, string> = {},
): ContainerSpec {
  const networks = (service.networks ?? []).map((key) => networkNames[key] ?? key);
  const env: string[] = [];
  for (const file of service.env_file) {
    for (const [key, value] of parseEnvFile(readEnvFile(resolve(composeDir, file)))) env.push(`${key}=${value}`);
  }
  for (const [key, value] of Object.entries(service.environment)) env.push(`${key}=${value}`);

  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const mapping of service.ports) {
    const { hostIp, hostPort, containerPort } = parsePortMapping(mapping);
    const key = `${containerPort}/tcp`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: hostIp, HostPort: hostPort });
  }

  const binds = service.volumes.map((volume) => {
    const [source, target, mode] = volume.split(':');
    if (!source || !target) throw new Error(`unsupported volume: ${volume}`);
    const hostPath = source.startsWith('.') || source.startsWith('/') ? resolve(composeDir, source) : source;
    return [hostPath, target, ...(mode ? [mode] : [])].join(':');
  });

  const options: Dockerode.ContainerCreateOptions = {
    name: service.container_name,
    Image: service.image,
    ...(service.entrypoint ? { Entrypoint: service.entrypoint } : {}),
    Cmd: service.command,
    Env: env,
    Labels: { ...service.labels },
    ExposedPorts: exposed,
    StopSignal: service.stop_signal,
    StopTimeout: Math.round(parseDuration(service.stop_grace_period) / 1e9),
    ...(service.healthcheck
      ? {
          Healthcheck: {
            Test: service.healthcheck.test,
            Interval: parseDuration(service.healthcheck.interval),
            Timeout: parseDuration(service.healthcheck.timeout),
            Retries: service.healthcheck.retries,
            StartPeriod: parseDuration(service.healthcheck.start_period),
          },
        }
      : {}),
    HostConfig: {
      Binds: binds,
      PortBindings: bindings,
      Memory: service.mem_limit,
      MemorySwap: service.memswap_limit,
      NanoCpus: Math.round(service.cpus * 1e9),
      ...(service.shm_size !== undefined ? { ShmSize: service.shm_size } : {}),
      PidsLimit: service.pids_limit,
      ...(service.read_only !== undefined ? { ReadonlyRootfs: service.read_only } : {}),
      ...(service.tmpfs ? { Tmpfs: Object.fromEntries(service.tmpfs.map((path) => [path, ''])) } : {}),
      ...(service.cap_drop ? { CapDrop: service.cap_drop } : {}),
      RestartPolicy: { Name: service.restart, MaximumRetryCount: 0 },
      NetworkMode: service.network_mode !== undefined ? networkMode(service.network_mode, containerOf) : (networks[0] as string),
      ...(service.logging ? { LogConfig: { Type: service.logging.driver, Config: service.logging.options } } : {}),
    },
  };
  if (networks.length > 0) {
    options.NetworkingConfig = { EndpointsConfig: Object.fromEntries(networks.map((n) => [n, {}])) };
  }
  const configHash = createHash('sha256').update(JSON.stringify(options)).digest('hex').slice(0, 16);
  options.Labels = { ...options.Labels, [CONFIG_HASH_LABEL]: configHash };
  return { service: serviceName, name: service.container_name, networks, options, configHash };
}

/** Every service of a compose file on disk, as container specs. */
export function loadContainerSpecs(composePath: string): ContainerSpec[] {
  let text: string;
  try {
    text = readFileSync(composePath, 'utf8');
  } catch (err) {
    throw new DbaasError('OPERATION_FAILED', `cannot read ${composePath}: ${(err as Error).message}`);
  }
  const file = parseComposeText(text, composePath);
  const containerOf = (name: string) => file.services[name]?.container_name;
  const networkNames = Object.fromEntries(Object.entries(file.networks ?? {}).map(([key, n]) => [key, n.name]));
  return Object.entries(file.services).map(([name, service]) =>
    toContainerSpec(name, service, dirname(composePath), undefined, containerOf, networkNames),
  );
}
