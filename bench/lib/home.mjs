// Removes what a benchmark's throw-away dbaas home made on the engine and on disk: every
// container labelled with the home (and any extra ones given), the home's network, the folder.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';

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
  // Retries: a spare data copy (instances/.spare-data) may still be being written.
  rmSync(home, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
}
