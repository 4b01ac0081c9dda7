/**
 * Every systemd-nspawn argv and .nspawn settings file nspawn-kit builds, as
 * pure functions of configuration and recipe (one per use: install, run,
 * boot, provision, the settings file and the service drop-in). Nothing here
 * touches the system; boot.ts, create.ts, provision.ts and nspawn-file.ts run
 * or write what these return.
 *
 * Where the .nspawn file goes (systemd.nspawn(5), measured with systemd 252
 * here): /etc/systemd/nspawn/ and /run/systemd/nspawn/ are trusted (every
 * setting applies); beside the root (<machines.dir>/<name>.nspawn) Bind=,
 * BindReadOnly=, [Network] and PrivateUsers= are ignored unless nspawn runs
 * with --settings=trusted. Any --bind/--bind-ro on the command line makes
 * nspawn drop ALL Bind=/BindReadOnly= lines of the file, so a machine with a
 * settings file is started without our own --bind-ro of the mirror.
 */
import { posix } from 'node:path';
import type { Config, Recipe } from '../config/types.js';
import { bindProblem } from '../config/path-policy.js';
import { OperationError } from '../errors.js';
import type { Command } from '../shell.js';
import { MIRROR_MOUNT } from './paths.js';
import { assertSingleLine, systemdWord } from './render.js';

type NspawnConfig = Pick<Config, 'host' | 'mirror' | 'machines'>;

/** Directories systemd-nspawn reads .nspawn files from with full trust. */
export const TRUSTED_SETTINGS_DIRS = ['/etc/systemd/nspawn', '/run/systemd/nspawn'] as const;

/**
 * How a boot or run gets the machine's settings: "file", from the .nspawn
 * file written at create (it binds the mirror itself), or "none" (a machine
 * without one: the mirror is bound on the command line).
 */
export type SettingsUse = 'file' | 'none';

/** Escapes ":" (and "\") for nspawn's --bind/--bind-ro SRC:DST syntax and Bind= lines. */
function escapeBindPath(p: string): string {
  return p.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

export function bindArg(src: string, dst: string): string {
  return `${escapeBindPath(src)}:${escapeBindPath(dst)}`;
}

/**
 * Flags of every direct (non-machinectl) systemd-nspawn call: never register
 * with machined; without systemd as PID 1 there is no unit to create either.
 */
export function directNspawnFlags(config: Pick<Config, 'host'>): string[] {
  return config.host.systemdPid1 ? ['--register=no'] : ['--register=no', '--keep-unit'];
}

function normalDir(dir: string): string {
  return posix.normalize(dir).replace(/(.)\/$/, '$1');
}

/** True when nspawn would not read settingsDir: the file also goes beside the root, read with --settings=trusted. */
export function settingsBesideRoot(settingsDir: string): boolean {
  return !(TRUSTED_SETTINGS_DIRS as readonly string[]).includes(normalDir(settingsDir));
}

/** <machines.dir>/<name>.nspawn: where nspawn looks after /etc and /run. */
export function besideRootSettingsFile(config: Pick<Config, 'machines'>, machine: string): string {
  return posix.join(config.machines.dir, `${machine}.nspawn`);
}

/** The settings file systemd-nspawn reads for the machine, and whether it must be told to trust it. */
export function effectiveSettingsFile(config: Pick<Config, 'machines'>, machine: string, settingsDir = config.machines.settingsDir): { file: string; needsTrust: boolean } {
  return settingsBesideRoot(settingsDir)
    ? { file: besideRootSettingsFile(config, machine), needsTrust: true }
    : { file: posix.join(settingsDir, `${machine}.nspawn`), needsTrust: false };
}

/** Settings of a boot or run on the command line. */
export function settingsArgs(config: Pick<Config, 'mirror' | 'machines'>, name: string, use: SettingsUse): string[] {
  if (use === 'none') return [`--bind-ro=${bindArg(config.mirror.root, MIRROR_MOUNT)}`];
  // A file beside the root has its privileged settings (binds, network, user namespacing) ignored unless trusted.
  return effectiveSettingsFile(config, name).needsTrust ? ['--settings=trusted'] : [];
}

// set -e: any failing step fails the whole install; packages come in as "$@", never inside the script text.
// The upgrade brings every package to the newest version the recipe's suites publish (the bootstrap
// took the release's): `upgrade --with-new-pkgs` installs new dependencies but never removes a
// package, so no recipe package can vanish from a base; what it would have to remove to upgrade stays
// back and is reported (apt's "N not upgraded"), as are Ubuntu's phased updates. No one answers a
// conffile prompt here: a changed conffile is kept, as unattended-upgrades does (confdef, confold).
const INSTALL_SCRIPT = [
  'set -e',
  'apt-get -q -o Dpkg::Use-Pty=0 update --error-on=any',
  'if [ "$#" -gt 0 ]; then apt-get -q -y -o Dpkg::Use-Pty=0 install --no-install-recommends -- "$@"; fi',
  'apt-get -q -y -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade --with-new-pkgs --no-install-recommends',
  'apt-get clean',
].join('\n');

/**
 * Install: non-boot container, no network at all, the mirror read-only: apt can only use the local
 * mirror. Updates from all the suites its sources name, installs the packages, upgrades everything.
 * The same step brings a copy of an older base up to date (machine/base-build.ts).
 */
export function installCommand(config: Pick<Config, 'host' | 'mirror'>, root: string, packages: readonly string[], unitName: string): Command {
  return [
    'systemd-nspawn',
    [
      ...directNspawnFlags(config),
      '--quiet',
      '--private-network',
      `--machine=${unitName}`,
      `--directory=${root}`,
      `--bind-ro=${bindArg(config.mirror.root, MIRROR_MOUNT)}`,
      '--setenv=DEBIAN_FRONTEND=noninteractive',
      '--',
      '/bin/sh',
      '-c',
      INSTALL_SCRIPT,
      'nspawn-kit-install',
      ...packages,
    ],
  ];
}

/** Boot: systemd-nspawn --boot of a machine (no console option: nspawn picks interactive on a TTY, read-only otherwise). */
export function bootCommand(config: NspawnConfig, root: string, name: string, extra: readonly string[], settings: SettingsUse): Command {
  return ['systemd-nspawn', [...directNspawnFlags(config), '--quiet', '--boot', `--directory=${root}`, `--machine=${name}`, ...settingsArgs(config, name, settings), ...extra]];
}

/** Provision: a boot in the background whose console is only read (the first-boot result is polled from the host). */
export function provisionCommand(config: NspawnConfig, root: string, name: string, settings: SettingsUse): Command {
  return bootCommand(config, root, name, ['--console=read-only'], settings);
}

/** Run: one command in the machine, not booted; argv after "--" is never parsed by nspawn. */
export function runCommand(config: NspawnConfig, root: string, name: string, argv: readonly string[], settings: SettingsUse): Command {
  if (argv.length === 0) throw new OperationError('nothing to run', 'Give the command after "--": `nspawn-kit run NAME -- CMD...`.');
  // Boot=yes in the settings file does not apply: a command on the command line wins over it (measured).
  return ['systemd-nspawn', [...directNspawnFlags(config), '--quiet', `--directory=${root}`, `--machine=${name}`, ...settingsArgs(config, name, settings), '--', ...argv]];
}

function privateUsers(value: Recipe['nspawn']['privateUsers']): string {
  if (value === 'pick') return 'pick';
  return value ? 'yes' : 'no';
}

/** Network section lines; each mode spelled out fully so no default of the caller leaks in. */
export function networkLines(network: Recipe['nspawn']['network']): string[] {
  switch (network) {
    case 'host':
      return ['Private=no', 'VirtualEthernet=no'];
    case 'private':
      return ['Private=yes', 'VirtualEthernet=no'];
    case 'veth':
      return ['Private=yes', 'VirtualEthernet=yes'];
  }
}

/**
 * Sharing the host's network, the container must use the host's DNS: a
 * resolv.conf left by the systemd-resolved package (a symlink to its stub)
 * finds no server there (measured on bookworm: "No DNS servers known"), and
 * the default "auto" never replaces a symlink. With a private network the
 * file is the container's own business (first boot links it to resolved).
 */
export function resolvConfLines(network: Recipe['nspawn']['network']): string[] {
  return network === 'host' ? ['# The host network: use its DNS, even over a symlink left by systemd-resolved.', 'ResolvConf=replace-host'] : [];
}

/**
 * Settings file: the machine's .nspawn. An overlay machine needs nothing
 * here: its directory is a whole root, mounted on the host (machine/overlay-mount.ts).
 */
export function renderNspawnFile(machine: string, recipe: Recipe, config: Pick<Config, 'mirror' | 'machines' | 'stateDir'>): string {
  // The configuration refused these already; checked again: the renderer trusts no input.
  const checked = (b: string, key: 'binds' | 'bindsReadOnly'): string => {
    const why = bindProblem(assertSingleLine(b, `nspawn.${key} entry`), config, key === 'bindsReadOnly');
    if (why) throw new OperationError(`recipe ${recipe.name}: nspawn.${key} entry ${JSON.stringify(b)}: ${why}`, 'Fix the recipe; `nspawn-kit config` checks it before a build.');
    return b;
  };
  const binds = recipe.nspawn.binds.map((b) => `Bind=${checked(b, 'binds')}`);
  const ro = recipe.nspawn.bindsReadOnly.map((b) => `BindReadOnly=${checked(b, 'bindsReadOnly')}`);
  return [
    `# Written by nspawn-kit for machine ${machine} (recipe ${recipe.name}).`,
    '[Exec]',
    'Boot=yes',
    `PrivateUsers=${privateUsers(recipe.nspawn.privateUsers)}`,
    ...resolvConfLines(recipe.nspawn.network),
    '',
    '[Network]',
    ...networkLines(recipe.nspawn.network),
    '',
    '[Files]',
    '# The local signed mirror, read-only: apt in the container uses it as a file: source.',
    `BindReadOnly=${escapeBindPath(assertSingleLine(config.mirror.root, 'mirror.root'))}:${MIRROR_MOUNT}`,
    ...ro,
    ...binds,
    '',
  ].join('\n');
}

/**
 * Drop-in for systemd-nspawn@<machine>.service, from the original recipe: the
 * stock template adds --network-veth -U --settings=override, which would
 * override the .nspawn file; this ExecStart leaves network and user
 * namespacing to it. It always names the root with --directory, also in
 * /var/lib/machines where --machine alone would find it: the host finds a
 * running machine by the --directory of its systemd-nspawn (boot.ts
 * nspawnPids), so without it `list` called a machine started by `machinectl
 * start` stopped and `rm` would remove it while it runs. With the settings
 * file beside the root, --settings=trusted makes it apply fully.
 */
export function renderNspawnServiceOverride(machinesDir: string, trustBesideRoot = false): string {
  const args = ['systemd-nspawn', '--quiet', '--keep-unit', '--boot', '--link-journal=try-guest', '--machine=%i'];
  if (trustBesideRoot) args.push('--settings=trusted');
  const dir = posix.normalize(machinesDir).replace(/\/$/, '');
  args.push(systemdWord(`--directory=${dir}/`, '%i'));
  return `# Written by nspawn-kit.\n[Service]\nExecStart=\nExecStart=${args.join(' ')}\n`;
}

/** The drop-in directory of a machine's systemd-nspawn@.service (the nspawn-kit drop-in and the overlay's go there). */
export function serviceDropInDir(unitDir: string, machine: string): string {
  return posix.join(unitDir, `systemd-nspawn@${machine}.service.d`);
}

/**
 * Offline run (`upgrade` of a stopped machine): a run (runCommand: the
 * machine's settings, the mirror bound read-only where its sources expect
 * it) with no network at all (--private-network on the command line wins
 * over the settings file's [Network]), apt told it is not interactive.
 */
export function offlineRunCommand(config: NspawnConfig, root: string, name: string, argv: readonly string[], settings: SettingsUse): Command {
  if (argv.length === 0) throw new OperationError('nothing to run', 'Give the command to run offline.');
  return [
    'systemd-nspawn',
    [...directNspawnFlags(config), '--quiet', '--private-network', `--directory=${root}`, `--machine=${name}`, ...settingsArgs(config, name, settings), '--setenv=DEBIAN_FRONTEND=noninteractive', '--', ...argv],
  ];
}
