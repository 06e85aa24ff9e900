import { execFile } from 'node:child_process';

/**
 * Runs the openssl command-line tool (Debian's /usr/bin/openssl by default) without a shell:
 * every argument goes to the program as it is. Failures become plain Errors that name the
 * subcommand and carry openssl's own message; a missing binary says how to get it.
 */

/** Found on PATH (Debian: /usr/bin/openssl); callers may pass another path. */
export const DEFAULT_OPENSSL = 'openssl';

const TIMEOUT_MS = 60_000;

export async function openssl(args: string[], binary: string = DEFAULT_OPENSSL): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024, windowsHide: true }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null };
      if (e.code === 'ENOENT') return reject(new Error(`openssl not found: install the openssl package (looked for "${binary}")`));
      if (e.code === 'EACCES') return reject(new Error(`openssl at "${binary}" cannot be run: permission denied`));
      if (e.killed || e.signal) return reject(new Error(`openssl ${args[0] ?? ''} did not finish (${e.signal ?? 'killed'})`));
      const detail = firstLines(String(stderr || stdout || e.message));
      reject(new Error(`openssl ${args[0] ?? ''} failed: ${detail}`));
    });
  });
}

function firstLines(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.slice(0, 4).join('; ') || 'no output';
}
