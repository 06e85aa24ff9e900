import { DbaasError } from '../errors.js';
import { containerNameFor } from '../provisioner/provisioner.js';
import { waitForLogin, type LoginTarget } from '../runtime/readiness.js';
import type { InstanceDeps } from './deps.js';
import type { InstanceRecord } from './schema.js';

/**
 * Waits until an instance's server accepts a login, failing early when the server exits or is
 * restarted. A restart counts as a failure even when a later login works: a server that died
 * during its first start (an init script failed) comes back on its restart policy with a
 * half-initialised data folder. The failure carries the error lines of the server's log.
 */
export async function waitForServer(
  deps: Pick<InstanceDeps, 'engine' | 'settings'>,
  record: InstanceRecord,
  login: LoginTarget,
  signal?: AbortSignal,
): Promise<number> {
  const { engine, settings } = deps;
  const name = containerNameFor(record);
  const baseline = (await engine.state(name))?.restartCount ?? 0;
  const deadReason = async (): Promise<string | null> => {
    const s = await engine.state(name);
    if (!s) return `container ${name} disappeared`;
    const restarted = (s.restartCount ?? 0) > baseline;
    if (s.running && !s.restarting && !restarted) return null;
    const how = s.oomKilled ? 'was killed for lack of memory' : s.running ? 'failed' : `exited with code ${s.exitCode}`;
    return `the server ${how}${restarted ? ' and was restarted' : ''}; ${await serverErrorLines(deps, name)}`;
  };
  const ms = await waitForLogin(login, { timeoutMs: settings.readyTimeoutMs, deadReason, signal });
  const reason = await deadReason();
  if (reason) throw new DbaasError('PROVISIONING_FAILED', reason, { step: 'wait-ready' });
  return ms;
}

/** The error lines of a server's recent log (what explains a failure), else its last lines. */
export async function serverErrorLines(deps: Pick<InstanceDeps, 'engine'>, name: string): Promise<string> {
  const lines = await deps.engine.logs(name, 300);
  const errors = lines.filter((l) => /\b(ERROR|FATAL|PANIC)\b|error:/.test(l));
  return errors.length ? `errors in its log:\n${errors.slice(-10).join('\n')}` : `last log lines:\n${lines.slice(-15).join('\n')}`;
}
