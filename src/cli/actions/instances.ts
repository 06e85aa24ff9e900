import { DbaasError } from '../../errors.js';
import type { InstanceList, InstanceView, LogLines } from '../../instances/schema.js';
import { formatSize } from '../../instances/size.js';
import { withManager, withServices, type CommonOptions } from '../context.js';
import { backupFields } from './backups.js';
import { confirm, readFileArg } from '../input.js';
import { formatAge, printFields, printJson, printTable } from '../output.js';
import { createProgress } from '../progress.js';

/** What the instance commands do, through the manager (their flags and help: commands/instances.ts). */

interface MonitoringOptions {
  monitorInterval?: number;
  monitorMaxFile?: string;
  monitorKeep?: number;
}

interface CreateOptions extends CommonOptions, MonitoringOptions {
  project?: string;
  allowCidr?: string[];
  version?: number;
  memory?: string;
  cpus?: number;
  shmSize?: string;
  port?: number;
  bind?: string;
  database?: string;
  user?: string;
  password?: string;
  passwordFile?: string;
  pgSetting?: Record<string, string>;
  initSql?: string;
}

export async function create(name: string, opts: CreateOptions): Promise<void> {
  await withManager(opts, async (manager) => {
    const progress = await createProgress(Boolean(opts.json));
    const password = opts.passwordFile ? readFileArg(opts.passwordFile, 'password file').trim() : opts.password;
    const input = {
      name,
      project: opts.project,
      version: opts.version,
      memory: opts.memory,
      cpus: opts.cpus,
      shmSize: opts.shmSize,
      port: opts.port,
      bindAddress: opts.bind,
      allowCidrs: opts.allowCidr,
      database: opts.database,
      username: opts.user,
      password,
      pgSettings: opts.pgSetting,
      initSql: opts.initSql ? readFileArg(opts.initSql, 'init SQL file') : undefined,
      monitoring: monitoringInput(opts),
    };
    // Ctrl-C stops the create at its next step and undoes what it made (a second one kills).
    const controller = new AbortController();
    const interrupt = () => {
      process.stderr.write('\ninterrupted: undoing the create (Ctrl-C again to kill)\n');
      controller.abort();
      process.once('SIGINT', () => process.exit(130));
    };
    process.once('SIGINT', interrupt);
    const created = await progress
      .track(manager.create(Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)), progress.report, controller.signal))
      .finally(() => process.off('SIGINT', interrupt));
    if (opts.json) return printJson(created);
    process.stderr.write(`\ninstance ${created.name} (${created.id}) is ${created.status} on port ${created.port}.\n`);
    process.stderr.write('The password is shown once; `dbaas connect ' + created.name + ' --show-password` shows it again.\n\n');
    process.stdout.write(created.connectionString + '\n');
  });
}

export async function info(ref: string, opts: CommonOptions): Promise<void> {
  await withServices(opts, async ({ manager, backups }) => {
    const view = { ...(await manager.get(ref)), backups: await backups.status(ref) };
    if (opts.json) printJson(view);
    else printInstance(view);
  });
}

/** start, stop and restart: the same command over the manager's method of that name. */
function lifecycle(action: 'start' | 'stop' | 'restart') {
  return async (ref: string, opts: CommonOptions): Promise<void> => {
    await withManager(opts, async (manager) => {
      const progress = await createProgress(Boolean(opts.json));
      const view = await progress.track(manager[action](ref, progress.report));
      if (opts.json) printJson(view);
      else process.stdout.write(`${view.name}: ${view.status}\n`);
    });
  };
}

export const start = lifecycle('start');
export const stop = lifecycle('stop');
export const restart = lifecycle('restart');

export async function remove(ref: string, opts: CommonOptions & { yes?: boolean; keepData?: boolean; purgeBackups?: boolean }): Promise<void> {
  await withManager(opts, async (manager) => {
    const view = await manager.get(ref);
    if (!opts.yes) await confirm(view.name, 'delete', opts.keepData ? '(its data folder is kept)' : opts.purgeBackups ? 'and all its data and backups' : 'and all its data (its backups are kept)');
    const progress = await createProgress(Boolean(opts.json));
    const result = await progress.track(manager.delete(view.id, { keepData: opts.keepData, purgeBackups: opts.purgeBackups }, progress.report));
    if (opts.json) return printJson(result);
    process.stdout.write(`deleted ${result.name} (${result.id})${result.keptData ? `; data kept in ${result.keptData}` : ''}\n`);
  });
}

export async function update(
  ref: string,
  opts: CommonOptions &
    MonitoringOptions & { memory?: string; cpus?: number; pgSetting?: Record<string, string>; restart?: boolean; allowCidr?: string[]; allowAny?: boolean; imageRefresh?: boolean },
): Promise<void> {
  await withManager(opts, async (manager) => {
    if (opts.allowAny && opts.allowCidr) throw new DbaasError('USAGE', 'give --allow-cidr or --allow-any, not both');
    const progress = await createProgress(Boolean(opts.json));
    const allowCidrs = opts.allowAny ? [] : opts.allowCidr;
    const input = Object.fromEntries(
      Object.entries({ memory: opts.memory, cpus: opts.cpus, pgSettings: opts.pgSetting, monitoring: monitoringInput(opts), allowCidrs }).filter(
        ([, v]) => v !== undefined,
      ),
    );
    if (opts.imageRefresh) {
      if (Object.keys(input).length > 0 || opts.restart) throw new DbaasError('USAGE', '--image-refresh goes alone (it restarts the instance by itself)');
      const view = await progress.track(manager.refreshImage(ref, progress.report));
      if (opts.json) return printJson(view);
      const r = view.imageRefresh;
      process.stdout.write(
        r.refreshed ? `${view.name}: now runs ${r.image} ${r.to.slice(7, 19)} (was ${r.from?.slice(7, 19) ?? 'none'}), ${view.status}\n` : `${view.name}: runs ${r.image} ${r.to.slice(7, 19)} already; nothing to do\n`,
      );
      return;
    }
    const view = await progress.track(manager.update(ref, input, { restart: opts.restart }, progress.report));
    if (opts.json) return printJson(view);
    process.stdout.write(`${view.name}: memory ${view.memoryHuman}, cpus ${view.cpus}, ${view.status}\n`);
    if (view.pendingRestart) {
      process.stdout.write(`settings derived from the new limits apply after \`dbaas restart ${view.name}\`\n`);
    }
  });
}

export async function logs(ref: string, opts: CommonOptions & { tail: number; follow?: boolean }): Promise<void> {
  await withManager(opts, async (manager) => {
    const tail = opts.tail;
    if (opts.follow) {
      const stream = await manager.followLogs(ref, tail);
      stream.pipe(process.stdout);
      await new Promise<void>((resolve) => {
        stream.on('end', resolve);
        process.once('SIGINT', () => {
          stream.destroy();
          resolve();
        });
      });
      return;
    }
    const lines = await manager.logs(ref, tail);
    if (opts.json) printJson({ instance: ref, lines } satisfies LogLines);
    else process.stdout.write(lines.map((l) => l + '\n').join(''));
  });
}

export async function stats(ref: string, opts: CommonOptions): Promise<void> {
  await withManager(opts, async (manager) => {
    const s = await manager.stats(ref);
    if (opts.json) return printJson(s);
    printTable(
      ['NAME', 'CPU %', 'MEM USED', 'MEM LIMIT', 'MEM %', 'PIDS', 'NET RX', 'NET TX'],
      [[s.name, s.cpuPercent.toFixed(2), formatSize(s.memoryUsed), formatSize(s.memoryLimit), s.memoryPercent.toFixed(1), s.pids, formatSize(s.networkRxBytes), formatSize(s.networkTxBytes)]],
    );
  });
}

export async function connect(ref: string, opts: CommonOptions & { showPassword?: boolean }): Promise<void> {
  await withManager(opts, async (manager) => {
    const info = await manager.connection(ref, { showPassword: opts.showPassword });
    if (opts.json) printJson(info);
    else process.stdout.write(info.connectionString + '\n');
  });
}

/** The --monitor-* flags as the `monitoring` object of the schemas, or undefined without any. */
function monitoringInput(opts: MonitoringOptions): Record<string, string | number> | undefined {
  const entries = Object.entries({
    intervalSec: opts.monitorInterval,
    maxFileBytes: opts.monitorMaxFile,
    keepFiles: opts.monitorKeep,
  }).filter(([, v]) => v !== undefined) as Array<[string, string | number]>;
  return entries.length ? Object.fromEntries(entries) : undefined;
}

function printInstance(view: InstanceView): void {
  printFields([
    ['name', view.name],
    ['id', view.id],
    ['status', view.status + (view.status !== view.storedStatus ? ` (recorded: ${view.storedStatus})` : '')],
    ['version', view.version],
    ['image', view.image],
    ['memory', view.memoryHuman],
    ['cpus', view.cpus],
    ['shm size', formatSize(view.shmSize)],
    ['address', `${view.bindAddress}:${view.port}`],
    ['database', view.database],
    ['user', view.username],
    ['connection', view.connectionString],
    ['containers', view.containers.map((c) => `${c.name} (${c.state ?? 'absent'})`).join(', ') || 'none'],
    ['pending restart', view.pendingRestart ? 'yes: run `dbaas restart ' + view.name + '` to apply settings' : 'no'],
    ['settings', Object.entries(view.pgSettings).map(([k, v]) => `${k}=${v}`).join(' ')],
    ['created', `${view.createdAt} (${formatAge(view.createdAt)})`],
    ['last error', view.lastError],
    ['last repair', view.lastRepair ? `${view.lastRepair.at} ${view.lastRepair.kind}: ${view.lastRepair.detail}` : null],
    ['crash recoveries', describeRecoveries(view.recoveries)],
    ...(view.backups ? backupFields(view.backups) : []),
  ]);
}

/** Crash recoveries as the agent counted them, and the engine's view of the server container. */
function describeRecoveries(r: InstanceView['recoveries']): string {
  const counted = r.crashRecoveries === null ? 'not counted yet' : `${r.crashRecoveries}${r.lastCrashRecoveryAt ? `, last at ${r.lastCrashRecoveryAt}` : ''}`;
  const engine = `container restarts ${r.containerRestarts ?? '?'}${r.oomKilled ? '; last exit: killed for lack of memory' : ''}`;
  return `${counted}; ${engine}`;
}
