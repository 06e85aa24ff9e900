import { execFileSync, spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import Dockerode from 'dockerode';

/**
 * Restarts the Docker engine of this machine the way a host reboot or a crash would, for the
 * engine-restart tests: these machines have no systemd, so dockerd is found by its pid, stopped
 * (SIGTERM, or SIGKILL for a crash) and started again with the command line it had.
 */

const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });

function dockerdPid(): number {
  const out = execFileSync('pidof', ['dockerd'], { encoding: 'utf8' });
  const pid = Number(out.trim().split(/\s+/)[0]);
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no dockerd runs (pidof said "${out.trim()}")`);
  return pid;
}

/** The containerd dockerd started for itself (it writes the pid file), when it runs. */
function managedContainerdPid(): number | null {
  try {
    const pid = Number(readFileSync('/var/run/docker/containerd/containerd.pid', 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 && alive(pid) ? pid : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export async function restartEngine(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  const pid = dockerdPid();
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
  const containerd = managedContainerdPid();
  process.kill(pid, signal);
  await until(() => !alive(pid), 60_000, 'dockerd to exit');
  // The containerd that dockerd runs dies with it; a new dockerd started while the old containerd
  // is still going away waits for it in vain. A supervisor restarts only after the exit too.
  if (containerd !== null) await until(() => !alive(containerd), 60_000, 'the old containerd to exit');
  const log = openSync('/var/log/dbaas-dockerd.log', 'a');
  const child = spawn(argv[0] as string, argv.slice(1), { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  await until(() => docker.version().then(() => true, () => false), 60_000, 'dockerd to answer again');
}
