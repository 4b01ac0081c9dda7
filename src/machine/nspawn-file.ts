/**
 * Host-side machine files: the `.nspawn` settings file and the
 * systemd-nspawn@.service override of the original recipe.
 *
 * Where the .nspawn file goes (systemd.nspawn(5), measured with systemd 252
 * here): systemd-nspawn looks for <machine>.nspawn in /etc/systemd/nspawn/
 * and /run/systemd/nspawn/ (trusted: every setting applies), then beside the
 * root directory (<machines.dir>/<name>.nspawn), where Bind=, BindReadOnly=,
 * the [Network] section and PrivateUsers= are ignored unless nspawn runs with
 * --settings=trusted. The file goes to machines.settingsDir; when that is not
 * one of the two trusted directories (a custom path, tests) it is written
 * beside the root as well and every boot/run passes --settings=trusted, so
 * the recipe's settings always apply.
 *
 * Also measured: any --bind/--bind-ro on the command line makes nspawn drop
 * ALL Bind=/BindReadOnly= lines of the file (command line wins per setting
 * group), so a machine with a settings file is started without our own
 * --bind-ro of the mirror: the file carries that bind too.
 */
import { posix } from 'node:path';
import type { Config, Recipe } from '../config/types.js';
import type { Shell } from '../shell.js';
import { MIRROR_MOUNT } from './paths.js';
import { assertSingleLine, systemdWord } from './render.js';
import { bindProblem } from '../config/path-policy.js';
import { OperationError } from '../errors.js';
import { mountUnitName, renderMountDropIn, renderMountUnit, type OverlayMountSpec } from './overlay-units.js';

/** Directories systemd-nspawn reads .nspawn files from with full trust. */
export const TRUSTED_SETTINGS_DIRS = ['/etc/systemd/nspawn', '/run/systemd/nspawn'] as const;
const DEFAULT_MACHINES_DIR = '/var/lib/machines';

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

/**
 * The settings file nspawn-kit writes for the machine and that systemd-nspawn
 * reads, and whether nspawn must be told to trust it.
 */
export function effectiveSettingsFile(config: Pick<Config, 'machines'>, machine: string, settingsDir = config.machines.settingsDir): { file: string; needsTrust: boolean } {
  return settingsBesideRoot(settingsDir)
    ? { file: besideRootSettingsFile(config, machine), needsTrust: true }
    : { file: posix.join(settingsDir, `${machine}.nspawn`), needsTrust: false };
}

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

/**
 * The machine's settings. An overlay machine needs nothing here: its
 * directory is a whole root, mounted on the host (machine/overlay-mount.ts).
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
 * --directory, since --machine alone searches /var/lib/machines. With the
 * settings file beside the root, --settings=trusted makes it apply fully.
 */
export function renderNspawnServiceOverride(machinesDir: string, trustBesideRoot = false): string {
  const args = ['systemd-nspawn', '--quiet', '--keep-unit', '--boot', '--link-journal=try-guest', '--machine=%i'];
  if (trustBesideRoot) args.push('--settings=trusted');
  const dir = posix.normalize(machinesDir).replace(/\/$/, '');
  if (dir !== DEFAULT_MACHINES_DIR) args.push(systemdWord(`--directory=${dir}/`, '%i'));
  return `# Written by nspawn-kit.\n[Service]\nExecStart=\nExecStart=${args.join(' ')}\n`;
}

export interface NspawnFilesOptions {
  /** Directory of the .nspawn file; default config.machines.settingsDir. */
  settingsDir?: string;
  /** Directory of unit drop-ins; default config.machines.unitDir. */
  unitDir?: string;
  /** An overlay machine's mount, for its .mount unit and RequiresMountsFor= (systemd as PID 1 only). */
  overlay?: OverlayMountSpec;
}

export interface NspawnFilesReport {
  /** Host path of the .nspawn file in settingsDir. */
  settingsFile: string;
  /** The copy beside the root, when settingsDir is not a directory nspawn reads. */
  besideRoot?: string;
  /** Host path of the service drop-in, or why it was not written. */
  serviceOverride: { written: string } | { skipped: string };
  /** An overlay machine's .mount unit and its RequiresMountsFor= drop-in, where written. */
  mountUnit?: { unit: string; dropIn: string };
}

export async function writeNspawnFiles(
  ctx: { sh: Shell; config: Config },
  machine: string,
  recipe: Recipe,
  opts: NspawnFilesOptions = {},
): Promise<NspawnFilesReport> {
  const { sh, config } = ctx;
  const settingsDir = opts.settingsDir ?? config.machines.settingsDir;
  const unitDir = opts.unitDir ?? config.machines.unitDir;
  const settingsFile = posix.join(settingsDir, `${machine}.nspawn`);
  const text = renderNspawnFile(machine, recipe, config);
  await sh.mkdir(settingsDir, 0o755);
  await sh.writeFile(settingsFile, text, 0o644);
  let besideRoot: string | undefined;
  if (settingsBesideRoot(settingsDir)) {
    besideRoot = besideRootSettingsFile(config, machine);
    await sh.writeFile(besideRoot, text, 0o644);
  }
  const files = besideRoot ? { settingsFile, besideRoot } : { settingsFile };
  if (!config.host.systemdPid1) {
    return { ...files, serviceOverride: { skipped: 'skipped: systemd is not PID 1' } };
  }
  const dropIn = posix.join(unitDir, `systemd-nspawn@${machine}.service.d`);
  const file = posix.join(dropIn, 'nspawn-kit.conf');
  await sh.mkdir(dropIn, 0o755);
  await sh.writeFile(file, renderNspawnServiceOverride(config.machines.dir, besideRoot !== undefined), 0o644);
  const mountUnit = opts.overlay ? await writeMountUnits(sh, unitDir, dropIn, opts.overlay) : undefined;
  await sh.write(['systemctl', ['daemon-reload']], { hint: 'Run `systemctl daemon-reload` yourself, then start the machine.' });
  return mountUnit ? { ...files, serviceOverride: { written: file }, mountUnit } : { ...files, serviceOverride: { written: file } };
}

/** The overlay's .mount unit beside the drop-ins, and the service's RequiresMountsFor=. */
export async function writeMountUnits(sh: Shell, unitDir: string, dropInDir: string, spec: OverlayMountSpec): Promise<{ unit: string; dropIn: string }> {
  const unit = posix.join(unitDir, mountUnitName(spec.where));
  const dropIn = posix.join(dropInDir, 'nspawn-kit-overlay.conf');
  await sh.writeFile(unit, renderMountUnit(spec), 0o644);
  await sh.writeFile(dropIn, renderMountDropIn(spec.where), 0o644);
  return { unit, dropIn };
}
