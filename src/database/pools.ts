import pg from 'pg';
import { DbaasError } from '../errors.js';
import type { Manager } from '../instances/manager.js';
import type { InstanceRecord } from '../instances/schema.js';
import { localDialHost } from '../instances/view.js';
import { containerNameFor } from '../provisioner/provisioner.js';
import { fromPgError, isConnectionError } from './sqlstate.js';
import { jsonTypes } from './types.js';

export interface RequestOptions {
  /** Run in a READ ONLY transaction (every GET does). */
  readOnly?: boolean;
  /** statement_timeout for this request, in ms. */
  timeoutMs?: number;
}

interface Entry {
  pool: pg.Pool;
  lastUsed: number;
}

/**
 * One bounded pg pool per running instance, as the application role: made on first use, closed
 * when the instance stops, restarts or is deleted (the manager says so) or when its server stops
 * answering, and made again on the next request. The pools together never hold more than
 * `poolMaxTotal` connections: beyond that the least recently used pool is closed.
 */
export class PoolManager {
  private readonly pools = new Map<string, Entry>();
  private readonly creating = new Map<string, Promise<Entry>>();

  constructor(private readonly manager: Manager) {
    manager.events.on('serverChanged', (id) => void this.close(id));
  }

  private get settings() {
    return this.manager.settings;
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
    const info = await this.manager.engine.inspect(containerNameFor(record));
    if (!info?.State.Running) {
      throw new DbaasError('INSTANCE_NOT_RUNNING', `instance ${record.name} is not running; start it first`, { instance: record.id });
    }
    const password = this.manager.appPassword(record);
    const perPool = this.settings.poolMaxPerInstance;
    while (this.pools.size > 0 && (this.pools.size + 1) * perPool > this.settings.poolMaxTotal) {
      const [lru] = [...this.pools.entries()].sort((a, b) => a[1].lastUsed - b[1].lastUsed);
      if (!lru) break;
      await this.close(lru[0]);
    }
    const pool = new pg.Pool({
      host: localDialHost(record.bindAddress),
      port: record.port,
      user: record.username,
      password,
      database: record.database,
      max: perPool,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 10_000,
      application_name: 'dbaas-api',
      // The defaults every session starts with; a request that wants others sets them (see session).
      options: `-c TimeZone=UTC -c statement_timeout=${this.settings.statementTimeoutMs}`,
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

  /**
   * Runs `work` on a pooled connection in the mode the request asks for: read-only or not, with
   * its statement timeout, and inside BEGIN/COMMIT when it has several statements that must see
   * one snapshot or commit together (`transaction`). A connection keeps its session settings,
   * so they are only sent when they differ from what the connection has: a plain GET is one
   * round trip. Errors come back as DbaasErrors mapped from their SQLSTATE.
   */
  async session<T>(
    record: InstanceRecord,
    options: RequestOptions & { transaction?: boolean; userSql?: boolean },
    work: (client: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    const entry = await this.entry(record);
    entry.lastUsed = Date.now();
    let client: pg.PoolClient;
    try {
      client = await entry.pool.connect();
    } catch (err) {
      if (isConnectionError(err)) await this.close(record.id);
      throw fromPgError(err, record.name);
    }
    const wanted = {
      readOnly: Boolean(options.readOnly),
      timeoutMs: Math.min(options.timeoutMs ?? this.settings.statementTimeoutMs, this.settings.statementTimeoutMaxMs),
    };
    let broken: Error | undefined;
    let inTransaction = false;
    try {
      const current = sessionState.get(client) ?? { readOnly: false, timeoutMs: this.settings.statementTimeoutMs };
      const sets: string[] = [];
      if (current.readOnly !== wanted.readOnly) sets.push(`SET default_transaction_read_only = ${wanted.readOnly ? 'on' : 'off'}`);
      // An integer we computed, never text from the request.
      if (current.timeoutMs !== wanted.timeoutMs) sets.push(`SET statement_timeout = ${Math.trunc(wanted.timeoutMs)}`);
      // The SETs go alone: in one message with BEGIN, the transaction would take its mode from
      // the old default_transaction_read_only (it starts before the SET runs).
      if (sets.length) await client.query(sets.join('; '));
      sessionState.set(client, wanted);
      if (options.transaction) {
        await client.query(wanted.readOnly ? 'BEGIN READ ONLY' : 'BEGIN');
        inTransaction = true;
      }
      const result = await work(client);
      if (inTransaction) await client.query('COMMIT');
      inTransaction = false;
      if (options.userSql) await resetSession(client);
      return result;
    } catch (err) {
      if (isConnectionError(err)) {
        broken = err as Error;
        await this.close(record.id);
      } else if (options.userSql) {
        await resetSession(client).catch((e: Error) => {
          broken = e;
        });
      } else if (inTransaction) {
        await client.query('ROLLBACK').catch((e: Error) => {
          broken = e;
        });
      }
      throw fromPgError(err, record.name);
    } finally {
      client.release(broken);
    }
  }
}

/** The session settings each pooled connection has now (connections made with the defaults). */
const sessionState = new WeakMap<pg.PoolClient, { readOnly: boolean; timeoutMs: number }>();

/**
 * After SQL a user sent, the connection goes back to the pool as it came out of it: a transaction
 * the SQL left open is rolled back, and DISCARD ALL undoes SET, SET ROLE, temporary tables and
 * the like, which would otherwise leak into the next request that gets this connection.
 */
async function resetSession(client: pg.PoolClient): Promise<void> {
  await client.query('ROLLBACK'); // only a warning when no transaction is open
  await client.query('DISCARD ALL');
  sessionState.delete(client);
}
