import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { request as httpsRequest } from 'node:https';
import { DbaasError, ERROR_CODES, type ErrorCode } from '../errors.js';
import type { RemoteTarget } from './credentials.js';
import type { ProgressFn } from '../instances/progress.js';

/**
 * The CLI's HTTP client of a dbaas server: one call per route, JSON in and out, the server's
 * error answers turned back into the same DbaasError (so exit codes are those of the local CLI),
 * and long operations (202 with an operation) followed until they end.
 */

export interface CallOptions {
  query?: Record<string, string | number | boolean | string[] | undefined>;
  body?: unknown;
  /** The answer is text (GET /metrics), not JSON. */
  text?: boolean;
}

interface OperationDoc {
  id: string;
  status: 'running' | 'succeeded' | 'failed';
  /** The step it is at, in words, and the steps done (the server's ProgressEvents). */
  step: string | null;
  steps: Array<{ step: string; message: string; ms?: number }>;
  result: unknown;
  error: { code: string; message: string; details?: Record<string, unknown> } | null;
}

export class ApiClient {
  constructor(readonly target: RemoteTarget) {}

  async call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const res = await this.open(method, path, options.query, body);
    const text = await textOf(res);
    if ((res.statusCode ?? 0) >= 400) throw this.errorOf(res.statusCode ?? 0, text, `${method} ${path}`);
    if (options.text) return text as T;
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A route that streams text (the log followed): the open answer, read until the caller destroys it. */
  async stream(path: string, query: CallOptions['query'] = {}): Promise<Readable> {
    // No idle limit: a followed log may stay quiet for hours.
    const res = await this.open('GET', path, query, undefined, null);
    if ((res.statusCode ?? 0) >= 400) throw this.errorOf(res.statusCode ?? 0, await textOf(res), `GET ${path}`);
    return res;
  }

  /**
   * A route that answers 202 with an operation: its result once it succeeded, its error if it
   * failed. Its steps are replayed to `progress` as the polls see them, so that a remote CLI
   * shows the same steps as one on the host (a step begun and ended between two polls shows
   * as ended only).
   */
  async operation<T>(method: string, path: string, options: CallOptions = {}, progress?: ProgressFn): Promise<T> {
    let op = await this.call<OperationDoc>(method, path, options);
    let seen = 0;
    let begun: string | null = null;
    const replay = () => {
      for (const done of (op.steps ?? []).slice(seen)) progress?.({ step: done.step, phase: 'done', message: done.message, ...(done.ms !== undefined ? { ms: done.ms } : {}) });
      seen = op.steps?.length ?? 0;
      if (op.status === 'running' && op.step && op.step !== begun && op.steps?.at(-1)?.message !== op.step) {
        begun = op.step;
        progress?.({ step: 'remote', phase: 'start', message: op.step });
      }
    };
    replay();
    while (op.status === 'running') {
      await new Promise((resolve) => setTimeout(resolve, 500));
      op = await this.call<OperationDoc>('GET', `/operations/${op.id}`);
      replay();
    }
    if (op.status === 'failed') {
      const code = (ERROR_CODES as readonly string[]).includes(op.error?.code ?? '') ? (op.error?.code as ErrorCode) : 'OPERATION_FAILED';
      throw new DbaasError(code, op.error?.message ?? `operation ${op.id} failed`, op.error?.details);
    }
    return op.result as T;
  }

  private errorOf(status: number, text: string, what: string): DbaasError {
    try {
      const { error } = JSON.parse(text) as { error: { code: string; message: string; details?: Record<string, unknown> } };
      const code = (ERROR_CODES as readonly string[]).includes(error.code) ? (error.code as ErrorCode) : 'OPERATION_FAILED';
      return new DbaasError(code, error.message, error.details);
    } catch {
      return new DbaasError('OPERATION_FAILED', `${what} answered ${status}: ${text.slice(0, 200)}`);
    }
  }

  /** Sends one request and answers with the response once its head has come (its body unread). */
  private open(method: string, path: string, query: CallOptions['query'], body: string | undefined, idleMs: number | null = 15 * 60_000): Promise<IncomingMessage> {
    const url = new URL(this.target.url + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(v));
    }
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          headers: {
            authorization: `Bearer ${this.target.token}`,
            accept: 'application/json',
            ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
          },
          ...(this.target.ca ? { ca: this.target.ca } : {}),
        },
        resolve,
      );
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(new DbaasError('API_UNREACHABLE', `cannot reach the dbaas server at ${this.target.url}: ${err.message}`, { url: this.target.url, cause: err.code ?? null })),
      );
      if (idleMs !== null) req.setTimeout(idleMs, () => req.destroy(new Error(`no answer in ${idleMs / 60_000} minutes`)));
      req.end(body);
    });
  }
}

async function textOf(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
