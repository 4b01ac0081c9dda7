/**
 * The pool: atomic ingest of validated .debs, stale temp-file cleanup, a
 * walk of its files, and the pool index (control facts of every pool file,
 * so gc can order versions with their epochs without reopening each .deb).
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fsyncDir, type Shell } from '../shell.js';
import { sha256File, type DebPackage } from './deb.js';
import type { MirrorLayout } from './layout.js';
import { poolRelativePath } from './layout.js';
import { pidAlive } from '../proc.js';

export type IngestResult =
  | { status: 'imported'; pool: string }
  | { status: 'present'; pool: string }
  | { status: 'conflict'; pool: string; reason: string }
  /** The source changed after it was validated: nothing was added. */
  | { status: 'changed'; pool: string; reason: string };

/** Temp names in the pool carry the writer's PID so a dead writer's leftovers can be told apart. */
const TEMP_NAME = /^\.nk-(\d+)-[0-9a-f]+\..+\.tmp$/;

function tempName(finalName: string): string {
  return `.nk-${process.pid}-${randomBytes(6).toString('hex')}.${finalName}.tmp`;
}

export function isPoolTemp(name: string): boolean {
  return TEMP_NAME.test(name);
}

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
  await mkdirDurable(dir);
  const tmp = join(dir, tempName(basename(dest)));
  try {
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
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

export interface StagedDeb {
  /** Private copy in the pool (temp name, mode 0600). */
  tmp: string;
  sha256: string;
  size: number;
}

/**
 * Copies a source .deb ONCE into a temp name in the pool (same file system,
 * so the later link is atomic), hashing while copying. The importer then
 * validates this copy and only this copy goes into place: a source swapped
 * after the copy cannot slip in unvalidated. noFollow (machine-sourced files,
 * written by root inside a container) refuses a symlink at open time
 * (O_NOFOLLOW) and anything that is not a regular file (O_NONBLOCK, so a FIFO
 * put there does not hang the import).
 */
export async function stageDeb(
  layout: MirrorLayout,
  source: string,
  opts: { noFollow?: boolean; signal?: AbortSignal } = {},
): Promise<{ ok: true; staged: StagedDeb } | { ok: false; reason: string }> {
  const flags = fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | (opts.noFollow ? fsConstants.O_NOFOLLOW : 0);
  let src;
  try {
    src = await fsp.open(source, flags);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return { ok: false, reason: 'symbolic link (not followed: files from a machine must be regular files)' };
    return { ok: false, reason: `cannot read: ${code ?? String(err)}` };
  }
  await fsp.mkdir(layout.pool, { recursive: true, mode: 0o755 });
  const tmp = join(layout.pool, tempName('incoming.deb'));
  let keep = false;
  try {
    const st = await src.stat();
    if (!st.isFile()) return { ok: false, reason: 'not a regular file' };
    const out = await fsp.open(tmp, 'wx', 0o600);
    const hash = createHash('sha256');
    let size = 0;
    try {
      // Sized to the file (most .debs are small): a 1 MiB buffer per file is external
      // memory the GC reclaims late, and it fragments the malloc heap of a long-running daemon.
      const buf = Buffer.allocUnsafe(Math.max(4096, Math.min(1 << 20, st.size + 1)));
      for (;;) {
        opts.signal?.throwIfAborted();
        const { bytesRead } = await src.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        await out.write(chunk);
        size += bytesRead;
      }
      await out.sync();
    } finally {
      await out.close();
    }
    keep = true;
    return { ok: true, staged: { tmp, sha256: hash.digest('hex'), size } };
  } finally {
    await src.close();
    if (!keep) await fsp.rm(tmp, { force: true });
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
  const stale = temps.filter((rel) => {
    const pid = Number(TEMP_NAME.exec(basename(rel))?.[1]);
    return !pidAlive(pid);
  });
  await removeFiles(sh, stale.map((rel) => join(layout.root, rel)));
  return stale;
}

/** rm -f in batches, through the Shell (printed in dry-run). */
export async function removeFiles(sh: Shell, paths: string[], signal?: AbortSignal): Promise<void> {
  for (let i = 0; i < paths.length; i += 200) {
    await sh.write(['rm', ['-f', '--', ...paths.slice(i, i + 200)]], { signal });
  }
}

// ---- pool index ----

export interface PoolIndexEntry extends DebPackage {
  /** mtime of the pool file when the entry was written: a changed file is re-hashed. */
  mtimeMs: number;
}

export interface PoolIndex {
  version: 1;
  files: Record<string, PoolIndexEntry>;
}

export function poolIndexPath(layout: MirrorLayout): string {
  return join(layout.cache, 'pool-index.json');
}

export async function loadPoolIndex(layout: MirrorLayout): Promise<PoolIndex> {
  try {
    const data = JSON.parse(await fsp.readFile(poolIndexPath(layout), 'utf8')) as PoolIndex;
    if (data && data.version === 1 && typeof data.files === 'object') return data;
  } catch {
    // missing or unreadable: rebuilt on demand
  }
  return { version: 1, files: {} };
}

export async function savePoolIndex(sh: Shell, layout: MirrorLayout, index: PoolIndex): Promise<void> {
  const sorted: PoolIndex = { version: 1, files: {} };
  for (const key of Object.keys(index.files).sort()) {
    const entry = index.files[key];
    if (entry) sorted.files[key] = entry;
  }
  await sh.writeFile(poolIndexPath(layout), `${JSON.stringify(sorted)}\n`);
}

/** Records a pool file's facts (after ingest or first sight). */
export async function recordInIndex(index: PoolIndex, layout: MirrorLayout, rel: string, pkg: DebPackage): Promise<void> {
  try {
    const st = await fsp.stat(join(layout.root, rel));
    index.files[rel] = { ...pkg, mtimeMs: st.mtimeMs };
  } catch {
    // dry-run: the file is not there; nothing to record
  }
}
