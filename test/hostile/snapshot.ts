/**
 * What the corpus must leave as it found it: the registry file, the engine's containers of the
 * home (ids, names, state, environment, command, host config), and the instance's data.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { containersOf, docker, query } from '../integration/helpers.js';

export interface StateSnapshot {
  registry: unknown;
  engine: unknown;
  data: unknown;
}

async function registryOf(home: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(join(home, 'config', 'instances.json'), 'utf8'));
  } catch (err) {
    return { unreadable: (err as Error).message };
  }
}

async function engineOf(home: string): Promise<unknown> {
  const containers = (await containersOf(home)).sort((a, b) => (a.Names[0] ?? '').localeCompare(b.Names[0] ?? ''));
  return Promise.all(
    containers.map(async (c) => {
      const inspect = await docker.getContainer(c.Id).inspect();
      return {
        id: c.Id,
        names: c.Names,
        state: c.State,
        running: inspect.State.Running,
        startedAt: inspect.State.StartedAt,
        restartCount: inspect.RestartCount,
        env: inspect.Config.Env,
        cmd: inspect.Config.Cmd,
        hostConfig: inspect.HostConfig,
      };
    }),
  );
}

async function dataOf(connectionString: string, table: string, keyColumn: string): Promise<unknown> {
  try {
    const tables = await query(
      connectionString,
      `SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%'
        ORDER BY 1, 2`,
    );
    const quoted = `"${table.replace(/"/g, '""')}"`;
    const [rows] = await query(
      connectionString,
      `SELECT count(*)::int AS count, md5(coalesce(string_agg(t::text, '|' ORDER BY t."${keyColumn}"), '')) AS md5 FROM ${quoted} t`,
    );
    return { tables, rows };
  } catch (err) {
    return { unreadable: (err as Error).message };
  }
}

export async function snapshot(home: string, connectionString: string, table: string, keyColumn: string): Promise<StateSnapshot> {
  const [registry, engine, data] = await Promise.all([registryOf(home), engineOf(home), dataOf(connectionString, table, keyColumn)]);
  return { registry, engine, data };
}
