import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DbaasError } from '../../src/errors.js';
import { allocatePort, isPortFree } from '../../src/provisioner/ports.js';

/**
 * Real sockets on ports 31000-31100: below the kernel's ephemeral range (32768-60999), where a
 * burst of client connections (a benchmark) holds some for a while, and apart from the ranges
 * the integration tests use (21000-23700), so that nothing else on the host competes for them.
 */
const HOST = '127.0.0.1';
const held: Server[] = [];

function hold(port: number, host = HOST): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port }, () => {
      held.push(server);
      resolve(server);
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

afterEach(async () => {
  await Promise.all(held.splice(0).map(close));
});

async function expectCode(promise: Promise<unknown>, code: string): Promise<DbaasError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DbaasError);
  expect((err as DbaasError).code).toBe(code);
  return err as DbaasError;
}

describe('isPortFree', () => {
  it('is true for a port nobody holds, and leaves it free', async () => {
    expect(await isPortFree(HOST, 31001)).toBe(true);
    // It closed its own probe socket: the port can be bound right after.
    await hold(31001);
  });

  it('is false for a port a server listens on', async () => {
    await hold(31002);
    expect(await isPortFree(HOST, 31002)).toBe(false);
  });

  it('is true again once the holder closed', async () => {
    const server = await hold(31003);
    expect(await isPortFree(HOST, 31003)).toBe(false);
    await close(server);
    held.splice(held.indexOf(server), 1);
    expect(await isPortFree(HOST, 31003)).toBe(true);
  });

  it('sees a holder on the wildcard address (as docker-proxy binds 0.0.0.0)', async () => {
    await hold(31004, '0.0.0.0');
    expect(await isPortFree(HOST, 31004)).toBe(false);
  });

  it('is false when the address cannot be bound at all', async () => {
    // TEST-NET-1 is never assigned to a local interface: EADDRNOTAVAIL.
    expect(await isPortFree('192.0.2.1', 31005)).toBe(false);
  });
});

describe('allocatePort', () => {
  const range = { start: 31010, end: 31019 };

  it('picks the lowest port of the range when all are free', async () => {
    expect(await allocatePort({ range, taken: new Set(), host: HOST })).toBe(31010);
  });

  it('skips ports other instances hold in the registry, even when they are free on the host', async () => {
    expect(await allocatePort({ range, taken: new Set([31010, 31011, 31013]), host: HOST })).toBe(31012);
  });

  it('skips a port another process holds', async () => {
    await hold(31010);
    await hold(31011);
    expect(await allocatePort({ range, taken: new Set(), host: HOST })).toBe(31012);
  });

  it('skips both taken and held ports', async () => {
    await hold(31011);
    expect(await allocatePort({ range, taken: new Set([31010, 31012]), host: HOST })).toBe(31013);
  });

  it('returns a port that can really be bound', async () => {
    await hold(31010);
    const port = await allocatePort({ range, taken: new Set([31011]), host: HOST });
    await expect(hold(port)).resolves.toBeDefined();
  });

  it('returns the requested port when it is free, even outside the range', async () => {
    expect(await allocatePort({ range, taken: new Set(), requested: 31015, host: HOST })).toBe(31015);
    expect(await allocatePort({ range, taken: new Set(), requested: 31050, host: HOST })).toBe(31050);
  });

  it('refuses a requested port that another instance holds, with PORT_IN_USE', async () => {
    const err = await expectCode(
      allocatePort({ range, taken: new Set([31016]), requested: 31016, host: HOST }),
      'PORT_IN_USE',
    );
    expect(err.details).toMatchObject({ field: 'port', port: 31016 });
    expect(err.message).toMatch(/another instance/);
  });

  it('refuses a requested port that a process on the host holds, never replacing it', async () => {
    await hold(31017);
    const err = await expectCode(
      allocatePort({ range, taken: new Set(), requested: 31017, host: HOST }),
      'PORT_IN_USE',
    );
    expect(err.details).toMatchObject({ field: 'port', port: 31017 });
    expect(err.message).toMatch(/another process/);
  });

  it('fails with PORT_RANGE_EXHAUSTED when every port is taken or held', async () => {
    const small = { start: 31020, end: 31023 };
    await hold(31020);
    await hold(31022);
    const err = await expectCode(
      allocatePort({ range: small, taken: new Set([31021, 31023]), host: HOST }),
      'PORT_RANGE_EXHAUSTED',
    );
    expect(err.details).toEqual({ range: small });
    expect(err.message).toContain('31020-31023');
  });

  it('handles a range of one port', async () => {
    const one = { start: 31030, end: 31030 };
    expect(await allocatePort({ range: one, taken: new Set(), host: HOST })).toBe(31030);
    await hold(31030);
    await expectCode(allocatePort({ range: one, taken: new Set(), host: HOST }), 'PORT_RANGE_EXHAUSTED');
  });

  it('uses the probe it is given, with the host it is given', async () => {
    const probed: Array<[string, number]> = [];
    const port = await allocatePort({
      range: { start: 31040, end: 31049 },
      taken: new Set([31041]),
      host: '10.1.2.3',
      probe: async (host, p) => {
        probed.push([host, p]);
        return p >= 31043;
      },
    });
    expect(port).toBe(31043);
    expect(probed).toEqual([
      ['10.1.2.3', 31040],
      ['10.1.2.3', 31042],
      ['10.1.2.3', 31043],
    ]);
  });

  it('does not probe a requested port that is already taken', async () => {
    let probes = 0;
    await expectCode(
      allocatePort({
        range,
        taken: new Set([31060]),
        requested: 31060,
        host: HOST,
        probe: async () => {
          probes++;
          return true;
        },
      }),
      'PORT_IN_USE',
    );
    expect(probes).toBe(0);
  });
});
