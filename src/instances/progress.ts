import { DbaasError } from '../errors.js';

/** The steps of a long operation (a create, a restart), reported for progress on a terminal. */

/** One step of a long operation. */
export interface ProgressEvent {
  step: string;
  phase: 'start' | 'done';
  message: string;
  ms?: number;
}
export type ProgressFn = (event: ProgressEvent) => void;

/**
 * Runs one step, reporting its start and end to the progress callback. An aborted `signal`
 * (Ctrl-C in the CLI) stops the operation before the step starts.
 */
export async function stepWithProgress<T>(
  progress: ProgressFn | undefined,
  name: string,
  message: string,
  run: () => Promise<T> | T,
  signal?: AbortSignal,
): Promise<T> {
  if (signal?.aborted) throw new DbaasError('INTERRUPTED', `interrupted before: ${message}`);
  const started = Date.now();
  progress?.({ step: name, phase: 'start', message });
  const result = await run();
  progress?.({ step: name, phase: 'done', message, ms: Date.now() - started });
  return result;
}
