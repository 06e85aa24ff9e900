import type { Command } from 'commander';
import { isRemote } from '../client/where.js';
import { lastErrorCode } from './exit.js';

/**
 * The CLI on the host writes the same audit log as the API: one line per command that changes
 * something or shows a secret, as the actor `local`. Every command counts as a change unless it
 * is listed here as a read, so a new command is audited until someone decides otherwise.
 */
const READS = new Set([
  'list',
  'info',
  'logs',
  'stats',
  'connect',
  'tables list',
  'tables describe',
  'types',
  'rows list',
  'rows get',
  'metrics',
  'agent status',
  'agent logs',
  'backup list',
  'backup show',
  'token list',
  'audit',
  'ca',
  'login',
  'logout',
  'doctor',
  // Runs until stopped; the API it serves audits its own requests.
  'serve',
]);

/** A read that shows a secret, or a read-only command asked to change something. */
function escalated(path: string, opts: Record<string, unknown>): boolean {
  return (path === 'connect' && opts.showPassword === true) || (path === 'doctor' && opts.fix === true);
}

export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

export function isAudited(path: string, opts: Record<string, unknown>): boolean {
  return !READS.has(path) || escalated(path, opts);
}

/** Appends the audit line of a finished command (a failure to write it is reported, not fatal). */
export async function recordCommand(command: Command): Promise<void> {
  const path = commandPath(command);
  const opts = command.opts();
  // Against a remote server the server audits the requests; this host's log is not involved.
  if (!isAudited(path, opts) || isRemote()) return;
  const [{ randomBytes }, { loadSettings, runtimePaths }, { AuditLog, rotationOf }] = await Promise.all([
    import('node:crypto'),
    import('../config/settings.js'),
    import('../auth/audit.js'),
  ]);
  let settings: ReturnType<typeof loadSettings>;
  try {
    settings = loadSettings();
  } catch {
    return; // settings that do not load failed the command already, with their own message
  }
  const status = Number(process.exitCode ?? 0);
  const target = command.args[0];
  const log = new AuditLog(runtimePaths(settings).auditLog, rotationOf(settings));
  await log
    .append({
      ts: new Date().toISOString(),
      requestId: `cli_${randomBytes(8).toString('hex')}`,
      actor: { kind: 'local', name: 'local', role: 'admin', project: null },
      client: 'cli',
      action: `cli:${path}`,
      target: typeof target === 'string' ? target : null,
      project: typeof opts.project === 'string' ? opts.project : null,
      outcome: status === 0 ? 'success' : 'failure',
      status,
      error: status === 0 ? null : (lastErrorCode() ?? null),
    })
    .catch((err: Error) => process.stderr.write(`warning: cannot append to the audit log ${log.file}: ${err.message}\n`));
  await log.close();
}
