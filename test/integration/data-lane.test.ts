import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type Api } from '../../src/api/app.js';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { createLogger } from '../../src/log/logger.js';
import { adminToken, makeHome, query, type TestHome } from './helpers.js';

/**
 * The data lane (src/api/dataLane.ts) serves the PostgREST endpoint's tables and functions
 * without express. Every request below goes to two servers of one API: one through the lane in
 * front of express (as `dbaas serve` runs), one through the express app alone. Their answers
 * must be the same, byte for byte, for what works and for every refusal on the way (token,
 * role, project, network, host, origin, media type, body parse, size and depth, validation,
 * rate limit); and the lane must really have served the requests it claims.
 */

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface Call {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Sent to the servers' non-loopback address, with this Host header. */
  viaNetwork?: boolean;
}

/** The headers whose values must agree (the rest are per-request: date, request id, connection). */
const COMPARED = ['allow', 'content-type', 'content-length', 'content-range', 'www-authenticate', 'location', 'preference-applied', 'retry-after', 'link', 'next-cursor'];

let t: TestHome;
let created: CreatedInstance;
let api: Api;
let laneServer: Server;
let expressServer: Server;
let lanePort: number;
let expressPort: number;
let laneHits = 0;
let admin: string;
let viewer: string;
let stranger: string;
let address: string;

function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this host has no non-loopback IPv4 address');
}

/** A raw HTTP request (fetch would refuse a Host header of our choosing). */
function send(port: number, call: Call): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const host = call.viaNetwork ? address : '127.0.0.1';
    const req = httpRequest({ host, port, method: call.method, path: call.path, headers: { host: `${host}:${port}`, ...call.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(call.body);
  });
}

/** Both servers' answers, the lane's hit count before and after. */
async function both(call: Call): Promise<{ lane: Answer; express: Answer; laneTook: boolean }> {
  const before = laneHits;
  const lane = await send(lanePort, call);
  const laneTook = laneHits > before;
  const express = await send(expressPort, call);
  return { lane, express, laneTook };
}

function expectSame(lane: Answer, express: Answer): void {
  expect(lane.status).toBe(express.status);
  expect(lane.body).toBe(express.body);
  for (const name of COMPARED) expect([name, lane.headers[name]]).toEqual([name, express.headers[name]]);
  expect(lane.headers['x-request-id']).toMatch(/^req_[0-9a-f]{16}$/);
}

const auth = (token: string, more: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...more });
const json = (token: string, more: Record<string, string> = {}) => auth(token, { 'content-type': 'application/json', ...more });
const base = () => `/database/${created.name}/rest/v1`;

beforeAll(async () => {
  address = hostAddress();
  t = makeHome(24100, { DBAAS_BODY_LIMIT: '4kb', DBAAS_ALLOWED_NETWORKS: '203.0.113.0/24', DBAAS_API_ALLOWED_HOSTS: address });
  created = await t.manager.create({ name: 'lane', memory: '256m', cpus: 1 });
  await query(created.connectionString, readFileSync(join(import.meta.dirname, 'postgrest-fixture.sql'), 'utf8'));
  admin = await adminToken(t);
  viewer = (await t.services.tokens.create({ name: 'lane-viewer', role: 'viewer' })).token;
  stranger = (await t.services.tokens.create({ name: 'lane-stranger', role: 'owner', project: 'elsewhere' })).token;
  api = createApp(t.services, createLogger({ consoleLevel: 'silent' }));
  laneServer = createServer((req, res) => {
    if (api.lane(req, res)) laneHits++;
    else api.express(req, res);
  });
  expressServer = createServer(api.express);
  await Promise.all(
    [laneServer, expressServer].map((s) => new Promise<void>((resolve) => s.listen(0, '0.0.0.0', () => resolve()))),
  );
  lanePort = (laneServer.address() as { port: number }).port;
  expressPort = (expressServer.address() as { port: number }).port;
}, 120_000);

afterAll(async () => {
  laneServer?.close();
  expressServer?.close();
  await t?.services.data.close();
  await t?.cleanup();
});

describe('the data lane answers as the express app does', () => {
  const cases: Array<{ name: string; call: () => Call; status: number; lane?: boolean }> = [
    { name: 'one row by key', call: () => ({ method: 'GET', path: `${base()}/countries?id=eq.1`, headers: auth(admin) }), status: 200 },
    { name: 'select, filter, order', call: () => ({ method: 'GET', path: `${base()}/countries?select=id,name,cities(name)&id=lt.4&order=name.desc`, headers: auth(admin) }), status: 200 },
    { name: 'one object', call: () => ({ method: 'GET', path: `${base()}/countries?id=eq.2`, headers: auth(admin, { accept: 'application/vnd.pgrst.object+json' }) }), status: 200 },
    { name: 'one object of many: 406', call: () => ({ method: 'GET', path: `${base()}/countries`, headers: auth(admin, { accept: 'application/vnd.pgrst.object+json' }) }), status: 406 },
    { name: 'CSV', call: () => ({ method: 'GET', path: `${base()}/countries?order=id&limit=2`, headers: auth(admin, { accept: 'text/csv' }) }), status: 200 },
    { name: 'Range and an exact count', call: () => ({ method: 'GET', path: `${base()}/countries?order=id`, headers: auth(admin, { range: '1-2', prefer: 'count=exact' }) }), status: 206 },
    { name: 'a keyset page with its Link', call: () => ({ method: 'GET', path: `${base()}/countries?order=id&limit=2&after=`, headers: auth(admin) }), status: 200 },
    { name: 'HEAD', call: () => ({ method: 'HEAD', path: `${base()}/countries?id=eq.1`, headers: auth(admin) }), status: 200 },
    { name: 'the token in apikey alone', call: () => ({ method: 'GET', path: `${base()}/countries?id=eq.1`, headers: { apikey: admin } }), status: 200 },
    { name: 'a function by GET', call: () => ({ method: 'GET', path: `${base()}/rpc/add_them?a=1&b=2`, headers: auth(admin) }), status: 200 },
    { name: 'a function by POST', call: () => ({ method: 'POST', path: `${base()}/rpc/add_them`, headers: json(admin), body: '{"a":3,"b":4}' }), status: 200 },
    {
      name: 'an insert rolled back',
      call: () => ({ method: 'POST', path: `${base()}/countries`, headers: json(admin, { prefer: 'return=representation,tx=rollback' }), body: '{"id":900,"name":"Nowhere"}' }),
      status: 201,
    },
    {
      name: 'an update rolled back',
      call: () => ({ method: 'PATCH', path: `${base()}/countries?id=eq.1`, headers: json(admin, { prefer: 'return=representation,tx=rollback' }), body: '{"name":"Renamed"}' }),
      status: 200,
    },
    {
      name: 'a PUT rolled back',
      call: () => ({ method: 'PUT', path: `${base()}/countries?id=eq.901`, headers: json(admin, { prefer: 'return=representation,tx=rollback' }), body: '{"id":901,"name":"Put"}' }),
      status: 200,
    },
    { name: 'a delete rolled back', call: () => ({ method: 'DELETE', path: `${base()}/cities?id=eq.3`, headers: auth(admin, { prefer: 'return=representation,tx=rollback' }) }), status: 200 },
    { name: 'a delete refused by a foreign key', call: () => ({ method: 'DELETE', path: `${base()}/countries?id=eq.3`, headers: auth(admin) }), status: 409 },
    { name: 'PATCH without a filter', call: () => ({ method: 'PATCH', path: `${base()}/countries`, headers: json(admin), body: '{"name":"x"}' }), status: 400 },
    { name: 'an unknown table', call: () => ({ method: 'GET', path: `${base()}/nosuch`, headers: auth(admin) }), status: 404 },
    { name: 'an unknown instance', call: () => ({ method: 'GET', path: '/database/nosuch/rest/v1/countries', headers: auth(admin) }), status: 404 },
    { name: 'a bad operator', call: () => ({ method: 'GET', path: `${base()}/countries?id=nope.1`, headers: auth(admin) }), status: 400 },
    { name: 'a __proto__ key', call: () => ({ method: 'GET', path: `${base()}/countries?__proto__=eq.1`, headers: auth(admin) }), status: 400 },
    { name: 'an instance ref over 64 characters', call: () => ({ method: 'GET', path: `/database/${'x'.repeat(65)}/rest/v1/countries`, headers: auth(admin) }), status: 400 },
    { name: 'no token', call: () => ({ method: 'GET', path: `${base()}/countries` }), status: 401 },
    { name: 'a bad token', call: () => ({ method: 'GET', path: `${base()}/countries`, headers: auth('dbaas_tok_aaaaaaaaaa_' + 'A'.repeat(40)) }), status: 401 },
    { name: 'a viewer writing', call: () => ({ method: 'POST', path: `${base()}/countries`, headers: json(viewer), body: '{"id":902,"name":"No"}' }), status: 403 },
    { name: 'a token of another project', call: () => ({ method: 'GET', path: `${base()}/countries`, headers: auth(stranger) }), status: 404 },
    { name: 'a body that is not JSON', call: () => ({ method: 'POST', path: `${base()}/countries`, headers: json(admin), body: '{"id":' }), status: 400 },
    { name: 'a body over the limit', call: () => ({ method: 'POST', path: `${base()}/countries`, headers: json(admin), body: JSON.stringify({ name: 'x'.repeat(5000) }) }), status: 413 },
    { name: 'a body nested too deep', call: () => ({ method: 'POST', path: `${base()}/countries`, headers: json(admin), body: '['.repeat(70) + ']'.repeat(70) }), status: 400 },
    { name: 'a form body', call: () => ({ method: 'POST', path: `${base()}/countries`, headers: auth(admin, { 'content-type': 'application/x-www-form-urlencoded' }), body: 'id=1' }), status: 415 },
    { name: 'another site', call: () => ({ method: 'GET', path: `${base()}/countries`, headers: auth(admin, { origin: 'http://evil.example' }) }), status: 403 },
    { name: 'another host name', call: () => ({ method: 'GET', path: `${base()}/countries`, headers: auth(admin, { host: 'evil.example' }) }), status: 421 },
    { name: 'a client outside the allowed networks', call: () => ({ method: 'GET', path: `${base()}/countries`, headers: auth(admin), viaNetwork: true }), status: 403 },
    // Forms the lane leaves to express, answered the same way because express answers both.
    { name: 'a percent-encoded table name (express)', call: () => ({ method: 'GET', path: `${base()}/countr%69es?id=eq.1`, headers: auth(admin) }), status: 200, lane: false },
    { name: 'a path that does not decode (express)', call: () => ({ method: 'GET', path: `${base()}/%E0%A4%A`, headers: auth(admin) }), status: 400, lane: false },
    { name: 'a trailing slash (express)', call: () => ({ method: 'GET', path: `${base()}/countries/?id=eq.1`, headers: auth(admin) }), status: 200, lane: false },
    { name: 'OPTIONS (express)', call: () => ({ method: 'OPTIONS', path: `${base()}/countries`, headers: auth(admin) }), status: 200, lane: false },
    { name: 'a method the endpoint lacks (express)', call: () => ({ method: 'PUT', path: `${base()}/rpc/add_them`, headers: json(admin), body: '{}' }), status: 404, lane: false },
    { name: 'the schema description (express)', call: () => ({ method: 'GET', path: `${base()}/`, headers: auth(admin) }), status: 200, lane: false },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.status}${c.lane === false ? ', not taken by the lane' : ''}`, async () => {
      const { lane, express, laneTook } = await both(c.call());
      expect(lane.status, lane.body).toBe(c.status);
      expectSame(lane, express);
      expect(laneTook).toBe(c.lane ?? true);
    });
  }

  it('left nothing behind from the rolled-back writes', async () => {
    const rows = await query(created.connectionString, 'SELECT id, name FROM countries WHERE id IN (1, 3, 900, 901) ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual([1, 3]);
    expect(rows[0]?.name).not.toBe('Renamed');
    expect(await query(created.connectionString, 'SELECT id FROM cities WHERE id = 3')).toHaveLength(1);
  });

  it('writes the audit line of a write it served, under its request id', async () => {
    const answer = await send(lanePort, { method: 'DELETE', path: `${base()}/countries?id=eq.902`, headers: auth(admin) });
    expect(answer.status).toBe(204);
    const id = answer.headers['x-request-id'] as string;
    const log = join(t.home, 'logs', 'audit.ndjson');
    let line: Record<string, unknown> | undefined;
    for (let i = 0; i < 50 && !line; i++) {
      line = readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.requestId === id);
      if (!line) await new Promise((r) => setTimeout(r, 50));
    }
    expect(line).toMatchObject({ action: 'deletePostgrestRows', target: created.name, project: 'default', outcome: 'success', status: 204 });
  });

  it('shares the failed-authentication limit with the express app: 429 with Retry-After to a good token', async () => {
    const bad = { method: 'GET', path: `${base()}/countries`, headers: auth('dbaas_tok_bbbbbbbbbb_' + 'B'.repeat(40)) };
    // Failures counted through express (the default limit is 20 per window) refuse the lane's next request.
    for (let i = 0; i < 20; i++) await send(expressPort, bad);
    const { lane, express, laneTook } = await both({ method: 'GET', path: `${base()}/countries?id=eq.1`, headers: auth(admin) });
    expect(lane.status).toBe(429);
    expect(Number(lane.headers['retry-after'])).toBeGreaterThan(0);
    expect(laneTook).toBe(true);
    // The message names the seconds left, which may differ by one between the two answers.
    expect(express.status).toBe(429);
    expect(JSON.parse(lane.body).code).toBe(JSON.parse(express.body).code);
  });
});
