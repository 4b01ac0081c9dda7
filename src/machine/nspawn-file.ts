/**
 * Host-side machine files, written: the `.nspawn` settings file (in
 * machines.settingsDir, and beside the root when that is not a directory
 * systemd-nspawn trusts), the systemd-nspawn@.service drop-in of the
 * original recipe and, for an overlay machine, its .mount unit. The texts
 * come from machine/nspawn-argv.ts and machine/overlay-units.ts.
 */
import { posix } from 'node:path';
import type { Config, Recipe } from '../config/types.js';
import type { Shell } from '../shell.js';
import { besideRootSettingsFile, renderNspawnFile, renderNspawnServiceOverride, serviceDropInDir, settingsBesideRoot } from './nspawn-argv.js';
import type { MachineHandle } from './handle.js';
import { mountUnitName, overlayMountSpec, renderMountDropIn, renderMountUnit, type OverlayMountSpec } from './overlay-units.js';

export {
  TRUSTED_SETTINGS_DIRS,
  besideRootSettingsFile,
  effectiveSettingsFile,
  networkLines,
  renderNspawnFile,
  renderNspawnServiceOverride,
  resolvConfLines,
  settingsBesideRoot,
} from './nspawn-argv.js';

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
  ref: string | MachineHandle,
  recipe: Recipe,
  opts: NspawnFilesOptions = {},
): Promise<NspawnFilesReport> {
  const { sh, config } = ctx;
  const machine = typeof ref === 'string' ? ref : ref.name;
  // A handle of an overlay machine brings its mount; a bare name gets what the options say.
  const overlay = opts.overlay ?? (typeof ref === 'string' ? undefined : overlayMountSpec(ref));
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
  const dropIn = serviceDropInDir(unitDir, machine);
  const file = posix.join(dropIn, 'nspawn-kit.conf');
  await sh.mkdir(dropIn, 0o755);
  await sh.writeFile(file, renderNspawnServiceOverride(config.machines.dir, besideRoot !== undefined), 0o644);
  const mountUnit = overlay ? await writeMountUnits(sh, unitDir, dropIn, overlay) : undefined;
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
