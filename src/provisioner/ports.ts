import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { DbaasError } from '../errors.js';

/** The IPv4 addresses of this host's interfaces. */
export function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === 'IPv4')
    .map((a) => (a as { address: string }).address);
}

/**
 * A bind address must be one this host has (or 0.0.0.0 for all): publishing a port on an
 * address of another machine fails deep in the engine, and probing it made every port of the
 * range look taken (PORT_RANGE_EXHAUSTED).
 */
export function assertHostAddress(address: string, addresses: string[] = hostAddresses()): void {
  // Linux answers on all of 127.0.0.0/8 through lo, though only 127.0.0.1 is listed.
  if (address === '0.0.0.0' || address.startsWith('127.') || addresses.includes(address)) return;
  throw new DbaasError('VALIDATION_FAILED', `bindAddress: ${address} is not an address of this host (it has ${addresses.join(', ')}, or use 0.0.0.0)`, {
    issues: [{ field: 'bindAddress', message: `${address} is not an address of this host` }],
  });
}

/** Whether a TCP port can be bound on an address right now (nobody, docker-proxy included, holds it). */
export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

export interface PortRequest {
  range: { start: number; end: number };
  /** Ports other instances already hold (reserved in the registry, running or not). */
  taken: ReadonlySet<number>;
  /** A port the user asked for; it is checked, never replaced. */
  requested?: number;
  host: string;
  probe?: (host: string, port: number) => Promise<boolean>;
}

/**
 * Picks a host port: the requested one when it is free, else the lowest port of the range that
 * neither another instance nor any process on the host holds. Callers run this under the registry
 * lock, so two creates can never pick the same port.
 */
export async function allocatePort(request: PortRequest): Promise<number> {
  const probe = request.probe ?? isPortFree;
  if (request.requested !== undefined) {
    const port = request.requested;
    if (request.taken.has(port)) {
      throw new DbaasError('PORT_IN_USE', `port ${port} is already assigned to another instance`, {
        field: 'port',
        port,
      });
    }
    if (!(await probe(request.host, port))) {
      throw new DbaasError('PORT_IN_USE', `port ${port} is in use by another process on this host`, {
        field: 'port',
        port,
      });
    }
    return port;
  }
  for (let port = request.range.start; port <= request.range.end; port++) {
    if (request.taken.has(port)) continue;
    if (await probe(request.host, port)) return port;
  }
  throw new DbaasError(
    'PORT_RANGE_EXHAUSTED',
    `no free port in ${request.range.start}-${request.range.end}; widen DBAAS_PORT_RANGE`,
    { range: request.range },
  );
}
