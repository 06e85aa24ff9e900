import { DbaasError } from '../../errors.js';
import {
  enableCommand,
  enableUnit,
  installUnit,
  ownUnitExists,
  parseServiceOptions,
  planUnit,
  removeUnitFile,
  scopeOf,
  systemctl,
  systemdIsInit,
  systemdLoadsFrom,
  unitPathOf,
  unitText,
} from '../../service/installer.js';
import { withSettings, type CommonOptions } from '../context.js';
import { reportError } from '../exit.js';
import { printJson } from '../output.js';

/** What `dbaas service install|uninstall` do (their flags and help: commands/service.ts). */

interface UnitFlags extends CommonOptions {
  user?: boolean;
  unitDir?: string;
  name?: string;
  force?: boolean;
}

export async function install(flags: UnitFlags & { host?: string; port?: number; runAs?: string; envFile?: string; print?: boolean; enable?: boolean }): Promise<void> {
  await withSettings(flags, async (settings) => {
    if (flags.print && flags.enable) throw new DbaasError('USAGE', '--print writes nothing, so there is nothing to --enable');
    const options = parseServiceOptions(flags);
    const plan = planUnit(settings, options);
    const { name, scope } = plan.spec;
    const path = unitPathOf(options);
    for (const warning of plan.warnings) process.stderr.write(`warning: ${warning}\n`);
    if (flags.print) {
      const unit = unitText(plan);
      if (flags.json) printJson({ name, scope, path, unit, warnings: plan.warnings });
      else process.stdout.write(unit);
      return;
    }
    const result = installUnit(plan, path, Boolean(flags.force));
    if (!flags.json) {
      const runsAs = plan.spec.user ? `, runs as ${plan.spec.user.name}` : '';
      const line = result === 'unchanged' ? `${path} is up to date` : `${result === 'written' ? 'wrote' : 'replaced'} ${path}`;
      process.stdout.write(`${line} (${scope} unit${runsAs})\n`);
    }
    if (flags.enable) enableUnit(scope, name, path);
    if (flags.json) printJson({ name, scope, path, result, enabled: Boolean(flags.enable), warnings: plan.warnings });
    else if (flags.enable) process.stdout.write(`enabled and started ${name}.service; logs: journalctl ${scope === 'user' ? '--user ' : ''}-u ${name} -f\n`);
    else process.stdout.write(`start it now and at every boot: ${enableCommand(scope, name)}\n`);
  });
}

/** Stops and disables the unit where systemd runs, then removes its file. Needs no settings: a broken config must not keep it in place. */
export async function uninstall(flags: UnitFlags): Promise<void> {
  try {
    const options = parseServiceOptions(flags);
    const scope = scopeOf(options);
    const path = unitPathOf(options);
    const unit = `${options.name}.service`;
    const found = ownUnitExists(path, Boolean(flags.force));
    const systemd = systemdIsInit();
    // Only the unit systemd runs from this very file is stopped, never one of the same name elsewhere.
    const managed = found && systemd && systemdLoadsFrom(scope, unit, path);
    if (managed) stopUnit(scope, unit, Boolean(flags.force));
    if (found) removeUnitFile(path);
    if (managed) systemctl(scope, ['daemon-reload']);
    if (flags.json) printJson({ name: options.name, scope, path, removed: found, stopped: managed });
    else if (!found) process.stdout.write(`no unit at ${path}: nothing to remove\n`);
    else {
      const why = managed ? `${unit} stopped and disabled` : systemd ? 'systemd does not run it from there: nothing to stop' : 'systemd is not running here: nothing to stop';
      process.stdout.write(`removed ${path} (${why})\n`);
    }
  } catch (err) {
    process.exitCode = reportError(err, Boolean(flags.json));
  }
}

/** `systemctl disable --now`; with --force a failure (a unit systemd does not know) does not keep the file. */
function stopUnit(scope: 'system' | 'user', unit: string, force: boolean): void {
  try {
    systemctl(scope, ['disable', '--now', unit]);
  } catch (err) {
    if (!force) throw err;
    process.stderr.write(`warning: ${(err as Error).message}\n`);
  }
}
