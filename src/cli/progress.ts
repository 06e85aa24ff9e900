import ora, { type Ora } from 'ora';
import type { ProgressEvent, ProgressFn } from '../instances/manager.js';

/**
 * Step-by-step progress on stderr: a spinner per step on a terminal, one line per finished step
 * otherwise, nothing at all with --json (stdout then carries exactly one JSON document).
 */
export interface Progress {
  report: ProgressFn;
  fail(message?: string): void;
}

export function createProgress(json: boolean): Progress {
  if (json) return { report: () => undefined, fail: () => undefined };
  const tty = Boolean(process.stderr.isTTY);
  let spinner: Ora | null = null;
  return {
    report(event: ProgressEvent) {
      if (event.phase === 'start') {
        if (tty) spinner = ora({ text: event.message, stream: process.stderr }).start();
        return;
      }
      const text = `${event.message}${event.ms !== undefined ? ` (${formatMs(event.ms)})` : ''}`;
      if (spinner) {
        spinner.succeed(text);
        spinner = null;
      } else {
        process.stderr.write(`✔ ${text}\n`);
      }
    },
    fail(message) {
      if (spinner) {
        spinner.fail(message ?? spinner.text);
        spinner = null;
      }
    },
  };
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}
