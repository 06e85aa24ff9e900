import { createServer } from 'node:net';
import { DbaasError } from '../errors.js';

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
