/**
 * Sends corpus requests byte for byte (node:http, so paths are never normalised and Host can be
 * forged), checks each answer against the contract of a refusal, and names a request in a failure.
 */
import http from 'node:http';
import type { HostileRequest } from './generate.js';

export interface Reply {
  status: number;
  contentType: string;
  text: string;
  /** Set when no HTTP answer came (connection refused or reset, timeout, a path node refused to send). */
  error?: string;
  ms: number;
}

export function send(port: number, request: Pick<HostileRequest, 'method' | 'path' | 'headers' | 'body'>, timeoutMs = 120_000): Promise<Reply> {
  const started = Date.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (reply: Omit<Reply, 'ms'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...reply, ms: Date.now() - started });
    };
    const headers: Record<string, string | number> = { ...request.headers };
    if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
    let req: http.ClientRequest;
    try {
      req = http.request({ host: '127.0.0.1', port, method: request.method, path: request.path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          done({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', (err) => done({ status: res.statusCode ?? 0, contentType: '', text: '', error: err.message }));
      });
    } catch (err) {
      done({ status: 0, contentType: '', text: '', error: `could not send: ${(err as Error).message}` });
      return;
    }
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    // A server may answer (413) before it read the whole body and close the socket under the write.
    req.on('error', (err) => setTimeout(() => done({ status: 0, contentType: '', text: '', error: err.message }), 50));
    req.end(request.body);
  });
}

/**
 * What is wrong with an answer to a request that must be refused: a status outside 4xx, a body
 * that is not the one error shape `{"error": {"code", "message", "details"?}}` (PostgREST's own
 * shape on its endpoint, `path` under /database/{ref}/rest/v1). Empty when fine.
 */
export function refusalProblems(reply: Reply, path = ''): string[] {
  if (reply.error) return [`no HTTP answer: ${reply.error}`];
  const problems: string[] = [];
  if (reply.status < 400 || reply.status > 499) problems.push(`status ${reply.status}, expected 4xx`);
  if (!/^application\/json\b/i.test(reply.contentType)) problems.push(`Content-Type "${reply.contentType}", expected application/json`);
  let body: unknown;
  try {
    body = JSON.parse(reply.text);
  } catch {
    problems.push('body is not JSON');
    return problems;
  }
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (/^\/database\/[^/?]+\/rest\/v1(\/|\?|$)/.test(path)) {
    // The PostgREST-compatible endpoint answers in PostgREST's shape: code, message, details, hint.
    if (!isObject(body) || Object.keys(body).sort().join() !== 'code,details,hint,message') {
      problems.push('body is not PostgREST\'s {"code", "message", "details", "hint"}');
    } else {
      if (typeof body.code !== 'string' || body.code === '') problems.push(`code ${JSON.stringify(body.code)} is not a code`);
      if (typeof body.message !== 'string' || body.message === '') problems.push('message is not a non-empty string');
    }
    return problems;
  }
  if (!isObject(body) || Object.keys(body).join() !== 'error' || !isObject(body.error)) {
    problems.push('body is not {"error": {...}} and nothing else');
    return problems;
  }
  const error = body.error;
  const extra = Object.keys(error).filter((k) => !['code', 'message', 'details'].includes(k));
  if (extra.length) problems.push(`error has unexpected keys ${extra.join(', ')}`);
  if (typeof error.code !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(error.code)) problems.push(`error.code ${JSON.stringify(error.code)} is not an upper-case code`);
  if (typeof error.message !== 'string' || error.message === '') problems.push('error.message is not a non-empty string');
  if ('details' in error && !isObject(error.details)) problems.push('error.details is not an object');
  return problems;
}

/** A short printable form: control and invisible characters escaped, long runs cut. */
export function preview(value: string | Buffer | undefined, max = 240): string {
  if (value === undefined) return '(none)';
  const text = typeof value === 'string' ? value : value.toString('latin1');
  const escaped = text.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const squeezed = escaped.replace(/(.)\1{39,}/g, (run, ch: string) => `${ch.repeat(8)}…(${run.length}×)`);
  return squeezed.length > max ? `${squeezed.slice(0, max)}…(${text.length} chars)` : squeezed;
}

/** The request and its answer, to name a failure so that it can be replayed. */
export function describeExchange(request: HostileRequest, reply: Reply): string {
  const headers = Object.keys(request.headers).length ? ` headers=${JSON.stringify(request.headers)}` : '';
  return (
    `[${request.kind}] ${request.method} ${preview(request.path, 300)}${headers} body=${preview(request.body, 160)}` +
    ` -> ${reply.error ? `no answer (${reply.error})` : `${reply.status} ${preview(reply.text, 300)}`}`
  );
}
