import { serverTlsSettings, walArchiveSettings } from '../../src/provisioner/serverContract.js';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModule, parseSync } from 'libpg-query';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings, PROJECT_ROOT, runtimePaths, type Settings } from '../../src/config/settings.js';
import { effectiveSettings } from '../../src/instances/pgSettings.js';
import { InstanceRecordSchema, type InstanceRecord } from '../../src/instances/schema.js';
import {
  containerNameFor,
  instanceFiles,
  MONITOR_ROLE,
  pgpassLine,
  Provisioner,
  type PlainSecrets,
} from '../../src/provisioner/provisioner.js';
import { createRenderer, quoteIdent } from '../../src/provisioner/templates.js';
import {
  CONFIG_HASH_LABEL,
  loadContainerSpecs,
  parseComposeText,
  parseDuration,
  parseEnvFile,
  parsePortMapping,
  toContainerSpec,
  type ContainerSpec,
} from '../../src/runtime/composeSpec.js';
import { homeId, homeNetwork, LABELS } from '../../src/runtime/labels.js';
import { sampleRecord } from './fixtures/records.js';
import { caught } from './fixtures/errors.js';

const MiB = 1024 * 1024;

const SECRETS: PlainSecrets = {
  password: 'AppPassw0rdXYZ',
  adminPassword: 'AdminSup3rSecretQQ',
  monitorPassword: 'M0nitorHiddenKK',
};

function makeRecord(overrides: Partial<InstanceRecord> = {}): InstanceRecord {
  return InstanceRecordSchema.parse(
    sampleRecord({
      id: 'db_abc123xy',
      memory: 768 * MiB,
      cpus: 1.5,
      shmSize: 192 * MiB,
      pidsLimit: 321,
      port: 5444,
      database: 'shop',
      username: 'shop_app',
      password: 'v1:sealed-app',
      adminPassword: 'v1:sealed-admin',
      monitorPassword: 'v1:sealed-monitor',
      pgSettings: { work_mem: '8MB', log_line_prefix: '%m [%p] "%u"@%d: ' },
      status: 'provisioning',
      ...overrides,
    }),
  );
}

let home: string;
let settings: Settings;
let provisioner: Provisioner;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'dbaas-unit-prov-'));
  settings = loadSettings({ env: { DBAAS_HOME: home, DBAAS_STOP_TIMEOUT: '17' } });
  provisioner = new Provisioner(runtimePaths(settings), settings);
  await loadModule();
});

afterAll(() => {
  rmSync(home, { recursive: true, force: true });
});

/** The server's spec; the file's other service is the monitoring agent (tested on its own). */
function onlySpec(composePath: string): ContainerSpec {
  const specs = loadContainerSpecs(composePath);
  expect(specs.map((s) => s.service)).toEqual(['postgres', 'agent']);
  return specs[0] as ContainerSpec;
}

function agentSpec(composePath: string): ContainerSpec {
  return loadContainerSpecs(composePath)[1] as ContainerSpec;
}

function envOf(spec: ContainerSpec): Record<string, string> {
  return Object.fromEntries((spec.options.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/** Every regular file below `dir`, recursively. */
function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/**
 * Reads one line of a libpq password file the way libpq does (fe-connect.c, passwordFromFile):
 * fields are separated by unescaped `:`, and `\` takes the next character literally.
 */
function readPgpassLine(line: string): string[] {
  const fields: string[] = [];
  let current = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && i + 1 < line.length) current += line[++i];
    else if (c === ':') {
      fields.push(current);
      current = '';
    } else current += c;
  }
  fields.push(current);
  return fields;
}

/** The SQL statements of an init script, without its psql meta-commands and comments. */
function initStatements(sql: string): unknown[] {
  const body = sql
    .split('\n')
    .filter((line) => !line.startsWith('\\'))
    .join('\n');
  return (parseSync(body) as { stmts: unknown[] }).stmts;
}

describe('Provisioner.prepare + loadContainerSpecs', () => {
  const record = makeRecord();
  let files: ReturnType<Provisioner['files']>;
  let spec: ContainerSpec;
  let agent: ContainerSpec;

  beforeAll(() => {
    files = provisioner.prepare(record, SECRETS);
    spec = onlySpec(files.composePath);
    agent = agentSpec(files.composePath);
  });

  it('lays out the instance folder below instances/<id>', () => {
    expect(files.dir).toBe(join(home, 'instances', record.id));
    expect(files).toEqual(instanceFiles(join(home, 'instances'), record.id));
    for (const dir of [files.dataDir, files.logsDir, files.scriptsDir, files.backupsDir, files.secretsDir]) {
      expect(statSync(dir).isDirectory()).toBe(true);
    }
    expect(mode(files.dir)).toBe(0o700);
    expect(mode(files.dataDir)).toBe(0o700);
    expect(mode(files.logsDir)).toBe(0o700);
    expect(mode(files.backupsDir)).toBe(0o700);
    expect(mode(files.scriptsDir)).toBe(0o755);
    expect(readdirSync(files.scriptsDir).sort()).toEqual(['01-init-users.sql']);
    expect(mode(join(files.scriptsDir, '01-init-users.sql'))).toBe(0o644);
    expect(readdirSync(files.dir).sort()).toEqual(['backups', 'data', 'docker-compose.yml', 'logs', 'scripts', 'secrets']);
  });

  it('keeps the secret files in secrets/, a 0700 folder', () => {
    expect(files.secretsDir).toBe(join(files.dir, 'secrets'));
    expect(files.postgresPasswordPath).toBe(join(files.dir, 'secrets', 'postgres-password'));
    expect(files.agentPgpassPath).toBe(join(files.dir, 'secrets', 'agent.pgpass'));
    expect(mode(files.secretsDir)).toBe(0o700);
    expect(readdirSync(files.secretsDir).sort()).toEqual(['agent.pgpass', 'postgres-password']);
  });

  it('writes the superuser password alone, with a newline, mode 0600', () => {
    expect(mode(files.postgresPasswordPath)).toBe(0o600);
    expect(readFileSync(files.postgresPasswordPath, 'utf8')).toBe(`${SECRETS.adminPassword}\n`);
  });

  it('writes the agent a libpq password file line for dbaas_monitor, mode 0600', () => {
    expect(mode(files.agentPgpassPath)).toBe(0o600);
    const text = readFileSync(files.agentPgpassPath, 'utf8');
    expect(text).toBe(`*:*:*:${MONITOR_ROLE}:${SECRETS.monitorPassword}\n`);
    expect(readPgpassLine(text.replace(/\n$/, ''))).toEqual(['*', '*', '*', 'dbaas_monitor', SECRETS.monitorPassword]);
  });

  it('writes no env files of the older layout', () => {
    expect(files.legacyEnvFiles).toEqual([join(files.dir, 'secrets.env'), join(files.dir, 'agent.env')]);
    for (const path of files.legacyEnvFiles) expect(existsSync(path)).toBe(false);
    expect(provisioner.hasCurrentLayout(record.id)).toBe(true);
  });

  it('writes the application password nowhere on disk (dbaas sets it later, as a SCRAM verifier)', () => {
    const texts = allFiles(files.dir).map((f) => readFileSync(f, 'utf8'));
    expect(texts.length).toBeGreaterThanOrEqual(4);
    for (const text of texts) expect(text).not.toContain(SECRETS.password);
  });

  it('keeps every password out of the compose file and the init script', () => {
    const texts = [readFileSync(files.composePath, 'utf8'), readFileSync(join(files.scriptsDir, '01-init-users.sql'), 'utf8')];
    for (const text of texts) {
      for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
      // Nor the sealed forms from the record.
      expect(text).not.toContain('v1:sealed');
    }
  });

  it('keeps every password out of both containers\u2019 create options (Env, Cmd, labels, everything)', () => {
    for (const s of [spec, agent]) {
      const json = JSON.stringify(s.options);
      for (const secret of Object.values(SECRETS)) expect(json).not.toContain(secret);
      expect(json).not.toContain('v1:sealed');
      const env = envOf(s);
      for (const key of ['POSTGRES_PASSWORD', 'PGPASSWORD', 'DBAAS_APP_PASSWORD', 'DBAAS_MONITOR_PASSWORD']) {
        expect(env[key]).toBeUndefined();
      }
    }
  });

  it('renders a compose file that docker-compose would read (version, the server, its agent, the external network)', () => {
    const text = readFileSync(files.composePath, 'utf8');
    const doc = parseYaml(text) as Record<string, unknown>;
    expect(doc.version).toBe('2.4');
    expect(Object.keys(doc.services as object)).toEqual(['postgres', 'agent']);
    expect(doc.networks).toEqual({ default: { name: homeNetwork(home), external: true } });
    const services = doc.services as Record<string, Record<string, unknown>>;
    for (const service of Object.values(services)) {
      expect(service.networks).toEqual(['default']);
      expect(service.network_mode).toBeUndefined();
      expect(service.env_file).toBeUndefined();
    }
    expect(text).not.toMatch(/env_file|network_mode/);
    expect(spec.service).toBe('postgres');
  });

  it('puts both containers on the installation\u2019s network, named after the home', () => {
    const network = homeNetwork(home);
    expect(network).toBe(`dbaas-${homeId(home)}`);
    for (const s of [spec, agent]) {
      expect(s.networks).toEqual([network]);
      expect(s.options.HostConfig?.NetworkMode).toBe(network);
      expect(s.options.NetworkingConfig).toEqual({ EndpointsConfig: { [network]: {} } });
    }
  });

  it('runs the agent beside the server: same image, server by name, tiny locked-down limits', () => {
    const o = agent.options;
    expect(agent.service).toBe('agent');
    expect(agent.name).toBe(containerNameFor(record, 'agent'));
    expect(o.name).toBe('dbaas-orders-abc123xy-agent');
    expect(o.Image).toBe(record.image);
    expect(o.Entrypoint).toEqual(['/bin/bash']);
    expect(o.Cmd).toEqual(['/monitoring/agent.sh']);
    expect(o.HostConfig?.Memory).toBe(32 * MiB);
    expect(o.HostConfig?.MemorySwap).toBe(32 * MiB);
    expect(o.HostConfig?.NanoCpus).toBe(1e8);
    expect(o.HostConfig?.PidsLimit).toBe(32);
    expect(o.HostConfig?.ReadonlyRootfs).toBe(true);
    expect(o.HostConfig?.CapDrop).toEqual(['ALL']);
    expect(o.HostConfig?.Tmpfs).toEqual({ '/tmp': '' });
    expect(o.HostConfig?.PortBindings).toEqual({});
    expect(o.ExposedPorts).toEqual({});
    expect(o.HostConfig?.RestartPolicy).toEqual({ Name: 'unless-stopped', MaximumRetryCount: 0 });
    expect(o.StopSignal).toBe('SIGTERM');
    expect(o.StopTimeout).toBe(5);
    expect(o.HostConfig?.Binds).toEqual([
      `${resolve(PROJECT_ROOT, 'monitoring')}:/monitoring:ro`,
      `${files.logsDir}:/metrics`,
      `${files.agentPgpassPath}:/run/secrets/pgpass:ro`,
    ]);
    expect(o.Labels).toMatchObject({ [LABELS.instance]: record.id, [LABELS.service]: 'agent', [CONFIG_HASH_LABEL]: agent.configHash });
    expect(envOf(agent)).toEqual({
      DBAAS_INSTANCE: record.id,
      DBAAS_INTERVAL: String(record.monitoring.intervalSec),
      DBAAS_MAX_BYTES: String(record.monitoring.maxFileBytes),
      DBAAS_KEEP_FILES: String(record.monitoring.keepFiles),
      PGHOST: containerNameFor(record),
      PGPORT: '5432',
      PGUSER: MONITOR_ROLE,
      PGDATABASE: record.database,
      PGPASSFILE: '/run/secrets/pgpass',
      PGAPPNAME: 'dbaas-monitor',
      PGCONNECT_TIMEOUT: '5',
      PGOPTIONS: '-c statement_timeout=5000 -c default_transaction_read_only=on',
    });
  });

  it('points the agent at the server by its container name (the same as the server spec\u2019s name)', () => {
    expect(envOf(agent).PGHOST).toBe(spec.name);
    expect(envOf(agent).PGHOST).toBe('dbaas-orders-abc123xy');
  });

  it('re-renders the agent with new monitoring settings, leaving the server spec alone', () => {
    const id = 'db_monitor01';
    provisioner.prepare(makeRecord({ id }), SECRETS);
    const path = provisioner.files(id).composePath;
    const [serverBefore, agentBefore] = loadContainerSpecs(path);
    provisioner.renderCompose(makeRecord({ id, monitoring: { intervalSec: 2, maxFileBytes: 4096, keepFiles: 5 } }));
    const [serverAfter, agentAfter] = loadContainerSpecs(path);
    expect(serverAfter!.configHash).toBe(serverBefore!.configHash);
    expect(agentAfter!.configHash).not.toBe(agentBefore!.configHash);
    expect(agentAfter!.options.Env).toEqual(expect.arrayContaining(['DBAAS_INTERVAL=2', 'DBAAS_MAX_BYTES=4096', 'DBAAS_KEEP_FILES=5']));
  });

  it('creates exactly the record: image, name, memory, swap, cpus, shm, pids', () => {
    const o = spec.options;
    expect(o.Image).toBe('postgres:15');
    expect(o.name).toBe(containerNameFor(record));
    expect(spec.name).toBe('dbaas-orders-abc123xy');
    expect(o.HostConfig?.Memory).toBe(record.memory);
    expect(o.HostConfig?.MemorySwap).toBe(record.memory);
    expect(o.HostConfig?.NanoCpus).toBe(1_500_000_000);
    expect(o.HostConfig?.ShmSize).toBe(record.shmSize);
    expect(o.HostConfig?.PidsLimit).toBe(321);
    expect(o.HostConfig?.NetworkMode).toBe(homeNetwork(home));
    expect(o.HostConfig?.RestartPolicy).toEqual({ Name: 'unless-stopped', MaximumRetryCount: 0 });
    expect(o.HostConfig?.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } });
    expect(o.HostConfig?.ReadonlyRootfs).toBeUndefined();
    expect(o.HostConfig?.CapDrop).toBeUndefined();
  });

  it('publishes the port on the bind address only', () => {
    expect(spec.options.ExposedPorts).toEqual({ '5432/tcp': {} });
    expect(spec.options.HostConfig?.PortBindings).toEqual({ '5432/tcp': [{ HostIp: '127.0.0.1', HostPort: '5444' }] });
  });

  it('resolves the binds to the instance folder: data and the backup area read-write, scripts, the server folder and the password file read-only', () => {
    expect(spec.options.HostConfig?.Binds).toEqual([
      `${files.dataDir}:/var/lib/postgresql/data`,
      `${files.scriptsDir}:/docker-entrypoint-initdb.d:ro`,
      `${files.backupsDir}:/var/lib/dbaas/backups`,
      `${files.serverDir}:/etc/dbaas/server:ro`,
      `${files.postgresPasswordPath}:/run/secrets/postgres-password:ro`,
    ]);
  });

  it('labels the container as this home\u2019s, with the config hash', () => {
    expect(spec.options.Labels).toEqual({
      [LABELS.managed]: 'true',
      [LABELS.home]: homeId(home),
      [LABELS.instance]: record.id,
      [LABELS.name]: 'orders',
      [LABELS.service]: 'postgres',
      [LABELS.version]: '15',
      [CONFIG_HASH_LABEL]: spec.configHash,
    });
    expect(spec.configHash).toMatch(/^[0-9a-f]{16}$/);
    expect(spec.options.Labels?.['dbaas.managed']).toBe('true');
    expect(spec.options.Labels?.['dbaas.instance']).toBe('db_abc123xy');
    expect(spec.options.Labels?.['dbaas.name']).toBe('orders');
  });

  it('passes the superuser password as a file path (POSTGRES_PASSWORD_FILE), then the plain environment', () => {
    expect(spec.options.Env).toEqual([
      'POSTGRES_USER=postgres',
      'POSTGRES_PASSWORD_FILE=/run/secrets/postgres-password',
      'POSTGRES_DB=postgres',
      'POSTGRES_INITDB_ARGS=--auth-local=peer --auth-host=scram-sha-256',
      'PGDATA=/var/lib/postgresql/data',
    ]);
  });

  it('runs postgres with the effective settings, overrides included and quoted intact', () => {
    const expected = ['postgres'];
    const archiving = walArchiveSettings(60, 2048);
    for (const [k, v] of Object.entries({ ...effectiveSettings(record.memory, record.cpus, record.pgSettings), ...archiving, ...serverTlsSettings() })) {
      expected.push('-c', `${k}=${v}`);
    }
    expect(spec.options.Cmd).toEqual(expected);
    expect(spec.options.Cmd).toContain('work_mem=8MB');
    expect(spec.options.Cmd).toContain('log_line_prefix=%m [%p] "%u"@%d: ');
    expect(spec.options.Cmd).toContain('shared_buffers=192MB');
    // Continuous archiving into the instance's own archive, on by default.
    expect(spec.options.Cmd).toContain('archive_mode=on');
    expect(spec.options.Cmd).toContain('archive_timeout=60s');
    expect(spec.options.Cmd).toContain(`archive_command=${archiving.archive_command}`);
  });

  it('drops an override that is not the user\u2019s to set (a record from before the allowlist)', () => {
    const files = provisioner.prepare(
      makeRecord({ id: 'db_reserved1', pgSettings: { work_mem: '8MB', search_path: '"$user", public', archive_command: 'sh -c x' } }),
      SECRETS,
    );
    const cmd = onlySpec(files.composePath).options.Cmd ?? [];
    expect(cmd).toContain('work_mem=8MB');
    expect(cmd.some((arg) => arg.startsWith('search_path='))).toBe(false);
    // The archive_command is dbaas's own, never the record's.
    expect(cmd.filter((arg) => arg.startsWith('archive_command='))).toEqual([`archive_command=${walArchiveSettings(60, 2048).archive_command}`]);
  });

  it('stops gracefully with SIGINT and the configured grace period, and health-checks with pg_isready', () => {
    expect(spec.options.StopSignal).toBe('SIGINT');
    expect(spec.options.StopTimeout).toBe(17);
    expect(spec.options.Healthcheck).toEqual({
      Test: ['CMD', 'pg_isready', '-h', '127.0.0.1', '-p', '5432', '-q'],
      Interval: 10e9,
      Timeout: 5e9,
      Retries: 3,
      StartPeriod: 60e9,
    });
  });

  it('copies the application database by files on 15 and later, and leaves older versions to their only way', () => {
    const sql = readFileSync(join(files.scriptsDir, '01-init-users.sql'), 'utf8');
    expect(record.version).toBe(15);
    expect(sql).toMatch(/CREATE DATABASE "shop" OWNER postgres STRATEGY = FILE_COPY;/);
    const renderer = createRenderer(join(PROJECT_ROOT, 'templates'));
    const old = renderer.render('init-scripts/01-init-users.sql.njk', { ...record, version: 13 });
    expect(old).toContain('CREATE DATABASE "shop" OWNER postgres;');
  });

  it('renders init-user SQL: the role without a password, the database owned by postgres, least privilege', () => {
    const sql = readFileSync(join(files.scriptsDir, '01-init-users.sql'), 'utf8');
    expect(sql).toContain('\\set ON_ERROR_STOP on');
    expect(sql).toContain('CREATE ROLE "shop_app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;');
    expect(sql).toContain('CREATE DATABASE "shop" OWNER postgres STRATEGY = FILE_COPY;');
    expect(sql).toContain('REVOKE ALL ON DATABASE "shop" FROM PUBLIC;');
    expect(sql).toContain('GRANT CONNECT, TEMPORARY, CREATE ON DATABASE "shop" TO "shop_app";');
    expect(sql).toContain('REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;');
    expect(sql).toContain('\\connect "shop"');
    expect(sql).toContain('REVOKE CREATE ON SCHEMA public FROM PUBLIC;');
    expect(sql).toContain('ALTER SCHEMA public OWNER TO "shop_app";');
    expect(sql).not.toMatch(/\{\{|\}\}|\{%/);
    // No password of any kind, nor a way to read one from the environment.
    const code = sql
      .split('\n')
      .filter((line) => !line.startsWith('--'))
      .join('\n');
    expect(code).not.toMatch(/password/i);
    expect(sql).not.toMatch(/\$DBAAS_|\\getenv|`/);
    // dbaas's own roles are made after the start (controlAccess.ts), not here.
    expect(code).not.toContain(MONITOR_ROLE);
    expect(initStatements(sql)).toHaveLength(7);
  });

  it('writes the same spec when nothing changed (stable config hash)', () => {
    provisioner.renderCompose(record);
    expect(onlySpec(files.composePath).configHash).toBe(spec.configHash);
  });

  it('keeps the config hash when only the secrets change (they are files, not options)', () => {
    const id = 'db_hashsec01';
    provisioner.prepare(makeRecord({ id }), SECRETS);
    const before = loadContainerSpecs(provisioner.files(id).composePath);
    provisioner.writeSecrets({ id }, { adminPassword: 'OtherAdminPw12', monitorPassword: 'OtherMonitorPw12' });
    const after = loadContainerSpecs(provisioner.files(id).composePath);
    expect(after.map((s) => s.configHash)).toEqual(before.map((s) => s.configHash));
  });

  it('changes the config hash, the memory and the derived settings when memory changes', () => {
    const bigger = makeRecord({ id: 'db_hash00001', memory: 2048 * MiB });
    provisioner.prepare(makeRecord({ id: 'db_hash00001' }), SECRETS);
    const before = onlySpec(provisioner.files('db_hash00001').composePath);
    provisioner.renderCompose(bigger);
    const after = onlySpec(provisioner.files('db_hash00001').composePath);
    expect(after.configHash).not.toBe(before.configHash);
    expect(after.options.HostConfig?.Memory).toBe(2048 * MiB);
    expect(after.options.HostConfig?.MemorySwap).toBe(2048 * MiB);
    expect(after.options.Cmd).toContain('shared_buffers=512MB');
    expect(after.options.Labels?.[CONFIG_HASH_LABEL]).toBe(after.configHash);
  });

  it('changes the config hash when cpus or a setting override changes', () => {
    const id = 'db_hash00002';
    provisioner.prepare(makeRecord({ id }), SECRETS);
    const base = onlySpec(provisioner.files(id).composePath).configHash;
    provisioner.renderCompose(makeRecord({ id, cpus: 2 }));
    const cpus = onlySpec(provisioner.files(id).composePath);
    expect(cpus.options.HostConfig?.NanoCpus).toBe(2e9);
    expect(cpus.configHash).not.toBe(base);
    provisioner.renderCompose(makeRecord({ id, pgSettings: { work_mem: '9MB' } }));
    expect(onlySpec(provisioner.files(id).composePath).configHash).not.toBe(base);
  });
});

describe('Provisioner.prepare variants', () => {
  it('publishes on 0.0.0.0 when the record says so', () => {
    const files = provisioner.prepare(makeRecord({ id: 'db_anyaddr01', bindAddress: '0.0.0.0', port: 6001 }), SECRETS);
    expect(onlySpec(files.composePath).options.HostConfig?.PortBindings).toEqual({
      '5432/tcp': [{ HostIp: '0.0.0.0', HostPort: '6001' }],
    });
  });

  it('keeps passwords with shell, SQL and pgpass metacharacters intact in their files and out of everything else', () => {
    const secrets: PlainSecrets = { password: "p@ss:w%rd'$x", adminPassword: 'a=b,c?d^e*:f', monitorPassword: 'm+~!.:-_\\x' };
    const files = provisioner.prepare(makeRecord({ id: 'db_special01' }), secrets);
    expect(readFileSync(files.postgresPasswordPath, 'utf8')).toBe('a=b,c?d^e*:f\n');
    const pgpass = readFileSync(files.agentPgpassPath, 'utf8');
    expect(pgpass).toBe('*:*:*:dbaas_monitor:m+~!.\\:-_\\\\x\n');
    expect(readPgpassLine(pgpass.replace(/\n$/, ''))).toEqual(['*', '*', '*', MONITOR_ROLE, 'm+~!.:-_\\x']);
    const specs = loadContainerSpecs(files.composePath);
    for (const s of specs) {
      const json = JSON.stringify(s.options);
      for (const secret of Object.values(secrets)) expect(json).not.toContain(JSON.stringify(secret).slice(1, -1));
    }
    for (const f of [files.composePath, join(files.scriptsDir, '01-init-users.sql')]) {
      const text = readFileSync(f, 'utf8');
      for (const secret of Object.values(secrets)) expect(text).not.toContain(secret);
    }
  });

  it('quotes a database name with YAML and SQL metacharacters in the agent\u2019s environment and the init script', () => {
    const database = 'we"ird: db #1';
    const files = provisioner.prepare(makeRecord({ id: 'db_weirddb01', database }), SECRETS);
    expect(envOf(agentSpec(files.composePath)).PGDATABASE).toBe(database);
    const sql = readFileSync(join(files.scriptsDir, '01-init-users.sql'), 'utf8');
    expect(sql).toContain('CREATE DATABASE "we""ird: db #1" OWNER postgres STRATEGY = FILE_COPY;');
    expect(initStatements(sql)).toHaveLength(7);
  });

  it('re-tightens the secret files to 0600 and their folder to 0700 when they exist with wider modes', () => {
    const id = 'db_remode001';
    const files = provisioner.files(id);
    provisioner.prepare(makeRecord({ id }), SECRETS);
    // Widen them, then prepare again: writeFileSync keeps an existing file's mode, chmod must fix it.
    for (const path of [files.postgresPasswordPath, files.agentPgpassPath]) {
      writeFileSync(path, 'x', { mode: 0o644 });
      chmodSync(path, 0o644);
    }
    chmodSync(files.secretsDir, 0o755);
    provisioner.prepare(makeRecord({ id }), SECRETS);
    expect(mode(files.postgresPasswordPath)).toBe(0o600);
    expect(mode(files.agentPgpassPath)).toBe(0o600);
    expect(mode(files.secretsDir)).toBe(0o700);
    expect(readFileSync(files.postgresPasswordPath, 'utf8')).toBe(`${SECRETS.adminPassword}\n`);

    // writeSecrets alone does the same.
    chmodSync(files.postgresPasswordPath, 0o666);
    chmodSync(files.agentPgpassPath, 0o640);
    chmodSync(files.secretsDir, 0o777);
    provisioner.writeSecrets({ id }, SECRETS);
    expect(mode(files.postgresPasswordPath)).toBe(0o600);
    expect(mode(files.agentPgpassPath)).toBe(0o600);
    expect(mode(files.secretsDir)).toBe(0o700);
  });
});

describe('pgpassLine', () => {
  it('matches any host, port and database for the user', () => {
    expect(pgpassLine('dbaas_monitor', 'secretPw123')).toBe('*:*:*:dbaas_monitor:secretPw123\n');
  });

  it('escapes : and \\ in the user and the password with a backslash', () => {
    expect(pgpassLine('a:b', 'c:d')).toBe('*:*:*:a\\:b:c\\:d\n');
    expect(pgpassLine('u', 'back\\slash')).toBe('*:*:*:u:back\\\\slash\n');
    expect(pgpassLine('u\\', ':\\:')).toBe('*:*:*:u\\\\:\\:\\\\\\:\n');
  });

  it('leaves every other character alone', () => {
    expect(pgpassLine('u', "a=b,c?d^e*+~!.-_@%'\"$ #")).toBe("*:*:*:u:a=b,c?d^e*+~!.-_@%'\"$ #\n");
  });

  it.each([['plain'], ['a:b'], ['a\\b'], ['\\:'], ['::\\\\'], ['ends with \\'], ['ends with :']])(
    'round-trips %j through libpq\u2019s reading of the line',
    (password) => {
      const line = pgpassLine('dbaas_monitor', password);
      expect(line.endsWith('\n')).toBe(true);
      expect(line.slice(0, -1)).not.toContain('\n');
      expect(readPgpassLine(line.slice(0, -1))).toEqual(['*', '*', '*', 'dbaas_monitor', password]);
    },
  );
});

describe('Provisioner.writeSecrets and hasCurrentLayout', () => {
  it('removes the env files of the older layout and writes the secret files', () => {
    const id = 'db_legacy001';
    const files = provisioner.prepare(makeRecord({ id }), SECRETS);
    // An instance from before: secrets in env files the containers got as environment.
    rmSync(files.secretsDir, { recursive: true, force: true });
    writeFileSync(files.legacyEnvFiles[0]!, `POSTGRES_PASSWORD=${SECRETS.adminPassword}\nDBAAS_APP_PASSWORD=${SECRETS.password}\n`, { mode: 0o600 });
    writeFileSync(files.legacyEnvFiles[1]!, `PGPASSWORD=${SECRETS.monitorPassword}\n`, { mode: 0o600 });
    expect(provisioner.hasCurrentLayout(id)).toBe(false);

    provisioner.writeSecrets({ id }, { adminPassword: SECRETS.adminPassword, monitorPassword: SECRETS.monitorPassword });
    for (const path of files.legacyEnvFiles) expect(existsSync(path)).toBe(false);
    expect(readFileSync(files.postgresPasswordPath, 'utf8')).toBe(`${SECRETS.adminPassword}\n`);
    expect(readFileSync(files.agentPgpassPath, 'utf8')).toBe(pgpassLine(MONITOR_ROLE, SECRETS.monitorPassword));
    expect(mode(files.secretsDir)).toBe(0o700);
    expect(provisioner.hasCurrentLayout(id)).toBe(true);
    // Data, scripts and compose file are left alone.
    expect(existsSync(files.composePath)).toBe(true);
    expect(existsSync(join(files.scriptsDir, '01-init-users.sql'))).toBe(true);
  });

  it('is not the current layout while any legacy env file remains, even beside the secret files', () => {
    const id = 'db_legacy002';
    const files = provisioner.prepare(makeRecord({ id }), SECRETS);
    expect(provisioner.hasCurrentLayout(id)).toBe(true);
    for (const legacy of files.legacyEnvFiles) {
      writeFileSync(legacy, 'X=1\n', { mode: 0o600 });
      expect(provisioner.hasCurrentLayout(id)).toBe(false);
      rmSync(legacy);
      expect(provisioner.hasCurrentLayout(id)).toBe(true);
    }
  });

  it('is not the current layout when a secret file is missing', () => {
    const id = 'db_legacy003';
    const files = provisioner.prepare(makeRecord({ id }), SECRETS);
    rmSync(files.agentPgpassPath);
    expect(provisioner.hasCurrentLayout(id)).toBe(false);
    provisioner.writeSecrets({ id }, SECRETS);
    rmSync(files.postgresPasswordPath);
    expect(provisioner.hasCurrentLayout(id)).toBe(false);
    provisioner.writeSecrets({ id }, SECRETS);
    expect(provisioner.hasCurrentLayout(id)).toBe(true);
  });

  it('is not the current layout without the server folder (TLS) in its compose file, though it still archives its WAL', () => {
    const id = 'db_legacy004';
    const files = provisioner.prepare(makeRecord({ id }), SECRETS);
    expect([provisioner.hasCurrentLayout(id), provisioner.archivesWal(id)]).toEqual([true, true]);
    const compose = readFileSync(files.composePath, 'utf8');
    writeFileSync(files.composePath, compose.split('\n').filter((line) => !line.includes('/etc/dbaas/server')).join('\n'));
    expect([provisioner.hasCurrentLayout(id), provisioner.archivesWal(id)]).toEqual([false, true]);
    writeFileSync(files.composePath, compose.split('\n').filter((line) => !line.includes('/var/lib/dbaas/backups"')).join('\n'));
    expect(provisioner.archivesWal(id)).toBe(false);
  });

  it('is not the current layout while the compose file is still of the older one, even once the secret files exist', () => {
    // The upgrade (InstanceManager.ensureLayout) is writeSecrets, then renderCompose. If the
    // process dies (or renderCompose throws) between the two, the env files are gone but the
    // compose file still reads them; the layout must not count as current then, or the upgrade
    // is never finished and the containers can never be made from the file again.
    const id = 'db_legacy004';
    const files = provisioner.prepare(makeRecord({ id }), SECRETS);
    const current = readFileSync(files.composePath, 'utf8');
    const old = current
      .replace('    networks:\n      - default\n', '    env_file:\n      - ./secrets.env\n    network_mode: bridge\n')
      .replace('    networks:\n      - default\n', '    env_file:\n      - ./agent.env\n    network_mode: "service:postgres"\n')
      .replace(/\nnetworks:\n[\s\S]*$/, '\n')
      .replaceAll('      - ./secrets/postgres-password:/run/secrets/postgres-password:ro\n', '')
      .replaceAll('      - ./secrets/agent.pgpass:/run/secrets/pgpass:ro\n', '');
    expect(old).not.toBe(current);
    writeFileSync(files.composePath, old);
    rmSync(files.secretsDir, { recursive: true, force: true });
    writeFileSync(files.legacyEnvFiles[0]!, `POSTGRES_PASSWORD=${SECRETS.adminPassword}\n`, { mode: 0o600 });
    writeFileSync(files.legacyEnvFiles[1]!, `PGPASSWORD=${SECRETS.monitorPassword}\n`, { mode: 0o600 });
    // The older layout, complete: its compose file loads (and puts the secrets in the Env).
    expect(loadContainerSpecs(files.composePath).map((s) => s.options.HostConfig?.NetworkMode)).toEqual([
      'bridge',
      `container:${containerNameFor(makeRecord({ id }))}`,
    ]);
    expect(provisioner.hasCurrentLayout(id)).toBe(false);

    // The first half of the upgrade only.
    provisioner.writeSecrets({ id }, SECRETS);
    expect(() => loadContainerSpecs(files.composePath)).toThrow(/secrets\.env/);
    expect(provisioner.hasCurrentLayout(id)).toBe(false);
  });

  it('is not the current layout for an instance without a folder', () => {
    expect(provisioner.hasCurrentLayout('db_nothere02')).toBe(false);
  });

  it('replaces the content of existing secret files (no stale tail of a longer old password)', () => {
    const id = 'db_rewrite01';
    const files = provisioner.prepare(makeRecord({ id }), { ...SECRETS, adminPassword: 'A'.repeat(60), monitorPassword: 'M'.repeat(60) });
    provisioner.writeSecrets({ id }, { adminPassword: 'shortAdmin1', monitorPassword: 'shortMon1' });
    expect(readFileSync(files.postgresPasswordPath, 'utf8')).toBe('shortAdmin1\n');
    expect(readFileSync(files.agentPgpassPath, 'utf8')).toBe('*:*:*:dbaas_monitor:shortMon1\n');
  });
});

describe('Provisioner.remove', () => {
  it('with keepData keeps data/ and backups/ and removes the rest, secrets included', () => {
    const id = 'db_keep00001';
    const files = provisioner.prepare(makeRecord({ id }), SECRETS);
    writeFileSync(join(files.dataDir, 'PG_VERSION'), '15\n');
    writeFileSync(join(files.backupsDir, 'dump.sql'), '-- dump\n');
    writeFileSync(join(files.logsDir, 'metrics.ndjson'), '{}\n');
    // A leftover of the older layout goes too.
    writeFileSync(files.legacyEnvFiles[0]!, 'POSTGRES_PASSWORD=x\n', { mode: 0o600 });
    provisioner.remove(id, { keepData: true });
    expect(readFileSync(join(files.dataDir, 'PG_VERSION'), 'utf8')).toBe('15\n');
    expect(readFileSync(join(files.backupsDir, 'dump.sql'), 'utf8')).toBe('-- dump\n');
    expect(existsSync(files.logsDir)).toBe(false);
    expect(existsSync(files.scriptsDir)).toBe(false);
    expect(existsSync(files.composePath)).toBe(false);
    expect(existsSync(files.secretsDir)).toBe(false);
    for (const path of files.legacyEnvFiles) expect(existsSync(path)).toBe(false);
    expect(readdirSync(files.dir).sort()).toEqual(['backups', 'data']);
  });

  it('without keepData removes the whole folder when the instance has no backup (its WAL alone restores nothing)', () => {
    const id = 'db_gone00003';
    const files = provisioner.prepare(makeRecord({ id }), SECRETS);
    provisioner.remove(id);
    expect(existsSync(files.dir)).toBe(false);
  });

  it('without keepData removes everything but the backups, and marks the instance deleted beside them', () => {
    const id = 'db_gone00001';
    const files = provisioner.prepare(makeRecord({ id }), SECRETS);
    writeFileSync(join(files.dataDir, 'PG_VERSION'), '15\n');
    const backupId = 'bk_20261124100000abcd';
    const part = provisioner.backups.partDir(id, backupId);
    writeFileSync(join(part, 'database.pgdump'), 'x');
    provisioner.backups.commit(part, {
      format: 1,
      id: backupId,
      type: 'logical',
      label: null,
      trigger: 'manual',
      instance: { id, name: 'orders', version: 15, image: 'postgres:15', database: 'app', username: 'app' },
      serverVersion: '15.18',
      startedAt: '2026-11-24T10:00:00.000Z',
      finishedAt: '2026-11-24T10:00:01.000Z',
      files: [{ name: 'database.pgdump', size: 1, sha256: 'a'.repeat(64) }],
      wal: null,
      rowCounts: {},
      verification: null,
      encrypted: false,
    });
    provisioner.remove(id);
    expect(readdirSync(files.dir)).toEqual(['backups']);
    expect(readdirSync(files.backupsDir).sort()).toEqual([backupId, 'instance.json', 'wal']);
    expect(provisioner.backups.identity(files.backupsDir)?.deletedAt).toMatch(/^\d{4}-/);
    // Other instances are untouched.
    expect(existsSync(provisioner.files('db_keep00001').dataDir)).toBe(true);
  });

  it('with purgeBackups removes the whole folder, backups included', () => {
    const id = 'db_gone00002';
    const files = provisioner.prepare(makeRecord({ id }), SECRETS);
    provisioner.remove(id, { purgeBackups: true });
    expect(existsSync(files.dir)).toBe(false);
  });

  it('is a no-op for an instance that has no folder', () => {
    expect(() => provisioner.remove('db_nothere01')).not.toThrow();
    expect(() => provisioner.remove('db_nothere01', { keepData: true })).not.toThrow();
    expect(existsSync(provisioner.files('db_nothere01').dir)).toBe(false);
  });
});

describe('quoteIdent and the template renderer', () => {
  it('wraps in double quotes and doubles inner quotes', () => {
    expect(quoteIdent('app')).toBe('"app"');
    expect(quoteIdent('my"db')).toBe('"my""db"');
    expect(quoteIdent('""')).toBe('""""""');
    expect(quoteIdent('Mixed Case')).toBe('"Mixed Case"');
    expect(quoteIdent('')).toBe('""');
  });

  it('refuses a NUL byte', () => {
    expect(() => quoteIdent('a\0b')).toThrow(/NUL/);
  });

  it('quotes hostile identifiers in the init-user script', () => {
    const renderer = createRenderer(runtimePaths(settings).templatesDir);
    const evil = 'evil"; DROP DATABASE x; --';
    const sql = renderer.render('init-scripts/01-init-users.sql.njk', {
      name: 'x',
      version: 15,
      username: evil,
      database: 'd"b',
    });
    expect(sql).toContain('CREATE ROLE "evil""; DROP DATABASE x; --" LOGIN');
    expect(sql).toContain('CREATE DATABASE "d""b" OWNER postgres STRATEGY = FILE_COPY;');
    expect(sql).toContain('GRANT CONNECT, TEMPORARY, CREATE ON DATABASE "d""b" TO "evil""; DROP DATABASE x; --";');
    expect(sql).toContain('\\connect "d""b"');
    expect(sql).toContain('ALTER SCHEMA public OWNER TO "evil""; DROP DATABASE x; --";');
    // PostgreSQL's own grammar sees the same seven statements, none of them a DROP.
    const stmts = initStatements(sql) as Array<{ stmt: Record<string, unknown> }>;
    expect(stmts.map((s) => Object.keys(s.stmt)[0])).toEqual([
      'CreateRoleStmt',
      'CreatedbStmt',
      'GrantStmt',
      'GrantStmt',
      'GrantStmt',
      'GrantStmt',
      'AlterOwnerStmt',
    ]);
  });

  it('fails on a variable the template needs but the context lacks', () => {
    const renderer = createRenderer(runtimePaths(settings).templatesDir);
    expect(() => renderer.render('init-scripts/01-init-users.sql.njk', { name: 'x', database: 'd' })).toThrow();
  });
});

describe('parseDuration', () => {
  it.each([
    ['10s', 10e9],
    ['1m30s', 90e9],
    ['500ms', 500e6],
    ['1h', 3600e9],
    ['1m', 60e9],
    ['2h3m4s5ms', ((2 * 3600 + 3 * 60 + 4) * 1000 + 5) * 1e6],
    ['0s', 0],
  ])('%s is %d ns', (text, ns) => {
    expect(parseDuration(text)).toBe(ns);
  });

  it.each(['', '10', 's', '1.5s', '10 s', '1d', '30s1m', '-1s', 'abc'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/not a duration/);
  });
});

describe('parseEnvFile', () => {
  it('reads KEY=VALUE lines, skipping comments, blanks and lines without a key', () => {
    const text = [
      '# a comment',
      '',
      'A=1',
      '  B = two ',
      'C=x=y=z',
      'EMPTY=',
      '=novalue',
      'NOEQUALS',
      '   # indented comment',
      'D=last\r',
    ].join('\n');
    expect(parseEnvFile(text)).toEqual([
      ['A', '1'],
      ['B ', ' two'],
      ['C', 'x=y=z'],
      ['EMPTY', ''],
      ['D', 'last'],
    ]);
  });

  it('keeps values with # and quotes as they are', () => {
    expect(parseEnvFile('P=a#b"c\'d')).toEqual([['P', 'a#b"c\'d']]);
  });

  it('is empty for an empty file', () => {
    expect(parseEnvFile('')).toEqual([]);
  });
});

describe('parsePortMapping', () => {
  it('splits host ip, host port and container port', () => {
    expect(parsePortMapping('127.0.0.1:5433:5432')).toEqual({ hostIp: '127.0.0.1', hostPort: '5433', containerPort: '5432' });
    expect(parsePortMapping('5433:5432')).toEqual({ hostIp: '', hostPort: '5433', containerPort: '5432' });
    expect(parsePortMapping('0.0.0.0:6000:5432')).toEqual({ hostIp: '0.0.0.0', hostPort: '6000', containerPort: '5432' });
  });

  it.each(['5432', '', 'a:5432', '5433:b', '127.0.0.1::5432', '5433:5432/tcp', '127.0.0.1:5433-5440:5432'])(
    'rejects %j',
    (text) => {
      expect(() => parsePortMapping(text)).toThrow(/unsupported port mapping/);
    },
  );
});

describe('compose file checks', () => {
  const BRIDGE = '    network_mode: bridge';

  function composeWith(extra: string, network: string = BRIDGE): string {
    return [
      'version: "2.4"',
      'services:',
      '  postgres:',
      '    image: postgres:15',
      '    container_name: c1',
      '    command: [postgres]',
      '    mem_limit: 134217728',
      '    memswap_limit: 134217728',
      '    cpus: 0.5',
      '    shm_size: 67108864',
      '    pids_limit: 100',
      '    restart: "no"',
      '    stop_signal: SIGINT',
      '    stop_grace_period: 1m30s',
      ...(network ? [network] : []),
      '    labels: {a: b}',
      extra,
    ].join('\n');
  }

  const NETWORKS = 'networks:\n  default: {name: dbaas-net1, external: true}\n  extra: {name: dbaas-net2, external: true}\n';


  it('accepts a minimal service and fills the defaults', () => {
    const file = parseComposeText(composeWith(''), 'x.yml');
    const svc = file.services.postgres;
    expect(svc?.env_file).toEqual([]);
    expect(svc?.environment).toEqual({});
    const spec = toContainerSpec('postgres', svc!, '/srv/inst', () => {
      throw new Error('no env file should be read');
    });
    expect(spec.options.StopTimeout).toBe(90);
    expect(spec.options.HostConfig?.NanoCpus).toBe(5e8);
    expect(spec.options.HostConfig?.NetworkMode).toBe('bridge');
    expect(spec.options.NetworkingConfig).toBeUndefined();
    expect(spec.networks).toEqual([]);
    expect(spec.options.Healthcheck).toBeUndefined();
    expect(spec.options.HostConfig?.LogConfig).toBeUndefined();
  });

  it('rejects an unknown service key, naming it', () => {
    const err = caught(() => parseComposeText(composeWith('    privileged: true'), 'x.yml'));
    expect(err.code).toBe('OPERATION_FAILED');
    expect(err.message).toMatch(/x\.yml/);
    expect(err.message).toMatch(/privileged/);
  });

  it('rejects an unknown top-level key (volumes, x-...) instead of dropping it', () => {
    for (const extra of ['volumes:\n  data: {}', 'x-note: hi', 'configs: {}']) {
      expect(() => parseComposeText(`${composeWith('')}\n${extra}\n`, 'x.yml')).toThrow(/x\.yml/);
    }
  });

  it('rejects a top-level network that dbaas would not make itself (not external, unnamed, or with more keys)', () => {
    const svc = '    networks: [default]';
    for (const net of [
      'networks:\n  default: {}',
      'networks:\n  default: {name: n1}',
      'networks:\n  default: {name: n1, external: false}',
      'networks:\n  default: {external: true}',
      'networks:\n  default: {name: "", external: true}',
      'networks:\n  default: {name: n1, external: true, driver: bridge}',
    ]) {
      const err = caught(() => parseComposeText(`${composeWith('', svc)}\n${net}\n`, 'x.yml'));
      expect(err.code).toBe('OPERATION_FAILED');
      expect(err.message).toMatch(/^x\.yml: networks\.default/);
    }
  });

  it('rejects a service with both network_mode and networks, and one with neither', () => {
    const both = caught(() => parseComposeText(`${composeWith('    networks: [default]')}\n${NETWORKS}`, 'x.yml'));
    expect(both.code).toBe('OPERATION_FAILED');
    expect(both.message).toMatch(/x\.yml: services\.postgres/);
    expect(both.message).toMatch(/either network_mode or networks/);

    const neither = caught(() => parseComposeText(composeWith('', ''), 'x.yml'));
    expect(neither.code).toBe('OPERATION_FAILED');
    expect(neither.message).toMatch(/either network_mode or networks/);
  });

  it('rejects an empty networks list', () => {
    expect(() => parseComposeText(`${composeWith('', '    networks: []')}\n${NETWORKS}`, 'x.yml')).toThrow(/networks/);
  });

  it('rejects a service naming a network the file does not declare', () => {
    const undeclared = caught(() => parseComposeText(`${composeWith('', '    networks: [other]')}\n${NETWORKS}`, 'x.yml'));
    expect(undeclared.code).toBe('OPERATION_FAILED');
    expect(undeclared.message).toMatch(/services\.postgres\.networks/);
    expect(undeclared.message).toMatch(/"other"/);
    // Without any top-level networks at all.
    expect(() => parseComposeText(composeWith('', '    networks: [default]'), 'x.yml')).toThrow(/names no network "default"/);
    // The second of two, too.
    expect(() => parseComposeText(`${composeWith('', '    networks: [default, nope]')}\n${NETWORKS}`, 'x.yml')).toThrow(
      /names no network "nope"/,
    );
  });

  it('resolves networks to their declared names: the first is the NetworkMode, each an endpoint', () => {
    const dir = mkdtempSync(join(home, 'compose-'));
    const path = join(dir, 'docker-compose.yml');
    writeFileSync(path, `${composeWith('', '    networks: [extra, default]')}\n${NETWORKS}`);
    const [spec] = loadContainerSpecs(path);
    expect(spec!.networks).toEqual(['dbaas-net2', 'dbaas-net1']);
    expect(spec!.options.HostConfig?.NetworkMode).toBe('dbaas-net2');
    expect(spec!.options.NetworkingConfig).toEqual({ EndpointsConfig: { 'dbaas-net2': {}, 'dbaas-net1': {} } });
    // The networks are part of the options, hence of the hash.
    writeFileSync(path, `${composeWith('', '    networks: [default]')}\n${NETWORKS}`);
    const [other] = loadContainerSpecs(path);
    expect(other!.networks).toEqual(['dbaas-net1']);
    expect(other!.configHash).not.toBe(spec!.configHash);
  });

  it('turns network_mode service:<name> into container:<its container name>, and refuses an unknown service', () => {
    const dir = mkdtempSync(join(home, 'compose-'));
    const path = join(dir, 'docker-compose.yml');
    const sidecar = composeWith('')
      .split('\n')
      .slice(2)
      .join('\n')
      .replace('  postgres:', '  side:')
      .replace('container_name: c1', 'container_name: c2')
      .replace(BRIDGE, '    network_mode: "service:postgres"');
    writeFileSync(path, `${composeWith('')}\n${sidecar}\n`);
    const specs = loadContainerSpecs(path);
    expect(specs.map((s) => [s.service, s.options.HostConfig?.NetworkMode])).toEqual([
      ['postgres', 'bridge'],
      ['side', 'container:c1'],
    ]);
    writeFileSync(path, `${composeWith('')}\n${sidecar.replace('service:postgres', 'service:ghost')}\n`);
    expect(() => loadContainerSpecs(path)).toThrow(/service:ghost/);
  });

  it('rejects a rendered file whose service gained network_mode beside its networks', () => {
    const files = provisioner.prepare(makeRecord({ id: 'db_strict002' }), SECRETS);
    const text = readFileSync(files.composePath, 'utf8').replace('    networks:\n      - default\n', '    network_mode: host\n    networks:\n      - default\n');
    expect(text).toContain('network_mode: host');
    writeFileSync(files.composePath, text);
    expect(() => loadContainerSpecs(files.composePath)).toThrow(/either network_mode or networks/);
  });

  it('rejects a rendered file whose network lost external: true', () => {
    const files = provisioner.prepare(makeRecord({ id: 'db_strict003' }), SECRETS);
    const text = readFileSync(files.composePath, 'utf8').replace('    external: true\n', '');
    writeFileSync(files.composePath, text);
    expect(() => loadContainerSpecs(files.composePath)).toThrow(/networks\.default/);
  });

  it('rejects a rendered file whose service gained an unknown key', () => {
    const files = provisioner.prepare(makeRecord({ id: 'db_strict001' }), SECRETS);
    const text = readFileSync(files.composePath, 'utf8').replace(
      '    restart: unless-stopped\n',
      '    restart: unless-stopped\n    cap_add: [SYS_ADMIN]\n',
    );
    expect(text).toContain('cap_add');
    writeFileSync(files.composePath, text);
    expect(() => loadContainerSpecs(files.composePath)).toThrow(/cap_add/);
  });

  it('rejects an unknown healthcheck key', () => {
    const hc = [
      '    healthcheck:',
      '      test: [CMD, "true"]',
      '      interval: 10s',
      '      timeout: 5s',
      '      retries: 3',
      '      start_period: 1s',
      '      disable: true',
    ].join('\n');
    expect(() => parseComposeText(composeWith(hc), 'x.yml')).toThrow(/disable/);
  });

  it('rejects a bad duration, a size written as text and a bad restart policy', () => {
    expect(() => parseComposeText(composeWith('').replace('1m30s', '90'), 'x.yml')).toThrow(/stop_grace_period/);
    expect(() => parseComposeText(composeWith('').replace('mem_limit: 134217728', 'mem_limit: 128m'), 'x.yml')).toThrow(
      /mem_limit/,
    );
    expect(() => parseComposeText(composeWith('').replace('"no"', 'sometimes'), 'x.yml')).toThrow(/restart/);
  });

  it('rejects text that is not YAML', () => {
    expect(() => parseComposeText('services: [unclosed', 'bad.yml')).toThrow(/bad\.yml is not valid YAML/);
  });

  it('reports a missing compose file as OPERATION_FAILED', () => {
    const err = caught(() => loadContainerSpecs(join(home, 'nope', 'docker-compose.yml')));
    expect(err.code).toBe('OPERATION_FAILED');
    expect(err.message).toMatch(/cannot read/);
  });

  it('resolves relative volumes and env files against the compose folder and keeps named volumes', () => {
    const file = parseComposeText(
      composeWith(
        ['    env_file: [./a.env]', '    environment: {X: 1}', '    volumes: [./d:/data, /abs:/abs:ro, named:/n]', '    ports: ["5000:5432"]'].join(
          '\n',
        ),
      ),
      'x.yml',
    );
    const read: string[] = [];
    const spec = toContainerSpec('postgres', file.services.postgres!, '/srv/inst', (p) => {
      read.push(p);
      return 'K=V\n';
    });
    expect(read).toEqual([resolve('/srv/inst', 'a.env')]);
    expect(spec.options.Env).toEqual(['K=V', 'X=1']);
    expect(spec.options.HostConfig?.Binds).toEqual(['/srv/inst/d:/data', '/abs:/abs:ro', 'named:/n']);
    expect(spec.options.HostConfig?.PortBindings).toEqual({ '5432/tcp': [{ HostIp: '', HostPort: '5000' }] });
  });

  it('gives different hashes for different env file contents (the env is part of the options)', () => {
    const svc = parseComposeText(composeWith('    env_file: [./s.env]'), 'x.yml').services.postgres!;
    const a = toContainerSpec('postgres', svc, '/x', () => 'P=1');
    const b = toContainerSpec('postgres', svc, '/x', () => 'P=2');
    const a2 = toContainerSpec('postgres', svc, '/x', () => 'P=1');
    expect(a.configHash).not.toBe(b.configHash);
    expect(a.configHash).toBe(a2.configHash);
  });
});
