import type { Ora } from 'ora';
import type { ProgressEvent, ProgressFn } from '../instances/manager.js';

/**
 * Step-by-step progress on stderr: a spinner per step on a terminal, one line per finished step
 * otherwise, nothing at all with --json (stdout then carries exactly one JSON document). The
 * spinner library is loaded only for a terminal.
 */
export interface Progress {
  report: ProgressFn;
  fail(message?: string): void;
  /** Waits for an operation, marking the running step as failed when it rejects. */
  track<T>(operation: Promise<T>): Promise<T>;
}

export async function createProgress(json: boolean): Promise<Progress> {
  if (json) return { report: () => undefined, fail: () => undefined, track: (operation) => operation };
  const ora = process.stderr.isTTY ? (await import('ora')).default : null;
  let spinner: Ora | null = null;
  const progress: Progress = {
    track(operation) {
      return operation.catch((err: unknown) => {
        this.fail();
        throw err;
      });
    },
    report(event: ProgressEvent) {
      if (event.phase === 'start') {
        if (ora) spinner = ora({ text: event.message, stream: process.stderr }).start();
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
  return progress;
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Runs a long operation with progress; Ctrl-C stops it at its next step (a second one kills). */
export async function interruptible<T>(json: boolean, what: string, work: (progress: Progress, signal: AbortSignal) => Promise<T>): Promise<T> {
  const progress = await createProgress(json);
  const controller = new AbortController();
  const interrupt = () => {
    process.stderr.write(`\ninterrupted: stopping the ${what} (Ctrl-C again to kill)\n`);
    controller.abort(new Error('interrupted'));
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  try {
    return await progress.track(work(progress, controller.signal));
  } finally {
    process.off('SIGINT', interrupt);
  }
}
