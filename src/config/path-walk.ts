/**
 * A host path resolved one component at a time, the way the kernel does,
 * remembering every directory the resolution passes through (a symlink
 * /srv/x -> /proc/self/cwd/etc passes through /proc). Any error but "not
 * there" (ENOENT) is thrown: a path that cannot be resolved cannot be judged,
 * so callers refuse it (fail closed).
 */
import { lstatSync, readlinkSync, statfsSync } from 'node:fs';
import { posix } from 'node:path';

/**
 * Kernel file systems by statfs(2) magic: procfs or sysfs mounted somewhere
 * else than /proc and /sys (a running container's /proc, say) is just as
 * much the kernel's, and just as differently resolved by another process.
 */
const KERNEL_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x62656570, 'configfs'],
  [0xcafe4a11, 'bpf'],
  [0xde5e81e4, 'efivarfs'],
  [0x6e736673, 'nsfs'],
]);

/** Symlinks followed before giving up, as the kernel's limit (ELOOP). */
const MAX_LINKS = 40;

export interface PathWalk {
  /** The path normalised lexically (absolute, no "." or ".."). */
  normal: string;
  /** Its realpath: that of the deepest existing ancestor with the rest appended. */
  real: string;
  /** Every path the resolution went through, link targets included, in order. */
  visited: string[];
  /** Every existing directory a name was looked up in, in order (real paths: / first). */
  lookups: string[];
  /** Every symbolic link followed, where it really is (its directory is the one that can repoint it). */
  links: string[];
  /** The first existing path on a kernel file system (proc, sysfs, ...) or that is a device node, with what it is. */
  kernel?: { path: string; what: string };
}

export class PathWalkError extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
    message: string,
    /** The paths gone through before the error. */
    readonly visited: string[],
  ) {
    super(message);
  }
}

function errCode(err: unknown): string {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'EUNKNOWN';
}

export function walkPath(path: string): PathWalk {
  const normal = posix.resolve('/', path);
  const visited = [normal];
  let pending = normal.split('/').filter(Boolean);
  let current = '/';
  let missing = false;
  let kernel: PathWalk['kernel'];
  const lookups: string[] = [];
  const links: string[] = [];
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '.') continue;
    const next = part === '..' ? posix.dirname(current) : posix.join(current, part);
    visited.push(next);
    if (missing || part === '..') {
      current = next;
      continue;
    }
    if (!lookups.includes(current)) lookups.push(current);
    let st;
    try {
      st = lstatSync(next);
    } catch (err) {
      const code = errCode(err);
      if (code !== 'ENOENT') throw new PathWalkError(path, code, `${code} at ${next}`, visited);
      missing = true;
      current = next;
      continue;
    }
    if (st.isSymbolicLink()) {
      links.push(next);
      if (links.length > MAX_LINKS) throw new PathWalkError(path, 'ELOOP', `ELOOP at ${next}: more than ${MAX_LINKS} symbolic links`, visited);
      let target: string;
      try {
        target = readlinkSync(next);
      } catch (err) {
        throw new PathWalkError(path, errCode(err), `${errCode(err)} reading the link ${next}`, visited);
      }
      if (target.startsWith('/')) current = '/';
      visited.push(posix.resolve(current, target));
      pending = [...target.split('/').filter(Boolean), ...pending];
      continue;
    }
    if (!st.isDirectory() && pending.length > 0) throw new PathWalkError(path, 'ENOTDIR', `ENOTDIR at ${next}: not a directory, but the path goes on below it`, visited);
    kernel ??= st.isBlockDevice() || st.isCharacterDevice() ? { path: next, what: 'a device node' } : kernelFs(next, path, visited);
    current = next;
  }
  const walk = { normal, real: current, visited, lookups, links };
  return kernel ? { ...walk, kernel } : walk;
}

function kernelFs(at: string, path: string, visited: string[]): PathWalk['kernel'] {
  let type: number;
  try {
    type = statfsSync(at).type;
  } catch (err) {
    throw new PathWalkError(path, errCode(err), `${errCode(err)} at ${at} (statfs)`, visited);
  }
  const fs = KERNEL_FS.get(type);
  return fs ? { path: at, what: `on a ${fs} file system` } : undefined;
}
