/**
 * The pool: atomic ingest of validated .debs (staging: stage.ts), stale
 * temp-file cleanup and a walk of its files. The pool index, what was
 * validated for every pool file, is pool-index.ts's (re-exported here).
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fsyncDir, type Shell } from '../shell.js';
import { sha256File, type DebPackage } from './deb.js';
import type { MirrorLayout } from './layout.js';
import { poolRelativePath } from './layout.js';
import type { PoolIndex } from './pool-index.js';
import { pidAlive } from '../proc.js';
import { isPoolTemp, noSpaceReason, tempName, TEMP_NAME, type StagedDeb } from './stage.js';
import { stateStagingDir } from './staging-dir.js';

export { isPoolTemp, stageDeb, type StagedDeb } from './stage.js';
export { loadPoolIndex, poolIndexPath, recordInIndex, savePoolIndex, type PoolIndex, type PoolIndexEntry } from './pool-index.js';

export type IngestResult =
  | { status: 'imported'; pool: string }
  | { status: 'present'; pool: string }
  | { status: 'conflict'; pool: string; reason: string }
  /** The source changed after it was validated: nothing was added. */
  | { status: 'changed'; pool: string; reason: string }
  /** The disk is full: nothing was added; the file is retried by the next import. */
  | { status: 'no-space'; pool: string; reason: string };

async function lstatOrUndefined(path: string) {
  try {
    return await fsp.lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Compares an existing pool file with the validated incoming package. */
async function compareExisting(
  dest: string,
  rel: string,
  pkg: DebPackage,
  index: PoolIndex | undefined,
): Promise<IngestResult> {
  const st = await fsp.stat(dest);
  if (st.size !== pkg.size) {
    return { status: 'conflict', pool: rel, reason: `pool copy has ${st.size} bytes, incoming file ${pkg.size}: same name, version and architecture, different bytes (pool copy kept)` };
  }
  const known = index?.files[rel];
  const sha = known?.sha256 && known.size === st.size && known.mtimeMs === st.mtimeMs ? known.sha256 : (await sha256File(dest)).sha256;
  if (sha !== pkg.sha256) {
    return { status: 'conflict', pool: rel, reason: `pool copy sha256 ${sha.slice(0, 16)}…, incoming ${pkg.sha256.slice(0, 16)}…: same name, version and architecture, different bytes (pool copy kept)` };
  }
  return { status: 'present', pool: rel };
}

/**
 * Copies a validated .deb into the pool under its canonical name: a temp
 * name in the destination directory, fsync, SHA256 of the copy checked
 * against the validated one, then link (never replaces an existing file),
 * fsync of the directory. Identical bytes already there: "present".
 */
export async function ingestDeb(
  sh: Shell,
  layout: MirrorLayout,
  source: string,
  pkg: DebPackage,
  index?: PoolIndex,
  signal?: AbortSignal,
): Promise<IngestResult> {
  const rel = poolRelativePath(pkg);
  const dest = join(layout.root, rel);
  if (await lstatOrUndefined(dest)) return compareExisting(dest, rel, pkg, index);
  if (sh.dryRun) {
    await sh.write(['install', ['-D', '-m', '0644', '-T', '--', source, dest]]);
    return { status: 'imported', pool: rel };
  }
  signal?.throwIfAborted();
  const dir = dirname(dest);
  const tmp = join(dir, tempName(basename(dest)));
  try {
    await mkdirDurable(dir);
    await fsp.copyFile(source, tmp, fsConstants.COPYFILE_EXCL);
    const fh = await fsp.open(tmp, 'r+');
    try {
      await fh.chmod(0o644);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const copied = await sha256File(tmp, signal);
    if (copied.sha256 !== pkg.sha256 || copied.size !== pkg.size) {
      return { status: 'changed', pool: rel, reason: 'the file changed after it was validated; not imported (it will be retried)' };
    }
    try {
      await fsp.link(tmp, dest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return compareExisting(dest, rel, pkg, index);
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw err;
      // No hard links here: rename, which is atomic but would replace a file that appeared meanwhile.
      if (await lstatOrUndefined(dest)) return compareExisting(dest, rel, pkg, index);
      await fsp.rename(tmp, dest);
    }
    await fsyncDir(dir);
    return { status: 'imported', pool: rel };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    await fsp.rm(tmp, { force: true });
    return { status: 'no-space', pool: rel, reason: await noSpaceReason(dir, pkg.size) };
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

/**
 * Puts a staged, validated copy in place under its canonical name: link
 * (never replaces an existing file), fsync of the directory. Identical bytes
 * already there: "present"; different bytes: "conflict". The temp is always removed.
 */
export async function commitStaged(sh: Shell, layout: MirrorLayout, staged: StagedDeb, pkg: DebPackage, index?: PoolIndex): Promise<IngestResult> {
  const rel = poolRelativePath(pkg);
  const dest = join(layout.root, rel);
  try {
    if (await lstatOrUndefined(dest)) return await compareExisting(dest, rel, pkg, index);
    if (sh.dryRun) {
      await sh.write(['install', ['-D', '-m', '0644', '-T', '--', staged.tmp, dest]]);
      return { status: 'imported', pool: rel };
    }
    const dir = dirname(dest);
    try {
      await mkdirDurable(dir);
      await fsp.chmod(staged.tmp, 0o644);
      try {
        await fsp.link(staged.tmp, dest);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') return await compareExisting(dest, rel, pkg, index);
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw err;
        if (await lstatOrUndefined(dest)) return await compareExisting(dest, rel, pkg, index);
        await fsp.rename(staged.tmp, dest);
      }
      await fsyncDir(dir);
    } catch (err) {
      // A new directory (or its entry) needs a block too: the copy goes, the pool stays as it was.
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      await fsp.rm(staged.tmp, { force: true });
      return { status: 'no-space', pool: rel, reason: await noSpaceReason(dir, staged.size) };
    }
    return { status: 'imported', pool: rel };
  } finally {
    await fsp.rm(staged.tmp, { force: true });
  }
}

/** mkdir -p; new directories are entries in their parents: those are made durable too (dir itself is synced after the link). */
async function mkdirDurable(dir: string): Promise<void> {
  const created = await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
  if (!created) return;
  const parents: string[] = [];
  for (let d = dir; d.length >= created.length; d = dirname(d)) parents.push(dirname(d));
  for (const p of parents.reverse()) await fsyncDir(p);
}

/** Every .deb in the pool and every temp file, pool-relative ("pool/main/..."). */
export async function walkPool(layout: MirrorLayout): Promise<{ debs: string[]; temps: string[] }> {
  const debs: string[] = [];
  const temps: string[] = [];
  let entries: string[];
  try {
    entries = await fsp.readdir(layout.pool, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { debs, temps };
    throw err;
  }
  const prefix = relative(layout.root, layout.pool).split(sep).join('/');
  for (const entry of entries) {
    const name = basename(entry);
    const rel = `${prefix}/${entry.split(sep).join('/')}`;
    if (isPoolTemp(name)) temps.push(rel);
    else if (name.endsWith('.deb')) debs.push(rel);
  }
  debs.sort();
  temps.sort();
  return { debs, temps };
}

/** Temp files left by a writer that no longer runs (SIGKILL, power loss): removed. */
export async function cleanStaleTemps(sh: Shell, layout: MirrorLayout): Promise<string[]> {
  const { temps } = await walkPool(layout);
  const dead = (name: string): boolean => !pidAlive(Number(TEMP_NAME.exec(basename(name))?.[1]));
  const stale = temps.filter(dead);
  // The private staging directory under stateDir (staging-dir.ts): reported by absolute path.
  const staging = stateStagingDir(layout);
  const stagedStale = (await fsp.readdir(staging).catch(() => [] as string[])).filter((n) => isPoolTemp(n) && dead(n)).map((n) => join(staging, n));
  await removeFiles(sh, [...stale.map((rel) => join(layout.root, rel)), ...stagedStale]);
  return [...stale, ...stagedStale];
}

/** rm -f in batches, through the Shell (printed in dry-run). */
export async function removeFiles(sh: Shell, paths: string[], signal?: AbortSignal): Promise<void> {
  for (let i = 0; i < paths.length; i += 200) {
    await sh.write(['rm', ['-f', '--', ...paths.slice(i, i + 200)]], { signal });
  }
}
