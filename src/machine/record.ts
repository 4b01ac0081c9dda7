/**
 * Reading files of a machine root from the host. Root inside a container
 * controls them (and `provision` reads while the container runs), so a file
 * is never opened in a way that blocks or follows a link: it is lstat'ed
 * first (a FIFO, socket or device is refused before it is even opened),
 * opened with O_NOFOLLOW | O_NONBLOCK, checked again on the descriptor (a
 * regular file, the same inode: nothing swapped in between), and read up to
 * a cap only, whatever the file grows to meanwhile.
 *
 * Two ways to find the file:
 * - readRecordInRoot: records nspawn-kit writes (provenance, first-boot
 *   marker). Every directory on the way must be a real directory (no link at
 *   all), at most RECORD_MAX_BYTES; used by `list`, `provision`, reruns and
 *   the watcher (triggers/machine-archives.ts).
 * - openResolvedFile: a path already resolved inside the root as a chroot
 *   would (inject.ts readInRoot, for system files such as /etc/passwd).
 *
 * Residual race (Node has no openat): a directory checked by name can be
 * swapped for a link right after the check; the final component cannot.
 */
import { promises as fsp, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { openNoFollow, readBounded } from '../safe-file.js';

/** Records nspawn-kit writes into a root are a few hundred bytes: anything past this is not ours. */
export const RECORD_MAX_BYTES = 64 * 1024;

export type Read<T> = { ok: true; value: T } | { ok: false; reason: string; absent?: boolean };

type Kinded = Pick<Stats, 'isFIFO' | 'isSocket' | 'isCharacterDevice' | 'isBlockDevice' | 'isSymbolicLink' | 'isDirectory'>;

export function fileKind(st: Kinded): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/** Every directory from realRoot down to `dir` (a host path under realRoot) must be a real directory, no link. */
export async function refuseLinkedDirs(realRoot: string, dir: string, label: string): Promise<string | undefined> {
  const parts = posix.relative(realRoot, dir).split('/').filter(Boolean);
  let at = realRoot;
  for (const part of parts) {
    at = join(at, part);
    const st = await fsp.lstat(at).catch(() => undefined);
    if (!st) return `${label}: ${at} does not exist`;
    if (!st.isDirectory()) return `${label}: ${at} is ${fileKind(st)}; not followed`;
  }
  return undefined;
}

export interface OpenOptions {
  /** Read at most this many bytes; a bigger file is refused (head unset) or only its tail read (tail set). */
  maxBytes: number;
  /** Read the last maxBytes of a bigger file instead of refusing it (a log). */
  tail?: boolean;
  /** How the file is named in reasons (default: the path). */
  label?: string;
  /** What kind of file the cap is for, in the reason (default "a record"). */
  noun?: string;
}

function notRegular(label: string, st: Kinded): string {
  return `${label} is ${fileKind(st)}; ${st.isSymbolicLink() ? 'not followed' : 'not read'}`;
}

/**
 * A regular file at `path`, never through a link in its last component,
 * never blocking: refused (with the reason) when it is anything else or too big.
 */
export async function openResolvedFile(path: string, opts: OpenOptions): Promise<Read<Buffer>> {
  const label = opts.label ?? path;
  const { maxBytes } = opts;
  const pre = await fsp.lstat(path).catch((err: NodeJS.ErrnoException) => err);
  if (pre instanceof Error) {
    if (pre.code === 'ENOENT' || pre.code === 'ENOTDIR') return { ok: false, reason: `${label} does not exist`, absent: true };
    return { ok: false, reason: `${label} cannot be read (${pre.code ?? pre.message})` };
  }
  // A device is not even opened: opening one can have effects of its own.
  if (!pre.isFile()) return { ok: false, reason: notRegular(label, pre) };
  const opened = await openNoFollow(path, 'file');
  if (!opened.ok) {
    if (opened.failed === 'kind') return { ok: false, reason: notRegular(label, opened.st) };
    const { code } = opened;
    if (code === 'ENOENT') return { ok: false, reason: `${label} does not exist`, absent: true };
    if (code === 'ELOOP') return { ok: false, reason: `${label} is a symbolic link; not followed` };
    if (code === 'ENXIO') return { ok: false, reason: `${label} is a socket or a FIFO; not read` };
    return { ok: false, reason: `${label} cannot be opened (${code})` };
  }
  const { fh, st } = opened;
  try {
    if (st.ino !== pre.ino || st.dev !== pre.dev) return { ok: false, reason: `${label} was replaced while it was opened; not read` };
    let position = 0;
    if (st.size > maxBytes) {
      if (!opts.tail) return { ok: false, reason: `${label} has ${st.size} bytes, more than the ${maxBytes} ${opts.noun ?? 'a record'} may have; not read` };
      position = st.size - maxBytes;
    }
    // Never more than the cap, whatever the file grows to meanwhile.
    const { bytes, over } = await readBounded(fh, maxBytes, position);
    if (!over) return { ok: true, value: bytes };
    if (opts.tail) return { ok: true, value: bytes.subarray(bytes.length - maxBytes) };
    return { ok: false, reason: `${label} grew past ${maxBytes} bytes while it was read; not read` };
  } finally {
    await fh.close();
  }
}

/**
 * A small record inside a machine root (PROVENANCE, the first-boot marker):
 * every directory on the way a real directory (no symlink), the file itself
 * read by openResolvedFile, at most maxBytes.
 */
export async function readRecordInRoot(root: string, inner: string, maxBytes = RECORD_MAX_BYTES, label = inner): Promise<Read<Buffer>> {
  const realRoot = await fsp.realpath(root).catch(() => undefined);
  if (!realRoot) return { ok: false, reason: 'machine root cannot be read', absent: true };
  const path = join(realRoot, inner);
  const linked = await refuseLinkedDirs(realRoot, posix.dirname(path), label);
  if (linked) return { ok: false, reason: linked, absent: linked.endsWith('does not exist') };
  return openResolvedFile(path, { maxBytes, label });
}
