/**
 * Overlay machines: instead of copying the cached base (2-9 s for 250 MB on
 * this ext4 disk), a machine is an overlayfs upper directory over the base,
 * which stays read-only in `<stateDir>/base`. The machine directory
 * `<machines.dir>/<name>` holds only what differs from the base; nspawn
 * stacks them with `--overlay=<base>:<machines.dir>/<name>:/` (measured here
 * with systemd 252: the upper directory may be the --directory itself, and
 * the .nspawn file's `Overlay=` does the same for `machinectl start` and
 * `systemd-nspawn -M NAME`).
 *
 * At create the overlay is mounted in the build dir, the first boot is
 * injected through it, and the upper directory is renamed into place; to
 * pass nspawn's checks before it mounts the overlay (os-release for --boot,
 * /usr for a command) the upper directory carries copies of those.
 *
 * Not for recipes with PrivateUsers: nspawn would chown every file of the
 * base through the overlay, copying all of it up.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Config, Recipe } from '../config/types.js';
import { UsageError } from '../errors.js';
import type { Command, Shell } from '../shell.js';

export type CloneMode = 'overlay' | 'copy';

export interface CloneChoice {
  mode: CloneMode;
  /** Why "auto" chose a copy (shown in the progress line). */
  reason?: string;
}

/** Separators of mount(8) options (",") and of nspawn's --overlay (":"), and escapes. */
const UNSAFE_FOR_OVERLAY = /[,:\\\n]/;

/**
 * Paths a machine's upper directory must show from the host before nspawn
 * mounts the overlay: nspawn checks for an OS tree (os-release) and /usr
 * there, and the watcher picks up .debs from the apt archive directory
 * (emptied by `apt-get clean` when the base was built).
 */
export const UPPER_SEED = ['usr/lib/os-release', 'etc/os-release', 'var/cache/apt/archives'] as const;

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

/** nspawn's --overlay= / Overlay= value that puts the machine's directory over its base at "/". */
export function nspawnOverlayValue(lower: string, upper: string): string {
  return `${lower}:${upper}:/`;
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

/**
 * After the overlay is unmounted: copies into the upper directory what nspawn
 * and the watcher look for before the overlay exists (see UPPER_SEED_*),
 * with the owner and mode of the base's parent directories.
 */
export async function seedUpper(sh: Shell, lower: string, upper: string): Promise<void> {
  const present: string[] = [];
  for (const rel of UPPER_SEED) {
    if (await fsp.lstat(join(lower, rel)).catch(() => undefined)) present.push(rel);
  }
  // cp --parents -a: missing parents are created with the attributes of the base's.
  if (present.length) await sh.write(['cp', ['-a', '--parents', '--', ...present, upper]], { cwd: lower });
}
