import { spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { imageFor, loadSettings, PROJECT_ROOT, type Settings } from '../config/settings.js';
import { DbaasError } from '../errors.js';
import { parseInput } from '../validate.js';
import { AccountNameSchema, renderUnit, SECRET_NAME, UnitNameSchema, UnitSpecSchema, type EnvVar, type UnitSpec } from './systemdUnit.js';

/**
 * `dbaas service install|uninstall`: what goes into the unit of this installation, and the unit
 * file on disk and in systemd. The unit's text itself is systemdUnit.ts's job.
 */

/** Every unit dbaas writes says so; `uninstall` removes no unit without it (unless --force). */
export const UNIT_MARKER = 'Written by `dbaas service install`';

/** The flags of `dbaas service install|uninstall`, as commander hands them over. */
export const ServiceOptionsSchema = z.object({
  user: z.boolean().default(false),
  unitDir: z.string().min(1).optional(),
  name: UnitNameSchema.default('dbaas'),
  host: z
    .string()
    .regex(/^[A-Za-z0-9.:%_-]+$/, 'must be an address or a host name, e.g. 0.0.0.0')
    .optional(),
  port: z.number().int().min(1).max(65535).optional(),
  runAs: AccountNameSchema.optional(),
  envFile: z.string().min(1).optional(),
});

export type ServiceOptions = z.output<typeof ServiceOptionsSchema>;

export function parseServiceOptions(flags: unknown): ServiceOptions {
  const options = parseInput(ServiceOptionsSchema, flags);
  if (options.user && options.runAs) throw new DbaasError('USAGE', '--run-as is for system units: a user unit (--user) runs as its user');
  return options;
}

export type Scope = UnitSpec['scope'];

export const scopeOf = (options: ServiceOptions): Scope => (options.user ? 'user' : 'system');

/** Where systemd reads units: /etc/systemd/system, or the user's `$XDG_CONFIG_HOME/systemd/user`. */
export function unitPathOf(options: ServiceOptions, env: NodeJS.ProcessEnv = process.env): string {
  const dir = options.unitDir
    ? resolve(options.unitDir)
    : options.user
      ? join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'systemd', 'user')
      : '/etc/systemd/system';
  return join(dir, `${options.name}.service`);
}

// ---- what the unit holds ----------------------------------------------------------------------

/**
 * The DBAAS_* variables the service needs to see the settings in effect here: DBAAS_HOME (and
 * DBAAS_CONFIG when set) always, any other one only when dbaas would get different settings
 * without it (a value equal to the default, or to the config file's, is left out: the service
 * reads the file itself). Those whose name looks like a secret come back in `secrets`, never as
 * values to write.
 */
export function serviceEnvironment(env: NodeJS.ProcessEnv, settings: Settings): { environment: EnvVar[]; secrets: string[] } {
  const base: Record<string, string> = { DBAAS_HOME: settings.home };
  if (env.DBAAS_CONFIG) base.DBAAS_CONFIG = resolve(env.DBAAS_CONFIG);
  const others = Object.entries(env)
    .filter((entry): entry is [string, string] => entry[0].startsWith('DBAAS_') && !(entry[0] in base) && entry[1] !== undefined)
    .sort(([a], [b]) => a.localeCompare(b));
  const withAll = { ...base, ...Object.fromEntries(others) };
  const matters = (name: string): boolean => {
    const without = Object.fromEntries(Object.entries(withAll).filter(([n]) => n !== name));
    try {
      return !isDeepStrictEqual(comparable(loadSettings({ env: without })), comparable(settings));
    } catch {
      return true; // without it the settings would not even load
    }
  };
  const needed = others.filter(([name]) => matters(name));
  return {
    environment: [...Object.entries(base), ...needed.filter(([name]) => !SECRET_NAME.test(name))].map(([name, value]) => ({ name, value })),
    secrets: needed.filter(([name]) => SECRET_NAME.test(name)).map(([name]) => name),
  };
}

/** Settings as they act: an image set to the one a version gets anyway is no setting. */
function comparable(settings: Settings): Settings {
  const images = Object.fromEntries(Object.entries(settings.images).filter(([version, image]) => image !== imageFor({ ...settings, images: {} }, Number(version))));
  return { ...settings, images };
}

/** The account running this command, with its primary group's name (from /etc/group when listed there). */
function currentAccount(): { name: string; group: string } {
  const { username, gid } = userInfo();
  let group = String(gid);
  try {
    const line = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find((l) => l.split(':')[2] === String(gid));
    group = line?.split(':')[0] || group;
  } catch {
    // no /etc/group: the numeric id is as good for systemd
  }
  return { name: username, group };
}

export interface UnitPlan {
  spec: UnitSpec;
  /** Things the operator should fix, that do not stop the install. */
  warnings: string[];
}

/** The unit for `dbaas serve` of this installation (node, bin/dbaas, home, settings) and what to warn about. */
export function planUnit(settings: Settings, options: ServiceOptions, env: NodeJS.ProcessEnv = process.env): UnitPlan {
  const warnings: string[] = [];
  const { environment, secrets } = serviceEnvironment(env, settings);
  const envFile = options.envFile ? resolve(options.envFile) : undefined;
  if (secrets.length && !envFile) {
    throw new DbaasError(
      'USAGE',
      `${secrets.join(', ')} is set in this shell, and a unit file is world-readable, so it is not written into the unit: ` +
        `without it the service would not use the same master key. Put ${secrets.map((s) => `${s}=...`).join(' ')} in a file ` +
        `only root and the service's user can read (mode 0600) and pass --env-file FILE, or unset it if ${join(settings.home, 'config', 'master.key')} holds the same key`,
      { secrets },
    );
  }
  if (envFile) {
    const mode = existsSync(envFile) ? statSync(envFile).mode : undefined;
    if (mode === undefined) warnings.push(`${envFile} does not exist yet: systemd will not start the service until it does`);
    else if (mode & 0o077) warnings.push(`${envFile} can be read by others (mode ${(mode & 0o777).toString(8)}): chmod 600 it`);
  }
  const scope = scopeOf(options);
  const account = scope === 'system' ? (options.runAs ? { name: options.runAs } : currentAccount()) : undefined;
  if (!options.runAs) warnings.push(...accessWarnings(settings));
  const args = ['serve', ...(options.host ? ['--host', options.host] : []), ...(options.port ? ['--port', String(options.port)] : [])];
  const configFile = env.DBAAS_CONFIG ? [resolve(env.DBAAS_CONFIG)] : [];
  const spec = parseInput(UnitSpecSchema, {
    name: options.name,
    scope,
    description: `dbaas: PostgreSQL DBaaS API and keeper (dbaas serve, home ${settings.home})`,
    documentation: pathToFileURL(join(PROJECT_ROOT, 'docs', 'service.md')).href,
    node: process.execPath,
    script: join(PROJECT_ROOT, 'bin', 'dbaas'),
    args,
    workingDirectory: PROJECT_ROOT,
    home: settings.home,
    environment,
    environmentFile: envFile,
    user: account,
    reads: [settings.dockerSocket, ...configFile, ...(settings.templatesDir ? [settings.templatesDir] : [])].map((p) => resolve(p)),
  });
  return { spec, warnings };
}

/** The service runs as the user running this command: can that user write the home and reach Docker? */
function accessWarnings(settings: Settings): string[] {
  const warnings: string[] = [];
  const { username } = userInfo();
  if (existsSync(settings.dockerSocket) && !canAccess(settings.dockerSocket, constants.R_OK | constants.W_OK)) {
    warnings.push(`${username} cannot use the Docker socket ${settings.dockerSocket}: add the user to the docker group, or install with --run-as a user who can`);
  }
  if (existsSync(settings.home) && !canAccess(settings.home, constants.W_OK)) {
    warnings.push(`${username} cannot write the home ${settings.home}: the service could not record anything`);
  }
  return warnings;
}

function canAccess(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}

/**
 * The unit's text. Rendered from the project's templates/, not DBAAS_TEMPLATES_DIR: that copy is
 * for the instances' files, and a unit is customised the systemd way, with a drop-in.
 */
export function unitText(plan: UnitPlan): string {
  return renderUnit(join(PROJECT_ROOT, 'templates'), plan.spec);
}

// ---- the file ---------------------------------------------------------------------------------

export type WriteResult = 'written' | 'replaced' | 'unchanged';

/** A failure to read, write or remove a unit file, saying what to do about permissions. */
function fileError(verb: string, path: string, err: unknown, whenDenied = 'A system unit needs root (sudo); --user writes a unit for your own user'): DbaasError {
  const code = (err as NodeJS.ErrnoException).code;
  const denied = code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
  const hint = denied ? `: permission denied. ${whenDenied}` : `: ${(err as Error).message}`;
  return new DbaasError('OPERATION_FAILED', `cannot ${verb} ${path}${hint}`, { path, ...(code ? { errno: code } : {}) });
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    // Absent, or a folder on the way is not one (then the write says why).
    if (['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw fileError('read', path, err);
  }
}

/** Writes the unit (0644, atomically); an identical file is left alone, a different one only replaced with `force`. */
export function writeUnitFile(path: string, content: string, force: boolean): WriteResult {
  const existing = readIfExists(path);
  if (existing === content) return 'unchanged';
  if (existing !== undefined && !force) {
    throw new DbaasError('OPERATION_FAILED', `${path} exists and differs from the unit dbaas would write (see it with --print); --force replaces it`, { path });
  }
  const temp = `${path}.dbaas-${process.pid}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(temp, content);
    chmodSync(temp, 0o644); // whatever the umask: systemctl cat works for every user
    renameSync(temp, path);
  } catch (err) {
    try {
      rmSync(temp, { force: true });
    } catch {
      // the folder is not there or not one: no temp file either
    }
    throw fileError('write', path, err);
  }
  return existing === undefined ? 'written' : 'replaced';
}

/** Whether a unit to uninstall is there (false: nothing to do); one dbaas did not write only with `force`. */
export function ownUnitExists(path: string, force: boolean): boolean {
  const existing = readIfExists(path);
  if (existing === undefined) return false;
  if (!existing.includes(UNIT_MARKER) && !force) {
    throw new DbaasError('OPERATION_FAILED', `${path} was not written by dbaas service install; --force removes it anyway`, { path });
  }
  return true;
}

export function removeUnitFile(path: string): void {
  try {
    rmSync(path);
  } catch (err) {
    throw fileError('remove', path, err);
  }
}

// ---- systemd ----------------------------------------------------------------------------------

/** sd_booted(3): systemd is the init system when /run/systemd/system exists. */
export function systemdIsInit(): boolean {
  return existsSync('/run/systemd/system');
}

/** What runs as PID 1 instead, for the message. */
function initName(): string {
  try {
    return readFileSync('/proc/1/comm', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

function notSystemd(what: string, details: Record<string, unknown>): DbaasError {
  return new DbaasError('OPERATION_FAILED', `systemd is not the init system here (PID 1 is ${initName()}): cannot ${what}`, details);
}

/** Runs `systemctl [--user] ...args`; a failure is OPERATION_FAILED with systemctl's own words. */
export function systemctl(scope: Scope, args: string[]): void {
  const argv = [...(scope === 'user' ? ['--user'] : []), ...args];
  const run = spawnSync('systemctl', argv, { encoding: 'utf8' });
  if (run.error || run.status !== 0) {
    const why = (run.stderr || run.error?.message || `exit code ${run.status}`).trim();
    throw new DbaasError('OPERATION_FAILED', `systemctl ${argv.join(' ')} failed: ${why}`, { command: ['systemctl', ...argv] });
  }
}

/**
 * Whether systemd runs `unit` from the file at `path` (its FragmentPath): a unit of the same name
 * elsewhere (say, the real one, while a test writes into a folder of its own) is never touched.
 */
export function systemdLoadsFrom(scope: Scope, unit: string, path: string): boolean {
  const run = spawnSync('systemctl', [...(scope === 'user' ? ['--user'] : []), 'show', '--property=FragmentPath', '--value', unit], { encoding: 'utf8' });
  const fragment = run.status === 0 ? run.stdout.trim() : '';
  return fragment !== '' && existsSync(fragment) && realpathSync(fragment) === realpathSync(path);
}

/** What to run to start the unit now and at every boot. */
export function enableCommand(scope: Scope, name: string): string {
  const systemctl = scope === 'user' ? 'systemctl --user' : 'systemctl';
  return `${systemctl} daemon-reload && ${systemctl} enable --now ${name}`;
}

/** `daemon-reload`, then `enable --now`: the unit runs now and at every boot (or login, for --user). */
export function enableUnit(scope: Scope, name: string, path: string): void {
  if (!systemdIsInit()) {
    throw notSystemd(
      `enable ${name}.service. The unit is written (${path}): on a host booted with systemd, run \`${enableCommand(scope, name)}\`; ` +
        'here, run `dbaas serve` under the supervisor this host has',
      { path },
    );
  }
  systemctl(scope, ['daemon-reload']);
  if (!systemdLoadsFrom(scope, `${name}.service`, path)) {
    throw new DbaasError(
      'OPERATION_FAILED',
      `systemd does not load ${name}.service from ${path}: it reads units from its own folders (systemd-analyze unit-paths); ` +
        `install without --unit-dir, or link the file there with \`systemctl ${scope === 'user' ? '--user ' : ''}link ${path}\``,
      { path },
    );
  }
  systemctl(scope, ['enable', '--now', `${name}.service`]);
}

/** Writes the unit of `plan` at `path`, after making the home it may write (ProtectSystem=strict cannot create it). */
export function installUnit(plan: UnitPlan, path: string, force: boolean): WriteResult {
  try {
    mkdirSync(plan.spec.home, { recursive: true });
  } catch (err) {
    throw fileError('create the home', plan.spec.home, err, 'Create it as its owner first');
  }
  return writeUnitFile(path, unitText(plan), force);
}
