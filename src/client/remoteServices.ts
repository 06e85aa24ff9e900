import type { AuditLog } from '../auth/audit.js';
import type { BackupService } from '../backups/service.js';
import type { DataService, RowsQuery } from '../database/service.js';
import { DbaasError } from '../errors.js';
import type { Doctor } from '../instances/doctor.js';
import type { Manager } from '../instances/manager.js';
import type { MonitoringService } from '../monitoring/service.js';
import type { UpgradeService } from '../upgrades/service.js';
import type { ApiClient } from './http.js';

/**
 * What the CLI's commands ask of dbaas's services, and the same asked of a remote dbaas server
 * over its REST routes. The CLI's actions are written against CliServices, so that every command
 * runs the same code on the host (the services themselves) and against a server (these
 * proxies): the same output, the same --json documents (the routes answer the objects the
 * services return) and the same exit codes (the server's error codes come back as they were).
 */

/** A method that answers at once on the host and over the network remotely. */
type MaybeAsync<F> = F extends (...args: infer A) => infer R ? (...args: A) => R | Promise<R> : never;

export interface CliServices {
  manager: Pick<
    Manager,
    'create' | 'get' | 'list' | 'start' | 'stop' | 'restart' | 'delete' | 'update' | 'logs' | 'followLogs' | 'stats' | 'connection' | 'rotateTls' | 'refreshImage'
  >;
  backups: Pick<BackupService, 'create' | 'list' | 'verify' | 'restore' | 'clone' | 'schedule' | 'setSchedule' | 'clearSchedule' | 'status'> & {
    show: MaybeAsync<BackupService['show']>;
    delete: MaybeAsync<BackupService['delete']>;
  };
  data: Pick<
    DataService,
    | 'listTables'
    | 'describeTable'
    | 'createTable'
    | 'dropTable'
    | 'listRows'
    | 'getRow'
    | 'insertRows'
    | 'updateRows'
    | 'deleteRows'
    | 'updateRow'
    | 'deleteRow'
    | 'query'
    | 'transaction'
    | 'types'
  > & { settings: { rowsDefaultLimit: number; rowsMaxLimit: number } };
  monitoring: Pick<MonitoringService, 'metrics' | 'latest' | 'summary' | 'agentStatus' | 'restartAgent' | 'agentLogs'>;
  doctor: Pick<Doctor, 'run'>;
  upgrades: Pick<UpgradeService, 'upgrade' | 'rollback' | 'finalize'>;
  /** This host's audit log (long operations log their steps there); a remote server keeps its own. */
  audit?: AuditLog;
  /** Null on a remote server: the command then says it runs on the dbaas host only. */
  remote: ApiClient | null;
  close(): Promise<void>;
}

const seg = encodeURIComponent;

/** `returning` and `select` as the routes' query takes them. */
function columnsParam(value: string[] | '*' | null): string {
  return value === null ? 'none' : value === '*' ? '*' : value.join(',');
}

/** A rows query as the routes take it: the flags' own query, sent on as it is. */
function rowsParams(q: Partial<RowsQuery>): Record<string, string | string[] | undefined> {
  return { ...(q.source ?? {}) };
}

export function remoteServices(api: ApiClient): CliServices {
  const rows = (ref: string, table: string) => `/database/${seg(ref)}/tables/${seg(table)}/rows`;
  return {
    remote: api,
    close: async () => undefined,
    manager: {
      create: (raw) => api.call('POST', '/instances', { body: raw }),
      get: (ref) => api.call('GET', `/instances/${seg(ref)}`),
      list: async () => (await api.call<{ instances: Awaited<ReturnType<Manager['list']>> }>('GET', '/instances')).instances,
      start: (ref) => api.call('POST', `/instances/${seg(ref)}/start`),
      stop: (ref) => api.call('POST', `/instances/${seg(ref)}/stop`),
      restart: (ref) => api.call('POST', `/instances/${seg(ref)}/restart`),
      delete: (ref, options = {}) => api.call('DELETE', `/instances/${seg(ref)}`, { query: { keepData: options.keepData, purgeBackups: options.purgeBackups } }),
      update: (ref, raw, options = {}) => api.call('PATCH', `/instances/${seg(ref)}`, { body: raw, query: { restart: options.restart } }),
      logs: async (ref, tail) => (await api.call<{ lines: string[] }>('GET', `/instances/${seg(ref)}/logs`, { query: { tail } })).lines,
      stats: (ref) => api.call('GET', `/instances/${seg(ref)}/stats`),
      connection: (ref, options = {}) => api.call('GET', `/instances/${seg(ref)}/connection`, { query: { showPassword: options.showPassword } }),
      rotateTls: (ref) => api.call('POST', `/instances/${seg(ref)}/tls/rotate`),
      refreshImage: (ref) => api.call('POST', `/instances/${seg(ref)}/image-refresh`),
      followLogs: (ref, tail) => api.stream(`/instances/${seg(ref)}/logs/stream`, { tail }),
    },
    upgrades: {
      upgrade: (ref, raw, options = {}) => api.operation('POST', `/instances/${seg(ref)}/upgrade`, { body: raw }, options.progress),
      rollback: (ref, options = {}) => api.operation('POST', `/instances/${seg(ref)}/upgrade/rollback`, {}, options.progress),
      finalize: (ref) => api.call('POST', `/instances/${seg(ref)}/upgrade/finalize`),
    },
    backups: {
      create: (ref, raw, options = {}) => api.operation('POST', `/instances/${seg(ref)}/backups`, { body: raw ?? {} }, options.progress),
      list: async (ref) => (await api.call<{ backups: Awaited<ReturnType<BackupService['list']>> }>('GET', ref ? `/instances/${seg(ref)}/backups` : '/backups')).backups,
      show: (id) => api.call<ReturnType<BackupService['show']>>('GET', `/backups/${seg(id)}`),
      delete: (id) => api.call<ReturnType<BackupService['delete']>>('DELETE', `/backups/${seg(id)}`),
      verify: (id, options = {}) => api.operation('POST', `/backups/${seg(id)}/verify`, { body: { restore: Boolean(options.restore) } }),
      restore: (source, raw, options = {}) =>
        /^bk_/.test(source)
          ? api.operation('POST', `/backups/${seg(source)}/restore`, { body: raw }, options.progress)
          : api.operation('POST', `/instances/${seg(source)}/restore`, { body: raw }, options.progress),
      clone: (ref, newName, options = {}) => api.operation('POST', `/instances/${seg(ref)}/clone`, { body: { name: newName } }, options.progress),
      schedule: async (ref) => (await api.call<{ schedule: Awaited<ReturnType<BackupService['schedule']>> }>('GET', `/instances/${seg(ref)}/backup-schedule`)).schedule,
      setSchedule: async (ref, raw) =>
        (await api.call<{ schedule: Awaited<ReturnType<BackupService['setSchedule']>> }>('PUT', `/instances/${seg(ref)}/backup-schedule`, { body: raw })).schedule,
      clearSchedule: async (ref) => {
        await api.call('DELETE', `/instances/${seg(ref)}/backup-schedule`);
      },
      status: (ref) => api.call('GET', `/instances/${seg(ref)}/backup-status`),
    },
    data: {
      // The server checks limits with its own settings; the CLI's own check must not be tighter.
      settings: { rowsDefaultLimit: 100, rowsMaxLimit: Number.MAX_SAFE_INTEGER },
      listTables: async (ref, schema) =>
        (await api.call<{ tables: Awaited<ReturnType<DataService['listTables']>> }>('GET', `/database/${seg(ref)}/tables`, { query: { schema } })).tables,
      describeTable: (ref, name) => api.call('GET', `/database/${seg(ref)}/tables/${seg(name)}`),
      createTable: (ref, def) => api.call('POST', `/database/${seg(ref)}/tables`, { body: def }),
      dropTable: (ref, name, options) => api.call('DELETE', `/database/${seg(ref)}/tables/${seg(name)}`, { query: { confirm: options.confirm, cascade: options.cascade } }),
      listRows: (ref, table, q) => api.call('GET', rows(ref, table), { query: rowsParams(q) }),
      getRow: (ref, table, key, select) => api.call('GET', `${rows(ref, table)}/${seg(key)}`, { query: { select: columnsParam(select) } }),
      insertRows: (ref, table, body, q) => api.call('POST', rows(ref, table), { body, query: rowsParams(q) }),
      updateRows: (ref, table, body, q) => api.call('PATCH', rows(ref, table), { body, query: rowsParams(q) }),
      deleteRows: (ref, table, q) => api.call('DELETE', rows(ref, table), { query: rowsParams(q) }),
      updateRow: (ref, table, key, body, returning) => api.call('PATCH', `${rows(ref, table)}/${seg(key)}`, { body, query: { returning: columnsParam(returning) } }),
      deleteRow: (ref, table, key, returning) => api.call('DELETE', `${rows(ref, table)}/${seg(key)}`, { query: { returning: columnsParam(returning) } }),
      query: (ref, statement) => api.call('POST', `/database/${seg(ref)}/query`, { body: statement }),
      transaction: (ref, input) => api.call('POST', `/database/${seg(ref)}/transaction`, { body: input }),
      types: (ref, schemas) => api.call('GET', `/database/${seg(ref)}/types.ts`, { query: { schema: schemas?.join(',') }, text: true }),
    },
    monitoring: {
      metrics: (ref, q) =>
        api.call('GET', `/monitoring/${seg(ref)}/metrics`, {
          query: {
            since: q.sinceMs === undefined ? undefined : new Date(q.sinceMs).toISOString(),
            until: q.untilMs === undefined ? undefined : new Date(q.untilMs).toISOString(),
            limit: q.limit,
          },
        }),
      latest: (ref) => api.call('GET', `/monitoring/${seg(ref)}/metrics/latest`),
      summary: (ref, windowMs) => api.call('GET', `/monitoring/${seg(ref)}/summary`, { query: { window: `${Math.round(windowMs)}ms` } }),
      agentStatus: (ref) => api.call('GET', `/monitoring/${seg(ref)}/agent`),
      restartAgent: (ref) => api.call('POST', `/monitoring/${seg(ref)}/agent/restart`),
      agentLogs: async (ref, tail) => (await api.call<{ lines: string[] }>('GET', `/monitoring/${seg(ref)}/agent/logs`, { query: { tail } })).lines,
    },
    doctor: {
      run: (options = {}) => (options.fix ? api.call('POST', '/doctor/fix', { body: options.purge ? { purge: options.purge } : {} }) : api.call('GET', '/doctor')),
    },
  };
}

/** For commands that work on the host's own files and engine (serve, image build, service). */
export function hostOnly(command: string): DbaasError {
  return new DbaasError('USAGE', `dbaas ${command} runs on the dbaas host itself, not against a remote server (unset DBAAS_URL or run dbaas logout)`);
}
