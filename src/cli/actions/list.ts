import { isRemote } from '../../client/where.js';
import { homeOf, registryFileOf, settingsGiven } from '../../config/home.js';
import type { InstanceView } from '../../instances/schema.js';
import { registryIsEmpty } from '../../registry/emptiness.js';
import type { CommonOptions } from '../context.js';
import { formatAge, printJson, printTable } from '../output.js';

/**
 * `dbaas list`, often the first command people run. An installation that is given no settings
 * (no DBAAS_ variable but the home, no config file: every setting is its valid default) and
 * holds no instance answers from its registry file alone, loading neither the settings' schemas
 * nor any service. Otherwise the settings are loaded and checked, and the manager observes each
 * instance's containers in one engine call.
 */
export async function list(opts: CommonOptions & { project?: string }): Promise<void> {
  if (isRemote()) {
    const { withServices } = await import('../context.js');
    return withServices(opts, async ({ manager }) => printViews((await manager.list()).filter((v) => opts.project === undefined || v.project === opts.project), opts));
  }
  if (!settingsGiven(process.env) && registryIsEmpty(registryFileOf(homeOf(process.env)))) return printViews([], opts);
  const { servicesOf, withSettings } = await import('../context.js');
  await withSettings(opts, async (settings) => {
    const [{ Registry }, { runtimePaths }] = await Promise.all([import('../../registry/registry.js'), import('../../config/settings.js')]);
    const records = await new Registry(runtimePaths(settings).registryFile).list();
    if (records.length === 0) return printViews([], opts);
    const { ProjectNameSchema } = await import('../../auth/project.js');
    const { parseInput } = await import('../../validate.js');
    const { z } = await import('zod');
    const { project } = parseInput(z.object({ project: ProjectNameSchema.optional() }), { project: opts.project });
    await servicesOf(settings, async ({ manager }) => printViews((await manager.list()).filter((v) => project === undefined || v.project === project), opts));
  });
}

function printViews(views: InstanceView[], opts: CommonOptions): void {
  if (opts.json) return printJson({ instances: views });
  if (views.length === 0) {
    process.stdout.write('no instances; create one with `dbaas create <name>`\n');
    return;
  }
  printTable(
    ['NAME', 'ID', 'PROJECT', 'STATUS', 'VERSION', 'MEMORY', 'CPUS', 'PORT', 'CREATED'],
    views.map((v) => [v.name, v.id, v.project, v.status + (v.pendingRestart ? '*' : ''), v.version, v.memoryHuman, v.cpus, `${v.bindAddress}:${v.port}`, formatAge(v.createdAt)]),
  );
  if (views.some((v) => v.pendingRestart)) process.stdout.write('* settings change pending a restart\n');
}
