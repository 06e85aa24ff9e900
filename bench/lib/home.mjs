// Removes what a benchmark's throw-away dbaas home made on the engine and on disk: every
// container labelled with the home (and any extra ones given), the home's network, the folder.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spareCopiesInProgress } from '../../dist/provisioner/dataSeed.js';

const run = promisify(execFile);

export async function removeHome(home, homeId, extraContainers = []) {
  const lines = async (args) => (await run('docker', args)).stdout.split('\n').filter(Boolean);
  const containers = (await lines(['ps', '-aq', '--filter', `label=dbaas.home=${homeId}`])).concat(extraContainers);
  // A few at a time: Docker 20.10 loses count of a network's endpoints when many of its
  // containers go at once (moby/moby#42119), and then keeps the network until dockerd restarts.
  for (let i = 0; i < containers.length; i += 4) {
    await run('docker', ['rm', '-f', ...containers.slice(i, i + 4)]).catch(() => undefined);
  }
  const networks = await lines(['network', 'ls', '-q', '--filter', `label=dbaas.home=${homeId}`]);
  if (networks.length) await run('docker', ['network', 'rm', ...networks]).catch(() => undefined);
  // A spare data copy (instances/.spare-data) may still be being written: wait for it first.
  await sparesSettled(home);
  rmSync(home, { recursive: true, force: true, maxRetries: 20, retryDelay: 250 });
}

/**
 * Waits (at most 30 s) until no spare data copy is being made in a home (a .tmp- folder in
 * instances/.spare-data): a create starts the next spare when it ends, and its disk writes
 * would otherwise land in whatever is timed next.
 */
export async function sparesSettled(home) {
  const instances = join(home, 'instances');
  for (let i = 0; i < 300 && spareCopiesInProgress(instances); i++) await new Promise((r) => setTimeout(r, 100));
}
