import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../src/api/app.js';
import { buildOpenApi } from '../../src/api/openapi.js';
import { withoutFlags } from '../../src/api/openapi30.js';
import type { RouteDef } from '../../src/api/routeTable.js';
import { loadSettings, PROJECT_ROOT } from '../../src/config/settings.js';
import { ColumnDefinitionSchema } from '../../src/database/ddl.js';
import { createLogger } from '../../src/log/logger.js';
import { createServices } from '../../src/services.js';

/**
 * The OpenAPI document as src/api/openapi.ts generates it from the route table: every operation
 * named, and Redocly's recommended rules reporting no error. Building the routes calls no service,
 * so services on a throw-away home stand behind them and no engine is needed.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let home: string;
let routes: RouteDef[];
let doc: Json;

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'dbaas-openapi-'));
  const services = createServices(loadSettings({ env: { DBAAS_HOME: home } }), { logger: createLogger({ consoleLevel: 'silent' }) });
  routes = apiRoutes(services);
  doc = buildOpenApi(routes, { version: '0.0.0-test' }) as Json;
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** Every schema object in the document with where it sits, for checks over all of them. */
function schemasOf(node: unknown, where = '#'): Array<{ where: string; schema: Json }> {
  if (typeof node !== 'object' || node === null) return [];
  if (Array.isArray(node)) return node.flatMap((v, i) => schemasOf(v, `${where}/${i}`));
  return Object.entries(node).flatMap(([key, value]) => {
    if (key === 'example' || key === 'examples' || key === 'default' || key === 'enum') return [];
    const below = schemasOf(value, `${where}/${key}`);
    return key === 'schema' || /\/schemas\/[^/]+$/.test(`${where}/${key}`) ? [{ where: `${where}/${key}`, schema: value as Json }, ...below] : below;
  });
}

describe('operationId', () => {
  it('names every route with a camelCase verb and noun, once across the API', () => {
    const ids = routes.map((r) => r.operationId);
    for (const id of ids) expect(id).toMatch(/^(get|list|create|update|delete|drop|start|stop|restart|insert|run|examine|repair|verify|restore|clone|set|revoke|rotate|stream|call|upsert|upgrade|rollback|finalize|refresh)[A-Z][A-Za-z]*$/);
    const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
    expect(twice).toEqual([]);
    expect(ids.length).toBe(routes.length);
  });

  it('is in the document for each operation', () => {
    const documented = routes.map((r) => doc.paths[r.path]?.[r.method]?.operationId);
    expect(documented).toEqual(routes.map((r) => r.operationId));
    const operations = Object.values(doc.paths as Record<string, Json>).flatMap((ops) => Object.values(ops));
    expect(operations).toHaveLength(routes.length);
  });
});

describe('schemas of the document', () => {
  it('never carry nullable without a type (OpenAPI 3.0 gives that no meaning)', () => {
    const bad = schemasOf(doc)
      .flatMap(({ where, schema }) => [{ where, schema }, ...Object.values(schema.properties ?? {}).map((s) => ({ where, schema: s as Json }))])
      .filter(({ schema }) => schema?.nullable === true && schema.type === undefined);
    expect(bad.map((b) => b.where)).toEqual([]);
    expect(JSON.stringify(doc)).not.toMatch(/\{"nullable":true\}/);
  });

  it('carry patterns that are plain ECMA regexes, with no flag left over', () => {
    const patterns = [...JSON.stringify(doc).matchAll(/"pattern":("(?:[^"\\]|\\.)*")/g)].map((m) => JSON.parse(m[1] as string) as string);
    expect(patterns.length).toBeGreaterThan(0);
    for (const pattern of patterns) {
      expect(pattern, pattern).not.toMatch(/[^\\]\/[dgimsuvy]+$/);
      expect(() => new RegExp(pattern)).not.toThrow();
    }
  });

  it('spell the case-insensitive column type pattern out, accepting what the request schema accepts', () => {
    const pattern = new RegExp(doc.components.schemas.ColumnDefinition.properties.type.pattern);
    for (const type of ['integer', 'INTEGER', 'varchar(20)', 'Numeric(10, 2)', 'timestamp WITH time zone', 'text[]', 'int;drop', '1abc', 'text[', '']) {
      const accepted = ColumnDefinitionSchema.safeParse({ name: 'c', type }).success;
      expect(pattern.test(type), type).toBe(accepted);
    }
  });

  it('name the server that serves them when given no URL', () => {
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
    expect((buildOpenApi(routes, { version: '1', serverUrl: 'http://db.example:8000' }) as Json).servers).toEqual([{ url: 'http://db.example:8000' }]);
  });
});

describe('withoutFlags', () => {
  it.each([
    ['^[a-z]+$', '^[a-z]+$'],
    ['^[a-z]+$/i', '^[a-zA-Z]+$'],
    ['^ab\\d$/iu', '^[aA][bB]\\d$'],
    ['^[^x_]$/i', '^[^xX_]$'],
    ['^a\\/i$', '^a\\/i$'], // an escaped slash is text, not the end of the regex
    ['^(?<word>a)$/i', '^(?<word>[aA])$'],
  ])('%s -> %s', (input, expected) => {
    expect(withoutFlags(input)).toBe(expected);
  });

  it('matches what the flagged regex matches', () => {
    const source = '^[a-f][a-z0-9_]*( ?\\(\\d+\\))?x$';
    const written = new RegExp(withoutFlags(`${source}/i`));
    for (const text of ['abx', 'ABX', 'aB_9 (12)X', 'gx', 'a(1)x', 'a (1x', 'Fx', '']) {
      expect(written.test(text), text).toBe(new RegExp(source, 'i').test(text));
    }
  });

  it('refuses a flag it cannot write out', () => {
    expect(() => withoutFlags('^a.b$/s')).toThrow(/flag\(s\) s/);
    expect(() => withoutFlags('^a$/m')).toThrow(/flag\(s\) m/);
  });
});

describe('Redocly lint (recommended rules)', () => {
  it('reports no error, security-defined included (every route but /health needs a token)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbaas-redocly-'));
    try {
      writeFileSync(join(dir, 'openapi.json'), JSON.stringify(doc, null, 2));
      writeFileSync(join(dir, 'redocly.yaml'), 'extends:\n  - recommended\n');
      const cli = join(PROJECT_ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
      const run = await promisify(execFile)(
        process.execPath,
        [cli, 'lint', '--config', join(dir, 'redocly.yaml'), '--format', 'json', join(dir, 'openapi.json')],
        { cwd: dir, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' } },
      ).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }));
      // It exits 1 when it finds errors; its report is on stdout either way.
      expect(run.stdout, run.stderr).toMatch(/^\s*\{/);
      const report = JSON.parse(run.stdout) as { totals: { errors: number; warnings: number }; problems: Array<{ ruleId: string; severity: string; message: string; location: Array<{ pointer: string }> }> };
      const errors = report.problems.filter((p) => p.severity === 'error').map((p) => `${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`);
      expect(errors).toEqual([]);
      expect(report.totals.errors).toBe(0);
      // Warnings may stay; today one: info-license (the package states no license).
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
