import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { DbaasError } from '../errors.js';

/** A file's text, or stdin's for "-"; a file that cannot be read is a usage error. */
export function readFileArg(path: string, what: string): string {
  try {
    return path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8');
  } catch (err) {
    throw new DbaasError('USAGE', `cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/**
 * Asks for the name of what a destructive command is about to `action` (delete, drop) before
 * it does; refuses, as a usage error, when stdin is not a terminal and so no one can answer.
 */
export async function confirm(name: string, action: string, consequence?: string): Promise<void> {
  if (!process.stdin.isTTY) {
    throw new DbaasError('USAGE', `refusing to ${action} ${name} without --yes (stdin is not a terminal)`);
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`This will ${action} ${name}${consequence ? ` ${consequence}` : ''}. Type its name to confirm: `);
    if (answer.trim() !== name) throw new DbaasError('USAGE', `not confirmed; ${name} was left alone`);
  } finally {
    rl.close();
  }
}
