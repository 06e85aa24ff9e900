import { isAbsolute, normalize } from 'node:path';
import nunjucks from 'nunjucks';
import { z } from 'zod';

/**
 * The systemd unit of `dbaas serve`, rendered from templates/dbaas.service.njk. Pure: what goes
 * in is checked by UnitSpecSchema, and every value reaches the unit through one of the escaping
 * filters below, each following systemd's rules for the setting it is written into
 * (systemd.syntax(7), systemd.service(5) "Command lines", systemd.unit(5) "Specifiers").
 */

/** Text a unit file can hold on one line: no control characters (a newline would start a new setting). */
const oneLine = (what: string) => z.string().refine((s) => !/[\u0000-\u001f\u007f]/.test(s), `${what} must not contain control characters (newlines, tabs)`);

const absolutePath = oneLine('a path')
  .refine((p) => isAbsolute(p), 'must be an absolute path')
  .refine((p) => normalize(p) === p || normalize(p) + '/' === p, 'must be a normalized path (no "..", "//" or "./")');

/** Names that look like secrets never go into a unit file: units are world-readable (`systemctl cat`). */
export const SECRET_NAME = /KEY|SECRET|PASS|TOKEN|CREDENTIAL/i;

const EnvVarSchema = z.object({
  name: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a variable name')
    .refine((n) => !SECRET_NAME.test(n), 'looks like a secret: a unit file is world-readable; use an EnvironmentFile (mode 0600) instead'),
  value: oneLine('a value'),
});

export type EnvVar = z.infer<typeof EnvVarSchema>;

/** A unit name without its `.service` suffix; not starting with "-" (systemctl would read an option). */
export const UnitNameSchema = z
  .string()
  .transform((n) => n.replace(/\.service$/, ''))
  .pipe(z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,200}$/, 'must be letters, digits, "_", ".", ":" or "-" (not starting with "-"), e.g. dbaas'));

/** A user or group name as useradd accepts it, or a numeric id. */
export const AccountNameSchema = z.string().regex(/^([a-z_][a-z0-9_-]{0,31}\$?|\d+)$/i, 'must be a user or group name, e.g. dbaas');

export const UnitSpecSchema = z
  .object({
    name: UnitNameSchema,
    /** `system`: /etc/systemd/system, runs as `user`; `user`: the user's own manager (`systemctl --user`). */
    scope: z.enum(['system', 'user']),
    description: oneLine('the description').min(1),
    /** A URL for `systemctl status` (Documentation=). */
    documentation: z.string().regex(/^(file|https?):\/\/\S+$/, 'must be a file:// or http(s):// URL'),
    /**
     * The node binary. systemd refuses quotes and backslashes in an executable's name (and does
     * not expand "$" in it), so those are refused here with a clear message rather than there.
     */
    node: absolutePath.refine((p) => !/["'\\]/.test(p), 'systemd does not accept quotes or backslashes in the path of the executable'),
    /** bin/dbaas of this installation and its arguments (`serve`, `--host`, ...). */
    script: absolutePath,
    args: z.array(oneLine('an argument')),
    workingDirectory: absolutePath,
    /** The dbaas home: the one place the service writes (instances/, config/, logs/). */
    home: absolutePath,
    environment: z.array(EnvVarSchema),
    /** A file (mode 0600) with what must not be in the unit, e.g. DBAAS_MASTER_KEY=...; systemd reads it as root. */
    environmentFile: absolutePath.optional(),
    /** System units: the account the service runs as (it must reach the Docker socket). */
    user: z.object({ name: AccountNameSchema, group: AccountNameSchema.optional() }).optional(),
    /** Other paths the service reads (the Docker socket, a config file): they decide ProtectHome=. */
    reads: z.array(absolutePath).default([]),
    restartSec: z.number().int().min(1).max(3600).default(5),
  })
  .superRefine((spec, ctx) => {
    if (spec.scope === 'user' && spec.user) {
      ctx.addIssue({ code: 'custom', path: ['user'], message: 'a user unit runs as its user: it takes no User=' });
    }
    const names = spec.environment.map((e) => e.name);
    const twice = names.filter((n, i) => names.indexOf(n) !== i);
    if (twice.length) ctx.addIssue({ code: 'custom', path: ['environment'], message: `set twice: ${twice.join(', ')}` });
  });

export type UnitSpecInput = z.input<typeof UnitSpecSchema>;
export type UnitSpec = z.output<typeof UnitSpecSchema>;

// ---- systemd's quoting ----------------------------------------------------------------------

/** `%` starts a specifier (%n, %h, ...) in nearly every setting: a literal one is `%%`. */
export function escapeSpecifiers(text: string): string {
  return text.replace(/%/g, '%%');
}

/** A C-style double-quoted word (systemd unquotes `\\` and `\"` inside it), only when needed. */
function quoted(text: string): string {
  const escaped = escapeSpecifiers(text).replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  return text === '' || /[\s"'\\;]/.test(text) ? `"${escaped}"` : escaped;
}

/**
 * One argument of ExecStart= after the executable: quoted as above, and `$` doubled, since
 * systemd expands `$NAME` and `${NAME}` in arguments (a literal dollar is `$$`).
 */
export function execArgument(text: string): string {
  return quoted(text.replace(/\$/g, '$$$$'));
}

/** The executable of ExecStart=: quoted when it holds blanks; `$` is taken literally there. */
export function execExecutable(path: string): string {
  return /\s/.test(path) ? `"${escapeSpecifiers(path)}"` : escapeSpecifiers(path);
}

/** One `NAME=value` of Environment=: a word of its own, quoted when it holds blanks or quotes; `$` is literal there. */
export function environmentAssignment(variable: EnvVar): string {
  return quoted(`${variable.name}=${variable.value}`);
}

/** One path of a space-separated path list (ReadWritePaths=). */
export function listPath(path: string): string {
  return quoted(path);
}

/** Home directories that ProtectHome= hides: a service that needs one of them gets ProtectHome=read-only. */
const HOME_ROOTS = ['/home', '/root', '/run/user'];

function underHomeRoots(path: string): boolean {
  return HOME_ROOTS.some((root) => path === root || path.startsWith(root + '/'));
}

export function protectHomeFor(spec: UnitSpec): 'yes' | 'read-only' {
  const needed = [spec.node, spec.script, spec.workingDirectory, spec.home, ...(spec.environmentFile ? [spec.environmentFile] : []), ...spec.reads];
  return needed.some(underHomeRoots) ? 'read-only' : 'yes';
}

// ---- rendering ------------------------------------------------------------------------------

/** The unit file's text for `spec` (validated first: a bad value is VALIDATION_FAILED upstream, an Error here). */
export function renderUnit(templatesDir: string, input: UnitSpecInput): string {
  const spec = UnitSpecSchema.parse(input);
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(templatesDir, { noCache: true }), {
    autoescape: false,
    throwOnUndefined: true,
  });
  env.addFilter('spec', escapeSpecifiers);
  env.addFilter('execexe', execExecutable);
  env.addFilter('execarg', execArgument);
  env.addFilter('envassign', environmentAssignment);
  env.addFilter('listpath', listPath);
  return env.render('dbaas.service.njk', { ...spec, protectHome: protectHomeFor(spec) });
}
