/**
 * The base cache: bootstrap + recipe packages, upgraded from every suite of
 * the recipe, kept under `<stateDir>/base/<recipe>-<key>`; the key
 * (base-key.ts) covers recipe.baseHash and the package sets the recipe's
 * suites publish. A republish that changes only Date and Valid-Until (the
 * nightly refresh) keeps the key; new packages in any suite change it.
 * The same recipe against the same package set gives the same base, so the
 * next create only layers a machine over it (rootfs/overlay.ts) or clones it
 * (`cp -a --reflink=auto`: a reflink copy on btrfs/xfs, a plain copy on ext4,
 * where both measured 2-9 s for a 246 MB root on this machine). A base that
 * overlay machines stand on is never pruned.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import { OperationError } from '../errors.js';
import { freeBytes } from '../mirror/publish.js';
import { exists, type Shell } from '../shell.js';
import { baseCacheDir, type BaseRef } from './base-key.js';
import { withBuildDir, type BuildDir } from './builddir.js';

export {
  baseCacheDir,
  baseKey,
  basePath,
  indexDigestOf,
  inReleasePath,
  inReleaseSha256,
  PENDING_KEY,
  publicationDigest,
  readPublication,
  resolveBase,
  resolveBaseOrPlan,
  type BaseRef,
  type SuitePublication,
} from './base-key.js';

/** Bases of a recipe that are on disk, e.g. ["bookworm-minimal-0123456789abcdef"]. */
export async function listBases(config: Pick<Config, 'stateDir'>, recipeName: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await fsp.readdir(baseCacheDir(config));
  } catch {
    return [];
  }
  return entries.filter((e) => isBaseOf(e, recipeName)).sort();
}

const HEX16 = /^[0-9a-f]{16}$/;

/**
 * Whether a base directory name is exactly "<recipe>-<16 hex>": recipe "web"
 * does not match the bases of "web-db". A plain comparison, never a pattern
 * built from the name (it may come from a machine's provenance record, which
 * root in the container can write).
 */
export function isBaseOf(entry: string, recipeName: string): boolean {
  const prefix = `${recipeName}-`;
  return recipeName !== '' && entry.length === prefix.length + 16 && entry.startsWith(prefix) && HEX16.test(entry.slice(prefix.length));
}

/** Removes the recipe's other bases once a new one is stored, except those overlay machines stand on. */
export async function pruneBases(sh: Shell, config: Pick<Config, 'stateDir'>, recipeName: string, keepKey: string, inUse: ReadonlySet<string> = new Set()): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await listBases(config, recipeName)) {
    if (entry === `${recipeName}-${keepKey}` || inUse.has(entry)) continue;
    await sh.remove(join(baseCacheDir(config), entry));
    removed.push(entry);
  }
  return removed;
}

/** Clones a base into an existing, empty directory; reflinks where the file system can. */
export async function cloneBase(sh: Shell, base: string, target: string, signal?: AbortSignal): Promise<void> {
  await sh.write(['cp', ['-a', '--reflink=auto', '--', `${base}/.`, target]], {
    signal,
    hint: 'Check free space under machines.dir; `nspawn-kit rm` unused machines.',
  });
}

/** Bytes used by a directory tree (one file system), for free-space checks and `list`. */
export async function treeBytes(sh: Shell, dir: string): Promise<number> {
  const out = await sh.read(['du', ['-sb', '--one-file-system', '--', dir]], { nothrow: true });
  const n = Number(out.stdout.split('\t')[0]);
  return Number.isFinite(n) ? n : 0;
}

/** Refuses to start when the file system holding `dir` has less than `need` bytes free. */
export async function checkFreeSpace(dir: string, need: number, what: string): Promise<void> {
  const free = await freeBytes(dir);
  if (free < need) {
    const mib = (n: number) => `${Math.ceil(n / 1048576)} MiB`;
    throw new OperationError(
      `not enough free space for ${what} under ${dir}: about ${mib(need)} needed, ${mib(free)} free; nothing was changed`,
      'Free space on that file system (e.g. `nspawn-kit rm` unused machines), then run the command again.',
    );
  }
}

/** A bootstrapped base with recipe packages: about 250-400 MB; keep a margin. */
export const BOOTSTRAP_FREE_BYTES = 1024 * 1024 * 1024;

/**
 * Builds a base with `build` in a transactional dir under <stateDir>/base and
 * stores it atomically (rename). If another process stored the same key in
 * the meantime, that one is kept and ours is discarded.
 */
export async function storeBase(
  ctx: { sh: Shell; config: Pick<Config, 'stateDir'> },
  recipeName: string,
  ref: BaseRef,
  build: (b: BuildDir) => Promise<void>,
  inUse: () => Promise<ReadonlySet<string>> = async () => new Set(),
): Promise<{ dir: string; pruned: string[] }> {
  const parent = baseCacheDir(ctx.config);
  await ctx.sh.mkdir(parent, 0o700);
  await checkFreeSpace(parent, BOOTSTRAP_FREE_BYTES, `the base root file system of ${recipeName}`);
  await withBuildDir(ctx.sh, { parent, label: `base-${recipeName}`, target: ref.dir }, async (b) => {
    await build(b);
    if (await exists(ref.dir)) {
      await b.discard();
      return;
    }
    await b.commit();
  });
  const pruned = await pruneBases(ctx.sh, ctx.config, recipeName, ref.key, await inUse());
  return { dir: ref.dir, pruned };
}
