import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  checkPgSettings,
  DBAAS_SETTINGS,
  dropReservedSettings,
  isUserSetting,
  parseBool,
  USER_SETTINGS,
  type PgSettingInfo,
} from '../../src/instances/pgParameters.js';
import { deriveSettings } from '../../src/instances/pgSettings.js';

/**
 * The fixture is the real pg_settings of postgres:15 (15.18), as readSettingsCatalog extracted it
 * from the image (src/runtime/pgSettingsCatalog.ts); the integration test checks the extraction.
 */
const CATALOG = JSON.parse(readFileSync(new URL('./fixtures/pg15-settings.json', import.meta.url), 'utf8')) as PgSettingInfo[];
const BY_NAME = new Map(CATALOG.map((s) => [s.name, s]));

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function issues(settings: Record<string, string>, memoryBytes = 4 * GiB) {
  return checkPgSettings(settings, CATALOG, { memoryBytes });
}

/** The one message for one setting, or null when it is accepted. */
function verdict(name: string, value: string, memoryBytes = 4 * GiB): string | null {
  const found = issues({ [name]: value }, memoryBytes);
  expect(found.length).toBeLessThanOrEqual(1);
  if (found[0]) expect(found[0].field).toBe(`pgSettings.${name}`);
  return found[0]?.message ?? null;
}

describe('the fixture and the tables', () => {
  it('is a real pg_settings of PostgreSQL 15', () => {
    expect(CATALOG.length).toBeGreaterThan(300);
    expect(BY_NAME.get('server_version_num')).toMatchObject({ vartype: 'integer', context: 'internal' });
    expect(BY_NAME.get('server_version_num')?.minVal).toMatch(/^15\d{4}$/);
    expect(BY_NAME.get('shared_buffers')).toMatchObject({ vartype: 'integer', unit: '8kB', minVal: '16', context: 'postmaster' });
  });

  it('allows only settings PostgreSQL 15 has, none of them internal', () => {
    const lower = new Map(CATALOG.map((s) => [s.name.toLowerCase(), s]));
    for (const name of Object.keys(USER_SETTINGS)) {
      expect(name, `${name} is lowercase`).toBe(name.toLowerCase());
      expect(lower.has(name), `${name} exists`).toBe(true);
      expect(lower.get(name)?.context, name).not.toBe('internal');
    }
    expect(Object.keys(USER_SETTINGS).length).toBeGreaterThan(150);
  });

  it('reserves only real settings, and none of them is also allowed', () => {
    const lower = new Set(CATALOG.map((s) => s.name.toLowerCase()));
    for (const [name, why] of Object.entries(DBAAS_SETTINGS)) {
      expect(lower.has(name), `${name} exists`).toBe(true);
      expect(Object.hasOwn(USER_SETTINGS, name), `${name} is not also allowed`).toBe(false);
      expect(isUserSetting(name)).toBe(false);
      expect(why.length).toBeGreaterThan(10);
    }
  });

  it('allows no string setting that names a file, a library or a command', () => {
    const strings = Object.keys(USER_SETTINGS).filter((name) => CATALOG.find((s) => s.name.toLowerCase() === name)?.vartype === 'string');
    expect(strings.length).toBeGreaterThan(3);
    for (const name of strings) {
      expect(name).not.toMatch(/file|dir|path|librar|command|_provider|ssl|krb|socket|archive|restore/);
    }
  });
});

describe('docs/pg-settings.md', () => {
  const doc = readFileSync(new URL('../../docs/pg-settings.md', import.meta.url), 'utf8');
  const section = (from: string, to: string) => doc.slice(doc.indexOf(from), doc.indexOf(to, doc.indexOf(from)));
  const names = (text: string) => new Set([...text.matchAll(/`([A-Za-z_]+)`/g)].map((m) => (m[1] as string).toLowerCase()));

  it('lists exactly the allowed settings', () => {
    const listed = names(section('## Settings you may set', 'A setting that dbaas'));
    expect([...listed].sort()).toEqual(Object.keys(USER_SETTINGS).sort());
  });

  it('lists every reserved setting in its table', () => {
    const table = names(section('| Settings |', 'Records written before'));
    for (const name of Object.keys(DBAAS_SETTINGS)) expect(table.has(name), name).toBe(true);
    for (const name of table) expect(isUserSetting(name), name).toBe(false);
  });
});

describe('settings dbaas derives', () => {
  it('are all allowed, except listen_addresses which stays dbaas\'s', () => {
    const derived = Object.keys(deriveSettings(GiB, 2));
    expect(derived).toContain('listen_addresses');
    for (const name of derived) expect(isUserSetting(name), name).toBe(name !== 'listen_addresses');
  });

  it.each([
    [128 * MiB, 0.5],
    [128 * MiB, 1],
    [512 * MiB, 1],
    [GiB, 2],
    [4 * GiB, 4],
    [16 * GiB, 8],
    [64 * GiB, 32],
  ])('pass the check as derived for memory %d and %d cpus', (memory, cpus) => {
    const { listen_addresses: _listen, ...derived } = deriveSettings(memory, cpus);
    expect(issues(derived, memory)).toEqual([]);
  });

  it.each([
    ['shared_buffers', '128MB'],
    ['effective_cache_size', '3GB'],
    ['work_mem', '4MB'],
    ['maintenance_work_mem', '64MB'],
    ['max_connections', '100'],
    ['max_worker_processes', '8'],
    ['max_parallel_workers', '4'],
    ['max_parallel_workers_per_gather', '2'],
  ])('accept a typical override %s=%s', (name, value) => {
    expect(verdict(name, value)).toBeNull();
  });
});

describe('names', () => {
  it('refuses an unknown name and suggests a close allowed one', () => {
    expect(verdict('work_meme', '8MB')).toBe('unknown setting; did you mean work_mem?');
    expect(verdict('shared_bufers', '1GB')).toBe('unknown setting; did you mean shared_buffers?');
    expect(verdict('no_such_setting_at_all', '1')).toBe('unknown setting');
  });

  it('refuses custom (extension) settings: no library is loaded to own them', () => {
    expect(verdict('auto_explain.log_min_duration', '0')).toMatch(/^unknown setting/);
  });

  it('refuses an allowed name the server does not have (another major version)', () => {
    const older = CATALOG.filter((s) => s.name !== 'jit');
    expect(checkPgSettings({ jit: 'on' }, older, { memoryBytes: GiB })).toEqual([{ field: 'pgSettings.jit', message: 'unknown setting' }]);
  });

  it.each([
    ['archive_command', 'cp %p /tmp/%f', /runs shell commands/],
    ['restore_command', 'cp /tmp/%f %p', /runs shell commands/],
    ['archive_mode', 'on', /WAL archiving/],
    ['archive_library', 'basic_archive', /loads a shared library/],
    ['shared_preload_libraries', 'pg_stat_statements', /loads shared libraries/],
    ['session_preload_libraries', 'auto_explain', /loads shared libraries into every session/],
    ['local_preload_libraries', 'auto_explain', /loads shared libraries into every session/],
    ['dynamic_library_path', '/tmp', /loads code from/],
    ['data_directory', '/tmp/x', /names the server's files/],
    ['hba_file', '/tmp/hba.conf', /who may log in/],
    ['listen_addresses', '*', /publishes the server/],
    ['port', '5433', /publishes the server/],
    ['ssl_cert_file', '/tmp/cert.pem', /names a file/],
    ['ssl', 'on', /TLS/],
    ['log_directory', '/tmp', /standard error/],
    ['logging_collector', 'on', /standard error/],
    ['wal_level', 'minimal', /backups/],
    ['max_wal_senders', '0', /base backups/],
    ['password_encryption', 'md5', /authentication/],
    ['search_path', 'app, pg_catalog', /superuser/],
    ['cluster_name', 'x', /names the server/],
    ['client_min_messages', 'log', /monitoring agent/],
    ['idle_session_timeout', '1s', /monitoring agent/],
  ])('reserves %s to dbaas and says why', (name, value, why) => {
    const message = verdict(name, value);
    expect(message).toMatch(/^reserved to dbaas: /);
    expect(message).toMatch(why);
  });

  it('refuses the settings of issue 7 (archive_mode + archive_command) before anything is recorded', () => {
    const found = issues({ archive_mode: 'on', archive_command: "psql -c 'ALTER ROLE app SUPERUSER'", work_mem: '8MB' });
    expect(found.map((i) => i.field)).toEqual(['pgSettings.archive_mode', 'pgSettings.archive_command']);
  });

  it('refuses real settings that are not on the allowlist, with a pointer to the list', () => {
    for (const name of ['application_name', 'default_tablespace', 'debug_print_plan', 'wal_sync_method']) {
      expect(verdict(name, 'x')).toBe('not a setting users may set (docs/pg-settings.md lists those that are)');
    }
    expect(verdict('block_size', '8192')).toMatch(/^not a setting users may set/); // internal
  });
});

describe('integer settings with units', () => {
  it.each(['8MB', '8192', '1GB', '64kB', '1.5MB', '8 MB', ' 8MB', '8MB ', '0x2000', '0.001TB'])('work_mem=%s is accepted', (value) => {
    expect(verdict('work_mem', value)).toBeNull();
  });

  it('rounds a fraction to the next smaller unit, then to an integer half to even, as PostgreSQL does', () => {
    // work_mem is in kB with a minimum of 64kB.
    expect(verdict('work_mem', '63.6kB')).toBeNull(); // 65126 B -> 63.6 kB -> 64
    expect(verdict('work_mem', '63.4kB')).toMatch(/out of range/); // -> 63
    expect(verdict('work_mem', '65535B')).toBeNull(); // 63.999 kB -> 64
    expect(verdict('work_mem', '65023B')).toMatch(/out of range/); // 63.499 kB -> 63
    // max_connections is unitless: 9.5 rounds to 10 (even), 10.5 to 10, 9.4 to 9 (below dbaas's 10).
    expect(verdict('max_connections', '9.5')).toBeNull();
    expect(verdict('max_connections', '10.5')).toBeNull();
    expect(verdict('max_connections', '9.4')).toMatch(/at least 10/);
  });

  it('reads integers as strtol does: 0x is hex, a leading 0 is octal', () => {
    expect(verdict('max_connections', '0x64')).toBeNull();
    expect(verdict('max_connections', '012')).toBeNull(); // 10
    expect(verdict('max_connections', '011')).toMatch(/at least 10/); // 9
    expect(verdict('max_connections', '09')).not.toBeNull(); // "0" then garbage
  });

  it('refuses a memory value outside the bounds, naming them readably', () => {
    expect(verdict('shared_buffers', '100TB')).toBe(
      '"100TB" is out of range: must be between 128kB and about 8TB (16 to 1073741823 in units of 8kB)',
    );
    expect(verdict('work_mem', '32kB')).toBe('"32kB" is out of range: must be between 64kB and about 2TB (64 to 2147483647 in units of kB)');
    expect(verdict('maintenance_work_mem', '512kB')).toMatch(/must be between 1MB and about 2TB/);
  });

  it('refuses a value beyond the integer range as out of range', () => {
    expect(verdict('work_mem', '3TB')).toMatch(/^"3TB" is out of range: must be between 64kB and about 2TB/);
    expect(verdict('max_connections', '99999999999')).toBe('"99999999999" is out of range: must be between 1 and 262143');
  });

  it('refuses units of the wrong kind, unknown units and units in the wrong case', () => {
    expect(verdict('work_mem', '5s')).toBe('"5s": valid units for this setting are B, kB, MB, GB and TB');
    expect(verdict('work_mem', '5mb')).toBe('"5mb": valid units for this setting are B, kB, MB, GB and TB');
    expect(verdict('work_mem', '5 MBs')).toMatch(/valid units/);
    expect(verdict('statement_timeout', '5MB')).toBe('"5MB": valid units for this setting are us, ms, s, min, h and d');
    expect(verdict('max_connections', '100MB')).toBe('"100MB" is not an integer: this setting takes no unit');
  });

  it('refuses what is not a number at all', () => {
    expect(verdict('work_mem', 'lots')).toMatch(/^"lots" is not an integer/);
    expect(verdict('work_mem', 'MB')).toMatch(/is not an integer/);
    expect(verdict('work_mem', '')).toMatch(/is not an integer/);
    expect(verdict('work_mem', 'nan')).toMatch(/is not an integer/);
  });
});

describe('time settings', () => {
  it.each(['5s', '1min', '500', '1.5s', '2h', '1d', '250ms', '1500us'])('statement_timeout=%s is accepted', (value) => {
    expect(verdict('statement_timeout', value)).toBeNull();
  });

  it('converts to the base unit of the setting (checkpoint_timeout is in seconds, 30s .. 1d)', () => {
    expect(verdict('checkpoint_timeout', '0.5min')).toBeNull();
    expect(verdict('checkpoint_timeout', '15min')).toBeNull();
    expect(verdict('checkpoint_timeout', '1d')).toBeNull();
    expect(verdict('checkpoint_timeout', '29s')).toBe('"29s" is out of range: must be between 30s and 1d');
    expect(verdict('checkpoint_timeout', '1.5d')).toMatch(/out of range/);
    expect(verdict('checkpoint_timeout', '29999ms')).toBeNull(); // 29.999 s rounds to 30
  });

  it('names long time bounds readably', () => {
    expect(verdict('statement_timeout', '-1')).toBe('"-1" is out of range: must be between 0 and about 24.9d (0 to 2147483647 in units of ms)');
  });
});

describe('booleans', () => {
  it.each(['on', 'off', 'ON', 'Off', 'of', 'true', 'false', 'TRUE', 't', 'tr', 'f', 'yes', 'y', 'no', 'n', '1', '0'])('jit=%s is accepted', (value) => {
    expect(verdict('jit', value)).toBeNull();
  });

  it.each(['o', '2', 'maybe', 'truex', 'enabled', '', ' on', 'on '])('jit=%j is refused', (value) => {
    expect(verdict('jit', value)).toBe(`"${value}" is not a boolean (on, off, true, false, yes, no, 1, 0)`);
  });

  it('parses like PostgreSQL, prefixes included', () => {
    expect(parseBool('of')).toBe(false);
    expect(parseBool('ye')).toBe(true);
    expect(parseBool('fals')).toBe(false);
    expect(parseBool('o')).toBeNull();
  });
});

describe('enums', () => {
  it('accepts listed values in any case', () => {
    expect(verdict('log_statement', 'all')).toBeNull();
    expect(verdict('log_statement', 'ALL')).toBeNull();
    expect(verdict('default_transaction_isolation', 'Repeatable Read')).toBeNull();
  });

  it('refuses other values and lists the allowed ones', () => {
    expect(verdict('log_statement', 'everything')).toBe('"everything" is not one of none, ddl, mod, all');
    expect(verdict('log_statement', 'a')).toMatch(/is not one of/); // no prefixes for enums
    expect(verdict('log_statement', 'on')).toMatch(/is not one of/);
  });

  it('accepts the values the server hides from enumvals', () => {
    expect(verdict('synchronous_commit', 'true')).toBeNull(); // boolean spellings of an on/off enum
    expect(verdict('constraint_exclusion', '0')).toBeNull();
    expect(verdict('log_min_error_statement', 'DEBUG')).toBeNull();
    expect(verdict('log_min_messages', 'debug')).toBeNull();
    expect(verdict('log_min_messages', 'info')).toBeNull();
    expect(verdict('log_statement', 'true')).toMatch(/is not one of/); // log_statement has no on/off
  });
});

describe('real settings', () => {
  it('checks bounds', () => {
    expect(verdict('random_page_cost', '1.1')).toBeNull();
    expect(verdict('random_page_cost', '4')).toBeNull();
    expect(verdict('random_page_cost', '-1')).toBe('"-1" is out of range: must be between 0 and 1.79769e+308');
    expect(verdict('checkpoint_completion_target', '0.9')).toBeNull();
    expect(verdict('checkpoint_completion_target', '1.5')).toBe('"1.5" is out of range: must be between 0 and 1');
  });

  it('refuses what strtod would not read, NaN and infinities', () => {
    expect(verdict('random_page_cost', 'fast')).toBe('"fast" is not a number');
    expect(verdict('random_page_cost', '1e400')).toBe('"1e400" is not a number');
    expect(verdict('random_page_cost', 'nan')).toBe('"nan" is not a number');
    expect(verdict('random_page_cost', 'inf')).toMatch(/out of range/);
    expect(verdict('random_page_cost', '2x')).toBe('"2x" is not a number: this setting takes no unit');
  });

  it('takes units on a real setting that has one (vacuum_cost_delay is in ms, 0 .. 100)', () => {
    expect(verdict('vacuum_cost_delay', '2ms')).toBeNull();
    expect(verdict('vacuum_cost_delay', '0.5')).toBeNull();
    expect(verdict('vacuum_cost_delay', '1500us')).toBeNull();
    expect(verdict('vacuum_cost_delay', '101')).toBe('"101" is out of range: must be between 0 and 100ms');
    expect(verdict('vacuum_cost_delay', '1s')).toMatch(/out of range/);
  });
});

describe('strings', () => {
  it('accepts a line of at most 256 characters, leaving its meaning to the server', () => {
    expect(verdict('log_line_prefix', '%m [%p] %q%u@%d ')).toBeNull();
    expect(verdict('timezone', 'Europe/Paris')).toBeNull();
    expect(verdict('log_line_prefix', 'x'.repeat(256))).toBeNull();
    expect(verdict('log_line_prefix', 'x'.repeat(257))).toBe('must be at most 256 characters');
    expect(verdict('log_line_prefix', 'a\nb')).toBe('must be one line without control characters');
    expect(verdict('timezone', 'UTC\0')).toBe('must be one line without control characters');
  });
});

describe('dbaas limits on top of the server\'s', () => {
  it('refuses shared_buffers at or above the instance memory', () => {
    expect(verdict('shared_buffers', '511MB', 512 * MiB)).toBeNull();
    expect(verdict('shared_buffers', '512MB', 512 * MiB)).toMatch(/^512MB is not below the instance's memory limit of 512MB/);
    expect(verdict('shared_buffers', '65536', 512 * MiB)).toMatch(/^512MB is not below/); // in 8kB blocks
    expect(verdict('shared_buffers', '1GB', 512 * MiB)).toMatch(/not below the instance's memory limit of 512MB/);
    expect(verdict('shared_buffers', '1GB', 4 * GiB)).toBeNull();
  });

  it('keeps max_connections and the WAL sizes where the server still starts', () => {
    expect(verdict('max_connections', '3')).toMatch(/^must be at least 10: dbaas keeps 3 connections/);
    expect(verdict('max_connections', '10')).toBeNull();
    expect(verdict('min_wal_size', '16MB')).toMatch(/^must be at least 32MB/);
    expect(verdict('max_wal_size', '16MB')).toMatch(/^must be at least 32MB/);
    expect(verdict('max_wal_size', '1GB')).toBeNull();
  });
});

describe('checkPgSettings', () => {
  it('returns one issue per bad setting and none for good ones, with a Map catalog too', () => {
    const input = { work_mem: '8MB', shared_buffers: '100TB', hba_file: '/x', jit: 'maybe', log_statement: 'ddl', wrok_mem: '1MB' };
    const fromArray = issues(input);
    expect(fromArray.map((i) => i.field)).toEqual([
      'pgSettings.shared_buffers',
      'pgSettings.hba_file',
      'pgSettings.jit',
      'pgSettings.wrok_mem',
    ]);
    expect(checkPgSettings(input, BY_NAME, { memoryBytes: 4 * GiB })).toEqual(fromArray);
  });

  it('returns nothing for no settings', () => {
    expect(issues({})).toEqual([]);
  });
});

describe('dropReservedSettings and isUserSetting', () => {
  it('keeps allowed settings and drops everything else, in order', () => {
    const result = dropReservedSettings({
      work_mem: '8MB',
      archive_command: 'sh -c evil',
      listen_addresses: '*',
      search_path: 'evil',
      application_name: 'x',
      log_statement: 'all',
    });
    expect(result.kept).toEqual({ work_mem: '8MB', log_statement: 'all' });
    expect(result.dropped).toEqual(['archive_command', 'listen_addresses', 'search_path', 'application_name']);
  });

  it('matches names without regard to case, as PostgreSQL does', () => {
    expect(isUserSetting('TimeZone')).toBe(true);
    expect(isUserSetting('DateStyle')).toBe(false);
    expect(isUserSetting('ARCHIVE_COMMAND')).toBe(false);
    expect(isUserSetting('__proto__')).toBe(false);
    expect(isUserSetting('constructor')).toBe(false);
  });
});
