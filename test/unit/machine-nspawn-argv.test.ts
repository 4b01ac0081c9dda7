// machine/nspawn-argv.ts: one function per systemd-nspawn use, each argv and
// settings file written out literally here (not built from the module's constants).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeConfig, makeRecipe } from '../helpers/config.js';
import { bootCommand, installCommand, provisionCommand, renderNspawnFile, renderNspawnServiceOverride, runCommand } from '../../src/machine/nspawn-argv.js';

const config = makeConfig('/srv/nk');
const pid1 = makeConfig('/srv/nk', { host: { ...config.host, systemdPid1: true } });
const etc = makeConfig('/srv/nk', { machines: { ...config.machines, settingsDir: '/etc/systemd/nspawn' } });

test('install: no network, the mirror read-only, packages as "$@" after the script, then upgrade from every suite', () => {
  assert.equal(installCommand(config, '/srv/nk/state/base/.b/root', ['systemd', 'dbus'], 'nk-build-1'), [
    'systemd-nspawn',
    [
      '--register=no',
      '--keep-unit',
      '--quiet',
      '--private-network',
      '--machine=nk-build-1',
      '--directory=/srv/nk/state/base/.b/root',
      '--bind-ro=/srv/nk/mirror:/var/local/nspawn-kit-mirror',
      '--setenv=DEBIAN_FRONTEND=noninteractive',
      '--',
      '/bin/sh',
      '-c',
      'set -e\napt-get -q -o Dpkg::Use-Pty=0 update --error-on=any\nif [ "$#" -gt 0 ]; then apt-get -q -y -o Dpkg::Use-Pty=0 install --no-install-recommends -- "$@"; fi\napt-get -q -y -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade --with-new-pkgs --no-install-recommends\napt-get clean',
      'nspawn-kit-install',
      'systemd',
      'dbus',
    ],
  ]);
  // With systemd as PID 1 nspawn may keep its own scope unit.
  assert.equal(installCommand(pid1, '/r', [], 'u')[1].slice(0, 3), ['--register=no', '--quiet', '--private-network']);
});

test('boot: the settings file beside the root is trusted; without a file the mirror is bound on the command line', () => {
  assert.equal(bootCommand(config, '/srv/nk/machines/web', 'web', [], 'file'), [
    'systemd-nspawn',
    ['--register=no', '--keep-unit', '--quiet', '--boot', '--directory=/srv/nk/machines/web', '--machine=web', '--settings=trusted'],
  ]);
  assert.equal(bootCommand(config, '/srv/nk/machines/web', 'web', [], 'none'), [
    'systemd-nspawn',
    ['--register=no', '--keep-unit', '--quiet', '--boot', '--directory=/srv/nk/machines/web', '--machine=web', '--bind-ro=/srv/nk/mirror:/var/local/nspawn-kit-mirror'],
  ]);
  assert.equal(bootCommand(etc, '/srv/nk/machines/web', 'web', [], 'file'), [
    'systemd-nspawn',
    ['--register=no', '--keep-unit', '--quiet', '--boot', '--directory=/srv/nk/machines/web', '--machine=web'],
  ]);
});

test('provision: a boot whose console is only read', () => {
  assert.equal(provisionCommand(config, '/srv/nk/machines/web', 'web', 'file'), [
    'systemd-nspawn',
    ['--register=no', '--keep-unit', '--quiet', '--boot', '--directory=/srv/nk/machines/web', '--machine=web', '--settings=trusted', '--console=read-only'],
  ]);
});

test('run: no --boot, the command after "--" untouched; an empty command is refused', () => {
  assert.equal(runCommand(config, '/srv/nk/machines/web', 'web', ['--help', '$(x)'], 'file'), [
    'systemd-nspawn',
    ['--register=no', '--keep-unit', '--quiet', '--directory=/srv/nk/machines/web', '--machine=web', '--settings=trusted', '--', '--help', '$(x)'],
  ]);
  assert.equal(runCommand(pid1, '/m/a:b', 'web', ['true'], 'none'), [
    'systemd-nspawn',
    ['--register=no', '--quiet', '--directory=/m/a:b', '--machine=web', '--bind-ro=/srv/nk/mirror:/var/local/nspawn-kit-mirror', '--', 'true'],
  ]);
  assert.throws(() => runCommand(config, '/r', 'web', [], 'file'), /nothing to run/);
});

test('settings file: the whole text, no Overlay= (an overlay machine is a whole root)', () => {
  const recipe = makeRecipe({ name: 'web', nspawn: { network: 'private', binds: ['/srv/data:/data'], bindsReadOnly: ['/srv/ro'], privateUsers: false } });
  assert.is(
    renderNspawnFile('web', recipe, config),
    [
      '# Written by nspawn-kit for machine web (recipe web).',
      '[Exec]',
      'Boot=yes',
      'PrivateUsers=no',
      '',
      '[Network]',
      'Private=yes',
      'VirtualEthernet=no',
      '',
      '[Files]',
      '# The local signed mirror, read-only: apt in the container uses it as a file: source.',
      'BindReadOnly=/srv/nk/mirror:/var/local/nspawn-kit-mirror',
      'BindReadOnly=/srv/ro',
      'Bind=/srv/data:/data',
      '',
    ].join('\n'),
  );
});

test('service drop-in: the original recipe ExecStart, --directory outside /var/lib/machines', () => {
  assert.is(renderNspawnServiceOverride('/srv/nk/machines', true), '# Written by nspawn-kit.\n[Service]\nExecStart=\nExecStart=systemd-nspawn --quiet --keep-unit --boot --link-journal=try-guest --machine=%i --settings=trusted --directory=/srv/nk/machines/%i\n');
});

test.run();
