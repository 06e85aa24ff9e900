import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import { UNIT_MARKER } from '../../src/service/installer.js';
import { renderUnit, UnitSpecSchema, type UnitSpecInput } from '../../src/service/systemdUnit.js';

/** The unit of `dbaas serve` (templates/dbaas.service.njk): its lines, systemd's quoting, and no secret in it. */

const TEMPLATES = join(PROJECT_ROOT, 'templates');

const SPEC: UnitSpecInput = {
  name: 'dbaas',
  scope: 'system',
  description: 'dbaas serve',
  documentation: 'file:///srv/dbaas/docs/service.md',
  node: '/usr/bin/node',
  script: '/srv/dbaas/bin/dbaas',
  args: ['serve'],
  workingDirectory: '/srv/dbaas',
  home: '/srv/dbaas',
  environment: [{ name: 'DBAAS_HOME', value: '/srv/dbaas' }],
  user: { name: 'dbaas', group: 'dbaas' },
  reads: ['/var/run/docker.sock'],
};

/** The unit's settings (comments and blank lines left out), in order. */
function settingsOf(unit: string): string[] {
  return unit.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

const render = (changes: Partial<UnitSpecInput> = {}) => renderUnit(TEMPLATES, { ...SPEC, ...changes });

describe('the systemd unit of dbaas serve', () => {
  it('a system unit: dbaas serve of the installation, after Docker, restarted on failure, hardened, for multi-user.target', () => {
    expect(settingsOf(render())).toEqual([
      '[Unit]',
      'Description=dbaas serve',
      'Documentation=file:///srv/dbaas/docs/service.md',
      'Wants=docker.service',
      'After=docker.service',
      'Wants=network-online.target',
      'After=network-online.target',
      '[Service]',
      'Type=exec',
      'User=dbaas',
      'Group=dbaas',
      'WorkingDirectory=/srv/dbaas',
      'Environment=DBAAS_HOME=/srv/dbaas',
      'ExecStart=/usr/bin/node /srv/dbaas/bin/dbaas serve',
      'KillSignal=SIGTERM',
      'Restart=on-failure',
      'RestartSec=5s',
      'SyslogIdentifier=dbaas',
      'NoNewPrivileges=yes',
      'PrivateTmp=yes',
      'PrivateDevices=yes',
      'ProtectSystem=strict',
      'ReadWritePaths=/srv/dbaas',
      'ProtectHome=yes',
      'ProtectKernelTunables=yes',
      'ProtectKernelModules=yes',
      'ProtectKernelLogs=yes',
      'ProtectControlGroups=yes',
      'ProtectClock=yes',
      'ProtectHostname=yes',
      'RestrictSUIDSGID=yes',
      'RestrictRealtime=yes',
      'RestrictNamespaces=yes',
      'LockPersonality=yes',
      'SystemCallArchitectures=native',
      'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
      '[Install]',
      'WantedBy=multi-user.target',
    ]);
    expect(render()).toContain(UNIT_MARKER);
    // Requires= would keep dbaas from starting where Docker is not a systemd unit.
    expect(render()).not.toMatch(/^Requires=/m);
  });

  it('a user unit: no User=, no namespaces a user manager cannot set up, for default.target', () => {
    const lines = settingsOf(render({ scope: 'user', user: undefined }));
    expect(lines.filter((l) => /^(User|Group|ProtectSystem|ProtectHome|PrivateTmp|ReadWritePaths|Wants=network)/.test(l))).toEqual([]);
    expect(lines).toContain('NoNewPrivileges=yes');
    expect(lines).toContain('WantedBy=default.target');
    expect(lines).toContain('Wants=docker.service');
  });

  it('ProtectHome=read-only, not yes, when the service needs something under /home, /root or /run/user', () => {
    expect(render({ home: '/home/ops/dbaas' })).toMatch(/^ProtectHome=read-only$/m);
    expect(render({ node: '/root/.nvm/versions/node/v20/bin/node' })).toMatch(/^ProtectHome=read-only$/m);
    expect(render({ reads: ['/run/user/1000/docker.sock'] })).toMatch(/^ProtectHome=read-only$/m);
    expect(render({ home: '/homes/dbaas' })).toMatch(/^ProtectHome=yes$/m);
  });

  it('the flags of install reach ExecStart=, and the restart delay RestartSec=', () => {
    const lines = settingsOf(render({ args: ['serve', '--host', '0.0.0.0', '--port', '8100'], restartSec: 10 }));
    expect(lines).toContain('ExecStart=/usr/bin/node /srv/dbaas/bin/dbaas serve --host 0.0.0.0 --port 8100');
    expect(lines).toContain('RestartSec=10s');
  });

  it('quotes paths with blanks, and escapes %, $, quotes and backslashes the way systemd reads each setting', () => {
    const unit = render({
      node: '/opt/my node/bin/node',
      script: '/srv/d b/100%/bin/dbaas',
      args: ['serve', '--host', 'fe80::1%eth0'],
      workingDirectory: '/srv/d b/100%',
      home: '/srv/d b/home',
      environment: [
        { name: 'DBAAS_HOME', value: '/srv/d b/home' },
        { name: 'DBAAS_IMAGE_16', value: 'my "pg" image\\16 $HOME 5%' },
        { name: 'DBAAS_LOG_LEVEL', value: 'debug' },
      ],
      environmentFile: '/etc/dbaas/100% secret.env',
      description: 'dbaas at 100%',
    });
    expect(settingsOf(unit)).toEqual(
      expect.arrayContaining([
        // ExecStart: the executable quoted, arguments quoted when they hold blanks, % doubled ($ would be too).
        'ExecStart="/opt/my node/bin/node" "/srv/d b/100%%/bin/dbaas" serve --host fe80::1%%eth0',
        // Environment=: one quoted word each, C escapes for " and \, % doubled, $ literal.
        'Environment="DBAAS_HOME=/srv/d b/home"',
        'Environment="DBAAS_IMAGE_16=my \\"pg\\" image\\\\16 $HOME 5%%"',
        'Environment=DBAAS_LOG_LEVEL=debug',
        // A path list quotes each path; single-value settings take the rest of the line as it is.
        'ReadWritePaths="/srv/d b/home"',
        'WorkingDirectory=/srv/d b/100%%',
        'EnvironmentFile=/etc/dbaas/100%% secret.env',
        'Description=dbaas at 100%%',
      ]),
    );
    expect(render({ args: ['serve', '--host', '$HOST'] })).toMatch(/^ExecStart=.* serve --host \$\$HOST$/m);
  });

  it.each([
    ['a relative path', { home: 'srv/dbaas' }, 'home'],
    ['a path with ..', { script: '/srv/../bin/dbaas' }, 'script'],
    ['a newline in a value (it would start a new setting)', { environment: [{ name: 'DBAAS_HOME', value: '/srv\nExecStartPre=/bin/sh' }] }, 'environment.0.value'],
    ['a variable that looks like a secret', { environment: [{ name: 'DBAAS_MASTER_KEY', value: 'x' }] }, 'environment.0.name'],
    ['a quote in the executable (systemd refuses it)', { node: '/opt/no"de' }, 'node'],
    ['User= in a user unit', { scope: 'user' as const }, 'user'],
    ['a unit name systemctl would take for an option', { name: '-dbaas' }, 'name'],
    ['a user name with a blank', { user: { name: 'db aas' } }, 'user.name'],
  ])('refuses %s', (_what, changes, field) => {
    const parsed = UnitSpecSchema.safeParse({ ...SPEC, ...changes });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toContain(field);
  });

  it('a unit name may be given with its .service suffix', () => {
    expect(UnitSpecSchema.parse({ ...SPEC, name: 'dbaas-api.service' }).name).toBe('dbaas-api');
  });
});
