import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import type { Finding } from '../../src/instances/doctor.js';
import { containersOf, docker, killCreateMidway, makeHome, query, type TestHome } from './helpers.js';

/**
 * Issue 8, self-healing: `doctor` finds what a crash or an operator's hand left behind (a create
 * killed with SIGKILL, a container removed or killed behind dbaas's back, a record deleted by
 * hand, an agent stopped) and `--fix` repairs each without ever deleting data it was not told to.
 */

const kinds = (findings: Finding[]) => findings.map((f) => [f.kind, f.name]).sort((a, b) => String(a).localeCompare(String(b)));

describe('dbaas doctor against the real engine', () => {
  let t: TestHome;

  beforeAll(() => {
    t = makeHome(22950);
  });
  afterAll(async () => t.cleanup());

  it('finds nothing wrong on a healthy installation', async () => {
    await t.manager.create({ name: 'healthy', memory: '128m', cpus: 0.3 });
    expect(await t.services.doctor.examine()).toEqual([]);
  });

  it('finishes the undo of a create killed with SIGKILL', async () => {
    await killCreateMidway(t, 'crashed');

    const found = await t.services.doctor.examine();
    expect(kinds(found)).toEqual([['abandoned-create', 'crashed']]);
    const report = await t.services.doctor.run({ fix: true });
    expect(report.fixed).toBe(1);
    expect((await t.manager.list()).map((v) => v.name)).toEqual(['healthy']);
    expect((await containersOf(t.home)).some((c) => c.Labels['dbaas.name'] === 'crashed')).toBe(false);
    expect(await t.services.doctor.examine()).toEqual([]);
  });

  it('brings back a server removed, and one killed, behind dbaas\'s back, with their data', async () => {
    const created = await t.manager.create({ name: 'victim', memory: '128m', cpus: 0.3 });
    await query(created.connectionString, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')");
    const server = created.containers[0]!.name;

    await docker.getContainer(server).remove({ force: true });
    expect(kinds(await t.services.doctor.examine())).toEqual([['instance-down', 'victim']]);
    expect((await t.services.doctor.run({ fix: true })).fixed).toBe(1);
    expect((await t.manager.get('victim')).status).toBe('running');

    // docker kill: the restart policy does not bring back a container killed by the user.
    await docker.getContainer(server).kill();
    await docker.getContainer(server).wait();
    const down = await t.services.doctor.examine();
    expect(kinds(down)).toEqual([['instance-down', 'victim']]);
    expect(down[0]!.detail).toMatch(/exited/);
    await t.services.doctor.run({ fix: true });
    const view = await t.manager.get('victim');
    expect(view.status).toBe('running');
    expect(view.lastRepair).toMatchObject({ kind: 'instance-down' });
    expect(await query(created.connectionString, 'SELECT v FROM kept')).toEqual([{ v: 'still here' }]);
  });

  it('starts an agent that was stopped beside a running server', async () => {
    const view = await t.manager.get('victim');
    const agent = view.containers.find((c) => c.service === 'agent')!.name;
    await docker.getContainer(agent).stop({ t: 5 });
    expect(kinds(await t.services.doctor.examine())).toEqual([['agent-down', 'victim']]);
    await t.services.doctor.run({ fix: true });
    expect((await docker.getContainer(agent).inspect()).State.Running).toBe(true);
  });

  it('removes the containers of a record deleted by hand, and keeps its folder unless told to purge it', async () => {
    const lost = await t.manager.create({ name: 'lost', memory: '128m', cpus: 0.3 });
    const registryFile = join(t.home, 'config', 'instances.json');
    const doc = JSON.parse(readFileSync(registryFile, 'utf8')) as { instances: Array<{ id: string }> };
    doc.instances = doc.instances.filter((r) => r.id !== lost.id);
    writeFileSync(registryFile, JSON.stringify(doc, null, 2));

    const found = await t.services.doctor.examine();
    expect(kinds(found)).toEqual([
      ['orphan-container', lost.containers[0]!.name],
      ['orphan-container', lost.containers[1]!.name],
      ['orphan-folder', null],
    ]);
    const fixed = await t.services.doctor.run({ fix: true });
    expect(fixed.fixed).toBe(2);
    const folder = join(t.home, 'instances', lost.id);
    expect(existsSync(join(folder, 'data'))).toBe(true); // never deleted unasked
    expect(kinds(await t.services.doctor.examine())).toEqual([['orphan-folder', null]]);

    const purged = await t.services.doctor.run({ fix: true, purge: [lost.id] });
    expect(purged.fixed).toBe(1);
    expect(existsSync(folder)).toBe(false);
    expect(await t.services.doctor.examine()).toEqual([]);
    expect((await t.manager.list()).map((v) => v.name).sort()).toEqual(['healthy', 'victim']);
  });

  it('answers on the command line: exit 1 while findings remain, 0 once --fix repaired them, 2 for --purge alone', async () => {
    const cli = (...args: string[]) =>
      promisify(execFile)(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'doctor', ...args], { env: t.env }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    const healthy = await cli('--json');
    expect(healthy.code).toBe(0);
    expect(JSON.parse(healthy.stdout)).toMatchObject({ findings: [], fixed: 0 });

    const agent = (await t.manager.get('victim')).containers.find((c) => c.service === 'agent')!.name;
    await docker.getContainer(agent).stop({ t: 5 });
    const found = await cli();
    expect(found.code).toBe(1);
    expect(found.stdout).toMatch(/agent-down/);
    expect(found.stdout).toMatch(/start the agent/);
    const fixed = await cli('--fix', '--json');
    expect(fixed.code).toBe(0);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ fixed: 1, findings: [{ kind: 'agent-down', fixed: true }] });
    expect((await cli('--purge', 'db_abcdef')).code).toBe(2);
  });
});
