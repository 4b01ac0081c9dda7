/**
 * Overlay machines: instead of copying the cached base (2-9 s for 250 MB on
 * this ext4 disk), a machine is an overlayfs over the base, which stays
 * read-only in `<stateDir>/base`. Its upper and work directories live in
 * `<stateDir>/overlay/<name>/` and the overlay is mounted on the host at
 * `<machines.dir>/<name>`, so that directory is a whole root
 * (machine/overlay-mount.ts). systemd-nspawn(1) says --overlay= cannot
 * replace the root: nspawn is only ever given the mounted directory.
 *
 * Not for recipes with PrivateUsers: nspawn would chown every file of the
 * base through the overlay, copying all of it up.
 */
import type { Config, Recipe } from '../config/types.js';
import { UsageError } from '../errors.js';
import type { Command, Shell } from '../shell.js';

export type CloneMode = 'overlay' | 'copy';

export interface CloneChoice {
  mode: CloneMode;
  /** Why "auto" chose a copy (shown in the progress line). */
  reason?: string;
}

/** Separators of mount(8) options (","), of overlay lower dirs (":"), and escapes. */
const UNSAFE_FOR_OVERLAY = /[,:\\\n]/;

/**
 * How a machine gets its root from the base: machines.clone "copy" always
 * copies; "overlay" refuses what it cannot do; "auto" (default) layers when
 * it can and says why when it copies.
 */
export function chooseClone(config: Pick<Config, 'machines'>, recipe: Pick<Recipe, 'name' | 'nspawn'>, baseDir: string): CloneChoice {
  const setting = config.machines.clone;
  if (setting === 'copy') return { mode: 'copy' };
  let blocker: string | undefined;
  if (recipe.nspawn.privateUsers !== false) {
    blocker = `recipe ${recipe.name} uses PrivateUsers, which would chown (and so copy up) every file of the base`;
  } else {
    const bad = [baseDir, config.machines.dir].find((p) => UNSAFE_FOR_OVERLAY.test(p));
    if (bad) blocker = `the path ${JSON.stringify(bad)} contains a character overlay mounts cannot take (",", ":" or "\\")`;
  }
  if (!blocker) return { mode: 'overlay' };
  if (setting === 'overlay') {
    throw new UsageError(`machines.clone is "overlay", but ${blocker}`, 'Set machines.clone to "auto" or "copy" in the configuration.');
  }
  return { mode: 'copy', reason: blocker };
}

export function overlayMountCommand(lower: string, upper: string, work: string, merged: string): Command {
  return ['mount', ['-t', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, '--', 'overlay', merged]];
}

/** Matches the name of a base directory: "<recipe>-<16 hex>". */
export const BASE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{16}$/;

/**
 * Mounts lower+upper at merged (work beside them, one file system).
 * Returns the mount's error text instead of throwing, so "auto" can fall back.
 */
export async function mountOverlay(
  sh: Shell,
  dirs: { lower: string; upper: string; work: string; merged: string },
  signal?: AbortSignal,
): Promise<string | undefined> {
  await sh.mkdir(dirs.work, 0o700);
  await sh.mkdir(dirs.merged, 0o755);
  const res = await sh.write(overlayMountCommand(dirs.lower, dirs.upper, dirs.work, dirs.merged), { nothrow: true, signal });
  return res.exitCode === 0 ? undefined : (res.stderr || res.stdout).trim() || `mount exited with ${res.exitCode}`;
}
