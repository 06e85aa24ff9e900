import pg from 'pg';
import { DbaasError } from '../errors.js';
import type { LoginTarget } from '../runtime/readiness.js';
import { quoteIdent } from './query.js';
import { SCRAM_VERIFIER, scramVerifier } from './scram.js';

/**
 * Keeps dbaas's own ways into an instance working whatever the application role does inside it
 * (DESIGN.md, "Trust boundaries"). Run as the superuser after every start, it (re)makes:
 *  - `dbaas_monitor` (pg_monitor, read-only, few connections) for the monitoring agent, and
 *    `dbaas_api` (NOINHERIT, a member of the application role) for the data API, with dbaas's
 *    passwords: the application role cannot change them (it has no CREATEROLE);
 *  - the application database owned by the superuser, not by the application role, so that the
 *    application role cannot revoke dbaas's CONNECT, set a connection limit on it or ALTER
 *    DATABASE ... SET something that dbaas's sessions would inherit. The application role keeps
 *    CONNECT, TEMPORARY and CREATE on it and owns the schema `public`;
 *  - a connection limit on the application role that leaves room for the data API's pool and
 *    the agent, so that the application cannot take every connection.
 * Passwords reach the server as SCRAM verifiers computed here, never as text.
 */

export const MONITOR_ROLE = 'dbaas_monitor';
export const API_ROLE = 'dbaas_api';
/** Connections the monitoring role may hold (the agent needs one). */
export const MONITOR_CONNECTIONS = 3;

export interface AccessPlan {
  database: string;
  appRole: string;
  monitorPassword: string;
  apiPassword: string;
  /** Connections the data API's pool may hold. */
  apiConnections: number;
  /** Set only at create: afterwards the password is the application's to change. */
  appPassword?: string;
}

function verifier(password: string): string {
  const v = scramVerifier(password);
  if (!SCRAM_VERIFIER.test(v)) throw new DbaasError('INTERNAL', 'a computed SCRAM verifier has an unexpected form');
  return v;
}

/**
 * Session options for dbaas's sessions that set passwords: the statements are never written to
 * the server's log, whatever logging settings the instance has (log_statement=all is a setting
 * users may choose). They must be in the startup packet: a statement is logged when it arrives,
 * before a SET in the same script could take effect. Only a superuser may set them.
 */
export const UNLOGGED_SESSION_OPTIONS = '-c log_statement=none -c log_min_duration_statement=-1 -c log_min_error_statement=panic -c log_duration=off';

/** The SQL of one pass, as one script (one implicit transaction): all of it or none. */
export function accessSql(plan: AccessPlan): string {
  const db = quoteIdent(plan.database);
  const app = quoteIdent(plan.appRole);
  const monitor = quoteIdent(MONITOR_ROLE);
  const api = quoteIdent(API_ROLE);
  const reserved = plan.apiConnections + MONITOR_CONNECTIONS;
  const lines = [
    `DO $$BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '${MONITOR_ROLE}') THEN CREATE ROLE ${monitor}; END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '${API_ROLE}') THEN CREATE ROLE ${api}; END IF;
END$$`,
    `ALTER ROLE ${monitor} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT ` +
      `CONNECTION LIMIT ${MONITOR_CONNECTIONS} PASSWORD '${verifier(plan.monitorPassword)}'`,
    `GRANT pg_monitor TO ${monitor}`,
    `ALTER ROLE ${monitor} SET default_transaction_read_only = on`,
    `ALTER ROLE ${monitor} SET statement_timeout = '5s'`,
    `ALTER ROLE ${monitor} SET application_name = 'dbaas-monitor'`,
    // NOINHERIT: dbaas_api has no rights of its own; the data API acts as the application role
    // with SET ROLE, and SQL that undoes SET ROLE is left with less, never more.
    `ALTER ROLE ${api} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT ` +
      `CONNECTION LIMIT ${Math.trunc(plan.apiConnections)} PASSWORD '${verifier(plan.apiPassword)}'`,
    `GRANT ${app} TO ${api}`,
    `ALTER DATABASE ${db} OWNER TO postgres`,
    `REVOKE ALL ON DATABASE ${db} FROM PUBLIC`,
    `GRANT CONNECT, TEMPORARY, CREATE ON DATABASE ${db} TO ${app}`,
    `GRANT CONNECT ON DATABASE ${db} TO ${monitor}, ${api}`,
    `GRANT CONNECT ON DATABASE postgres TO ${monitor}`,
    `DO $$BEGIN
  EXECUTE format('ALTER ROLE %I CONNECTION LIMIT %s', '${plan.appRole.replace(/'/g, "''")}',
    greatest(1, current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int - ${reserved}));
END$$`,
  ];
  if (plan.appPassword !== undefined) lines.push(`ALTER ROLE ${app} PASSWORD '${verifier(plan.appPassword)}'`);
  return lines.join(';\n') + ';';
}

/** Runs one pass as the superuser; a failure is OPERATION_FAILED with the server's reason. */
export async function ensureAccess(superuser: LoginTarget, plan: AccessPlan, timeoutMs = 15_000): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(plan.appRole)) throw new DbaasError('INTERNAL', `unexpected role name ${plan.appRole}`);
  const client = new pg.Client({
    ...superuser,
    connectionTimeoutMillis: 5000,
    statement_timeout: timeoutMs,
    application_name: 'dbaas',
    options: UNLOGGED_SESSION_OPTIONS,
  });
  client.on('error', () => undefined); // a server that goes away mid-pass must not end the process
  try {
    await client.connect();
    await client.query(accessSql(plan));
  } catch (err) {
    const e = err as { message: string; code?: string };
    throw new DbaasError('OPERATION_FAILED', `could not set up dbaas's access to the instance: ${e.message}`, {
      step: 'access',
      ...(e.code ? { sqlstate: e.code } : {}),
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}
