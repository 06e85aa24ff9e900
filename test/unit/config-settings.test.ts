import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  imageFor,
  loadSettings,
  PROJECT_ROOT,
  runtimePaths,
  SUPPORTED_VERSIONS,
} from '../../src/config/settings.js';
import { DbaasError } from '../../src/errors.js';

let home: string;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'dbaas-unit-settings-'));
});

afterEach(() => {
  rmSync(home, { recursive: true, force: true });
});

function writeConfig(text: string, file = join(home, 'config', 'dbaas.yaml')): string {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  return file;
}

function configError(env: NodeJS.ProcessEnv, overrides?: Parameters<typeof loadSettings>[0]): DbaasError {
  try {
    loadSettings({ env, ...overrides });
  } catch (err) {
    expect(err).toBeInstanceOf(DbaasError);
    expect((err as DbaasError).code).toBe('CONFIG_INVALID');
    return err as DbaasError;
  }
  throw new Error(`expected CONFIG_INVALID for ${JSON.stringify(env)}`);
}

describe('loadSettings defaults', () => {
  it('fills every default when nothing is configured', () => {
    const s = loadSettings({ env: { DBAAS_HOME: home } });
    expect(s).toEqual({
      home,
      allowedNetworks: [],
      authFailureLimit: 20,
      authFailureWindowSec: 900,
      auditMaxFileBytes: 16 * 1024 * 1024,
      auditKeep: 20,
      apiHost: '127.0.0.1',
      apiPort: 8000,
      apiAllowedHosts: [],
      apiAllowedOrigins: [],
      portRange: { start: 5433, end: 5632 },
      bindAddress: '127.0.0.1',
      dockerSocket: '/var/run/docker.sock',
      images: {},
      pullPolicy: 'missing',
      defaultVersion: 15,
      defaultMemory: '512m',
      defaultCpus: 1,
      pidsLimit: 512,
      readyTimeoutMs: 120_000,
      stopTimeoutSec: 30,
      watchdogIntervalSec: 15,
      poolMaxPerInstance: 10,
      poolMaxTotal: 100,
      statementTimeoutMs: 5000,
      statementTimeoutMaxMs: 60_000,
      rowsDefaultLimit: 100,
      rowsMaxLimit: 1000,
      queryMaxRows: 10_000,
      logLevel: 'info',
      bodyLimit: '1mb',
      hostCpus: availableParallelism(),
      hostMemory: totalmem(),
      diskMinFreeBytes: 1024 ** 3,
      dataTemplates: true,
      archiveTimeoutSec: 60,
      schedulerIntervalSec: 30,
      archiveMaxPendingMb: 2048,
      ageBinary: '/usr/bin/age',
    });
    expect(s.backupRepository).toBeUndefined();
    expect(s.connectHost).toBeUndefined();
    expect(s.masterKey).toBeUndefined();
  });

  it('defaults the home to the project root and resolves a relative DBAAS_HOME', () => {
    expect(loadSettings({ env: {} }).home).toBe(PROJECT_ROOT);
    expect(loadSettings({ env: { DBAAS_HOME: 'some/rel' } }).home).toBe(resolve('some/rel'));
  });

  it('reads the API guard lists, host memory and the disk minimum from the environment', () => {
    const s = loadSettings({
      env: {
        DBAAS_HOME: home,
        DBAAS_API_ALLOWED_HOSTS: 'dbaas.internal, db.example.com',
        DBAAS_API_ALLOWED_ORIGINS: 'https://console.example.com,http://localhost:3000',
        DBAAS_HOST_MEMORY: '4g',
        DBAAS_DISK_MIN_FREE: '512m',
      },
    });
    expect(s.apiAllowedHosts).toEqual(['dbaas.internal', 'db.example.com']);
    expect(s.apiAllowedOrigins).toEqual(['https://console.example.com', 'http://localhost:3000']);
    expect(s.hostMemory).toBe(4 * 1024 ** 3);
    expect(s.diskMinFreeBytes).toBe(512 * 1024 ** 2);
  });

  it.each([
    ['DBAAS_API_ALLOWED_ORIGINS', 'console.example.com'],
    ['DBAAS_HOST_MEMORY', 'lots'],
    ['DBAAS_DISK_MIN_FREE', '-1'],
  ])('refuses %s=%s naming the variable', (name, value) => {
    expect(() => loadSettings({ env: { DBAAS_HOME: home, [name]: value } })).toThrow(new RegExp(name));
  });

  it('ignores environment variables without the DBAAS_ prefix or that it does not know', () => {
    const s = loadSettings({ env: { DBAAS_HOME: home, PORT: '1', API_PORT: '2', DBAAS_NOT_A_SETTING: 'x' } });
    expect(s.apiPort).toBe(8000);
  });

  it('lays out the runtime paths below the home, templates in the project', () => {
    const paths = runtimePaths(loadSettings({ env: { DBAAS_HOME: home } }));
    expect(paths).toEqual({
      home,
      instancesDir: join(home, 'instances'),
      registryFile: join(home, 'config', 'instances.json'),
      keyFile: join(home, 'config', 'master.key'),
      settingsCatalogDir: join(home, 'config', 'pg-settings'),
      dataTemplatesDir: join(home, 'config', 'data-templates'),
      operationsDir: join(home, 'config', 'operations'),
      tokensFile: join(home, 'config', 'tokens.json'),
      idempotencyDir: join(home, 'config', 'idempotency'),
      caDir: join(home, 'config', 'ca'),
      auditLog: join(home, 'logs', 'audit.ndjson'),
      backupRepository: null,
      logDir: join(home, 'logs'),
      provisioningLog: join(home, 'logs', 'provisioning.log'),
      templatesDir: join(PROJECT_ROOT, 'templates'),
      scriptsDir: join(PROJECT_ROOT, 'scripts'),
      monitoringDir: join(PROJECT_ROOT, 'monitoring'),
    });
  });
});

describe('DBAAS_* environment variables', () => {
  it('turns data templates on and off with on/off, true/false, 1/0, yes/no, and refuses other words', () => {
    for (const [text, value] of [['off', false], ['0', false], ['No', false], ['on', true], ['TRUE', true], ['1', true]] as const) {
      expect(loadSettings({ env: { DBAAS_HOME: home, DBAAS_DATA_TEMPLATES: text } }).dataTemplates).toBe(value);
    }
    expect(() => loadSettings({ env: { DBAAS_HOME: home, DBAAS_DATA_TEMPLATES: 'maybe' } })).toThrow(/dataTemplates|DBAAS_DATA_TEMPLATES/);
    const shared = runtimePaths(loadSettings({ env: { DBAAS_HOME: home, DBAAS_DATA_TEMPLATES_DIR: '/srv/templates' } }));
    expect(shared.dataTemplatesDir).toBe('/srv/templates');
  });

  it('override the defaults, converting their text', () => {
    const s = loadSettings({
      env: {
        DBAAS_HOME: home,
        DBAAS_API_HOST: '0.0.0.0',
        DBAAS_API_PORT: '9000',
        DBAAS_PORT_RANGE: '6000-6100',
        DBAAS_BIND_ADDRESS: '10.0.0.5',
        DBAAS_CONNECT_HOST: 'db.example.com',
        DBAAS_DOCKER_SOCKET: '/run/docker.sock',
        DBAAS_PULL_POLICY: 'never',
        DBAAS_DEFAULT_VERSION: '16',
        DBAAS_DEFAULT_MEMORY: '1g',
        DBAAS_DEFAULT_CPUS: '0.5',
        DBAAS_PIDS_LIMIT: '256',
        DBAAS_READY_TIMEOUT: '30',
        DBAAS_STOP_TIMEOUT: '12',
        DBAAS_MASTER_KEY: 'k'.repeat(10),
        DBAAS_LOG_LEVEL: 'debug',
        DBAAS_BODY_LIMIT: '5mb',
        DBAAS_AUDIT_MAX_FILE: '64m',
        DBAAS_AUDIT_KEEP: '5',
      },
    });
    expect(s).toMatchObject({
      apiHost: '0.0.0.0',
      apiPort: 9000,
      portRange: { start: 6000, end: 6100 },
      bindAddress: '10.0.0.5',
      connectHost: 'db.example.com',
      dockerSocket: '/run/docker.sock',
      pullPolicy: 'never',
      defaultVersion: 16,
      defaultMemory: '1g',
      defaultCpus: 0.5,
      pidsLimit: 256,
      readyTimeoutMs: 30_000,
      stopTimeoutSec: 12,
      masterKey: 'kkkkkkkkkk',
      logLevel: 'debug',
      bodyLimit: '5mb',
      auditMaxFileBytes: 64 * 1024 * 1024,
      auditKeep: 5,
    });
  });

  it('refuses an audit rotation that keeps no file or rotates at nothing', () => {
    expect(configError({ DBAAS_HOME: home, DBAAS_AUDIT_KEEP: '0' }).message).toMatch(/auditKeep|DBAAS_AUDIT_KEEP/);
    expect(configError({ DBAAS_HOME: home, DBAAS_AUDIT_MAX_FILE: 'lots' }).message).toMatch(/auditMaxFileBytes|DBAAS_AUDIT_MAX_FILE/);
  });

  it('reads DBAAS_PORT_RANGE with spaces and a one-port range', () => {
    expect(loadSettings({ env: { DBAAS_HOME: home, DBAAS_PORT_RANGE: ' 7000 - 7010 ' } }).portRange).toEqual({
      start: 7000,
      end: 7010,
    });
    expect(loadSettings({ env: { DBAAS_HOME: home, DBAAS_PORT_RANGE: '7000-7000' } }).portRange).toEqual({
      start: 7000,
      end: 7000,
    });
  });

  it('reads DBAAS_READY_TIMEOUT as seconds, fractions included', () => {
    expect(loadSettings({ env: { DBAAS_HOME: home, DBAAS_READY_TIMEOUT: '1.5' } }).readyTimeoutMs).toBe(1500);
    expect(loadSettings({ env: { DBAAS_HOME: home, DBAAS_READY_TIMEOUT: '90' } }).readyTimeoutMs).toBe(90_000);
  });

  it('maps DBAAS_IMAGE_<major> to images and imageFor', () => {
    const s = loadSettings({ env: { DBAAS_HOME: home, DBAAS_IMAGE_15: 'registry.local/pg:15-custom', DBAAS_IMAGE_16: 'pg16' } });
    expect(s.images).toEqual({ '15': 'registry.local/pg:15-custom', '16': 'pg16' });
    expect(imageFor(s, 15)).toBe('registry.local/pg:15-custom');
    expect(imageFor(s, 16)).toBe('pg16');
    expect(imageFor(s, 17)).toBe('postgres:17');
  });

  it('lets the CLI overrides win over the environment, and never over the home', () => {
    const s = loadSettings({
      env: { DBAAS_HOME: home, DBAAS_API_PORT: '9000' },
      overrides: { apiPort: 9100, home: '/elsewhere' },
    });
    expect(s.apiPort).toBe(9100);
    expect(s.home).toBe(home);
  });

  it.each([
    ['DBAAS_API_PORT', 'abc'],
    ['DBAAS_API_PORT', ''],
    ['DBAAS_API_PORT', '70000'],
    ['DBAAS_API_PORT', '80.5'],
    ['DBAAS_PORT_RANGE', 'abc'],
    ['DBAAS_PORT_RANGE', '6100-6000'],
    ['DBAAS_PORT_RANGE', '6000'],
    ['DBAAS_PORT_RANGE', '0-10'],
    ['DBAAS_BIND_ADDRESS', 'localhost'],
    ['DBAAS_PULL_POLICY', 'always'],
    ['DBAAS_DEFAULT_CPUS', '0'],
    ['DBAAS_DEFAULT_VERSION', 'fifteen'],
    ['DBAAS_DEFAULT_VERSION', '99'],
    ['DBAAS_DEFAULT_MEMORY', 'abc'],
    ['DBAAS_DEFAULT_MEMORY', '64m'],
    ['DBAAS_DEFAULT_CPUS', '100000'],
    ['DBAAS_PIDS_LIMIT', '8'],
    ['DBAAS_READY_TIMEOUT', '0.01'],
    ['DBAAS_READY_TIMEOUT', 'soon'],
    ['DBAAS_STOP_TIMEOUT', '0'],
    ['DBAAS_STOP_TIMEOUT', '601'],
    ['DBAAS_LOG_LEVEL', 'verbose'],
    ['DBAAS_CONNECT_HOST', ''],
    ['DBAAS_MASTER_KEY', ''],
    ['DBAAS_IMAGE_15', ''],
  ])('rejects %s=%j with CONFIG_INVALID naming the variable', (name, value) => {
    const err = configError({ DBAAS_HOME: home, [name]: value });
    expect(err.message).toContain(name);
    const issues = err.details?.issues as Array<{ field: string; message: string }>;
    expect(issues.map((i) => i.field)).toContain(name);
  });

  it('names every bad variable at once', () => {
    const err = configError({ DBAAS_HOME: home, DBAAS_API_PORT: 'abc', DBAAS_LOG_LEVEL: 'loud' });
    expect(err.message).toContain('DBAAS_API_PORT');
    expect(err.message).toContain('DBAAS_LOG_LEVEL');
  });
});

describe('config file', () => {
  it('is read from <home>/config/dbaas.yaml', () => {
    writeConfig(
      [
        'apiPort: 9200',
        'portRange: {start: 6500, end: 6600}',
        'images:',
        '  "15": my/pg:15',
        'pullPolicy: never',
        'defaultCpus: 2',
        'readyTimeoutMs: 5000',
      ].join('\n'),
    );
    const s = loadSettings({ env: { DBAAS_HOME: home } });
    expect(s).toMatchObject({
      apiPort: 9200,
      portRange: { start: 6500, end: 6600 },
      images: { '15': 'my/pg:15' },
      pullPolicy: 'never',
      defaultCpus: 2,
      readyTimeoutMs: 5000,
    });
    expect(imageFor(s, 15)).toBe('my/pg:15');
  });

  it('is read from DBAAS_CONFIG instead when set', () => {
    writeConfig('apiPort: 9200\n');
    const other = writeConfig('apiPort: 9300\n', join(home, 'elsewhere', 'custom.yaml'));
    expect(loadSettings({ env: { DBAAS_HOME: home, DBAAS_CONFIG: other } }).apiPort).toBe(9300);
  });

  it('loses to the environment, key by key', () => {
    writeConfig('apiPort: 9200\nlogLevel: warn\nimages: {"15": file/pg:15, "16": file/pg:16}\n');
    const s = loadSettings({ env: { DBAAS_HOME: home, DBAAS_API_PORT: '9400', DBAAS_IMAGE_16: 'env/pg:16' } });
    expect(s.apiPort).toBe(9400);
    expect(s.logLevel).toBe('warn');
    expect(s.images).toEqual({ '15': 'file/pg:15', '16': 'env/pg:16' });
  });

  it('may be empty', () => {
    writeConfig('');
    expect(loadSettings({ env: { DBAAS_HOME: home } }).apiPort).toBe(8000);
  });

  it('names the file and key of a bad value', () => {
    const file = writeConfig('apiPort: "eighty"\n');
    const err = configError({ DBAAS_HOME: home });
    expect(err.message).toContain(`${file}: apiPort`);
  });

  it('names the variable, not the file, when the environment supplied the bad value', () => {
    writeConfig('apiPort: 9200\n');
    const err = configError({ DBAAS_HOME: home, DBAAS_API_PORT: 'abc' });
    expect(err.message).toContain('DBAAS_API_PORT');
    expect(err.message).not.toContain('dbaas.yaml');
  });

  it('lets a good environment value fix a bad file value', () => {
    writeConfig('apiPort: "eighty"\n');
    expect(loadSettings({ env: { DBAAS_HOME: home, DBAAS_API_PORT: '8100' } }).apiPort).toBe(8100);
  });

  it('rejects unknown keys, naming them', () => {
    const file = writeConfig('apiPort: 9200\napi_port: 9300\nfoo: 1\n');
    const err = configError({ DBAAS_HOME: home });
    expect(err.message).toContain(file);
    expect(err.message).toContain('api_port');
    expect(err.message).toContain('foo');
  });

  it('rejects a home key (the home is where the file lives)', () => {
    writeConfig('home: /tmp/other\n');
    expect(configError({ DBAAS_HOME: home }).message).toMatch(/home/);
  });

  it('rejects a file that is not a mapping, or not YAML', () => {
    writeConfig('- a\n- b\n');
    expect(configError({ DBAAS_HOME: home }).message).toMatch(/mapping/);
    writeConfig('just a string\n');
    expect(configError({ DBAAS_HOME: home }).message).toMatch(/mapping/);
    writeConfig('apiPort: [unclosed\n');
    expect(configError({ DBAAS_HOME: home }).message).toMatch(/cannot parse/);
  });

  it('rejects images that is not a mapping', () => {
    for (const images of ['"postgres:15"', '["postgres:15"]']) {
      writeConfig(`images: ${images}\n`);
      const err = configError({ DBAAS_HOME: home });
      expect(err.message).toMatch(/images must map versions to images/);
    }
  });

  it('rejects an image key that is not a major version number', () => {
    writeConfig('images: {latest: postgres:latest}\n');
    configError({ DBAAS_HOME: home });
  });
});

describe('imageFor', () => {
  it('maps every supported version to the official image by default', () => {
    const s = loadSettings({ env: { DBAAS_HOME: home } });
    for (const v of SUPPORTED_VERSIONS) expect(imageFor(s, v)).toBe(`postgres:${v}`);
  });
});
