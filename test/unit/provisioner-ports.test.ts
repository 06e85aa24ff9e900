import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DbaasError } from '../../src/errors.js';
import { allocatePort, isPortFree } from '../../src/provisioner/ports.js';

/**
 * Real sockets on high ports (39000-39100), so that nothing else on the host (integration tests
 * use 5433+ and their own ranges) competes for them.
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
    expect(await isPortFree(HOST, 39001)).toBe(true);
    // It closed its own probe socket: the port can be bound right after.
    await hold(39001);
  });

  it('is false for a port a server listens on', async () => {
    await hold(39002);
    expect(await isPortFree(HOST, 39002)).toBe(false);
  });

  it('is true again once the holder closed', async () => {
    const server = await hold(39003);
    expect(await isPortFree(HOST, 39003)).toBe(false);
    await close(server);
    held.splice(held.indexOf(server), 1);
    expect(await isPortFree(HOST, 39003)).toBe(true);
  });

  it('sees a holder on the wildcard address (as docker-proxy binds 0.0.0.0)', async () => {
    await hold(39004, '0.0.0.0');
    expect(await isPortFree(HOST, 39004)).toBe(false);
  });

  it('is false when the address cannot be bound at all', async () => {
    // TEST-NET-1 is never assigned to a local interface: EADDRNOTAVAIL.
    expect(await isPortFree('192.0.2.1', 39005)).toBe(false);
  });
});

describe('allocatePort', () => {
  const range = { start: 39010, end: 39019 };

  it('picks the lowest port of the range when all are free', async () => {
    expect(await allocatePort({ range, taken: new Set(), host: HOST })).toBe(39010);
  });

  it('skips ports other instances hold in the registry, even when they are free on the host', async () => {
    expect(await allocatePort({ range, taken: new Set([39010, 39011, 39013]), host: HOST })).toBe(39012);
  });

  it('skips a port another process holds', async () => {
    await hold(39010);
    await hold(39011);
    expect(await allocatePort({ range, taken: new Set(), host: HOST })).toBe(39012);
  });

  it('skips both taken and held ports', async () => {
    await hold(39011);
    expect(await allocatePort({ range, taken: new Set([39010, 39012]), host: HOST })).toBe(39013);
  });

  it('returns a port that can really be bound', async () => {
    await hold(39010);
    const port = await allocatePort({ range, taken: new Set([39011]), host: HOST });
    await expect(hold(port)).resolves.toBeDefined();
  });

  it('returns the requested port when it is free, even outside the range', async () => {
    expect(await allocatePort({ range, taken: new Set(), requested: 39015, host: HOST })).toBe(39015);
    expect(await allocatePort({ range, taken: new Set(), requested: 39050, host: HOST })).toBe(39050);
  });

  it('refuses a requested port that another instance holds, with PORT_IN_USE', async () => {
    const err = await expectCode(
      allocatePort({ range, taken: new Set([39016]), requested: 39016, host: HOST }),
      'PORT_IN_USE',
    );
    expect(err.details).toMatchObject({ field: 'port', port: 39016 });
    expect(err.message).toMatch(/another instance/);
  });

  it('refuses a requested port that a process on the host holds, never replacing it', async () => {
    await hold(39017);
    const err = await expectCode(
      allocatePort({ range, taken: new Set(), requested: 39017, host: HOST }),
      'PORT_IN_USE',
    );
    expect(err.details).toMatchObject({ field: 'port', port: 39017 });
    expect(err.message).toMatch(/another process/);
  });

  it('fails with PORT_RANGE_EXHAUSTED when every port is taken or held', async () => {
    const small = { start: 39020, end: 39023 };
    await hold(39020);
    await hold(39022);
    const err = await expectCode(
      allocatePort({ range: small, taken: new Set([39021, 39023]), host: HOST }),
      'PORT_RANGE_EXHAUSTED',
    );
    expect(err.details).toEqual({ range: small });
    expect(err.message).toContain('39020-39023');
  });

  it('handles a range of one port', async () => {
    const one = { start: 39030, end: 39030 };
    expect(await allocatePort({ range: one, taken: new Set(), host: HOST })).toBe(39030);
    await hold(39030);
    await expectCode(allocatePort({ range: one, taken: new Set(), host: HOST }), 'PORT_RANGE_EXHAUSTED');
  });

  it('uses the probe it is given, with the host it is given', async () => {
    const probed: Array<[string, number]> = [];
    const port = await allocatePort({
      range: { start: 39040, end: 39049 },
      taken: new Set([39041]),
      host: '10.1.2.3',
      probe: async (host, p) => {
        probed.push([host, p]);
        return p >= 39043;
      },
    });
    expect(port).toBe(39043);
    expect(probed).toEqual([
      ['10.1.2.3', 39040],
      ['10.1.2.3', 39042],
      ['10.1.2.3', 39043],
    ]);
  });

  it('does not probe a requested port that is already taken', async () => {
    let probes = 0;
    await expectCode(
      allocatePort({
        range,
        taken: new Set([39060]),
        requested: 39060,
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
