import { createServer, type Server } from 'node:net';
import { loadModule, parseSync } from 'libpg-query';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accessSql,
  API_ROLE,
  ensureAccess,
  MONITOR_CONNECTIONS,
  MONITOR_ROLE,
  type AccessPlan,
} from '../../src/database/controlAccess.js';
import { SCRAM_VERIFIER, scramVerifier } from '../../src/database/scram.js';
import { DbaasError } from '../../src/errors.js';

const PLAN: AccessPlan = {
  database: 'shop',
  appRole: 'shop_app',
  monitorPassword: 'M0nitorHiddenKK',
  apiPassword: 'ApiHiddenPw-77',
  apiConnections: 10,
};
const APP_PASSWORD = 'AppPassw0rdXYZ';

interface Stmt {
  stmt: Record<string, Record<string, unknown>>;
}

function statements(sql: string): Stmt[] {
  return (parseSync(sql) as { stmts: Stmt[] }).stmts;
}

function kinds(sql: string): string[] {
  return statements(sql).map((s) => Object.keys(s.stmt)[0] as string);
}

/** Every `PASSWORD '...'` literal of the script, by the role it is set for. */
function passwords(sql: string): Array<{ role: string; literal: string }> {
  return [...sql.matchAll(/ALTER ROLE ("(?:[^"]|"")+") (?:WITH [^;]*?)?PASSWORD '([^']*)'/g)].map((m) => ({
    role: m[1]!,
    literal: m[2]!,
  }));
}

/** Whether `verifier` is the SCRAM verifier of `password` (recomputed with its salt and count). */
function verifies(verifier: string, password: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(verifier);
  if (!m) return false;
  return scramVerifier(password, { iterations: Number(m[1]), salt: Buffer.from(m[2]!, 'base64') }) === verifier;
}

const BASE_KINDS = [
  'DoStmt', // create the roles when absent
  'AlterRoleStmt', // dbaas_monitor: attributes, limit, password
  'GrantRoleStmt', // pg_monitor
  'AlterRoleSetStmt', // default_transaction_read_only
  'AlterRoleSetStmt', // statement_timeout
  'AlterRoleSetStmt', // application_name
  'AlterRoleStmt', // dbaas_api
  'GrantRoleStmt', // app role to dbaas_api
  'AlterOwnerStmt', // database owned by postgres
  'GrantStmt', // REVOKE ALL FROM PUBLIC
  'GrantStmt', // app role: CONNECT, TEMPORARY, CREATE
  'GrantStmt', // CONNECT for dbaas's roles
  'GrantStmt', // CONNECT on postgres for the monitor
  'DoStmt', // the application role's connection limit
];

beforeAll(async () => {
  await loadModule();
});

describe('accessSql', () => {
  it('parses into the expected statements, without the app password by default', () => {
    const sql = accessSql(PLAN);
    expect(sql.endsWith(';')).toBe(true);
    expect(kinds(sql)).toEqual(BASE_KINDS);
  });

  it('adds one ALTER ROLE of the application role when appPassword is given', () => {
    const sql = accessSql({ ...PLAN, appPassword: APP_PASSWORD });
    expect(kinds(sql)).toEqual([...BASE_KINDS, 'AlterRoleStmt']);
    expect(sql).toMatch(/ALTER ROLE "shop_app" PASSWORD 'SCRAM-SHA-256\$[^']+';$/);
  });

  it('never carries a plaintext password: every PASSWORD is a SCRAM verifier of the right password', () => {
    for (const plan of [PLAN, { ...PLAN, appPassword: APP_PASSWORD }]) {
      const sql = accessSql(plan);
      for (const secret of [PLAN.monitorPassword, PLAN.apiPassword, APP_PASSWORD]) expect(sql).not.toContain(secret);
      const found = passwords(sql);
      expect(found.map((p) => p.role)).toEqual(
        plan.appPassword ? ['"dbaas_monitor"', '"dbaas_api"', '"shop_app"'] : ['"dbaas_monitor"', '"dbaas_api"'],
      );
      // Every PASSWORD of the script is one of those.
      expect(sql.match(/PASSWORD/g)).toHaveLength(found.length);
      for (const { literal } of found) expect(literal).toMatch(SCRAM_VERIFIER);
      expect(verifies(found[0]!.literal, PLAN.monitorPassword)).toBe(true);
      expect(verifies(found[1]!.literal, PLAN.apiPassword)).toBe(true);
      if (plan.appPassword) expect(verifies(found[2]!.literal, APP_PASSWORD)).toBe(true);
      // No password is crossed with another role's.
      expect(verifies(found[0]!.literal, PLAN.apiPassword)).toBe(false);
    }
  });

  it('salts every verifier afresh (two passes give different verifiers for the same password)', () => {
    const a = passwords(accessSql(PLAN));
    const b = passwords(accessSql(PLAN));
    expect(a[0]!.literal).not.toBe(b[0]!.literal);
    expect(a[1]!.literal).not.toBe(b[1]!.literal);
  });

  it('does not touch the application password without appPassword', () => {
    const sql = accessSql(PLAN);
    expect(sql).not.toMatch(/ALTER ROLE "shop_app" PASSWORD/);
    expect(passwords(sql).some((p) => p.role === '"shop_app"')).toBe(false);
  });

  it('sets up dbaas_monitor: login, no privileges, pg_monitor, read-only, few connections', () => {
    const sql = accessSql(PLAN);
    expect(MONITOR_ROLE).toBe('dbaas_monitor');
    expect(sql).toContain(
      `ALTER ROLE "dbaas_monitor" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT ${MONITOR_CONNECTIONS} PASSWORD '`,
    );
    expect(sql).toContain('GRANT pg_monitor TO "dbaas_monitor";');
    expect(sql).toContain('ALTER ROLE "dbaas_monitor" SET default_transaction_read_only = on;');
    expect(sql).toContain(`ALTER ROLE "dbaas_monitor" SET statement_timeout = '5s';`);
    expect(sql).toContain('GRANT CONNECT ON DATABASE postgres TO "dbaas_monitor";');
  });

  it('sets up dbaas_api NOINHERIT, a member of the application role, with the pool\u2019s connection limit', () => {
    const sql = accessSql(PLAN);
    expect(API_ROLE).toBe('dbaas_api');
    expect(sql).toContain(
      `ALTER ROLE "dbaas_api" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT CONNECTION LIMIT 10 PASSWORD '`,
    );
    expect(sql).toContain('GRANT "shop_app" TO "dbaas_api";');
    const api = statements(sql).find(
      (s) => s.stmt.AlterRoleStmt && JSON.stringify(s.stmt.AlterRoleStmt).includes('"rolename":"dbaas_api"'),
    );
    expect(JSON.stringify(api)).toContain('"defname":"inherit","arg":{"Boolean":{"boolval":false}}');
    const monitor = statements(sql).find(
      (s) => s.stmt.AlterRoleStmt && JSON.stringify(s.stmt.AlterRoleStmt).includes('"rolename":"dbaas_monitor"'),
    );
    expect(JSON.stringify(monitor)).toContain('"defname":"inherit","arg":{"Boolean":{"boolval":true}}');
  });

  it('creates the roles only when absent (the DO block checks pg_roles)', () => {
    const sql = accessSql(PLAN);
    expect(sql).toContain(`IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'dbaas_monitor') THEN CREATE ROLE "dbaas_monitor"; END IF;`);
    expect(sql).toContain(`IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'dbaas_api') THEN CREATE ROLE "dbaas_api"; END IF;`);
  });

  it('gives the database to the superuser and the application role CONNECT, TEMPORARY and CREATE', () => {
    const sql = accessSql(PLAN);
    expect(sql).toContain('ALTER DATABASE "shop" OWNER TO postgres;');
    expect(sql).toContain('REVOKE ALL ON DATABASE "shop" FROM PUBLIC;');
    expect(sql).toContain('GRANT CONNECT, TEMPORARY, CREATE ON DATABASE "shop" TO "shop_app";');
    expect(sql).toContain('GRANT CONNECT ON DATABASE "shop" TO "dbaas_monitor", "dbaas_api";');
  });

  it.each([
    [10, 13],
    [1, 4],
    [0, 3],
    [40, 43],
  ])('limits the application role to max_connections - superuser_reserved - (%d api + 3 monitor = %d), at least 1', (api, reserved) => {
    const sql = accessSql({ ...PLAN, apiConnections: api });
    expect(reserved).toBe(api + MONITOR_CONNECTIONS);
    expect(sql).toContain(
      `greatest(1, current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int - ${reserved})`,
    );
    expect(sql).toContain(`EXECUTE format('ALTER ROLE %I CONNECTION LIMIT %s', 'shop_app',`);
    expect(sql).toContain(`NOINHERIT CONNECTION LIMIT ${api} PASSWORD`);
  });

  it('quotes the database and the roles, whatever their names', () => {
    const plan: AccessPlan = { ...PLAN, database: 'd"b; DROP DATABASE postgres; --', appRole: 'We"ird Role' };
    const sql = accessSql(plan);
    expect(sql).toContain('ALTER DATABASE "d""b; DROP DATABASE postgres; --" OWNER TO postgres;');
    expect(sql).toContain('GRANT CONNECT, TEMPORARY, CREATE ON DATABASE "d""b; DROP DATABASE postgres; --" TO "We""ird Role";');
    expect(sql).toContain('GRANT "We""ird Role" TO "dbaas_api";');
    // PostgreSQL's grammar sees exactly the statements of a plain plan: nothing was injected.
    expect(kinds(sql)).toEqual(BASE_KINDS);
    const dropped = statements(sql).filter((s) => s.stmt.DropdbStmt || s.stmt.DropStmt);
    expect(dropped).toEqual([]);
    // The names arrive as names, not as SQL.
    const owner = statements(sql).find((s) => s.stmt.AlterOwnerStmt)!;
    expect(JSON.stringify(owner)).toContain(JSON.stringify('d"b; DROP DATABASE postgres; --'));
    const grantRole = statements(sql).filter((s) => s.stmt.GrantRoleStmt)[1]!;
    expect(JSON.stringify(grantRole)).toContain('"granted_roles":[{"AccessPriv":{"priv_name":"We\\"ird Role"}}]');
  });

  it('passes the application role to format() as a literal quoted with %I', () => {
    const sql = accessSql({ ...PLAN, appRole: 'We"ird Role' });
    const doBlocks = statements(sql).filter((s) => s.stmt.DoStmt);
    expect(doBlocks).toHaveLength(2);
    const body = JSON.stringify(doBlocks[1]);
    expect(body).toContain(`format('ALTER ROLE %I CONNECTION LIMIT %s', 'We\\"ird Role',`);
  });
});

describe('ensureAccess', () => {
  let server: Server;
  let port: number;
  let connections = 0;

  beforeAll(async () => {
    // A listener that counts connection attempts: a refused plan must never reach it.
    server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const target = () => ({ host: '127.0.0.1', port, user: 'postgres', password: 'AdminSup3rSecretQQ', database: 'postgres' });

  it.each([["o'neil"], ['a$$b'], ['Upper'], ['with space'], ['"quoted"'], ['']])(
    'refuses an application role name that is not a plain identifier (%j) before connecting',
    async (appRole) => {
      const before = connections;
      const err = await ensureAccess(target(), { ...PLAN, appRole }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DbaasError);
      expect((err as DbaasError).code).toBe('INTERNAL');
      expect(connections).toBe(before);
    },
  );

  it('reports a server that goes away as OPERATION_FAILED at the access step, without a password in the message', async () => {
    const err = await ensureAccess(target(), { ...PLAN, appPassword: APP_PASSWORD }, 2000).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DbaasError);
    expect((err as DbaasError).code).toBe('OPERATION_FAILED');
    expect((err as DbaasError).details).toMatchObject({ step: 'access' });
    const text = JSON.stringify({ message: (err as DbaasError).message, details: (err as DbaasError).details });
    for (const secret of ['AdminSup3rSecretQQ', PLAN.monitorPassword, PLAN.apiPassword, APP_PASSWORD]) expect(text).not.toContain(secret);
    expect(connections).toBeGreaterThan(0);
  });
});
