/**
 * Host-side machine files: the `.nspawn` settings file and the
 * systemd-nspawn@.service override of the original recipe.
 *
 * Where the .nspawn file goes (systemd.nspawn(5)): systemd-nspawn reads it
 * with all settings from /etc/systemd/nspawn/ or /run/systemd/nspawn/; one
 * found beside the root directory (<machines.dir>/<name>.nspawn) has its
 * privileged settings ignored (Bind=, BindReadOnly=, PrivateUsers=,
 * VirtualEthernet=) unless nspawn runs with --settings=trusted. We write it
 * to /etc/systemd/nspawn/ by default, where every settings takes effect for
 * `systemd-nspawn -D <machines.dir>/<name>` and for machinectl alike; a
 * caller that must not touch /etc (tests) passes settingsDir and then boots
 * with --settings=trusted.
 */
import { posix } from 'node:path';
import type { Config, Recipe } from '../config/types.js';
import type { Shell } from '../shell.js';
import { MIRROR_MOUNT } from './paths.js';
import { assertSingleLine, systemdWord } from './render.js';

export const DEFAULT_SETTINGS_DIR = '/etc/systemd/nspawn';
export const DEFAULT_UNIT_DIR = '/etc/systemd/system';
const DEFAULT_MACHINES_DIR = '/var/lib/machines';

/** Colons separate the fields of Bind=; a path with a colon must escape it. */
function bindPath(path: string): string {
  return path.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
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

export function renderNspawnFile(machine: string, recipe: Recipe, config: Pick<Config, 'mirror'>): string {
  const binds = recipe.nspawn.binds.map((b) => `Bind=${assertSingleLine(b, 'nspawn.binds entry')}`);
  const ro = recipe.nspawn.bindsReadOnly.map((b) => `BindReadOnly=${assertSingleLine(b, 'nspawn.bindsReadOnly entry')}`);
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
    `BindReadOnly=${bindPath(assertSingleLine(config.mirror.root, 'mirror.root'))}:${MIRROR_MOUNT}`,
    ...ro,
    ...binds,
    '',
  ].join('\n');
}

/**
 * Drop-in for systemd-nspawn@<machine>.service, from the original recipe: the
 * stock template adds --network-veth -U --settings=override, which would
 * override the .nspawn file; this ExecStart leaves network and user
 * namespacing to it. A machines.dir other than /var/lib/machines needs
 * --directory, since --machine alone searches /var/lib/machines.
 */
export function renderNspawnServiceOverride(machinesDir: string): string {
  const args = ['systemd-nspawn', '--quiet', '--keep-unit', '--boot', '--link-journal=try-guest', '--machine=%i'];
  const dir = posix.normalize(machinesDir).replace(/\/$/, '');
  if (dir !== DEFAULT_MACHINES_DIR) args.push(systemdWord(`--directory=${dir}/`, '%i'));
  return `# Written by nspawn-kit.\n[Service]\nExecStart=\nExecStart=${args.join(' ')}\n`;
}

export interface NspawnFilesOptions {
  /** Directory of the .nspawn file; default /etc/systemd/nspawn. */
  settingsDir?: string;
  /** Directory of unit drop-ins; default /etc/systemd/system. */
  unitDir?: string;
}

export interface NspawnFilesReport {
  /** Host path of the .nspawn file. */
  settingsFile: string;
  /** Host path of the service drop-in, or why it was not written. */
  serviceOverride: { written: string } | { skipped: string };
}

export async function writeNspawnFiles(
  ctx: { sh: Shell; config: Config },
  machine: string,
  recipe: Recipe,
  opts: NspawnFilesOptions = {},
): Promise<NspawnFilesReport> {
  const { sh, config } = ctx;
  const settingsDir = opts.settingsDir ?? DEFAULT_SETTINGS_DIR;
  const settingsFile = posix.join(settingsDir, `${machine}.nspawn`);
  await sh.mkdir(settingsDir, 0o755);
  await sh.writeFile(settingsFile, renderNspawnFile(machine, recipe, config), 0o644);
  if (!config.host.systemdPid1) {
    return { settingsFile, serviceOverride: { skipped: 'skipped: systemd is not PID 1' } };
  }
  const dropIn = posix.join(opts.unitDir ?? DEFAULT_UNIT_DIR, `systemd-nspawn@${machine}.service.d`);
  const file = posix.join(dropIn, 'nspawn-kit.conf');
  await sh.mkdir(dropIn, 0o755);
  await sh.writeFile(file, renderNspawnServiceOverride(config.machines.dir), 0o644);
  await sh.write(['systemctl', ['daemon-reload']], { hint: 'Run `systemctl daemon-reload` yourself, then start the machine.' });
  return { settingsFile, serviceOverride: { written: file } };
}
