/**
 * Raw HTTP for the hardening tests (issue 7): node:http rather than fetch, so that a test can
 * forge the Host header, send any Content-Type or Content-Encoding, and put a path on the wire
 * exactly as written (fetch normalises or refuses all three).
 */
import http from 'node:http';
import { expect } from 'vitest';

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface HttpRequest {
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** The token each port's requests carry unless they name their own Authorization. */
const tokens = new Map<number, string>();

export function authorize(port: number, token: string): void {
  tokens.set(port, token);
}

/** Sends one request to 127.0.0.1:port; without a `host` header node sends `127.0.0.1:<port>`. */
export function send(port: number, method: string, path: string, request: HttpRequest = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const token = tokens.get(port);
    const headers: Record<string, string | number> = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...request.headers };
    if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
      });
    });
    req.setTimeout(180_000, () => req.destroy(new Error(`no answer to ${method} ${path} in 180 s`)));
    req.on('error', reject);
    req.end(request.body);
  });
}

/** A JSON request (Content-Type: application/json unless the headers say otherwise). */
export function sendJson(port: number, method: string, path: string, value: unknown, headers: Record<string, string> = {}): Promise<HttpReply> {
  return send(port, method, path, { headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) });
}

/** The reply is the one error shape with this status and code; its message names each of `mentions`. */
export function expectError(reply: HttpReply, status: number, code: string, ...mentions: string[]): void {
  expect(reply.status, reply.text.slice(0, 600)).toBe(status);
  expect(String(reply.headers['content-type'] ?? ''), reply.text.slice(0, 300)).toMatch(/^application\/json\b/);
  expect(Object.keys(reply.body ?? {}), reply.text.slice(0, 300)).toEqual(['error']);
  expect(reply.body.error.code, reply.text.slice(0, 600)).toBe(code);
  expect(typeof reply.body.error.message).toBe('string');
  for (const mention of mentions) expect(reply.body.error.message, reply.text.slice(0, 600)).toContain(mention);
}

/** The fields that validation issues of a 422 name. */
export function issueFields(reply: HttpReply): string[] {
  const issues = (reply.body?.error?.details?.issues ?? []) as Array<{ field: string }>;
  return issues.map((i) => i.field);
}
