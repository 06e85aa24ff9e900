import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import { freePort, makeHome, serveRemote, type TestHome } from './helpers.js';

/**
 * The remote CLI beyond what cli.test.ts and cli-data.test.ts run in both modes: `dbaas login`
 * and `logout`, long operations followed to their end (a backup), monitoring, the doctor, tokens
 * and the audit log of the server, a token's role, and a server that cannot be reached.
 */

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('the CLI against a remote server', () => {
  let t: TestHome;
  let server: Awaited<ReturnType<typeof serveRemote>>;
  let credentials: string;
  /** A client machine: no DBAAS_URL, its own credentials file, nothing of the server's home. */
  let client: NodeJS.ProcessEnv;

  const dbaas = (env: NodeJS.ProcessEnv, args: string[], input?: string) => {
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin', 'dbaas'), ...args], { env, encoding: 'utf8', input, timeout: 180_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const json = (r: { stdout: string; stderr: string }) => {
    try {
      return JSON.parse(r.stdout) as Json;
    } catch {
      throw new Error(`not JSON: ${r.stdout}\n${r.stderr}`);
    }
  };

  beforeAll(async () => {
    t = makeHome(23600);
    server = await serveRemote(t);
    credentials = join(t.home, 'client', 'credentials.json');
    client = { PATH: process.env.PATH, HOME: join(t.home, 'client'), DBAAS_CREDENTIALS: credentials, DBAAS_HOME: join(t.home, 'client-home') };
  });
  afterAll(async () => {
    await server?.stop();
    await t?.cleanup();
  });

  it('logs in only with a token the server accepts and a certificate it trusts; saves the login 0600', () => {
    const ca = server.env.DBAAS_CA_FILE as string;
    const untrusted = dbaas(client, ['login', server.url, '--token-file', '-'], server.token);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/API_UNREACHABLE/);
    const wrong = dbaas(client, ['login', server.url, '--token-file', '-', '--ca-file', ca], 'dbaas_tok_0000000000_' + 'x'.repeat(40));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/UNAUTHORIZED/);
    expect(existsSync(credentials)).toBe(false);
    const ok = dbaas(client, ['login', server.url, '--token-file', '-', '--ca-file', ca, '--json'], server.token);
    expect(ok.code, ok.stderr).toBe(0);
    expect(json(ok)).toMatchObject({ url: server.url, credentials, instances: 0 });
    expect(statSync(credentials).mode & 0o777).toBe(0o600);
  });

  it('creates, backs up (following the operation to its end), and reads metrics, the agent and the doctor', async () => {
    const created = json(dbaas(client, ['create', 'far-away', '--memory', '160m', '--cpus', '0.5', '--json']));
    expect(created).toMatchObject({ name: 'far-away', status: 'running' });
    expect(await t.manager.record('far-away')).toMatchObject({ id: created.id });
    const backup = dbaas(client, ['backup', 'create', 'far-away', '--type', 'logical', '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    expect(json(backup)).toMatchObject({ instance: created.id, type: 'logical' });
    expect(json(dbaas(client, ['backup', 'list', 'far-away', '--json'])).backups).toHaveLength(1);
    expect(json(dbaas(client, ['agent', 'status', 'far-away', '--json']))).toMatchObject({ instance: expect.any(String) });
    expect(json(dbaas(client, ['metrics', 'far-away', '--latest', '--json']))).toMatchObject({ current: expect.any(Boolean), corruptLines: 0 });
    expect(json(dbaas(client, ['metrics', 'far-away', '--since', '10m', '--json']))).toHaveProperty('samples');
    const doctor = dbaas(client, ['doctor', '--json']);
    expect(json(doctor)).toHaveProperty('findings');
    const tokens = json(dbaas(client, ['token', 'list', '--json'])).tokens as Json[];
    expect(tokens.some((x) => x.name.startsWith('remote-cli'))).toBe(true);
    const audit = json(dbaas(client, ['audit', '--json'])).entries as Json[];
    expect(audit.find((e) => e.action === 'createBackup')).toMatchObject({ outcome: 'success', actor: { name: expect.stringMatching(/^remote-cli/) } });
  });

  it("acts with its token's role: a viewer is refused a delete (exit 1, FORBIDDEN) and sees no secrets", () => {
    const viewer = json(dbaas(client, ['token', 'create', '--name', 'looker', '--role', 'viewer', '--json'])).token as string;
    const asViewer = { ...client, DBAAS_URL: server.url, DBAAS_TOKEN: viewer, DBAAS_CA_FILE: server.env.DBAAS_CA_FILE };
    const refused = dbaas(asViewer, ['delete', 'far-away', '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/instances:delete \[FORBIDDEN\]/);
    expect(dbaas(asViewer, ['connect', 'far-away', '--show-password']).stderr).toMatch(/instances:secrets \[FORBIDDEN\]/);
    expect(dbaas(asViewer, ['list', '--json']).code).toBe(0);
  });

  it('says so when the server cannot be reached, and logs out', async () => {
    const nowhere = { ...client, DBAAS_URL: `http://127.0.0.1:${await freePort()}`, DBAAS_TOKEN: 'x' };
    const down = dbaas(nowhere, ['list']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot reach the dbaas server .* \[API_UNREACHABLE\]/);
    expect(dbaas(client, ['delete', 'far-away', '--yes']).code).toBe(0);
    expect(dbaas(client, ['logout']).stdout).toMatch(/logged out/);
    expect(existsSync(credentials)).toBe(false);
    // Logged out, the client machine is a host of its own again: an empty installation.
    expect(json(dbaas(client, ['list', '--json']))).toEqual({ instances: [] });
    expect(readFileSync(join(t.home, 'logs', 'audit.ndjson'), 'utf8')).not.toContain(server.token);
  });
});
