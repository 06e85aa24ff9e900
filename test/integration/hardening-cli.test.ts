/**
 * Regression tests of issue 7 for the CLI as a child process (item 12, and the CLI side of items
 * 2 and 11): usage errors exit 2, failures exit 1 with one line on stderr, never a stack trace.
 */
import { execFile, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { makeHome, type TestHome } from './helpers.js';

const execFileAsync = promisify(execFile);
const BIN = join(PROJECT_ROOT, 'bin', 'dbaas');
/** A port of this file's range (22550-22599) that a test holds with a listener of its own. */
const BUSY_PORT = 22599;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** What a Node stack trace prints: "    at fn (file:line)", or an unhandled 'error' event. */
const STACK_TRACE = /^\s+at .+|node:events|node:internal|Unhandled 'error' event/m;

describe('issue 7: the CLI', () => {
  let t: TestHome;

  /** Starts `dbaas ...args` with the test home; the child is killed after `timeoutMs`. */
  function start(args: string[], timeoutMs = 60_000): { done: Promise<Run>; kill(): void } {
    const started = Date.now();
    const child = spawn(process.execPath, [BIN, ...args], { env: t.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const done = new Promise<Run>((resolve) => {
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
      });
    });
    return { done, kill: () => child.kill('SIGKILL') };
  }
  const dbaas = (...args: string[]) => start(args).done;

  beforeAll(() => {
    t = makeHome(22550);
  });
  afterAll(async () => t?.cleanup());

  describe('item 12: exit codes and messages', () => {
    it('`dbaas` with no arguments exits 2 and prints the help on stderr', async () => {
      const run = await dbaas();
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(/^Usage: dbaas /m);
      expect(run.stderr).toContain('serve');
      expect(run.stdout).toBe('');
    });

    it('`dbaas serve --port abc` exits 2 with a usage message naming the flag', async () => {
      const run = await start(['serve', '--port', 'abc'], 30_000).done;
      expect(run.signal, 'dbaas serve --port abc kept running').toBeNull();
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(/--port/);
      expect(run.stderr).toContain('abc');
      expect(run.stderr).not.toContain('[INTERNAL]');
      expect(run.stdout + run.stderr).not.toMatch(/listening/i);
      expect(run.stderr).not.toMatch(STACK_TRACE);
    });

    it('`dbaas serve` on a port another process holds exits 1 with PORT_IN_USE and never says "listening"', async () => {
      const holder: Server = await new Promise((resolve, reject) => {
        const s = createServer().listen(BUSY_PORT, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      });
      try {
        const run = await start(['serve', '--host', '127.0.0.1', '--port', String(BUSY_PORT)], 30_000).done;
        expect(run.signal, 'dbaas serve on a busy port kept running').toBeNull();
        expect(run.code, run.stdout + run.stderr).toBe(1);
        expect(run.stderr).toContain('[PORT_IN_USE]');
        expect(run.stderr).toContain(String(BUSY_PORT));
        expect(run.stdout + run.stderr).not.toMatch(/listening/i);
        expect(run.stderr).not.toMatch(STACK_TRACE);
      } finally {
        await new Promise((resolve) => holder.close(resolve));
      }
    });

    it('`dbaas create --cpus abc` exits 2 with a usage message naming the flag; nothing is created', async () => {
      const run = await dbaas('create', 'hcx-cpus', '--cpus', 'abc');
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(/--cpus/);
      expect(run.stderr).toContain('abc');
      expect(run.stderr).not.toMatch(STACK_TRACE);
      // Not a number either, though Number() reads it as 1: strict, as over REST (item 11).
      const hex = await dbaas('create', 'hcx-cpus', '--cpus', '0x1', '--memory', '128m');
      expect(hex.code, hex.stderr).toBe(2);
      expect(hex.stderr).toMatch(/--cpus/);
      const list = await dbaas('list', '--json');
      expect(list.code, list.stderr).toBe(0);
      expect(JSON.parse(list.stdout).instances).toEqual([]);
    });
  });

  describe('item 2: a connection lost under a query', () => {
    let created: CreatedInstance;

    beforeAll(async () => {
      created = await t.manager.create({ name: 'hcx-query', memory: '192m', cpus: 0.5 });
    });

    /** Runs SQL as the superuser inside the server container (peer login over the socket). */
    async function asSuperuser(sql: string): Promise<string> {
      const server = created.containers.find((c) => c.service === 'postgres');
      if (!server) throw new Error('no server container');
      const { stdout } = await execFileAsync('docker', ['exec', '-u', 'postgres', server.name, 'psql', '-tAc', sql]);
      return stdout.trim();
    }

    it('`dbaas query` whose backend is terminated from outside exits 1 with one line INSTANCE_NOT_RUNNING, no stack trace, within seconds', async () => {
      const activity = "FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()";
      const child = start(['query', created.name, 'SELECT pg_sleep(30)'], 45_000);
      try {
        let seen = false;
        for (let i = 0; i < 200 && !seen; i++) {
          seen = Number(await asSuperuser(`SELECT count(*) ${activity}`)) > 0;
          if (!seen) await new Promise((r) => setTimeout(r, 100));
        }
        expect(seen, 'the query never showed up in pg_stat_activity').toBe(true);
        const terminated = Date.now();
        expect(await asSuperuser(`SELECT bool_and(pg_terminate_backend(pid)) ${activity}`)).toBe('t');
        const run = await child.done;
        const afterTermination = Date.now() - terminated;

        expect(run.signal, `killed after ${run.ms} ms: ${run.stderr}`).toBeNull();
        expect(run.code, run.stderr).toBe(1);
        expect(afterTermination).toBeLessThan(10_000);
        expect(run.stderr).not.toMatch(STACK_TRACE);
        const lines = run.stderr.trim().split('\n');
        expect(lines, run.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(/^error: .*\[INSTANCE_NOT_RUNNING\]$/);
        expect(run.stdout).toBe('');
      } finally {
        child.kill();
      }
      // The instance itself is fine: the next query works.
      const next = await dbaas('query', created.name, 'SELECT 1 AS one', '--json');
      expect(next.code, next.stderr).toBe(0);
      expect(JSON.parse(next.stdout).rows).toEqual([{ one: 1 }]);
    });
  });
});
