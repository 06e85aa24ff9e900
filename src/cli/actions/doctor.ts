import { DbaasError } from '../../errors.js';
import type { Finding } from '../../instances/doctor.js';
import { withServices, type CommonOptions } from '../context.js';
import { printJson, printTable } from '../output.js';

/** What `dbaas doctor` does (its flags and help: commands/doctor.ts). */

export async function doctor(opts: CommonOptions & { fix?: boolean; purge?: string[] }): Promise<void> {
  await withServices(opts, async (services) => {
    if (opts.purge && !opts.fix) throw new DbaasError('USAGE', '--purge removes folders only together with --fix');
    const report = await services.doctor.run({ fix: Boolean(opts.fix), purge: opts.purge });
    const open = report.findings.filter((f) => !f.fixed);
    if (opts.json) printJson(report);
    else printReport(report.findings, Boolean(opts.fix));
    // Something is still out of place: scripts (and monitoring) can tell by the exit code.
    if (open.length > 0) process.exitCode = 1;
  });
}

function printReport(findings: Finding[], fixing: boolean): void {
  if (findings.length === 0) {
    process.stdout.write('nothing to repair: registry, engine and disk agree\n');
    return;
  }
  printTable(
    ['FINDING', 'INSTANCE', 'NAME', 'DETAIL', fixing ? 'REPAIR' : 'WITH --fix'],
    findings.map((f) => [
      f.kind,
      f.instance ?? '-',
      f.name ?? '-',
      f.detail,
      fixing ? (f.fixed ? 'done' : f.error ? `failed: ${f.error}` : 'not done') : (f.repair ?? 'nothing (see --purge)'),
    ]),
  );
}
