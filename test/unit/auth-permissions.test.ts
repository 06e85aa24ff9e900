import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessGuard } from '../../src/api/access.js';
import { preambleMiddleware, requestPreamble } from '../../src/api/gates.js';
import { apiRoutes } from '../../src/api/app.js';
import { errorHandler } from '../../src/api/errors.js';
import { buildOpenApi } from '../../src/api/openapi.js';
import { buildRouter, route, type RouteDef } from '../../src/api/routeTable.js';
import { AuditLog } from '../../src/auth/audit.js';
import { IdempotencyStore } from '../../src/auth/idempotency.js';
import { PERMISSIONS, ROLE_PERMISSIONS, ROLES, type Role } from '../../src/auth/permissions.js';
import { TokenStore } from '../../src/auth/tokens.js';
import { loadSettings } from '../../src/config/settings.js';
import { createLogger } from '../../src/log/logger.js';
import { createServices } from '../../src/services.js';

/**
 * The permission matrix, generated from the route table: every route × every role × a target in
 * the token's own project or in another, plus no token at all. The routes are the real
 * declarations and the guard is the real one (tokens in a real token file); only the handlers are
 * replaced by one that answers 200, so that what is measured is access control alone, and no
 * route does its work (no engine is needed).
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const OWN = 'alpha';
const OTHER = 'beta';
let home: string;
let routes: RouteDef[];
let server: Server;
let base: string;
const tokens: Partial<Record<Role, string>> = {};

/** A concrete path for a route: its target lies in `project` (the fake resolver reads it from the ref). */
function pathOf(def: RouteDef, project: string): string {
  return def.path
    .replace('{ref}', `inst-${project}`)
    .replace('{id}', def.path.startsWith('/backups') ? `bk_20261124000000${project.slice(0, 4)}` : def.path.startsWith('/operations') ? `op_${project}` : `tok_${project}`)
    .replace('{table}', 't')
    .replace('{pk}', '1');
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'dbaas-perm-'));
  const services = createServices(loadSettings({ env: { DBAAS_HOME: home } }), { logger: createLogger({ consoleLevel: 'silent' }) });
  routes = apiRoutes(services);
  const store = new TokenStore(join(home, 'config', 'tokens.json'));
  for (const role of ROLES) {
    tokens[role] = (await store.create({ name: role, role, ...(role === 'admin' ? {} : { project: OWN }) })).token;
  }
  // The real declarations with a handler that only says it was reached (and no schema, so that
  // validation cannot answer first).
  const reached = routes.map((def) =>
    route({ ...def, params: undefined, query: undefined, body: undefined, handler: async () => ({ reached: def.operationId }) }),
  );
  const app = express();
  app.use(preambleMiddleware(requestPreamble(new AuditLog(join(home, 'logs', 'audit.ndjson'), { maxFileBytes: 1 << 20, keep: 5 }), createLogger({ consoleLevel: 'silent' }), [])));
  app.use(express.json());
  const guard = new AccessGuard({
    tokens: store,
    idempotency: new IdempotencyStore(join(home, 'config', 'idempotency'), { seal: (s) => s, open: (s) => s }),
    projectOf: async (_scope, ref) => (ref.includes(OWN.slice(0, 4)) ? OWN : ref.includes(OTHER.slice(0, 4)) ? OTHER : undefined),
  });
  app.use(buildRouter(reached, guard));
  app.use(errorHandler(createLogger({ consoleLevel: 'silent' })));
  await new Promise<void>((resolve) => {
    server = app.listen(0, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(home, { recursive: true, force: true });
});

async function call(def: RouteDef, project: string, token?: string): Promise<{ status: number; body: Json; auth: string | null }> {
  const res = await fetch(base + pathOf(def, project), {
    method: def.method.toUpperCase(),
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(def.method === 'get' ? {} : { 'content-type': 'application/json' }) },
    ...(def.method === 'get' ? {} : { body: '{}' }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {}, auth: res.headers.get('www-authenticate') };
}

describe('the route table', () => {
  it('declares a known permission and a scope for every route; only GET /health is public', () => {
    for (const def of routes) {
      expect([...PERMISSIONS, 'public'], `${def.method} ${def.path}`).toContain(def.permission);
      expect(['instance', 'backup', 'operation', 'none'], `${def.method} ${def.path}`).toContain(def.scope);
    }
    expect(routes.filter((d) => d.permission === 'public').map((d) => `${d.method} ${d.path}`)).toEqual(['get /health']);
  });

  it('scopes every route that names an instance, a backup or an operation to its project', () => {
    for (const def of routes) {
      const expected = def.path.includes('{ref}') ? 'instance' : def.path.startsWith('/backups/{id}') ? 'backup' : def.path.startsWith('/operations/{id}') ? 'operation' : 'none';
      expect(def.scope, `${def.method} ${def.path}`).toBe(expected);
    }
  });

  it('refuses to serve a route added without a permission', () => {
    const bare = { ...routes[0], permission: undefined } as unknown as RouteDef;
    expect(() => buildRouter([bare], {} as never)).toThrow(/declares no permission/);
  });

  it('puts the security scheme and each operation\'s permission in the OpenAPI document', () => {
    const doc = buildOpenApi(routes, { version: 'test' }) as Json;
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const def of routes) {
      const op = doc.paths[def.path][def.method] as Json;
      expect(op['x-permission'], def.operationId).toBe(def.permission);
      expect(op.security, def.operationId).toEqual(def.permission === 'public' ? [] : [{ bearerAuth: [] }]);
      if (def.permission !== 'public') expect(Object.keys(op.responses), def.operationId).toEqual(expect.arrayContaining(['401', '403']));
    }
  });
});

/**
 * The code of a refusal and the permission it names. The PostgREST-compatible routes answer in
 * PostgREST's body (code, message, details, hint): 401 is PGRST301, 403 is 42501 with the
 * permission in its hint; dbaas's own codes stay for what PostgREST has none of.
 */
function errorOf(def: RouteDef, body: Json): { code: string; permission?: string } {
  if (!/\/rest\/v1(\/|$)/.test(def.path)) return { code: body.error.code, permission: body.error.details?.permission };
  expect(Object.keys(body).sort()).toEqual(['code', 'details', 'hint', 'message']);
  const code = body.code === 'PGRST301' ? 'UNAUTHORIZED' : body.code === '42501' ? 'FORBIDDEN' : body.code;
  return { code, permission: /permission (\S+)$/.exec(body.hint ?? '')?.[1] };
}

describe('the permission matrix', () => {
  it('answers 401 with WWW-Authenticate: Bearer on every route but /health without a token', async () => {
    for (const def of routes) {
      const res = await call(def, OWN);
      if (def.permission === 'public') {
        expect(res.status, def.operationId).toBe(def.success.status);
      } else {
        expect(res.status, def.operationId).toBe(401);
        expect(errorOf(def, res.body).code).toBe('UNAUTHORIZED');
        expect(res.auth).toBe('Bearer realm="dbaas"');
      }
    }
  });

  for (const role of ROLES) {
    for (const project of [OWN, OTHER]) {
      it(`gives ${role} in ${project === OWN ? 'its own' : 'another'} project 403, 404 or the route, as the table says`, async () => {
        const seen: string[] = [];
        for (const def of routes) {
          const res = await call(def, project, tokens[role]);
          const allowed = def.permission === 'public' || ROLE_PERMISSIONS[role].has(def.permission);
          const visible = role === 'admin' || project === OWN || def.scope === 'none';
          const expected = !allowed ? 403 : !visible ? 404 : def.success.status;
          expect(res.status, `${role} ${def.method.toUpperCase()} ${pathOf(def, project)}: ${JSON.stringify(res.body)}`).toBe(expected);
          if (expected === 403) {
            expect(errorOf(def, res.body)).toMatchObject({ code: 'FORBIDDEN', permission: def.permission });
          }
          if (expected === 404) expect(errorOf(def, res.body).code).toMatch(/^(INSTANCE|BACKUP|OPERATION)_NOT_FOUND$/);
          if (expected === def.success.status) expect(res.body).toEqual({ reached: def.operationId });
          seen.push(expected === def.success.status ? 'reached' : `${expected}`);
        }
        // The matrix is not vacuous: every role meets each answer it can get.
        expect(seen).toContain('reached');
        if (role !== 'admin') expect(seen).toContain('403');
        if (role !== 'admin' && project === OTHER) expect(seen).toContain('404');
      });
    }
  }

  it('refuses unknown, malformed and revoked tokens with 401 and error="invalid_token"', async () => {
    const health = routes.find((d) => d.operationId === 'listInstances') as RouteDef;
    const store = new TokenStore(join(home, 'config', 'tokens.json'));
    const gone = await store.create({ name: 'gone', role: 'viewer' });
    await store.revoke('gone');
    const forged = (tokens.admin as string).slice(0, -4) + 'AAAA';
    for (const bad of ['nonsense', forged, gone.token]) {
      const res = await call(health, OWN, bad);
      expect(res.status).toBe(401);
      expect(res.auth).toBe('Bearer realm="dbaas", error="invalid_token"');
    }
  });

  it('audits changes and refused changes, never the token', async () => {
    const del = routes.find((d) => d.operationId === 'deleteInstance') as RouteDef;
    await call(del, OWN, tokens.viewer);
    await call(del, OWN, tokens.owner);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const text = readFileSync(join(home, 'logs', 'audit.ndjson'), 'utf8');
    for (const token of Object.values(tokens)) expect(text).not.toContain(token as string);
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Json).filter((l) => l.action === 'deleteInstance' && l.actor?.name);
    expect(lines.find((l) => l.actor.name === 'viewer')).toMatchObject({ outcome: 'denied', status: 403, error: 'FORBIDDEN', target: `inst-${OWN}`, project: null });
    expect(lines.find((l) => l.actor.name === 'owner')).toMatchObject({ outcome: 'success', status: 200, target: `inst-${OWN}`, project: OWN, client: '127.0.0.1' });
  });
});
