import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger, redact, redactText, type Logger } from '../../src/log/logger.js';
import { connectionString } from '../../src/instances/view.js';

const SECRET = 'Sup3rS3cretValue';

describe('redactText', () => {
  it.each([
    ['postgresql://app:Sup3rS3cretValue@127.0.0.1:5433/app', 'postgresql://app:****@127.0.0.1:5433/app'],
    ['postgres://app:Sup3rS3cretValue@db/app', 'postgres://app:****@db/app'],
    ['POSTGRESQL://app:Sup3rS3cretValue@db/app', 'POSTGRESQL://app:****@db/app'],
    ['connect to postgresql://u:p%40ss%3Aw@h:1/d now', 'connect to postgresql://u:****@h:1/d now'],
    ['POSTGRES_PASSWORD=Sup3rS3cretValue', 'POSTGRES_PASSWORD=****'],
    ['DBAAS_APP_PASSWORD=abc DBAAS_MONITOR_PASSWORD=def', 'DBAAS_APP_PASSWORD=**** DBAAS_MONITOR_PASSWORD=****'],
    ['PGPASSWORD=abc psql', 'PGPASSWORD=**** psql'],
    ['MY_SECRET_TOKEN=abc', 'MY_SECRET_TOKEN=****'],
    ['env: ["PASSWORD=abc","X=1"]', 'env: ["PASSWORD=****","X=1"]'],
    ['host=h password=abc123 dbname=app', 'host=h password=**** dbname=app'],
    ['DBAAS_MASTER_KEY=q83vEjRWeJA=', 'DBAAS_MASTER_KEY=****'],
    ['POSTGRES_PASSWORD=abc,def next', 'POSTGRES_PASSWORD=**** next'],
  ])('masks %j', (input, output) => {
    expect(redactText(input)).toBe(output);
  });

  it('masks every URL in a text', () => {
    const text = 'a postgresql://u:one@h/d b postgresql://v:two@h/d';
    expect(redactText(text)).toBe('a postgresql://u:****@h/d b postgresql://v:****@h/d');
  });

  it('masks the password of a connection string dbaas itself builds, whatever its characters', () => {
    const url = connectionString({ host: '127.0.0.1', port: 5433, database: 'app', username: 'app', password: 'p@ss:w%rd/x?y' });
    const masked = redactText(`ready at ${url}`);
    expect(masked).toBe('ready at postgresql://app:****@127.0.0.1:5433/app');
  });

  it.each([
    'postgresql://app@127.0.0.1:5433/app',
    'plain text with no secret',
    'password policy: 8 characters',
    'PGDATA=/var/lib/postgresql/data',
    'mailto:someone@example.com',
  ])('leaves %j alone', (text) => {
    expect(redactText(text)).toBe(text);
  });
});

describe('redact', () => {
  it('masks secret-looking keys at any level it walks', () => {
    const out = redact({
      name: 'orders',
      password: SECRET,
      adminPassword: SECRET,
      monitorPassword: SECRET,
      passwd: SECRET,
      secret: SECRET,
      clientSecret: SECRET,
      token: SECRET,
      apiKey: SECRET,
      masterKey: SECRET,
      credentials: { user: 'x' },
      nested: { password: SECRET, deeper: { secret: SECRET, ok: 1 } },
      list: [{ password: SECRET }, 'postgresql://u:Sup3rS3cretValue@h/d'],
    });
    expect(JSON.stringify(out)).not.toContain(SECRET);
    expect(out).toEqual({
      name: 'orders',
      password: '****',
      adminPassword: '****',
      monitorPassword: '****',
      passwd: '****',
      secret: '****',
      clientSecret: '****',
      token: '****',
      apiKey: '****',
      masterKey: '****',
      credentials: '****',
      nested: { password: '****', deeper: { secret: '****', ok: 1 } },
      list: [{ password: '****' }, 'postgresql://u:****@h/d'],
    });
  });

  it('keeps non-secret values, including keys that merely contain "key" in the middle', () => {
    const input = { keyFile: '/x/master.key', port: 5433, ok: true, none: null, nothing: undefined, sizes: [1, 2] };
    expect(redact(input)).toEqual(input);
  });

  it('keeps an absent password absent (null and undefined are not masked)', () => {
    expect(redact({ password: null, secret: undefined })).toEqual({ password: null, secret: undefined });
  });

  it('masks strings inside arrays and env lists', () => {
    expect(redact(['POSTGRES_PASSWORD=abc', 'PGDATA=/d'])).toEqual(['POSTGRES_PASSWORD=****', 'PGDATA=/d']);
  });

  it('never passes a value deeper than it walks through unmasked', () => {
    let nested: Record<string, unknown> = { password: SECRET };
    for (let i = 0; i < 12; i++) nested = { n: nested };
    expect(JSON.stringify(redact(nested))).not.toContain(SECRET);
  });

  it('passes scalars through', () => {
    expect(redact(42)).toBe(42);
    expect(redact(null)).toBe(null);
    expect(redact(true)).toBe(true);
    expect(redact('plain')).toBe('plain');
  });

  it('does not modify its input', () => {
    const input = { password: SECRET, nested: { secret: SECRET } };
    redact(input);
    expect(input).toEqual({ password: SECRET, nested: { secret: SECRET } });
  });
});

describe('createLogger writing to a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dbaas-unit-log-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Ends the logger and waits until its file transport flushed everything. */
  async function finish(logger: Logger): Promise<void> {
    const transports = logger.transports.map(
      (t) => new Promise<void>((resolve) => t.once('finish', () => resolve())),
    );
    logger.end();
    await Promise.all(transports);
  }

  function lines(file: string): Array<Record<string, unknown>> {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('never writes a password logged in the message, in meta, or nested', async () => {
    const file = join(dir, 'logs', 'provisioning.log');
    const logger = createLogger({ file, consoleLevel: 'silent' });
    const url = `postgresql://app:${SECRET}@127.0.0.1:5433/app`;
    logger.info(`instance ready at ${url}`);
    logger.info('created', { instance: 'orders', password: SECRET, adminPassword: SECRET });
    logger.warn('env', { env: [`POSTGRES_PASSWORD=${SECRET}`, 'PGDATA=/d'] });
    logger.error('nested', { record: { name: 'orders', secrets: { monitorPassword: SECRET }, url } });
    logger.info({ message: 'object form', password: SECRET, detail: { connectionString: url } });
    logger.info(`POSTGRES_PASSWORD=${SECRET} docker run`);
    logger.info('last line');
    await finish(logger);

    expect(existsSync(file)).toBe(true);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(SECRET);
    const entries = lines(file);
    expect(entries.map((e) => e.message)).toEqual([
      'instance ready at postgresql://app:****@127.0.0.1:5433/app',
      'created',
      'env',
      'nested',
      'object form',
      'POSTGRES_PASSWORD=**** docker run',
      'last line',
    ]);
    // The rest of the record survives; only the secrets are masked.
    expect(entries[1]).toMatchObject({ level: 'info', instance: 'orders', password: '****', adminPassword: '****' });
    expect(entries[2]).toMatchObject({ level: 'warn', env: ['POSTGRES_PASSWORD=****', 'PGDATA=/d'] });
    expect(entries[3]).toMatchObject({
      level: 'error',
      record: { name: 'orders', secrets: '****', url: 'postgresql://app:****@127.0.0.1:5433/app' },
    });
    expect(entries[4]).toMatchObject({ password: '****', detail: { connectionString: 'postgresql://app:****@127.0.0.1:5433/app' } });
    for (const e of entries) expect(typeof e.timestamp).toBe('string');
  });

  it('honours the file level', async () => {
    const file = join(dir, 'levels.log');
    const logger = createLogger({ file, level: 'warn', consoleLevel: 'silent' });
    logger.debug('debug line');
    logger.info('info line');
    logger.warn('warn line');
    logger.error('error line');
    await finish(logger);
    expect(lines(file).map((e) => e.message)).toEqual(['warn line', 'error line']);
  });

  it('creates the log folder', async () => {
    const file = join(dir, 'a', 'b', 'c.log');
    const logger = createLogger({ file, consoleLevel: 'silent' });
    logger.info('hello');
    await finish(logger);
    expect(lines(file).map((e) => e.message)).toEqual(['hello']);
  });

  it('works with no sink at all', async () => {
    const logger = createLogger({ consoleLevel: 'silent' });
    expect(() => logger.info('into the void', { password: SECRET })).not.toThrow();
    await finish(logger);
  });
});
