/**
 * `nspawn-kit create`: a machine root under machines.dir from the signed
 * local mirror. Reads like its stages:
 *   sweep -> base (cache hit: reuse; miss: bootstrap + apt-get install + store)
 *   -> clone -> inject first boot -> provenance -> rename into place -> .nspawn file
 * Everything is built in a transactional dir (rootfs/builddir.ts): a failure,
 * SIGINT or SIGTERM leaves no half machine and no mount.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import type { Config, Recipe } from '../config/types.js';
import { assertMachineName } from './name.js';
import { OperationError, tail } from '../errors.js';
import { mirrorLayout } from '../mirror/layout.js';
import { exists, type Shell } from '../shell.js';
import { bootstrapCommand, bootstrapSpec, emptyProgress, parseProgressLine, type BootstrapProgress } from '../rootfs/backends.js';
import { checkFreeSpace, cloneBase, resolveBaseOrPlan, storeBase, treeBytes, type BaseRef } from '../rootfs/base-cache.js';
import { sweepStaleBuilds, withBuildDir } from '../rootfs/builddir.js';
import { chooseClone } from '../rootfs/overlay.js';
import { createOverlayMachine, discardMachine, removeLeftoverMountPoint } from './create-overlay.js';
import type { MachineHandle } from './handle.js';
import { injectFirstBoot, writeInRoot, type InjectReport } from './inject.js';
import { effectiveSettingsFile } from './nspawn-argv.js';
import { writeNspawnFiles, type NspawnFilesReport } from './nspawn-file.js';
import type { Provenance } from './paths.js';
import { installCommand } from './nspawn-argv.js';
import { writeProvenance } from './provenance.js';
import { basesInUse } from './storage.js';
import { MIRROR_KEYRING, MIRROR_SOURCES, LEGACY_SOURCES_LIST, renderMirrorSources, type MirrorAccess } from './sources.js';

export interface MachineContext {
  sh: Shell;
  config: Config;
}

export type CreateStage = 'sweep' | 'base' | 'bootstrap' | 'packages' | 'store' | 'clone' | 'inject' | 'commit';

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
  base?: { ref: BaseRef; hit: boolean };
}

export interface CreateReport {
  name: string;
  root: string;
  recipe: string;
  fromBaseCache: boolean;
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

/** apt's own error lines ("E: Unable to locate package foo"), for the error message. */
export function aptErrors(output: string): string[] {
  return output.split('\n').map((l) => l.trim()).filter((l) => /^(E: |Err:\d* )/.test(l));
}

async function bootstrap(ctx: MachineContext, recipe: Recipe, root: string, signal: AbortSignal, emit: (p: CreateProgress) => void): Promise<void> {
  const layout = mirrorLayout(ctx.config);
  // A dry run on a fresh host plans the publish (and its key) before this: plan the bootstrap anyway.
  if (!ctx.sh.dryRun && !(await exists(layout.publicKeyring))) {
    throw new OperationError(`the mirror keyring ${layout.publicKeyring} is missing`, 'Publish the mirror first: `nspawn-kit mirror publish`.');
  }
  const spec = bootstrapSpec(recipe, { architecture: ctx.config.host.architecture, target: root, mirrorRoot: layout.root, keyring: layout.publicKeyring });
  const counts = emptyProgress();
  emit({ stage: 'bootstrap', message: `${recipe.bootstrap} ${recipe.codename} from ${layout.root}`, counts });
  try {
    await ctx.sh.write(bootstrapCommand(spec), {
      signal,
      onLine: (line) => {
        if (parseProgressLine(counts, line)) emit({ stage: 'bootstrap', message: line, counts });
      },
      hint: `The local mirror may lack packages of ${recipe.codename}: warm the recipe (\`nspawn-kit mirror warm ${recipe.name}\`) and try again.`,
    });
  } catch (err) {
    // debootstrap says why in its own log, which is about to be removed with the build dir.
    const log = await fsp.readFile(join(root, 'debootstrap', 'debootstrap.log'), 'utf8').catch(() => '');
    if (log && err instanceof Error) err.message += `\n  debootstrap.log (last lines):\n${tail(log, 10).replace(/^/gm, '    ')}`;
    throw err;
  }
}

/** Installs recipe.packages from the bind-mounted mirror, then leaves no source, key, list or .deb behind. */
async function installPackages(ctx: MachineContext, recipe: Recipe, root: string, signal: AbortSignal, emit: (p: CreateProgress) => void): Promise<void> {
  const { sh, config } = ctx;
  const layout = mirrorLayout(config);
  // The bootstrap's sources.list names the host path of the mirror (file:// or copy://), useless inside.
  const legacy = join(root, LEGACY_SOURCES_LIST);
  if ((await fsp.lstat(legacy).catch(() => undefined)) !== undefined) await sh.remove(legacy);
  const key = await fsp.readFile(layout.publicKeyAsc).catch(() => {
    if (sh.dryRun) return Buffer.from(`(the public key ${layout.publicKeyAsc}, written by the first publish)\n`);
    throw new OperationError(`the mirror's public key ${layout.publicKeyAsc} is missing`, 'Publish the mirror first: `nspawn-kit mirror publish`.');
  });
  // In a dry run the root does not exist: plan the writes at their plain paths.
  const put = (inner: string, data: string | Buffer) =>
    sh.dryRun ? sh.writeFile(join(root, inner), data, 0o644) : writeInRoot(sh, root, inner, data, 0o644);
  await put(MIRROR_KEYRING, key);
  await put(MIRROR_SOURCES, renderMirrorSources(recipe.codename, { kind: 'bind' }));
  const counts = emptyProgress();
  emit({ stage: 'packages', message: `apt-get install ${recipe.packages.join(' ') || '(none)'}`, counts });
  const unit = `nk-build-${randomBytes(4).toString('hex')}`;
  const res = await sh.write(installCommand(config, root, recipe.packages, unit), {
    signal,
    nothrow: true,
    onLine: (line) => {
      if (parseProgressLine(counts, line)) emit({ stage: 'packages', message: line, counts });
    },
  });
  if (res.exitCode !== 0) {
    const errors = aptErrors(`${res.stdout}\n${res.stderr}`);
    const why = errors.length ? errors.join('\n  ') : tail(res.stderr || res.stdout, 10);
    throw new OperationError(
      `installing the packages of recipe ${recipe.name} failed (exit ${res.exitCode}):\n  ${why}`,
      `Check the package names in recipe ${recipe.name}, and warm it (\`nspawn-kit mirror warm ${recipe.name}\`) so the mirror holds them.`,
    );
  }
  // The base stays neutral: injection writes the final sources; lists name the build-time source.
  for (const inner of [MIRROR_SOURCES, MIRROR_KEYRING]) await sh.remove(join(root, inner));
  const lists = join(root, 'var', 'lib', 'apt', 'lists');
  for (const entry of await fsp.readdir(lists).catch(() => [] as string[])) {
    if (entry !== 'lock' && entry !== 'partial' && entry !== 'auxfiles') await sh.remove(join(lists, entry));
  }
}

/** The cached base for recipe + current mirror publication, built and stored when missing. */
export async function ensureBase(
  ctx: MachineContext,
  recipe: Recipe,
  emit: (p: CreateProgress) => void = () => {},
): Promise<{ ref: BaseRef; hit: boolean }> {
  const ref = await resolveBaseOrPlan(ctx.config, recipe, ctx.sh.dryRun);
  if (ref.planned) emit({ stage: 'base', message: `dry run: no publication of ${recipe.codename} yet; the base key is known after the publish` });
  if (await exists(ref.dir)) {
    emit({ stage: 'base', message: `base cache hit: ${ref.dir}` });
    return { ref, hit: true };
  }
  emit({ stage: 'base', message: `base cache miss: building ${ref.dir}` });
  await storeBase(
    ctx,
    recipe.name,
    ref,
    async (b) => {
      await bootstrap(ctx, recipe, b.root, b.signal, emit);
      await installPackages(ctx, recipe, b.root, b.signal, emit);
      emit({ stage: 'store', message: `storing base ${ref.dir}` });
    },
    () => basesInUse(ctx.config),
  );
  return { ref, hit: false };
}

export { assertMachineName } from './name.js';

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
  const { ref, hit } = opts.base ?? (await ensureBase(ctx, recipe, emit));
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
