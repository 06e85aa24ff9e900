import { randomBytes } from 'node:crypto';
import { actorOf, auditSteps } from '../../auth/audit.js';
import { LOCAL_ADMIN } from '../../auth/principal.js';
import { DbaasError } from '../../errors.js';
import type { ProgressFn } from '../../instances/progress.js';
import type { FinalizeResult, RollbackResult, UpgradeResult } from '../../upgrades/service.js';
import { withServices, type CommonOptions } from '../context.js';
import { confirm } from '../input.js';
import { printJson } from '../output.js';
import { interruptible } from '../progress.js';

/** What `dbaas upgrade` does, through the upgrade service (its flags and help: commands/upgrade.ts). */

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export async function upgrade(ref: string, opts: CommonOptions & { to?: number; method?: string; rollback?: boolean; finalize?: boolean; yes?: boolean }): Promise<void> {
  const chosen = [opts.to !== undefined, Boolean(opts.rollback), Boolean(opts.finalize)].filter(Boolean).length;
  if (chosen !== 1) throw new DbaasError('USAGE', 'give exactly one of --to <version>, --rollback or --finalize');
  await withServices(opts, async ({ upgrades, audit }) => {
    // On the host, each step goes into the audit log as it ends (the command's own line follows at its end).
    const auditing = audit
      ? auditSteps(audit, { requestId: `cli_${randomBytes(8).toString('hex')}`, actor: actorOf(LOCAL_ADMIN), client: 'cli', action: 'cli:upgrade', target: ref, project: null }, (message) =>
          process.stderr.write(`warning: ${message}\n`),
        )
      : null;
    const reported = (report: ProgressFn) => (auditing ? auditing.progress(report) : report);
    if (opts.finalize) {
      if (!opts.yes) await confirm(ref, 'remove the old data kept by the upgrade of', '(a rollback is no longer possible afterwards)');
      const result: FinalizeResult = await upgrades.finalize(ref);
      if (opts.json) return printJson(result);
      process.stdout.write(`${result.name}: upgrade to PostgreSQL ${result.version} finalized; ${result.removed}/ removed\n`);
      return;
    }
    if (opts.rollback) {
      if (!opts.yes) await confirm(ref, 'roll back the upgrade of', '(it returns to its old version and data; writes made since the upgrade are lost)');
      const result: RollbackResult = await interruptible(Boolean(opts.json), 'rollback', (progress) => upgrades.rollback(ref, { progress: reported(progress.report) }));
      if (opts.json) return printJson(result);
      process.stderr.write(`\n${result.name} runs PostgreSQL ${result.version} again (from ${result.restoredFrom === 'kept-data' ? 'the kept old data' : 'the safety backup'}), down for ${seconds(result.downtimeMs)}\n`);
      return;
    }
    if (!opts.yes) await confirm(ref, 'upgrade', `to PostgreSQL ${opts.to} (method ${opts.method}; a verified safety backup is taken first; the instance is down while the new cluster is built)`);
    const result: UpgradeResult = await interruptible(Boolean(opts.json), 'upgrade', (progress, signal) =>
      upgrades.upgrade(ref, { to: opts.to, method: opts.method }, { progress: reported(progress.report), signal }),
    );
    if (opts.json) return printJson(result);
    process.stderr.write(
      `\n${result.name} upgraded from PostgreSQL ${result.from} to ${result.to} (${result.method}): down for ${seconds(result.downtimeMs)}, ` +
        `ANALYZE ${seconds(result.analyzeMs)}, ${seconds(result.totalMs)} in all.\n` +
        `Safety backup ${result.safetyBackup}; first base backup on ${result.to}: ${result.baseBackup}.\n` +
        `The old data is kept in ${result.keptDataDir}/ until ${result.keepUntil}: "dbaas upgrade ${result.name} --rollback" returns to it, "--finalize" removes it.\n`,
    );
    for (const u of result.extensionUpdates) {
      process.stderr.write(`Extension ${u.extension} in database ${u.database} is at ${u.installed}; ${u.available} is available: ALTER EXTENSION ${u.extension} UPDATE when you choose.\n`);
    }
  });
}
