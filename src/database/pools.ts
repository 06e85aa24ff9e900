import type { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Settings } from '../config/settings.js';
import { DbaasError } from '../errors.js';
import type { InstanceRecord } from '../instances/schema.js';
import { quoteIdent } from './query.js';
import { forgetPrepared } from './prepared.js';
import { fromPgError, isConnectionError } from './sqlstate.js';
import { jsonTypes } from './types.js';

export interface RequestOptions {
  /** Run in a READ ONLY transaction (every GET does). */
  readOnly?: boolean;
  /** statement_timeout for this request, in ms. */
  timeoutMs?: number;
}

/**
 * What the pools need of the rest of dbaas: whether a server runs, dbaas's own login into it, and
 * a way to restore that login's rights when the application role took them away.
 */
export interface InstanceAccess {
  readonly settings: Settings;
  readonly events: EventEmitter<{ serverChanged: [id: string] }>;
  serverRunning(record: InstanceRecord): Promise<boolean>;
  /** Where the pool dials the running server (null when it does not run). */
  serverAddress(record: InstanceRecord): Promise<{ host: string; port: number } | null>;
  /** The data API's login (the dbaas_api role); made on the server when the record has none yet. */
  apiLogin(record: InstanceRecord): Promise<{ user: string; password: string }>;
  /** Grants dbaas_api what it needs again (membership in the application role, CONNECT). */
  repairAccess(record: InstanceRecord): Promise<void>;
}

interface Entry {
  pool: pg.Pool;
  lastUsed: number;
}

/** SQLSTATEs that say dbaas's own login lost a right the application role can take away. */
const ACCESS_LOST = new Set(['42501', '28000', '28P01', '3D000', '22023', '42704']);

/**
 * One bounded pg pool per running instance. The pools log in as dbaas's own role `dbaas_api`
 * and act as the application role with SET ROLE: nothing the application role can change (its
 * password, its role settings) cuts the data API off, and session settings are fixed in the
 * startup packet, which outranks every ALTER ROLE/DATABASE ... SET. A pool is made on first
 * use, closed when the instance stops, restarts or is deleted or when its server stops
 * answering, and made again on the next request. The pools together never hold more than
 * `poolMaxTotal` connections: beyond that the least recently used pool is closed.
 */
export class PoolManager {
  private readonly pools = new Map<string, Entry>();
  private readonly creating = new Map<string, Promise<Entry>>();

  constructor(private readonly access: InstanceAccess) {
    access.events.on('serverChanged', (id) => void this.close(id));
  }

  private get settings() {
    return this.access.settings;
  }

  private async entry(record: InstanceRecord): Promise<Entry> {
    const existing = this.pools.get(record.id);
    if (existing) return existing;
    const pending = this.creating.get(record.id);
    if (pending) return pending;
    const made = this.create(record).finally(() => this.creating.delete(record.id));
    this.creating.set(record.id, made);
    return made;
  }

  private async create(record: InstanceRecord): Promise<Entry> {
    if (record.status === 'provisioning' || record.status === 'deleting') {
      throw new DbaasError('INSTANCE_NOT_RUNNING', `instance ${record.name} is ${record.status}`, { instance: record.id });
    }
    const address = await this.access.serverAddress(record);
    if (!address) {
      throw new DbaasError('INSTANCE_NOT_RUNNING', `instance ${record.name} is not running; start it first`, { instance: record.id });
    }
    const login = await this.access.apiLogin(record);
    const perPool = this.settings.poolMaxPerInstance;
    while (this.pools.size > 0 && (this.pools.size + 1) * perPool > this.settings.poolMaxTotal) {
      const [lru] = [...this.pools.entries()].sort((a, b) => a[1].lastUsed - b[1].lastUsed);
      if (!lru) break;
      await this.close(lru[0]);
    }
    const pool = new pg.Pool({
      host: address.host,
      port: address.port,
      user: login.user,
      password: login.password,
      database: record.database,
      max: perPool,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 10_000,
      application_name: 'dbaas-api',
      // The defaults every session starts with, sent at login: they win over whatever the
      // application role set with ALTER ROLE/DATABASE. A request that wants others sets them.
      options: `-c TimeZone=UTC -c statement_timeout=${this.settings.statementTimeoutMs} -c default_transaction_read_only=off`,
      types: jsonTypes,
    });
    // An idle client whose server went away reports here; the pool then drops it.
    pool.on('error', () => undefined);
    const entry = { pool, lastUsed: Date.now() };
    this.pools.set(record.id, entry);
    return entry;
  }

  async close(id: string): Promise<void> {
    const entry = this.pools.get(id);
    if (!entry) return;
    this.pools.delete(id);
    await entry.pool.end().catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.pools.keys()].map((id) => this.close(id)));
  }

  /** Connections open now, per instance: for tests and benchmarks. */
  stats(): Record<string, { total: number; idle: number; waiting: number }> {
    return Object.fromEntries(
      [...this.pools].map(([id, e]) => [id, { total: e.pool.totalCount, idle: e.pool.idleCount, waiting: e.pool.waitingCount }]),
    );
  }

  /** A pooled connection, or the pool's failure as a DbaasError (an unreachable server is 503). */
  private async checkout(record: InstanceRecord, repaired = false): Promise<pg.PoolClient> {
    const entry = await this.entry(record);
    entry.lastUsed = Date.now();
    try {
      return await entry.pool.connect();
    } catch (err) {
      // CONNECT revoked, or the login changed: restore dbaas's access once and try again.
      if (!repaired && ACCESS_LOST.has((err as { code?: string }).code ?? '')) {
        await this.access.repairAccess(record);
        return this.checkout(record, true);
      }
      if (isConnectionError(err)) await this.close(record.id);
      throw fromPgError(err, record.name);
    }
  }

  /**
   * Brings a connection's session to what the request wants: the application role, read-only
   * or not, its statement timeout. A connection keeps its session settings, so only what differs
   * is sent: a plain GET on a warm connection is one round trip. When the application role took
   * dbaas_api's membership away (PostgreSQL 15 and older let a role revoke its own grants),
   * access is repaired once and the settings sent again.
   */
  private async prepare(client: pg.PoolClient, record: InstanceRecord, wanted: SessionState): Promise<void> {
    const current = sessionState.get(client) ?? { role: null, readOnly: false, timeoutMs: this.settings.statementTimeoutMs };
    const sets: string[] = [];
    if (current.role !== wanted.role) sets.push(`SET ROLE ${quoteIdent(wanted.role ?? '')}`);
    if (current.readOnly !== wanted.readOnly) sets.push(`SET default_transaction_read_only = ${wanted.readOnly ? 'on' : 'off'}`);
    // An integer we computed, never text from the request.
    if (current.timeoutMs !== wanted.timeoutMs) sets.push(`SET statement_timeout = ${Math.trunc(wanted.timeoutMs)}`);
    if (sets.length === 0) return;
    // The SETs go alone: in one message with BEGIN, the transaction would take its mode from
    // the old default_transaction_read_only (it starts before the SET runs).
    try {
      await client.query(sets.join('; '));
    } catch (err) {
      if (!ACCESS_LOST.has((err as { code?: string }).code ?? '')) throw err;
      await this.access.repairAccess(record);
      await client.query(sets.join('; '));
    }
    sessionState.set(client, wanted);
  }

  /**
   * Runs `work` on a pooled connection in the mode the request asks for: read-only or not, with
   * its statement timeout, and inside BEGIN/COMMIT when it has several statements that must see
   * one snapshot or commit together (`transaction`). Errors come back as DbaasErrors mapped from
   * their SQLSTATE; a connection that dies under the request (its backend was terminated, the
   * server was killed) fails only this request, with 503.
   */
  async session<T>(
    record: InstanceRecord,
    options: RequestOptions & { transaction?: boolean; userSql?: boolean; rollback?: boolean },
    work: (client: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    const client = await this.checkout(record);
    let broken: Error | undefined;
    // While checked out a client has no listener of the pool's: without ours, a connection that
    // ends under a request would be an unhandled 'error' event, which ends the process.
    const onError = (err: Error) => {
      broken ??= err;
    };
    client.on('error', onError);
    const wanted: SessionState = {
      role: record.username,
      readOnly: Boolean(options.readOnly),
      timeoutMs: Math.min(options.timeoutMs ?? this.settings.statementTimeoutMs, this.settings.statementTimeoutMaxMs),
    };
    let inTransaction = false;
    try {
      await this.prepare(client, record, wanted);
      if (options.transaction) {
        await client.query(wanted.readOnly ? 'BEGIN READ ONLY' : 'BEGIN');
        inTransaction = true;
      }
      const result = await work(client);
      // rollback: the work's answer stands, its changes do not (PostgREST's Prefer: tx=rollback).
      if (inTransaction) await client.query(options.rollback ? 'ROLLBACK' : 'COMMIT');
      inTransaction = false;
      if (options.userSql) await resetSession(client);
      return result;
    } catch (err) {
      if (broken || isConnectionError(err)) {
        broken ??= err as Error;
      } else if (options.userSql) {
        await resetSession(client).catch((e: Error) => {
          broken = e;
        });
      } else if (inTransaction) {
        await client.query('ROLLBACK').catch((e: Error) => {
          broken = e;
        });
      }
      throw fromPgError(broken && !(err instanceof DbaasError) ? broken : err, record.name);
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
      // After the release: closing a pool waits for its clients to come back. The server may
      // have gone (killed, restarted): the pool's other connections are of no use either.
      if (broken && isConnectionError(broken)) await this.close(record.id);
    }
  }
}

interface SessionState {
  /** The role the session acts as (SET ROLE), null until set. */
  role: string | null;
  readOnly: boolean;
  timeoutMs: number;
}

/** The session settings each pooled connection has now (connections made with the defaults). */
const sessionState = new WeakMap<pg.PoolClient, SessionState>();

/**
 * After SQL a user sent, the connection goes back to the pool as it came out of it: a transaction
 * the SQL left open is rolled back, and DISCARD ALL undoes SET, SET ROLE, temporary tables and
 * the like, which would otherwise leak into the next request that gets this connection.
 */
async function resetSession(client: pg.PoolClient): Promise<void> {
  await client.query('ROLLBACK'); // only a warning when no transaction is open
  await client.query('DISCARD ALL');
  // DISCARD ALL dropped the prepared statements too (and the user's SQL may have run DEALLOCATE).
  forgetPrepared(client);
  sessionState.delete(client);
}
