import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { aptErrors, bindArg, directNspawnFlags, installPackagesCommand } from '../../src/machine/create.js';
import { bootCommand, isNspawnOn, runCommand } from '../../src/machine/boot.js';
import { effectiveSettingsFile, renderNspawnFile, settingsBesideRoot } from '../../src/machine/nspawn-file.js';
import { chooseClone, overlayMountCommand } from '../../src/rootfs/overlay.js';
import { baseKey, basePath } from '../../src/rootfs/base-cache.js';
import { formatCommand } from '../../src/shell.js';
import { makeConfig, makeRecipe } from '../helpers/config.js';

const config = makeConfig('/srv/nk');
// Where containers see the mirror (machine/paths.ts MIRROR_MOUNT), written out: the first-boot
// sources and every argv below must agree on it.
const MIRROR_BIND = '--bind-ro=/srv/nk/mirror:/var/local/nspawn-kit-mirror';

test('package install: networkless non-boot nspawn, mirror read-only, packages only as "$@"', () => {
  const [cli, args] = installPackagesCommand(config, '/m/.b/root', ['systemd', 'dbus'], 'nk-build-1');
  assert.is(cli, 'systemd-nspawn');
  assert.equal(args, [
    '--register=no',
    '--keep-unit',
    '--quiet',
    '--private-network',
    '--machine=nk-build-1',
    '--directory=/m/.b/root',
    '--bind-ro=/srv/nk/mirror:/var/local/nspawn-kit-mirror',
    '--setenv=DEBIAN_FRONTEND=noninteractive',
    '--',
    '/bin/sh',
    '-c',
    [
      'set -e',
      'apt-get -q -o Dpkg::Use-Pty=0 update --error-on=any',
      'if [ "$#" -gt 0 ]; then apt-get -q -y -o Dpkg::Use-Pty=0 install --no-install-recommends -- "$@"; fi',
      'apt-get -q -y -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade --with-new-pkgs --no-install-recommends',
      'apt-get clean',
    ].join('\n'),
    'nspawn-kit-install',
    'systemd',
    'dbus',
  ]);
  // The script is the same whatever the packages: they reach apt only as "$@".
  const [, none] = installPackagesCommand(config, '/m/.b/root', [], 'nk-build-1');
  assert.equal(none, args.slice(0, -2));
});

test('a hostile package name stays one argv word after the script', () => {
  const [, args] = installPackagesCommand(config, '/r', ['$(touch /x)', '--version'], 'u');
  assert.equal(args.slice(-2), ['$(touch /x)', '--version']);
  assert.ok(formatCommand(['systemd-nspawn', args]).includes("'$(touch /x)'"));
});

test('with systemd as PID 1 nspawn still never registers, but may create its scope', () => {
  assert.equal(directNspawnFlags({ host: { ...config.host, systemdPid1: true } }), ['--register=no']);
  assert.equal(directNspawnFlags(config), ['--register=no', '--keep-unit']);
});

test('bind arguments escape ":"', () => {
  assert.is(bindArg('/srv/a:b', '/mnt'), '/srv/a\\:b:/mnt');
});

test('boot and run argv of a machine without a settings file: --boot with the mirror bind; run puts the command after "--"', () => {
  const [, boot] = bootCommand(config, '/srv/nk/machines/web', 'web', ['--console=read-only'], 'none');
  assert.equal(boot, [
    '--register=no',
    '--keep-unit',
    '--quiet',
    '--boot',
    '--directory=/srv/nk/machines/web',
    '--machine=web',
    '--bind-ro=/srv/nk/mirror:/var/local/nspawn-kit-mirror',
    '--console=read-only',
  ]);
  const [cli, run] = runCommand(config, '/srv/nk/machines/web', 'web', ['--help', 'x'], 'none');
  assert.is(cli, 'systemd-nspawn');
  assert.equal(run, ['--register=no', '--keep-unit', '--quiet', '--directory=/srv/nk/machines/web', '--machine=web', MIRROR_BIND, '--', '--help', 'x']);
  assert.throws(() => runCommand(config, '/r', 'web', [], 'none'), /nothing to run/);
});

test('an overlay machine is run like any other: its directory is a whole root mounted on the host, no --overlay', () => {
  // The overlay is mounted at /srv/nk/machines/web before nspawn runs (machine/overlay-mount.ts).
  const [, boot] = bootCommand(config, '/srv/nk/machines/web', 'web', [], 'none');
  assert.equal(boot, ['--register=no', '--keep-unit', '--quiet', '--boot', '--directory=/srv/nk/machines/web', '--machine=web', MIRROR_BIND]);
  const text = renderNspawnFile('web', makeRecipe(), config);
  assert.not.match(text, /Overlay=/);
  assert.ok(text.includes('\nBindReadOnly=/srv/nk/mirror:/var/local/nspawn-kit-mirror\n'), text);
});

test('chooseClone: overlay by default; copy when asked, with PrivateUsers, or with paths overlay options cannot carry', () => {
  const recipe = makeRecipe();
  const dir = '/srv/nk/state/base/web-0123456789abcdef';
  const withClone = (clone: 'auto' | 'overlay' | 'copy', machinesDir = '/srv/nk/machines') => makeConfig('/srv/nk', { machines: { ...config.machines, dir: machinesDir, clone } });
  assert.equal(chooseClone(withClone('auto'), recipe, dir), { mode: 'overlay' });
  assert.equal(chooseClone(withClone('copy'), recipe, dir), { mode: 'copy' });
  const pu = makeRecipe({ nspawn: { ...recipe.nspawn, privateUsers: true } });
  assert.match(chooseClone(withClone('auto'), pu, dir).reason ?? '', /PrivateUsers/);
  assert.throws(() => chooseClone(withClone('overlay'), pu, dir), /machines\.clone is "overlay", but recipe/);
  for (const odd of ['/srv/a,b', '/srv/a:b', '/srv/a\\b']) {
    const c = chooseClone(withClone('auto', odd), recipe, dir);
    assert.is(c.mode, 'copy', odd);
    assert.match(c.reason ?? '', /cannot take/);
  }
  assert.equal(overlayMountCommand('/l', '/u', '/w', '/m'), ['mount', ['-t', 'overlay', '-o', 'lowerdir=/l,upperdir=/u,workdir=/w', '--', 'overlay', '/m']]);
});

test('settingsDir outside /etc and /run: the file beside the root is trusted, and no --bind-ro drops its binds', () => {
  // makeConfig puts settingsDir in the temp tree, which systemd-nspawn never reads.
  assert.equal(effectiveSettingsFile(config, 'web'), { file: '/srv/nk/machines/web.nspawn', needsTrust: true });
  const [, boot] = bootCommand(config, '/srv/nk/machines/web', 'web', [], 'file');
  assert.equal(boot, ['--register=no', '--keep-unit', '--quiet', '--boot', '--directory=/srv/nk/machines/web', '--machine=web', '--settings=trusted']);
  const [, run] = runCommand(config, '/srv/nk/machines/web', 'web', ['true'], 'file');
  assert.equal(run, ['--register=no', '--keep-unit', '--quiet', '--directory=/srv/nk/machines/web', '--machine=web', '--settings=trusted', '--', 'true']);
  assert.not.ok([...boot, ...run].some((a) => a.startsWith('--bind')));
});

test('settingsDir /etc/systemd/nspawn or /run/systemd/nspawn: nspawn trusts it by itself', () => {
  for (const dir of ['/etc/systemd/nspawn', '/etc/systemd/nspawn/', '/run/systemd/nspawn']) {
    const etc = makeConfig('/srv/nk', { machines: { dir: '/srv/nk/machines', settingsDir: dir, unitDir: '/etc/systemd/system', clone: 'auto' } });
    assert.not.ok(settingsBesideRoot(dir), dir);
    const expected = dir.startsWith('/run') ? '/run/systemd/nspawn/web.nspawn' : '/etc/systemd/nspawn/web.nspawn';
    assert.equal(effectiveSettingsFile(etc, 'web'), { file: expected, needsTrust: false });
    const [, boot] = bootCommand(etc, '/srv/nk/machines/web', 'web', [], 'file');
    assert.equal(boot, ['--register=no', '--keep-unit', '--quiet', '--boot', '--directory=/srv/nk/machines/web', '--machine=web'], dir);
  }
  assert.ok(settingsBesideRoot('/etc/systemd/nspawn-other'));
  assert.ok(settingsBesideRoot('/var/lib/machines'));
});

test('isNspawnOn recognises every spelling of the directory option, and nothing after "--"', () => {
  const root = '/srv/nk/machines/web';
  assert.ok(isNspawnOn(['systemd-nspawn', '--boot', `--directory=${root}`], root));
  assert.ok(isNspawnOn(['/usr/bin/systemd-nspawn', '-D', root], root));
  assert.ok(isNspawnOn(['systemd-nspawn', `-D${root}`], root));
  assert.not.ok(isNspawnOn(['systemd-nspawn', `--directory=${root}2`], root));
  assert.not.ok(isNspawnOn(['systemd-nspawn', '-D', '/other', '--', '-D', root], root));
  assert.not.ok(isNspawnOn(['vim', `--directory=${root}`], root));
});

test('aptErrors picks apt\'s own error lines', () => {
  const out = 'Reading package lists...\nE: Unable to locate package nope\nW: something\nErr:1 file:/x bookworm InRelease\n';
  assert.equal(aptErrors(out), ['E: Unable to locate package nope', 'Err:1 file:/x bookworm InRelease']);
});

test('base key: changes with the recipe base hash and with the publication, 16 hex', () => {
  const a = baseKey({ baseHash: 'a'.repeat(64) }, 'f'.repeat(64));
  // printf '%s\n%s\n' aaa…a fff…f | sha256sum | cut -c1-16
  assert.is(a, '37e88ef56b2fc3a0');
  assert.is.not(a, baseKey({ baseHash: 'b'.repeat(64) }, 'f'.repeat(64)));
  assert.is.not(a, baseKey({ baseHash: 'a'.repeat(64) }, 'e'.repeat(64)));
  assert.is(basePath(config, 'web', a), '/srv/nk/state/base/web-37e88ef56b2fc3a0');
});

test.run();
