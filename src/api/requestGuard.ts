import type { IncomingMessage } from 'node:http';
import { DbaasError } from '../errors.js';
import type { Gate } from './gates.js';

/**
 * Refuses requests that a browser was tricked into sending, before any route sees them:
 *  - DNS rebinding: a page on attacker.example whose name then resolves to 127.0.0.1 reaches the
 *    API as "same origin". Only a Host header the server was configured to answer to passes
 *    (loopback names by default, DBAAS_API_ALLOWED_HOSTS for more): 421.
 *  - Cross-site requests: a form or fetch from another site carries its Origin (or
 *    Sec-Fetch-Site: cross-site). Only the server's own origin and DBAAS_API_ALLOWED_ORIGINS
 *    pass: 403.
 *  - Simple requests: an HTML form can post urlencoded, multipart or text bodies without a CORS
 *    preflight. Mutating routes take application/json only: 415.
 * A client that is not a browser (curl, the CLI, SDKs) sends none of these headers and is not
 * affected. Tokens (issue 10) come on top of this, not instead of it.
 */

export interface RequestGuardOptions {
  /** Host names (without port) the server answers to, lowercase. */
  allowedHosts: string[];
  /** Origins (scheme://host[:port]) besides the server's own that may send requests. */
  allowedOrigins: string[];
}

export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '::1'];

/** The host name of a Host header: `example.com:8000` -> example.com, `[::1]:8000` -> ::1. */
export function hostName(header: string): string {
  const host = header.trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']') > 0 ? host.indexOf(']') : undefined);
  const colon = host.lastIndexOf(':');
  return colon >= 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

export function requestGate(options: RequestGuardOptions): Gate {
  const hosts = new Set(options.allowedHosts.map((h) => hostName(h)));
  const origins = new Set(options.allowedOrigins.map((o) => o.toLowerCase().replace(/\/+$/, '')));
  return (req: IncomingMessage) => {
    const host = req.headers.host;
    if (!host || !hosts.has(hostName(host))) {
      return new DbaasError('HOST_NOT_ALLOWED', `this server does not answer to the host "${host ?? ''}"; allowed: ${[...hosts].join(', ')} (DBAAS_API_ALLOWED_HOSTS)`, {
        host: host ?? null,
      });
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      const own = [`http://${host}`, `https://${host}`].map((o) => o.toLowerCase());
      const normalized = origin.toLowerCase().replace(/\/+$/, '');
      if (!own.includes(normalized) && !origins.has(normalized)) {
        return new DbaasError('ORIGIN_NOT_ALLOWED', `requests from the origin "${origin}" are not allowed (DBAAS_API_ALLOWED_ORIGINS)`, { origin });
      }
    } else if (req.headers['sec-fetch-site'] === 'cross-site') {
      return new DbaasError('ORIGIN_NOT_ALLOWED', 'cross-site requests are not allowed', { secFetchSite: 'cross-site' });
    }
    if (MUTATING.has(req.method ?? '')) {
      const type = req.headers['content-type'];
      if ((type !== undefined && !JSON_TYPE.test(type)) || (type === undefined && hasBody(req))) {
        return new DbaasError('UNSUPPORTED_MEDIA_TYPE', `${req.method} takes a JSON body (Content-Type: application/json), got ${type ?? 'no content type'}`, {
          contentType: type ?? null,
        });
      }
    }
    return undefined;
  };
}

/** How deep a JSON body may nest: deeper input is refused before anything walks it recursively. */
export const MAX_JSON_DEPTH = 64;

/** The nesting depth of a parsed JSON value, walked without recursion (so it cannot overflow). */
export function jsonDepth(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== 'object') continue;
    deepest = Math.max(deepest, depth);
    if (deepest > limit) return deepest;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** Refuses a parsed body nested deeper than MAX_JSON_DEPTH. */
export const depthGate: Gate = (req: IncomingMessage & { body?: unknown }) => {
  if (req.body !== undefined && jsonDepth(req.body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    return new DbaasError('VALIDATION_FAILED', `body: nested deeper than ${MAX_JSON_DEPTH} levels`, { issues: [{ field: 'body', message: `nested deeper than ${MAX_JSON_DEPTH} levels` }] });
  }
  return undefined;
};
