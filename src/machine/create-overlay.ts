/**
 * Building an overlay machine (machine/overlay-state.ts has the layout):
 * upper and work are made in a build dir under <stateDir>/overlay, the
 * overlay is mounted there for the first-boot injection, then unmounted;
 * the host record is written into the build dir, the mount point
 * <machines.dir>/<name> is made, the build dir is renamed to
 * <stateDir>/overlay/<name> (the commit) and the overlay mounted at the
 * machine directory. A kill before the rename leaves a build dir (swept by
 * the next command) and at most an empty mount point (removed by the next
 * create of that name); after it, a machine that the next use mounts.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Config, Recipe } from '../config/types.js';
import { OperationError } from '../errors.js';
import { exists, type Shell } from '../shell.js';
import { checkFreeSpace } from '../rootfs/base-cache.js';
import { openBuildDir, unmountAll } from '../rootfs/builddir.js';
import { mountOverlay } from '../rootfs/overlay.js';
import { readMountInfo, topMountAt } from '../proc.js';
import type { MachineHandle } from './handle.js';
import { effectiveSettingsFile } from './nspawn-argv.js';
import { ensureMounted, unmountMachine } from './overlay-mount.js';
import { OVERLAY_RECORD, overlayPaths, overlayStateParent, renderOverlayRecord } from './overlay-state.js';

export interface OverlayBuildOptions {
  name: string;
  recipe: Pick<Recipe, 'name'>;
  /** The base directory and its name under <stateDir>/base. */
  lower: string;
  base: string;
  /** Writes the first boot and provenance into the mounted root (skipped by the caller in a dry run). */
  fill: (root: string) => Promise<void>;
}

export type OverlayBuildResult = { ok: true; handle: MachineHandle } | { ok: false; error: string };

/**
 * An empty, unmounted directory at the machine's path with no overlay state:
 * the mount point of a create killed before its commit. Removed; anything
 * else at that path is a machine and is left alone.
 */
export async function removeLeftoverMountPoint(sh: Shell, config: Pick<Config, 'machines' | 'stateDir'>, name: string): Promise<boolean> {
  const root = join(config.machines.dir, name);
  const st = await fsp.lstat(root).catch(() => undefined);
  if (!st?.isDirectory() || (await exists(overlayPaths(config, name).state))) return false;
  if ((await fsp.readdir(root)).length > 0 || topMountAt(await readMountInfo(), await fsp.realpath(root))) return false;
  await sh.write(['rmdir', ['--', root]]);
  return true;
}

export async function createOverlayMachine(ctx: { sh: Shell; config: Config }, opts: OverlayBuildOptions): Promise<OverlayBuildResult> {
  const { sh, config } = ctx;
  const { name } = opts;
  const paths = overlayPaths(config, name);
  const root = join(config.machines.dir, name);
  // Leftover build dirs of a killed create were swept by createMachine (rootfs/build-sweep.ts).
  if (await exists(paths.state)) {
    throw new OperationError(`machine ${name} has overlay state at ${paths.state} but no machine directory`, `Remove what is left of it with \`nspawn-kit rm ${name}\`, then create it again.`);
  }
  await sh.mkdir(overlayStateParent(config), 0o700);
  // The real path: mountinfo names mount points by it, and the build's mount must be found to be undone.
  const parent = sh.dryRun ? overlayStateParent(config) : await fsp.realpath(overlayStateParent(config));
  if (!sh.dryRun) await checkFreeSpace(parent, 64 * 1024 * 1024, `machine ${name}`);
  const build = await openBuildDir(sh, { parent, label: name, target: join(parent, name) });
  let madeRoot = false;
  try {
    const upper = join(build.dir, 'upper');
    await sh.mkdir(upper, 0o755);
    const error = await mountOverlay(sh, { lower: opts.lower, upper, work: join(build.dir, 'work'), merged: build.root }, build.signal);
    if (error !== undefined) {
      await build.discard();
      return { ok: false, error };
    }
    await opts.fill(build.root);
    await unmountAll(sh, build.root);
    await sh.writeFile(join(build.dir, OVERLAY_RECORD), renderOverlayRecord({ version: 1, machine: name, recipe: opts.recipe.name, base: opts.base }), 0o644);
    await sh.remove(build.root);
    if (await exists(root)) throw new OperationError(`${root} already exists`, `Remove it first with \`nspawn-kit rm ${name}\`, or pick another --name.`);
    // The mount point first: a kill between the two leaves only an empty directory.
    await sh.mkdir(root, 0o755);
    madeRoot = true;
    await sh.rename(build.dir, join(parent, name));
  } catch (err) {
    await build.discard();
    if (madeRoot && !sh.dryRun) await fsp.rmdir(root).catch(() => undefined);
    throw err;
  }
  await build.discard();
  const handle: MachineHandle = { name, root, storage: { kind: 'overlay', recipe: opts.recipe.name, base: opts.base, lower: opts.lower, paths }, settings: effectiveSettingsFile(config, name) };
  await ensureMounted(sh, handle);
  return { ok: true, handle };
}

/** Rolls a just-created machine back (its settings could not be written): unmounted, state and directory removed. */
export async function discardMachine(sh: Shell, handle: MachineHandle): Promise<void> {
  if (handle.storage.kind === 'overlay') {
    await unmountMachine(sh, handle);
    await sh.remove(handle.storage.paths.state);
  }
  await sh.remove(handle.root);
}
