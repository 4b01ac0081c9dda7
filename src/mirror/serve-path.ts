/**
 * Which file a `mirror serve` request may read. HTTP clients are untrusted:
 * the decision is made on the resolved path and on the open descriptor, not
 * on the URL. A file is served only if its real path is inside the real root,
 * no component of that path below the root starts with "." (the publisher's
 * .staging, .git, ...), and the descriptor is a regular file. The open never
 * blocks (a FIFO is opened O_NONBLOCK and then refused) and never follows a
 * link in its last component; /proc/self/fd tells where the descriptor really
 * points, so a directory swapped for a symlink between realpath and open is
 * caught too.
 */
import { promises as fsp, type BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { descriptorPath, openNoFollow } from '../safe-file.js';

export interface ServableFile {
  fh: FileHandle;
  /** fstat of the open descriptor (nanosecond times, for the validators). */
  stat: BigIntStats;
  /** The real path the descriptor was opened at (for the Content-Type). */
  path: string;
}

/** The URL path's segments, or undefined when it cannot name a servable file (then: 404). */
export function urlSegments(urlPath: string): string[] | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const parts = decoded.split('/').filter((p) => p !== '');
  return parts.some((p) => p.startsWith('.')) ? undefined : parts;
}

/** True when `real` is inside `realRoot` (not the root itself) and no component below the root starts with ".". */
export function isServablePath(realRoot: string, real: string): boolean {
  const rel = relative(realRoot, real);
  if (rel === '' || isAbsolute(rel)) return false;
  return !rel.split(sep).some((part) => part.startsWith('.'));
}

/** Opens the file a URL path names under `root`, or returns undefined (404) without having read a byte. */
export async function openServable(root: string, realRoot: string, urlPath: string): Promise<ServableFile | undefined> {
  const parts = urlSegments(urlPath);
  if (!parts || parts.length === 0) return undefined;
  const real = await fsp.realpath(join(root, ...parts)).catch(() => undefined);
  if (!real || !isServablePath(realRoot, real)) return undefined;
  const opened = await openNoFollow(real, 'file', { bigint: true });
  if (!opened.ok) return undefined;
  // A file unlinked since the open is still judged by its old path.
  const where = await descriptorPath(opened.fh.fd);
  if (where !== undefined && isServablePath(realRoot, where)) return { fh: opened.fh, stat: opened.st, path: real };
  await opened.fh.close();
  return undefined;
}
