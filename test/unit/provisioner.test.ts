import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings, PROJECT_ROOT, runtimePaths, type Settings } from '../../src/config/settings.js';
import { DbaasError } from '../../src/errors.js';
import { effectiveSettings } from '../../src/instances/pgSettings.js';
import { InstanceRecordSchema, type InstanceRecord } from '../../src/instances/schema.js';
import {
  containerNameFor,
  instanceFiles,
  MONITOR_ROLE,
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
import { homeId, LABELS } from '../../src/runtime/labels.js';
import { sampleRecord } from './fixtures/records.js';

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
      pgSettings: { work_mem: '8MB', search_path: '"$user", public' },
      status: 'provisioning',
      ...overrides,
    }),
  );
}

let home: string;
let settings: Settings;
let provisioner: Provisioner;

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'dbaas-unit-prov-'));
  settings = loadSettings({ env: { DBAAS_HOME: home, DBAAS_STOP_TIMEOUT: '17' } });
  provisioner = new Provisioner(runtimePaths(settings), settings);
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

describe('Provisioner.prepare + loadContainerSpecs', () => {
  const record = makeRecord();
  let files: ReturnType<Provisioner['files']>;
  let spec: ContainerSpec;

  beforeAll(() => {
    files = provisioner.prepare(record, SECRETS);
    spec = onlySpec(files.composePath);
  });

  it('lays out the instance folder below instances/<id>', () => {
    expect(files.dir).toBe(join(home, 'instances', record.id));
    expect(files).toEqual(instanceFiles(join(home, 'instances'), record.id));
    for (const dir of [files.dataDir, files.logsDir, files.scriptsDir, files.backupsDir]) {
      expect(statSync(dir).isDirectory()).toBe(true);
    }
    expect(statSync(files.dir).mode & 0o777).toBe(0o700);
    expect(statSync(files.dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(files.scriptsDir).mode & 0o777).toBe(0o755);
    expect(readdirSync(files.scriptsDir).sort()).toEqual([
      '01-init-users.sql',
      '02-monitoring-setup.sql',
    ]);
  });

  it('writes secrets.env with mode 0600 and the three passwords', () => {
    expect(statSync(files.secretsPath).mode & 0o777).toBe(0o600);
    const env = Object.fromEntries(parseEnvFile(readFileSync(files.secretsPath, 'utf8')));
    expect(env).toEqual({
      POSTGRES_PASSWORD: SECRETS.adminPassword,
      DBAAS_APP_PASSWORD: SECRETS.password,
      DBAAS_MONITOR_PASSWORD: SECRETS.monitorPassword,
    });
  });

  it('keeps every password out of the compose file and the init scripts', () => {
    const texts = [
      readFileSync(files.composePath, 'utf8'),
      ...readdirSync(files.scriptsDir).map((f) => readFileSync(join(files.scriptsDir, f), 'utf8')),
    ];
    for (const text of texts) {
      for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
      // Nor the sealed forms from the record.
      expect(text).not.toContain('v1:sealed');
    }
  });

  it('renders a compose file that docker-compose would read (version, the server and its agent)', () => {
    const doc = parseYaml(readFileSync(files.composePath, 'utf8')) as Record<string, unknown>;
    expect(doc.version).toBe('2.4');
    expect(Object.keys(doc.services as object)).toEqual(['postgres', 'agent']);
    expect(spec.service).toBe('postgres');
  });

  it('writes agent.env (0600) with only the monitoring password, as PGPASSWORD', () => {
    expect(statSync(files.agentEnvPath).mode & 0o777).toBe(0o600);
    expect(Object.fromEntries(parseEnvFile(readFileSync(files.agentEnvPath, 'utf8')))).toEqual({
      PGPASSWORD: SECRETS.monitorPassword,
    });
  });

  it('runs the agent beside the server: same image, its network namespace, tiny locked-down limits', () => {
    const agent = agentSpec(files.composePath);
    const o = agent.options;
    expect(agent.service).toBe('agent');
    expect(agent.name).toBe(containerNameFor(record, 'agent'));
    expect(o.Image).toBe(record.image);
    expect(o.Entrypoint).toEqual(['/bin/bash']);
    expect(o.Cmd).toEqual(['/monitoring/agent.sh']);
    expect(o.HostConfig?.NetworkMode).toBe(`container:${containerNameFor(record)}`);
    expect(o.HostConfig?.Memory).toBe(32 * MiB);
    expect(o.HostConfig?.NanoCpus).toBe(1e8);
    expect(o.HostConfig?.PidsLimit).toBe(32);
    expect(o.HostConfig?.ReadonlyRootfs).toBe(true);
    expect(o.HostConfig?.CapDrop).toEqual(['ALL']);
    expect(o.HostConfig?.Tmpfs).toEqual({ '/tmp': '' });
    expect(o.HostConfig?.PortBindings).toEqual({});
    expect(o.HostConfig?.Binds).toEqual([
      `${resolve(PROJECT_ROOT, 'monitoring')}:/monitoring:ro`,
      `${files.logsDir}:/metrics`,
    ]);
    expect(o.Labels).toMatchObject({ [LABELS.instance]: record.id, [LABELS.service]: 'agent' });
    const env = Object.fromEntries((o.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    expect(env).toMatchObject({
      PGPASSWORD: SECRETS.monitorPassword,
      PGUSER: MONITOR_ROLE,
      PGDATABASE: record.database,
      PGHOST: '127.0.0.1',
      PGAPPNAME: 'dbaas-monitor',
      DBAAS_INSTANCE: record.id,
      DBAAS_INTERVAL: String(record.monitoring.intervalSec),
      DBAAS_MAX_BYTES: String(record.monitoring.maxFileBytes),
      DBAAS_KEEP_FILES: String(record.monitoring.keepFiles),
    });
    expect(env.POSTGRES_PASSWORD).toBeUndefined();
    expect(env.DBAAS_APP_PASSWORD).toBeUndefined();
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
    expect(o.HostConfig?.NetworkMode).toBe('bridge');
    expect(o.HostConfig?.RestartPolicy).toEqual({ Name: 'unless-stopped', MaximumRetryCount: 0 });
    expect(o.HostConfig?.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } });
  });

  it('publishes the port on the bind address only', () => {
    expect(spec.options.ExposedPorts).toEqual({ '5432/tcp': {} });
    expect(spec.options.HostConfig?.PortBindings).toEqual({ '5432/tcp': [{ HostIp: '127.0.0.1', HostPort: '5444' }] });
  });

  it('resolves the binds to the instance folder: data read-write, scripts read-only', () => {
    expect(spec.options.HostConfig?.Binds).toEqual([
      `${files.dataDir}:/var/lib/postgresql/data`,
      `${files.scriptsDir}:/docker-entrypoint-initdb.d:ro`,
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

  it('passes the secrets from secrets.env, then the plain environment', () => {
    expect(spec.options.Env).toEqual([
      `POSTGRES_PASSWORD=${SECRETS.adminPassword}`,
      `DBAAS_APP_PASSWORD=${SECRETS.password}`,
      `DBAAS_MONITOR_PASSWORD=${SECRETS.monitorPassword}`,
      'POSTGRES_USER=postgres',
      'POSTGRES_DB=postgres',
      'POSTGRES_INITDB_ARGS=--auth-local=peer --auth-host=scram-sha-256',
      'PGDATA=/var/lib/postgresql/data',
    ]);
  });

  it('runs postgres with the effective settings, overrides included and quoted intact', () => {
    const expected = ['postgres'];
    for (const [k, v] of Object.entries(effectiveSettings(record.memory, record.cpus, record.pgSettings))) {
      expected.push('-c', `${k}=${v}`);
    }
    expect(spec.options.Cmd).toEqual(expected);
    expect(spec.options.Cmd).toContain('work_mem=8MB');
    expect(spec.options.Cmd).toContain('search_path="$user", public');
    expect(spec.options.Cmd).toContain('shared_buffers=192MB');
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

  it('renders init-user SQL with the role and database quoted, reading the password from the env', () => {
    const sql = readFileSync(join(files.scriptsDir, '01-init-users.sql'), 'utf8');
    expect(sql).toContain('CREATE ROLE "shop_app" LOGIN');
    expect(sql).toContain('CREATE DATABASE "shop" OWNER "shop_app";');
    expect(sql).toContain('\\connect "shop"');
    expect(sql).toContain('$DBAAS_APP_PASSWORD');
    expect(sql).toContain("PASSWORD :'app_password'");
    expect(sql).not.toMatch(/\{\{|\}\}|\{%/);
  });

  it('renders the monitoring role script for the dbaas_monitor role', () => {
    const sql = readFileSync(join(files.scriptsDir, '02-monitoring-setup.sql'), 'utf8');
    expect(sql).toContain(`CREATE ROLE "${MONITOR_ROLE}" LOGIN`);
    expect(sql).toContain(`GRANT pg_monitor TO "${MONITOR_ROLE}";`);
    expect(sql).toContain(`GRANT CONNECT ON DATABASE "shop" TO "${MONITOR_ROLE}";`);
    expect(sql).toContain('$DBAAS_MONITOR_PASSWORD');
  });

  it('writes the same spec when nothing changed (stable config hash)', () => {
    provisioner.renderCompose(record);
    expect(onlySpec(files.composePath).configHash).toBe(spec.configHash);
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

  it('keeps a password with shell and SQL metacharacters out of the scripts and intact in the env', () => {
    const secrets: PlainSecrets = { password: "p@ss:w%rd'$x", adminPassword: 'a=b,c?d^e*', monitorPassword: 'm+~!.-_x' };
    const files = provisioner.prepare(makeRecord({ id: 'db_special01' }), secrets);
    const spec = onlySpec(files.composePath);
    expect(spec.options.Env).toContain("DBAAS_APP_PASSWORD=p@ss:w%rd'$x");
    expect(spec.options.Env).toContain('POSTGRES_PASSWORD=a=b,c?d^e*');
    for (const f of readdirSync(files.scriptsDir)) {
      expect(readFileSync(join(files.scriptsDir, f), 'utf8')).not.toContain("p@ss:w%rd'$x");
    }
  });

  it('re-tightens secrets.env to 0600 when it exists with a wider mode', () => {
    const id = 'db_remode001';
    const files = provisioner.files(id);
    provisioner.prepare(makeRecord({ id }), SECRETS);
    // Widen it, then prepare again: writeFileSync keeps an existing file's mode, chmod must fix it.
    writeFileSync(files.secretsPath, 'x', { mode: 0o644 });
    chmodSync(files.secretsPath, 0o644);
    provisioner.prepare(makeRecord({ id }), SECRETS);
    expect(statSync(files.secretsPath).mode & 0o777).toBe(0o600);
  });
});

describe('Provisioner.remove', () => {
  it('with keepData keeps data/ and backups/ and removes the rest', () => {
    const id = 'db_keep00001';
    const files = provisioner.prepare(makeRecord({ id }), SECRETS);
    writeFileSync(join(files.dataDir, 'PG_VERSION'), '15\n');
    writeFileSync(join(files.backupsDir, 'dump.sql'), '-- dump\n');
    writeFileSync(join(files.logsDir, 'metrics.ndjson'), '{}\n');
    provisioner.remove(id, { keepData: true });
    expect(readFileSync(join(files.dataDir, 'PG_VERSION'), 'utf8')).toBe('15\n');
    expect(readFileSync(join(files.backupsDir, 'dump.sql'), 'utf8')).toBe('-- dump\n');
    expect(existsSync(files.logsDir)).toBe(false);
    expect(existsSync(files.scriptsDir)).toBe(false);
    expect(existsSync(files.composePath)).toBe(false);
    expect(existsSync(files.secretsPath)).toBe(false);
    expect(readdirSync(files.dir).sort()).toEqual(['backups', 'data']);
  });

  it('without keepData removes the whole folder', () => {
    const id = 'db_gone00001';
    const files = provisioner.prepare(makeRecord({ id }), SECRETS);
    writeFileSync(join(files.dataDir, 'PG_VERSION'), '15\n');
    provisioner.remove(id);
    expect(existsSync(files.dir)).toBe(false);
    // Other instances are untouched.
    expect(existsSync(provisioner.files('db_keep00001').dataDir)).toBe(true);
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
    const sql = renderer.render('init-scripts/01-init-users.sql.njk', {
      name: 'x',
      username: 'evil"; DROP DATABASE x; --',
      database: 'd"b',
    });
    expect(sql).toContain('CREATE ROLE "evil""; DROP DATABASE x; --" LOGIN');
    expect(sql).toContain('CREATE DATABASE "d""b" OWNER "evil""; DROP DATABASE x; --";');
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
  function composeWith(extra: string): string {
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
      '    network_mode: bridge',
      '    labels: {a: b}',
      extra,
    ].join('\n');
  }

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
    expect(spec.options.Healthcheck).toBeUndefined();
    expect(spec.options.HostConfig?.LogConfig).toBeUndefined();
  });

  it('rejects an unknown service key, naming it', () => {
    expect(() => parseComposeText(composeWith('    privileged: true'), 'x.yml')).toThrow(DbaasError);
    try {
      parseComposeText(composeWith('    privileged: true'), 'x.yml');
    } catch (err) {
      expect((err as DbaasError).code).toBe('OPERATION_FAILED');
      expect((err as DbaasError).message).toMatch(/x\.yml/);
      expect((err as DbaasError).message).toMatch(/privileged/);
    }
  });

  it('rejects an unknown top-level key (networks, volumes, x-...) instead of dropping it', () => {
    for (const extra of ['networks:\n  default: {}', 'x-note: hi']) {
      expect(() => parseComposeText(`${composeWith('')}\n${extra}\n`, 'x.yml')).toThrow(/x\.yml/);
    }
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

  it('rejects a rendered file whose service gained an unknown key', () => {
    const files = provisioner.prepare(makeRecord({ id: 'db_strict001' }), SECRETS);
    const text = readFileSync(files.composePath, 'utf8').replace(
      '    network_mode: bridge\n',
      '    network_mode: bridge\n    cap_add: [SYS_ADMIN]\n',
    );
    expect(text).toContain('cap_add');
    writeFileSync(files.composePath, text);
    expect(() => loadContainerSpecs(files.composePath)).toThrow(/cap_add/);
  });

  it('reports a missing compose file as OPERATION_FAILED', () => {
    try {
      loadContainerSpecs(join(home, 'nope', 'docker-compose.yml'));
      expect.unreachable();
    } catch (err) {
      expect((err as DbaasError).code).toBe('OPERATION_FAILED');
      expect((err as DbaasError).message).toMatch(/cannot read/);
    }
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

  it('gives different hashes for different secrets (the env is part of the options)', () => {
    const svc = parseComposeText(composeWith('    env_file: [./s.env]'), 'x.yml').services.postgres!;
    const a = toContainerSpec('postgres', svc, '/x', () => 'P=1');
    const b = toContainerSpec('postgres', svc, '/x', () => 'P=2');
    const a2 = toContainerSpec('postgres', svc, '/x', () => 'P=1');
    expect(a.configHash).not.toBe(b.configHash);
    expect(a.configHash).toBe(a2.configHash);
  });
});
