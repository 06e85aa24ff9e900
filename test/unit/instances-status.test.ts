import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { STORED_STATUSES, STATUSES, type StoredStatus } from '../../src/instances/schema.js';
import { mayBeOomKilled, mergeStatus, ownerAlive, type ObservedContainer } from '../../src/instances/status.js';

const ENGINE_STATES = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'];

describe('mergeStatus', () => {
  describe('transitional stored states win over the engine', () => {
    it.each(ENGINE_STATES)('deleting stays deleting with a %s container', (state) => {
      expect(mergeStatus('deleting', { state }, true)).toBe('deleting');
      expect(mergeStatus('deleting', { state, oomKilled: true }, false)).toBe('deleting');
    });

    it.each(ENGINE_STATES)('failed stays failed with a %s container', (state) => {
      expect(mergeStatus('failed', { state }, true)).toBe('failed');
    });

    it('deleting and failed also win over a missing container', () => {
      expect(mergeStatus('deleting', null, false)).toBe('deleting');
      expect(mergeStatus('failed', null, false)).toBe('failed');
    });

    it('provisioning stays provisioning while its process lives, whatever the container does', () => {
      expect(mergeStatus('provisioning', null, true)).toBe('provisioning');
      for (const state of ENGINE_STATES) expect(mergeStatus('provisioning', { state }, true)).toBe('provisioning');
    });

    it('provisioning whose process died is failed, even with a running container', () => {
      expect(mergeStatus('provisioning', null, false)).toBe('failed');
      for (const state of ENGINE_STATES) expect(mergeStatus('provisioning', { state }, false)).toBe('failed');
    });
  });

  describe('otherwise the observed state wins', () => {
    const settled: StoredStatus[] = ['running', 'stopped'];

    it.each(settled)('stored %s with no container is missing', (stored) => {
      expect(mergeStatus(stored, null, false)).toBe('missing');
      expect(mergeStatus(stored, null, true)).toBe('missing');
    });

    it.each(settled)('stored %s maps the engine states', (stored) => {
      const cases: Array<[ObservedContainer, string]> = [
        [{ state: 'running' }, 'running'],
        [{ state: 'running', oomKilled: true }, 'running'],
        [{ state: 'restarting' }, 'restarting'],
        [{ state: 'restarting', oomKilled: true }, 'restarting'],
        [{ state: 'paused' }, 'paused'],
        [{ state: 'removing' }, 'deleting'],
        [{ state: 'exited' }, 'stopped'],
        [{ state: 'exited', oomKilled: false }, 'stopped'],
        [{ state: 'exited', oomKilled: true }, 'oomkilled'],
        [{ state: 'dead' }, 'stopped'],
        [{ state: 'dead', oomKilled: true }, 'oomkilled'],
        [{ state: 'created' }, 'stopped'],
        [{ state: 'something-new' }, 'stopped'],
      ];
      for (const [container, expected] of cases) {
        expect(mergeStatus(stored, container, false), `${stored} + ${JSON.stringify(container)}`).toBe(expected);
      }
    });

    it('a stored running instance whose container stopped shows stopped', () => {
      expect(mergeStatus('running', { state: 'exited' }, false)).toBe('stopped');
    });

    it('a stored stopped instance whose container was started elsewhere shows running', () => {
      expect(mergeStatus('stopped', { state: 'running' }, false)).toBe('running');
    });
  });

  it('always returns a known status', () => {
    for (const stored of STORED_STATUSES) {
      for (const container of [null, ...ENGINE_STATES.flatMap((state) => [{ state }, { state, oomKilled: true }])]) {
        for (const alive of [true, false]) {
          expect(STATUSES).toContain(mergeStatus(stored, container, alive));
        }
      }
    }
  });
});

describe('mayBeOomKilled', () => {
  it.each([
    ['Exited (137) 5 minutes ago', true],
    ['Exited (137) Less than a second ago', true],
    ['Exited (0) 2 hours ago', false],
    ['Exited (1) 2 hours ago', false],
    ['Exited (1370) 2 hours ago', false],
    ['Exited (13) 2 hours ago', false],
    ['Up 3 minutes (healthy)', false],
    ['Restarting (137) 2 seconds ago', false],
    ['', false],
    ['exited (137)', false],
  ])('%j -> %s', (text, expected) => {
    expect(mayBeOomKilled(text)).toBe(expected);
  });
});

describe('ownerAlive', () => {
  it('is false without an owner', () => {
    expect(ownerAlive(undefined)).toBe(false);
  });

  it('is true for this very process', () => {
    expect(ownerAlive({ pid: process.pid, host: hostname() })).toBe(true);
  });

  it('is true for a child that is still running, false once it exited and was reaped', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    const pid = child.pid;
    expect(pid).toBeTypeOf('number');
    const owner = { pid: pid as number, host: hostname() };
    expect(ownerAlive(owner)).toBe(true);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    expect(ownerAlive(owner)).toBe(false);
  });

  it('is false for a process that ran to completion', async () => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    const pid = child.pid as number;
    await new Promise<void>((resolve) => child.once('exit', () => resolve()));
    expect(ownerAlive({ pid, host: hostname() })).toBe(false);
  });

  it('is true for an owner on another host, dead pid or not (it cannot be checked from here)', () => {
    expect(ownerAlive({ pid: 2 ** 22 + 12345, host: `${hostname()}-other` })).toBe(true);
    expect(ownerAlive({ pid: process.pid, host: 'elsewhere.example' })).toBe(true);
  });
});
