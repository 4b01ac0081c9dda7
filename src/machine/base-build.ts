/**
 * The base of a machine (the base stage of create and of the container
 * graph): the cached base for the recipe and the current publications of its
 * suites, built when missing: bootstrap from the local mirror (the release),
 * then, in a non-booted systemd-nspawn without network, update from every
 * suite, install the recipe's packages and upgrade, then store it
 * (rootfs/base-cache.ts), never pruning a base an overlay machine stands on.
 * When an older base of the same recipe is cached, the new one is that base
 * copied and brought up to date by the same step instead (base-refresh.ts).
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Recipe } from '../config/types.js';
import { OperationError, tail } from '../errors.js';
import { mirrorLayout } from '../mirror/layout.js';
import { exists } from '../shell.js';
import { bootstrapCommand, bootstrapSpec, emptyProgress, finalEvents, progressLines, type BootstrapProgress } from '../rootfs/backends.js';
import { cloneBase, resolveBaseOrPlan, storeBase, type BaseRef } from '../rootfs/base-cache.js';
import { baseRecordOf, findParentBase, writeBaseRecord } from './base-refresh.js';
import type { CreateProgress, MachineContext } from './create.js';
import { writeInRoot } from './inject.js';
import { installCommand } from './nspawn-argv.js';
import { MIRROR_KEYRING, MIRROR_SOURCES, LEGACY_SOURCES_LIST, renderMirrorSources } from './sources.js';
import { basesInUse } from './storage.js';

/** apt's own error lines ("E: Unable to locate package foo"), for the error message. */
export function aptErrors(output: string): string[] {
  return output.split('\n').map((l) => l.trim()).filter((l) => /^(E: |Err:\d* )/.test(l));
}

/** How many packages apt's last summary line ("N upgraded, ... and K not upgraded.") left behind. */
export function notUpgraded(output: string): number {
  const all = [...output.matchAll(/^\d+ upgraded, \d+ newly installed, \d+ to remove and (\d+) not upgraded\.$/gm)];
  return Number(all.at(-1)?.[1] ?? 0);
}

/**
 * An onLine for debootstrap, mmdebstrap or apt-get: counts into `counts`; a status line to `emit`
 * when a step starts (retrieve, extract, unpack, configure, done: apt-get's alternate per package);
 * how far along, with the total, to sh.progress.
 */
function countLines(ctx: MachineContext, stage: 'bootstrap' | 'packages', counts: BootstrapProgress, emit: (p: CreateProgress) => void): (line: string) => void {
  const started = new Set<string>(['starting']);
  const report = progressLines(stage, counts, (event) => ctx.sh.progress(event));
  return (line) => {
    if (!report(line)) return;
    const step = counts.stage === 'validating' ? 'retrieving' : counts.stage;
    if (!started.has(step)) emit({ stage, message: line, counts });
    started.add(step);
  };
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
      onLine: countLines(ctx, 'bootstrap', counts, emit),
      hint: `The local mirror may lack packages of ${recipe.codename}: warm the recipe (\`nspawn-kit mirror warm ${recipe.name}\`) and try again.`,
    });
    for (const event of finalEvents('bootstrap', counts)) ctx.sh.progress(event);
  } catch (err) {
    // debootstrap says why in its own log, which is about to be removed with the build dir.
    const log = await fsp.readFile(join(root, 'debootstrap', 'debootstrap.log'), 'utf8').catch(() => '');
    if (log && err instanceof Error) err.message += `\n  debootstrap.log (last lines):\n${tail(log, 10).replace(/^/gm, '    ')}`;
    throw err;
  }
}

/**
 * Updates from every suite of the recipe, installs recipe.packages and
 * upgrades, from the bind-mounted mirror; then leaves no source, key, list or .deb behind.
 */
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
  await put(MIRROR_SOURCES, renderMirrorSources(recipe.suites, { kind: 'bind' }));
  const counts = emptyProgress();
  emit({ stage: 'packages', message: `apt-get install ${recipe.packages.join(' ') || '(none)'}, upgrade from ${recipe.suites.join(', ')}`, counts });
  const unit = `nk-build-${randomBytes(4).toString('hex')}`;
  const res = await sh.write(installCommand(config, root, recipe.packages, unit), {
    signal,
    nothrow: true,
    onLine: countLines(ctx, 'packages', counts, emit),
  });
  if (res.exitCode !== 0) {
    const errors = aptErrors(`${res.stdout}\n${res.stderr}`);
    const why = errors.length ? errors.join('\n  ') : tail(res.stderr || res.stdout, 10);
    throw new OperationError(
      `installing the packages of recipe ${recipe.name} failed (exit ${res.exitCode}):\n  ${why}`,
      `Check the package names in recipe ${recipe.name}, and warm it (\`nspawn-kit mirror warm ${recipe.name}\`) so the mirror holds them.`,
    );
  }
  for (const event of finalEvents('packages', counts)) sh.progress(event);
  const held = notUpgraded(res.stdout);
  if (held > 0) emit({ stage: 'packages', message: `warning: ${held} package(s) kept back by apt-get upgrade (an upgrade would remove a package, or a phased update)` });
  // The base stays neutral: injection writes the final sources; lists name the build-time source.
  for (const inner of [MIRROR_SOURCES, MIRROR_KEYRING]) await sh.remove(join(root, inner));
  const lists = join(root, 'var', 'lib', 'apt', 'lists');
  for (const entry of await fsp.readdir(lists).catch(() => [] as string[])) {
    if (entry !== 'lock' && entry !== 'partial' && entry !== 'auxfiles') await sh.remove(join(lists, entry));
  }
}

export interface EnsuredBase {
  ref: BaseRef;
  /** The base was in the cache as is. */
  hit: boolean;
  /** Built from this older base (its name under <stateDir>/base), brought up to date; absent: bootstrapped or a hit. */
  derivedFrom?: string;
}

/**
 * The cached base for the recipe + the current publications of its suites;
 * on a miss, an older base of the same recipe brought up to date, else a
 * fresh bootstrap; stored, then older bases no machine stands on pruned.
 */
export async function ensureBase(ctx: MachineContext, recipe: Recipe, emit: (p: CreateProgress) => void = () => {}): Promise<EnsuredBase> {
  const ref = await resolveBaseOrPlan(ctx.config, recipe, ctx.sh.dryRun);
  if (ref.planned) emit({ stage: 'base', message: `dry run: no publication of ${recipe.suites.join(', ')} yet; the base key is known after the publish` });
  if (await exists(ref.dir)) {
    emit({ stage: 'base', message: `base cache hit: ${ref.dir}` });
    return { ref, hit: true };
  }
  const parent = ref.planned ? undefined : await findParentBase(ctx.config, recipe, ref);
  emit({ stage: 'base', message: parent ? `base cache miss: bringing ${parent.name} up to date into ${ref.dir}` : `base cache miss: building ${ref.dir}` });
  await storeBase(
    ctx,
    recipe.name,
    ref,
    async (b) => {
      if (parent) {
        emit({ stage: 'refresh', message: `cp -a --reflink=auto ${parent.dir} (built ${parent.record.builtAt}), then apt-get upgrade from the mirror` });
        await cloneBase(ctx.sh, parent.dir, b.root, b.signal);
      } else {
        await bootstrap(ctx, recipe, b.root, b.signal, emit);
      }
      await installPackages(ctx, recipe, b.root, b.signal, emit);
      emit({ stage: 'store', message: `storing base ${ref.dir}` });
      if (!ctx.sh.dryRun) await writeBaseRecord(ctx.sh, b.root, baseRecordOf(recipe, ref, parent?.name));
    },
    () => basesInUse(ctx.config),
  );
  return parent ? { ref, hit: false, derivedFrom: parent.name } : { ref, hit: false };
}
