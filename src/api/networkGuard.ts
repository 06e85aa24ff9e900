import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockList, isIPv4 } from 'node:net';
import { ipKeyGenerator, MemoryStore, type Options } from 'express-rate-limit';
import { DbaasError } from '../errors.js';
import { clientAddress } from './access.js';
import type { Gate } from './gates.js';

/**
 * Who may reach the API at all, before any token is looked at: DBAAS_ALLOWED_NETWORKS (CIDRs).
 * The host's own loopback is always allowed (its operator is admin anyway). The peer address of
 * the connection is used; no X-Forwarded-For is trusted.
 */
export function networkGate(networks: string[]): Gate {
  if (networks.length === 0) return () => undefined;
  const allowed = new BlockList();
  for (const cidr of networks) {
    const [address, bits] = cidr.split('/') as [string, string];
    allowed.addSubnet(address, Number(bits), isIPv4(address) ? 'ipv4' : 'ipv6');
  }
  allowed.addSubnet('127.0.0.0', 8, 'ipv4');
  allowed.addAddress('::1', 'ipv6');
  return (req: IncomingMessage) => {
    const address = clientAddress(req);
    if (allowed.check(address, isIPv4(address) ? 'ipv4' : 'ipv6')) return undefined;
    return new DbaasError('NETWORK_NOT_ALLOWED', `requests from ${address} are not allowed (DBAAS_ALLOWED_NETWORKS)`, { client: address });
  };
}

/**
 * Slows down guessing tokens: a client address that failed to authenticate `limit` times in the
 * window gets 429 for everything until the window passes. Only 401 answers count, once sent.
 * (express-rate-limit's own middleware with skipSuccessfulRequests counts every request when it
 * arrives and takes it back when it succeeds, so more than `limit` requests in flight at once
 * from one address were refused though none failed; its store is used here, counting 401s only.)
 */
export function authFailureGate(limit: number, windowSec: number): Gate {
  const windowMs = windowSec * 1000;
  const store = new MemoryStore();
  store.init({ windowMs } as Options);
  return async (req: IncomingMessage, res: ServerResponse) => {
    const key = ipKeyGenerator(clientAddress(req));
    res.on('finish', () => {
      if (res.statusCode === 401) void store.increment(key);
    });
    const info = await store.get(key);
    if (!info || info.totalHits < limit) return undefined;
    const retryAfterSec = Math.max(1, Math.ceil(((info.resetTime?.getTime() ?? Date.now() + windowMs) - Date.now()) / 1000));
    return new DbaasError('RATE_LIMITED', `too many failed authentications from this address; retry in ${retryAfterSec} s`, { retryAfterSec });
  };
}
