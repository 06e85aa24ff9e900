import type Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { fromInspect, fromListRow } from '../../src/runtime/dockerState.js';

const labels = { 'dbaas.instance': 'db_1', 'dbaas.service': 'agent', 'dbaas.config-hash': 'abc' };

function listRow(state: string, status: string): Dockerode.ContainerInfo {
  return { Id: 'c1', Names: ['/dbaas-x-agent'], Labels: labels, State: state, Status: status } as unknown as Dockerode.ContainerInfo;
}

function inspected(state: Partial<Dockerode.ContainerInspectInfo['State']>): Dockerode.ContainerInspectInfo {
  return {
    Id: 'c1',
    Name: '/dbaas-x-agent',
    Config: { Labels: labels },
    RestartCount: 2,
    State: { Status: 'running', Running: true, Paused: false, Restarting: false, OOMKilled: false, ExitCode: 0, StartedAt: '2026-11-24T10:00:00Z', ...state },
  } as unknown as Dockerode.ContainerInspectInfo;
}

describe('the mapping of the engine state into ServiceState', () => {
  it('reads instance, service and config hash from the labels', () => {
    const s = fromListRow(listRow('running', 'Up 3 minutes'));
    expect([s.name, s.instance, s.service, s.configHash]).toEqual(['dbaas-x-agent', 'db_1', 'agent', 'abc']);
  });

  it('calls a paused container running (its process exists) in a listing and an inspection alike', () => {
    const listed = fromListRow(listRow('paused', 'Up 3 minutes (Paused)'));
    const inspect = fromInspect(inspected({ Status: 'paused', Running: true, Paused: true }));
    expect([listed.phase, listed.running]).toEqual(['paused', true]);
    expect([inspect.phase, inspect.running]).toEqual(['paused', true]);
  });

  it('calls exited, created and dead containers not running, with the exit code of an exited one', () => {
    expect(fromListRow(listRow('exited', 'Exited (137) 2 seconds ago'))).toMatchObject({ phase: 'exited', running: false, exitCode: 137 });
    expect(fromListRow(listRow('created', 'Created'))).toMatchObject({ phase: 'created', running: false, exitCode: null });
    expect(fromListRow(listRow('dead', 'Dead'))).toMatchObject({ phase: 'dead', running: false });
    expect(fromInspect(inspected({ Status: 'exited', Running: false, ExitCode: 1, OOMKilled: true }))).toMatchObject({ running: false, exitCode: 1, oomKilled: true });
  });

  it('gives the addresses a container has on its networks (a listing gives none)', () => {
    const info = inspected({});
    (info as unknown as { NetworkSettings: unknown }).NetworkSettings = {
      Networks: { 'dbaas-net': { IPAddress: '172.18.0.5' }, none: { IPAddress: '' } },
    };
    expect(fromInspect(info).addresses).toEqual(['172.18.0.5']);
    expect(fromInspect(inspected({})).addresses).toEqual([]);
    expect(fromListRow(listRow('running', 'Up')).addresses).toEqual([]);
  });

  it('maps an unknown engine word to the unknown phase and a never-started container to a null start', () => {
    expect(fromListRow(listRow('frozen', '?')).phase).toBe('unknown');
    expect(fromInspect(inspected({ Status: 'created', Running: false, StartedAt: '0001-01-01T00:00:00Z' })).startedAt).toBeNull();
  });
});
