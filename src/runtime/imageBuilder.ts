import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DbaasError } from '../errors.js';

export interface BuildImageOptions {
  version: number;
  tag: string;
  scriptsDir: string;
  mirror?: string;
  /** Receives the build's progress lines; without it they are collected for error messages. */
  onLine?: (line: string) => void;
}

/**
 * Builds a PostgreSQL image from Debian packages with scripts/build-image.sh (mmdebstrap, then
 * docker import), for hosts that cannot reach a registry. The image honours the official image's
 * contract, so instances run it exactly as they would run postgres:<version>.
 */
export async function buildImage(options: BuildImageOptions): Promise<{ tag: string; seconds: number }> {
  const started = Date.now();
  const args = ['--version', String(options.version), '--tag', options.tag];
  if (options.mirror) args.push('--mirror', options.mirror);
  const tail: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(join(options.scriptsDir, 'build-image.sh'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        options.onLine?.(line);
        tail.push(line);
        if (tail.length > 30) tail.shift();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => reject(new DbaasError('OPERATION_FAILED', `cannot run build-image.sh: ${err.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else {
        reject(
          new DbaasError('OPERATION_FAILED', `image build failed (exit ${code}):\n${tail.slice(-10).join('\n')}`, {
            exitCode: code,
          }),
        );
      }
    });
  });
  return { tag: options.tag, seconds: Math.round((Date.now() - started) / 100) / 10 };
}
