import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { asDbaasError } from '../errors.js';
import { AGENT_SERVICE, POSTGRES_SERVICE } from '../provisioner/provisioner.js';
import type { ServiceState } from '../runtime/workload.js';
import { nowIso, type InstanceDeps } from './deps.js';
import type { InstanceRecord } from './schema.js';
import { ownerAlive } from './status.js';

/**
 * Compares what the registry says with what the engine runs and what the disk holds, and
 * repairs what is safe to repair, the way an operator would after a crash:
 *  - a create whose process died (stuck in "provisioning"): its undo is finished;
 *  - a container labelled as this installation's that no record owns: removed;
 *  - an instance that should run (it was last told to) whose server is stopped, exited or gone:
 *    started, recreating what is missing from its compose file;
 *  - an agent that does not run beside a running server: started;
 *  - an instance folder without a record: reported only; its data is removed only when the
 *    operator names it (`--fix --purge <id>`).
 * `dbaas doctor` runs it once; `dbaas serve` at its start and then continuously. Every repair is
 * logged and recorded in the instance's record (`lastRepair`, shown by `dbaas info`).
 */

export const FINDING_KINDS = ['abandoned-create', 'orphan-container', 'instance-down', 'agent-down', 'orphan-folder'] as const;

export const FindingSchema = z
  .object({
    kind: z.enum(FINDING_KINDS),
    instance: z.string().nullable().meta({ description: 'Instance id, when the finding concerns one' }),
    name: z.string().nullable().meta({ description: 'Instance or container name' }),
    detail: z.string().meta({ description: 'What is wrong' }),
    repair: z.string().nullable().meta({ description: 'What --fix does about it; null when it does nothing' }),
    fixed: z.boolean().optional().meta({ description: 'Set by --fix: the repair was made' }),
    error: z.string().optional().meta({ description: 'Set by --fix: why the repair failed' }),
  })
  .meta({ id: 'DoctorFinding' });
export type Finding = z.output<typeof FindingSchema>;

export const DoctorReportSchema = z
  .object({
    checkedAt: z.string(),
    findings: z.array(FindingSchema),
    fixed: z.number().int().meta({ description: 'Repairs made (0 without --fix)' }),
  })
  .meta({ id: 'DoctorReport' });
export type DoctorReport = z.output<typeof DoctorReportSchema>;

/** What the doctor asks of the manager to repair: the same operations a user would run. */
export interface Repairs {
  start(ref: string): Promise<unknown>;
  delete(ref: string): Promise<unknown>;
  startSidecars(record: InstanceRecord): Promise<string[]>;
}

const DOWN = new Set(['exited', 'dead', 'created']);

export class Doctor {
  constructor(
    private readonly deps: Pick<InstanceDeps, 'registry' | 'engine' | 'paths' | 'logger'>,
    private readonly repairs: Repairs,
  ) {}

  /** What is wrong now; changes nothing. */
  async examine(): Promise<Finding[]> {
    const [records, services] = await Promise.all([this.deps.registry.list(), this.deps.engine.list()]);
    const findings: Finding[] = [];
    const known = new Set(records.map((r) => r.id));
    for (const s of services) {
      if (s.instance && known.has(s.instance)) continue;
      findings.push({
        kind: 'orphan-container',
        instance: s.instance,
        name: s.name,
        detail: `container ${s.name} is labelled as this installation's${s.instance ? ` (instance ${s.instance})` : ''} but no record owns it`,
        repair: 'remove the container',
      });
    }
    for (const record of records) {
      const mine = services.filter((s) => s.instance === record.id);
      const finding = this.examineInstance(record, mine);
      if (finding) findings.push(finding);
    }
    const dir = this.deps.paths.instancesDir;
    const folders = existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && /^db_[a-z0-9]+$/.test(d.name)) : [];
    for (const folder of folders) {
      if (known.has(folder.name)) continue;
      // A deleted instance's kept backups (and WAL archive) are not an orphan.
      if (readdirSync(join(dir, folder.name)).every((entry) => entry === 'backups')) continue;
      findings.push({
        kind: 'orphan-folder',
        instance: folder.name,
        name: null,
        detail: `instances/${folder.name}/ has no record (a deleted or lost instance; its data may be in data/)`,
        repair: null,
      });
    }
    return findings;
  }

  private examineInstance(record: InstanceRecord, mine: ServiceState[]): Finding | null {
    const base = { instance: record.id, name: record.name };
    if (record.status === 'provisioning' && !ownerAlive(record.owner)) {
      return { ...base, kind: 'abandoned-create', detail: 'its create was interrupted (the creating process is gone)', repair: 'finish the undo: remove its containers, files and record' };
    }
    if (record.status !== 'running' || record.operation) return null;
    const server = mine.find((s) => s.service === POSTGRES_SERVICE);
    if (!server || DOWN.has(server.phase)) {
      const why = server ? `its server is ${server.phase} (${server.statusText})` : 'its server container is missing';
      return { ...base, kind: 'instance-down', detail: `it should run but ${why}`, repair: server ? 'start it' : 'recreate the container from the compose file and start it' };
    }
    const agent = mine.find((s) => s.service === AGENT_SERVICE);
    if (server.running && (!agent || DOWN.has(agent.phase))) {
      return { ...base, kind: 'agent-down', detail: agent ? `its monitoring agent is ${agent.phase}` : 'its monitoring agent container is missing', repair: 'start the agent' };
    }
    return null;
  }

  /**
   * Repairs what `examine` found and is safe to repair. `purge` names orphan folders whose
   * files (data included) may be removed; no other folder is ever deleted.
   */
  async fix(findings: Finding[], options: { purge?: string[] } = {}): Promise<Finding[]> {
    const out: Finding[] = [];
    for (const finding of findings) {
      try {
        const done = await this.repair(finding, options.purge ?? []);
        out.push(done ? { ...finding, fixed: true } : finding);
        if (done) {
          this.deps.logger.warn('doctor repaired', { kind: finding.kind, instance: finding.instance, name: finding.name, detail: finding.detail });
          if (finding.instance && finding.kind !== 'abandoned-create' && finding.kind !== 'orphan-folder' && finding.kind !== 'orphan-container') {
            await this.recordRepair(finding);
          }
        }
      } catch (err) {
        const error = asDbaasError(err).message;
        this.deps.logger.error('doctor could not repair', { kind: finding.kind, instance: finding.instance, error });
        out.push({ ...finding, fixed: false, error });
      }
    }
    return out;
  }

  private async repair(finding: Finding, purge: string[]): Promise<boolean> {
    switch (finding.kind) {
      case 'orphan-container':
        await this.deps.engine.remove(finding.name as string);
        return true;
      case 'abandoned-create':
        await this.repairs.delete(finding.instance as string);
        return true;
      case 'instance-down':
        await this.repairs.start(finding.instance as string);
        return true;
      case 'agent-down': {
        const record = (await this.deps.registry.list()).find((r) => r.id === finding.instance);
        if (!record) return false;
        // startSidecars starts a stopped agent; a missing one is recreated by a start.
        const started = await this.repairs.startSidecars(record).catch(() => []);
        if (started.length === 0) await this.repairs.start(record.id);
        return true;
      }
      case 'orphan-folder':
        if (!finding.instance || !purge.includes(finding.instance)) return false;
        rmSync(join(this.deps.paths.instancesDir, finding.instance), { recursive: true, force: true });
        return true;
    }
  }

  /** The last repair of an instance, kept in its record for `dbaas info`. */
  private async recordRepair(finding: Finding): Promise<void> {
    await this.deps.registry.update((doc) => {
      const rec = doc.instances.find((r) => r.id === finding.instance);
      if (rec) rec.lastRepair = { at: nowIso(), kind: finding.kind, detail: finding.detail };
    });
  }

  /** Examines, and repairs when asked: one report. */
  async run(options: { fix?: boolean; purge?: string[] } = {}): Promise<DoctorReport> {
    const found = await this.examine();
    const findings = options.fix ? await this.fix(found, { purge: options.purge }) : found;
    return { checkedAt: nowIso(), findings, fixed: findings.filter((f) => f.fixed).length };
  }
}
