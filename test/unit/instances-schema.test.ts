import { describe, expect, it } from 'vitest';
import { DbaasError, type FieldIssue } from '../../src/errors.js';
import {
  createInstanceSchema,
  InstanceRecordSchema,
  MIN_MEMORY,
  updateInstanceSchema,
} from '../../src/instances/schema.js';
import { parseInput } from '../../src/validate.js';
import { sampleRecord } from './fixtures/records.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const HOST_CPUS = 4;
const HOST_MEMORY = 8 * GiB;
const create = createInstanceSchema({ hostCpus: HOST_CPUS, hostMemory: HOST_MEMORY });
const update = updateInstanceSchema({ hostCpus: HOST_CPUS, hostMemory: HOST_MEMORY });

/** Runs parseInput and returns the VALIDATION_FAILED error it must throw. */
function failure(schema: Parameters<typeof parseInput>[0], input: unknown): DbaasError {
  try {
    parseInput(schema, input);
  } catch (err) {
    expect(err).toBeInstanceOf(DbaasError);
    const e = err as DbaasError;
    expect(e.code).toBe('VALIDATION_FAILED');
    return e;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

function issues(err: DbaasError): FieldIssue[] {
  const list = err.details?.issues;
  expect(Array.isArray(list)).toBe(true);
  return list as FieldIssue[];
}

function fields(err: DbaasError): string[] {
  return issues(err).map((i) => i.field);
}

/** The create input is rejected and exactly the given field is blamed. */
function rejectsField(input: Record<string, unknown>, field: string): FieldIssue {
  const err = failure(create, input);
  expect(fields(err)).toContain(field);
  expect(err.message).toContain(`${field}: `);
  const issue = issues(err).find((i) => i.field === field);
  expect(issue).toBeDefined();
  return issue as FieldIssue;
}

describe('createInstanceSchema: valid input', () => {
  it('accepts a bare name and leaves the defaults to the manager', () => {
    expect(parseInput(create, { name: 'orders' })).toEqual({ name: 'orders' });
  });

  it('transforms memory and shmSize into numbers and keeps version, cpus and port', () => {
    const out = parseInput(create, {
      name: 'orders-db-2',
      version: 15,
      memory: '1g',
      cpus: 1.5,
      shmSize: '256m',
      port: 5433,
      bindAddress: '0.0.0.0',
      database: 'shop',
      username: 'shop_owner',
      password: 'S3cret-pass_word.~+!@%^*=:,?',
      pgSettings: { work_mem: '8MB', 'auto_explain.log_min_duration': 250, jit: false },
      initSql: 'CREATE TABLE t (id int);',
    });
    expect(out).toEqual({
      name: 'orders-db-2',
      version: 15,
      memory: GiB,
      cpus: 1.5,
      shmSize: 256 * MiB,
      port: 5433,
      bindAddress: '0.0.0.0',
      database: 'shop',
      username: 'shop_owner',
      password: 'S3cret-pass_word.~+!@%^*=:,?',
      pgSettings: { work_mem: '8MB', 'auto_explain.log_min_duration': '250', jit: 'false' },
      initSql: 'CREATE TABLE t (id int);',
    });
  });

  it.each([
    ['512m', 512 * MiB],
    ['1.5g', 1.5 * GiB],
    ['256MiB', 256 * MiB],
    [MIN_MEMORY, MIN_MEMORY],
    ['128m', MIN_MEMORY],
    [String(GiB), GiB],
  ])('memory %j -> %d bytes', (memory, bytes) => {
    expect(parseInput(create, { name: 'abc', memory }).memory).toBe(bytes);
  });

  it.each([12, 13, 14, 15, 16, 17])('accepts version %j', (version) => {
    expect(parseInput(create, { name: 'abc', version }).version).toBe(Number(version));
  });

  it.each([
    ['abc', 'abc'],
    ['a-b', 'a-b'],
    ['a1b2', 'a1b2'],
    ['x'.repeat(40), 'x'.repeat(40)],
  ])('accepts the name %j', (name) => {
    expect(parseInput(create, { name }).name).toBe(name);
  });

  it('accepts cpus at both ends of 0.1 .. host cores', () => {
    expect(parseInput(create, { name: 'abc', cpus: 0.1 }).cpus).toBe(0.1);
    expect(parseInput(create, { name: 'abc', cpus: HOST_CPUS }).cpus).toBe(HOST_CPUS);
  });

  it('accepts ports at both ends of 1024 .. 65535', () => {
    expect(parseInput(create, { name: 'abc', port: 1024 }).port).toBe(1024);
    expect(parseInput(create, { name: 'abc', port: 65535 }).port).toBe(65535);
  });

  it('accepts passwords of 8 and 128 characters', () => {
    expect(parseInput(create, { name: 'abc', password: 'a'.repeat(8) }).password).toBe('a'.repeat(8));
    expect(parseInput(create, { name: 'abc', password: 'a'.repeat(128) }).password).toHaveLength(128);
  });

  it('accepts identifiers up to 63 characters with underscores', () => {
    const id = `_${'a'.repeat(62)}`;
    const out = parseInput(create, { name: 'abc', database: id, username: 'app_1' });
    expect(out.database).toBe(id);
    expect(out.username).toBe('app_1');
  });
});

describe('createInstanceSchema: invalid input names the field', () => {
  it.each([
    'ab', // too short
    'x'.repeat(41), // too long
    'Orders', // upper case
    '1abc', // starts with a digit
    '-abc',
    'abc-', // ends with a dash
    'ab_c', // underscore is not a DNS label character
    'ab.c',
    'ab c',
    '',
  ])('rejects the name %j', (name) => {
    rejectsField({ name }, 'name');
  });

  it('requires a name', () => {
    rejectsField({}, 'name');
    rejectsField({ name: 42 }, 'name');
  });

  it('says what the length rule is', () => {
    expect(rejectsField({ name: 'ab' }, 'name').message).toMatch(/3 to 40/);
  });

  it.each(['postgres', 'dbaas_monitor', 'public', 'none', 'current_user', 'session_user'])(
    'rejects the reserved username %j',
    (username) => {
      expect(rejectsField({ name: 'abc', username }, 'username').message).toMatch(/reserved/);
    },
  );

  it.each(['postgres', 'template0', 'template1'])('rejects the reserved database %j', (database) => {
    expect(rejectsField({ name: 'abc', database }, 'database').message).toMatch(/reserved/);
  });

  it('rejects the pg_ prefix for roles and databases', () => {
    expect(rejectsField({ name: 'abc', username: 'pg_app' }, 'username').message).toMatch(/pg_/);
    expect(rejectsField({ name: 'abc', database: 'pg_data' }, 'database').message).toMatch(/pg_/);
  });

  it.each(['App', '1app', 'app-db', 'app db', 'app"x', '', 'a'.repeat(64)])(
    'rejects the identifier %j as username and as database',
    (value) => {
      rejectsField({ name: 'abc', username: value }, 'username');
      rejectsField({ name: 'abc', database: value }, 'database');
    },
  );

  it.each([
    'short', // 5 < 8
    'a'.repeat(129),
    'has space in it',
    'quote"inside',
    "single'quote",
    'dollar$sign',
    'back`tick1',
    'semi;colon1',
    'slash/slash',
    'hash#hash#',
    'newline\nin',
    'ünïcödé-pw',
  ])('rejects the password %j', (password) => {
    rejectsField({ name: 'abc', password }, 'password');
  });

  it.each([80, 1023, 65536, 0, -1, 5433.5, 'abc'])('rejects the port %j', (port) => {
    rejectsField({ name: 'abc', port }, 'port');
  });

  it.each([0, 0.05, -1, HOST_CPUS + 0.5, 'many'])('rejects cpus %j', (cpus) => {
    rejectsField({ name: 'abc', cpus }, 'cpus');
  });

  it('names the host core count when cpus is too high', () => {
    expect(rejectsField({ name: 'abc', cpus: 5 }, 'cpus').message).toContain(String(HOST_CPUS));
  });

  it('checks cpus against the host cores it was built with', () => {
    expect(parseInput(createInstanceSchema({ hostCpus: 16, hostMemory: HOST_MEMORY }), { name: 'abc', cpus: 12 }).cpus).toBe(12);
    expect(() => parseInput(createInstanceSchema({ hostCpus: 2, hostMemory: HOST_MEMORY }), { name: 'abc', cpus: 3 })).toThrow(DbaasError);
  });

  // Issue 7, item 11: JSON numbers only; a boolean or a padded string is not coerced.
  it.each([
    ['cpus', true],
    ['cpus', '1'],
    ['port', ' 25600 '],
    ['port', '5433'],
    ['version', '15'],
    ['version', true],
  ])('rejects %s given as %j instead of a number', (field, value) => {
    rejectsField({ name: 'abc', [field]: value }, field);
  });

  it.each([
    ['intervalSec', '10'],
    ['keepFiles', true],
  ])('rejects monitoring.%s given as %j', (field, value) => {
    rejectsField({ name: 'abc', monitoring: { [field]: value } }, `monitoring.${field}`);
  });

  // Issue 7, item 9: "8t" had no upper bound.
  it.each(['8t', '9g', HOST_MEMORY + 1])('rejects memory %j above the host memory, naming it', (memory) => {
    expect(rejectsField({ name: 'abc', memory }, 'memory').message).toMatch(/at most 8g, the host's memory/);
  });

  it('accepts memory equal to the host memory', () => {
    expect(parseInput(create, { name: 'abc', memory: '8g' }).memory).toBe(HOST_MEMORY);
  });

  it.each(['dbaas_api', 'dbaas_anything'])('reserves the dbaas_ prefix for roles: %s', (username) => {
    rejectsField({ name: 'abc', username }, 'username');
  });

  it.each(['64m', 127 * MiB, '1k', 0, '0'])('rejects memory %j below 128m', (memory) => {
    expect(rejectsField({ name: 'abc', memory }, 'memory').message).toMatch(/at least 128m/);
  });

  it.each(['lots', '-1g', '1x', '', 1.5, true])('rejects memory %j that is not a size', (memory) => {
    rejectsField({ name: 'abc', memory }, 'memory');
  });

  it.each(['512k', 1000, 'big'])('rejects shmSize %j', (shmSize) => {
    rejectsField({ name: 'abc', shmSize }, 'shmSize');
  });

  it.each([11, 18, 15.5, 'latest', '9.6'])('rejects version %j', (version) => {
    rejectsField({ name: 'abc', version }, 'version');
  });

  it.each(['localhost', '::1', '256.0.0.1', '10.0.0'])('rejects bindAddress %j', (bindAddress) => {
    rejectsField({ name: 'abc', bindAddress }, 'bindAddress');
  });

  it('rejects unknown keys (strict)', () => {
    const err = failure(create, { name: 'abc', memroy: '1g' });
    expect(err.message).toContain('memroy');
    expect(issues(err).some((i) => i.message.includes('memroy'))).toBe(true);
  });

  it('rejects an initSql over 1 MiB', () => {
    rejectsField({ name: 'abc', initSql: 'x'.repeat(1024 * 1024 + 1) }, 'initSql');
  });

  it('rejects a body that is not an object', () => {
    expect(failure(create, null).code).toBe('VALIDATION_FAILED');
    expect(failure(create, 'orders').code).toBe('VALIDATION_FAILED');
    expect(failure(create, ['orders']).code).toBe('VALIDATION_FAILED');
  });

  it('reports every bad field at once', () => {
    const err = failure(create, { name: 'A', memory: '1m', port: 1, password: 'x' });
    expect(new Set(fields(err))).toEqual(new Set(['name', 'memory', 'port', 'password']));
  });
});

describe('pgSettings rules', () => {
  it.each(['Work_Mem', 'work-mem', '1work', '_x', 'work mem', ''])('rejects the setting name %j', (key) => {
    const err = failure(create, { name: 'abc', pgSettings: { [key]: '1' } });
    expect(fields(err).every((f) => f.startsWith('pgSettings'))).toBe(true);
    expect(err.message).toMatch(/pgSettings/);
  });

  it.each([['', 'empty'], ['a\nb', 'newline'], ['a\rb', 'CR'], ['a\0b', 'NUL'], ['x'.repeat(257), 'too long']])(
    'rejects the value %j (%s)',
    (value) => {
      const err = failure(create, { name: 'abc', pgSettings: { work_mem: value } });
      expect(fields(err)).toContain('pgSettings.work_mem');
    },
  );

  it('rejects values that are not scalars', () => {
    const err = failure(create, { name: 'abc', pgSettings: { work_mem: { a: 1 } } });
    expect(fields(err)).toContain('pgSettings.work_mem');
    const err2 = failure(create, { name: 'abc', pgSettings: { work_mem: null } });
    expect(fields(err2)).toContain('pgSettings.work_mem');
  });

  it('turns numbers and booleans into strings and keeps 256-character values', () => {
    const out = parseInput(create, {
      name: 'abc',
      pgSettings: { max_connections: 50, jit: true, search_path: '"$user", public', comment: 'x'.repeat(256) },
    });
    expect(out.pgSettings).toEqual({
      max_connections: '50',
      jit: 'true',
      search_path: '"$user", public',
      comment: 'x'.repeat(256),
    });
  });

  it('rejects pgSettings that is not an object', () => {
    rejectsField({ name: 'abc', pgSettings: 'work_mem=8MB' }, 'pgSettings');
  });
});

describe('updateInstanceSchema', () => {
  it('accepts each field alone, transformed', () => {
    expect(parseInput(update, { memory: '2g' })).toEqual({ memory: 2 * GiB });
    expect(parseInput(update, { cpus: 0.5 })).toEqual({ cpus: 0.5 });
    expect(parseInput(update, { pgSettings: { work_mem: 16 } })).toEqual({ pgSettings: { work_mem: '16' } });
  });

  it('requires at least one field', () => {
    const err = failure(update, {});
    expect(err.message).toMatch(/at least one of memory, cpus, pgSettings/);
  });

  it('rejects fields that cannot be changed live (strict)', () => {
    for (const body of [{ name: 'other' }, { port: 5500 }, { memory: '1g', version: 16 }, { password: 'abcdefgh' }]) {
      const err = failure(update, body);
      expect(err.code).toBe('VALIDATION_FAILED');
    }
  });

  it('applies the same memory and cpus rules as create', () => {
    expect(fields(failure(update, { memory: '64m' }))).toContain('memory');
    expect(fields(failure(update, { cpus: 0.01 }))).toContain('cpus');
    expect(fields(failure(update, { cpus: HOST_CPUS + 1 }))).toContain('cpus');
    expect(fields(failure(update, { memory: 'huge' }))).toContain('memory');
  });
});

describe('InstanceRecordSchema', () => {
  const record = sampleRecord({ containers: [{ service: 'postgres', name: 'dbaas-orders-abc123' }] });


  it('accepts a well-formed record', () => {
    expect(InstanceRecordSchema.parse(record)).toEqual(record);
  });

  it.each(['abc123', 'db_ABC123', 'db_abc', 'db_' + 'a'.repeat(17)])('rejects the id %j', (id) => {
    expect(InstanceRecordSchema.safeParse({ ...record, id }).success).toBe(false);
  });

  it('rejects statuses that are only observed, never stored', () => {
    for (const status of ['oomkilled', 'missing', 'restarting', 'paused']) {
      expect(InstanceRecordSchema.safeParse({ ...record, status }).success).toBe(false);
    }
  });
});
