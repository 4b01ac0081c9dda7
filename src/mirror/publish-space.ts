/**
 * Space for a publish: the estimate checked before anything is written, and
 * the one-line error a full disk becomes wherever it strikes (an fs write, xz,
 * gpg or apt-ftparchive, which exits 0 on it).
 */
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { OperationError } from '../errors.js';
import { exists } from '../shell.js';

/** Free bytes for an unprivileged writer on the file system holding `path` (or its nearest existing parent). */
export async function freeBytes(path: string): Promise<number> {
  let p = path;
  while (!(await exists(p)) && dirname(p) !== p) p = dirname(p);
  const st = await fsp.statfs(p);
  return st.bavail * st.bsize;
}

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

/** Bytes a publish of `members` suite entries over `architectures` may write: an index entry, its compressed forms and by-hash copies. */
export function spaceNeeded(members: number, architectures: number): number {
  return members * 4096 * architectures + 1024 * 1024;
}

export async function checkFreeSpace(root: string, need: number): Promise<void> {
  const free = await freeBytes(root);
  if (free < need) {
    throw new OperationError(
      `not enough free space to publish under ${root}: about ${mib(need)} needed, ${mib(free)} free; nothing was changed`,
      'Free space on that file system (or run `nspawn-kit mirror gc`), then publish again.',
    );
  }
}

/** A full disk, however it was reported: errno ENOSPC, or a tool's "No space left on device". */
export function isNoSpace(err: unknown): boolean {
  if ((err as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC') return true;
  return err instanceof Error && /No space left on device/i.test(err.message);
}

/** The one-line error of a full disk during a publish: where, how much space the publish needs, what is still live. */
export async function noSpaceError(err: unknown, root: string, codename: string, need: number): Promise<OperationError> {
  const path = (err as NodeJS.ErrnoException).path ?? (err as { path?: string }).path ?? root;
  const free = await freeBytes(path).catch(() => undefined);
  return new OperationError(
    `no space left on the file system of ${path} while publishing ${codename}: about ${mib(need)} needed${free === undefined ? '' : `, ${mib(free)} free`}; the previous publication is still live`,
    'Free space on that file system (or run `nspawn-kit mirror gc`), then publish again.',
  );
}
