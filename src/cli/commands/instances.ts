import { InvalidArgumentError, type Command } from 'commander';
import { DbaasError } from '../../errors.js';
import type { InstanceView } from '../../instances/schema.js';
import { formatSize } from '../../instances/size.js';
import { formatAge, printFields, printJson, printTable } from '../output.js';
import { createProgress } from '../progress.js';
import { confirm, readFileArg } from '../input.js';
import { decimalFlag, portFlag, wholeFlag } from '../numbers.js';
import { withManager, type CommonOptions } from '../context.js';

/** `--pg-setting work_mem=8MB` (repeatable) into a settings object. */
function collectSetting(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  // Thrown inside commander's parsing: its own error type makes it a usage error (exit 2).
  if (eq <= 0) throw new InvalidArgumentError(`--pg-setting takes name=value, got "${value}"`);
  return { ...previous, [value.slice(0, eq).trim()]: value.slice(eq + 1) };
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
  ]);
}


interface MonitoringOptions {
  monitorInterval?: number;
  monitorMaxFile?: string;
  monitorKeep?: number;
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

interface CreateOptions extends CommonOptions, MonitoringOptions {
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

export function registerInstanceCommands(program: Command): void {
  program
    .command('create')
    .description('create a PostgreSQL instance and print its connection string')
    .argument('<name>', 'unique name: lowercase letters, digits and "-", 3-40 characters')
    .option('--version <major>', 'PostgreSQL major version (12-17)', wholeFlag(1))
    .option('--memory <size>', 'memory limit, e.g. 512m or 1g (minimum 128m)')
    .option('--cpus <n>', 'CPU limit, e.g. 0.5 or 2', decimalFlag)
    .option('--shm-size <size>', 'size of /dev/shm (default: a quarter of memory, at least 64m)')
    .option('--port <port>', 'host port (default: the first free one of the configured range)', portFlag)
    .option('--bind <address>', 'IPv4 address to publish the port on')
    .option('--database <name>', 'application database (default: app)')
    .option('--user <name>', 'application role (default: app)')
    .option('--password <password>', 'application password (default: generated)')
    .option('--password-file <path>', 'read the application password from a file ("-" for stdin)')
    .option('--pg-setting <name=value>', 'override a PostgreSQL setting (repeatable)', collectSetting)
    .option('--init-sql <path>', 'SQL file run once in the new database as the application role')
    .option('--monitor-interval <seconds>', 'seconds between monitoring samples (default 10)', wholeFlag(1))
    .option('--monitor-max-file <size>', 'rotate metrics.ndjson at this size (default 10m)')
    .option('--monitor-keep <n>', 'rotated metrics files kept (default 3)', wholeFlag(1))
    .option('--json', 'print one JSON document, no progress')
    .action(async (name: string, opts: CreateOptions) => {
      await withManager(opts, async (manager) => {
        const progress = createProgress(Boolean(opts.json));
        const password = opts.passwordFile ? readFileArg(opts.passwordFile, 'password file').trim() : opts.password;
        const input = {
          name,
          version: opts.version,
          memory: opts.memory,
          cpus: opts.cpus,
          shmSize: opts.shmSize,
          port: opts.port,
          bindAddress: opts.bind,
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
    });

  program
    .command('list')
    .alias('ls')
    .description('list instances with their observed status')
    .option('--json', 'print JSON')
    .action(async (opts: CommonOptions) => {
      await withManager(opts, async (manager) => {
        const views = await manager.list();
        if (opts.json) return printJson({ instances: views });
        if (views.length === 0) {
          process.stdout.write('no instances; create one with `dbaas create <name>`\n');
          return;
        }
        printTable(
          ['NAME', 'ID', 'STATUS', 'VERSION', 'MEMORY', 'CPUS', 'PORT', 'CREATED'],
          views.map((v) => [v.name, v.id, v.status + (v.pendingRestart ? '*' : ''), v.version, v.memoryHuman, v.cpus, `${v.bindAddress}:${v.port}`, formatAge(v.createdAt)]),
        );
        if (views.some((v) => v.pendingRestart)) process.stdout.write('* settings change pending a restart\n');
      });
    });

  program
    .command('info')
    .description('show one instance')
    .argument('<instance>', 'id or name')
    .option('--json', 'print JSON')
    .action(async (ref: string, opts: CommonOptions) => {
      await withManager(opts, async (manager) => {
        const view = await manager.get(ref);
        if (opts.json) printJson(view);
        else printInstance(view);
      });
    });

  for (const action of ['start', 'stop', 'restart'] as const) {
    program
      .command(action)
      .description(`${action} an instance${action === 'stop' ? ' (fast shutdown; data stays)' : ' and wait until it accepts logins'}`)
      .argument('<instance>', 'id or name')
      .option('--json', 'print JSON, no progress')
      .action(async (ref: string, opts: CommonOptions) => {
        await withManager(opts, async (manager) => {
          const progress = createProgress(Boolean(opts.json));
          const view = await progress.track(manager[action](ref, progress.report));
          if (opts.json) printJson(view);
          else process.stdout.write(`${view.name}: ${view.status}\n`);
        });
      });
  }

  program
    .command('delete')
    .alias('rm')
    .description('delete an instance: its container, files and record')
    .argument('<instance>', 'id or name')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--keep-data', 'keep instances/<id>/data on disk')
    .option('--json', 'print JSON, no progress')
    .action(async (ref: string, opts: CommonOptions & { yes?: boolean; keepData?: boolean }) => {
      await withManager(opts, async (manager) => {
        const view = await manager.get(ref);
        if (!opts.yes) await confirm(view.name, 'delete', opts.keepData ? '(its data folder is kept)' : 'and all its data');
        const progress = createProgress(Boolean(opts.json));
        const result = await progress.track(manager.delete(view.id, { keepData: opts.keepData }, progress.report));
        if (opts.json) return printJson(result);
        process.stdout.write(`deleted ${result.name} (${result.id})${result.keptData ? `; data kept in ${result.keptData}` : ''}\n`);
      });
    });

  program
    .command('update')
    .description('resize an instance live (memory, CPUs), change its PostgreSQL or monitoring settings')
    .argument('<instance>', 'id or name')
    .option('--memory <size>', 'new memory limit, e.g. 1g')
    .option('--cpus <n>', 'new CPU limit', decimalFlag)
    .option('--pg-setting <name=value>', 'PostgreSQL setting override (repeatable; replaces the earlier overrides)', collectSetting)
    .option('--monitor-interval <seconds>', 'seconds between monitoring samples', wholeFlag(1))
    .option('--monitor-max-file <size>', 'rotate metrics.ndjson at this size')
    .option('--monitor-keep <n>', 'rotated metrics files kept', wholeFlag(1))
    .option('--restart', 'restart now so that settings derived from memory take effect')
    .option('--json', 'print JSON, no progress')
    .action(async (ref: string, opts: CommonOptions & MonitoringOptions & { memory?: string; cpus?: number; pgSetting?: Record<string, string>; restart?: boolean }) => {
      await withManager(opts, async (manager) => {
        const progress = createProgress(Boolean(opts.json));
        const input = Object.fromEntries(
          Object.entries({ memory: opts.memory, cpus: opts.cpus, pgSettings: opts.pgSetting, monitoring: monitoringInput(opts) }).filter(
            ([, v]) => v !== undefined,
          ),
        );
        const view = await progress.track(manager.update(ref, input, { restart: opts.restart }, progress.report));
        if (opts.json) return printJson(view);
        process.stdout.write(`${view.name}: memory ${view.memoryHuman}, cpus ${view.cpus}, ${view.status}\n`);
        if (view.pendingRestart) {
          process.stdout.write(`settings derived from the new limits apply after \`dbaas restart ${view.name}\`\n`);
        }
      });
    });

  program
    .command('logs')
    .description("print the server's log")
    .argument('<instance>', 'id or name')
    .option('-n, --tail <lines>', 'lines from the end', wholeFlag(1), 100)
    .option('-f, --follow', 'keep printing new lines')
    .option('--json', 'print JSON')
    .action(async (ref: string, opts: CommonOptions & { tail: number; follow?: boolean }) => {
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
        if (opts.json) printJson({ instance: ref, lines });
        else process.stdout.write(lines.map((l) => l + '\n').join(''));
      });
    });

  program
    .command('stats')
    .description('CPU and memory of the instance, from the engine')
    .argument('<instance>', 'id or name')
    .option('--json', 'print JSON')
    .action(async (ref: string, opts: CommonOptions) => {
      await withManager(opts, async (manager) => {
        const s = await manager.stats(ref);
        if (opts.json) return printJson(s);
        printTable(
          ['NAME', 'CPU %', 'MEM USED', 'MEM LIMIT', 'MEM %', 'PIDS', 'NET RX', 'NET TX'],
          [[s.name, s.cpuPercent.toFixed(2), formatSize(s.memoryUsed), formatSize(s.memoryLimit), s.memoryPercent.toFixed(1), s.pids, formatSize(s.networkRxBytes), formatSize(s.networkTxBytes)]],
        );
      });
    });

  program
    .command('connect')
    .description('print the connection string (the password only with --show-password)')
    .argument('<instance>', 'id or name')
    .option('--show-password', 'include the password')
    .option('--json', 'print JSON')
    .action(async (ref: string, opts: CommonOptions & { showPassword?: boolean }) => {
      await withManager(opts, async (manager) => {
        const info = await manager.connection(ref, { showPassword: opts.showPassword });
        if (opts.json) printJson(info);
        else process.stdout.write(info.connectionString + '\n');
      });
    });
}
