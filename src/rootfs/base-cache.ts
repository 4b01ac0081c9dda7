/**
 * The base cache: bootstrap + recipe packages, kept under
 * `<stateDir>/base/<recipe>-<key>`, key = sha256(recipe.baseHash + the index
 * digest of the suite's published InRelease: its SHA256 lines, i.e. exactly
 * which Packages files it signs). A republish that changes only Date and
 * Valid-Until (the nightly refresh) keeps the key; new packages change it.
 * The same recipe against the same package set gives the same base, so the
 * next create only layers a machine over it (rootfs/overlay.ts) or clones it
 * (`cp -a --reflink=auto`: a reflink copy on btrfs/xfs, a plain copy on ext4,
 * where both measured 2-9 s for a 246 MB root on this machine). A base that
 * overlay machines stand on is never pruned.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Config, Recipe } from '../config/types.js';
import { OperationError } from '../errors.js';
import { freeBytes } from '../mirror/publish.js';
import { mirrorLayout } from '../mirror/layout.js';
import { clearsignedText, parseRelease } from '../mirror/release.js';
import { exists, type Shell } from '../shell.js';
import { withBuildDir, type BuildDir } from './builddir.js';

export interface BaseRef {
  key: string;
  /** Directory of the cached base root file system. */
  dir: string;
  /** sha256 of dists/<codename>/InRelease at resolution time (provenance). */
  inReleaseSha256: string;
  /** sha256 of the InRelease's SHA256 index lines (the key's mirror part). */
  indexDigest: string;
}

export function baseCacheDir(config: Pick<Config, 'stateDir'>): string {
  return join(config.stateDir, 'base');
}

export function inReleasePath(config: Pick<Config, 'stateDir' | 'mirror'>, codename: string): string {
  return join(mirrorLayout(config).dists, codename, 'InRelease');
}

async function readInRelease(config: Pick<Config, 'stateDir' | 'mirror'>, codename: string): Promise<Buffer> {
  const path = inReleasePath(config, codename);
  let data: Buffer;
  try {
    data = await fsp.readFile(path);
  } catch {
    throw new OperationError(
      `the local mirror has no publication for ${codename}: ${path} is missing`,
      `Warm the recipe first (\`nspawn-kit mirror warm <recipe>\`), or publish the mirror (\`nspawn-kit mirror publish\`).`,
    );
  }
  return data;
}

/** sha256 of the suite's published InRelease; the mirror must have published the codename. */
export async function inReleaseSha256(config: Pick<Config, 'stateDir' | 'mirror'>, codename: string): Promise<string> {
  return createHash('sha256').update(await readInRelease(config, codename)).digest('hex');
}

/** Digest of what a publication signs (its SHA256 index lines), not of when it was signed. */
export function indexDigestOf(inRelease: string): string {
  const lines = parseRelease(clearsignedText(inRelease))
    .sha256.map((e) => `${e.hash} ${e.size} ${e.path}`)
    .sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

export function baseKey(recipe: Pick<Recipe, 'baseHash'>, indexDigest: string): string {
  return createHash('sha256').update(`${recipe.baseHash}\n${indexDigest}\n`).digest('hex').slice(0, 16);
}

export function basePath(config: Pick<Config, 'stateDir'>, recipeName: string, key: string): string {
  return join(baseCacheDir(config), `${recipeName}-${key}`);
}

export async function resolveBase(config: Pick<Config, 'stateDir' | 'mirror'>, recipe: Pick<Recipe, 'name' | 'codename' | 'baseHash'>): Promise<BaseRef> {
  const data = await readInRelease(config, recipe.codename);
  const indexDigest = indexDigestOf(data.toString('utf8'));
  const key = baseKey(recipe, indexDigest);
  return { key, dir: basePath(config, recipe.name, key), inReleaseSha256: createHash('sha256').update(data).digest('hex'), indexDigest };
}

/** Stands for the base key in a dry run on a host whose mirror has not published the codename yet. */
export const PENDING_KEY = '<key after publish>';

/**
 * The base a dry run plans when the mirror has no publication of the
 * codename yet (a fresh host: warm and publish are only planned too): the
 * real key depends on what the publish will sign, so a placeholder stands in.
 */
export async function resolveBaseOrPlan(
  config: Pick<Config, 'stateDir' | 'mirror'>,
  recipe: Pick<Recipe, 'name' | 'codename' | 'baseHash'>,
  dryRun: boolean,
): Promise<BaseRef & { planned: boolean }> {
  if (dryRun && !(await exists(inReleasePath(config, recipe.codename)))) {
    return { key: PENDING_KEY, dir: basePath(config, recipe.name, PENDING_KEY), inReleaseSha256: '<after publish>', indexDigest: '<after publish>', planned: true };
  }
  return { ...(await resolveBase(config, recipe)), planned: false };
}

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
