import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { homeId, homeNetwork } from '../../src/runtime/labels.js';
import { docker, makeHome, type TestHome } from './helpers.js';

/**
 * The installation's network is made once, whatever races for it: the engine accepts a second
 * network of the same name, after which every container naming it fails ("ambiguous"). Found by
 * the provisioning benchmark, which creates several instances at once.
 */

const named = async (name: string) => (await docker.listNetworks({ filters: { name: [name] } })).filter((n) => n.Name === name);

describe('the installation network', () => {
  let t: TestHome;

  beforeAll(() => {
    t = makeHome(23150);
  });
  afterAll(async () => t.cleanup());

  it('is made once when several creates start together', async () => {
    const created = await Promise.all(['net-a', 'net-b', 'net-c'].map((name) => t.manager.create({ name, memory: '128m', cpus: 0.2 })));
    expect(created.map((c) => c.status)).toEqual(['running', 'running', 'running']);
    expect(await named(homeNetwork(t.home))).toHaveLength(1);
  });

  it('survives duplicates an older version left behind: the extras go, the used one stays', async () => {
    for (const c of await t.manager.list()) await t.manager.delete(c.id);
    expect(await named(homeNetwork(t.home))).toHaveLength(0);
    const labels = { 'dbaas.managed': 'true', 'dbaas.home': homeId(t.home) };
    for (let i = 0; i < 2; i++) await docker.createNetwork({ Name: homeNetwork(t.home), Driver: 'bridge', Labels: labels });
    expect(await named(homeNetwork(t.home))).toHaveLength(2);
    const created = await t.manager.create({ name: 'net-d', memory: '128m', cpus: 0.2 });
    expect(created.status).toBe('running');
    expect(await named(homeNetwork(t.home))).toHaveLength(1);
  });
});
