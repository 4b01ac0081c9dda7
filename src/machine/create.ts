/**
 * `nspawn-kit create`: a machine root under machines.dir from the signed
 * local mirror. Reads like its stages:
 *   sweep -> base (machine/base-build.ts: cache hit: reuse; miss: an older
 *   base of the recipe brought up to date, or bootstrap + apt-get install and
 *   upgrade from every suite; store) -> overlay (machine/create-overlay.ts) or copy
 *   -> inject first boot -> provenance -> commit -> .nspawn file
 * Everything is built in a transactional dir (rootfs/builddir.ts): a failure,
 * SIGINT or SIGTERM leaves no half machine and no stray mount.
 */
import { basename, join } from 'node:path';
import type { Config, Recipe } from '../config/types.js';
import { assertMachineName } from './name.js';
import { OperationError } from '../errors.js';
import { exists, type Shell } from '../shell.js';
import type { BootstrapProgress } from '../rootfs/backends.js';
import { checkFreeSpace, cloneBase, treeBytes } from '../rootfs/base-cache.js';
import { sweepStaleBuilds, withBuildDir } from '../rootfs/builddir.js';
import { chooseClone } from '../rootfs/overlay.js';
import { createOverlayMachine, discardMachine, removeLeftoverMountPoint } from './create-overlay.js';
import type { MachineHandle } from './handle.js';
import { injectFirstBoot, type InjectReport } from './inject.js';
import { effectiveSettingsFile } from './nspawn-argv.js';
import { writeNspawnFiles, type NspawnFilesReport } from './nspawn-file.js';
import type { Provenance } from './paths.js';
import { writeProvenance } from './provenance.js';
import type { MirrorAccess } from './sources.js';
import { ensureBase, type EnsuredBase } from './base-build.js';

export interface MachineContext {
  sh: Shell;
  config: Config;
}

export type CreateStage = 'sweep' | 'base' | 'bootstrap' | 'refresh' | 'packages' | 'store' | 'clone' | 'inject' | 'commit';

export interface CreateProgress {
  stage: CreateStage;
  message: string;
  /** debootstrap/dpkg package counts, during bootstrap and packages. */
  counts?: BootstrapProgress;
}

export interface CreateOptions {
  onProgress?: (p: CreateProgress) => void;
  /** How the container reaches the mirror after creation (default: bind mount). */
  mirrorAccess?: MirrorAccess;
  /** Where the .nspawn file goes (default config.machines.settingsDir). */
  settingsDir?: string;
  /** Where unit drop-ins go on systemd hosts (default config.machines.unitDir). */
  unitDir?: string;
  /** The base a preceding base stage ensured (a dry run then plans its build once, not twice). */
  base?: EnsuredBase;
}

export interface CreateReport {
  name: string;
  root: string;
  recipe: string;
  fromBaseCache: boolean;
  /** The older base the base was copied from and brought up to date (a cache miss without a bootstrap). */
  derivedFrom?: string;
  base: string;
  baseKey: string;
  inReleaseSha256: string;
  backend: Recipe['bootstrap'];
  /** "overlay": the machine directory holds only its changes over the base; "copy": a full copy. */
  storage: 'copy' | 'overlay';
  /** The machine, resolved: what boot, run and provision take. */
  handle: MachineHandle;
  injected: InjectReport | undefined;
  nspawnFiles: NspawnFilesReport;
  provenance: Provenance;
}

export { bindArg, directNspawnFlags, installCommand as installPackagesCommand } from './nspawn-argv.js';

export { aptErrors, ensureBase, type EnsuredBase } from './base-build.js';
export { assertMachineName, machineNameFor } from './name.js';

export async function createMachine(ctx: MachineContext, recipe: Recipe, name: string, opts: CreateOptions = {}): Promise<CreateReport> {
  const { sh, config } = ctx;
  const emit = opts.onProgress ?? (() => {});
  assertMachineName(name);
  emit({ stage: 'sweep', message: 'removing leftovers of interrupted builds' });
  await sweepStaleBuilds(ctx);
  const target = join(config.machines.dir, name);
  await removeLeftoverMountPoint(sh, config, name);
  if (await exists(target)) {
    throw new OperationError(`machine ${name} already exists at ${target}`, `Remove it first with \`nspawn-kit rm ${name}\`, or pick another --name.`);
  }
  const { ref, hit, derivedFrom } = opts.base ?? (await ensureBase(ctx, recipe, emit));
  await sh.mkdir(config.machines.dir, 0o700);
  const choice = chooseClone(config, recipe, ref.dir);
  // An overlay machine starts with only the injected files; a copy needs the whole base.
  const need = 64 * 1024 * 1024 + (choice.mode === 'copy' && !sh.dryRun ? await treeBytes(sh, ref.dir) : 0);
  if (!sh.dryRun) await checkFreeSpace(config.machines.dir, need, `machine ${name}`);
  const provenance: Provenance = {
    machine: name,
    recipe: recipe.name,
    recipeHash: recipe.hash,
    codename: recipe.codename,
    inReleaseSha256: ref.inReleaseSha256,
    indexDigest: ref.indexDigest,
    // Every suite's publication the base was built (or brought up to date) from; a dry run's placeholder has none.
    ...(Object.keys(ref.suites).length ? { suites: ref.suites } : {}),
    builtAt: new Date().toISOString(),
    backend: recipe.bootstrap,
    fromBaseCache: hit,
    storage: 'copy',
  };
  let injected: InjectReport | undefined;
  const fill = async (view: string): Promise<void> => {
    emit({ stage: 'inject', message: `first boot (${recipe.firstboot}), sources, hostname, users` });
    if (sh.dryRun) return;
    injected = await injectFirstBoot(ctx, view, recipe, name, { mirrorAccess: opts.mirrorAccess ?? { kind: 'bind' } });
    await writeProvenance(sh, view, provenance);
  };
  let handle: MachineHandle | undefined;
  if (choice.mode === 'overlay') {
    emit({ stage: 'clone', message: `overlay: ${target} over the read-only base ${ref.dir}` });
    Object.assign(provenance, { storage: 'overlay', base: basename(ref.dir) });
    const built = await createOverlayMachine(ctx, { name, recipe, lower: ref.dir, base: basename(ref.dir), fill });
    if (built.ok) handle = built.handle;
    else if (config.machines.clone === 'overlay') {
      throw new OperationError(`could not mount an overlay for machine ${name}: ${built.error}`, 'Load overlayfs (`modprobe overlay`), or set machines.clone to "copy" or "auto".');
    } else {
      emit({ stage: 'clone', message: `overlay not available (${built.error}); copying the base instead` });
      provenance.storage = 'copy';
      delete provenance.base;
    }
  } else if (choice.reason) {
    emit({ stage: 'clone', message: `copying the base: ${choice.reason}` });
  }
  if (handle === undefined) {
    await withBuildDir(sh, { parent: config.machines.dir, label: name, target }, async (b) => {
      emit({ stage: 'clone', message: `cp -a --reflink=auto ${ref.dir} -> ${target}` });
      await cloneBase(sh, ref.dir, b.root, b.signal);
      await fill(b.root);
      emit({ stage: 'commit', message: `rename into ${target}` });
      await b.commit();
    });
    handle = { name, root: target, storage: { kind: 'copy' }, settings: effectiveSettingsFile(config, name) };
  }
  let nspawnFiles: NspawnFilesReport;
  try {
    nspawnFiles = await writeNspawnFiles(ctx, handle, recipe, { settingsDir: opts.settingsDir, unitDir: opts.unitDir });
  } catch (err) {
    // No machine without its settings: roll the create back.
    await discardMachine(sh, handle);
    throw err;
  }
  return {
    name,
    root: target,
    recipe: recipe.name,
    fromBaseCache: hit,
    ...(derivedFrom ? { derivedFrom } : {}),
    base: ref.dir,
    baseKey: ref.key,
    inReleaseSha256: ref.inReleaseSha256,
    backend: recipe.bootstrap,
    storage: provenance.storage ?? 'copy',
    handle,
    injected,
    nspawnFiles,
    provenance,
  };
}
