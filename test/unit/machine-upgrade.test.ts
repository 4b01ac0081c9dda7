// machine/upgrade*.ts, the pure parts: the argv of both ways in, written out literally; the sources
// apt gets; what changed between two dpkg statuses; the report's lines.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeConfig } from '../helpers/config.js';
import { offlineRunCommand } from '../../src/machine/nspawn-argv.js';
import { renderUpgradeSources } from '../../src/machine/sources.js';
import { Shell, formatCommand } from '../../src/shell.js';
import { capabilitiesToDrop, insideUpgradeArgv, nsenterCommand, upgradeArgv } from '../../src/machine/upgrade-run.js';
import { formatUpgrade, packageChanges, recordedSuites, upgradeInside } from '../../src/machine/upgrade.js';
import { provenanceRecord } from '../helpers/records.js';

const config = makeConfig('/srv/nk');
// An interrupted upgrade (Ctrl-C during dpkg) is finished first, or apt-get refuses to upgrade.
const CONFIGURE = 'dpkg --force-confdef --force-confold --configure -a';
const SCRIPT = [
  'set -e',
  CONFIGURE,
  '[ -s "$1" ] || { echo "nspawn-kit: the upgrade\'s sources file ""$1"" is gone or empty" >&2; exit 1; }',
  'apt-get -q -o Dpkg::Use-Pty=0 -o Dir::Etc::SourceList="$1" -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0 update --error-on=any',
  '[ -s "$1" ] || { echo "nspawn-kit: the upgrade\'s sources file ""$1"" is gone or empty" >&2; exit 1; }',
  'apt-get -q -y -o Dpkg::Use-Pty=0 -o Dir::Etc::SourceList="$1" -o Dir::Etc::SourceParts=- -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade --with-new-pkgs',
].join('\n');
const ARGV = ['/bin/sh', '-c', SCRIPT, 'nspawn-kit-upgrade', '/var/lib/nspawn-kit/upgrade.sources'];

test('stopped machine: non-booted nspawn, no network, the mirror bound read-only (no settings file) or the trusted settings file', () => {
  assert.equal(upgradeArgv('/var/lib/nspawn-kit/upgrade.sources'), ARGV);
  assert.equal(offlineRunCommand(config, '/srv/nk/machines/web', 'web', ARGV, 'none'), [
    'systemd-nspawn',
    [
      '--register=no',
      '--keep-unit',
      '--quiet',
      '--private-network',
      '--directory=/srv/nk/machines/web',
      '--machine=web',
      '--bind-ro=/srv/nk/mirror:/var/local/nspawn-kit-mirror',
      '--setenv=DEBIAN_FRONTEND=noninteractive',
      '--',
      ...ARGV,
    ],
  ]);
  // The settings file beside the root binds the mirror itself; it is trusted, and --private-network still wins.
  assert.equal(offlineRunCommand(config, '/srv/nk/machines/web', 'web', ['true'], 'file')[1], [
    '--register=no',
    '--keep-unit',
    '--quiet',
    '--private-network',
    '--directory=/srv/nk/machines/web',
    '--machine=web',
    '--settings=trusted',
    '--setenv=DEBIAN_FRONTEND=noninteractive',
    '--',
    'true',
  ]);
  assert.throws(() => offlineRunCommand(config, '/r', 'web', [], 'none'), /nothing to run/);
});

test('running machine: setpriv drops capabilities and sets no_new_privs, then nsenter into all namespaces and the root of its leader', () => {
  assert.equal(nsenterCommand(4242, ['sys_boot', 'mknod'], ARGV), [
    'setpriv',
    [
      '--no-new-privs',
      '--bounding-set=-sys_boot,-mknod',
      '--',
      'nsenter',
      '--target=4242',
      '--all',
      '--root',
      '--wd',
      '--',
      '/usr/bin/env',
      '-i',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'DEBIAN_FRONTEND=noninteractive',
      'LC_ALL=C.UTF-8',
      ...ARGV,
    ],
  ]);
});

// A running machine: the host writes nothing in its root; what to write reaches the script as argv.
const INSIDE_SCRIPT = [
  'set -e',
  'src= new=',
  'trap \'rm -f -- ${src:+"$src"} ${new:+"$new"}\' EXIT',
  "trap 'exit 129' HUP",
  "trap 'exit 130' INT",
  "trap 'exit 143' TERM",
  CONFIGURE,
  'src=$(mktemp --suffix=.sources -- "${1%/*}/upgrade.XXXXXX")',
  'printf %s "$2" >"$src"',
  '[ -s "$src" ] || { echo "nspawn-kit: the upgrade\'s sources file ""$src"" is gone or empty" >&2; exit 1; }',
  'apt-get -q -o Dpkg::Use-Pty=0 -o Dir::Etc::SourceList="$src" -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0 update --error-on=any',
  '[ -s "$src" ] || { echo "nspawn-kit: the upgrade\'s sources file ""$src"" is gone or empty" >&2; exit 1; }',
  'apt-get -q -y -o Dpkg::Use-Pty=0 -o Dir::Etc::SourceList="$src" -o Dir::Etc::SourceParts=- -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade --with-new-pkgs',
  'new=$(mktemp -- "$1.XXXXXX")',
  'printf %s "$3" >"$new"',
  'chmod 644 -- "$new"',
  'mv -f -- "$new" "$1"',
  'new=',
].join('\n');

test('running machine: the script writes the sources (mktemp beside the provenance, not in /tmp; removed on exit) and, after success, the provenance (temp + mv) itself; the texts are argv only', () => {
  assert.equal(insideUpgradeArgv('/var/lib/nspawn-kit/provenance.json', 'SOURCES', 'PROV'), ['/bin/sh', '-c', INSIDE_SCRIPT, 'nspawn-kit-upgrade', '/var/lib/nspawn-kit/provenance.json', 'SOURCES', 'PROV']);
});

test('upgradeInside: the host-side plan for a running machine is the one nsenter command; no write, mkdir or removal by the host in the root', async () => {
  const sh = new Shell({ dryRun: true, log: () => {} });
  const prov = { ...provenanceRecord({ machine: 'web' }), suites: { bookworm: 'a'.repeat(64), 'bookworm-security': 'b'.repeat(64) }, upgradedAt: '2026-11-30T17:00:00.000Z' };
  await upgradeInside(sh, { leader: 4242, ownUserNamespace: true, drop: ['mknod'] }, ['bookworm', 'bookworm-security'], prov, 'hint');
  const argv = ['/bin/sh', '-c', INSIDE_SCRIPT, 'nspawn-kit-upgrade', '/var/lib/nspawn-kit/provenance.json', renderUpgradeSources(['bookworm', 'bookworm-security']), `${JSON.stringify(prov, null, 2)}\n`];
  assert.equal(sh.planned, [formatCommand(nsenterCommand(4242, ['mknod'], argv))]);
  assert.ok(sh.planned[0]?.startsWith('setpriv --no-new-privs --bounding-set=-mknod -- nsenter --target=4242 --all --root --wd -- /usr/bin/env -i '), sh.planned[0]);
});

test('capabilitiesToDrop: what the container\'s bounding set lacks, and what nspawn guards by seccomp or device policy; never what nsenter needs', () => {
  // A bounding set like systemd-nspawn's default one (its arg_caps_retain).
  const nspawn = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 18, 19, 21, 22, 23, 24, 26, 27, 28, 29, 30, 31].reduce((m, bit) => m | (1n << BigInt(bit)), 0n);
  assert.equal(capabilitiesToDrop(nspawn, 40), [
    'dac_read_search',
    'net_admin',
    'ipc_lock',
    'sys_module',
    'sys_rawio',
    'sys_pacct',
    'sys_boot',
    'sys_time',
    'mknod',
    'mac_override',
    'mac_admin',
    'syslog',
    'wake_alarm',
    'block_suspend',
    'audit_read',
    'perfmon',
    'bpf',
    'checkpoint_restore',
  ]);
  // Nothing readable: everything but sys_admin and sys_chroot; only the capabilities this kernel knows.
  assert.equal(capabilitiesToDrop(0n, 2), ['chown', 'dac_override', 'dac_read_search']);
  assert.ok(!capabilitiesToDrop(0n, 40).includes('sys_admin') && !capabilitiesToDrop(0n, 40).includes('sys_chroot'));
});

test('upgrade sources: the bound mirror only, the chosen suites, Signed-By the key on the read-only mount', () => {
  assert.is(
    renderUpgradeSources(['bookworm', 'bookworm-security']),
    [
      '# Written by nspawn-kit upgrade: the local signed mirror, bind-mounted read-only; removed after the upgrade.',
      'Types: deb',
      'URIs: file:/var/local/nspawn-kit-mirror',
      'Suites: bookworm bookworm-security',
      'Components: main',
      'Signed-By: /var/local/nspawn-kit-mirror/mirror.asc',
      '',
    ].join('\n'),
  );
});

test('packageChanges: upgraded and newly installed packages, per architecture, by name', () => {
  const before = [
    { name: 'zlib1g', version: '1:1.2.13.dfsg-1', architecture: 'amd64' },
    { name: 'libc6', version: '2.36-9+deb12u1', architecture: 'amd64' },
    { name: 'libc6', version: '2.36-9+deb12u1', architecture: 'i386' },
    { name: 'bash', version: '5.2.15-2+b2', architecture: 'amd64' },
  ];
  const after = [
    { name: 'bash', version: '5.2.15-2+b2', architecture: 'amd64' },
    { name: 'libc6', version: '2.36-9+deb12u4', architecture: 'i386' },
    { name: 'libc6', version: '2.36-9+deb12u4', architecture: 'amd64' },
    { name: 'zlib1g', version: '1:1.2.13.dfsg-1', architecture: 'amd64' },
    { name: 'libnew1', version: '1.0-1', architecture: 'amd64' },
  ];
  assert.equal(packageChanges(before, after), [
    { name: 'libc6', architecture: 'amd64', from: '2.36-9+deb12u1', to: '2.36-9+deb12u4' },
    { name: 'libc6', architecture: 'i386', from: '2.36-9+deb12u1', to: '2.36-9+deb12u4' },
    { name: 'libnew1', architecture: 'amd64', to: '1.0-1' },
  ]);
  assert.equal(packageChanges(before, before), []);
});

test('formatUpgrade: each change old -> new, or already up to date; warnings after', () => {
  const base = { name: 'web', how: 'systemd-nspawn' as const, dryRun: false, suites: { bookworm: 'a'.repeat(64), 'bookworm-security': 'b'.repeat(64) }, warnings: [] };
  assert.equal(
    formatUpgrade({ ...base, changes: [{ name: 'nk-probe', architecture: 'all', from: '1.0', to: '1.1' }, { name: 'libnew1', architecture: 'amd64', to: '1.0-1' }] }),
    ['web: upgraded 2 package(s) from bookworm, bookworm-security (not booted, offline):', '  nk-probe:all 1.0 -> 1.1', '  libnew1:amd64 (new) -> 1.0-1'],
  );
  assert.equal(formatUpgrade({ ...base, how: 'nsenter', changes: [], warnings: ['suite bookworm-updates is not published in the mirror: not upgraded from'] }), [
    'web: already up to date',
    'web: warning: suite bookworm-updates is not published in the mirror: not upgraded from',
  ]);
  assert.equal(formatUpgrade({ ...base, dryRun: true, changes: [], warnings: ['w'] }), ['web: dry run, nothing upgraded', 'web: warning: w']);
});

test('recordedSuites: what apt used; a suite not upgraded from keeps its earlier entry, so it stays the machine\'s', () => {
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => x.repeat(64)) as [string, string, string, string];
  const wanted = ['bookworm', 'bookworm-updates', 'bookworm-security'];
  // -updates not published now: its earlier entry stays; -security upgraded from: the new one.
  assert.equal(recordedSuites(wanted, { bookworm: a, 'bookworm-security': b }, { bookworm: c, 'bookworm-updates': d, 'bookworm-security': c }, { bookworm: a, 'bookworm-security': b }), {
    bookworm: a,
    'bookworm-updates': d,
    'bookworm-security': b,
  });
  // Republished meanwhile, no earlier entry: the publication seen at the start; never published, never recorded: left out.
  assert.equal(recordedSuites(wanted, { bookworm: a }, undefined, { bookworm: a, 'bookworm-security': c }), { bookworm: a, 'bookworm-security': c });
});

test.run();
