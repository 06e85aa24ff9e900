import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerNameFor } from '../../src/provisioner/provisioner.js';
import { makeHome, query, until, type TestHome } from './helpers.js';

/**
 * Instances made from the image's template data directory (runtime/dataTemplate.ts,
 * instances/bootstrap.ts): made once per image, never a login with another password than the
 * instance's own, every instance its own secrets, roles and settings, and the entrypoint's own
 * initialisation whenever there is no template.
 */

const run = promisify(execFile);
const IMAGE = 'postgres:15';

async function serverLog(name: string): Promise<string> {
  const { stdout, stderr } = await run('docker', ['logs', name]);
  return stdout + stderr;
}

/** The roles of a data folder that have a password, read by the server in single-user mode. */
async function rolesWithPassword(dataDir: string): Promise<string[]> {
  const copy = mkdtempSync(join(tmpdir(), 'dbaas-template-copy-'));
  try {
    cpSync(dataDir, copy, { recursive: true });
    await run('chown', ['-R', '999:999', copy]);
    const { stdout } = await run('docker', [
      'run', '--rm', '-i', '--user', 'postgres', '-v', `${copy}:/data`, '--entrypoint', 'bash', IMAGE, '-c',
      `echo "SELECT 'ROLE:' || rolname AS r FROM pg_authid WHERE rolpassword IS NOT NULL" | postgres --single -D /data postgres`,
    ]);
    return [...stdout.matchAll(/"ROLE:([^"]+)"/g)].map((m) => m[1] as string);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

describe('the template data directory', () => {
  let t: TestHome;
  const templates = mkdtempSync(join(tmpdir(), 'dbaas-templates-'));

  beforeAll(() => {
    t = makeHome(23250, { DBAAS_DATA_TEMPLATES_DIR: templates });
  });
  afterAll(async () => {
    await t.cleanup();
    rmSync(templates, { recursive: true, force: true });
  });

  it('is made once for two creates that race, by the entrypoint, with no password for any role', async () => {
    const [a, b] = await Promise.all([
      t.manager.create({ name: 'first', memory: '128m' }),
      t.manager.create({ name: 'second', memory: '256m' }),
    ]);
    const made = readdirSync(templates).filter((n) => !n.endsWith('.lock'));
    expect(made).toHaveLength(1); // one image id, no work folder left behind
    const data = join(templates, made[0] as string, 'data');
    expect(readFileSync(join(data, 'PG_VERSION'), 'utf8').trim()).toBe('15');
    expect(existsSync(join(data, 'postmaster.pid'))).toBe(false);
    expect(await rolesWithPassword(data)).toEqual([]);

    // Both instances started from it: their servers never ran initdb.
    for (const created of [a, b]) {
      const log = await serverLog(containerNameFor(created));
      expect(log).not.toContain('PostgreSQL init process complete');
      expect(log).toContain('database system is ready to accept connections');
    }
    const provisioning = readFileSync(join(t.home, 'logs', 'provisioning.log'), 'utf8');
    expect(provisioning.match(/"data":"template"/g)).toHaveLength(2);
  });

  it('gives every instance its own passwords, roles and settings', async () => {
    const first = await t.manager.connection('first', { showPassword: true });
    const second = await t.manager.connection('second', { showPassword: true });
    expect((await query(first.connectionString, 'SHOW shared_buffers'))[0]?.shared_buffers).toBe('32MB');
    expect((await query(second.connectionString, 'SHOW shared_buffers'))[0]?.shared_buffers).toBe('64MB');
    // One instance's password does not open the other.
    const crossed = second.connectionString.replace(`:${second.password}@`, `:${first.password}@`);
    await expect(query(crossed, 'SELECT 1')).rejects.toMatchObject({ code: '28P01' });
    // The superuser's password is the instance's own, set as a SCRAM verifier.
    const superVerifier = async (name: string) => {
      const record = await t.manager.record(name);
      const sql = "SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'";
      const { stdout } = await run('docker', ['exec', '-u', 'postgres', containerNameFor(record), 'psql', '-XAtc', sql]);
      return stdout.trim();
    };
    const [v1, v2] = [await superVerifier('first'), await superVerifier('second')];
    expect(v1).toMatch(/^SCRAM-SHA-256\$/);
    expect(v2).toMatch(/^SCRAM-SHA-256\$/);
    expect(v1).not.toBe(v2);
  });

  it('never accepts a login with another password than the instance\'s own while it is made', async () => {
    const port = 23260;
    const attempts = { refused: 0, authFailed: 0, accepted: [] as string[] };
    let done = false;
    const tries = [
      { user: 'postgres', password: '' },
      { user: 'postgres', password: 'postgres' },
      { user: 'app', password: '' },
      { user: 'app', password: 'app' },
      { user: 'dbaas_api', password: '' },
      { user: 'dbaas_monitor', password: 'x' },
    ];
    const hammer = (async () => {
      while (!done) {
        for (const tryLogin of tries) {
          const client = new pg.Client({ host: '127.0.0.1', port, database: 'postgres', ...tryLogin, connectionTimeoutMillis: 1000 });
          client.on('error', () => undefined);
          try {
            await client.connect();
            attempts.accepted.push(tryLogin.user);
          } catch (err) {
            if ((err as { code?: string }).code === '28P01' || (err as { code?: string }).code === '28000') attempts.authFailed++;
            else attempts.refused++;
          } finally {
            await client.end().catch(() => undefined);
          }
        }
      }
    })();
    try {
      const created = await t.manager.create({ name: 'hammered', memory: '128m', port });
      expect(created.port).toBe(port);
      // Still refused with every other password once it runs.
      done = true;
      await hammer;
      expect(attempts.accepted).toEqual([]);
      // The server answered during the create (so the window was tried, not only a closed port).
      expect(attempts.authFailed).toBeGreaterThan(0);
      expect((await query(created.connectionString, 'SELECT 1 AS one'))[0]).toEqual({ one: 1 });
    } finally {
      done = true;
      await hammer;
    }
  });

  it('keeps a spare copy ready and renames it into the next instance\'s data folder', async () => {
    const image = readdirSync(templates).find((n) => !n.endsWith('.lock')) as string;
    const spares = join(t.home, 'instances', '.spare-data', image);
    const spare = await until('a spare copy', () => readdirSync(spares).find((n) => n.startsWith('spare-')), 60_000);
    const inode = statSync(join(spares, spare)).ino;
    const created = await t.manager.create({ name: 'from-spare', memory: '128m' });
    expect(statSync(join(t.home, 'instances', created.id, 'data')).ino).toBe(inode); // renamed, not copied
    expect(existsSync(join(spares, spare))).toBe(false);
    expect((await query(created.connectionString, 'SELECT current_user AS u'))[0]).toEqual({ u: 'app' });
    // And the next one is being made.
    await until('the next spare copy', () => readdirSync(spares).find((n) => n.startsWith('spare-') && n !== spare), 60_000);
    // The doctor does not take the spares' folder for an orphan instance folder.
    expect((await t.services.doctor.examine()).filter((f) => f.kind === 'orphan-folder')).toEqual([]);
  });

  it('writes no password or verifier to the server log, even with log_statement = all', async () => {
    const created = await t.manager.create({ name: 'chatty', memory: '128m', pgSettings: { log_statement: 'all' } });
    await t.manager.restart('chatty');
    await query(created.connectionString, 'SELECT 1');
    const log = await serverLog(containerNameFor(created));
    expect(log).toContain('statement: SELECT 1'); // the setting is in force
    expect(log).not.toMatch(/SCRAM-SHA-256\$/);
    expect(log).not.toContain(created.password);
  });
});

describe('without a template', () => {
  let t: TestHome;
  beforeAll(() => {
    t = makeHome(23270, { DBAAS_DATA_TEMPLATES: 'off' });
  });
  afterAll(async () => t.cleanup());

  it('lets the image\'s entrypoint initialise the data folder when templates are off', async () => {
    const created = await t.manager.create({ name: 'classic', memory: '128m' });
    expect(await serverLog(containerNameFor(created))).toContain('PostgreSQL init process complete');
    expect((await query(created.connectionString, 'SELECT current_user AS u'))[0]).toEqual({ u: 'app' });
    expect(existsSync(join(t.home, 'config', 'data-templates'))).toBe(false);
    // The agent started with the server, long before initdb ended: what it wrote starts with a
    // good sample, not with the refused connections of a server still being made.
    const metrics = join(t.home, 'instances', created.id, 'logs', 'metrics.ndjson');
    const first = await until('the first sample', () => (existsSync(metrics) ? readFileSync(metrics, 'utf8').split('\n')[0] || undefined : undefined), 60_000);
    expect(JSON.parse(first)).toMatchObject({ up: true });
  });

  it('falls back to the entrypoint when the template cannot be made, and says so in the log', async () => {
    const blocked = join(t.home, 'blocked-templates');
    writeFileSync(blocked, 'a file where the folder should be\n');
    const u = makeHome(23280, { DBAAS_DATA_TEMPLATES_DIR: blocked });
    try {
      const created = await u.manager.create({ name: 'fallback', memory: '128m' });
      expect(await serverLog(containerNameFor(created))).toContain('PostgreSQL init process complete');
      expect((await query(created.connectionString, 'SELECT 1 AS one'))[0]).toEqual({ one: 1 });
      const log = readFileSync(join(u.home, 'logs', 'provisioning.log'), 'utf8');
      expect(log).toContain('no template data directory; the server initialises its own');
      expect(log).toContain('"data":"initdb"');
    } finally {
      await u.cleanup();
    }
  });
});
