// Small helpers a benchmark script needs: its options, progress on stderr, statistics, a free
// port, a `dbaas serve` it starts and waits for, and an admin token for that serve's API.
// (bench/provision, bench/monitoring and bench/rows predate this file and keep their own copies
// of the rest; they use createAdminToken.)
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

/** `--name value` options and `--flag` switches of process.argv. */
export function parseArgs(argv = process.argv.slice(2)) {
  const valueOf = (name) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    number(name, fallback) {
      const text = valueOf(name);
      if (text === undefined) return fallback;
      const n = Number(text);
      if (!Number.isFinite(n)) throw new Error(`--${name} wants a number, got ${text}`);
      return n;
    },
    string: (name, fallback) => valueOf(name) ?? fallback,
    flag: (name) => argv.includes(`--${name}`),
  };
}

/** Progress on stderr, silent when the result goes to stdout as JSON. */
export const progressLog = (quiet) => (msg) => quiet || process.stderr.write(msg + '\n');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The p-th percentile (0..100) by nearest rank. */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** A port nobody listens on right now (the kernel's pick). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `dbaas serve` on a port of its own with the given environment and waits for its
 * /health. Returns the child (to kill) and the base URL.
 */
export async function startServe(root, env, { timeoutMs = 30_000 } = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, [`${root}/bin/dbaas`, 'serve', '--port', String(port)], { env, stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  while (!(await fetch(`${base}/health`).then((r) => r.ok, () => false))) {
    if (child.exitCode !== null) throw new Error(`dbaas serve exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`dbaas serve did not answer /health within ${timeoutMs} ms`);
    await sleep(100);
  }
  return { child, base };
}

/**
 * Creates an admin token in the home of `env` (its DBAAS_HOME) with `dbaas token create`, under a
 * name of its own, and returns the token. Every route but GET /health needs one:
 * `authorization: Bearer <token>`.
 */
export function createAdminToken(root, env, { prefix = 'bench' } = {}) {
  const name = `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const result = spawnSync(process.execPath, [`${root}/bin/dbaas`, 'token', 'create', '--name', name, '--role', 'admin'], { env, encoding: 'utf8' });
  const token = result.stdout?.trim();
  if (result.error || result.status !== 0 || !token) {
    const why = result.error?.message ?? (result.stderr?.trim() || `exit ${result.status ?? result.signal}`);
    throw new Error(`dbaas token create --name ${name} --role admin failed: ${why}`);
  }
  return token;
}
