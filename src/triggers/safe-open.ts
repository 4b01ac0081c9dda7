/**
 * What the watcher may look at and hand to validation. Anyone who can write
 * into a watched directory is hostile: an entry is looked at with lstat (a
 * symlink counts only if it stays inside its directory, as the importer's
 * listArchive requires), a file is opened once without following links or
 * blocking, fstat must say regular file, and dpkg-deb is then given
 * /proc/<our pid>/fd/<N>: it reads the inode we opened, so renaming a FIFO,
 * a link or another file over the name between its runs changes nothing.
 * Every validation has a deadline, so nothing can hold a slot forever.
 */
import { promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { symlinkTargetInside } from '../mirror/archive-scan.js';
import { openNoFollow, ownDescriptorPath } from '../safe-file.js';

/** A file's stat, or why the entry is refused (reported once), or neither (gone). */
export type Entry = { st: Stats; refused?: undefined } | { st?: undefined; refused: string } | { st?: undefined; refused?: undefined };

const kind = (st: Stats) =>
  st.isSymbolicLink() ? 'symbolic link' : st.isFIFO() ? 'FIFO' : st.isSocket() ? 'socket' : st.isDirectory() ? 'directory' : 'device or other special file';

/**
 * A top-level entry of a watched directory. In a machine's cache (root inside
 * the machine wrote it) nothing but a regular file counts; in an admin's
 * archive a symlink counts if it resolves to a regular file in the same
 * directory (then the target's stat is returned), and other special files are
 * skipped silently (no stat result, no refusal).
 */
export async function statEntry(path: string, machine?: string): Promise<Entry> {
  const st = await fsp.lstat(path).catch(() => undefined);
  if (!st) return {};
  if (st.isFile()) return { st };
  if (machine !== undefined) return { refused: `${kind(st)} in the archive of machine ${machine} (not ${st.isSymbolicLink() ? 'followed' : 'opened'})` };
  if (!st.isSymbolicLink()) return {};
  const dir = dirname(path);
  const realDir = await fsp.realpath(dir).catch(() => dir);
  if ((await symlinkTargetInside(path, realDir)) === undefined) return { refused: `symbolic link leading out of ${dir} or not to a regular file (not followed)` };
  const target = await fsp.stat(path).catch(() => undefined);
  return target?.isFile() ? { st: target } : {};
}

export interface Opened {
  handle: FileHandle;
  /** The open descriptor as a path another process can open: the same inode whatever happens to the name. */
  fdPath: string;
  st: Stats;
}

/** Opens a file for validation: O_NOFOLLOW|O_NONBLOCK, an in-directory symlink resolved once, fstat regular. */
export async function openForValidation(path: string): Promise<Opened | { refused: string }> {
  let name = path;
  const l = await fsp.lstat(path).catch(() => undefined);
  if (!l) return { refused: 'vanished before it could be read' };
  if (l.isSymbolicLink()) {
    const dir = dirname(path);
    const realDir = await fsp.realpath(dir).catch(() => dir);
    if ((await symlinkTargetInside(path, realDir)) === undefined) return { refused: `symbolic link leading out of ${dir} or not to a regular file (not followed)` };
    const target = await fsp.realpath(path).catch(() => undefined);
    if (!target) return { refused: 'vanished before it could be read' };
    name = target;
  }
  const opened = await openNoFollow(name, 'file');
  if (!opened.ok) {
    if (opened.failed === 'kind') return { refused: `${kind(opened.st)}, not a regular file (not read)` };
    if (opened.failed === 'stat') return { refused: 'cannot stat the open file' };
    return { refused: opened.code === 'ELOOP' ? 'became a symbolic link (not followed)' : `cannot open: ${opened.code}` };
  }
  return { handle: opened.fh, fdPath: ownDescriptorPath(opened.fh.fd), st: opened.st };
}

export interface SafeValidation {
  validate: (path: string, signal?: AbortSignal) => Promise<true | string>;
  validateMany?: (paths: string[], signal?: AbortSignal) => Promise<(true | string)[]>;
  /** Deadline of one validation call (default 120 s): it is aborted and its files reported as timed out. */
  timeoutMs?: number;
}

export interface Verdict {
  verdict: true | string;
  /** The inode validated (undefined when refused before opening). */
  ino?: number;
}

/**
 * Validates files through descriptors opened here, kept open until the
 * validation ends or its deadline passes. Never throws: a failure or the
 * deadline becomes every file's verdict. Messages name the file, not /proc.
 */
export async function validateOpened(paths: string[], v: SafeValidation): Promise<Map<string, Verdict>> {
  const out = new Map<string, Verdict>();
  const opened: Array<{ path: string } & Opened> = [];
  for (const path of paths) {
    const o = await openForValidation(path);
    if ('refused' in o) out.set(path, { verdict: o.refused });
    else opened.push({ path, ...o });
  }
  if (!opened.length) return out;
  const timeoutMs = v.timeoutMs ?? 120_000;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`validation did not finish within ${timeoutMs / 1000} s (stopped)`)), timeoutMs);
  const deadline = new Promise<never>((_, reject) => ac.signal.addEventListener('abort', () => reject(ac.signal.reason as Error), { once: true }));
  const fdPaths = opened.map((o) => o.fdPath);
  const running = v.validateMany ? v.validateMany(fdPaths, ac.signal) : Promise.all(fdPaths.map((p) => v.validate(p, ac.signal)));
  running.catch(() => undefined);
  try {
    const res = await Promise.race([running, deadline]);
    for (const [i, o] of opened.entries()) {
      const r = res[i] ?? 'not validated';
      out.set(o.path, { verdict: r === true ? true : r.split(o.fdPath).join(o.path), ino: o.st.ino });
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    for (const o of opened) out.set(o.path, { verdict: message, ino: o.st.ino });
  } finally {
    clearTimeout(timer);
    await Promise.all(opened.map((o) => o.handle.close().catch(() => undefined)));
  }
  return out;
}
