import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import { DataService } from '../../src/database/service.js';
import { DbaasError } from '../../src/errors.js';
import { InstanceKeeper } from '../../src/instances/keeper.js';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { createLogger } from '../../src/log/logger.js';
import { adminToken, docker, makeHome, query, type TestHome } from './helpers.js';
import { rejected } from '../unit/fixtures/errors.js';

/**
 * Issue 7 against real instances: what the application role (and SQL sent through the API) can do
 * must not cut dbaas off its own instance, transactions stay atomic and read-only, a connection
 * lost under a request fails that request only, no secret is in a container's environment,
 * operations on one instance are serialised, and the agent and the server come back on their own.
 */

const run = promisify(execFile);
const BIN = join(PROJECT_ROOT, 'bin', 'dbaas');

/** Waits until `check` returns a value (not undefined), polling; fails after `timeoutMs`. */
async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** The newest sample of the agent written after `sinceMs` that saw the server up. */
function freshSample(file: string, sinceMs: number): Record<string, unknown> | undefined {
  const lines = readFileSync(file, 'utf8').trim().split('\n').reverse();
  for (const line of lines) {
    const sample = JSON.parse(line) as { ts_ms: number; up: boolean };
    if (sample.ts_ms <= sinceMs) return undefined;
    if (sample.up) return sample;
  }
  return undefined;
}


/** Runs SQL in the instance as the superuser, from inside its container (not through dbaas). */
async function asSuperuser(container: string, sql: string): Promise<string> {
  const { stdout } = await run('docker', ['exec', '-u', 'postgres', container, 'psql', '-X', '-Atc', sql]);
  return stdout.trim();
}

describe('what the application role does cannot cut dbaas off (item 4)', () => {
  let t: TestHome;
  let created: CreatedInstance;
  let data: DataService;
  let server: string;
  let appUrl: string;

  beforeAll(async () => {
    t = makeHome(22600);
    created = await t.manager.create({ name: 'guarded', memory: '192m', cpus: 0.5, monitoring: { intervalSec: 1 } });
    server = created.containers[0]!.name;
    data = new DataService(t.manager);
    appUrl = created.connectionString;
    await query(appUrl, 'CREATE TABLE notes (id int PRIMARY KEY, body text)');
  });
  afterAll(async () => {
    await data?.close();
    await t.cleanup();
  });

  it('gives dbaas its own roles: the data API logs in as dbaas_api and acts as the application role', async () => {
    const who = await data.query('guarded', { sql: 'SELECT session_user AS s, current_user AS c' });
    expect(who.rows).toEqual([{ s: 'dbaas_api', c: 'app' }]);
    const roles = await asSuperuser(server, "SELECT rolname || ':' || rolinherit || ':' || rolsuper FROM pg_roles WHERE rolname IN ('dbaas_api', 'dbaas_monitor') ORDER BY 1");
    expect(roles.split('\n')).toEqual(['dbaas_api:false:false', 'dbaas_monitor:true:false']);
    // The database is dbaas's; the application role keeps what it needs in it.
    expect(await asSuperuser(server, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'")).toBe('postgres');
    expect(await query(appUrl, "SELECT has_database_privilege('app', 'CREATE') AS c, has_schema_privilege('public', 'CREATE') AS s")).toEqual([{ c: true, s: true }]);
    await query(appUrl, 'CREATE SCHEMA reports');
    // Its connections are capped so that dbaas_api and the agent always have room.
    const limit = Number(await asSuperuser(server, "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'app'"));
    const max = Number(await asSuperuser(server, 'SHOW max_connections'));
    expect(limit).toBeGreaterThan(0);
    expect(limit).toBeLessThan(max - 3);
  });

  it('keeps the monitoring role\'s CONNECT: the application role cannot revoke it, and samples go on', async () => {
    await query(appUrl, 'REVOKE CONNECT ON DATABASE app FROM dbaas_monitor'); // a no-op warning: not its grant
    await expect(query(appUrl, 'REVOKE ALL ON DATABASE app FROM dbaas_api')).resolves.toBeDefined();
    expect(await asSuperuser(server, "SELECT has_database_privilege('dbaas_monitor', 'app', 'CONNECT')")).toBe('t');
    await expect(query(appUrl, 'ALTER DATABASE app CONNECTION LIMIT 0')).rejects.toThrow(/must be owner/);
    await expect(query(appUrl, 'ALTER DATABASE app SET default_transaction_read_only = on')).rejects.toThrow(/must be owner/);
    const since = Date.now();
    const metrics = join(t.home, 'instances', created.id, 'logs', 'metrics.ndjson');
    await eventually(async () => freshSample(metrics, since), 15_000, 'a sample after the REVOKE');
  });

  it('writes rows although the application role made its sessions read-only (ALTER ROLE ... SET)', async () => {
    await query(appUrl, 'ALTER ROLE app SET default_transaction_read_only = on');
    await expect(query(appUrl, "INSERT INTO notes VALUES (0, 'direct')")).rejects.toThrow(/read-only transaction/);
    const written = await data.insertRows('guarded', 'notes', { id: 1, body: 'through the API' }, { returning: '*' });
    expect(written.count).toBe(1);
    await query(appUrl, 'BEGIN READ WRITE; ALTER ROLE app RESET default_transaction_read_only; COMMIT');
  });

  it('repairs its membership in the application role when it is lost', async () => {
    // PostgreSQL 15 refuses this to the role itself; older versions let a role revoke grants of
    // itself, so the loss is simulated as the superuser and dbaas must repair it.
    await expect(query(appUrl, 'REVOKE app FROM dbaas_api')).rejects.toThrow(/admin option/);
    await asSuperuser(server, 'REVOKE app FROM dbaas_api');
    expect(await asSuperuser(server, "SELECT pg_has_role('dbaas_api', 'app', 'MEMBER')")).toBe('f');
    await data.close(); // new connections must SET ROLE again
    const rows = await data.listRows('guarded', 'notes', { filters: [], select: '*', order: [], limit: 10, offset: 0, count: false, returning: '*', force: false });
    expect(rows.rows).toEqual([{ id: 1, body: 'through the API' }]);
    expect(await asSuperuser(server, "SELECT pg_has_role('dbaas_api', 'app', 'MEMBER')")).toBe('t');
  });

  it('keeps working after the application role changes its own password: data API, restart, monitoring', async () => {
    await query(appUrl, "ALTER ROLE app PASSWORD 'Changed-by-the-app-1'");
    await expect(query(appUrl, 'SELECT 1')).rejects.toThrow(/password authentication failed/);
    const mine = appUrl.replace(`:${created.password}@`, ':Changed-by-the-app-1@');
    expect(await query(mine, 'SELECT current_user AS u')).toEqual([{ u: 'app' }]);

    await data.close();
    expect((await data.query('guarded', { sql: 'SELECT count(*)::int AS n FROM notes' })).rows).toEqual([{ n: 1 }]);
    // Readiness logs in as dbaas's superuser, not the application role: no 120 s timeout.
    const started = Date.now();
    const view = await t.manager.restart('guarded');
    expect(view.status).toBe('running');
    expect(Date.now() - started).toBeLessThan(60_000);
    expect((await data.query('guarded', { sql: 'SELECT body FROM notes' })).rows).toEqual([{ body: 'through the API' }]);
    // The restart did not put the old password back: it is the application's.
    expect(await query(mine, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    const since = Date.now();
    const metrics = join(t.home, 'instances', created.id, 'logs', 'metrics.ndjson');
    await eventually(async () => freshSample(metrics, since), 15_000, 'a sample after the restart');
  });
});

describe('transactions stay atomic and read-only stays read-only (item 3)', () => {
  let t: TestHome;
  let created: CreatedInstance;
  let data: DataService;
  const count = async () => (await query<{ n: number }>(created.connectionString, 'SELECT count(*)::int AS n FROM ledger'))[0]!.n;

  beforeAll(async () => {
    t = makeHome(22620);
    created = await t.manager.create({ name: 'atomic', memory: '160m', cpus: 0.5 });
    data = new DataService(t.manager);
    await query(created.connectionString, 'CREATE TABLE ledger (v int)');
  });
  afterAll(async () => {
    await data?.close();
    await t.cleanup();
  });

  it('refuses INSERT, COMMIT, SELEC before anything runs: nothing is committed', async () => {
    const err = await rejected(
      data.transaction('atomic', { statements: [{ sql: 'INSERT INTO ledger VALUES (1)' }, { sql: 'COMMIT' }, { sql: 'SELEC' }] }),
    );
    expect(err.code).toBe('STATEMENT_NOT_ALLOWED');
    expect(err.details?.statementIndex).toBe(1);
    expect(await count()).toBe(0);
  });

  it('refuses a syntax error in a later statement before the first one runs', async () => {
    const err = await rejected(data.transaction('atomic', { statements: [{ sql: 'INSERT INTO ledger VALUES (1)' }, { sql: 'SELEC 1' }] }));
    expect(err.code).toBe('SQL_ERROR');
    expect(err.details).toMatchObject({ sqlstate: '42601', statementIndex: 1 });
    expect(await count()).toBe(0);
  });

  it.each([
    [['COMMIT', 'BEGIN READ WRITE', 'INSERT INTO ledger VALUES (2)']],
    [['SET TRANSACTION READ WRITE', 'INSERT INTO ledger VALUES (2)']],
    [['SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE', 'INSERT INTO ledger VALUES (2)']],
    [['SET default_transaction_read_only = off', 'INSERT INTO ledger VALUES (2)']],
    [['RESET ALL', 'INSERT INTO ledger VALUES (2)']],
    [['/* harmless */ END', 'INSERT INTO ledger VALUES (2)']],
  ])('keeps readOnly on whatever the statements say: %j', async (statements) => {
    const err = await rejected(data.transaction('atomic', { readOnly: true, statements: statements.map((sql) => ({ sql })) }));
    expect(err.code).toBe('STATEMENT_NOT_ALLOWED');
    expect(await count()).toBe(0);
  });

  it('does not run statements after a ROLLBACK outside the transaction', async () => {
    const err = await rejected(
      data.transaction('atomic', { statements: ['INSERT INTO ledger VALUES (3)', 'ROLLBACK', 'INSERT INTO ledger VALUES (4)'].map((sql) => ({ sql })) }),
    );
    expect(err.code).toBe('STATEMENT_NOT_ALLOWED');
    expect(await count()).toBe(0);
  });

  it('leaves PostgreSQL to refuse what the parser lets through: set_config and COMMIT inside DO', async () => {
    const lifted = await rejected(
      data.query('atomic', { readOnly: true, sql: "SELECT set_config('transaction_read_only', 'off', true)" }),
    );
    expect(lifted.details?.sqlstate).toBe('25001');
    const inDo = await rejected(
      data.transaction('atomic', { statements: [{ sql: 'INSERT INTO ledger VALUES (5)' }, { sql: 'DO $$BEGIN COMMIT; END$$' }] }),
    );
    expect(inDo.details?.sqlstate).toBe('2D000');
    expect(await count()).toBe(0);
  });

  it('commits a good transaction whole, and runs VACUUM (no transaction) through a plain query', async () => {
    const ok = await data.transaction('atomic', { statements: [{ sql: 'INSERT INTO ledger VALUES (7)' }, { sql: 'INSERT INTO ledger VALUES (8)' }] });
    expect(ok.results).toHaveLength(2);
    expect(await count()).toBe(2);
    expect((await data.query('atomic', { sql: 'VACUUM ledger' })).command).toBe('VACUUM');
    const readOnly = await rejected(data.query('atomic', { readOnly: true, sql: 'INSERT INTO ledger VALUES (9)' }));
    expect(readOnly.code).toBe('PERMISSION_DENIED');
    expect(await count()).toBe(2);
  });
});

describe('a connection lost under a request fails that request only (item 2)', () => {
  let t: TestHome;
  let child: ChildProcess | undefined;
  let base: string;
  let server: string;
  let output = '';
  let token: string;

  function freePort(): Promise<number> {
    return new Promise((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
  }
  const post = (path: string, body: unknown) =>
    fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as { error?: { code: string; message: string } },
    }));
  const alive = () => fetch(`${base}/health`).then((r) => r.status, () => 0);

  beforeAll(async () => {
    t = makeHome(22640);
    token = await adminToken(t);
    const created = await t.manager.create({ name: 'lost', memory: '160m', cpus: 0.5 });
    server = created.containers[0]!.name;
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [BIN, 'serve', '--port', String(port)], { env: t.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await eventually(async () => ((await alive()) === 200 ? true : undefined), 15_000, 'dbaas serve');
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await t.cleanup();
  });

  it('answers 503 when the backend is terminated mid-query, and the server lives on', async () => {
    const pending = post('/database/lost/query', { sql: 'SELECT pg_sleep(30)' });
    await eventually(
      async () => ((await asSuperuser(server, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()")) === '1' ? true : undefined),
      10_000,
      'the query to run',
    );
    await asSuperuser(server, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()");
    const reply = await pending;
    expect(reply.status).toBe(503);
    expect(reply.body.error?.code).toBe('INSTANCE_NOT_RUNNING');
    expect(await alive()).toBe(200);
    expect(output).not.toMatch(/Unhandled 'error' event/);
    // The next request gets a healthy connection.
    expect((await post('/database/lost/query', { sql: 'SELECT 1 AS one' })).status).toBe(200);
  });

  it('refuses SQL that terminates its own backend, and lives on', async () => {
    const reply = await post('/database/lost/query', { sql: 'SELECT pg_terminate_backend(pg_backend_pid())' });
    expect(reply.status).toBeGreaterThanOrEqual(400);
    expect(reply.status).toBeLessThan(600);
    expect(reply.status).not.toBe(500);
    expect(await alive()).toBe(200);
  });

  it('answers 503 when the server is killed mid-query, and the server lives on', async () => {
    const pending = post('/database/lost/query', { sql: 'SELECT pg_sleep(30)' });
    await new Promise((r) => setTimeout(r, 1000));
    await docker.getContainer(server).kill();
    const reply = await pending;
    expect(reply.status).toBe(503);
    expect(await alive()).toBe(200);
    expect(child?.exitCode).toBeNull();
    expect(output).not.toMatch(/Unhandled 'error' event/);
  });
});

describe('no secret in a container\'s environment (item 7)', () => {
  let t: TestHome;
  let created: CreatedInstance;

  beforeAll(async () => {
    t = makeHome(22660);
    created = await t.manager.create({ name: 'sealed', memory: '128m', cpus: 0.3 });
  });
  afterAll(async () => t.cleanup());

  it('shows no password in docker inspect of the server or the agent, only the paths of 0600 files', async () => {
    const dir = join(t.home, 'instances', created.id, 'secrets');
    const admin = readFileSync(join(dir, 'postgres-password'), 'utf8').trim();
    const monitor = readFileSync(join(dir, 'agent.pgpass'), 'utf8').trim().split(':').pop()!;
    expect(admin.length).toBeGreaterThanOrEqual(24);
    expect(monitor.length).toBeGreaterThanOrEqual(24);
    for (const c of created.containers) {
      const info = JSON.stringify(await docker.getContainer(c.name).inspect());
      for (const secret of [created.password, admin, monitor]) expect(info).not.toContain(secret);
      expect(info).not.toMatch(/PASSWORD=/);
    }
  });

  it('leaves no password in the environment of the running server processes either', async () => {
    const admin = readFileSync(join(t.home, 'instances', created.id, 'secrets', 'postgres-password'), 'utf8').trim();
    const server = created.containers.find((c) => c.service === 'postgres')!.name;
    // The postmaster is PID 1; every backend inherits its environment (read as its own user:
    // root in the container may not read another user's environ without CAP_SYS_PTRACE).
    const environ = (await run('docker', ['exec', '-u', 'postgres', server, 'cat', '/proc/1/environ'])).stdout;
    expect(environ).toContain('PGDATA=/var/lib/postgresql/data');
    expect(environ).not.toContain('POSTGRES_PASSWORD=');
    expect(environ).not.toContain(admin);
  });
});

describe('one operation at a time per instance (item 8)', () => {
  let t: TestHome;

  beforeAll(() => {
    t = makeHome(22680);
  });
  afterAll(async () => t.cleanup());

  it('answers a delete racing a start with 409 INVALID_STATE for the loser, never a 500, and ends consistent', async () => {
    for (let trial = 0; trial < 3; trial++) {
      const name = `race-${trial}`;
      await t.manager.create({ name, memory: '128m', cpus: 0.3 });
      await t.manager.stop(name);
      const [start, del] = await Promise.allSettled([t.manager.start(name), t.manager.delete(name)]);
      const outcomes = [start, del];
      const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(failed).toHaveLength(1);
      expect(failed[0]!.reason).toBeInstanceOf(DbaasError);
      expect((failed[0]!.reason as DbaasError).code).toBe('INVALID_STATE');
      const left = (await t.manager.list()).find((v) => v.name === name);
      if (del.status === 'fulfilled') expect(left).toBeUndefined();
      else {
        expect(left?.status).toBe('running');
        await t.manager.delete(name);
      }
    }
  });

  it('refuses a CLI delete while another process restarts the instance', async () => {
    await t.manager.create({ name: 'busy', memory: '128m', cpus: 0.3 });
    const restart = t.manager.restart('busy');
    await new Promise((r) => setTimeout(r, 300)); // the restart holds the instance now
    const cli = await run(process.execPath, [BIN, 'delete', 'busy', '--yes'], { env: t.env }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/INVALID_STATE/);
    expect((await restart).status).toBe('running');
    await t.manager.delete('busy');
  });
});

describe('the agent and the server come back on their own (item 6)', () => {
  let t: TestHome;
  let created: CreatedInstance;
  let metrics: string;
  const [serverName, agentName] = [() => created.containers[0]!.name, () => created.containers[1]!.name];

  beforeAll(async () => {
    t = makeHome(22700);
    created = await t.manager.create({ name: 'phoenix', memory: '160m', cpus: 0.5, monitoring: { intervalSec: 1 } });
    metrics = join(t.home, 'instances', created.id, 'logs', 'metrics.ndjson');
    await query(created.connectionString, 'CREATE TABLE kept (v int); INSERT INTO kept VALUES (1)');
  });
  afterAll(async () => t.cleanup());

  it('keeps sampling when the engine restarts the server alone (no shared network namespace to lose)', async () => {
    await docker.getContainer(serverName()).restart({ t: 5 });
    const since = Date.now();
    await eventually(async () => freshSample(metrics, since), 20_000, 'a sample after the server restart');
    expect((await docker.getContainer(agentName()).inspect()).RestartCount).toBe(0);
  });

  it('reconnects when the agent starts before the server, as after an engine restart', async () => {
    await docker.getContainer(agentName()).stop({ t: 5 });
    await docker.getContainer(serverName()).stop({ t: 10 });
    await docker.getContainer(agentName()).start();
    await new Promise((r) => setTimeout(r, 2500));
    expect((await docker.getContainer(agentName()).inspect()).State.Running).toBe(true);
    await docker.getContainer(serverName()).start();
    const since = Date.now();
    await eventually(async () => freshSample(metrics, since), 20_000, 'a sample once the server is back');
  });

  it('is brought back by `dbaas serve` (its keeper) when stopped or removed behind dbaas\'s back', async () => {
    const keeper = new InstanceKeeper(t.services.doctor, createLogger({ consoleLevel: 'silent' }), 0);
    const repaired = async () => (await keeper.round()).map((f) => [f.kind, f.instance]);
    await docker.getContainer(serverName()).stop({ t: 10 });
    await docker.getContainer(agentName()).stop({ t: 5 });
    expect((await t.manager.get('phoenix')).status).toBe('stopped');
    expect(await repaired()).toEqual([['instance-down', created.id]]);
    expect((await t.manager.get('phoenix')).status).toBe('running');
    expect((await t.manager.get('phoenix')).lastRepair).toMatchObject({ kind: 'instance-down' });

    await docker.getContainer(serverName()).remove({ force: true });
    expect((await t.manager.get('phoenix')).status).toBe('missing');
    expect(await repaired()).toEqual([['instance-down', created.id]]);
    expect((await t.manager.get('phoenix')).status).toBe('running');
    expect(await query(created.connectionString, 'SELECT v FROM kept')).toEqual([{ v: 1 }]);

    // What the user stopped stays stopped.
    await t.manager.stop('phoenix');
    expect(await repaired()).toEqual([]);
    expect((await t.manager.get('phoenix')).status).toBe('stopped');
  });
});
