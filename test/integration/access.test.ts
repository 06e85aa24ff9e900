import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import { createLogger } from '../../src/log/logger.js';
import { adminToken, freePort, makeHome, query, until, type TestHome } from './helpers.js';

/**
 * Access control against a real server and real instances: tokens of two projects, each role's
 * reach, idempotency keys under concurrency, the limit on failed authentications, the network
 * allowlist, and `dbaas serve` on a network address (refused without TLS, served over TLS from
 * the local CA). The full route × role matrix is test/unit/auth-permissions.test.ts.
 */

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** An IPv4 address of this host that is not loopback (docker0's at least), to be a "network" client. */
function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this host has no non-loopback IPv4 address');
}

function listen(t: TestHome, host = '127.0.0.1'): Promise<{ server: Server; base: string }> {
  const app = createApp(t.services, createLogger({ consoleLevel: 'silent' }));
  return new Promise((resolve) => {
    const server = app.listen(0, host, () => resolve({ server, base: `http://${host}:${(server.address() as { port: number }).port}` }));
  });
}

async function call(base: string, token: string | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let parsed: Json = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Every file under a folder, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('tokens, projects and roles on a real server', () => {
  let t: TestHome;
  let server: Server;
  let base: string;
  let admin: string;
  const tok: Record<string, string> = {};
  const passwords: string[] = [];

  beforeAll(async () => {
    t = makeHome(23450);
    admin = await adminToken(t);
    ({ server, base } = await listen(t));
    for (const [name, role] of [['own', 'owner'], ['dev', 'developer'], ['view', 'viewer']] as const) {
      const made = await call(base, admin, 'POST', '/tokens', { name, role, project: 'alpha' });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      tok[name] = made.body.token;
    }
    tok.other = (await call(base, admin, 'POST', '/tokens', { name: 'other', role: 'owner', project: 'beta' })).body.token;
  });
  afterAll(async () => {
    server?.close();
    await t?.cleanup();
  });

  it('lets an owner create in its project only; an admin anywhere', async () => {
    const a = await call(base, tok.own as string, 'POST', '/instances', { name: 'alpha-db', memory: '128m', cpus: 0.3 });
    expect(a.status, JSON.stringify(a.body)).toBe(201);
    expect(a.body.project).toBe('alpha');
    passwords.push(a.body.password);
    const elsewhere = await call(base, tok.own as string, 'POST', '/instances', { name: 'sneaky', project: 'beta' });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.body.error.code).toBe('FORBIDDEN');
    const b = await call(base, admin, 'POST', '/instances', { name: 'beta-db', project: 'beta', memory: '128m', cpus: 0.3 });
    expect(b.status, JSON.stringify(b.body)).toBe(201);
    expect(b.body.project).toBe('beta');
    passwords.push(b.body.password);
    const dev = await call(base, tok.dev as string, 'POST', '/instances', { name: 'dev-db' });
    expect(dev.status).toBe(403);
    expect(dev.body.error.details.permission).toBe('instances:create');
  });

  it('shows a token only its project: lists filter, another project\'s instance is 404 by id and by name', async () => {
    const names = async (token: string) => (await call(base, token, 'GET', '/instances')).body.instances.map((i: Json) => i.name).sort();
    expect(await names(admin)).toEqual(['alpha-db', 'beta-db']);
    expect(await names(tok.view as string)).toEqual(['alpha-db']);
    expect(await names(tok.other as string)).toEqual(['beta-db']);
    const beta = await t.manager.record('beta-db');
    for (const ref of ['beta-db', beta.id]) {
      for (const path of [`/instances/${ref}`, `/instances/${ref}/connection`, `/database/${ref}/tables`, `/monitoring/${ref}/metrics/latest`]) {
        const res = await call(base, tok.own as string, 'GET', path);
        expect(res.status, path).toBe(404);
        expect(res.body.error.code).toBe('INSTANCE_NOT_FOUND');
      }
    }
    // The Prometheus export names only the project's instances.
    const metrics = (await call(base, tok.view as string, 'GET', '/metrics')).body as string;
    expect(metrics).toContain('alpha-db');
    expect(metrics).not.toContain('beta-db');
  });

  it('gives each role its reach: passwords for developers and owners, data writes not for viewers', async () => {
    const withPassword = (token: string) => call(base, token, 'GET', '/instances/alpha-db/connection?showPassword=true');
    expect((await withPassword(tok.dev as string)).body.password).toBe(passwords[0]);
    expect((await withPassword(tok.own as string)).status).toBe(200);
    const viewer = await withPassword(tok.view as string);
    expect(viewer.status).toBe(403);
    expect(viewer.body.error.details.permission).toBe('instances:secrets');
    const plain = await call(base, tok.view as string, 'GET', '/instances/alpha-db/connection');
    expect(plain.status).toBe(200);
    expect(plain.body.password).toBeUndefined();

    const record = await t.manager.record('alpha-db');
    expect(record.project).toBe('alpha');
    const url = (await t.manager.connection('alpha-db', { showPassword: true })).connectionString;
    await query(url, 'CREATE TABLE notes (id serial PRIMARY KEY, body text)');
    expect((await call(base, tok.dev as string, 'POST', '/database/alpha-db/tables/notes/rows', { body: 'hello' })).status).toBe(201);
    const denied = await call(base, tok.view as string, 'POST', '/database/alpha-db/tables/notes/rows', { body: 'no' });
    expect(denied.status).toBe(403);
    expect(denied.body.error.details.permission).toBe('data:write');
    const rows = await call(base, tok.view as string, 'GET', '/database/alpha-db/tables/notes/rows');
    expect(rows.body.rows.map((r: Json) => r.body)).toEqual(['hello']);
    expect((await call(base, tok.dev as string, 'DELETE', '/instances/alpha-db')).status).toBe(403);
    expect((await call(base, tok.own as string, 'POST', '/instances/alpha-db/restart')).status).toBe(200);
  });

  it('refuses expired and revoked tokens with 401, and a revoked one at once', async () => {
    const short = await call(base, admin, 'POST', '/tokens', { name: 'short', role: 'viewer', project: 'alpha', expiresInSec: 1 });
    expect((await call(base, short.body.token, 'GET', '/instances')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1200));
    const expired = await call(base, short.body.token, 'GET', '/instances');
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toBe('Bearer realm="dbaas", error="invalid_token"');
    expect(expired.body.error.details.reason).toBe('expired');
    expect((await call(base, admin, 'DELETE', '/tokens/view')).status).toBe(200);
    expect((await call(base, tok.view as string, 'GET', '/instances')).body.error.details.reason).toBe('revoked');
    const listed = (await call(base, admin, 'GET', '/tokens')).body.tokens;
    expect(listed.find((x: Json) => x.name === 'view').state).toBe('revoked');
    expect(JSON.stringify(listed)).not.toMatch(/hash|dbaas_tok_/);
  });

  it('makes one instance of two concurrent creates with one Idempotency-Key, and refuses the key with another body', async () => {
    const body = { name: 'once-only', memory: '128m', cpus: 0.3 };
    const key = { 'idempotency-key': 'create-once-1' };
    const [first, second] = await Promise.all([
      call(base, tok.own as string, 'POST', '/instances', body, key),
      call(base, tok.own as string, 'POST', '/instances', body, key),
    ]);
    expect([first.status, second.status].sort()).toEqual([201, 201]);
    expect(first.body.id).toBe(second.body.id);
    expect([first.headers.get('idempotent-replayed'), second.headers.get('idempotent-replayed')]).toContain('true');
    const mine = (await t.manager.records()).filter((r) => r.name === 'once-only');
    expect(mine).toHaveLength(1);
    const again = await call(base, tok.own as string, 'POST', '/instances', body, key);
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(first.body.id);
    const changed = await call(base, tok.own as string, 'POST', '/instances', { ...body, cpus: 0.4 }, key);
    expect(changed.status).toBe(422);
    expect(changed.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    // The key is the caller's own: another token's same key is another request.
    const otherCaller = await call(base, tok.other as string, 'POST', '/instances', { ...body, name: 'once-beta' }, key);
    expect(otherCaller.status).toBe(201);
    passwords.push(first.body.password, otherCaller.body.password);
  });

  it('audits changes and secret reads with who, from where and the outcome; the CLI on the host writes the same log', async () => {
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'stop', 'once-beta', '--json'], { env: t.env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const entries = (await call(base, admin, 'GET', '/audit')).body.entries as Json[];
    expect(entries.find((e) => e.action === 'getInstanceConnection' && e.actor?.name === 'dev')).toMatchObject({
      outcome: 'success',
      target: 'alpha-db',
      project: 'alpha',
      client: '127.0.0.1',
    });
    expect(entries.find((e) => e.action === 'deleteInstance' && e.actor?.name === 'dev')).toMatchObject({ outcome: 'denied', status: 403, error: 'FORBIDDEN' });
    expect(entries.find((e) => e.action === 'cli:stop')).toMatchObject({ actor: { kind: 'local', name: 'local' }, client: 'cli', target: 'once-beta', outcome: 'success' });
    expect(entries.some((e) => e.action === 'listInstances')).toBe(false);
    expect(entries.find((e) => e.action === 'createInstance' && e.actor?.name === 'own' && e.outcome === 'success')?.project).toBe('alpha');
    const alphaOnly = (await call(base, admin, 'GET', '/audit?project=beta')).body.entries as Json[];
    expect(alphaOnly.length).toBeGreaterThan(0);
    expect(alphaOnly.every((e) => e.project === 'beta' || e.actor?.project === 'beta')).toBe(true);
    expect((await call(base, tok.own as string, 'GET', '/audit')).status).toBe(403);
  });

  it('never writes a token or a password into logs/ or config/ (grep with the real values)', async () => {
    await new Promise((r) => setTimeout(r, 200));
    const secrets = [admin, ...Object.values(tok), ...passwords].filter(Boolean);
    expect(secrets.length).toBeGreaterThan(6);
    const files = [...filesUnder(join(t.home, 'logs')), ...filesUnder(join(t.home, 'config'))].filter((f) => statSync(f).size < 50 * 1024 * 1024);
    expect(files.some((f) => f.endsWith('audit.ndjson'))).toBe(true);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const secret of secrets) expect(text.includes(secret), `${file} holds a secret`).toBe(false);
    }
  });
});

describe('who may reach the API at all', () => {
  let t: TestHome;
  afterAll(async () => t?.cleanup());

  it('answers 429 with Retry-After after too many failed authentications from one address, even to a good token', async () => {
    t = makeHome(23460, { DBAAS_AUTH_FAILURE_LIMIT: '3', DBAAS_AUTH_FAILURE_WINDOW: '60' });
    const good = await adminToken(t);
    const { server, base } = await listen(t);
    try {
      // Good requests never count, however many are in flight at once.
      const burst = await Promise.all(Array.from({ length: 12 }, () => call(base, good, 'GET', '/instances')));
      expect(burst.map((r) => r.status)).toEqual(Array(12).fill(200));
      for (let i = 0; i < 3; i++) expect((await call(base, `dbaas_tok_guess${i}`, 'GET', '/instances')).status).toBe(401);
      const limited = await call(base, good, 'GET', '/instances');
      expect(limited.status).toBe(429);
      expect(limited.body.error.code).toBe('RATE_LIMITED');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      server.close();
    }
  });

  it('refuses a client outside DBAAS_ALLOWED_NETWORKS before looking at its token', async () => {
    const address = hostAddress();
    const refusing = makeHome(23465, { DBAAS_ALLOWED_NETWORKS: '203.0.113.0/24', DBAAS_API_ALLOWED_HOSTS: address });
    const allowing = makeHome(23470, { DBAAS_ALLOWED_NETWORKS: `${address}/32`, DBAAS_API_ALLOWED_HOSTS: address });
    const a = await listen(refusing, address);
    const b = await listen(allowing, address);
    try {
      const token = await adminToken(refusing);
      const refused = await call(a.base, token, 'GET', '/instances');
      expect(refused.status).toBe(403);
      expect(refused.body.error).toMatchObject({ code: 'NETWORK_NOT_ALLOWED', details: { client: address } });
      expect((await call(a.base, null, 'GET', '/health')).status).toBe(403);
      expect((await call(b.base, await adminToken(allowing), 'GET', '/instances')).status).toBe(200);
    } finally {
      a.server.close();
      b.server.close();
      await refusing.cleanup();
      await allowing.cleanup();
    }
  });
});

describe('dbaas serve on a network address', () => {
  let t: TestHome;
  let child: ChildProcess | undefined;
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await t?.cleanup();
  });
  const dbaas = (...args: string[]) => spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), ...args], { env: t.env, encoding: 'utf8' });

  it('refuses without TLS or without a token (exit 2, naming what is missing), unless --insecure', async () => {
    t = makeHome(23475);
    const address = hostAddress();
    const port = String(await freePort());
    const bare = dbaas('serve', '--host', address, '--port', port);
    expect(bare.status).toBe(2);
    expect(bare.stderr).toMatch(/without TLS .* and without a token/);
    const withTlsNoToken = dbaas('serve', '--host', address, '--port', port, '--tls', 'auto');
    expect(withTlsNoToken.status).toBe(2);
    expect(withTlsNoToken.stderr).toMatch(/without a token/);
    expect(withTlsNoToken.stderr).not.toMatch(/without TLS/);
  });

  it('serves HTTPS with a certificate from the local CA that `dbaas ca` prints, to a client that verifies it', async () => {
    const address = hostAddress();
    const port = await freePort();
    const token = await adminToken(t);
    child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), 'serve', '--host', address, '--port', String(port), '--tls', 'auto'], {
      env: { ...t.env, DBAAS_API_ALLOWED_HOSTS: address },
      stdio: 'ignore',
    });
    const ca = dbaas('ca');
    expect(ca.status).toBe(0);
    expect(ca.stdout).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const get = (path: string, trust: string | undefined) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpsRequest({ host: address, port, path, method: 'GET', headers: { authorization: `Bearer ${token}` }, ...(trust ? { ca: trust } : {}) }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const answer = await until('dbaas serve over TLS', () => get('/instances', ca.stdout).catch(() => undefined), 30_000);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ instances: [] });
    // A client without the CA refuses the certificate: it is not a public one.
    await expect(get('/instances', undefined)).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    const key = statSync(join(t.home, 'config', 'ca', 'ca.key'));
    expect(key.mode & 0o077).toBe(0);
  });
});
